// Deterministic simulation of RAFT groups (src/cluster/raft.ts): one seeded random number
// generator drives a virtual clock, a message bus (delays, reordering, drops, duplicates,
// partitions), disks that lose what was not synced when a member loses power, pauses, crashes,
// restarts, corrupted or truncated files, and membership changes. Every message goes through the
// wire codec. The checker records what happened and asserts RAFT's safety properties: election
// safety, log matching, leader completeness, state machine safety, and that every acknowledged
// proposal is in the final state of every member.
import { RaftNode, type RaftEnv, type RaftMsg, type RaftStateMachine, type RaftTimer } from "../../src/cluster/raft.js";
import { RaftStore, discardLogForRepair, type RaftConfig } from "../../src/cluster/raft_store.js";
import type { RaftDisk } from "../../src/cluster/raft_disk.js";
import { decodeRaftMsg, encodeRaftMsg } from "../../src/cluster/raft_wire.js";

// ---- randomness and time ----

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(a: number, b: number): number {
    return a + this.int(b - a + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
  dead: boolean;
}

/** A virtual clock with an event queue (a binary heap ordered by time, then insertion). */
export class Scheduler {
  now = 0;
  private heap: Ev[] = [];
  private seq = 0;
  events = 0;

  at(delay: number, fn: () => void): Ev {
    const ev: Ev = { at: this.now + Math.max(0, delay), seq: this.seq++, fn, dead: false };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], ev)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  private pop(): Ev | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as Ev;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r], h[l]) ? r : l;
        if (less(last, h[c])) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Run events up to time `until` (or until `stop` says so). */
  run(until: number, stop?: () => boolean): void {
    for (;;) {
      const h = this.heap;
      if (h.length === 0 || h[0].at > until) break;
      const ev = this.pop() as Ev;
      if (ev.dead) continue;
      this.now = ev.at;
      this.events++;
      ev.fn();
      if (stop !== undefined && stop()) return;
    }
    if (this.now < until) this.now = until;
  }
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

// ---- disks ----

interface SimFile {
  data: Buffer;
  size: number;
}

type DiskOp = { k: "write"; name: string; pos: number; data: Buffer } | { k: "truncate"; name: string; size: number } | { k: "remove"; name: string } | { k: "rename"; from: string; to: string };

class Files {
  readonly m = new Map<string, SimFile>();

  clone(): Files {
    const f = new Files();
    for (const [k, v] of this.m) f.m.set(k, { data: Buffer.from(v.data.subarray(0, Math.min(v.data.length, v.size))), size: v.size });
    return f;
  }

  apply(op: DiskOp): void {
    switch (op.k) {
      case "write": {
        let f = this.m.get(op.name);
        if (f === undefined) {
          f = { data: Buffer.alloc(0), size: 0 };
          this.m.set(op.name, f);
        }
        const end = op.pos + op.data.length;
        if (f.data.length < end) {
          const g = Buffer.alloc(Math.max(end, Math.min(f.data.length * 2, end + 65536)));
          f.data.copy(g, 0, 0, Math.min(f.data.length, f.size));
          f.data = g;
        }
        op.data.copy(f.data, op.pos);
        if (end > f.size) f.size = end;
        return;
      }
      case "truncate": {
        let f = this.m.get(op.name);
        if (f === undefined) {
          f = { data: Buffer.alloc(0), size: 0 };
          this.m.set(op.name, f);
        }
        if (op.size < f.size && op.size < f.data.length) f.data.fill(0, op.size, Math.min(f.size, f.data.length));
        f.size = op.size;
        return;
      }
      case "remove":
        this.m.delete(op.name);
        return;
      case "rename": {
        const f = this.m.get(op.from);
        if (f === undefined) return;
        this.m.delete(op.from);
        this.m.set(op.to, f);
        return;
      }
    }
  }

  read(name: string, pos: number, len: number): Buffer {
    const f = this.m.get(name);
    if (f === undefined) return Buffer.alloc(0);
    const end = Math.min(f.size, pos + len);
    const out = Buffer.alloc(Math.max(0, end - pos));
    if (pos < f.data.length) f.data.copy(out, 0, pos, Math.min(end, f.data.length));
    return out;
  }
}

/**
 * A member's disk: what it wrote (`cur`, the kernel's view) and what is durable. A sync makes
 * every operation before it durable after a random latency. On a crash of the process the kernel
 * keeps everything; on a power loss only a prefix of the unsynced operations survives, the last
 * possibly torn.
 */
