// What nats-server's JetStream puts in its RAFT entries (issue 12's moonshot: wire compatibility
// with a nats-server 2.15 JetStream cluster): the meta group's assignments, the stream groups'
// messages, purges and deletes, the consumer groups' delivered/ack state, and the snapshots
// each kind of group installs, decoded to typed objects. Facts from nats-server's
// server/jetstream_cluster.go (entry ops, assignment JSON, stream message layout),
// consumer.go (delivered/ack updates) and store.go (stream and consumer state encodings).
// The RAFT layer around them is src/cluster/nrg_wire.ts.
//
// A Normal entry's data starts with an op byte. JSON bodies (assignments, purges, deletes) are
// kept as parsed objects with their raw bytes; binary bodies (messages, consumer updates) are
// decoded field by field and can be encoded again byte for byte.
import { NrgEntryType, NrgDecodeError, NRG_ID_LENGTH, decodeNrgPeerState, readUvarint, readVarint, uvarintBytes, varintBytes, type NrgEntry, type NrgPeerState } from "../cluster/nrg_wire.js";
import { s2DecodeBlock, s2DecodeStream } from "../storage/s2.js";

/** nats-server's entry ops (jetstream_cluster.go entryOp), the first byte of a Normal entry. */
export enum NrgEntryOp {
  AssignStream = 0,
  AssignConsumer = 1,
  RemoveStream = 2,
  RemoveConsumer = 3,
  StreamMsg = 4,
  PurgeStream = 5,
  DeleteMsg = 6,
  UpdateDelivered = 7,
  UpdateAcks = 8,
  AssignCompressedConsumer = 9,
  UpdateSkip = 10,
  UpdateStream = 11,
  AddPendingRequest = 12,
  RemovePendingRequest = 13,
  CompressedStreamMsg = 14,
  DeleteRange = 15,
  BatchMsg = 16,
  BatchCommitMsg = 17,
  ResetSeq = 18,
}

/** A RAFT group as the meta group assigns it (raftGroup's JSON). */
export interface NrgRaftGroup {
  name: string;
  peers: string[];
  /** "file" or "memory". */
  store: string;
  cluster?: string;
  preferred?: string;
  [more: string]: unknown;
}

export interface NrgStreamAssignment {
  /** The requesting client (ClientInfo), when sent. */
  client?: Record<string, unknown>;
  created: string;
  /** The stream's configuration as nats-server's StreamConfig JSON. */
  config: Record<string, unknown> & { name: string };
  group: NrgRaftGroup;
  sync: string;
  subject?: string;
  reply?: string;
  raw: Buffer;
}

export interface NrgConsumerAssignment {
  client?: Record<string, unknown>;
  created: string;
  name: string;
  stream: string;
  config: Record<string, unknown>;
  group: NrgRaftGroup;
  subject?: string;
  reply?: string;
  /** The consumer's state, sent with assignments of restored consumers. */
  state?: Record<string, unknown>;
  raw: Buffer;
}

/** One stream of a meta snapshot, with its consumers. */
export interface NrgMetaSnapshotStream {
  client?: Record<string, unknown>;
  created: string;
  config: Record<string, unknown> & { name: string };
  group: NrgRaftGroup;
  sync: string;
  consumers: { client?: Record<string, unknown>; created: string; name: string; stream: string; config: Record<string, unknown>; group: NrgRaftGroup }[];
}

/** Entries every kind of group carries: RAFT membership and state, not JetStream's. */
export type NrgRaftEntry =
  | { op: "peerState"; state: NrgPeerState }
  | { op: "addPeer"; peer: string }
  | { op: "removePeer"; peer: string }
  | { op: "leaderTransfer"; peer: string };

export type NrgMetaEntry =
  | NrgRaftEntry
  | { op: "assignStream" | "updateStream" | "removeStream"; assignment: NrgStreamAssignment }
  | { op: "assignConsumer" | "removeConsumer"; assignment: NrgConsumerAssignment; compressed: boolean }
  | { op: "snapshot"; streams: NrgMetaSnapshotStream[] };

