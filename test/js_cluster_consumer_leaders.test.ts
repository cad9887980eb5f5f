// Replicated consumers with leaders of their own, through @nats-io clients, the same steps on three
// tsnats servers and on three nats-server 2.15: four R3 durables of an R3 stream are led from
// more than one server; CONSUMER.LEADER.STEPDOWN moves that consumer's leader and leaves the
// stream's alone; a consumer led away from its stream's leader keeps its leader across a stream
// leader stepdown, and when its own server is killed another member goes on from its ack floor:
// no acknowledged message comes again and every other one is delivered at least once. Work-queue
// and interest streams drop what consumers led away from the stream's leader acknowledged.
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";
import { ConsumerGroup } from "../src/jetstream/consumer_group.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { waitUntil } from "./helpers/server.js";
import { encodeConsumerOps } from "../src/jetstream/consumer_ops_wire.js";
import { infoWithLeader, sleep, type Info } from "./helpers/js_cluster_consumer_groups.js";

const durable = (name: string) => ({ durable_name: name, ack_policy: "explicit", num_replicas: 3, ack_wait: 2_000_000_000 });

async function streamLeader(nc: NatsConnection, stream: string, not = ""): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await clusterApi<Info>(nc, `$JS.API.STREAM.INFO.${stream}`);
    const leader = a.cluster?.leader ?? "";
    if (leader !== "" && leader !== not) return leader;
    if (Date.now() > deadline) assert.fail(`no leader of ${stream} other than '${not}'`);
    await sleep(100);
  }
}

/** Moves the consumer's leadership to `to` (CONSUMER.LEADER.STEPDOWN with placement.preferred) and waits until its info says so. */
async function leadConsumerFrom(nc: NatsConnection, stream: string, name: string, to: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const now = (await infoWithLeader(nc, stream, name)).cluster?.leader;
    if (now === to) return;
    if (Date.now() > deadline) assert.fail(`${name} not led from ${to} (${now})`);
    await clusterApi(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${name}`, { placement: { preferred: to } });
    await sleep(300);
  }
}

/**
 * Fetches (acknowledging each with a confirmed ack) until every sequence of `want` came at least
 * once, across leader changes; every sequence delivered, in order, repeats included.
 */
async function consumeAtLeastOnce(nc: NatsConnection, stream: string, name: string, want: number[]): Promise<number[]> {
  const js = jetstream(nc, { timeout: 5000 });
  const got: number[] = [];
  const missing = new Set(want);
  const deadline = Date.now() + 90_000;
  while (missing.size > 0 && Date.now() < deadline) {
    try {
      const consumer = await js.consumers.get(stream, name);
      for await (const m of await consumer.fetch({ max_messages: missing.size, expires: 2000 })) {
        got.push(m.seq);
        try {
          await m.ackAck({ timeout: 5000 });
          missing.delete(m.seq);
        } catch {
          // not confirmed: it comes again
        }
      }
    } catch {
      await sleep(100); // no leader yet: asked again
    }
  }
  return got;
}

interface Spread {
  leaders: number;
  stepdownMovedConsumer: boolean;
  stepdownKeptStreamLeader: boolean;
  consumed: number[];
}

/** Four R3 durables: on how many servers their leaders are; one stepped down; then it is read. */
async function spreadAndStepdown(urls: string[]): Promise<Spread> {
  const nc = await connect({ servers: urls });
  try {
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.L", { name: "L", subjects: ["l.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "l.x", `m${i}`);
    const leaders = new Set<string>();
    for (const name of ["D1", "D2", "D3", "D4"]) {
      const a = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.L.${name}`, { stream_name: "L", config: durable(name) });
      assert.equal(a.error, undefined, JSON.stringify(a.error));
    }
    // Leaders are chosen once the creates are in: read when every consumer names one and they stay.
    let before = "";
    for (let round = 0; round < 20; round++) {
      leaders.clear();
      for (const name of ["D1", "D2", "D3", "D4"]) leaders.add((await infoWithLeader(nc, "L", name)).cluster?.leader ?? "");
      const seen = [...leaders].sort().join(",");
      if (seen === before) break;
      before = seen;
      await sleep(300);
    }
    const stream = await streamLeader(nc, "L");
    const d1 = (await infoWithLeader(nc, "L", "D1")).cluster?.leader ?? "";
    const sd = await clusterApi<Info>(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.L.D1", {});
    assert.equal(sd.error, undefined, JSON.stringify(sd.error));
    const after = (await infoWithLeader(nc, "L", "D1", d1)).cluster?.leader ?? "";
    const streamAfter = await streamLeader(nc, "L");
    const consumed = await consumeAtLeastOnce(nc, "L", "D1", [1, 2, 3, 4, 5]);
    return { leaders: leaders.size, stepdownMovedConsumer: after !== "" && after !== d1, stepdownKeptStreamLeader: streamAfter === stream, consumed };
  } finally {
    await nc.close();
  }
}