export class SimDisk implements RaftDisk {
  private cur: Files;
  private durable: Files;
  private pending: DiskOp[] = [];
  /** Operations ever written, and how many of them are durable (pending holds the rest). */
  private opCount = 0;
  private durableCount = 0;
  /** Number of operations already made durable from the front of `pending` (by sync). */
  syncs = 0;
  private dead = false;

  constructor(
    readonly sched: Scheduler,
    readonly rng: Rng,
    durable?: Files,
    /** Added to every fsync's duration (a slow or overloaded disk). */
    public syncExtraMs = 0,
  ) {
    this.durable = durable ?? new Files();
    this.cur = this.durable.clone();
  }

  private op(o: DiskOp): void {
    if (this.dead) return;
    this.pending.push(o);
    this.opCount++;
    this.cur.apply(o);
  }

  list(): string[] {
    return [...this.cur.m.keys()];
  }
  read(name: string): Buffer | undefined {
    const f = this.cur.m.get(name);
    return f === undefined ? undefined : this.cur.read(name, 0, f.size);
  }
  size(name: string): number {
    return this.cur.m.get(name)?.size ?? 0;
  }
  readAt(name: string, pos: number, len: number): Buffer {
    return this.cur.read(name, pos, len);
  }
  writeAt(name: string, pos: number, data: Buffer): void {
    this.op({ k: "write", name, pos, data: Buffer.from(data) });
  }
  truncate(name: string, size: number): void {
    this.op({ k: "truncate", name, size });
  }
  remove(name: string): void {
    this.op({ k: "remove", name });
  }
  rename(from: string, to: string): void {
    this.op({ k: "rename", from, to });
  }
  sync(_names: readonly string[], done: (err?: Error) => void): void {
    const upto = this.opCount;
    this.sched.at(this.syncExtraMs + this.rng.range(0, 4), () => {
      if (this.dead) return;
      this.makeDurable(upto);
      this.syncs++;
      done();
    });
  }
  syncNow(_names: readonly string[]): void {
    this.makeDurable(this.opCount);
  }
  /** Make operations durable up to the absolute count `upto`. */
  private makeDurable(upto: number): void {
    const n = Math.min(upto - this.durableCount, this.pending.length);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) this.durable.apply(this.pending[i]);
    this.pending.splice(0, n);
    this.durableCount += n;
  }
  close(): void {
    // the process lets go of its files; the disk stays
  }
  destroy(): void {
    this.cur = new Files();
    this.pending = [];
    this.durable = new Files();
  }

  /** The process died (kill -9): the kernel writes back everything. Returns the files for the next life. */
  crash(): Files {
    this.makeDurable(this.opCount);
    this.dead = true;
    return this.durable;
  }

  /** The machine lost power: a prefix of the unsynced operations survives, the last one maybe torn. */
  powerLoss(): Files {
    const keep = this.rng.int(this.pending.length + 1);
    this.makeDurable(this.durableCount + keep);
    const next = this.pending[0];
    if (next !== undefined && next.k === "write" && this.rng.chance(0.5)) {
      // Torn: a prefix of the write (at sector granularity, or any byte).
      const cut = this.rng.int(next.data.length);
      this.durable.apply({ k: "write", name: next.name, pos: next.pos, data: next.data.subarray(0, cut) });
    }
    this.pending = [];
    this.dead = true;
    return this.durable;
  }
}

/** Corrupt a stopped member's files: flip a bit or truncate one of them. Returns what was done. */
export function corruptFiles(files: Files, rng: Rng): string {
  const names = [...files.m.keys()].filter((n) => (files.m.get(n)?.size ?? 0) > 0);
  if (names.length === 0) return "nothing to corrupt";
  const name = rng.pick(names);
  const f = files.m.get(name) as SimFile;
  const used = Math.min(f.size, f.data.length);
  if (rng.chance(0.5) && used > 0) {
    const pos = rng.int(used);
    const bit = 1 << rng.int(8);
    f.data[pos] ^= bit;
    return `flipped a bit at ${pos} of ${name}`;
  }
  const to = rng.int(Math.max(1, used));
  files.apply({ k: "truncate", name, size: to });
  return `truncated ${name} to ${to}`;
}

export type { Files };

// ---- the state machine ----