/** A message as a stream group replicates it (encodeStreamMsg). */
export interface NrgStreamMsg {
  /** The stream's last sequence when the leader proposed it: the message becomes this + 1. */
  lastSequence: number;
  /** Nanoseconds since the epoch. */
  timestamp: bigint;
  subject: string;
  reply: string;
  /** The NATS/1.0 header block, empty when none. */
  header: Buffer;
  data: Buffer;
  /** Copied from a source or mirror (flag bit 1). */
  sourced: boolean;
  /** The flags' uvarint, undefined when the entry ends before it (older servers). */
  flags: bigint | undefined;
}

/** A stream's replicated state (store.go StreamReplicatedState), what its snapshots hold. */
export interface NrgStreamState {
  version: number;
  messages: number;
  bytes: number;
  firstSequence: number;
  lastSequence: number;
  failed: number;
  /** Sourcing positions (state version 2): per source index name, the origin's sequence and identity. */
  sources: { name: string; sequence: number; ident: string }[];
  /** The deleted sequences between first and last, as nats-server's blocks carry them. */
  deleted: NrgDeleteBlock[];
}

/** A block of deleted sequences: a run (first, count) or an explicit set (nats-server's AVL bitmap). */
export type NrgDeleteBlock = { kind: "range"; first: number; count: number } | { kind: "set"; sequences: number[] };

export type NrgStreamEntry =
  | NrgRaftEntry
  | { op: "msg"; msg: NrgStreamMsg; compressed: boolean }
  | { op: "batchMsg"; batchId: string; batchSequence: number; commit: boolean; msg: NrgStreamMsg; compressed: boolean }
  | { op: "purge"; purge: { stream: string; last_seq: number; request?: Record<string, unknown>; [more: string]: unknown }; raw: Buffer }
  | { op: "deleteMsg"; delete: { stream: string; seq: number; no_erase?: boolean; [more: string]: unknown }; raw: Buffer }
  | { op: "deleteRange"; first: number; num: number }
  | { op: "snapshot"; state: NrgStreamState | undefined; data: Buffer };

/** A consumer's state (store.go encodeConsumerState), what its snapshots hold. */
export interface NrgConsumerState {
  ackFloor: { consumer: number; stream: number };
  delivered: { consumer: number; stream: number };
  /** Delivered, not yet acknowledged: by stream sequence, the delivery sequence and time (whole seconds). */
  pending: { streamSequence: number; deliverySequence: number; timestampSeconds: number }[];
  /** Delivered more than once: by stream sequence, how many times. */
  redelivered: { streamSequence: number; count: number }[];
}

export type NrgConsumerEntry =
  | NrgRaftEntry
  | { op: "delivered"; deliverySequence: number; streamSequence: number; deliveryCount: number; timestamp: bigint }
  | { op: "ack"; deliverySequence: number; streamSequence: number }
  | { op: "skip"; streamSequence: number }
  | { op: "resetSequence"; streamSequence: number; reply: string }
  | { op: "addPendingRequest" | "removePendingRequest"; reply: string }
  | { op: "snapshot"; state: NrgConsumerState };

