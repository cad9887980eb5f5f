// An account's JetStream limits in a cluster of three (operator mode) count the whole account,
// as nats-server 2.15: streams (max_streams, per tier) and max_bytes reservations (an R3
// stream's times its replicas, untiered) over every server's streams, checked by the meta leader
// before a create; bytes stored on the other servers counted when a publish is checked. The same
// steps run on a tsnats cluster and a nats-server 2.15 cluster and the answers compare line by
// line. Before, each server counted only what it held: max_streams streams per server, R1
// streams' reservations on different servers and publishes beyond the account's bytes passed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, jwtAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { memoryResolverConfig, newAccount, newOperator, newUser, type UserFixture } from "./helpers/jwt.js";
import { startOperatorCluster, type OperatorClusterKind, type OperatorClusterServer } from "./helpers/operator_cluster.js";
import type { JetStreamService } from "../src/jetstream/jetstream.js";

const PAYLOAD = Buffer.alloc(100, 0x61);

/** An answer's gist: ok, or the error's codes and text. Placement while the cluster settles (10005) is asked again. */
async function api(nc: NatsConnection, rest: string, body?: unknown): Promise<string> {
  let a: ClusterAnswer = {};
  const deadline = Date.now() + 20_000;
  do {
    a = await clusterApi(nc, `$JS.API.${rest}`, body);
    if (a.error?.err_code !== 10005) break;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  return a.error !== undefined ? `${a.error.err_code} ${a.error.code} ${a.error.description}` : "ok";
}

/**
 * A publish's answer: its sequence, or the error's codes. Asked again while nobody listens on
 * the subject (nothing was stored): the create of a replicated stream is answered before every
 * server heard of its subjects' interest, on nats-server too (seen in a full run at load ~2).
 */
async function publish(nc: NatsConnection, subject: string, data: Buffer = PAYLOAD): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const a = JSON.parse((await nc.request(subject, data, { timeout: 10_000 })).string()) as ClusterAnswer & { seq?: number };
      return a.error !== undefined ? `${a.error.err_code} ${a.error.description}` : `seq ${a.seq}`;
    } catch (err) {
      if (!/no responders/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

/** Publishes of 100 bytes until one is refused (at most `max`): how many went in, and the refusal. */
async function fill(nc: NatsConnection, subject: string, max: number): Promise<string> {
  for (let i = 0; i < max; i++) {
    const r = await publish(nc, subject);
    if (!r.startsWith("seq")) return `${i} stored, then ${r}`;
  }
  return `${max} stored`;
}

/**
 * Wait until the server of `stream` counts the account's bytes on the others: a publish of
 * `size` bytes is refused (10002). One taken meanwhile (the server had not heard yet) is purged
 * before asking again, so the stream is as it was either way.
 */
async function untilRefused(nc: NatsConnection, stream: string, subject: string, size: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await publish(nc, subject, Buffer.alloc(size, 0x62));
    if (r.startsWith("10002") || Date.now() > deadline) return r;
    if (r.startsWith("seq")) await api(nc, `STREAM.PURGE.${stream}`, {});
    await new Promise((res) => setTimeout(res, 100));
  }
}

const stream = (name: string, replicas: number, tag: string | undefined, more: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  subjects: [`${name}.>`],
  num_replicas: replicas,
  ...(tag !== undefined ? { placement: { tags: [tag] } } : {}),
  ...more,
});

