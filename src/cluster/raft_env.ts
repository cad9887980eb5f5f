// The RaftEnv of a running server: the monotonic clock, unref'd timers (a RAFT group never keeps
// the process alive), setImmediate to batch one event-loop turn, Math.random. The deterministic
// tests use their own (test/helpers/raft_sim.ts).
import type { RaftEnv } from "./raft.js";

export const realRaftEnv: RaftEnv = {
  now: () => performance.now(),
  timer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  defer: (fn) => void setImmediate(fn),
  random: () => Math.random(),
};
