// What pull requests waiting on a replicated consumer see when its leadership moves, the same steps
// on five tagged tsnats servers and five nats-server 2.15: CONSUMER.LEADER.STEPDOWN answers a
// waiting pull `409 Leadership Change` (no Nats-Pending-* headers); a stream move that leaves the
// consumer's leader answers a waiting pull nothing at all (no `409 Consumer Deleted`: the consumer
// lives on), advises no consumer or stream deletion, and the consumer goes on from its ack floor
// on the servers it moved to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { infoWithLeader, sleep, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { TAGS, waitUntil } from "./helpers/js_cluster_move.js";

interface StreamInfo extends Info {
  cluster?: { leader?: string; replicas?: Array<{ name: string }>; desired?: unknown };
  state?: { messages: number };
}

/** What a pull request's inbox received: a status line (code and description, then header names) or a message's sequence. */
function describe(m: Msg): string {
  if (m.headers !== undefined && m.headers.code > 0) return `${m.headers.code} ${m.headers.description}${[...m.headers.keys()].map((k) => ` ${k}`).join("")}`;
  return `msg ${m.subject}`;
}

/** A pull request (batch 1) that waits up to `expiresMs`; what its inbox receives. */
function waitingPull(nc: NatsConnection, expiresMs: number): { got: string[]; stop: () => void } {
  const got: string[] = [];
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      got.push(describe(m));
    },
  });
  nc.publish("$JS.API.CONSUMER.MSG.NEXT.H.D", JSON.stringify({ batch: 1, expires: expiresMs * 1_000_000 }), { reply: inbox });
  return { got, stop: () => sub.unsubscribe() };
}

async function waitingShown(nc: NatsConnection, n: number): Promise<void> {
  await waitUntil(async () => (await clusterApi<Info>(nc, "$JS.API.CONSUMER.INFO.H.D")).num_waiting === n, 30_000, `num_waiting ${n}`);
}

/** One pull request (batch 1, expires 2 s) as clients send it (publish with a reply inbox): its first answer, or undefined. */
async function pullOne(nc: NatsConnection): Promise<Msg | undefined> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: 1, timeout: 5_000 });
  nc.publish("$JS.API.CONSUMER.MSG.NEXT.H.D", JSON.stringify({ batch: 1, expires: 2_000_000_000 }), { reply: inbox });
  try {
    for await (const m of sub) return m;
  } catch {
    // no answer in time
  }
  return undefined;
}

/** Pulls one message at a time until `n` came, each acknowledged with a confirmed ack; their stream sequences. */
async function nextAcked(nc: NatsConnection, n: number): Promise<number[]> {
  const seqs: number[] = [];
  await waitUntil(
    async () => {
      const m = await pullOne(nc);
      if (m === undefined || !describe(m).startsWith("msg")) return false;
      const seq = Number(m.reply?.split(".")[5]);
      if (!(await nc.request(m.reply ?? "", "+ACK", { timeout: 5_000 }).then(() => true, () => false))) return false;
      seqs.push(seq);
      return seqs.length === n;
    },
    60_000,
    `${n} message(s) read and acknowledged`,
  );
  return seqs;
}

interface Observed {
  stepdownStatuses: string[];
  moveStatuses: string[];
  deleteAdvisories: string[];
  afterMove: number[];
  ackFloor: number;
}

