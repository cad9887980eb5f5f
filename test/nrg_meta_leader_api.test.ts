// The meta leader's list, names and update answers, side by side: the same requests answered by
// a nats-server 2.15 meta leader, then by T3 (nrg_peer_meta_lead) once N1's step-down preferring
// it made it the meta leader. STREAM.NAMES (with and without a subject filter) and
// CONSUMER.NAMES equal; account info equal (the usage every server reports on `$JSC.ARU`,
// T3's own reports counted by the nats-server meta leader too); STREAM.LIST and CONSUMER.LIST carry the same streams and consumers with
// the same fields (gathered from their leaders over `$JSC.SI` / `$JSC.CI`); a stream not found
// answered alike, a consumer's pause and resume too, and so are the refusals of creates, infos and deletes; STREAM.UPDATE of a limit through T3 reaches the stream's leader and every
// member (N1's and N2's own copies take the new max_msgs), as an update through the nats-server;
// a stream whose max_bytes no server has room for (their STATSZ), or whose placement tags no
// server has, refused alike, one with a server's tag placed on it;
// a member's refusal of a stream just assigned (`$SYS.JSC.STREAM.ASSIGNMENT.RESULT`, sent here
// as a member sends it) removes the assignment under both meta leaders.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { getJson, NrgCluster } from "./helpers/nrg_cluster.js";
import type { ReferenceServer } from "./helpers/nats_server.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

/** Account info without the API counters (each server counts the requests it served). */
function infoShape(a: Answer): Record<string, unknown> {
  const { api: counters, ...rest } = a as Answer & { api?: { level?: number } };
  return { ...rest, api_level: counters?.level };
}