interface Away {
  ledAway: boolean;
  /** A pull waiting on a consumer led away from the stream's leader shows in its info (num_waiting). */
  waitingShown: boolean;
  first: number[];
  keptLeaderOverStreamStepdown: boolean;
  second: number[];
  afterKill: number[];
  ackFloor: number;
  pending: number;
}

/** A durable with nothing to deliver, led from `away`: a pull waits there, and its info (from any server) counts it. */
async function waitingInInfo(nc: NatsConnection, away: string): Promise<boolean> {
  const a = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.W.E", { stream_name: "W", config: { ...durable("E"), filter_subject: "w.none" } });
  assert.equal(a.error, undefined, JSON.stringify(a.error));
  await leadConsumerFrom(nc, "W", "E", away);
  const consumer = await jetstream(nc, { timeout: 5000 }).consumers.get("W", "E");
  const fetching = (async () => {
    for await (const _m of await consumer.fetch({ max_messages: 1, expires: 4000 })) assert.fail("nothing to deliver");
  })().catch(() => undefined);
  let shown = false;
  const deadline = Date.now() + 3000;
  while (!shown && Date.now() < deadline) {
    shown = (await clusterApi<Info>(nc, "$JS.API.CONSUMER.INFO.W.E")).num_waiting === 1;
    if (!shown) await sleep(100);
  }
  await fetching;
  return shown;
}

/**
 * A durable led by a server that does not lead the stream: ten read; the stream's leader
 * stepped down to the third server (the consumer keeps its leader), five more read; then the
 * consumer's server is killed and the last five read from the others.
 */
