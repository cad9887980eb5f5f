// nats-server's RAFT wire ("NRG": NATS Raft Groups) as bytes, for wire compatibility with a
// nats-server 2.15 JetStream cluster (issue 12's moonshot). Facts from nats-server's
// server/raft.go; tsnats's own RAFT (raft.ts, raft_wire.ts) keeps its own encoding on
// `$NRG.TS.*`, this file is only the other server's dialect.
//
// Layouts (little endian throughout, peer ids are 8 ASCII bytes: the base-62 hash of the
// server name, `shortHash` in src/jetstream/util.ts):
// - append entry: leader id(8) term(8) commit(8) prevTerm(8) prevIndex(8) count(2), then per
//   entry: length(4, type byte + data) type(1) data, then the leader's term as a uvarint (added
//   in 2.10: catch-up entries carry the leader's current term; older servers stop before it).
// - append entry response: term(8) index(8) peer(8) success(1).
// - vote request: term(8) lastTerm(8) lastIndex(8) candidate(8).
// - vote response: term(8) peer(8) flags(1: 1 granted, 2 the voter's log is empty).
// - peer state (entry data of PeerState, and of a snapshot's peer part): clusterSize(4)
//   count(4) ids(8 each) domainExtension(2, optional).
// Subjects: `$NRG.AE.<group>` (append entries, reply = the leader's response inbox),
// `$NRG.V.<group>` (vote requests, reply = the candidate's inbox), `$NRG.P.<group>` (proposals
// forwarded to the leader: the entry's data as is), `$NRG.RP.<group>` (a forwarded peer removal:
// the 8-byte id), `$NRG.R.<inbox>` (append entry and vote responses), `$NRG.CR.<inbox>` (the
// append entries of a catch-up, sent to the follower's catch-up inbox).

/** Length of a RAFT peer id on nats-server's wire (the hash of the server's name). */
export const NRG_ID_LENGTH = 8;

/** nats-server's RAFT entry types (raft.go EntryType). */
export enum NrgEntryType {
  Normal = 0,
  OldSnapshot = 1,
  PeerState = 2,
  AddPeer = 3,
  RemovePeer = 4,
  LeaderTransfer = 5,
  Snapshot = 6,
}

export interface NrgEntry {
  /** An NrgEntryType; kept as a number so an unknown type still decodes and re-encodes. */
  type: number;
  data: Buffer;
}

export interface NrgAppendEntry {
  /** The leader's peer id, or "" (empty on the wire: 8 zero bytes are not sent as a name). */
  leader: string;
  term: number;
  commit: number;
  prevTerm: number;
  prevIndex: number;
  entries: NrgEntry[];
  /** The trailing leader term (uvarint); undefined when the message ends after the entries. */
  leaderTerm: number | undefined;
}

export interface NrgAppendEntryResponse {
  term: number;
  index: number;
  peer: string;
  success: boolean;
}

export interface NrgVoteRequest {
  term: number;
  lastTerm: number;
  lastIndex: number;
  candidate: string;
}

export interface NrgVoteResponse {
  term: number;
  peer: string;
  granted: boolean;
  /** The voter's log is empty (nats-server counts such votes specially at a cold start). */
  empty: boolean;
}

export interface NrgPeerState {
  clusterSize: number;
  knownPeers: string[];
  /** The JetStream domain extension state (0 undetermined, 1 extended, 2 not); undefined when absent. */
  domainExtension: number | undefined;
}

export class NrgDecodeError extends Error {}

const APPEND_ENTRY_BASE_LENGTH = NRG_ID_LENGTH + 4 * 8 + 2;
export const NRG_APPEND_ENTRY_RESPONSE_LENGTH = 8 + 8 + NRG_ID_LENGTH + 1;
export const NRG_VOTE_REQUEST_LENGTH = 8 + 8 + 8 + NRG_ID_LENGTH;
export const NRG_VOTE_RESPONSE_LENGTH = 8 + NRG_ID_LENGTH + 1;

function readCounter(buf: Buffer, offset: number, what: string): number {
  const value = buf.readBigUInt64LE(offset);
  // Terms and indexes never approach 2^53 in practice; refuse rather than round.
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NrgDecodeError(`${what} ${value} is beyond 2^53`);
  return Number(value);
}

function writeCounter(buf: Buffer, offset: number, value: number): void {
  buf.writeBigUInt64LE(BigInt(value), offset);
}

function readId(buf: Buffer, offset: number): string {
  return buf.toString("latin1", offset, offset + NRG_ID_LENGTH);
}

function writeId(buf: Buffer, offset: number, id: string, what: string): void {
  if (id.length !== NRG_ID_LENGTH) throw new NrgDecodeError(`${what} "${id}" is not ${NRG_ID_LENGTH} characters`);
  buf.write(id, offset, NRG_ID_LENGTH, "latin1");
}