/** Account info asked until its storage is `bytes` (every server's usage report received), reduced as `infoShape`. */
async function accountInfoWith(nc: NatsConnection, bytes: number, who: string): Promise<Record<string, unknown>> {
  let info: Answer = {};
  await waitUntil(
    async () => {
      info = await api(nc, "$JS.API.INFO");
      return info.storage === bytes;
    },
    20_000,
    `${who}'s account info counts ${bytes} bytes stored`,
    () => JSON.stringify(info),
  );
  return infoShape(info);
}

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** A list answer with what changes from one asking to the next left out: each item's names and field names. */
function listShape(answer: Answer, items: "streams" | "consumers"): Record<string, unknown> {
  const list = (answer[items] as Record<string, unknown>[] | null) ?? [];
  return {
    type: answer.type,
    total: answer.total,
    offset: answer.offset,
    limit: answer.limit,
    missing: answer.missing,
    items: list
      .map((i) => ({ name: (i.config as { name?: string } | undefined)?.name ?? i.name, fields: Object.keys(i).sort(), consumers: (i.state as { consumer_count?: number } | undefined)?.consumer_count }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
  };
}

/** The requests compared, and what each answer is reduced to. */
async function answers(nc: NatsConnection): Promise<Record<string, unknown>> {
  return {
    names: await api(nc, "$JS.API.STREAM.NAMES"),
    namesFiltered: await api(nc, "$JS.API.STREAM.NAMES", { subject: "a.x" }),
    namesOffset: await api(nc, "$JS.API.STREAM.NAMES", { offset: 5 }),
    list: listShape(await api(nc, "$JS.API.STREAM.LIST"), "streams"),
    consumerNames: await api(nc, "$JS.API.CONSUMER.NAMES.A"),
    consumerNamesEmpty: await api(nc, "$JS.API.CONSUMER.NAMES.B"),
    consumerList: listShape(await api(nc, "$JS.API.CONSUMER.LIST.A"), "consumers"),
    consumerListEmpty: listShape(await api(nc, "$JS.API.CONSUMER.LIST.B"), "consumers"),
    consumerNamesMissing: await api(nc, "$JS.API.CONSUMER.NAMES.NOPE"),
    consumerListMissing: await api(nc, "$JS.API.CONSUMER.LIST.NOPE"),
    updateMissing: await api(nc, "$JS.API.STREAM.UPDATE.NOPE", { name: "NOPE", subjects: ["nope"] }),
    moveAndScale: await api(nc, "$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["a.>"], num_replicas: 1, placement: { tags: ["az:1"] } }),
    infoMissing: await api(nc, "$JS.API.STREAM.INFO.NOPE"),
    consumerInfoMissing: await api(nc, "$JS.API.CONSUMER.INFO.A.NOPE"),
    deleteMissing: await api(nc, "$JS.API.STREAM.DELETE.NOPE"),
    consumerDeleteMissing: await api(nc, "$JS.API.CONSUMER.DELETE.A.NOPE"),
    createOverlap: await api(nc, "$JS.API.STREAM.CREATE.OV", { name: "OV", subjects: ["a.1"], num_replicas: 3 }),
    createOtherConfig: await api(nc, "$JS.API.STREAM.CREATE.A", { name: "A", subjects: ["a.>", "z"], num_replicas: 3 }),
    consumerExists: await api(nc, "$JS.API.CONSUMER.CREATE.A.C1", { stream_name: "A", config: { durable_name: "C1", ack_policy: "explicit", max_deliver: 3 }, action: "create" }),
    consumerNoStream: await api(nc, "$JS.API.CONSUMER.CREATE.NOPE.C", { stream_name: "NOPE", config: { durable_name: "C" } }),
    tagsUnmatched: await api(nc, "$JS.API.STREAM.CREATE.TG", { name: "TG", subjects: ["tg.>"], num_replicas: 3, placement: { tags: ["az:9"] } }),
    tooBig: await api(nc, "$JS.API.STREAM.CREATE.BIG", { name: "BIG", subjects: ["big.>"], num_replicas: 3, max_bytes: 2 * 1024 ** 3 }),
    tooBigMemory: await api(nc, "$JS.API.STREAM.CREATE.BIGM", { name: "BIGM", subjects: ["bigm.>"], num_replicas: 3, storage: "memory", max_bytes: 512 * 1024 ** 2 }),
    pauseMissing: await api(nc, "$JS.API.CONSUMER.PAUSE.A.NOPE", {}),
    pauseNoStream: await api(nc, "$JS.API.CONSUMER.PAUSE.NOPE.C1", {}),
  };
}

/**
 * C1 of A paused for an hour, then resumed, through whoever leads the meta group: each answer
 * reduced to its fields and pause state, and the consumer's info (from its leader) between.
 */
async function pauseAndResume(nc: NatsConnection): Promise<Record<string, unknown>> {
  // Whole seconds: written as nats-server writes a time (RFC 3339, no zero fraction).
  const until = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000).toISOString().replace(".000Z", "Z");
  const paused = await api(nc, "$JS.API.CONSUMER.PAUSE.A.C1", { pause_until: until });
  let info: Answer = {};
  await waitUntil(
    async () => {
      info = await api(nc, "$JS.API.CONSUMER.INFO.A.C1");
      return info.paused === true;
    },
    20_000,
    "C1's leader shows it paused",
    () => JSON.stringify(info),
  );
  const resumed = await api(nc, "$JS.API.CONSUMER.PAUSE.A.C1", {});
  await waitUntil(
    async () => {
      info = await api(nc, "$JS.API.CONSUMER.INFO.A.C1");
      return info.paused !== true;
    },
    20_000,
    "C1's leader shows it resumed",
    () => JSON.stringify(info),
  );
  return {
    paused: { fields: Object.keys(paused).sort(), paused: paused.paused, until: paused.pause_until === until },
    pausedInfo: (info.config as { pause_until?: string }).pause_until,
    resumed,
  };
}

/**
 * A stream created, then at once refused as a member refuses an assignment it cannot hold
 * (published on a system account connection): the meta leader removes the assignment (within
 * its 5 s), the name is free again. True once no server lists it.
 */
async function refusedAfterCreate(nc: NatsConnection, sys: NatsConnection, name: string): Promise<boolean> {
  const created = await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3 });
  assert.equal(created.error, undefined, JSON.stringify(created));
  const error = { code: 503, err_code: 10023, description: "insufficient resources" };
  sys.publish("$SYS.JSC.STREAM.ASSIGNMENT.RESULT", JSON.stringify({ account: "APP", stream: name, create_response: { type: "io.nats.jetstream.api.v1.stream_create_response", error } }));
  let names: unknown;
  await waitUntil(
    async () => {
      names = (await api(nc, "$JS.API.STREAM.NAMES")).streams;
      return !((names as string[] | null) ?? []).includes(name);
    },
    20_000,
    `${name}'s assignment is removed after the refusal`,
    () => JSON.stringify(names),
  );
  return true;
}