/** Limits of an untiered account (streams 3, file 20000, memory 10000, consumers 2 per stream). */
async function untiered(c: NatsConnection[], seen: string[]): Promise<void> {
  const [a, b, s3] = c as [NatsConnection, NatsConnection, NatsConnection];
  const step = async (what: string, r: Promise<string>): Promise<void> => void seen.push(`${what}: ${await r}`);
  await step("S1 R1 on N1", api(a, "STREAM.CREATE.S1", stream("S1", 1, "at:1")));
  await step("S2 R1 on N2", api(b, "STREAM.CREATE.S2", stream("S2", 1, "at:2")));
  await step("S3 R1 on N3", api(s3, "STREAM.CREATE.S3", stream("S3", 1, "at:3")));
  await step("S4 R1 on N1, a fourth stream", api(a, "STREAM.CREATE.S4", stream("S4", 1, "at:1")));
  await step("S4 R1 on N2, a fourth stream", api(b, "STREAM.CREATE.S4", stream("S4", 1, "at:2")));
  await step("delete S2", api(a, "STREAM.DELETE.S2"));
  await step("delete S3", api(a, "STREAM.DELETE.S3"));
  await step("R3 max_bytes 7000 (21000 of 20000)", api(a, "STREAM.CREATE.BIG", stream("BIG", 3, undefined, { max_bytes: 7000 })));
  await step("R3 max_bytes 5000", api(a, "STREAM.CREATE.MID", stream("MID", 3, undefined, { max_bytes: 5000 })));
  await step("R1 on N2 max_bytes 6000 (21000 of 20000)", api(b, "STREAM.CREATE.S5", stream("S5", 1, "at:2", { max_bytes: 6000 })));
  await step("delete MID", api(a, "STREAM.DELETE.MID"));
  await step("R1 on N2 max_bytes 12000", api(b, "STREAM.CREATE.S5", stream("S5", 1, "at:2", { max_bytes: 12000 })));
  await step("R1 on N3 max_bytes 9000 (21000 of 20000)", api(s3, "STREAM.CREATE.S6", stream("S6", 1, "at:3", { max_bytes: 9000 })));
  await step("R1 on N3 max_bytes 8000", api(s3, "STREAM.CREATE.S6", stream("S6", 1, "at:3", { max_bytes: 8000 })));
  await step("update of S6 to max_bytes 9000 (21000 of 20000)", api(a, "STREAM.UPDATE.S6", stream("S6", 1, "at:3", { max_bytes: 9000 })));
  await step("update of S6 to max_bytes 7000", api(a, "STREAM.UPDATE.S6", stream("S6", 1, "at:3", { max_bytes: 7000 })));
  await step("delete S5", api(b, "STREAM.DELETE.S5"));
  await step("delete S6", api(s3, "STREAM.DELETE.S6"));
  // Three creates at once from the three servers, with room for two: which one is refused varies.
  const creates = await Promise.all(["P1", "P2", "P3"].map((n, i) => api(c[i]!, `STREAM.CREATE.${n}`, stream(n, 1, `at:${i + 1}`))));
  seen.push(`three creates at once: ${creates.sort().join(" | ")}`);
  for (const n of ["P1", "P2", "P3"]) await api(a, `STREAM.DELETE.${n}`);
  for (const [i, d] of ["C1", "C2", "C3"].entries()) {
    await step(`durable ${d} of S1 from N${i + 1}`, api(c[i]!, `CONSUMER.CREATE.S1.${d}`, { stream_name: "S1", config: { durable_name: d, ack_policy: "explicit" } }));
  }
  await step("S7 R1 on N2", api(b, "STREAM.CREATE.S7", stream("S7", 1, "at:2")));
  await step("S8 R1 on N3", api(s3, "STREAM.CREATE.S8", stream("S8", 1, "at:3")));
  // 100 messages of 100 bytes on N1 (13400 of the 20000 bytes), then N2 and N3 have room for 49.
  // N2 learns N1's bytes a little later: a message of 6650 bytes (a 6680-byte record) is refused
  // only once N2 counts all 100 (with 99, 13266 + 6680 fit), so the next step starts from there.
  await step("publish to S1 on N1", fill(a, "S1.x", 100));
  await step("a publish of 6650 bytes to S7 on N2", untilRefused(b, "S7", "S7.x", 6650));
  await step("publish to S7 on N2", fill(b, "S7.x", 100));
  await step("a publish of 100 bytes to S8 on N3", untilRefused(s3, "S8", "S8.x", 100));
  await step("a publish of 100 bytes to S1 on N1", untilRefused(a, "S1", "S1.y", 100));
}

