// Shared by the replicated consumer tests (test/js_cluster_consumer_groups*.test.ts): a consumer's
// info once it has a leader, consuming with acks across leader changes, the R3/R5 scenario of a
// durable and an ephemeral with replicas of their own (stepdown, leader killed), and waiting until
// the servers holding a consumer are as expected. The same steps run on tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { clusterApi, clusterPublish } from "./cluster_retry.js";
import { FsRaftDisk } from "../../src/cluster/raft_disk.js";
import { RaftStore } from "../../src/cluster/raft_store.js";

export interface Info {
  error?: { code: number; err_code: number; description: string };
  name?: string;
  config?: { num_replicas?: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string }> };
  ack_floor?: { stream_seq: number };
  [k: string]: unknown;
}

/** A stopped member's RAFT log (of the group in `dir`) loses every entry after `index`: its unsynced tail, gone with the power. */
export function cutLog(dir: string, index: number): void {
  const store = new RaftStore(new FsRaftDisk(dir));
  try {
    store.open();
    store.truncateFrom(index + 1);
    store.setState({ ...store.state, commit: Math.min(store.state.commit, index) });
  } finally {
    store.close();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The consumer's info once it names a leader (not `not`). */
export async function infoWithLeader(nc: NatsConnection, stream: string, name: string, not = ""): Promise<Info> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await clusterApi<Info>(nc, `$JS.API.CONSUMER.INFO.${stream}.${name}`);
    const leader = a.cluster?.leader ?? "";
    if ((a.error === undefined && leader !== "" && leader !== not) || Date.now() > deadline) return a;
    await sleep(100);
  }
}

/** A consumer's info as one line: its num_replicas, its servers and its state. */
export function consumerLine(info: Info): string {
  const c = info.cluster ?? {};
  const servers = [c.leader ?? "", ...(c.replicas ?? []).map((r) => r.name)].sort().join(",");
  const d = info.delivered as { stream_seq?: number } | undefined;
  return `R${info.config?.num_replicas} on ${servers}: delivered ${d?.stream_seq} ack floor ${info.ack_floor?.stream_seq}`;
}

/**
 * Stream S (subjects s.>) of `replicas` with 20 messages, and `consumers` (explicit acks, a long
 * ack wait), each with 5 messages consumed and acknowledged; the stream's config as created.
 */
export async function streamWithConsumers(nc: NatsConnection, replicas: number, consumers: ReadonlyArray<{ name: string; config: Record<string, unknown> }>): Promise<Record<string, unknown>> {
  const made = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"], num_replicas: replicas });
  assert.equal(made.error, undefined, JSON.stringify(made.error));
  for (let i = 1; i <= 20; i++) await clusterPublish(nc, "s.x", `m${i}`);
  for (const k of consumers) {
    const d = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, ack_policy: "explicit", ack_wait: 120e9 } });
    assert.equal(d.error, undefined, JSON.stringify(d.error));
    await infoWithLeader(nc, "S", k.name);
    assert.deepEqual(await consume(nc, "S", k.name, 5), [1, 2, 3, 4, 5]);
  }
  return made.config as Record<string, unknown>;
}

/** Fetches until `count` messages came (acknowledging each), across leader changes; their stream sequences. */
export async function consume(nc: NatsConnection, stream: string, name: string, count: number): Promise<number[]> {
  const js = jetstream(nc, { timeout: 5000 });
  const seqs: number[] = [];
  const deadline = Date.now() + 90_000;
  while (seqs.length < count && Date.now() < deadline) {
    try {
      const consumer = await js.consumers.get(stream, name);
      for await (const m of await consumer.fetch({ max_messages: count - seqs.length, expires: 2000 })) {
        seqs.push(m.seq);
        await m.ackAck({ timeout: 5000 });
      }
    } catch {
      await sleep(100); // no leader yet: asked again
    }
  }
  return seqs;
}

export interface Observed {
  create: string[];
  replicas: Record<string, number>;
  stepdownMoved: Record<string, boolean>;
  afterKill: Record<string, { seqs: number[]; ackFloor: number; replicas: number }>;
}

/** `sizes`: the stream's replicas and the durable's (fewer); the ephemeral asks for three. */
export async function scenario(urls: string[], kill: (server: string) => Promise<void>, afterKill: string[], sizes = { stream: 3, durable: 2 }): Promise<Observed> {
  const nc = await connect({ servers: urls });
  const out: Observed = { create: [], replicas: {}, stepdownMoved: {}, afterKill: {} };
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000, checkAPI: false });
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.G", { name: "G", subjects: ["g.>"], num_replicas: sizes.stream });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "g.x", `m${i}`);
    const dn = `D${sizes.durable}`;
    const d2 = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.G.${dn}`, { stream_name: "G", config: { durable_name: dn, ack_policy: "explicit", num_replicas: sizes.durable } });
    out.create.push(d2.error === undefined ? `${dn} ok r=${d2.config?.num_replicas}` : `${dn} ${d2.error.err_code}`);
    let eph = "";
    try {
      const ci = await jsm.consumers.add("G", { ack_policy: AckPolicy.Explicit, num_replicas: 3, inactive_threshold: 120_000_000_000 });
      eph = ci.name;
      out.create.push(`ephemeral ok r=${ci.config.num_replicas}`);
    } catch (err) {
      out.create.push(`ephemeral ${(err as Error).message}`);
    }
    if (d2.error !== undefined || eph === "") return out;
    const names: Record<string, string> = { [dn]: dn, E3: eph };
    for (const [label, name] of Object.entries(names)) {
      const before = await infoWithLeader(nc, "G", name);
      out.replicas[label] = before.cluster?.replicas?.length ?? 0;
      const sd = await clusterApi<Info>(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.G.${name}`, {});
      assert.equal(sd.error, undefined, JSON.stringify(sd.error));
      const after = await infoWithLeader(nc, "G", name, before.cluster?.leader);
      out.stepdownMoved[label] = after.cluster?.leader !== before.cluster?.leader;
    }
    // Ten acknowledged on each, then the server leading each consumer is killed (one at a time).
    for (const [label, name] of Object.entries(names)) {
      const first = await consume(nc, "G", name, 10);
      assert.deepEqual(first, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], label);
    }
    // The server leading the R3 ephemeral is killed: it goes on with the two others. (An R2
    // consumer stops when one of its two servers is gone: not read on after the kill.)
    await kill((await infoWithLeader(nc, "G", eph)).cluster?.leader ?? "");
    for (const label of afterKill) {
      const name = names[label];
      const rest = await consume(nc, "G", name, 10);
      const info = await infoWithLeader(nc, "G", name);
      out.afterKill[label] = { seqs: rest, ackFloor: info.ack_floor?.stream_seq ?? -1, replicas: info.cluster?.replicas?.length ?? 0 };
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** Polls `held` (the servers holding a consumer) until it lists `count` of them. */
export async function waitUntilHeld(held: () => string[], count: number, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (held().length !== count) {
    if (Date.now() > deadline) assert.fail(`${what}: ${held().join(", ")}`);
    await sleep(100);
  }
}