const STREAM_STATE_MAGIC = 42;
const CONSUMER_STATE_MAGIC = 22;
const MSG_FLAG_SOURCED = 1n;

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new NrgDecodeError(`${what}: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new NrgDecodeError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function groupOf(value: unknown, what: string): NrgRaftGroup {
  const g = value as NrgRaftGroup | undefined;
  if (typeof g !== "object" || g === null || typeof g.name !== "string" || !Array.isArray(g.peers)) throw new NrgDecodeError(`${what} has no RAFT group`);
  return g;
}

function streamAssignment(body: Buffer): NrgStreamAssignment {
  const j = parseJson(body, "stream assignment");
  const config = j.stream as NrgStreamAssignment["config"] | undefined;
  if (typeof config !== "object" || config === null || typeof config.name !== "string") throw new NrgDecodeError("stream assignment has no stream configuration");
  return {
    client: j.client as Record<string, unknown> | undefined,
    created: String(j.created),
    config,
    group: groupOf(j.group, "stream assignment"),
    sync: String(j.sync ?? ""),
    subject: j.subject as string | undefined,
    reply: j.reply as string | undefined,
    raw: body,
  };
}

function consumerAssignment(body: Buffer): NrgConsumerAssignment {
  const j = parseJson(body, "consumer assignment");
  if (typeof j.name !== "string" || typeof j.stream !== "string") throw new NrgDecodeError("consumer assignment without a name or stream");
  return {
    client: j.client as Record<string, unknown> | undefined,
    created: String(j.created),
    name: j.name,
    stream: j.stream,
    config: (j.consumer as Record<string, unknown> | undefined) ?? {},
    group: groupOf(j.group, "consumer assignment"),
    subject: j.subject as string | undefined,
    reply: j.reply as string | undefined,
    state: j.state as Record<string, unknown> | undefined,
    raw: body,
  };
}

function peerIdOf(data: Buffer, what: string): string {
  if (data.length !== NRG_ID_LENGTH) throw new NrgDecodeError(`${what} of ${data.length} bytes, not ${NRG_ID_LENGTH}`);
  return data.toString("latin1");
}

/** The RAFT-level entries, undefined for a Normal or Snapshot entry (the group kind's own). */
function raftEntry(e: NrgEntry): NrgRaftEntry | undefined {
  switch (e.type) {
    case NrgEntryType.PeerState:
      return { op: "peerState", state: decodeNrgPeerState(e.data) };
    case NrgEntryType.AddPeer:
      return { op: "addPeer", peer: peerIdOf(e.data, "added peer") };
    case NrgEntryType.RemovePeer:
      return { op: "removePeer", peer: peerIdOf(e.data, "removed peer") };
    case NrgEntryType.LeaderTransfer:
      return { op: "leaderTransfer", peer: peerIdOf(e.data, "leader transfer") };
    case NrgEntryType.Normal:
    case NrgEntryType.Snapshot:
      return undefined;
    default:
      throw new NrgDecodeError(`entry type ${e.type} is not one a group replicates`);
  }
}

/**
 * A meta snapshot: an S2 block of the JSON array of stream assignments, each with its
 * consumers (under the Go field name `Consumers`). Empty data: no streams.
 */
export function decodeNrgMetaSnapshot(data: Buffer): NrgMetaSnapshotStream[] {
  if (data.length === 0) return [];
  let json: unknown;
  try {
    json = JSON.parse(s2DecodeBlock(data, 256 << 20).toString("utf8"));
  } catch (err) {
    throw new NrgDecodeError(`meta snapshot: ${(err as Error).message}`);
  }
  if (!Array.isArray(json)) throw new NrgDecodeError("meta snapshot is not a JSON array");
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  return json.map((w: unknown) => {
    if (!isObject(w)) throw new NrgDecodeError("meta snapshot holds a stream that is not an object");
    const config = w.stream as NrgMetaSnapshotStream["config"];
    if (typeof config !== "object" || config === null || typeof config.name !== "string") throw new NrgDecodeError("meta snapshot stream without a configuration");
    const listed: unknown = w.Consumers ?? [];
    if (!Array.isArray(listed) || !listed.every(isObject)) throw new NrgDecodeError(`meta snapshot stream ${config.name} has malformed consumers`);
    const consumers = listed.map((c) => ({
      client: c.client as Record<string, unknown> | undefined,
      created: String(c.created),
      name: String(c.name),
      // nats-server leaves the stream name out of a consumer and fills it in from its stream.
      stream: typeof c.stream === "string" && c.stream !== "" ? c.stream : config.name,
      config: (c.consumer as Record<string, unknown> | undefined) ?? {},
      group: groupOf(c.group, "meta snapshot consumer"),
    }));
    return { client: w.client as Record<string, unknown> | undefined, created: String(w.created), config, group: groupOf(w.group, "meta snapshot stream"), sync: String(w.sync ?? ""), consumers };
  });
}

export function decodeNrgMetaEntry(e: NrgEntry): NrgMetaEntry {
  const r = raftEntry(e);
  if (r !== undefined) return r;
  if (e.type === NrgEntryType.Snapshot) return { op: "snapshot", streams: decodeNrgMetaSnapshot(e.data) };
  if (e.data.length === 0) throw new NrgDecodeError("empty meta entry");
  const body = e.data.subarray(1);
  switch (e.data[0]) {
    case NrgEntryOp.AssignStream:
      return { op: "assignStream", assignment: streamAssignment(body) };
    case NrgEntryOp.UpdateStream:
      return { op: "updateStream", assignment: streamAssignment(body) };
    case NrgEntryOp.RemoveStream:
      return { op: "removeStream", assignment: streamAssignment(body) };
    case NrgEntryOp.AssignConsumer:
      return { op: "assignConsumer", assignment: consumerAssignment(body), compressed: false };
    case NrgEntryOp.RemoveConsumer:
      return { op: "removeConsumer", assignment: consumerAssignment(body), compressed: false };
    case NrgEntryOp.AssignCompressedConsumer: {
      // An S2 stream (framed), not a block, around the same JSON.
      let json: Buffer;
      try {
        json = s2DecodeStream(body);
      } catch (err) {
        throw new NrgDecodeError(`compressed consumer assignment: ${(err as Error).message}`);
      }
      return { op: "assignConsumer", assignment: consumerAssignment(json), compressed: true };
    }
    default:
      throw new NrgDecodeError(`unknown meta entry op ${e.data[0]}`);
  }
}

function counter(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NrgDecodeError(`${what} ${value} is beyond 2^53`);
  return Number(value);
}

/** The body of a streamMsgOp after its op byte. */
export function decodeNrgStreamMsg(buf: Buffer): NrgStreamMsg {
  const bad = (why: string): never => {
    throw new NrgDecodeError(`stream message: ${why}`);
  };
  if (buf.length < 26) bad(`${buf.length} bytes are fewer than 26`);
  let at = 16;
  const field = (lengthBytes: 2 | 4, what: string): Buffer => {
    if (buf.length - at < lengthBytes) bad(`cut before the ${what} length`);
    const length = lengthBytes === 2 ? buf.readUInt16LE(at) : buf.readUInt32LE(at);
    at += lengthBytes;
    if (buf.length - at < length) bad(`${what} of ${length} bytes runs past the end`);
    const out = buf.subarray(at, at + length);
    at += length;
    return out;
  };
  const subject = field(2, "subject").toString("latin1");
  const reply = field(2, "reply").toString("latin1");
  const header = field(2, "header");
  const data = field(4, "payload");
  let flags: bigint | undefined;
  if (at < buf.length) {
    const f = readUvarint(buf, at);
    if (f.length === 0 || at + f.length !== buf.length) bad("unexpected bytes after the flags");
    flags = f.value;
  }
  return {
    lastSequence: counter(buf.readBigUInt64LE(0), "last sequence"),
    timestamp: buf.readBigInt64LE(8),
    subject,
    reply,
    header,
    data,
    sourced: flags !== undefined && (flags & MSG_FLAG_SOURCED) !== 0n,
    flags,
  };
}

/** A stream message entry's bytes (uncompressed streamMsgOp), the op byte included. */
export function encodeNrgStreamMsg(m: NrgStreamMsg): Buffer {
  const subject = Buffer.from(m.subject, "latin1");
  const reply = Buffer.from(m.reply, "latin1");
  const flags = m.flags === undefined ? Buffer.alloc(0) : uvarintBytes(m.flags);
  const buf = Buffer.alloc(1 + 16 + 2 + subject.length + 2 + reply.length + 2 + m.header.length + 4 + m.data.length + flags.length);
  buf[0] = NrgEntryOp.StreamMsg;
  buf.writeBigUInt64LE(BigInt(m.lastSequence), 1);
  buf.writeBigInt64LE(m.timestamp, 9);
  let at = 17;
  for (const [part, lengthBytes] of [
    [subject, 2],
    [reply, 2],
    [m.header, 2],
    [m.data, 4],
  ] as const) {
    if (lengthBytes === 2) buf.writeUInt16LE(part.length, at);
    else buf.writeUInt32LE(part.length, at);
    at += lengthBytes;
    part.copy(buf, at);
    at += part.length;
  }
  flags.copy(buf, at);
  return buf;
}

/** A stream message body that may be S2-compressed (a block, as nats-server does over 8 KiB). */
function streamMsgBody(op: number, body: Buffer): { msg: NrgStreamMsg; compressed: boolean } {
  if (op === NrgEntryOp.StreamMsg) return { msg: decodeNrgStreamMsg(body), compressed: false };
  if (op === NrgEntryOp.CompressedStreamMsg) {
    let plain: Buffer;
    try {
      plain = s2DecodeBlock(body, 64 << 20);
    } catch (err) {
      throw new NrgDecodeError(`compressed stream message: ${(err as Error).message}`);
    }
    return { msg: decodeNrgStreamMsg(plain), compressed: true };
  }
  throw new NrgDecodeError(`op ${op} is not a stream message`);
}

const RUN_LENGTH_MAGIC = 33;
const SEQUENCE_SET_MAGIC = 22;
/** nats-server's avl.SequenceSet v2: 32 buckets of 64 bits per node. */
const SET_BUCKETS = 32;
const SET_NODE_LENGTH = 8 + SET_BUCKETS * 8 + 2;
/** Bound on the sequences a set may expand to here (a hostile count must not exhaust memory). */
const MAX_SET_SEQUENCES = 1 << 20;

/** One avl.SequenceSet (v2) at `at`: the sequences and the bytes it took. */
function decodeSequenceSet(data: Buffer, at: number): { sequences: number[]; length: number } {
  if (data.length - at < 10) throw new NrgDecodeError("sequence set cut in its header");
  if (data[at + 1] !== 2) throw new NrgDecodeError(`sequence set version ${data[at + 1]} is not read here (only 2)`);
  const nodes = data.readUInt32LE(at + 2);
  if (nodes > (data.length - at - 10) / SET_NODE_LENGTH) throw new NrgDecodeError(`sequence set of ${nodes} nodes runs past the end`);
  const sequences: number[] = [];
  let p = at + 10;
  for (let n = 0; n < nodes; n++) {
    const base = counter(data.readBigUInt64LE(p), "sequence set base");
    p += 8;
    for (let b = 0; b < SET_BUCKETS; b++, p += 8) {
      let bits = data.readBigUInt64LE(p);
      for (let bit = 0; bits !== 0n; bit++, bits >>= 1n) {
        if ((bits & 1n) === 0n) continue;
        if (sequences.length >= MAX_SET_SEQUENCES) throw new NrgDecodeError(`sequence set holds more than ${MAX_SET_SEQUENCES} sequences`);
        sequences.push(base + b * 64 + bit);
      }
    }
    p += 2; // the node's AVL height
  }
  sequences.sort((a, b) => a - b);
  return { sequences, length: p - at };
}

export function decodeNrgStreamState(data: Buffer): NrgStreamState | undefined {
  if (data.length < 2 || data[0] !== STREAM_STATE_MAGIC || (data[1] !== 1 && data[1] !== 2)) return undefined;
  let at = 2;
  const next = (what: string): number => {
    const v = readUvarint(data, at);
    if (v.length === 0) throw new NrgDecodeError(`stream state cut in ${what}`);
    at += v.length;
    return counter(v.value, what);
  };
  const text = (what: string): string => {
    const length = next(what);
    if (data.length - at < length) throw new NrgDecodeError(`stream state's ${what} runs past the end`);
    at += length;
    return data.toString("utf8", at - length, at);
  };
  const state: NrgStreamState = {
    version: data[1],
    messages: next("messages"),
    bytes: next("bytes"),
    firstSequence: next("first sequence"),
    lastSequence: next("last sequence"),
    failed: next("failed"),
    sources: [],
    deleted: [],
  };
  // Sources (version 2) come before the delete blocks, which run to the end.
  if (state.version === 2) {
    const count = next("source count");
    for (let i = 0; i < count; i++) state.sources.push({ name: text("source name"), sequence: next("source sequence"), ident: text("source identity") });
  }
  if (at === data.length) return state;
  if (next("deleted count") === 0) return state;
  while (at < data.length) {
    if (data[at] === RUN_LENGTH_MAGIC) {
      at++;
      state.deleted.push({ kind: "range", first: next("deleted range"), count: next("deleted range") });
    } else if (data[at] === SEQUENCE_SET_MAGIC) {
      const set = decodeSequenceSet(data, at);
      at += set.length;
      state.deleted.push({ kind: "set", sequences: set.sequences });
    } else {
      throw new NrgDecodeError(`stream state has a delete block of unknown kind ${data[at]}`);
    }
  }
  return state;
}

