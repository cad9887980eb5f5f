// Scaling a stream through the meta leader, side by side: the same R3 -> R1 -> R3 updates of a
// stream led by a nats-server, first through a nats-server 2.15 meta leader, then through T3
// (nrg_peer_meta_lead). nats-server 2.15.1 scales through desired state: the meta leader
// proposes the update with `group.desired` (the target peers, the origin), the stream's leader
// drives the membership changes and asks the meta leader for each next step on
// `$SYS.JSC.STREAM.ASSIGNMENT.RECONCILE`, the meta leader proposes each step until the group is
// at its target and the desired state is cleared. The meta entries each meta leader proposed
// are captured (the system account's `$NRG.AE._meta_`) and compared step by step; at the end
// every member holds the stream's messages. A stream T3 leads is handed to a nats-server first,
// which drives the change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { NrgCluster, streamStateOn, type StreamState } from "./helpers/nrg_cluster.js";
import { onMetaEntries } from "./helpers/nrg_meta_capture.js";

type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Answer> {
  const m = await nc.request(subject, body === "" ? "" : JSON.stringify(body), { timeout: 10_000 });
  return m.json();
}

/** One stream entry of the meta log, reduced to what does not change from run to run (peer ids as letters in order of appearance, no ids or times). */
interface Step {
  op: string;
  /** The consumer's name for a consumer's assignment. */
  consumer?: string;
  /** The group name's kind and size (`S-R3F`): a one-server group is renamed. */
  name: string;
  peers: number;
  replicas: unknown;
  scaleUp?: boolean;
  desired?: { peers: number; term: boolean; scaleDown?: boolean; /** A one-server group's member preferred (the others' preference varies: nats-server keeps the one of the create or not). */ preferred?: boolean; members: number; origin?: unknown; keys: string[] };
}

/** The meta group's entries for one stream, as the leader's appends carry them (each index once), and the reconcile requests its leader sent. */
function captureMeta(sys: NatsConnection, stream: string): { steps: Step[]; reconciles: string[]; raw: string[] } {
  const steps: Step[] = [];
  const reconciles: string[] = [];
  const raw: string[] = [];
  onMetaEntries(sys, (entry) => {
    let consumer: string | undefined;
    if (entry.op === "assignConsumer" || entry.op === "removeConsumer") {
      if (entry.assignment.stream !== stream) return;
      consumer = entry.assignment.name;
    } else if ((entry.op !== "updateStream" && entry.op !== "assignStream") || entry.assignment.config.name !== stream) return;
    const g = entry.assignment.group;
    const replicas = "num_replicas" in entry.assignment.config ? entry.assignment.config.num_replicas : undefined;
    const d = g.desired as { peers: string[]; term?: number; scale_down?: boolean; preferred?: string; members?: string[]; origin?: { peers: string[]; replicas: number } } | undefined;
    steps.push({
      op: entry.op,
      ...(consumer !== undefined ? { consumer } : {}),
      name: g.name.slice(0, 5),
      peers: g.peers.length,
      replicas,
      ...(g.scale_up === true ? { scaleUp: true } : {}),

      ...(d !== undefined
        ? { desired: { peers: d.peers.length, term: d.term !== undefined, ...(d.scale_down ? { scaleDown: true } : {}), ...(d.preferred !== undefined && d.origin?.peers.length === 1 ? { preferred: d.preferred === d.origin.peers[0] } : {}), members: d.members?.length ?? -1, origin: d.origin === undefined ? undefined : { peers: d.origin.peers.length, replicas: d.origin.replicas }, keys: Object.keys(d).filter((k) => k !== "preferred").sort() } }
        : {}),
    });
  });
  sys.subscribe("$SYS.JSC.*.ASSIGNMENT.RECONCILE", {
    callback: (_e, m) => {
      const r = m.json<Record<string, unknown>>();
      if (r.stream !== stream) return;
      reconciles.push(`${m.subject.split(".")[2]}: ${Object.keys(r).sort().join(",")}`);
      raw.push(JSON.stringify(r));
    },
  });
  return { steps, reconciles, raw };
}

/** Each server's own copy of the stream (undefined where it holds none). */
async function copies(cluster: NrgCluster, stream: string): Promise<(StreamState | undefined)[]> {
  return Promise.all(cluster.live().map((s) => streamStateOn(s, stream)));
}

/**
 * Scale `stream` to `replicas` through whoever leads the meta group; until its info shows that
 * many replicas and no desired state and, when its meta entries are captured, the stream's last
 * has no desired state either: the leader's info drops its desired state before the meta
 * leader's last step commits.
 */
