// The RaftEnv of a running server: the monotonic clock, unref'd timers (a RAFT group never keeps
// the process alive), setImmediate to batch one event-loop turn, a microtask for work due when the current event is
// handled, Math.random. The deterministic
// tests use their own (test/helpers/raft_sim.ts).
import { deferToMicrotask } from "../server/microtask.js";
import type { RaftEnv } from "./raft.js";

export const realRaftEnv: RaftEnv = {
  now: () => performance.now(),
  timer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  defer: (fn) => void setImmediate(fn),
  soon: deferToMicrotask,
  random: () => Math.random(),
};