/** Unsigned LEB128 as Go's binary.Uvarint; returns the value and the bytes read (0: incomplete). */
export function readUvarint(buf: Buffer, offset: number): { value: bigint; length: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = offset; i < buf.length && i < offset + 10; i++) {
    const byte = buf[i];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, length: i - offset + 1 };
    shift += 7n;
  }
  return { value: 0n, length: 0 };
}

export function uvarintBytes(value: bigint): Buffer {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return Buffer.from(out);
}

/** Signed zig-zag varint as Go's binary.Varint. */
export function readVarint(buf: Buffer, offset: number): { value: bigint; length: number } {
  const u = readUvarint(buf, offset);
  const value = (u.value & 1n) === 0n ? u.value >> 1n : -((u.value >> 1n) + 1n);
  return { value, length: u.length };
}

export function varintBytes(value: bigint): Buffer {
  return uvarintBytes(value < 0n ? ((-value - 1n) << 1n) | 1n : value << 1n);
}

export function decodeNrgAppendEntry(msg: Buffer): NrgAppendEntry {
  if (msg.length < APPEND_ENTRY_BASE_LENGTH) throw new NrgDecodeError(`append entry of ${msg.length} bytes is shorter than ${APPEND_ENTRY_BASE_LENGTH}`);
  const leaderBytes = msg.subarray(0, NRG_ID_LENGTH);
  const leader = leaderBytes.every((b) => b === 0) ? "" : readId(msg, 0);
  const count = msg.readUInt16LE(40);
  const entries: NrgEntry[] = [];
  let at = APPEND_ENTRY_BASE_LENGTH;
  for (let i = 0; i < count; i++) {
    if (msg.length - at < 4) throw new NrgDecodeError(`append entry cut in entry ${i} of ${count}`);
    const length = msg.readUInt32LE(at);
    at += 4;
    if (length === 0 || at + length > msg.length) throw new NrgDecodeError(`append entry's entry ${i} has a bad length ${length}`);
    entries.push({ type: msg[at], data: msg.subarray(at + 1, at + length) });
    at += length;
  }
  let leaderTerm: number | undefined;
  if (at < msg.length) {
    const lterm = readUvarint(msg, at);
    if (lterm.length === 0 || at + lterm.length !== msg.length) throw new NrgDecodeError(`append entry has ${msg.length - at} unexpected trailing bytes`);
    if (lterm.value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NrgDecodeError(`leader term ${lterm.value} is beyond 2^53`);
    leaderTerm = Number(lterm.value);
  }
  return {
    leader,
    term: readCounter(msg, 8, "term"),
    commit: readCounter(msg, 16, "commit"),
    prevTerm: readCounter(msg, 24, "previous term"),
    prevIndex: readCounter(msg, 32, "previous index"),
    entries,
    leaderTerm,
  };
}

export function encodeNrgAppendEntry(ae: NrgAppendEntry): Buffer {
  if (ae.entries.length > 0xffff) throw new NrgDecodeError(`${ae.entries.length} entries are more than 65535`);
  const tail = ae.leaderTerm === undefined ? undefined : uvarintBytes(BigInt(ae.leaderTerm));
  let length = APPEND_ENTRY_BASE_LENGTH + (tail?.length ?? 0);
  for (const e of ae.entries) length += 4 + 1 + e.data.length;
  const buf = Buffer.alloc(length);
  if (ae.leader !== "") writeId(buf, 0, ae.leader, "leader");
  writeCounter(buf, 8, ae.term);
  writeCounter(buf, 16, ae.commit);
  writeCounter(buf, 24, ae.prevTerm);
  writeCounter(buf, 32, ae.prevIndex);
  buf.writeUInt16LE(ae.entries.length, 40);
  let at = APPEND_ENTRY_BASE_LENGTH;
  for (const e of ae.entries) {
    buf.writeUInt32LE(1 + e.data.length, at);
    buf[at + 4] = e.type;
    e.data.copy(buf, at + 5);
    at += 5 + e.data.length;
  }
  tail?.copy(buf, at);
  return buf;
}

export function decodeNrgAppendEntryResponse(msg: Buffer): NrgAppendEntryResponse {
  if (msg.length !== NRG_APPEND_ENTRY_RESPONSE_LENGTH) throw new NrgDecodeError(`append entry response of ${msg.length} bytes, not ${NRG_APPEND_ENTRY_RESPONSE_LENGTH}`);
  return { term: readCounter(msg, 0, "term"), index: readCounter(msg, 8, "index"), peer: readId(msg, 16), success: msg[24] === 1 };
}

export function encodeNrgAppendEntryResponse(ar: NrgAppendEntryResponse): Buffer {
  const buf = Buffer.alloc(NRG_APPEND_ENTRY_RESPONSE_LENGTH);
  writeCounter(buf, 0, ar.term);
  writeCounter(buf, 8, ar.index);
  writeId(buf, 16, ar.peer, "peer");
  buf[24] = ar.success ? 1 : 0;
  return buf;
}

export function decodeNrgVoteRequest(msg: Buffer): NrgVoteRequest {
  if (msg.length !== NRG_VOTE_REQUEST_LENGTH) throw new NrgDecodeError(`vote request of ${msg.length} bytes, not ${NRG_VOTE_REQUEST_LENGTH}`);
  return { term: readCounter(msg, 0, "term"), lastTerm: readCounter(msg, 8, "last term"), lastIndex: readCounter(msg, 16, "last index"), candidate: readId(msg, 24) };
}

export function encodeNrgVoteRequest(vr: NrgVoteRequest): Buffer {
  const buf = Buffer.alloc(NRG_VOTE_REQUEST_LENGTH);
  writeCounter(buf, 0, vr.term);
  writeCounter(buf, 8, vr.lastTerm);
  writeCounter(buf, 16, vr.lastIndex);
  writeId(buf, 24, vr.candidate, "candidate");
  return buf;
}

export function decodeNrgVoteResponse(msg: Buffer): NrgVoteResponse {
  if (msg.length !== NRG_VOTE_RESPONSE_LENGTH) throw new NrgDecodeError(`vote response of ${msg.length} bytes, not ${NRG_VOTE_RESPONSE_LENGTH}`);
  const flags = msg[16];
  if ((flags & ~3) !== 0) throw new NrgDecodeError(`vote response with unknown flags ${flags}`);
  return { term: readCounter(msg, 0, "term"), peer: readId(msg, 8), granted: (flags & 1) !== 0, empty: (flags & 2) !== 0 };
}

export function encodeNrgVoteResponse(vr: NrgVoteResponse): Buffer {
  const buf = Buffer.alloc(NRG_VOTE_RESPONSE_LENGTH);
  writeCounter(buf, 0, vr.term);
  writeId(buf, 8, vr.peer, "peer");
  buf[16] = (vr.granted ? 1 : 0) | (vr.empty ? 2 : 0);
  return buf;
}

export function decodeNrgPeerState(buf: Buffer): NrgPeerState {
  if (buf.length < 8) throw new NrgDecodeError(`peer state of ${buf.length} bytes is shorter than 8`);
  const count = buf.readUInt32LE(4);
  const end = 8 + count * NRG_ID_LENGTH;
  if (end > buf.length) throw new NrgDecodeError(`peer state names ${count} peers in ${buf.length} bytes`);
  const knownPeers: string[] = [];
  for (let at = 8; at < end; at += NRG_ID_LENGTH) knownPeers.push(readId(buf, at));
  let domainExtension: number | undefined;
  if (buf.length === end + 2) domainExtension = buf.readUInt16LE(end);
  else if (buf.length !== end) throw new NrgDecodeError(`peer state has ${buf.length - end} unexpected trailing bytes`);
  return { clusterSize: buf.readUInt32LE(0), knownPeers, domainExtension };
}

export function encodeNrgPeerState(ps: NrgPeerState): Buffer {
  const end = 8 + ps.knownPeers.length * NRG_ID_LENGTH;
  const buf = Buffer.alloc(end + (ps.domainExtension === undefined ? 0 : 2));
  buf.writeUInt32LE(ps.clusterSize, 0);
  buf.writeUInt32LE(ps.knownPeers.length, 4);
  ps.knownPeers.forEach((p, i) => writeId(buf, 8 + i * NRG_ID_LENGTH, p, "peer"));
  if (ps.domainExtension !== undefined) buf.writeUInt16LE(ps.domainExtension, end);
  return buf;
}

/** What a `$NRG.` subject says about the message on it. */
export type NrgSubject =
  | { kind: "appendEntry"; group: string }
  | { kind: "vote"; group: string }
  | { kind: "proposal"; group: string }
  | { kind: "removePeer"; group: string }
  | { kind: "reply"; inbox: string }
  | { kind: "catchup"; inbox: string };

const SUBJECT_KINDS: Record<string, NrgSubject["kind"]> = { AE: "appendEntry", V: "vote", P: "proposal", RP: "removePeer", R: "reply", CR: "catchup" };

/** undefined for a subject outside nats-server's NRG (tsnats's own `$NRG.TS.` included). */
export function parseNrgSubject(subject: string): NrgSubject | undefined {
  if (!subject.startsWith("$NRG.")) return undefined;
  const dot = subject.indexOf(".", 5);
  if (dot < 0) return undefined;
  const kind = SUBJECT_KINDS[subject.slice(5, dot)];
  const rest = subject.slice(dot + 1);
  if (kind === undefined || rest === "" || rest.includes(".")) return undefined;
  return kind === "reply" || kind === "catchup" ? { kind, inbox: rest } : { kind, group: rest };
}

export function nrgSubject(kind: "appendEntry" | "vote" | "proposal" | "removePeer", group: string): string {
  const token = kind === "appendEntry" ? "AE" : kind === "vote" ? "V" : kind === "proposal" ? "P" : "RP";
  return `$NRG.${token}.${group}`;
}

/** One `$NRG.` message decoded by what its subject and length say it is. */
export type NrgMessage =
  | { kind: "appendEntry"; group: string | undefined; catchupInbox: string | undefined; message: NrgAppendEntry }
  | { kind: "appendEntryResponse"; inbox: string; message: NrgAppendEntryResponse }
  | { kind: "voteRequest"; group: string; message: NrgVoteRequest }
  | { kind: "voteResponse"; inbox: string; message: NrgVoteResponse }
  | { kind: "proposal"; group: string; data: Buffer }
  | { kind: "removePeer"; group: string; peer: string };

/**
 * Decodes a message seen on `$NRG.>`. Replies on `$NRG.R.` are told apart by length: vote
 * responses are 17 bytes, append entry responses 25 (nats-server uses one inbox form for both).
 * Throws NrgDecodeError for a subject or body that is not nats-server's NRG.
 */
export function decodeNrgMessage(subject: string, data: Buffer): NrgMessage {
  const s = parseNrgSubject(subject);
  if (s === undefined) throw new NrgDecodeError(`"${subject}" is not an NRG subject`);
  switch (s.kind) {
    case "appendEntry":
      return { kind: "appendEntry", group: s.group, catchupInbox: undefined, message: decodeNrgAppendEntry(data) };
    case "catchup":
      return { kind: "appendEntry", group: undefined, catchupInbox: s.inbox, message: decodeNrgAppendEntry(data) };
    case "vote":
      return { kind: "voteRequest", group: s.group, message: decodeNrgVoteRequest(data) };
    case "proposal":
      return { kind: "proposal", group: s.group, data };
    case "removePeer":
      if (data.length !== NRG_ID_LENGTH) throw new NrgDecodeError(`peer removal of ${data.length} bytes, not ${NRG_ID_LENGTH}`);
      return { kind: "removePeer", group: s.group, peer: readId(data, 0) };
    case "reply":
      if (data.length === NRG_VOTE_RESPONSE_LENGTH) return { kind: "voteResponse", inbox: s.inbox, message: decodeNrgVoteResponse(data) };
      return { kind: "appendEntryResponse", inbox: s.inbox, message: decodeNrgAppendEntryResponse(data) };
  }
}

/** The bytes of a decoded message again (decode → encode gives the bytes that were received). */
export function encodeNrgMessage(m: NrgMessage): Buffer {
  switch (m.kind) {
    case "appendEntry":
      return encodeNrgAppendEntry(m.message);
    case "appendEntryResponse":
      return encodeNrgAppendEntryResponse(m.message);
    case "voteRequest":
      return encodeNrgVoteRequest(m.message);
    case "voteResponse":
      return encodeNrgVoteResponse(m.message);
    case "proposal":
      return Buffer.from(m.data);
    case "removePeer": {
      const buf = Buffer.alloc(NRG_ID_LENGTH);
      writeId(buf, 0, m.peer, "peer");
      return buf;
    }
  }
}

/**
 * A RAFT snapshot as nats-server stores it (`snapshots/snap.<term>.<index>` in the group's
 * directory): lastTerm(8) lastIndex(8) peerStateLength(4) peerState data checksum(8), the
 * checksum a HighwayHash-64 keyed by SHA-256 of the group name over everything before it (not
 * verified here). A catch-up sends the same parts as a Snapshot and a PeerState entry.
 */
export interface NrgSnapshotFile {
  lastTerm: number;
  lastIndex: number;
  peerState: NrgPeerState;
  data: Buffer;
  /** The bytes the checksum covers, and the checksum. */
  covered: Buffer;
  checksum: Buffer;
}

export function decodeNrgSnapshotFile(buf: Buffer): NrgSnapshotFile {
  if (buf.length < 28) throw new NrgDecodeError(`snapshot of ${buf.length} bytes is shorter than 28`);
  const peerStateLength = buf.readUInt32LE(16);
  if (20 + peerStateLength + 8 > buf.length) throw new NrgDecodeError(`snapshot's peer state of ${peerStateLength} bytes runs past the end`);
  const end = buf.length - 8;
  return {
    lastTerm: readCounter(buf, 0, "last term"),
    lastIndex: readCounter(buf, 8, "last index"),
    peerState: decodeNrgPeerState(buf.subarray(20, 20 + peerStateLength)),
    data: buf.subarray(20 + peerStateLength, end),
    covered: buf.subarray(0, end),
    checksum: buf.subarray(end),
  };
}