/** max_msgs of a stream as one nats-server's own copy has it configured (its /jsz). */
async function maxMsgsOn(s: ReferenceServer, stream: string): Promise<number | undefined> {
  const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string; config?: { max_msgs?: number } }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true&config=true`);
  return jsz.account_details?.find((a) => a.name === "APP")?.stream_detail?.find((d) => d.name === stream)?.config?.max_msgs;
}

test("T3 as meta leader answers stream and consumer names and lists, and stream updates, as a nats-server meta leader", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  for (const [name, az] of [["N1", "az:1"], ["N2", "az:2"], ["T3", "az:3"]]) cluster.tags.set(name, [az]);
  try {
    const { n1, n2, nc1, jsm } = await cluster.upWithClients();
    await retry(() => jsm.streams.add({ name: "A", subjects: ["a.>"], num_replicas: 3 }), 60_000);
    await retry(() => jsm.streams.add({ name: "B", subjects: ["b.>"], num_replicas: 3, storage: "memory" as never }), 60_000);
    await retry(() => jsm.consumers.add("A", { durable_name: "C1", ack_policy: "explicit" as never }), 60_000);
    // R3 both, so each is answered by a group leader (an R1 consumer on T3 alone is nrg_r1's).
    await retry(() => jsm.consumers.add("A", { durable_name: "C2", ack_policy: "none" as never }), 60_000);
    const js = jetstream(nc1);
    for (let i = 0; i < 3; i++) await js.publish(`a.${i}`, "x");

    const byNats = await answers(nc1);
    // Three copies of A's bytes: the nats-server meta leader counts T3's too (its $JSC.ARU reports).
    const stored = 3 * (await jsm.streams.info("A")).state.bytes;
    const natsInfo = await accountInfoWith(nc1, stored, "the nats-server meta leader");
    const natsPause = await pauseAndResume(nc1);
    const natsTagged = await api(nc1, "$JS.API.STREAM.CREATE.TGN", { name: "TGN", subjects: ["tgn.>"], placement: { tags: ["AZ:2"] } });
    assert.equal((natsTagged.cluster as { leader?: string } | undefined)?.leader, "N2", JSON.stringify(natsTagged));
    // Gone again before T3's answers are compared with these.
    assert.equal((await api(nc1, "$JS.API.STREAM.DELETE.TGN")).success, true);
    const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
    cluster.conns.push(sys);
    assert.equal(await refusedAfterCreate(nc1, sys, "GONE1"), true);
    const natsUpdate = await api(nc1, "$JS.API.STREAM.UPDATE.A", { ...(await jsm.streams.info("A")).config, max_msgs: 100 });
    assert.equal(natsUpdate.error, undefined, JSON.stringify(natsUpdate));

    await cluster.metaLeadOnT3();

    const byT3 = await answers(nc1);
    for (const key of Object.keys(byNats)) assert.deepEqual(byT3[key], byNats[key], `${key}: T3's answer is the nats-server meta leader's`);
    t.diagnostic(`stream list through T3: ${JSON.stringify(byT3.list)}`);
    assert.deepEqual(await accountInfoWith(nc1, stored, "T3"), natsInfo, "T3's account info is the nats-server meta leader's");
    t.diagnostic(`account info through T3: ${JSON.stringify(natsInfo)}`);
    assert.deepEqual(await pauseAndResume(nc1), natsPause, "a pause and a resume through T3 are answered and applied as through the nats-server");

    // An update through T3: the stream's leader answers, every member takes it.
    const t3Update = await api(nc1, "$JS.API.STREAM.UPDATE.B", { ...(await jsm.streams.info("B")).config, max_msgs: 100 });
    assert.equal(t3Update.error, undefined, JSON.stringify(t3Update));
    assert.deepEqual(Object.keys(t3Update).sort(), Object.keys(natsUpdate).sort());
    assert.equal((t3Update.config as { max_msgs: number }).max_msgs, 100);
    await waitUntil(async () => (await maxMsgsOn(n1, "B")) === 100 && (await maxMsgsOn(n2, "B")) === 100, 20_000, "N1's and N2's copies of B take max_msgs 100");
    const t3Info = await api(nc1, "$JS.API.STREAM.INFO.B");
    assert.equal((t3Info.config as { max_msgs: number }).max_msgs, 100);
    // Placement tags: on the server that has them, as the nats-server meta leader placed TGN.
    const t3Tagged = await api(nc1, "$JS.API.STREAM.CREATE.TGT", { name: "TGT", subjects: ["tgt.>"], placement: { tags: ["AZ:2"] } });
    assert.equal((t3Tagged.cluster as { leader?: string } | undefined)?.leader, "N2", JSON.stringify(t3Tagged));
    assert.equal(await refusedAfterCreate(nc1, sys, "GONE2"), true, "a member's refusal removes the assignment under T3 too");
  } finally {
    await cluster.stop();
  }
});
