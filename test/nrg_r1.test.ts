// An R1 stream and its R1 durable held by T3 alone, side by side with the same held by N1:
// nats-server 2.15.1 runs an R1 asset without a RAFT group (its assignment names one peer; the
// server stores each publish and answers every API of it itself), and so does T3
// (NrgGroupMember.solo). Placed by tag (N1 az:1, N2 az:2, T3 az:3), first through a nats-server
// meta leader, then through T3 as meta leader; each answer is compared with the holder's name
// and the times left out, and the meta entries' groups (one peer, no group traffic).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { NrgCluster, throughNatsThenT3 } from "./helpers/nrg_cluster.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { onMetaEntries } from "./helpers/nrg_meta_capture.js";
import { shortHash } from "../src/jetstream/util.js";

type Answer = Record<string, unknown>;

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

const TIMES = new Set(["created", "ts", "leader_since", "last_active", "time", "first_ts", "last_ts"]);

/** An answer with times left out and the holder's name, its zone and the stream's name (its subjects too) replaced, to compare two holders. */
function neutral(value: unknown, holder: string, zone: string, stream: string): unknown {
  if (Array.isArray(value)) return value.map((v) => neutral(v, holder, zone, stream));
  if (typeof value === "string") return value.replaceAll(stream, "<stream>").replaceAll(stream.toLowerCase(), "<stream>").replace(new RegExp(`^(${holder}|${zone})$`), "<holder>");
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = TIMES.has(k) ? "<time>" : neutral(v, holder, zone, stream);
  return out;
}

/** The R1 stream's life on `holder` (placed by its zone tag): every answer, neutral. */
async function life(nc: NatsConnection, stream: string, holder: string, zone: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const n = (v: unknown): unknown => neutral(v, holder, zone, stream);
  const lower = stream.toLowerCase();
  out.create = n(await api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], num_replicas: 1, placement: { tags: [zone] }, duplicate_window: 60_000_000_000 }));
  const js = jetstream(nc);
  const acks: unknown[] = [];
  acks.push(await retry(() => js.publish(`${lower}.a`, "one"), 20_000).catch((err: Error) => assert.fail(`${stream}'s first publish: ${err.message}; its create: ${JSON.stringify(out.create)}`)));
  acks.push(await js.publish(`${lower}.b`, "two", { msgID: "m2" }));
  acks.push(await js.publish(`${lower}.b`, "two again", { msgID: "m2" }));
  acks.push(await js.publish(`${lower}.c`, "three", { expect: { lastSequence: 2 } }));
  acks.push(await js.publish(`${lower}.c`, "four", { expect: { lastSequence: 2 } }).catch((err: Error) => err.message));
  out.acks = n(acks);
  out.info = n(await api(nc, `$JS.API.STREAM.INFO.${stream}`));
  out.get = n(await api(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { seq: 2 }));
  out.getLast = n(await api(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { last_by_subj: `${lower}.a` }));
  out.consumer = n(await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.D`, { stream_name: stream, config: { durable_name: "D", ack_policy: "explicit", ack_wait: 30_000_000_000 } }));
  const c = await js.consumers.get(stream, "D");
  const got: string[] = [];
  const batch = await c.fetch({ max_messages: 2, expires: 5_000 });
  for await (const m of batch) {
    got.push(`${m.seq} ${m.subject} ${m.string()}`);
    if (m.seq === 1) assert.equal(await m.ackAck(), true);
  }
  out.fetched = n(got);
  out.consumerInfo = n(await api(nc, `$JS.API.CONSUMER.INFO.${stream}.D`));
  // No RAFT group to step down: success, the placement not even read, the same holder after.
  out.stepDown = n(await api(nc, `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, { placement: { preferred: "N2" } }));
  out.consumerStepDown = n(await api(nc, `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.D`, { placement: { preferred: "nobody" } }));
  out.leaderAfter = n(((await api(nc, `$JS.API.STREAM.INFO.${stream}`)).cluster as { leader?: string } | undefined)?.leader);
  out.msgDelete = n(await api(nc, `$JS.API.STREAM.MSG.DELETE.${stream}`, { seq: 3 }));
  out.purge = n(await api(nc, `$JS.API.STREAM.PURGE.${stream}`, { filter: `${lower}.a` }));
  out.infoAfter = n(await api(nc, `$JS.API.STREAM.INFO.${stream}`));
  out.consumerDelete = n(await api(nc, `$JS.API.CONSUMER.DELETE.${stream}.D`));
  out.delete = n(await api(nc, `$JS.API.STREAM.DELETE.${stream}`));
  out.gone = n(await api(nc, `$JS.API.STREAM.INFO.${stream}`));
  return out;
}