/** Applied values form a hash chain; the snapshot is the chain's head, count and values seen. */
export class SimStateMachine implements RaftStateMachine {
  count = 0;
  hash = 0;
  constructor(
    readonly id: string,
    readonly onApply: (id: string, index: number, value: string) => void,
  ) {}

  apply(data: Buffer, index: number): void {
    const v = data.toString();
    this.count++;
    this.hash = chain(this.hash, v);
    this.onApply(this.id, index, v);
  }

  snapshot(): { data: Buffer } {
    return { data: Buffer.from(JSON.stringify({ count: this.count, hash: this.hash })) };
  }

  restore(data: Buffer): void {
    const o = JSON.parse(data.toString()) as { count: number; hash: number };
    this.count = o.count;
    this.hash = o.hash;
  }
}

function chain(h: number, v: string): number {
  let x = h ^ 0x811c9dc5;
  for (let i = 0; i < v.length; i++) x = Math.imul(x ^ v.charCodeAt(i), 0x01000193);
  return x >>> 0;
}

// ---- the cluster ----

export interface SimOptions {
  seed: number;
  members: number;
  /** Ids that may join later (membership changes). */
  spares: number;
  durationMs: number;
  proposalEveryMs: number;
  faults: boolean;
  corruption: boolean;
  membership: boolean;
  /** Extra duration of every fsync, on every member. */
  syncExtraMs?: number;
  /**
   * Every member starts in this term with its vote given to this leader (RaftOptions.firstTerm,
   * as a replicated consumer's group), each at a random time in the first 50 ms, and the faults
   * begin within them (a crash or power loss while the group starts).
   */
  firstTerm?: { term: number; leader: string };
  /** RaftOptions.lazySyncMs of every member (a replicated consumer's group). */
  lazySyncMs?: number;
  /**
   * RaftOptions.recordCommit of every member (the JetStream meta group): checked that a member
   * restarted with intact files starts with a commit index covering everything it applied before.
   */
  recordCommit?: boolean;
  /** false: the crashes are all kills (the kernel keeps what was written), never power losses. */
  powerLoss?: boolean;
  /**
   * Bytes a newer version added at the end of every message of fixed layout (all but append and
   * snap), sent by every member: a rolling upgrade where the receiver is the older version.
   */
  newerFieldBytes?: number;
}

interface Member {
  id: string;
  node: RaftNode | undefined;
  disk: SimDisk | undefined;
  files: Files | undefined;
  sm: SimStateMachine | undefined;
  epoch: number;
  paused: boolean;
  /** What came due while paused, with the event-loop phase it runs in on resume (0 timers, 1 I/O, 2 deferred). */
  frozen: Array<{ phase: number; at: number; fn: () => void }>;
  /** Corrupted and not yet repaired. */
  corrupted: boolean;
  joined: boolean;
  /** The highest index its state machine applied since it last started. */
  appliedMax: number;
}

export class SimCluster {
  readonly sched = new Scheduler();
  /** recordCommit: restarts of a member that had applied entries, with its commit record intact (checked). */
  recordedRestarts = 0;
  readonly rng: Rng;
  readonly members = new Map<string, Member>();
  readonly violations: string[] = [];
  readonly log: string[] = [];
  /** term → leader. */
  private readonly leaders = new Map<number, string>();
  /** index → value, as first applied anywhere. */
  readonly appliedAt = new Map<number, string>();
  /** value → index at which its proposer saw it applied (acknowledged). */
  readonly acked = new Map<string, number>();
  private readonly proposed = new Map<string, { id: string; index: number; term: number }>();
  private blocked = new Set<string>();
  private dropRate: number;
  private dupRate: number;
  private maxDelay: number;
  private nextValue = 0;
  private readonly initial: RaftConfig;
  messages = 0;
  faultsDone: string[] = [];
  /** Members that applied (or installed with a snapshot) a committed membership leaving them out. */
  readonly left = new Set<string>();

  constructor(readonly o: SimOptions) {
    this.rng = new Rng(o.seed);
    this.dropRate = o.faults ? this.rng.next() * 0.1 : 0;
    this.dupRate = o.faults ? this.rng.next() * 0.03 : 0;
    this.maxDelay = this.rng.range(2, 30);
    const ids: string[] = [];
    for (let i = 0; i < o.members + o.spares; i++) ids.push(`n${i}`);
    this.initial = { voters: ids.slice(0, o.members), learners: [] };
    for (const id of ids) this.members.set(id, { id, node: undefined, disk: undefined, files: undefined, sm: undefined, epoch: 0, paused: false, frozen: [], corrupted: false, joined: false, appliedMax: 0 });
  }