/**
 * A stream state as a leader's snapshot carries it (filestore EncodedStreamState, version 1: no
 * sourcing positions), its deleted sequences as run-length blocks.
 */
export function encodeNrgStreamState(state: { messages: number; bytes: number; firstSequence: number; lastSequence: number; failed: number; deleted: number[] }): Buffer {
  const parts: Buffer[] = [Buffer.from([STREAM_STATE_MAGIC, 1])];
  for (const v of [state.messages, state.bytes, state.firstSequence, state.lastSequence, state.failed, state.deleted.length]) parts.push(uvarintBytes(BigInt(v)));
  const sorted = [...state.deleted].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(Buffer.from([RUN_LENGTH_MAGIC]), uvarintBytes(BigInt(sorted[i])), uvarintBytes(BigInt(j - i + 1)));
    i = j + 1;
  }
  return Buffer.concat(parts);
}

/** A delete range entry's bytes (op byte and Go's field names: DeleteRange has no JSON tags). */
export function encodeNrgDeleteRange(first: number, num: number): Buffer {
  return Buffer.concat([Buffer.from([NrgEntryOp.DeleteRange]), Buffer.from(JSON.stringify({ First: first, Num: num }))]);
}

export function decodeNrgStreamEntry(e: NrgEntry): NrgStreamEntry {
  const r = raftEntry(e);
  if (r !== undefined) return r;
  // A stream snapshot is the binary stream state (or, from servers before 2.10.16, JSON).
  if (e.type === NrgEntryType.Snapshot) return { op: "snapshot", state: decodeNrgStreamState(e.data), data: e.data };
  if (e.data.length === 0) throw new NrgDecodeError("empty stream entry");
  const op = e.data[0];
  const body = e.data.subarray(1);
  switch (op) {
    case NrgEntryOp.StreamMsg:
    case NrgEntryOp.CompressedStreamMsg:
      return { op: "msg", ...streamMsgBody(op, body) };
    case NrgEntryOp.BatchMsg:
    case NrgEntryOp.BatchCommitMsg: {
      if (body.length < 2) throw new NrgDecodeError("batch message cut before its id");
      const idLength = body.readUInt16LE(0);
      if (body.length < 2 + idLength) throw new NrgDecodeError("batch message cut in its id");
      const batchId = body.toString("latin1", 2, 2 + idLength);
      const seq = readUvarint(body, 2 + idLength);
      const innerAt = 2 + idLength + seq.length;
      if (seq.length === 0 || innerAt >= body.length) throw new NrgDecodeError("batch message cut after its id");
      return { op: "batchMsg", batchId, batchSequence: counter(seq.value, "batch sequence"), commit: op === NrgEntryOp.BatchCommitMsg, ...streamMsgBody(body[innerAt], body.subarray(innerAt + 1)) };
    }
    case NrgEntryOp.PurgeStream:
      return { op: "purge", purge: parseJson(body, "stream purge") as Extract<NrgStreamEntry, { op: "purge" }>["purge"], raw: body };
    case NrgEntryOp.DeleteMsg:
      return { op: "deleteMsg", delete: parseJson(body, "message delete") as Extract<NrgStreamEntry, { op: "deleteMsg" }>["delete"], raw: body };
    case NrgEntryOp.DeleteRange: {
      // DeleteRange has no JSON tags: Go's field names.
      const j = parseJson(body, "delete range");
      if (typeof j.First !== "number" || typeof j.Num !== "number") throw new NrgDecodeError("delete range without First and Num");
      return { op: "deleteRange", first: j.First, num: j.Num };
    }
    default:
      throw new NrgDecodeError(`unknown stream entry op ${op}`);
  }
}