async function ledAway(urls: string[], names: string[], kill: (server: string) => Promise<void>): Promise<Away> {
  const nc = await connect({ servers: urls });
  try {
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["w.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "w.x", `m${i}`);
    const a = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.W.D", { stream_name: "W", config: durable("D") });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    const stream = await streamLeader(nc, "W");
    const away = names.find((n) => n !== stream) as string;
    const third = names.find((n) => n !== stream && n !== away) as string;
    await leadConsumerFrom(nc, "W", "D", away);
    const ledAway = (await infoWithLeader(nc, "W", "D")).cluster?.leader === away && (await streamLeader(nc, "W")) === stream;
    const waitingShown = await waitingInInfo(nc, away);
    const first = await consumeAtLeastOnce(nc, "W", "D", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const sd = await clusterApi<Info>(nc, "$JS.API.STREAM.LEADER.STEPDOWN.W", { placement: { preferred: third } });
    assert.equal(sd.error, undefined, JSON.stringify(sd.error));
    await streamLeader(nc, "W", stream);
    const keptLeaderOverStreamStepdown = (await infoWithLeader(nc, "W", "D")).cluster?.leader === away;
    const second = await consumeAtLeastOnce(nc, "W", "D", [11, 12, 13, 14, 15]);
    await kill(away);
    const afterKill = await consumeAtLeastOnce(nc, "W", "D", [16, 17, 18, 19, 20]);
    const info = await infoWithLeader(nc, "W", "D", away);
    return { ledAway, waitingShown, first, keptLeaderOverStreamStepdown, second, afterKill, ackFloor: info.ack_floor?.stream_seq ?? -1, pending: (info.num_ack_pending as number | undefined) ?? -1 };
  } finally {
    await nc.close();
  }
}

test("four R3 durables are led from more than one server; a consumer stepdown moves its leader only, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Spread;
  try {
    await c.metaLeader(60_000);
    ours = await spreadAndStepdown(c.members.map((m) => m.url));
  } finally {
    await c.stop();
  }
  assert.ok(ours.leaders >= 2, `leaders on ${ours.leaders} server(s)`);
  assert.equal(ours.stepdownMovedConsumer, true);
  assert.equal(ours.stepdownKeptStreamLeader, true);
  assert.deepEqual(ours.consumed, [1, 2, 3, 4, 5]);
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Spread;
  try {
    theirs = await spreadAndStepdown(ref.urls);
  } finally {
    await ref.stop();
  }
  // Where nats-server's consumer leaders land is not checked: each of its consumer groups elects
  // whichever member times out first, and on a loaded machine all four went to one server in
  // about one run of ten (the stepdown and delivery below are what must agree).
  assert.equal(ours.stepdownMovedConsumer, theirs.stepdownMovedConsumer);
  assert.equal(ours.stepdownKeptStreamLeader, theirs.stepdownKeptStreamLeader);
  assert.deepEqual(ours.consumed, theirs.consumed);
});

test("a consumer led away from its stream's leader keeps its leader across a stream stepdown and goes on from its ack floor when its server is killed, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Away;
  try {
    await c.metaLeader(60_000);
    ours = await ledAway(
      c.members.map((m) => m.url),
      c.members.map((m) => m.name),
      (server) => c.stopMember(server),
    );
  } finally {
    await c.stop();
  }
  const check = (o: Away, who: string): void => {
    assert.equal(o.ledAway, true, who);
    assert.equal(o.waitingShown, true, who);
    assert.deepEqual(o.first, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], who);
    assert.equal(o.keptLeaderOverStreamStepdown, true, who);
    assert.deepEqual(o.second, [11, 12, 13, 14, 15], who);
    // Nothing acknowledged comes again; what was delivered but not acknowledged may.
    assert.ok(o.afterKill.every((s) => s >= 16 && s <= 20), `${who}: ${o.afterKill.join(",")}`);
    assert.deepEqual([...new Set(o.afterKill)].sort((a, b) => a - b), [16, 17, 18, 19, 20], who);
    assert.equal(o.ackFloor, 20, who);
    assert.equal(o.pending, 0, who);
  };
  check(ours, "tsnats");
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Away;
  try {
    theirs = await ledAway(ref.urls, ["N1", "N2", "N3"], async (server) => {
      await ref.servers[Number(server.slice(1)) - 1].stop();
    });
  } finally {
    await ref.stop();
  }
  check(theirs, "nats-server");
});

/** Polls the stream's info until it holds `want` messages (or 20 s); what it held last. */
async function messagesSettle(nc: NatsConnection, stream: string, want: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  let held = -1;
  while (Date.now() < deadline) {
    held = ((await clusterApi<Info>(nc, `$JS.API.STREAM.INFO.${stream}`)).state as { messages?: number } | undefined)?.messages ?? -1;
    if (held === want) break;
    await sleep(200);
  }
  return held;
}

/**
 * A work-queue stream read by a durable led away from the stream's leader, and an interest
 * stream read by two durables led from two other servers than each other: once everything is
 * acknowledged, both streams are empty.
 */
