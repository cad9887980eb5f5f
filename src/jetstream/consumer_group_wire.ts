// What the replicated consumers' RAFT groups of one server share (consumer_group.ts): one wire to
// each other server, and one clock for their heartbeats and election timeouts.
//
// A server holds a group per replicated consumer (1000 durables: 1000 groups on each member),
// and each group's leader sends a heartbeat to every follower each heartbeat interval, idle or
// not. Sent one system-account message each, they cost a socket write apiece on both sides
// (profiled: most of the idle CPU). So the messages of all groups to one server within an
// event-loop turn travel as one message on `$NRG.TSB.<server name>`, a batch of records
// [u16 group name length][group name][u32 length][raft_wire message], taken apart on arrival
// and handed to each group in order. Heartbeat and election timers of all groups run on a
// shared 100 ms wheel (`coarseRaftEnv`), so the heartbeats due in a tick are sent in the same
// turn, hence in the same batches, and the followers' answers go back batched too.
import type { RaftEnv, RaftMsg } from "../cluster/raft.js";
import { decodeRaftMsg, encodeRaftMsg } from "../cluster/raft_wire.js";
import { realRaftEnv } from "../cluster/raft_env.js";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";

/** Where a batch of a consumer group's messages arrives at a server. */
const BATCH_PREFIX = "$NRG.TSB.";
/** A batch is sent at the end of its turn, or once it holds this many bytes. */
const MAX_BATCH_BYTES = 256 * 1024;
/** The shared clock's tick: timers of at least WHEEL_MIN_MS fire on the next tick at or after they are due. */
const WHEEL_TICK_MS = 100;
const WHEEL_MIN_MS = 200;
/**
 * Messages for a group this server does not run (yet) are kept this long: a new consumer's
 * group starts on each member when that member applies the stream's entry creating it, and its
 * first leader's appends (it leads from its start) usually arrive before the others did.
 */
const HOLD_MS = 2000;
/** At most this many messages, and bytes, are held (a snapshot's chunks for a group not run here must not pile up). */
const MAX_HELD = 16384;
const MAX_HELD_BYTES = 8 * 1024 * 1024;

/** A member of a consumer group on this server: takes the messages sent to it. */
export interface GroupReceiver {
  receive(from: string, msg: RaftMsg): void;
}

interface Outgoing {
  chunks: Buffer[];
  bytes: number;
}

/** One server's consumer groups' wire: their batches out, and the batches in handed to each group. */
export class ConsumerGroupWire {
  private readonly groups = new Map<string, GroupReceiver>();
  private readonly out = new Map<string, Outgoing>();
  private flushScheduled = false;
  private sub: Subscription | undefined;
  /** Messages for groups not registered here, by group, with when the first came. */
  private readonly held = new Map<string, { since: number; msgs: Buffer[] }>();
  private heldCount = 0;
  private heldBytes = 0;
  private heldTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sys: Account | undefined,
    private readonly self: string,
  ) {}

  register(group: string, receiver: GroupReceiver): void {
    this.groups.set(group, receiver);
    if (this.sub === undefined && this.sys !== undefined) this.sub = this.sys.subscribeInternal(BATCH_PREFIX + this.self, (_s, _r, _h, payload) => this.arrived(payload), undefined, "raft-consumer-groups");
  }

  /** A registered group has started: the messages that came for it before are handed over, in order. */
  release(group: string): void {
    const h = this.held.get(group);
    if (h === undefined) return;
    this.forget(group, h);
    const receiver = this.groups.get(group);
    if (receiver === undefined) return;
    for (const rec of h.msgs) {
      const d = decodeRaftMsg(rec);
      if (d !== undefined) receiver.receive(d.from, d.msg);
    }
  }

  /** (A copy: the batch's bytes may be a read buffer used again.) */
  private hold(group: string, rec: Buffer): void {
    if (this.heldCount >= MAX_HELD || this.heldBytes + rec.length > MAX_HELD_BYTES) return;
    let h = this.held.get(group);
    if (h === undefined) {
      h = { since: performance.now(), msgs: [] };
      this.held.set(group, h);
    }
    h.msgs.push(Buffer.from(rec));
    this.heldCount++;
    this.heldBytes += rec.length;
    if (this.heldTimer === undefined) {
      this.heldTimer = setInterval(this.dropExpired, HOLD_MS);
      this.heldTimer.unref();
    }
  }

  private forget(group: string, h: { msgs: Buffer[] }): void {
    this.held.delete(group);
    this.heldCount -= h.msgs.length;
    for (const rec of h.msgs) this.heldBytes -= rec.length;
  }

  private readonly dropExpired = (): void => {
    const before = performance.now() - HOLD_MS;
    for (const [group, h] of this.held) {
      if (h.since > before) continue;
      this.forget(group, h);
    }
    if (this.held.size === 0 && this.heldTimer !== undefined) {
      clearInterval(this.heldTimer);
      this.heldTimer = undefined;
    }
  };

  unregister(group: string, receiver: GroupReceiver): void {
    if (this.groups.get(group) === receiver) this.groups.delete(group);
    if (this.groups.size === 0 && this.sub !== undefined) {
      this.sys?.unsubscribeInternal(this.sub);
      this.sub = undefined;
    }
  }

  /** Queue a group's message to server `to` (sent at the end of this turn, with the others to it). */
  send(to: string, group: string, msg: RaftMsg): void {
    const body = encodeRaftMsg(this.self, msg);
    const head = Buffer.allocUnsafe(2 + Buffer.byteLength(group, "latin1") + 4);
    const n = head.write(group, 2, "latin1");
    head.writeUInt16LE(n, 0);
    head.writeUInt32LE(body.length, 2 + n);
    let o = this.out.get(to);
    if (o === undefined) {
      o = { chunks: [], bytes: 0 };
      this.out.set(to, o);
    }
    o.chunks.push(head, body);
    o.bytes += head.length + body.length;
    if (o.bytes >= MAX_BATCH_BYTES) this.sendBatch(to, o);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const [to, o] of this.out) if (o.bytes > 0) this.sendBatch(to, o);
  };

  private sendBatch(to: string, o: Outgoing): void {
    const payload = o.chunks.length === 1 ? o.chunks[0] : Buffer.concat(o.chunks, o.bytes);
    o.chunks = [];
    o.bytes = 0;
    this.sys?.publish(BATCH_PREFIX + to, "", undefined, payload);
  }

  /** A batch from another server: each record to its group (records that do not decode are dropped, those of unknown groups held a while). */
  private arrived(payload: Buffer): void {
    let o = 0;
    while (o + 6 <= payload.length) {
      const n = payload.readUInt16LE(o);
      const group = payload.toString("latin1", o + 2, o + 2 + n);
      o += 2 + n;
      if (o + 4 > payload.length) return;
      const len = payload.readUInt32LE(o);
      o += 4;
      if (o + len > payload.length) return;
      const receiver = this.groups.get(group);
      if (receiver !== undefined) {
        const d = decodeRaftMsg(payload.subarray(o, o + len));
        if (d !== undefined) receiver.receive(d.from, d.msg);
      } else this.hold(group, payload.subarray(o, o + len));
      o += len;
    }
  }
}