async function scale(nc: NatsConnection, stream: string, replicas: number, captured?: { steps: Step[]; raw: string[] }): Promise<Answer> {
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  const updated = await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, { ...(info.config as object), num_replicas: replicas });
  assert.equal(updated.error, undefined, JSON.stringify(updated));
  let now: Answer = {};
  let convergedAt: number | undefined;
  let nudged = false;
  await waitUntil(
    async () => {
      // The info is the stream leader's: none answers while a leadership changes hands.
      now = await api(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => ({}));
      const c = now.cluster as { replicas?: unknown[]; desired?: unknown } | undefined;
      if (c === undefined || c.desired !== undefined || (c.replicas ?? []).length !== replicas - 1) return false;
      // The stream's desired state is cleared last, once its consumers' are.
      const last = captured?.steps.filter((x) => x.consumer === undefined).at(-1);
      if (captured === undefined || (last?.desired === undefined && last?.peers === replicas)) return true;
      // A 2.15.1 stream leader whose consumers converged after its last request sometimes asks
      // no more (seen under both meta leaders, 2 runs in 8): an update of the same config makes
      // it look again. Its entry differs from the one before only by its id (folded away).
      convergedAt ??= Date.now();
      if (!nudged && Date.now() - convergedAt > 10_000) {
        nudged = true;
        await api(nc, `$JS.API.STREAM.UPDATE.${stream}`, now.config);
      }
      return false;
    },
    60_000,
    `${stream} is at R${replicas}`,
    () => JSON.stringify({ cluster: now.cluster, steps: captured?.steps.slice(-3), reconciles: captured?.raw.slice(-6) }),
  );
  return now;
}

/**
 * The steps without a step that only names more members (the leader reports a new member caught
 * up before the group is done, or not, as timing has it), and the reconcile
 * requests with repeats folded.
 */
function folded(c: { steps: Step[]; reconciles: string[] }): { steps: Step[]; reconciles: string[] } {
  const steps: Step[] = [];
  for (const s of c.steps) {
    const prev = steps[steps.length - 1];
    const strip = (x: Step): string => JSON.stringify({ ...x, desired: x.desired === undefined ? undefined : { ...x.desired, members: 0 } });
    if (prev === undefined || s.desired === undefined || strip(prev) !== strip(s)) steps.push(s);
  }
  return { steps, reconciles: c.reconciles.filter((r, i) => r !== c.reconciles[i - 1]) };
}

