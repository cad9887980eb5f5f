// The meta state a tsnats member of a nats-server cluster's `_meta_` group keeps (issue 12's
// moonshot, `cluster { nrg_peer: true }`): the stream and consumer assignments of the committed
// meta log, applied in order, as nats-server's followers apply them (jetstream_cluster.go
// applyMetaEntries: assign/update/remove stream, assign/remove consumer, the meta snapshot).
// Its compaction snapshot is nats-server's meta snapshot format (an S2 block of the JSON array
// of stream assignments, each with its `Consumers`), so a leader's snapshot and our own are
// installed by the same code. Pure: no sockets, no timers.
import { decodeNrgMetaEntry, decodeNrgMetaSnapshot, type NrgConsumerAssignment, type NrgMetaSnapshotStream, type NrgRaftGroup } from "../jetstream/nrg_entries.js";
import { NrgEntryType, type NrgAppendEntry } from "./nrg_wire.js";
import { s2EncodeBlock } from "../storage/s2.js";
import type { NrgApplier } from "./nrg_peer.js";

/** A consumer assignment as the meta state keeps it: the assignment's own fields, not its envelope. */
export type NrgMetaConsumer = Pick<NrgConsumerAssignment, "client" | "created" | "name" | "stream" | "config" | "group" | "reply">;

export interface NrgMetaStream {
  account: string;
  client?: Record<string, unknown>;
  created: string;
  config: Record<string, unknown> & { name: string };
  group: NrgRaftGroup;
  /** The subject its leader answers catch-up requests on (`$JSC.SYNC.<sync>`). */
  sync: string;
  /** Where the create (or update) request that wrote this assignment wants its answer. */
  reply?: string;
  consumers: Map<string, NrgMetaConsumer>;
}

/** The account an assignment belongs to: nats-server's ClientInfo.serviceAccount(). */
export function assignmentAccount(client: Record<string, unknown> | undefined): string {
  const svc = client?.svc;
  if (typeof svc === "string" && svc !== "") return svc;
  const acc = client?.acc;
  return typeof acc === "string" && acc !== "" ? acc : "$G";
}

function key(account: string, stream: string): string {
  return `${account} > ${stream}`;
}

export class NrgMetaState implements NrgApplier {
  readonly streams = new Map<string, NrgMetaStream>();
  /** Meta entries applied, and those that could not be (undecodable; nats-server would stop on them). */
  applied = 0;
  failed = 0;
  lastError = "";
  /** Called after every change (the stream replicas follow the assignments naming this server). */
  onChange: (() => void) | undefined;
  /** Called for each committed new assignment (not an update): the server may refuse one it cannot hold. */
  onAssigned: ((kind: "stream" | "consumer", account: string, stream: string, consumer: string | undefined, group: NrgRaftGroup, created: string) => void) | undefined;
  /** Called for each committed stream update, with the index of its entry and the request's reply (its stream's leader answers it). */
  onUpdated: ((index: number, account: string, stream: string, reply: string, consumer?: string) => void) | undefined;
  /**
   * Called with a RAFT group's name when a committed entry removes its stream or consumer (a
   * replica's data may go), with the delete request's reply for the removed stream's or
   * consumer's own group (its leader answers it: processClusterDeleteStream / Consumer).
   */
  onGroupRemoved: ((group: string, answer?: { reply: string; kind: "stream" | "consumer" }) => void) | undefined;

  /** Called for each committed RemovePeer of the meta group (the meta leader reassigns the peer's streams). */
  onPeerRemoved: ((peer: string) => void) | undefined;
  /** Called for each committed AddPeer of the meta group (the meta leader waits for the new server's first STATSZ). */
  onPeerAdded: ((peer: string) => void) | undefined;

  stream(account: string, name: string): NrgMetaStream | undefined {
    return this.streams.get(key(account, name));
  }