export function decodeNrgConsumerState(data: Buffer): NrgConsumerState {
  if (data.length < 2 || data[0] !== CONSUMER_STATE_MAGIC) throw new NrgDecodeError("consumer state without its magic byte");
  // Version 1 (servers before 2.2) kept no delivery sequences for pending messages.
  if (data[1] !== 2) throw new NrgDecodeError(`consumer state version ${data[1]} is not read here (only 2)`);
  let at = 2;
  const next = (what: string): number => {
    const v = readUvarint(data, at);
    if (v.length === 0) throw new NrgDecodeError(`consumer state cut in ${what}`);
    at += v.length;
    return counter(v.value, what);
  };
  const signed = (what: string): number => {
    const v = readVarint(data, at);
    if (v.length === 0) throw new NrgDecodeError(`consumer state cut in ${what}`);
    at += v.length;
    return Number(v.value);
  };
  const ackFloor = { consumer: next("ack floor"), stream: next("ack floor") };
  const delivered = { consumer: next("delivered"), stream: next("delivered") };
  const pending: NrgConsumerState["pending"] = [];
  const pendingCount = next("pending count");
  if (pendingCount > data.length) throw new NrgDecodeError(`consumer state claims ${pendingCount} pending in ${data.length} bytes`);
  if (pendingCount > 0) {
    // Times are whole seconds, each stored as its distance below a base time.
    const base = signed("pending base time");
    for (let i = 0; i < pendingCount; i++) {
      const streamSequence = next("pending stream sequence") + ackFloor.stream;
      const deliverySequence = next("pending delivery sequence") + ackFloor.consumer;
      pending.push({ streamSequence, deliverySequence, timestampSeconds: base - signed("pending time") });
    }
  }
  const redelivered: NrgConsumerState["redelivered"] = [];
  if (at < data.length) {
    const redeliveredCount = next("redelivered count");
    if (redeliveredCount > data.length) throw new NrgDecodeError(`consumer state claims ${redeliveredCount} redelivered in ${data.length} bytes`);
    for (let i = 0; i < redeliveredCount; i++) redelivered.push({ streamSequence: next("redelivered sequence") + ackFloor.stream, count: next("redelivery count") });
  }
  pending.sort((a, b) => a.streamSequence - b.streamSequence);
  redelivered.sort((a, b) => a.streamSequence - b.streamSequence);
  return { ackFloor, delivered, pending, redelivered };
}