const wires = new WeakMap<object, ConsumerGroupWire>();

/** The consumer groups' wire of a server (`owner`: its JetStream service). */
export function consumerGroupWire(owner: object, sys: Account | undefined, self: string): ConsumerGroupWire {
  let w = wires.get(owner);
  if (w === undefined) {
    w = new ConsumerGroupWire(sys, self);
    wires.set(owner, w);
  }
  return w;
}

// ---- the shared clock ----

interface WheelTimer {
  fn: (() => void) | undefined;
}

const buckets = new Map<number, WheelTimer[]>();
let wheelTimer: NodeJS.Timeout | undefined;
let wheelCount = 0;

function tickNow(): void {
  const now = Math.floor(performance.now() / WHEEL_TICK_MS);
  const due: number[] = [];
  for (const k of buckets.keys()) if (k <= now) due.push(k);
  due.sort((a, b) => a - b);
  for (const k of due) {
    const list = buckets.get(k);
    buckets.delete(k);
    if (list === undefined) continue;
    for (const t of list) {
      const fn = t.fn;
      if (fn === undefined) continue;
      t.fn = undefined;
      wheelCount--;
      fn();
    }
  }
  if (wheelCount <= 0 && wheelTimer !== undefined) {
    wheelCount = 0;
    clearInterval(wheelTimer);
    wheelTimer = undefined;
  }
}

function wheelTimerOf(ms: number, fn: () => void): { cancel(): void } {
  const t: WheelTimer = { fn };
  const k = Math.ceil((performance.now() + ms) / WHEEL_TICK_MS);
  const list = buckets.get(k);
  if (list === undefined) buckets.set(k, [t]);
  else list.push(t);
  wheelCount++;
  if (wheelTimer === undefined) {
    wheelTimer = setInterval(tickNow, WHEEL_TICK_MS);
    wheelTimer.unref();
  }
  return {
    cancel: () => {
      if (t.fn === undefined) return;
      t.fn = undefined;
      wheelCount--;
    },
  };
}

/**
 * The RaftEnv of consumer groups: as the real one, but heartbeat and election timers (long ones)
 * run on the shared wheel, firing up to one tick late; short ones (commit notices) are timers
 * of their own.
 */
export const coarseRaftEnv: RaftEnv = {
  // Written out in realRaftEnv's order, not spread from it: a spread copy has another hidden
  // class, and the RAFT code optimized for stream groups was thrown away at the first consumer
  // group's (this.env.soon, this.env.now() read by every member).
  now: realRaftEnv.now,
  timer: (ms, fn) => (ms >= WHEEL_MIN_MS ? wheelTimerOf(ms, fn) : realRaftEnv.timer(ms, fn)),
  defer: realRaftEnv.defer,
  soon: realRaftEnv.soon,
  random: realRaftEnv.random,
};