  apply(index: number, ae: NrgAppendEntry): void {
    let changed = false;
    for (const e of ae.entries) {
      if (e.type === NrgEntryType.RemovePeer && e.data.length === 8) this.onPeerRemoved?.(e.data.toString("latin1"));
      if (e.type === NrgEntryType.AddPeer && e.data.length === 8) this.onPeerAdded?.(e.data.toString("latin1"));
      if (e.type !== NrgEntryType.Normal && e.type !== NrgEntryType.Snapshot) continue;
      let m;
      try {
        m = decodeNrgMetaEntry(e);
      } catch (err) {
        this.failed++;
        this.lastError = (err as Error).message;
        continue;
      }
      this.applied++;
      changed = true;
      switch (m.op) {
        case "assignStream":
        case "updateStream": {
          const a = m.assignment;
          const account = assignmentAccount(a.client);
          const existing = this.stream(account, a.config.name);
          this.streams.set(key(account, a.config.name), { account, client: a.client, created: a.created, config: a.config, group: a.group, sync: a.sync, consumers: existing?.consumers ?? new Map(), ...(m.op === "assignStream" && typeof a.reply === "string" && a.reply !== "" ? { reply: a.reply } : {}) });
          if (m.op === "assignStream" && existing === undefined) this.onAssigned?.("stream", account, a.config.name, undefined, a.group, a.created);
          if (m.op === "updateStream" && typeof a.reply === "string" && a.reply !== "") this.onUpdated?.(index, account, a.config.name, a.reply);
          break;
        }
        case "removeStream": {
          const k = key(assignmentAccount(m.assignment.client), m.assignment.config.name);
          const gone = this.streams.get(k);
          this.streams.delete(k);
          if (gone !== undefined) {
            for (const c of gone.consumers.values()) this.onGroupRemoved?.(c.group.name);
            const reply = m.assignment.reply;
            this.onGroupRemoved?.(gone.group.name, typeof reply === "string" && reply !== "" ? { reply, kind: "stream" } : undefined);
          }
          break;
        }
        case "assignConsumer": {
          const a = m.assignment;
          const s = this.stream(assignmentAccount(a.client), a.stream);
          // nats-server ignores a consumer of a stream it does not know.
          if (s !== undefined) {
            const existing = s.consumers.get(a.name);
            s.consumers.set(a.name, { client: a.client, created: a.created, name: a.name, stream: a.stream, config: a.config, group: a.group, ...(typeof a.reply === "string" && a.reply !== "" ? { reply: a.reply } : {}) });
            if (existing === undefined) this.onAssigned?.("consumer", s.account, a.stream, a.name, a.group, a.created);
            else if (typeof a.reply === "string" && a.reply !== "") this.onUpdated?.(index, s.account, a.stream, a.reply, a.name);
          }
          break;
        }
        case "removeConsumer": {
          const consumers = this.stream(assignmentAccount(m.assignment.client), m.assignment.stream)?.consumers;
          const gone = consumers?.get(m.assignment.name);
          consumers?.delete(m.assignment.name);
          const reply = m.assignment.reply;
          if (gone !== undefined) this.onGroupRemoved?.(gone.group.name, typeof reply === "string" && reply !== "" ? { reply, kind: "consumer" } : undefined);
          break;
        }
        case "snapshot":
          this.load(m.streams);
          break;
        default:
          break; // membership: the RAFT layer's
      }
    }
    if (changed) this.onChange?.();
  }

  private load(streams: NrgMetaSnapshotStream[]): void {
    this.streams.clear();
    for (const w of streams) {
      const account = assignmentAccount(w.client);
      const consumers = new Map<string, NrgMetaConsumer>();
      for (const c of w.consumers) consumers.set(c.name, { ...c });
      this.streams.set(key(account, w.config.name), { account, client: w.client, created: w.created, config: w.config, group: w.group, sync: w.sync, consumers });
    }
  }

  install(data: Buffer): void {
    // A snapshot that does not decode leaves nothing trustworthy: an empty picture, counted.
    try {
      this.load(decodeNrgMetaSnapshot(data));
    } catch (err) {
      this.streams.clear();
      this.failed++;
      this.lastError = (err as Error).message;
    }
    this.onChange?.();
  }

  reset(): void {
    this.streams.clear();
    this.onChange?.();
  }

  /** nats-server's meta snapshot of this state (empty data: no streams). */
  snapshot(): Buffer {
    if (this.streams.size === 0) return Buffer.alloc(0);
    const list = [...this.streams.values()].map((s) => ({
      ...(s.client !== undefined ? { client: s.client } : {}),
      created: s.created,
      stream: s.config,
      group: s.group,
      sync: s.sync,
      ...(s.consumers.size > 0
        ? { Consumers: [...s.consumers.values()].map((c) => ({ ...(c.client !== undefined ? { client: c.client } : {}), created: c.created, name: c.name, stream: c.stream, consumer: c.config, group: c.group })) }
        : {}),
    }));
    return s2EncodeBlock(Buffer.from(JSON.stringify(list)));
  }

  /** /jsz's picture, with peer ids shown as names where known. */
  json(nameOf: (id: string) => string): Record<string, unknown>[] {
    return [...this.streams.values()]
      .sort((a, b) => key(a.account, a.config.name).localeCompare(key(b.account, b.config.name)))
      .map((s) => ({
        account: s.account,
        name: s.config.name,
        ...(Array.isArray(s.config.subjects) ? { subjects: s.config.subjects } : {}),
        replicas: s.config.num_replicas ?? 1,
        storage: s.group.store,
        group: s.group.name,
        peers: s.group.peers.map(nameOf),
        consumers: [...s.consumers.values()].map((c) => ({ name: c.name, group: c.group.name, peers: c.group.peers.map(nameOf) })),
      }));
  }
}