  note(s: string): void {
    this.log.push(`${this.sched.now}ms ${s}`);
  }

  violation(s: string): void {
    this.violations.push(`${this.sched.now}ms ${s}`);
  }

  /** Run something on behalf of a member: dropped if it died since, held while it is paused. */
  private onMember(m: Member, epoch: number, fn: () => void, phase = 1): () => void {
    return () => {
      if (m.epoch !== epoch || m.node === undefined) return;
      if (m.paused) m.frozen.push({ phase, at: this.sched.now, fn });
      else fn();
    };
  }

  private envFor(m: Member, epoch: number): RaftEnv {
    const rng = new Rng(this.rng.int(2 ** 31) + 1);
    return {
      now: () => this.sched.now,
      timer: (ms: number, fn: () => void): RaftTimer => {
        const ev = this.sched.at(ms, this.onMember(m, epoch, fn, 0));
        return { cancel: () => (ev.dead = true) };
      },
      defer: (fn: () => void) => void this.sched.at(0, this.onMember(m, epoch, fn, 2)),
      random: () => rng.next(),
    };
  }

  async startMember(id: string, joining: boolean): Promise<void> {
    const m = this.members.get(id) as Member;
    m.epoch++;
    const epoch = m.epoch;
    m.paused = false;
    m.frozen = [];
    const disk = new SimDisk(this.sched, new Rng(this.rng.int(2 ** 31) + 1), m.files, this.o.syncExtraMs ?? 0);
    const sm = new SimStateMachine(id, (who, index, value) => this.onApply(who, index, value));
    const node = new RaftNode({
      id,
      store: new RaftStore(disk, { segmentSize: this.rng.pick([1024, 2048, 8192]) }),
      transport: { send: (to, msg) => this.send(id, to, msg) },
      env: this.envFor(m, epoch),
      sm,
      initial: this.initial,
      joining,
      firstTerm: this.o.firstTerm,
      lazySyncMs: this.o.lazySyncMs,
      recordCommit: this.o.recordCommit,
      electionMinMs: 150,
      electionMaxMs: 300,
      heartbeatMs: 40,
      maxAppendEntries: this.rng.pick([1, 4, 64]),
      maxAppendBytes: 4096,
      maxInflight: this.rng.pick([1, 2, 8]),
      snapshotEntries: this.rng.pick([10, 30, 100]),
      snapshotChunk: this.rng.pick([16, 64, 1024]),
      commitNoticeMs: this.rng.pick([0, 5, 30]),
      log: { info: () => undefined, warn: (msg: string) => this.note(msg) },
      observer: {
        stateChanged: (role, leader, term) => {
          // A member its latest configuration leaves out (removed, and it has the entry) neither campaigns nor leads.
          if (role !== "follower" && m.node !== undefined && !m.node.config.voters.includes(id)) this.violation(`${id} is a ${role} in term ${term} though its configuration leaves it out`);
          if (role === "precandidate") this.note(`${id} precandidate in term ${term}`);
          if (role !== "leader") return;
          const prev = this.leaders.get(term);
          if (prev !== undefined && prev !== id) this.violation(`election safety: ${prev} and ${id} both lead term ${term}`);
          if (m.node?.damaged === true) this.violation(`${id} leads term ${term} with a damaged (truncated or corrupt) log`);
          this.leaders.set(term, id);
          this.checkLeaderCompleteness(id);
          void leader;
        },
        configCommitted: (config) => {
          // Out of the group only once its removal is committed (where the server drops its copy).
          if (!config.voters.includes(id) && !config.learners.includes(id)) {
            this.left.add(id);
            this.note(`${id} left the group`);
          }
        },
        violation: (what) => this.violation(`${id}: ${what}`),
        repaired: () => {
          m.corrupted = false;
          this.note(`${id} repaired`);
        },
        damaged: (r) => this.note(`${id} damaged: ${r.join("; ")}`),
      },
    });
    m.node = node;
    m.disk = disk;
    m.sm = sm;
    m.joined = true;
    const appliedBefore = m.appliedMax;
    m.appliedMax = 0;
    await node.start();
    m.corrupted = node.damaged;
    // (Damaged files, or a log discarded with its state machine's copy, know less than it applied;
    // a damaged copy of the record leaves it unknown.)
    const recorded = node.commitRecordedAtStart;
    if (this.o.recordCommit === true && !node.damaged && recorded !== undefined && appliedBefore > 0) this.recordedRestarts++;
    if (this.o.recordCommit === true && !node.damaged && recorded !== undefined && recorded < appliedBefore) this.violation(`${id} restarted with its commit recorded at ${recorded}, below the ${appliedBefore} it applied before`);
  }