/** The meta entries' groups of the R1 streams and their consumers of this run (`suffix`): name kind, peers by name, the other keys. */
function captureGroups(sys: NatsConnection, suffix: string, names: Map<string, string>): string[] {
  const seen: string[] = [];
  onMetaEntries(sys, (entry) => {
    if (entry.op !== "assignStream" && entry.op !== "assignConsumer") return;
    const a = entry.assignment as { config: { name?: string }; stream?: string; name?: string; group: { name: string; peers: string[] } & Record<string, unknown> };
    const stream = entry.op === "assignStream" ? (a.config.name ?? "") : (a.stream ?? "");
    if (!stream.startsWith("R1") || !stream.endsWith(suffix)) return;
    const { name, peers, ...rest } = a.group;
    seen.push(`${entry.op} ${name.slice(0, 6)} [${peers.map((p) => names.get(p) ?? p).join(",")}] ${Object.keys(rest).sort().join(",")}`);
  });
  return seen;
}

test("an R1 stream and durable held by T3 alone answer as one held by N1, under either meta leader", { skip: referenceMissing(), timeout: 115_000 }, async (t) => {
  const names = new Map(["N1", "N2", "T3"].map((n) => [shortHash(n), n]));
  const { byNats, byT3 } = await throughNatsThenT3(t, async (cluster, nc, sys, suffix) => {
    const groups = captureGroups(sys, suffix, names);
    // The capture's SUB reaches N1 before the first create does (another connection to N1).
    await sys.flush();
    const onN1 = await life(nc, `R1N1${suffix}`, "N1", "az:1");
    const onT3 = await life(nc, `R1T3${suffix}`, "T3", "az:3");
    // T3's group of it ran alone: no RAFT traffic, gone with the stream.
    const jsz = await cluster.peerJson();
    assert.equal(jsz.groups?.some((g) => g.stream === `R1T3${suffix}`), false, "T3 no longer holds the deleted stream");
    return { onN1, onT3, groups };
  });
  assert.deepEqual(byNats.onT3, byNats.onN1, "under the nats-server meta leader, T3 holds an R1 stream as N1 does");
  assert.deepEqual(byT3.onT3, byT3.onN1, "under T3 as meta leader, T3 holds an R1 stream as N1 does");
  assert.deepEqual(byT3.onN1, byNats.onN1, "N1's R1 stream answers alike under either meta leader");
  assert.deepEqual(
    byT3.groups.map((g) => g.replace(/\[N1\]|\[T3\]/, "[X]")),
    byNats.groups.map((g) => g.replace(/\[N1\]|\[T3\]/, "[X]")),
    "T3 as meta leader writes the R1 groups a nats-server meta leader writes",
  );
});

test("T3 restarted holding an R1 stream and durable alone serves them again from its log and store", { skip: referenceMissing(), timeout: 100_000 }, async () => {
  const cluster = await NrgCluster.zoned();
  try {
    const { nc1 } = await cluster.upWithClients();
    const created = await retry(async () => {
      const a = await api(nc1, "$JS.API.STREAM.CREATE.KEEP", { name: "KEEP", subjects: ["keep.>"], num_replicas: 1, placement: { tags: ["az:3"] } });
      if (a.error !== undefined) throw new Error(JSON.stringify(a.error));
      return a;
    }, 60_000);
    assert.equal((created.cluster as { leader?: string }).leader, "T3");
    const js = jetstream(nc1);
    for (let i = 1; i <= 5; i++) await js.publish(`keep.${i}`, `m${i}`);
    await api(nc1, "$JS.API.CONSUMER.CREATE.KEEP.D", { stream_name: "KEEP", config: { durable_name: "D", ack_policy: "explicit", ack_wait: 60_000_000_000 } });
    const batch = await (await js.consumers.get("KEEP", "D")).fetch({ max_messages: 3, expires: 5_000 });
    for await (const m of batch) if (m.seq <= 2) assert.equal(await m.ackAck(), true);
    const state = (info: Answer): unknown => ({ ...(info.state as Record<string, unknown>), first_ts: undefined, last_ts: undefined });
    const progress = (info: Answer): unknown => ({ delivered: (info.delivered as { stream_seq: number }).stream_seq, ack_floor: (info.ack_floor as { stream_seq: number }).stream_seq, num_ack_pending: info.num_ack_pending, num_pending: info.num_pending });
    const before = { stream: state(await api(nc1, "$JS.API.STREAM.INFO.KEEP")), consumer: progress(await api(nc1, "$JS.API.CONSUMER.INFO.KEEP.D")) };

    await cluster.ours?.stop();
    cluster.ours = await cluster.startOurs();
    let after: Record<string, unknown> = {};
    await waitUntil(
      async () => {
        const info = await api(nc1, "$JS.API.STREAM.INFO.KEEP").catch(() => undefined);
        const ci = await api(nc1, "$JS.API.CONSUMER.INFO.KEEP.D").catch(() => undefined);
        if (info?.state === undefined || ci?.delivered === undefined) return false;
        after = { stream: state(info), consumer: progress(ci) };
        return true;
      },
      60_000,
      "the restarted T3 answers KEEP's and D's infos",
      () => JSON.stringify(after),
    );
    assert.deepEqual(after, before, "the stream's and the consumer's state survive the restart");
    const ack = await retry(() => js.publish("keep.6", "m6"), 20_000);
    assert.equal(ack.seq, 6);
    const next = await (await js.consumers.get("KEEP", "D")).next({ expires: 5_000 });
    assert.equal(next?.seq, 4, "the durable goes on after what it had delivered");
  } finally {
    await cluster.stop();
  }
});