/** Limits of a tiered account: R1 (streams 2, file 20000), R3 (streams 1, file 30000, no memory). */
async function tiered(c: NatsConnection[], seen: string[]): Promise<void> {
  const [a, b, s3] = c as [NatsConnection, NatsConnection, NatsConnection];
  const step = async (what: string, r: Promise<string>): Promise<void> => void seen.push(`${what}: ${await r}`);
  await step("T1 R1 on N1 max_bytes 12000", api(a, "STREAM.CREATE.T1", stream("T1", 1, "at:1", { max_bytes: 12000 })));
  await step("T2 R1 on N2 max_bytes 9000 (21000 of 20000)", api(b, "STREAM.CREATE.T2", stream("T2", 1, "at:2", { max_bytes: 9000 })));
  await step("T2 R1 on N2", api(b, "STREAM.CREATE.T2", stream("T2", 1, "at:2")));
  await step("T3 R1 on N3, a third R1", api(s3, "STREAM.CREATE.T3", stream("T3", 1, "at:3")));
  await step("R3 max_bytes 11000", api(a, "STREAM.CREATE.TR", stream("TR", 3, undefined, { max_bytes: 11000 })));
  await step("R3 memory", api(a, "STREAM.CREATE.TM", stream("TM", 3, undefined, { storage: "memory" })));
  await step("R3 max_bytes 9000", api(b, "STREAM.CREATE.TR", stream("TR", 3, undefined, { max_bytes: 9000 })));
  await step("a second R3", api(s3, "STREAM.CREATE.TR2", stream("TR2", 3, undefined)));
  await step("delete T1", api(a, "STREAM.DELETE.T1"));
  await step("T3 R1 on N3", api(s3, "STREAM.CREATE.T3", stream("T3", 1, "at:3")));
  await step("publish to T2 on N2", fill(b, "T2.x", 100));
  await step("a publish of 7000 bytes to T3 on N3", untilRefused(s3, "T3", "T3.x", 7000));
}

/**
 * Creates refused for their config, asked through a server that holds no stream: answered as by
 * one server, and nothing is left assigned (STREAM.NAMES lists only the streams there were).
 */
async function refusedCreates(c: NatsConnection[], seen: string[]): Promise<void> {
  const b = c[1]!;
  const step = async (what: string, r: Promise<string>): Promise<void> => void seen.push(`${what}: ${await r}`);
  await step("unknown retention", api(b, "STREAM.CREATE.X", { name: "X", subjects: ["x"], retention: "bogus" }));
  await step("discard new per subject without a limit", api(b, "STREAM.CREATE.Y", { name: "Y", subjects: ["y"], retention: "workqueue", discard: "new", discard_new_per_subject: true }));
  await step("name mismatch", api(b, "STREAM.CREATE.W", { name: "V", subjects: ["w"] }));
  await step("unknown field", api(b, "STREAM.CREATE.U", { name: "U", subjects: ["u"], bogus: 1 }));
  await step("sealed", api(b, "STREAM.CREATE.U", { name: "U", subjects: ["u"], sealed: true }));
  const names = JSON.parse((await b.request("$JS.API.STREAM.NAMES", "{}", { timeout: 10_000 })).string()) as { streams?: string[] | null };
  seen.push(`stream names: ${(names.streams ?? []).sort().join(",")}`);
}

type Scenario = (c: NatsConnection[], seen: string[], servers: OperatorClusterServer[]) => Promise<void>;