  private send(from: string, to: string, msg: RaftMsg): void {
    const m = this.members.get(to);
    if (m === undefined) return;
    this.messages++;
    if (this.blocked.has(`${from}|${to}`)) return;
    if (this.rng.chance(this.dropRate)) return;
    const known = encodeRaftMsg(from, msg);
    const extra = msg.t === "append" || msg.t === "snap" ? 0 : (this.o.newerFieldBytes ?? 0);
    const bytes = extra === 0 ? known : Buffer.concat([known, Buffer.alloc(extra, 0xa5)]);
    const copies = this.rng.chance(this.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      this.sched.at(this.rng.range(1, this.maxDelay), () => {
        if (m.node === undefined) return;
        const deliver = (): void => {
          const d = decodeRaftMsg(bytes);
          if (d === undefined) {
            this.violation(`undecodable message from ${from}`);
            return;
          }
          m.node?.receive(d.from, d.msg);
        };
        this.onMember(m, m.epoch, deliver)();
      });
    }
  }

  private onApply(id: string, index: number, value: string): void {
    const m = this.members.get(id);
    if (m !== undefined && index > m.appliedMax) m.appliedMax = index;
    const prev = this.appliedAt.get(index);
    if (prev === undefined) this.appliedAt.set(index, value);
    else if (prev !== value) this.violation(`state machine safety: ${id} applied ${value} at ${index}, another member ${prev}`);
    const p = this.proposed.get(value);
    if (p !== undefined && p.id === id && p.index === index) this.acked.set(value, index);
  }

  /** A new leader holds every entry applied anywhere so far (in its log or its snapshot). */
  private checkLeaderCompleteness(id: string): void {
    const node = this.members.get(id)?.node;
    if (node === undefined) return;
    const snapIndex = node.snapshotIndex;
    for (const [index, value] of this.appliedAt) {
      if (index <= snapIndex) continue;
      const e = node.entryAt(index);
      if (e === undefined || e.data.toString() !== value) {
        this.violation(`leader completeness: leader ${id} lacks committed entry ${index} (${value})`);
        return;
      }
    }
  }

  leader(): RaftNode | undefined {
    let best: RaftNode | undefined;
    for (const m of this.members.values()) {
      const n = m.node;
      if (n !== undefined && !m.paused && n.leaderReady && (best === undefined || n.term > best.term)) best = n;
    }
    return best;
  }

  private propose(): void {
    const l = this.leader();
    if (l === undefined || !l.canPropose) return;
    const value = `v${this.nextValue++}`;
    try {
      const index = l.propose(Buffer.from(value));
      this.proposed.set(value, { id: l.id, index, term: l.term });
    } catch {
      // not the leader after all, or busy
    }
  }

  /** Stop a member as kill -9 would (for scenarios driven step by step; startMember brings it back with its files). */
  kill(id: string): void {
    const m = this.members.get(id) as Member;
    if (m.node === undefined) return;
    m.node.stop();
    m.files = (m.disk as SimDisk).crash();
    m.node = undefined;
    m.epoch++;
    this.note(`${id}: kill`);
    this.connectionLost(id);
  }

  /** Cut a member off from all others, both ways, until heal(). */
  isolate(id: string): void {
    for (const o of this.members.keys()) {
      if (o === id) continue;
      this.blocked.add(`${id}|${o}`);
      this.blocked.add(`${o}|${id}`);
    }
    this.note(`${id}: isolated`);
  }

  /** Cut `id` off from `others`, both ways, until heal(). */
  cut(id: string, others: string[]): void {
    for (const o of others) {
      this.blocked.add(`${id}|${o}`);
      this.blocked.add(`${o}|${id}`);
    }
    this.note(`${id}: cut off from ${others.join(", ")}`);
  }

  heal(): void {
    this.blocked.clear();
    this.note("heal");
  }

  /** Stop a member as a power loss would: what it wrote and did not sync is lost, but for a prefix. */
  powerLoss(id: string): void {
    const m = this.members.get(id) as Member;
    if (m.node === undefined) return;
    m.node.stop();
    m.files = (m.disk as SimDisk).powerLoss();
    m.node = undefined;
    m.epoch++;
    this.note(`${id}: power loss`);
    this.connectionLost(id);
  }