/** R3 -> R1 -> R3 of a stream led by N1, through whoever leads the meta group; what its meta entries were; every copy checked at each end. */
async function scaleDownAndUp(cluster: NrgCluster, nc: NatsConnection, sys: NatsConnection, stream: string, consumers = false): Promise<{ steps: Step[]; reconciles: string[] }> {
  const captured = captureMeta(sys, stream);
  await sys.flush();
  const lower = stream.toLowerCase();
  await retry(() => api(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${lower}.>`], num_replicas: 3 }).then((a) => (a.error === undefined ? a : Promise.reject(new Error(JSON.stringify(a.error))))), 60_000);
  const js = jetstream(nc);
  // The first publish waits for the stream's leader to take its subjects (a 503 once with T3 as meta leader: the create answered before any leader listened, left open).
  await retry(() => js.publish(`${lower}.1`, "m1"), 20_000);
  for (let i = 2; i <= 5; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  if (consumers) {
    // Durables as replicated as their stream (an R1 one a nats-server meta leader may place on T3 alone, and T3 does not drive a scale of an R1 asset it holds).
    for (const [name, replicas] of [["D", 0], ["E", 0]] as const) {
      const created = await api(nc, `$JS.API.CONSUMER.CREATE.${stream}.${name}`, { stream_name: stream, config: { durable_name: name, ack_policy: "explicit", num_replicas: replicas } });
      assert.equal(created.error, undefined, JSON.stringify(created));
    }
  }
  await cluster.leadOn(nc, "N1", stream);
  const one = await scale(nc, stream, 1, captured);
  assert.equal((one.cluster as { leader?: string }).leader, "N1", "N1, the stream's leader, keeps it");
  await waitUntil(async () => (await copies(cluster, stream))[1] === undefined && (await cluster.group(stream)) === undefined, 30_000, `only N1 holds ${stream}`);
  for (let i = 6; i <= 8; i++) await js.publish(`${lower}.${i}`, `m${i}`);
  await scale(nc, stream, 3, captured);
  await cluster.sameOnAll(stream, (st) => st.messages === 8 && st.first_seq === 1 && st.last_seq === 8, `N1, N2 and T3 hold ${stream}'s 8 messages`);
  return captured;
}

/** The cluster up, an APP client of N1 and a system account one, placement knowing every server (a first stream placed on three). */
async function opened(cluster: NrgCluster): Promise<{ nc1: NatsConnection; sys: NatsConnection }> {
  const { n1, nc1, jsm } = await cluster.upWithClients();
  const sys = await connect({ servers: `127.0.0.1:${n1.port}`, user: "sys", pass: "sys" });
  cluster.conns.push(sys);
  // The meta group's first leader is a nats-server; its placement knows every server once this is placed.
  await retry(() => jsm.streams.add({ name: "WARM", subjects: ["warm.>"], num_replicas: 3 }), 60_000);
  return { nc1, sys };
}

test("a stream scaled R3 -> R1 -> R3 through T3 as meta leader goes through the steps a nats-server meta leader takes, its data on every member", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { nc1, sys } = await opened(cluster);
    const byNats = await scaleDownAndUp(cluster, nc1, sys, "SN");
    t.diagnostic(`through the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await scaleDownAndUp(cluster, nc1, sys, "ST");
    t.diagnostic(`through T3: ${JSON.stringify(byT3)}`);
    assert.deepEqual(folded(byT3).steps, folded(byNats).steps, "T3 proposes the steps the nats-server meta leader proposed");
    assert.deepEqual(folded(byT3).reconciles, folded(byNats).reconciles, "N1 asks T3 for the same steps");
    for (const stream of ["SN", "ST"]) for (const s of cluster.live()) assert.equal((await streamStateOn(s, stream))?.messages, 8);

    // A stream T3 leads is handed to a nats-server, which drives its scale-down (T3 runs no desired state as a stream leader).
    assert.equal((await api(nc1, "$JS.API.STREAM.CREATE.TL", { name: "TL", subjects: ["tl.>"], num_replicas: 3 })).error, undefined);
    const js = jetstream(nc1);
    for (let i = 1; i <= 3; i++) await js.publish(`tl.${i}`, `m${i}`);
    await cluster.leadOnT3(nc1, "TL");
    const one = await scale(nc1, "TL", 1);
    const kept = (one.cluster as { leader?: string }).leader;
    assert.ok(kept === "N1" || kept === "N2", `a nats-server keeps TL: ${kept}`);
    assert.equal((one.state as { messages: number }).messages, 3);
    await waitUntil(async () => (await cluster.group("TL")) === undefined, 30_000, "T3 no longer holds TL");
  } finally {
    await cluster.stop();
  }
});

test("a stream with consumers scaled R3 -> R1 -> R3 through T3 as meta leader: its consumers follow as they follow a nats-server meta leader's steps", { skip: referenceMissing(), timeout: 110_000 }, async (t) => {
  const cluster = await NrgCluster.create(true, true, undefined, true);
  try {
    const { nc1, sys } = await opened(cluster);
    const byNats = await scaleDownAndUp(cluster, nc1, sys, "CN", true);
    t.diagnostic(`through the nats-server meta leader: ${JSON.stringify(byNats)}`);
    await cluster.metaLeadOnT3();
    const byT3 = await scaleDownAndUp(cluster, nc1, sys, "CT", true);
    t.diagnostic(`through T3: ${JSON.stringify(byT3)}`);
    // Each group's steps in order (the consumers' interleave as their leaders ask).
    for (const who of [undefined, "D", "E"]) {
      // Where each desired state starts and where it ends (its leader reports members as they catch up, a step each or not).
      const of = (c: { steps: Step[]; reconciles: string[] }): Step[] => c.steps.filter((x) => x.consumer === who && (x.desired === undefined || !x.desired.term));
      // A consumer's own end at R1 went missing from the capture once (1 run in 8, the remap to R3 right behind it): its starts and its last step then.
      const starts = (c: { steps: Step[]; reconciles: string[] }): Step[] => [...of(c).filter((x) => x.desired !== undefined), ...of(c).slice(-1)];
      if (who === undefined) assert.deepEqual(of(byT3), of(byNats), "the stream: T3 proposes the steps the nats-server meta leader proposed");
      else assert.deepEqual(starts(byT3), starts(byNats), `${who}: T3 starts and ends the consumer's desired states as the nats-server meta leader`);
    }
    // Each consumer on the stream's servers, with its state, as the stream's.
    for (const stream of ["CN", "CT"]) {
      for (const c of ["D", "E"]) {
        const info = await api(nc1, `$JS.API.CONSUMER.INFO.${stream}.${c}`);
        assert.equal((info.cluster as { replicas?: unknown[] }).replicas?.length, 2, JSON.stringify(info.cluster));
        assert.equal(info.num_pending, 8, JSON.stringify(info));
      }
    }
  } finally {
    await cluster.stop();
  }
});
