// Two nats-server 2.15 servers (N1, N2) and T3, a tsnats server with nrg_peer and
// nrg_peer_streams (and with nrg_peer_campaign / nrg_peer_lead when asked), routed together; what
// the nrg_peer_stream and nrg_stream_leader tests read of them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
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

/** One server's own copy of a message: a direct get answered by the server the client is on (seq, subject, payload digest, time in ns). */
export async function directGet(nc: NatsConnection, stream: string, seq: number): Promise<{ seq: number; subject: string; data: string; time: bigint }> {
  const m = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq }), { timeout: 10_000 });
  const h = m.headers;
  assert.ok(h !== undefined && h.get("Nats-Sequence") === String(seq), `direct get of ${stream} ${seq}: ${h?.code} ${h?.description}`);
  return { seq, subject: h.get("Nats-Subject"), data: digest(m.data), time: parseRfc3339(h.get("Nats-Time-Stamp")) ?? 0n };
}

export interface StreamState {
  messages: number;
  bytes: number;
  first_seq: number;
  last_seq: number;
}

/** One nats-server's own copy of a stream of account APP (its /jsz), not the leader's answer. */
export async function streamStateOn(s: ReferenceServer, stream: string, account = "APP"): Promise<StreamState | undefined> {
  const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string; state: StreamState }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true`);
  return jsz.account_details?.find((a) => a.name === account)?.stream_detail?.find((d) => d.name === stream)?.state;
}

/** T3's stream group while it leads, with its leader half (its /jsz). */
export interface LeaderGroup extends GroupJson {
  stream_leader?: { subjects: string[]; clseq: number; in_flight: number; counters: Record<string, number>; catchups?: { requests: number; served: number; refused: number } };
  campaign?: { role: string; counters: Record<string, number> };
}

/** A publish answered by whoever leads: the PubAck's JSON. */
export async function publishRequest(nc: NatsConnection, subject: string, payload: string, hdrs?: Record<string, string>): Promise<{ stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code: number; description: string } }> {
  const h = headers();
  for (const [k, v] of Object.entries(hdrs ?? {})) h.set(k, v);
  const m = await nc.request(subject, payload, { timeout: 10_000, headers: hdrs === undefined ? undefined : h });
  return m.json();
}

/** Two nats-server 2.15 (N1, N2) and T3, a tsnats server with nrg_peer and nrg_peer_streams, routed together. */
export class NrgCluster {
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-peer-stream-"));
  readonly nats: (ReferenceServer | undefined)[] = [];
  ours: ReferenceServer | undefined;
  readonly conns: NatsConnection[] = [];
  /** Set before `up`: the JetStream domain of all three servers. */
  domain: string | undefined;
  /** Set before `up`: a leafnode listen port by server name (leaf servers of another domain connect there). */
  readonly leafListen = new Map<string, number>();
  /** Set before `up`: server_tags by server name. */
  readonly tags = new Map<string, string[]>();
  /** Set before `up`: every server's `jetstream { unique_tag }`. */
  uniqueTag: string | undefined;
  /** The route ports of the nats-servers `up` held back. */
  private readonly heldPorts = new Set<number>();
  /** Set before `up`: every server's `jetstream { limits { max_ha_assets } }`. */
  maxHaAssets: number | undefined;

  private constructor(
    private readonly routePorts: number[],
    private readonly campaign: boolean,
    private readonly lead: boolean,
    private readonly accounts = ACCOUNTS,
    private readonly metaLead = false,
  ) {}

  /**
   * `campaign`: T3 runs with nrg_peer_campaign; `lead`: with nrg_peer_lead too; `metaLead`: with
   * nrg_peer_meta_lead too; `natsCount`: how many nats-servers (N1, N2, ...) beside T3.
   */
  static async create(campaign = false, lead = false, accounts = ACCOUNTS, metaLead = false, natsCount = 2): Promise<NrgCluster> {
    const ports: number[] = [];
    for (let i = 0; i <= natsCount; i++) ports.push(await freePort());
    return new NrgCluster(ports, campaign || lead || metaLead, lead || metaLead, accounts, metaLead);
  }

  private conf(name: string, port: number, ours: boolean): string {
    // A server held back at `up` is unknown to the others' routes (it joins later, as a new server does).
    const routes = this.routePorts.filter((p) => !this.heldPorts.has(p) || this.heldPorts.has(port)).map((p) => `nats://127.0.0.1:${p}`).join(", ");
    const leaf = this.leafListen.get(name);
    const tags = this.tags.get(name);
    return `server_name: ${name}\n${tags !== undefined ? `server_tags: [${tags.map((t) => JSON.stringify(t)).join(", ")}]\n` : ""}${this.accounts}${leaf !== undefined ? `leafnodes { listen: "127.0.0.1:${leaf}" }\n` : ""}jetstream { max_mem_store: 256MB, max_file_store: 1GB${this.domain !== undefined ? `, domain: ${this.domain}` : ""}${this.uniqueTag !== undefined ? `, unique_tag: "${this.uniqueTag}"` : ""}${this.maxHaAssets !== undefined ? `, limits { max_ha_assets: ${this.maxHaAssets} }` : ""}${ours ? `, store_dir: "${this.storeDir}"` : ""} }\ncluster { name: NRG, listen: 127.0.0.1:${port}, routes: [${routes}]${ours ? `, nrg_peer: true, nrg_peer_streams: true${this.campaign ? ", nrg_peer_campaign: true" : ""}${this.lead ? ", nrg_peer_lead: true" : ""}${this.metaLead ? ", nrg_peer_meta_lead: true" : ""}` : ""} }\n`;
  }

  startOurs(): Promise<ReferenceServer> {
    return startNatsServer(["-m", "-1"], this.conf("T3", this.routePorts[this.routePorts.length - 1], true), "tsnats");
  }

  startN(i: number): Promise<ReferenceServer> {
    return startNatsServer(["-js", "-m", "-1"], this.conf(`N${i + 1}`, this.routePorts[i], false), "2.15");
  }

  /** All up (but the last `held` nats-servers, started later with `startN`), T3 a current member of the meta group. */
  async up(held = 0): Promise<void> {
    const count = this.routePorts.length - 1;
    for (let i = count - held; i < count; i++) this.heldPorts.add(this.routePorts[i]);
    this.ours = await this.startOurs();
    this.nats.push(...(await Promise.all(this.routePorts.slice(1).map((_p, i) => (i < count - held ? this.startN(i) : Promise.resolve(undefined))))));
    const metaOf = async (s: ReferenceServer): Promise<MetaCluster> => (await getJson<{ meta_cluster?: MetaCluster }>(`${s.monitorUrl}/jsz`)).meta_cluster ?? {};
    let meta: MetaCluster = {};
    await waitUntil(
      async () => {
        for (const s of this.live()) {
          meta = await metaOf(s);
          if (meta.cluster_size === this.routePorts.length - held && meta.replicas?.some((r) => r.name === "T3" && r.current) === true) return true;
        }
        return false;
      },
      90_000,
      `the meta leader lists T3 as a current peer of ${this.routePorts.length - held}`,
      () => JSON.stringify(meta),
    );
  }

  /** All three up, with an APP client of each nats-server and a JetStream manager on N1's. */
  async upWithClients(): Promise<{ n1: ReferenceServer; n2: ReferenceServer; nc1: NatsConnection; nc2: NatsConnection; jsm: JetStreamManager }> {
    await this.up();
    const [n1, n2] = this.live();
    const nc1 = await this.appOn(n1);
    const nc2 = await this.appOn(n2);
    const jsm = await retry(() => jetstreamManager(nc1, { timeout: 10_000 }));
    return { n1, n2, nc1, nc2, jsm };
  }

  /** N1, N2 and T3 (with nrg_peer_meta_lead) in zones az:1, az:2 and az:3, not started yet. */
  static async zoned(): Promise<NrgCluster> {
    const cluster = await NrgCluster.create(true, true, undefined, true);
    for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["T3", "az:3"]]) cluster.tags.set(name, [az]);
    return cluster;
  }

  /** `upWithClients`, a system account client of N1 too, and `leader` leading the meta group. */
  async upWithMetaLeader(leader: string): Promise<Awaited<ReturnType<NrgCluster["upWithClients"]>> & { sys: NatsConnection }> {
    const up = await this.upWithClients();
    const sys = await connect({ servers: `127.0.0.1:${up.n1.port}`, user: "sys", pass: "sys" });
    this.conns.push(sys);
    await this.metaLeadOn(leader);
    return { ...up, sys };
  }

  /** Until N1's and N2's own copies of a stream are as `want` says and hold T3's range; their states. */
  async sameOnAll(stream: string, want: (s: StreamState) => boolean, what: string, account = "APP"): Promise<StreamState[]> {
    let states: (StreamState | undefined)[] = [];
    let mine: GroupJson["replica"];
    await waitUntil(
      async () => {
        mine = (await this.group(stream))?.replica;
        states = await Promise.all(this.live().map((s) => streamStateOn(s, stream, account)));
        return mine !== undefined && states.every((s) => s !== undefined && want(s) && s.messages === mine?.messages && s.first_seq === mine.first_seq && s.last_seq === mine.last_seq);
      },
      90_000,
      what,
      () => JSON.stringify({ states, mine }),
    );
    return states as StreamState[];
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

  /**
   * Ask the leader of a stream's group (or of one of its consumer's) to step down preferring T3,
   * again every 10 s, until T3 leads it with its leader half running (`stream_leader` or
   * `consumer_leader` in its /jsz); T3's group then.
   */
  async leadOnT3(nc: NatsConnection, stream: string, consumer?: string): Promise<GroupJson & Record<string, unknown>> {
    let g: (GroupJson & Record<string, unknown>) | undefined;
    let askedAt = 0;
    const half = consumer === undefined ? "stream_leader" : "consumer_leader";
    const subject = consumer === undefined ? `$JS.API.STREAM.LEADER.STEPDOWN.${stream}` : `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}`;
    await waitUntil(
      async () => {
        g = (await this.group(stream, consumer)) as (GroupJson & Record<string, unknown>) | undefined;
        if (g?.[half] !== undefined) return true;
        if (Date.now() - askedAt < 10_000) return false;
        askedAt = Date.now();
        await nc.request(subject, JSON.stringify({ placement: { preferred: "T3" } }), { timeout: 10_000 }).catch(() => undefined);
        return false;
      },
      150_000,
      `T3 leads ${stream}${consumer !== undefined ? ` > ${consumer}` : ""} with its leader half running`,
      () => JSON.stringify(g),
    );
    return g as GroupJson & Record<string, unknown>;
  }

  /**
   * Ask a stream's (or consumer's) leader to step down preferring a nats-server (N1, N2), again
   * every 10 s, until the group's info names it leader.
   */
  async leadOn(nc: NatsConnection, server: string, stream: string, consumer?: string): Promise<void> {
    let leader: string | undefined;
    let askedAt = 0;
    const api = consumer === undefined ? `STREAM.%s.${stream}` : `CONSUMER.%s.${stream}.${consumer}`;
    await waitUntil(
      async () => {
        const info = await nc
          .request(`$JS.API.${api.replace("%s", "INFO")}`, "", { timeout: 10_000 })
          .then((m) => m.json<{ cluster?: { leader?: string } }>())
          .catch(() => undefined);
        leader = info?.cluster?.leader;
        if (leader === server) return true;
        if (Date.now() - askedAt < 10_000) return false;
        askedAt = Date.now();
        await nc.request(`$JS.API.${api.replace("%s", "LEADER.STEPDOWN")}`, JSON.stringify({ placement: { preferred: server } }), { timeout: 10_000 }).catch(() => undefined);
        return false;
      },
      150_000,
      `${server} leads ${stream}${consumer !== undefined ? ` > ${consumer}` : ""}`,
      () => String(leader),
    );
  }

  /**
   * A side-by-side test's body, then T3 leading `stream` checked (its leader half's picture in
   * the diagnostic); on a failure T3's group of the stream, whole, in the diagnostic; the
   * cluster stopped in every case.
   */
  async runLedByT3(t: TestContext, stream: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
      const g = (await this.group(stream)) as LeaderGroup;
      assert.equal(g.leader, "T3", `T3 leads ${stream}`);
      t.diagnostic(`T3 leading ${stream}: ${JSON.stringify(g.stream_leader)}`);
    } catch (err) {
      t.diagnostic(`T3's ${stream} group: ${JSON.stringify(await this.group(stream).catch(() => undefined))}`);
      throw err;
    } finally {
      await this.stop();
    }
  }

  /** The meta leader as one nats-server's /jsz names it. */
  async metaLeaderOn(s: ReferenceServer): Promise<string | undefined> {
    return (await getJson<{ meta_cluster?: MetaCluster }>(`${s.monitorUrl}/jsz`)).meta_cluster?.leader;
  }

  /**
   * Ask the meta leader (through a system account client of N1) to step down preferring T3,
   * again every 10 s, until N1 and N2 both follow T3 (T3 runs with nrg_peer_meta_lead).
   */
  async metaLeadOnT3(): Promise<void> {
    await this.metaLeadOn("T3");
  }

  /** The same, preferring `server` (T3, or a nats-server), until every nats-server follows it. */
  async metaLeadOn(server: string): Promise<void> {
    const live = this.live();
    const sys = await connect({ servers: `127.0.0.1:${live[0].port}`, user: "sys", pass: "sys" });
    this.conns.push(sys);
    let leaders: (string | undefined)[] = [];
    let askedAt = 0;
    await waitUntil(
      async () => {
        leaders = await Promise.all(live.map((s) => this.metaLeaderOn(s)));
        if (leaders.every((l) => l === server)) return true;
        if (Date.now() - askedAt < 10_000 || leaders[0] === undefined) return false;
        askedAt = Date.now();
        await sys.request("$JS.API.META.LEADER.STEPDOWN", JSON.stringify({ placement: { preferred: server } }), { timeout: 10_000 }).catch(() => undefined);
        return false;
      },
      40_000,
      `every nats-server follows ${server} as the meta leader`,
      () => JSON.stringify(leaders),
    );
  }

  /** On a sourcing test's failure: T3's group of the stream, and its log's lines about sourcing, the stream, warnings and errors. */
  async diagnoseSourcing(t: TestContext, stream: string): Promise<void> {
    t.diagnostic(`T3's ${stream} group: ${JSON.stringify(await this.group(stream).catch(() => undefined))}`);
    const about = new RegExp(`source|'${stream}'|> ${stream}\\b|WRN|ERR`, "i");
    t.diagnostic(`T3's log: ${(this.ours?.log() ?? "").split("\n").filter((l) => about.test(l)).slice(-20).join("\n")}`);
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

/**
 * A side-by-side run of the meta leader's work: N1, N2 and T3 in zones az:1, az:2, az:3 (T3 with
 * nrg_peer_meta_lead), placement knowing all three (a first R3 stream), then `run` under the
 * nats-server meta leader and again under T3 (stream names suffixed N and T); both results, each
 * in the diagnostics; the cluster stopped in every case.
 */
export async function throughNatsThenT3<T>(t: TestContext, run: (cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, suffix: string) => Promise<T>, configure?: (cluster: NrgCluster) => void): Promise<{ byNats: T; byT3: T }> {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  configure?.(cluster);
  for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["T3", "az:3"]]) cluster.tags.set(name, [az]);
  try {
    const { n1, nc1, jsm } = await cluster.upWithClients();
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 3 }), 60_000);
    const byNats = await run(cluster, nc1, sys, "N");
    t.diagnostic(`through the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await run(cluster, nc1, sys, "T");
    t.diagnostic(`through T3: ${JSON.stringify(byT3)}`);
    return { byNats, byT3 };
  } finally {
    await cluster.stop();
  }
}

/**
 * An R2 stream `S` (subjects `s.>`) on the two servers outside zone `excluded` (created with the
 * placement tag `!<excluded>`, which an update with no placement then drops, so a peer removal
 * may place its replacement anywhere), 4 messages, and a durable `D` with explicit acks.
 */
export async function r2StreamWithDurable(nc: NatsConnection, jsm: JetStreamManager, excluded: string): Promise<void> {
  const api = async (subject: string, body: unknown = ""): Promise<{ config?: Record<string, unknown>; error?: unknown }> =>
    (await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 })).json();
  await retry(async () => {
    const created = await api("$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: 2, placement: { tags: [`!${excluded}`] } });
    if (created.error !== undefined) throw new Error(JSON.stringify(created));
  }, 30_000);
  const js = jetstream(nc);
  await retry(() => js.publish("s.1", "m1"), 20_000);
  for (let i = 2; i <= 4; i++) await js.publish(`s.${i}`, `m${i}`);
  const { placement: _placement, ...rest } = (await api("$JS.API.STREAM.INFO.S")).config ?? {};
  const unplaced = await api("$JS.API.STREAM.UPDATE.S", rest);
  assert.equal(unplaced.error, undefined, JSON.stringify(unplaced));
  await retry(() => jsm.consumers.add("S", { durable_name: "D", ack_policy: "explicit" } as never), 20_000);
}