/**
 * A consumer's state in nats-server's encoding (version 2): times in whole seconds below a base
 * of `nowSeconds` (nats-server takes the current time rounded to seconds).
 */
export function encodeNrgConsumerState(state: NrgConsumerState, nowSeconds: number): Buffer {
  const parts: Buffer[] = [Buffer.from([CONSUMER_STATE_MAGIC, 2])];
  const u = (n: number): void => {
    parts.push(uvarintBytes(BigInt(n)));
  };
  u(state.ackFloor.consumer);
  u(state.ackFloor.stream);
  u(state.delivered.consumer);
  u(state.delivered.stream);
  u(state.pending.length);
  if (state.pending.length > 0) {
    parts.push(varintBytes(BigInt(nowSeconds)));
    for (const p of state.pending) {
      u(p.streamSequence - state.ackFloor.stream);
      u(p.deliverySequence - state.ackFloor.consumer);
      parts.push(varintBytes(BigInt(nowSeconds - p.timestampSeconds)));
    }
  }
  u(state.redelivered.length);
  for (const r of state.redelivered) {
    u(r.streamSequence - state.ackFloor.stream);
    u(r.count);
  }
  return Buffer.concat(parts);
}

export function decodeNrgConsumerEntry(e: NrgEntry): NrgConsumerEntry {
  const r = raftEntry(e);
  if (r !== undefined) return r;
  if (e.type === NrgEntryType.Snapshot) return { op: "snapshot", state: decodeNrgConsumerState(e.data) };
  if (e.data.length === 0) throw new NrgDecodeError("empty consumer entry");
  const body = e.data.subarray(1);
  let at = 0;
  const next = (what: string): number => {
    const v = readUvarint(body, at);
    if (v.length === 0) throw new NrgDecodeError(`consumer entry cut in ${what}`);
    at += v.length;
    return counter(v.value, what);
  };
  const done = <T>(entry: T): T => {
    if (at !== body.length) throw new NrgDecodeError(`consumer entry has ${body.length - at} unexpected trailing bytes`);
    return entry;
  };
  switch (e.data[0]) {
    case NrgEntryOp.UpdateDelivered: {
      const deliverySequence = next("delivery sequence");
      const streamSequence = next("stream sequence");
      const deliveryCount = next("delivery count");
      const ts = readVarint(body, at);
      if (ts.length === 0) throw new NrgDecodeError("consumer entry cut in its timestamp");
      at += ts.length;
      return done({ op: "delivered", deliverySequence, streamSequence, deliveryCount, timestamp: ts.value });
    }
    case NrgEntryOp.UpdateAcks:
      return done({ op: "ack", deliverySequence: next("delivery sequence"), streamSequence: next("stream sequence") });
    case NrgEntryOp.UpdateSkip:
      if (body.length < 8) throw new NrgDecodeError("skip update shorter than 8 bytes");
      return { op: "skip", streamSequence: counter(body.readBigUInt64LE(0), "stream sequence") };
    case NrgEntryOp.ResetSeq:
      if (body.length < 8) throw new NrgDecodeError("reset shorter than 8 bytes");
      return { op: "resetSequence", streamSequence: counter(body.readBigUInt64LE(0), "stream sequence"), reply: body.toString("latin1", 8) };
    case NrgEntryOp.AddPendingRequest:
      return { op: "addPendingRequest", reply: body.toString("latin1") };
    case NrgEntryOp.RemovePendingRequest:
      return { op: "removePendingRequest", reply: body.toString("latin1") };
    default:
      throw new NrgDecodeError(`unknown consumer entry op ${e.data[0]}`);
  }
}

