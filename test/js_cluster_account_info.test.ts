// $JS.API.INFO (account info) in a JetStream cluster: the whole account's usage across the
// cluster (streams and consumers the meta group assigned, memory and storage of every replica
// on every server, per-tier R1/R3 figures), whichever server the client is connected to. The
// same steps run on a tsnats cluster and a nats-server 2.15 cluster and the answers compare
// field by field (the api counters excepted: each server counts the requests it answered).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, jetstream, JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { startOperatorCluster } from "./helpers/operator_cluster.js";
import { memoryResolverConfig, newAccount, newOperator, newUser, type UserFixture } from "./helpers/jwt.js";

const TAGS = [["at:1"], ["at:2"], ["at:3"]];
const DOMAIN = "AIDOM";

type Info = Record<string, unknown>;

// The messages' stored sizes (nats-server's record sizes: file and memory), times the replicas.
const fileMsg = (subject: string): number => 22 + subject.length + 100 + 8;
const memMsg = (subject: string): number => subject.length + 100 + 16;
const STORAGE = 10 * fileMsg("one.0") + 3 * fileMsg("three.0") + 3 * 7 * fileMsg("rep.0");
const MEMORY = 5 * memMsg("two.0") + 3 * 4 * memMsg("repmem.0");

/** The api counters differ from server to server (each counts the requests it answered). */
const withoutApiTotals = (i: Info): Info => ({ ...i, api: { ...(i.api as Info), total: undefined, errors: undefined } });

async function managerOf(nc: NatsConnection): Promise<JetStreamManager> {
  // A cluster just started answers no JetStream request until its meta leader is elected.
  for (let i = 0; ; i++) {
    try {
      return await jetstreamManager(nc, { timeout: 2_000 });
    } catch (err) {
      if (i >= 15) throw err;
    }
  }
}

/**
 * Add a stream placed by tags: a cluster just started may not know every server's tags yet, so
 * placement is refused (10005) until the meta leader heard from that server.
 */