  /** The others' connections to a member that died drop (as a route does): their groups learn it (RaftNode.lostContact). */
  private connectionLost(id: string): void {
    for (const o of this.members.values()) if (o.id !== id) o.node?.lostContact(id);
  }

  /** Stop a member and give it empty files (its group's directory made anew): it starts again with the first incarnation, as it did the first time. */
  wipe(id: string): void {
    this.kill(id);
    (this.members.get(id) as Member).files = new Files();
    this.note(`${id}: files wiped`);
  }

  /** One random fault (or repair of one). */
  private async fault(): Promise<void> {
    const r = this.rng;
    const all = [...this.members.values()].filter((m) => m.joined);
    if (all.length === 0) return; // (firstTerm: nobody started yet)
    const m = r.pick(all);
    const choice = r.int(10);
    const damagedElsewhere = all.some((x) => x.corrupted && x !== m);
    if (choice <= 1 && m.node !== undefined) {
      // Crash (or power loss), restart a little later, maybe with a corrupted file.
      const power = r.chance(0.3) && this.o.powerLoss !== false;
      m.node.stop();
      const files = power ? (m.disk as SimDisk).powerLoss() : (m.disk as SimDisk).crash();
      m.node = undefined;
      m.epoch++;
      m.files = files;
      let what = power ? "power loss" : "kill";
      if (this.o.corruption && !damagedElsewhere && !m.corrupted && r.chance(0.35)) {
        // Its own files damaged, or (a third of the time) its state machine's copy found damaged
        // at the restart: its log goes too, intact as it was (it votes by where it ended).
        if (r.chance(0.33)) {
          discardLogForRepair(new SimDisk(this.sched, new Rng(r.int(2 ** 31) + 1), files), "the state machine's copy is damaged");
          what += ", state machine's copy discarded";
        } else what += `, ${corruptFiles(files, r)}`;
        m.corrupted = true;
      }
      this.faultsDone.push(what);
      this.note(`${m.id}: ${what}`);
      const back = r.range(50, 1500);
      this.sched.at(back, () => {
        if (m.node === undefined && !this.finished) void this.startMember(m.id, false);
      });
    } else if (choice <= 3) {
      // Partition: a random side cut off from the rest.
      const side = all.filter(() => r.chance(0.5)).map((x) => x.id);
      for (const a of side) for (const b of all) if (!side.includes(b.id)) {
        this.blocked.add(`${a}|${b.id}`);
        this.blocked.add(`${b.id}|${a}`);
      }
      this.faultsDone.push(`partition ${side.join(",")}`);
      this.note(`partition ${side.join(",")}`);
    } else if (choice <= 5) {
      this.blocked.clear();
      this.note("heal");
    } else if (choice === 6 && m.node !== undefined && !m.paused) {
      m.paused = true;
      this.faultsDone.push("pause");
      this.note(`${m.id}: paused`);
      this.sched.at(r.range(100, 1000), () => this.resume(m));
    } else if (choice === 7 && this.o.membership) {
      this.changeMembership();
    } else if (choice === 8) {
      const l = this.leader();
      if (l !== undefined && l.stepDown()) this.note(`${l.id}: step down`);
    } else if (choice === 9) {
      // One-way loss between two members.
      const a = r.pick(all).id;
      const b = r.pick(all).id;
      if (a !== b) this.blocked.add(`${a}|${b}`);
    }
  }

  private resume(m: Member): void {
    if (!m.paused) return;
    m.paused = false;
    const frozen = m.frozen;
    m.frozen = [];
    this.note(`${m.id}: resumed`);
    for (const f of frozen) f.fn();
  }

  /**
   * The whole process stops for `ms` (every member: they share one event loop, as the servers of
   * an in-process test cluster do), then goes on as Node does after a long blocking call: the
   * timers that came due run first, then what arrived (messages, fsyncs), then deferred work.
   */
  stallAll(ms: number): void {
    const running = [...this.members.values()].filter((m) => m.node !== undefined && !m.paused);
    for (const m of running) m.paused = true;
    this.note(`process stalled for ${ms} ms`);
    this.sched.run(this.sched.now + ms);
    const frozen: Array<{ phase: number; at: number; fn: () => void; order: number }> = [];
    let order = 0;
    for (const m of running) {
      m.paused = false;
      for (const f of m.frozen) frozen.push({ ...f, order: order++ });
      m.frozen = [];
    }
    frozen.sort((a, b) => a.phase - b.phase || a.at - b.at || a.order - b.order);
    for (const f of frozen) f.fn();
  }