/** Each scenario with its own clients (one per server, logged in as `login` says). */
async function run(kind: OperatorClusterKind, common: string, scenarios: Array<[Partial<ConnectionOptions>, Scenario]>): Promise<string[] | undefined> {
  const servers = await startOperatorCluster(kind, common);
  if (servers === undefined) return undefined;
  const seen: string[] = [];
  const clients: NatsConnection[] = [];
  try {
    for (const [login, scenario] of scenarios) {
      const c: NatsConnection[] = [];
      for (const s of servers) c.push(await connect({ port: s.port, ...login }));
      clients.push(...c);
      await scenario(c, seen, servers);
    }
    return seen;
  } finally {
    for (const c of clients) await c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

const jwtLogin = (u: UserFixture): Partial<ConnectionOptions> => ({ authenticator: jwtAuthenticator(u.jwt, u.seed) });

test("account limits count the whole cluster: streams, reservations and stored bytes on every server, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const op = await newOperator();
  const flat = await newAccount(op, "L", { limits: { mem_storage: 10_000, disk_storage: 20_000, streams: 3, consumer: 2 } as never });
  const tiers = {
    R1: { disk_storage: 20_000, mem_storage: 10_000, streams: 2, consumer: 2 },
    R3: { disk_storage: 30_000, mem_storage: 0, streams: 1, consumer: 2 },
  };
  const tieredAcc = await newAccount(op, "T", { limits: { tiered_limits: tiers } as never });
  const scenarios: Array<[Partial<ConnectionOptions>, Scenario]> = [
    [jwtLogin(await newUser(flat, "l")), untiered],
    [jwtLogin(await newUser(tieredAcc, "t")), tiered],
  ];
  const common = memoryResolverConfig(op, [flat, tieredAcc]);
  const ours = (await run("tsnats", common, scenarios))!;
  const theirs = await run("2.15", common, scenarios);
  if (theirs === undefined) {
    // No reference binary here: the refusals nats-server 2.15 answers (checked where it is installed).
    assert.ok(ours.includes("S4 R1 on N1, a fourth stream: 10027 400 maximum number of streams reached"));
    assert.ok(ours.includes("R1 on N3 max_bytes 9000 (21000 of 20000): 10047 500 insufficient storage resources available"));
    assert.ok(ours.includes("publish to S7 on N2: 49 stored, then 10002 resource limits exceeded for account"));
    return;
  }
  assert.deepEqual(ours, theirs);
});

test("an account's jetstream block in the config (max_streams, max_file, max_mem, max_consumers) counts the whole cluster; creates refused for their config leave nothing assigned; as nats-server 2.15", { timeout: 300_000 }, async () => {
  const common =
    "accounts {\n" +
    "  L: { jetstream: { max_mem: 10000, max_file: 20000, max_streams: 3, max_consumers: 2 }, users: [{ user: l, password: l }] }\n" +
    "  SYS: { users: [{ user: sys, password: sys }] }\n" +
    "}\nsystem_account: SYS\n";
  const scenarios: Array<[Partial<ConnectionOptions>, Scenario]> = [
    [{ user: "l", pass: "l" }, untiered],
    [{ user: "l", pass: "l" }, refusedCreates],
  ];
  const ours = (await run("tsnats", common, scenarios))!;
  const theirs = await run("2.15", common, scenarios);
  if (theirs === undefined) {
    assert.ok(ours.includes("S4 R1 on N2, a fourth stream: 10027 400 maximum number of streams reached"));
    assert.ok(ours.includes("stream names: S1,S7,S8"));
    return;
  }
  assert.deepEqual(ours, theirs);
});

/**
 * Wait until the servers told each other the bytes they hold of stream `name` (one copy each of
 * `bytes`): the account's usage as JetStream account info shows it is every copy, and on tsnats
 * (in this process) every server counts the two other servers' copies. A publish checked before
 * the reports arrive counts too few bytes, so how many go in would depend on timing (nats-server
 * may hold a report back for up to its usage tick under load).
 */
async function reportsHeard(nc: NatsConnection, servers: OperatorClusterServer[], name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let seen = "";
  for (;;) {
    const si = JSON.parse((await nc.request(`$JS.API.STREAM.INFO.${name}`, "", { timeout: 10_000 })).string()) as { state?: { bytes: number } };
    const bytes = si.state?.bytes ?? -1;
    const ai = JSON.parse((await nc.request("$JS.API.INFO", "", { timeout: 10_000 })).string()) as { storage?: number };
    const counted = servers.flatMap((s) => {
      const js = s.embedded?.server.services.find((x) => x.name === "jetstream") as JetStreamService | undefined;
      if (js === undefined) return [];
      const jsa = [...js.accounts.values()].find((a) => a.streams.has(name));
      return [jsa === undefined ? -1 : (js.cluster?.remoteBytes(jsa.account.name, "", false) ?? -1)];
    });
    if (bytes >= 0 && ai.storage === 3 * bytes && counted.every((n) => n === 2 * bytes)) return;
    seen = `stream ${bytes} bytes, account info ${ai.storage}, others' bytes counted ${counted.join(",")}`;
    if (Date.now() > deadline) assert.fail(`usage reports of ${name} not heard: ${seen}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * Publishes of 2000 bytes to an R3 stream until the account's storage refuses one, each once
 * the servers told each other their bytes, then one of 100 bytes through another server.
 */
async function replicatedFill(c: NatsConnection[], seen: string[], servers: OperatorClusterServer[]): Promise<void> {
  const [a, b] = c as [NatsConnection, NatsConnection];
  const step = async (what: string, r: Promise<string>): Promise<void> => void seen.push(`${what}: ${await r}`);
  await step("R3 stream Q", api(a, "STREAM.CREATE.Q", stream("Q", 3, undefined)));
  let n = 0;
  let r = "";
  for (; n < 100; n++) {
    r = await publish(a, "Q.x", Buffer.alloc(2000, 0x61));
    if (!r.startsWith("seq")) break;
    await reportsHeard(a, servers, "Q");
  }
  const info = JSON.parse((await a.request("$JS.API.STREAM.INFO.Q", "", { timeout: 10_000 })).string()) as { state: { bytes: number } };
  seen.push(`publish to Q on N1: ${n} stored (${info.state.bytes} bytes), then ${r}`);
  await step("a publish of 100 bytes to Q on N2", publish(b, "Q.y"));
  await step("delete Q", api(a, "STREAM.DELETE.Q"));
}

test("publishes to an R3 stream count against the account's storage as nats-server 2.15 counts them: every replica untiered, one in an R3 tier", { timeout: 300_000 }, async () => {
  const op = await newOperator();
  const flat = await newAccount(op, "L", { limits: { mem_storage: 10_000, disk_storage: 20_000, streams: 3, consumer: 2 } as never });
  const tieredAcc = await newAccount(op, "T", { limits: { tiered_limits: { R3: { disk_storage: 30_000, mem_storage: 0, streams: 1, consumer: 2 } } } as never });
  const scenarios: Array<[Partial<ConnectionOptions>, Scenario]> = [
    [jwtLogin(await newUser(flat, "l")), replicatedFill],
    [jwtLogin(await newUser(tieredAcc, "t")), replicatedFill],
  ];
  const common = memoryResolverConfig(op, [flat, tieredAcc]);
  const ours = (await run("tsnats", common, scenarios))!;
  // Untiered: 3 messages of 2033 bytes on 3 servers are 18297 of 20000, a fourth would be
  // 24396; 100 bytes more (133 each, 399) still fit. R3 tier: 14 (28462 of 30000) counted once,
  // and 133 more. Before, the untiered count took the message once (a fourth went in) and the
  // tier every replica (4 went in).
  assert.deepEqual(ours, [
    "R3 stream Q: ok",
    "publish to Q on N1: 3 stored (6099 bytes), then 10002 resource limits exceeded for account",
    "a publish of 100 bytes to Q on N2: seq 4",
    "delete Q: ok",
    "R3 stream Q: ok",
    "publish to Q on N1: 14 stored (28462 bytes), then 10002 resource limits exceeded for account",
    "a publish of 100 bytes to Q on N2: seq 15",
    "delete Q: ok",
  ]);
  const theirs = await run("2.15", common, scenarios);
  if (theirs !== undefined) assert.deepEqual(ours, theirs, "what clients see is what nats-server 2.15 shows");
});