async function addPlaced(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await jsm.streams.add(cfg);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== 10005 || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function accountInfo(nc: NatsConnection): Promise<Info> {
  const m = await nc.request("$JS.API.INFO", "", { timeout: 5_000 });
  return JSON.parse(m.string()) as Info;
}

/** Streams placed on each server (R1), a replicated one, messages, consumers; then INFO from each server. */
async function scenario(urls: string[]): Promise<Info[]> {
  const nc = await connect({ servers: urls[0] });
  const clients: NatsConnection[] = [];
  try {
    await managerOf(nc);
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const placed = (cfg: Partial<StreamConfig> & { name: string }): Promise<void> => addPlaced(jsm, cfg);
    await placed({ name: "ONE", subjects: ["one.>"], num_replicas: 1, placement: { tags: ["at:1"] } as never });
    await placed({ name: "TWO", subjects: ["two.>"], num_replicas: 1, storage: "memory" as never, placement: { tags: ["at:2"] } as never });
    await placed({ name: "THREE", subjects: ["three.>"], num_replicas: 1, placement: { tags: ["at:3"] } as never, max_bytes: 1_000_000 });
    await jsm.streams.add({ name: "REP", subjects: ["rep.>"], num_replicas: 3, max_bytes: 2_000_000 });
    await jsm.streams.add({ name: "REPMEM", subjects: ["repmem.>"], num_replicas: 3, storage: "memory" as never });
    const js = jetstream(nc, { timeout: 20_000 });
    const payload = Buffer.alloc(100, 0x61);
    for (let i = 0; i < 10; i++) await js.publish(`one.${i}`, payload);
    for (let i = 0; i < 5; i++) await js.publish(`two.${i}`, payload);
    for (let i = 0; i < 3; i++) await js.publish(`three.${i}`, payload);
    for (let i = 0; i < 7; i++) await js.publish(`rep.${i}`, payload);
    for (let i = 0; i < 4; i++) await js.publish(`repmem.${i}`, payload);
    await jsm.consumers.add("ONE", { durable_name: "D1", ack_policy: "explicit" as never });
    await jsm.consumers.add("REP", { durable_name: "D3", ack_policy: "explicit" as never });
    await jsm.consumers.add("REP", { durable_name: "D3R1", ack_policy: "explicit" as never, num_replicas: 1 });
    // Ephemeral consumers (they live on one server), kept while the test asks.
    for (const stream of ["ONE", "REP"]) await jsm.consumers.add(stream, { ack_policy: "explicit" as never, inactive_threshold: 120_000_000_000 });
    for (const u of urls) clients.push(await connect({ servers: u }));
    // Usage reaches every server a moment after it changed (nats-server sends it between
    // servers at intervals): ask again until every server answers with all of it.
    let infos: Info[] = [];
    const settled = (): boolean =>
      infos.every((i) => JSON.stringify(withoutApiTotals(i)) === JSON.stringify(withoutApiTotals(infos[0]!)) && i.storage === STORAGE && i.memory === MEMORY);
    for (let round = 0; round < 100; round++) {
      infos = await Promise.all(clients.map((c) => accountInfo(c)));
      if (settled()) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return infos;
  } finally {
    for (const c of clients) await c.close();
    await nc.close();
  }
}

test("account info in a cluster: the account's usage across every server, as nats-server 2.15", { timeout: 180_000 }, async () => {
  const ref = await startRefJsCluster(3, "AI", { serverTags: TAGS, domain: DOMAIN });
  let theirs: Info[] | undefined;
  if (ref !== undefined) {
    try {
      theirs = await scenario(ref.urls);
    } finally {
      await ref.stop();
    }
  }
  const c = await JsTestCluster.start(3, "AI", { serverTags: { S1: TAGS[0], S2: TAGS[1], S3: TAGS[2] }, domain: DOMAIN });
  let ours: Info[];
  try {
    await c.metaLeader();
    ours = await scenario(c.members.map((m) => m.url));
    // A server down, the meta leader itself: the new leader's answer does not wait for it, and
    // it counts with what it held when last heard from (as nats-server keeps a server's last usage).
    const leader = await c.metaLeader();
    await c.stopMember(leader);
    const nc = await connect({ servers: c.members.find((m) => m.name !== leader)!.url });
    try {
      const expected = { streams: 5, storage: STORAGE, memory: MEMORY };
      let seen: Info = {};
      for (let round = 0; round < 100; round++) {
        try {
          seen = await accountInfo(nc);
        } catch {
          // no meta leader yet
        }
        if (seen.streams === expected.streams && seen.storage === expected.storage && seen.memory === expected.memory) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual({ streams: seen.streams, storage: seen.storage, memory: seen.memory }, expected);
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
  // Every server answers with the whole account: 3 single-replica streams on three different
  // servers and 2 R3 ones, each R3 stream's bytes counted on its three servers.
  for (const i of ours) assert.deepEqual(withoutApiTotals(i), withoutApiTotals(ours[0]!));
  assert.equal(ours[0]!.domain, DOMAIN);
  assert.equal((ours[0]!.api as Info).level, 5);
  assert.equal(ours[0]!.streams, 5);
  assert.equal(ours[0]!.consumers, 5);
  assert.equal(ours[0]!.storage, STORAGE);
  assert.equal(ours[0]!.memory, MEMORY);
  assert.equal(ours[0]!.reserved_storage, 3_000_000, "max_bytes of THREE and of REP, once (not per replica)");
  if (theirs === undefined) return; // no reference binary here
  for (let i = 0; i < 3; i++) assert.deepEqual(withoutApiTotals(ours[i]!), withoutApiTotals(theirs[i]!), `account info from the client of server ${i + 1}`);
});

/** R1 streams on two servers, an R3 one, consumers R3 and R1, then INFO from each server once settled. */
async function tieredScenario(ports: number[], user: UserFixture, storage: number, memory: number): Promise<Info[]> {
  const auth = { authenticator: jwtAuthenticator(user.jwt, user.seed) };
  const clients: NatsConnection[] = [];
  try {
    for (const port of ports) clients.push(await connect({ port, ...auth }));
    const jsm = await managerOf(clients[0]!);
    const placedTier = (cfg: Partial<StreamConfig> & { name: string }): Promise<void> => addPlaced(jsm, cfg);
    await placedTier({ name: "ONE", subjects: ["one.>"], num_replicas: 1, placement: { tags: ["at:1"] } as never, max_bytes: 10_000 });
    await placedTier({ name: "TWO", subjects: ["two.>"], num_replicas: 1, storage: "memory" as never, placement: { tags: ["at:2"] } as never });
    await placedTier({ name: "REP", subjects: ["rep.>"], num_replicas: 3, max_bytes: 20_000 });
    const js = jetstream(clients[0]!, { timeout: 20_000 });
    const payload = Buffer.alloc(100, 0x61);
    for (let i = 0; i < 10; i++) await js.publish(`one.${i}`, payload);
    for (let i = 0; i < 5; i++) await js.publish(`two.${i}`, payload);
    for (let i = 0; i < 7; i++) await js.publish(`rep.${i}`, payload);
    await jsm.consumers.add("REP", { durable_name: "D3", ack_policy: "explicit" as never });
    await jsm.consumers.add("REP", { durable_name: "D3R1", ack_policy: "explicit" as never, num_replicas: 1 });
    await jsm.consumers.add("ONE", { durable_name: "D1", ack_policy: "explicit" as never });
    let infos: Info[] = [];
    for (let round = 0; round < 100; round++) {
      infos = await Promise.all(clients.map((c) => accountInfo(c)));
      if (infos.every((i) => JSON.stringify(withoutApiTotals(i)) === JSON.stringify(withoutApiTotals(infos[0]!)) && i.storage === storage && i.memory === memory)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return infos;
  } finally {
    for (const c of clients) await c.close();
  }
}

test("account info of an account with tiered limits (R1, R3) in a cluster, as nats-server 2.15", { timeout: 180_000 }, async () => {
  const op = await newOperator();
  const tiers = {
    R1: { disk_storage: 1_000_000, mem_storage: 1_000_000, streams: 5, consumer: 10 },
    R3: { disk_storage: 3_000_000, mem_storage: 0, streams: 2, consumer: 4 },
  };
  const acc = await newAccount(op, "T", { limits: { tiered_limits: tiers } as never });
  const user = await newUser(acc, "u");
  const common = memoryResolverConfig(op, [acc]);
  const storage = 10 * fileMsg("one.0") + 3 * 7 * fileMsg("rep.0");
  const memory = 5 * memMsg("two.0");
  const run = async (line: "2.15" | "tsnats"): Promise<Info[]> => {
    const servers = (await startOperatorCluster(line, common))!;
    try {
      return await tieredScenario(servers.map((s) => s.port), user, storage, memory);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  };
  const ours = await run("tsnats");
  for (const i of ours) assert.deepEqual(withoutApiTotals(i), withoutApiTotals(ours[0]!));
  const t = ours[0]!.tiers as Record<string, Info>;
  assert.deepEqual({ streams: t.R1!.streams, consumers: t.R1!.consumers, storage: t.R1!.storage, memory: t.R1!.memory }, { streams: 2, consumers: 2, storage: 10 * fileMsg("one.0"), memory });
  assert.deepEqual({ streams: t.R3!.streams, consumers: t.R3!.consumers, storage: t.R3!.storage }, { streams: 1, consumers: 1, storage: 3 * 7 * fileMsg("rep.0") });
  if (referenceBinary("2.15") === undefined) return;
  const theirs = await run("2.15");
  for (let i = 0; i < 3; i++) assert.deepEqual(withoutApiTotals(ours[i]!), withoutApiTotals(theirs[i]!), `account info from the client of server ${i + 1}`);
});