  /** One member's process stops (SIGSTOP): what comes due or arrives for it waits for resumeMember. */
  pauseMember(id: string): void {
    const m = this.members.get(id) as Member;
    if (m.node === undefined || m.paused) return;
    m.paused = true;
    this.note(`${id}: paused`);
  }

  resumeMember(id: string): void {
    this.resume(this.members.get(id) as Member);
  }

  /** Start the initial members (for scenarios driven step by step). */
  async startAll(): Promise<void> {
    for (const id of this.initial.voters) await this.startMember(id, false);
  }

  /** Run `ms` of simulated time with a proposal every `every` ms to whoever leads, no faults. */
  async advance(ms: number, every: number): Promise<void> {
    const end = this.sched.now + ms;
    while (this.sched.now < end) {
      this.sched.run(Math.min(end, this.sched.now + every));
      await Promise.resolve();
      this.propose();
    }
  }

  /** From now on every fsync takes `ms` longer (the disk got slow). */
  slowDisks(ms: number): void {
    this.o.syncExtraMs = ms;
    for (const m of this.members.values()) if (m.disk !== undefined) m.disk.syncExtraMs = ms;
  }

  /** The terms in which some member led so far. */
  get leaderTerms(): number[] {
    return [...this.leaders.keys()];
  }

  /** Who led `term` (undefined: nobody). */
  leaderOf(term: number): string | undefined {
    return this.leaders.get(term);
  }

  private changeMembership(): void {
    const l = this.leader();
    if (l === undefined) return;
    const cfg = l.config;
    const members = [...cfg.voters, ...cfg.learners];
    const outside = [...this.members.keys()].filter((id) => !members.includes(id));
    try {
      if (outside.length > 0 && (cfg.voters.length < 4 || this.rng.chance(0.5))) {
        const id = this.rng.pick(outside);
        const m = this.members.get(id) as Member;
        if (m.corrupted) return;
        l.addPeer(id);
        this.note(`add ${id}`);
        // A member that comes back starts from what it had (or nothing, when new); a removed one
        // that still runs simply gets the leader's appends again.
        if (m.node === undefined) void this.startMember(id, true);
        this.faultsDone.push(`add ${id}`);
      } else if (cfg.voters.length > 3) {
        const id = this.rng.pick(cfg.voters);
        l.removePeer(id);
        this.note(`remove ${id}`);
        this.faultsDone.push(`remove ${id}`);
      }
    } catch {
      // a change is in progress
    }
  }

  private finished = false;

  async run(): Promise<void> {
    const o = this.o;
    if (o.firstTerm === undefined) for (const id of this.initial.voters) await this.startMember(id, false);
    else {
      for (const id of this.initial.voters) {
        const m = this.members.get(id) as Member;
        this.sched.at(this.rng.range(0, 50), () => {
          if (!m.joined) void this.startMember(id, false);
        });
      }
    }
    let nextProposal = 0;
    let nextFault = o.faults ? (o.firstTerm !== undefined ? this.rng.range(0, 50) : this.rng.range(200, 600)) : Infinity;
    const end = o.durationMs;
    while (this.sched.now < end) {
      const t = Math.min(nextProposal, nextFault, end);
      this.sched.run(t);
      await Promise.resolve();
      if (this.sched.now >= nextProposal) {
        this.propose();
        nextProposal = this.sched.now + this.rng.range(1, o.proposalEveryMs * 2);
      }
      if (this.sched.now >= nextFault) {
        await this.fault();
        nextFault = this.sched.now + this.rng.range(100, 800);
      }
      if (this.violations.length > 0) return;
    }
    await this.settle();
  }

