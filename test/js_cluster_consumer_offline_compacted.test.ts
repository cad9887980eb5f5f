// A single-replica consumer of an R3 stream paused, and another deleted, while their server is
// down, the stream's group log compacted past those changes before that server returns: back,
// it pauses the one and drops the other, as nats-server 2.15 (whose meta snapshot carries the
// consumers' assignments). On tsnats the stream group's snapshot carries the pending changes
// (StreamReplica offlineChanges); its servers run in this process with a small snapshot
// interval, and the test waits until the leader's log starts past the changes. The same steps
// on a cluster of three nats-server 2.15 processes; what is compared: each answer, and the
// consumers' state once the server is back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sleep } from "./helpers/js_cluster_consumer_groups.js";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { pullOnce, pullRefused, secondOnHost } from "./helpers/js_cluster_offline.js";
import { StreamReplica } from "../src/jetstream/stream_replica.js";

interface Answer {
  error?: { code: number; err_code: number; description: string };
  cluster?: { leader?: string };
  config?: { pause_until?: string };
  paused?: boolean;
  ack_floor?: { stream_seq?: number };
  num_pending?: number;
  [k: string]: unknown;
}

/** A cluster of three, tsnats's or nats-server's, as the scenario uses it (servers by index). */
interface Side {
  urls: string[];
  stop(i: number): Promise<void>;
  start(i: number): Promise<void>;
  /** The consumers of `stream` server `i` holds. */
  holds(i: number, stream: string): Promise<string[]>;
  /** tsnats: waits (the function returned) until the stream's leader's log starts past the entries made after this call; nats-server: nothing. */
  compactPast?(stream: string): Promise<() => Promise<void>>;
}

/** The last message: those from the 6th on are 100 KiB, 7 MiB in all. */
const BIG_LAST = 75;

function said(a: Answer): string {
  return a.error !== undefined ? `${a.error.code} ${a.error.err_code} ${a.error.description}` : "ok";
}

async function scenario(side: Side): Promise<string[]> {
  const nc = await connect({ servers: side.urls });
  const out: string[] = [];
  let via: NatsConnection | undefined;
  try {
    out.push(`create O: ${said(await createStreamWhenPlaced<Answer>(nc, { name: "O", subjects: ["o.>"], num_replicas: 3 }))}`);
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "o.x", `o${i}`);
    const d1 = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.O.D1", { stream_name: "O", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1 } });
    out.push(`create O.D1: ${said(d1)}`);
    const host = d1.cluster?.leader ?? "";
    const hostIndex = Number(host.slice(1)) - 1;
    // A second one on the same server (placed at random: those placed elsewhere are deleted).
    const z = await secondOnHost(nc, "O", host);
    out.push(`a second one on its server: ${z !== ""}`);
    via = await connect({ servers: side.urls.filter((_u, i) => i !== hostIndex) });
    out.push(`pull: ${await pullOnce(via, "O", "D1")}`);

    const compacted = await side.compactPast?.("O");
    await side.stop(hostIndex);
    // Once the others know its server is gone: a pull request is refused at once.
    out.push(`pull while its server is down: ${await pullRefused(via, "O", "D1")}`);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const paused = await clusterApi<Answer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", { pause_until: until });
    out.push(`pause while down: ${said(paused)} paused=${paused.paused}`);
    out.push(`delete the second while down: ${said(await clusterApi<Answer>(via, `$JS.API.CONSUMER.DELETE.O.${z}`))}`);
    // Enough after those for the stream's group to compact its log past them (a log segment: 4 MiB).
    const js = jetstream(via, { timeout: 10_000 });
    const big = new Uint8Array(100 * 1024).fill(0x61);
    for (let i = 6; i <= BIG_LAST; i++) {
      for (let attempt = 0; ; attempt++) {
        try {
          await js.publish("o.x", big, { msgID: `o${i}` });
          break;
        } catch (err) {
          if (attempt >= 50) throw err;
          await sleep(200);
        }
      }
    }
    await compacted?.();

    await side.start(hostIndex);
    let back: Answer = {};
    await waitUntil(
      async () => {
        back = await clusterApi<Answer>(via as NatsConnection, "$JS.API.CONSUMER.INFO.O.D1");
        // (Once it has every message again: what it counts as pending is what it holds.)
        return back.error === undefined && back.paused === true && back.num_pending === BIG_LAST - 1;
      },
      60_000,
      "its info answered again, paused, caught up",
    ).catch(() => undefined);
    out.push(`info back: ${said(back)} paused=${back.paused} until the time asked: ${back.config?.pause_until !== undefined && Date.parse(back.config.pause_until) === Date.parse(until)} ack_floor=${back.ack_floor?.stream_seq} pending=${back.num_pending} on its server: ${back.cluster?.leader === host}`);
    let held: string[] = [];
    await waitUntil(
      async () => {
        held = await side.holds(hostIndex, "O");
        return !held.includes(z);
      },
      30_000,
      "the deleted one gone from its server",
    ).catch(() => undefined);
    out.push(`its server holds: ${held.sort().join(",")}`);
    out.push(`the deleted one: ${said(await clusterApi<Answer>(via, `$JS.API.CONSUMER.INFO.O.${z}`))}`);
    out.push(`resume back: ${said(await clusterApi<Answer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", {}))}`);
    await waitUntil(async () => (await clusterApi<Answer>(via as NatsConnection, "$JS.API.CONSUMER.INFO.O.D1")).paused !== true, 30_000, "resumed").catch(() => undefined);
    out.push(`pull back: ${await pullOnce(via, "O", "D1")}`);
    return out;
  } finally {
    await via?.close();
    await nc.close();
  }
}