async function retention(urls: string[], names: string[]): Promise<{ workQueue: number; interest: number; interestMidway: number }> {
  const nc = await connect({ servers: urls });
  try {
    for (const [name, retention] of [["Q", "workqueue"], ["I", "interest"]]) {
      const s = await clusterApi<Info>(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3, retention });
      assert.equal(s.error, undefined, JSON.stringify(s.error));
    }
    const q = await streamLeader(nc, "Q");
    const qa = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.Q.W", { stream_name: "Q", config: durable("W") });
    assert.equal(qa.error, undefined, JSON.stringify(qa.error));
    await leadConsumerFrom(nc, "Q", "W", names.find((n) => n !== q) as string);
    for (let i = 1; i <= 10; i++) await clusterPublish(nc, "q.x", `q${i}`);
    await consumeAtLeastOnce(nc, "Q", "W", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const workQueue = await messagesSettle(nc, "Q", 0);

    const i = await streamLeader(nc, "I");
    const others = names.filter((n) => n !== i);
    for (const [k, name] of ["I1", "I2"].entries()) {
      const a = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.I.${name}`, { stream_name: "I", config: durable(name) });
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      await leadConsumerFrom(nc, "I", name, others[k]);
    }
    for (let n = 1; n <= 10; n++) await clusterPublish(nc, "i.x", `i${n}`);
    await consumeAtLeastOnce(nc, "I", "I1", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Still needed by I2.
    const interestMidway = await messagesSettle(nc, "I", 10);
    await consumeAtLeastOnce(nc, "I", "I2", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const interest = await messagesSettle(nc, "I", 0);
    return { workQueue, interest, interestMidway };
  } finally {
    await nc.close();
  }
}

test("work-queue and interest streams drop what consumers led away from the stream's leader acknowledged, on every server, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Awaited<ReturnType<typeof retention>>;
  try {
    await c.metaLeader(60_000);
    ours = await retention(
      c.members.map((m) => m.url),
      c.members.map((m) => m.name),
    );
    // Every server's copy, not only the leader's.
    const deadline = Date.now() + 20_000;
    const held = (): number[] => c.members.flatMap((m) => ["Q", "I"].map((s) => streamOn(c, m.name, s)?.store.state().msgs ?? -1));
    while (held().some((n) => n !== 0) && Date.now() < deadline) await sleep(100);
    assert.deepEqual(held(), [0, 0, 0, 0, 0, 0]);
  } finally {
    await c.stop();
  }
  assert.deepEqual(ours, { workQueue: 0, interest: 0, interestMidway: 10 });
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Awaited<ReturnType<typeof retention>>;
  try {
    theirs = await retention(ref.urls, ["N1", "N2", "N3"]);
  } finally {
    await ref.stop();
  }
  assert.deepEqual(ours, theirs);
});

test("a consumer's group survives a restart of every server (from its snapshot and log), elects a leader and reading goes on from its ack floor", { timeout: 300_000 }, async () => {
  const saved = StreamReplica.snapshotEntries;
  const savedConsumer = ConsumerGroup.snapshotEntries;
  // A snapshot every few entries: the consumer's state is in a snapshot, later changes in the log.
  StreamReplica.snapshotEntries = 20;
  ConsumerGroup.snapshotEntries = 4;
  const c = await JsTestCluster.start(3);
  try {
    await c.metaLeader(60_000);
    let nc = await connect({ servers: c.members.map((m) => m.url) });
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.R", { name: "R", subjects: ["r.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 40; i++) await clusterPublish(nc, "r.x", `m${i}`);
    const a = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.R.D", { stream_name: "R", config: durable("D") });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    const stream = await streamLeader(nc, "R");
    const away = c.members.map((m) => m.name).find((n) => n !== stream) as string;
    await leadConsumerFrom(nc, "R", "D", away);
    assert.deepEqual(await consumeAtLeastOnce(nc, "R", "D", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // More entries after the record, so that a snapshot holds it.
    for (let i = 41; i <= 70; i++) await clusterPublish(nc, "r.x", `m${i}`);
    await nc.close();
    for (const m of c.members) await c.stopMember(m.name);
    for (const m of c.members) await c.startMember(m.name);
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url) });
    try {
      await streamLeader(nc, "R");
      const leader = (await infoWithLeader(nc, "R", "D")).cluster?.leader;
      assert.ok(c.members.some((m) => m.name === leader), `consumer leader ${leader}`);
      assert.deepEqual(await consumeAtLeastOnce(nc, "R", "D", [11, 12, 13, 14, 15]), [11, 12, 13, 14, 15]);
    } finally {
      await nc.close();
    }
  } finally {
    StreamReplica.snapshotEntries = saved;
    ConsumerGroup.snapshotEntries = savedConsumer;
    await c.stop();
  }
});

test("a store from before consumer groups (a `cleader` record in the stream's log, no group of the consumer's own) starts: the consumer gets its group and reading goes on from its ack floor", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  try {
    await c.metaLeader(60_000);
    let nc = await connect({ servers: c.members.map((m) => m.url) });
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.M", { name: "M", subjects: ["m.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "m.x", `m${i}`);
    const a = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.M.D", { stream_name: "M", config: durable("D") });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.deepEqual(await consumeAtLeastOnce(nc, "M", "D", [1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 3, 4, 5, 6, 7, 8]);
    // What the stream's log of the former code holds: a consumer leader's record.
    const leader = await streamLeader(nc, "M");
    const replica = streamOn(c, leader, "M")?.replica;
    assert.ok(replica !== undefined);
    const other = c.members.map((m) => m.name).find((n) => n !== leader) as string;
    const json = Buffer.from(JSON.stringify({ op: "cleader", name: "D", leader: other }));
    replica.node.propose(Buffer.concat([Buffer.from([3]), json]));
    // And consumer changes as the former code wrote them into the stream's log: message 9 delivered and acknowledged.
    const changes = encodeConsumerOps(7, [
      { name: "D", c: { op: "deliver", sseq: 9, dc: 1, now: Date.now(), kind: "new" } },
      { name: "D", c: { op: "ack", sseq: 9 } },
    ]);
    assert.ok(changes !== undefined);
    replica.node.propose(changes);
    const held = (name: string): string => {
      const k = streamOn(c, name, "M")?.consumers.get("D")?.infoJson() as { ack_floor: { stream_seq: number } } | undefined;
      return k === undefined ? "none" : String(k.ack_floor.stream_seq);
    };
    await waitUntil(() => c.members.every((m) => (streamOn(c, m.name, "M")?.replica?.node.applied ?? 0) >= replica.node.lastIndex && held(m.name) === "9"), 20_000, "the record and the changes applied everywhere");
    await nc.close();
    for (const m of c.members) await c.stopMember(m.name);
    // The consumer's own group is not there (as in a store written before consumer groups).
    for (const m of c.members) {
      const raft = path.join(m.storeDir, "jetstream", "_raft");
      for (const d of fs.readdirSync(raft)) if (d.startsWith("C-")) fs.rmSync(path.join(raft, d), { recursive: true, force: true });
    }
    for (const m of c.members) await c.startMember(m.name);
    await c.metaLeader(60_000);
    nc = await connect({ servers: c.members.map((m) => m.url) });
    try {
      await streamLeader(nc, "M");
      const consumerLeader = (await infoWithLeader(nc, "M", "D")).cluster?.leader;
      assert.ok(c.members.some((m) => m.name === consumerLeader), `consumer leader ${consumerLeader}`);
      assert.deepEqual(await consumeAtLeastOnce(nc, "M", "D", [10, 11, 12, 13]), [10, 11, 12, 13]);
      // Every member has the consumer's group, with the same state.
      await waitUntil(() => c.members.every((m) => held(m.name) === "13" && streamOn(c, m.name, "M")?.replica?.consumerGroup("D") !== undefined), 20_000, `ack floors ${c.members.map((m) => held(m.name)).join(", ")}`);
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
});