/** A consumer entry's bytes again (the binary ops; a snapshot or RAFT entry is not encoded here). */
export function encodeNrgConsumerEntry(entry: NrgConsumerEntry): Buffer {
  switch (entry.op) {
    case "delivered":
      return Buffer.concat([Buffer.from([NrgEntryOp.UpdateDelivered]), uvarintBytes(BigInt(entry.deliverySequence)), uvarintBytes(BigInt(entry.streamSequence)), uvarintBytes(BigInt(entry.deliveryCount)), varintBytes(entry.timestamp)]);
    case "ack":
      return Buffer.concat([Buffer.from([NrgEntryOp.UpdateAcks]), uvarintBytes(BigInt(entry.deliverySequence)), uvarintBytes(BigInt(entry.streamSequence))]);
    case "skip": {
      const buf = Buffer.alloc(9);
      buf[0] = NrgEntryOp.UpdateSkip;
      buf.writeBigUInt64LE(BigInt(entry.streamSequence), 1);
      return buf;
    }
    case "resetSequence": {
      const buf = Buffer.alloc(9 + Buffer.byteLength(entry.reply, "latin1"));
      buf[0] = NrgEntryOp.ResetSeq;
      buf.writeBigUInt64LE(BigInt(entry.streamSequence), 1);
      buf.write(entry.reply, 9, "latin1");
      return buf;
    }
    case "addPendingRequest":
    case "removePendingRequest":
      return Buffer.concat([Buffer.from([entry.op === "addPendingRequest" ? NrgEntryOp.AddPendingRequest : NrgEntryOp.RemovePendingRequest]), Buffer.from(entry.reply, "latin1")]);
    default:
      throw new NrgDecodeError(`${entry.op} is not a binary consumer entry`);
  }
}