const expected = [
  "create O: ok",
  "create O.D1: ok",
  "a second one on its server: true",
  "pull: seq 1",
  "pull while its server is down: 503",
  "pause while down: ok paused=true",
  "delete the second while down: ok",
  `info back: ok paused=true until the time asked: true ack_floor=1 pending=${BIG_LAST - 1} on its server: true`,
  "its server holds: D1",
  "the deleted one: 404 10014 consumer not found",
  "resume back: ok",
  "pull back: seq 2",
];

test("a pause and a delete of single-replica consumers made while their server was down survive the stream group's log compaction, as nats-server 2.15", { timeout: 300_000 }, async (t) => {
  const saved = StreamReplica.snapshotEntries;
  StreamReplica.snapshotEntries = 20;
  const c = await JsTestCluster.start(3, "OC", { routesIncludeSelf: true });
  let mine: string[];
  try {
    const names = ["S1", "S2", "S3"];
    const streamOn = (name: string, stream: string) => c.member(name).srv !== undefined ? c.js(name).accounts.get("$G")?.streams.get(stream) : undefined;
    mine = await scenario({
      urls: names.map((n) => c.member(n).url),
      stop: (i) => c.stopMember(names[i]),
      start: (i) => c.startMember(names[i]),
      holds: async (i, stream) => [...(streamOn(names[i], stream)?.consumers.keys() ?? [])],
      compactPast: async (stream) => {
        // The log's last entry now: the leader's snapshot must come past what follows it.
        const leaderOf = (): StreamReplica | undefined => names.map((n) => streamOn(n, stream)?.replica).find((r) => r?.node.isLeader === true);
        const before = leaderOf()?.node.raftzStatus().lastIndex ?? 0;
        return () => waitUntil(() => (leaderOf()?.node.raftzStatus().firstIndex ?? 0) > before + 2, 30_000, "the stream's log compacted past the changes");
      },
    });
  } finally {
    StreamReplica.snapshotEntries = saved;
    await c.stop();
  }
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  assert.deepEqual(mine, expected);
  const ref = await startRefJsCluster(3, "OC");
  if (ref === undefined) return;
  try {
    const theirs = await scenario({
      urls: ref.urls,
      stop: (i) => ref.stopServer(i),
      start: (i) => ref.startServer(i),
      holds: async (i, stream) => {
        const j = (await (await fetch(`${ref.servers[i].monitorUrl}/jsz?accounts=true&streams=true&consumers=true`)).json()) as {
          account_details?: Array<{ stream_detail?: Array<{ name: string; consumer_detail?: Array<{ name: string }> }> }>;
        };
        return (j.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).filter((sd) => sd.name === stream).flatMap((sd) => (sd.consumer_detail ?? []).map((x) => x.name)));
      },
    });
    t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
    assert.deepEqual(mine, theirs);
  } finally {
    await ref.stop();
  }
});