/** `names`: the servers in TAGS order (zone a, zone a, zone b, zone b, none). */
async function scenario(urls: string[], names: string[]): Promise<Observed> {
  const nc = await connect({ servers: urls });
  try {
    const zoneA = names.slice(0, 2);
    const zoneB = names.slice(2, 4);
    const cfg = { name: "H", subjects: ["h.>"], num_replicas: 2, placement: { tags: ["zone:a"] } };
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.H", cfg);
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "h.x", `m${i}`);
    const d = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.H.D", { stream_name: "H", config: { durable_name: "D", ack_policy: "explicit", ack_wait: 30_000_000_000 } });
    assert.equal(d.error, undefined, JSON.stringify(d.error));
    // Everything read and acknowledged (confirmed): the pulls below wait. (A pull sent while the
    // new consumer's leader is being chosen may go unanswered: asked again.)
    await infoWithLeader(nc, "H", "D");
    await nextAcked(nc, 5);

    // CONSUMER.LEADER.STEPDOWN (to the other zone a server): the waiting pull learns it.
    const before = (await infoWithLeader(nc, "H", "D")).cluster?.leader ?? "";
    assert.ok(zoneA.includes(before), `D led from zone a (${before})`);
    const first = waitingPull(nc, 60_000);
    await waitingShown(nc, 1);
    const sd = await clusterApi<Info>(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.H.D", { placement: { preferred: zoneA.find((n) => n !== before) } });
    assert.equal(sd.error, undefined, JSON.stringify(sd.error));
    await waitUntil(() => first.got.length > 0, 30_000, "the stepdown's status to the waiting pull");
    const stepdownStatuses = [...first.got];
    first.stop();
    await infoWithLeader(nc, "H", "D", before);

    // The stream moves to zone b: the waiting pull is left unanswered, nothing says "deleted".
    const advisories: string[] = [];
    const adv = nc.subscribe("$JS.EVENT.ADVISORY.>", {
      callback: (_e, m) => {
        advisories.push(m.subject);
      },
    });
    const second = waitingPull(nc, 120_000);
    await waitingShown(nc, 1);
    const mv = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.H", { ...cfg, placement: { tags: ["zone:b"] } });
    assert.equal(mv.error, undefined, JSON.stringify(mv.error));
    let last: StreamInfo | undefined;
    await waitUntil(
      async () => {
        last = await clusterApi<StreamInfo>(nc, "$JS.API.STREAM.INFO.H");
        const servers = [last.cluster?.leader ?? "", ...(last.cluster?.replicas ?? []).map((r) => r.name)].sort();
        return last.cluster?.desired === undefined && JSON.stringify(servers) === JSON.stringify([...zoneB].sort()) && last.state?.messages === 5;
      },
      120_000,
      "H on zone b",
      () => JSON.stringify(last?.cluster),
    );
    await waitUntil(async () => zoneB.includes((await infoWithLeader(nc, "H", "D")).cluster?.leader ?? ""), 60_000, "D led from zone b");
    // A new message reaches a new pull on the new leader (the old pull's copy is gone).
    await clusterPublish(nc, "h.x", "m6");
    const afterMove = await nextAcked(nc, 1);
    const ackFloor = (await clusterApi<Info>(nc, "$JS.API.CONSUMER.INFO.H.D")).ack_floor?.stream_seq ?? -1;
    // The copies left behind are gone by now on both (the move ended before its new leader led D).
    await sleep(500);
    adv.unsubscribe();
    second.stop();
    return {
      stepdownStatuses,
      moveStatuses: second.got,
      deleteAdvisories: advisories.filter((a) => a.includes(".DELETED.")),
      afterMove,
      ackFloor,
    };
  } finally {
    await nc.close();
  }
}

test("a waiting pull gets 409 Leadership Change on a consumer stepdown, and nothing (no 409 Consumer Deleted, no delete advisory) when a stream move leaves the consumer's leader, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(5, "HANDOVER", { serverTags: TAGS });
  let ours: Observed;
  try {
    await c.metaLeader(60_000);
    ours = await scenario(
      c.members.map((m) => m.url),
      c.members.map((m) => m.name),
    );
    // Every copy left behind is removed.
    for (const s of ["S1", "S2"]) await waitUntil(() => c.js(s).accounts.get("$G")?.streams.has("H") === false, 30_000, `${s} to drop H`);
  } finally {
    await c.stop();
  }
  assert.deepEqual(ours.stepdownStatuses, ["409 Leadership Change"]);
  assert.deepEqual(ours.moveStatuses, []);
  assert.deepEqual(ours.deleteAdvisories, []);
  assert.deepEqual(ours.afterMove, [6]);
  assert.equal(ours.ackFloor, 6);
  const ref = await startRefJsCluster(5, "REF", { serverTags: Object.values(TAGS) });
  if (ref === undefined) return;
  let theirs: Observed;
  try {
    theirs = await scenario(
      ref.urls,
      ref.urls.map((_u, i) => `N${i + 1}`),
    );
  } finally {
    await ref.stop();
  }
  assert.deepEqual(ours, theirs);
});
