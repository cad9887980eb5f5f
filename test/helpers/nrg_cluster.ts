// Two nats-server 2.15 servers (N1, N2) and T3, a tsnats server with nrg_peer and
// nrg_peer_streams (and with nrg_peer_campaign / nrg_peer_lead when asked), routed together; what
// the nrg_peer_stream and nrg_stream_leader tests read of them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer, type ReferenceServer } from "./nats_server.js";
import { retry } from "./server.js";
import { waitUntil } from "./js_cluster_move.js";
import { FileStore } from "../../src/storage/filestore.js";
import { parseRfc3339 } from "../../src/server/time.js";

export const ACCOUNTS =
  "accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n  APP: { jetstream: enabled, users: [{ user: app, password: app }] }\n}\nsystem_account: SYS\n";

export interface GroupJson {
  kind: string;
  account: string;
  stream: string;
  consumer?: string;
  group: string;
  term: number;
  leader: string;
  last_index: number;
  commit: number;
  applied: number;
  catching_up: boolean;
  counters: Record<string, number>;
  undecodable: number;
  write_error?: string;
  snapshot?: { last_index: number };
  replica?: { messages: number; last_seq: number; first_seq: number; storage: string; counters: Record<string, number>; catching_up: boolean; halted?: string; last_reset?: string };
}

export interface PeerJson {
  streams?: { account: string; name: string; peers: string[] }[];
  groups?: GroupJson[];
  last_vote_granted?: { term: number; candidate: string };
}

export interface MetaCluster {
  leader?: string;
  cluster_size?: number;
  replicas?: { name: string; current: boolean }[];
}

export async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

export function digest(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/** The replica's messages whole (subject, header bytes, payload, time in ns), read with the server stopped. */
export function readReplicaWhole(dir: string): { seq: number; subject: string; hdr: string; data: string; time: bigint }[] {
  const store = new FileStore({ dir });
  try {
    const out: { seq: number; subject: string; hdr: string; data: string; time: bigint }[] = [];
    const st = store.state();
    for (let seq = st.firstSeq; seq <= st.lastSeq; seq++) {
      const m = store.loadMsg(seq);
      if (m !== null) out.push({ seq, subject: m.subject, hdr: (m.hdr ?? Buffer.alloc(0)).toString("base64"), data: digest(m.data), time: m.time });
    }
    return out;
  } finally {
    store.stop();
  }
}

/** Byte for byte what the stream's leader holds (subject, header block, payload and time), every message the replica holds; the count of the leader's too. */
export async function assertSameAsLeader(jsm: JetStreamManager, stream: string, replicaDir: string): Promise<void> {
  const mine = readReplicaWhole(replicaDir);
  for (const m of mine) {
    const theirs = await retry(() => jsm.streams.getMessage(stream, { seq: m.seq }));
    const raw = (theirs as unknown as { smr: { message: { subject: string; hdrs?: string; data?: string; time: string } } }).smr.message;
    assert.deepEqual(
      { seq: m.seq, subject: m.subject, hdr: m.hdr, data: m.data, time: m.time },
      { seq: m.seq, subject: raw.subject, hdr: raw.hdrs ?? "", data: digest(Buffer.from(raw.data ?? "", "base64")), time: parseRfc3339(raw.time) },
    );
  }
  const info = await retry(() => jsm.streams.info(stream));
  assert.equal(mine.length, info.state.messages, `${stream}: the replica holds as many messages as the leader`);
}

/** What the replica's store holds, read from its files with the server stopped: seq → subject and payload. */
export function readReplica(dir: string): Map<number, string> {
  const store = new FileStore({ dir });
  try {
    const out = new Map<number, string>();
    const st = store.state();
    for (let seq = st.firstSeq; seq <= st.lastSeq; seq++) {
      const m = store.loadMsg(seq);
      if (m !== null) out.set(seq, `${m.subject} ${digest(m.data)}`);
    }
    return out;
  } finally {
    store.stop();
  }
}

/** Two nats-server 2.15 (N1, N2) and T3, a tsnats server with nrg_peer and nrg_peer_streams, routed together. */
export class NrgCluster {
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-peer-stream-"));
  readonly nats: (ReferenceServer | undefined)[] = [];
  ours: ReferenceServer | undefined;
  readonly conns: NatsConnection[] = [];

  private constructor(
    private readonly routePorts: number[],
    private readonly campaign: boolean,
    private readonly lead: boolean,
  ) {}

  /** `campaign`: T3 runs with nrg_peer_campaign; `lead`: with nrg_peer_lead too. */
  static async create(campaign = false, lead = false): Promise<NrgCluster> {
    return new NrgCluster([await freePort(), await freePort(), await freePort()], campaign || lead, lead);
  }

  private conf(name: string, port: number, ours: boolean): string {
    const routes = this.routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
    return `server_name: ${name}\n${ACCOUNTS}jetstream { max_mem_store: 256MB, max_file_store: 1GB${ours ? `, store_dir: "${this.storeDir}"` : ""} }\ncluster { name: NRG, listen: 127.0.0.1:${port}, routes: [${routes}]${ours ? `, nrg_peer: true, nrg_peer_streams: true${this.campaign ? ", nrg_peer_campaign: true" : ""}${this.lead ? ", nrg_peer_lead: true" : ""}` : ""} }\n`;
  }

  startOurs(): Promise<ReferenceServer> {
    return startNatsServer(["-m", "-1"], this.conf("T3", this.routePorts[2], true), "tsnats");
  }

  startN(i: number): Promise<ReferenceServer> {
    return startNatsServer(["-js", "-m", "-1"], this.conf(`N${i + 1}`, this.routePorts[i], false), "2.15");
  }

  /** All three up, T3 a current member of the meta group. */
  async up(): Promise<void> {
    this.ours = await this.startOurs();
    this.nats.push(...(await Promise.all([0, 1].map((i) => this.startN(i)))));
    const metaOf = async (s: ReferenceServer): Promise<MetaCluster> => (await getJson<{ meta_cluster?: MetaCluster }>(`${s.monitorUrl}/jsz`)).meta_cluster ?? {};
    let meta: MetaCluster = {};
    await waitUntil(
      async () => {
        for (const s of this.live()) {
          meta = await metaOf(s);
          if (meta.cluster_size === 3 && meta.replicas?.some((r) => r.name === "T3" && r.current) === true) return true;
        }
        return false;
      },
      90_000,
      "the meta leader lists T3 as a current peer of three",
      () => JSON.stringify(meta),
    );
  }

  live(): ReferenceServer[] {
    return this.nats.filter((s): s is ReferenceServer => s !== undefined);
  }

  async peerJson(): Promise<PeerJson> {
    return (await getJson<{ nrg_meta_peer: PeerJson }>(`${this.ours?.monitorUrl}/jsz`)).nrg_meta_peer;
  }

  /** T3's group of this stream (or of this consumer). */
  async group(stream: string, consumer?: string): Promise<GroupJson | undefined> {
    return (await this.peerJson()).groups?.find((g) => g.stream === stream && (consumer === undefined ? g.kind === "stream" : g.consumer === consumer));
  }

  async appOn(s: ReferenceServer): Promise<NatsConnection> {
    const nc = await connect({ servers: `127.0.0.1:${s.port}`, user: "app", pass: "app" });
    this.conns.push(nc);
    return nc;
  }

  async stop(): Promise<void> {
    for (const nc of this.conns) await nc.close().catch(() => undefined);
    await Promise.all([...this.nats, this.ours].map((s) => s?.stop()));
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}