  /** Heal everything, restart the dead, and wait until every member of the group agrees. */
  private async settle(): Promise<void> {
    this.finished = true;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    for (const m of this.members.values()) if (m.paused) this.resume(m);
    for (const m of this.members.values()) if (m.joined && m.node === undefined) await this.startMember(m.id, false);
    const deadline = this.sched.now + 60_000;
    let marker: string | undefined;
    while (this.sched.now < deadline) {
      this.sched.run(this.sched.now + 100);
      await Promise.resolve();
      const l = this.leader();
      if (l === undefined) continue;
      if (marker === undefined) {
        marker = `final${this.o.seed}`;
        try {
          const index = l.propose(Buffer.from(marker));
          this.proposed.set(marker, { id: l.id, index, term: l.term });
        } catch {
          marker = undefined;
        }
        continue;
      }
      if (!this.acked.has(marker)) {
        if (!this.proposed.has(marker) || this.proposed.get(marker)?.term !== l.term) marker = undefined;
        continue;
      }
      const cfg = l.config;
      if (cfg.learners.length > 0) continue;
      const group = cfg.voters.map((id) => this.members.get(id) as Member);
      const target = l.commit;
      if (group.every((m) => m.node !== undefined && m.node.applied >= target && !m.node.damaged)) {
        this.checkFinal(group);
        return;
      }
    }
    const states = [...this.members.values()]
      .filter((m) => m.node !== undefined)
      .map((m) => `${m.id}: ${m.node?.role} term ${m.node?.term} last ${m.node?.lastIndex} commit ${m.node?.commit} applied ${m.node?.applied} damaged ${m.node?.damaged} voters ${m.node?.config.voters.join(",")}`);
    const l = this.leader() as unknown as { progress?: Map<string, unknown> } | undefined;
    const prog = l?.progress !== undefined ? JSON.stringify([...l.progress]) : "no leader";
    this.violation(`liveness: the healed group did not converge within 60 s: ${states.join(" | ")} progress ${prog}`);
  }

  private checkFinal(group: Member[]): void {
    // State machine safety at the end: same applied state everywhere.
    const l = this.leader() as RaftNode;
    const ref = group.find((m) => m.node === l) ?? group[0];
    for (const m of group) {
      const a = m.sm as SimStateMachine;
      const b = ref.sm as SimStateMachine;
      if (m.node?.applied === ref.node?.applied && (a.count !== b.count || a.hash !== b.hash)) this.violation(`final state differs: ${m.id} ${a.count}/${a.hash} vs ${ref.id} ${b.count}/${b.hash}`);
    }
    // Every acknowledged value is where it was acknowledged.
    for (const [value, index] of this.acked) {
      if (this.appliedAt.get(index) !== value) this.violation(`acknowledged ${value} at ${index} lost (now ${this.appliedAt.get(index)})`);
    }
    // Log matching between every pair of members.
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) this.checkLogMatching(group[i].node as RaftNode, group[j].node as RaftNode);
    }
  }

  private checkLogMatching(a: RaftNode, b: RaftNode): void {
    const from = Math.max(a.snapshotIndex, b.snapshotIndex) + 1;
    const to = Math.min(a.lastIndex, b.lastIndex);
    let top = -1;
    for (let i = to; i >= from; i--) {
      const x = a.entryAt(i);
      const y = b.entryAt(i);
      if (x !== undefined && y !== undefined && x.term === y.term) {
        top = i;
        break;
      }
    }
    for (let i = from; i <= top; i++) {
      const x = a.entryAt(i);
      const y = b.entryAt(i);
      if (x === undefined || y === undefined) continue;
      if (x.term !== y.term || !x.data.equals(y.data)) {
        this.violation(`log matching: ${a.id} and ${b.id} agree at ${top} but differ at ${i}`);
        return;
      }
    }
  }

  stop(): void {
    for (const m of this.members.values()) m.node?.stop();
  }
}

/** Run one seed; returns what went wrong (empty: nothing). */
export async function runSeed(
  seed: number,
  overrides: Partial<SimOptions> = {},
): Promise<{ violations: string[]; log: string[]; acked: number; faults: string[]; events: number; firstLeader: string | undefined; recordedRestarts: number }> {
  const r = new Rng(seed * 7919 + 1);
  const members = r.chance(0.7) ? 3 : 5;
  const o: SimOptions = {
    seed,
    members,
    spares: 2,
    durationMs: 4000,
    proposalEveryMs: 15,
    faults: true,
    corruption: true,
    membership: true,
    ...overrides,
  };
  const sim = new SimCluster(o);
  try {
    await sim.run();
  } finally {
    sim.stop();
  }
  const firstLeader = o.firstTerm !== undefined ? sim.leaderOf(o.firstTerm.term) : undefined;
  return { violations: sim.violations, log: sim.log, acked: sim.acked.size, faults: sim.faultsDone, events: sim.sched.events, firstLeader, recordedRestarts: sim.recordedRestarts };
}
