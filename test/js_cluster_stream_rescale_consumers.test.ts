// An R3 stream with consumers scaled to R1 and back to R3 before its scale-down finished, side by
// side with three nats-server 2.15 servers. nats-server 2.15.1 (infos every 5 ms) shows the stream
// "recording leadership term with meta leader" and "selecting peers to scale down to" first; only
// once its leader selected the server it keeps does the meta leader remap the consumers (those
// asking for 3 rewritten to 1, every group moving onto that server), 190 ms after the update in
// the run watched. Scaled back to R3 at once (the next request, answered 30 ms after the update;
// also 200 ms after it), the consumers were never touched: each stays R3 on its three servers. Scaled back once they were remapped, those asking for 3 stay R1
// (an R1 stream's consumers stay R1 when it grows again), those following the stream's count
// grow with it. Both runs are compared here; whatever the timing, no consumer is lost, none
// shows another delivered or ack floor sequence or pending count in its leader's answers, none
// changes before the stream's leader selected its server, each settles with the replicas its
// config asks for, and each goes on.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { asCreated, consumerState, pullSeqs, replicasSaid, seqSpan, stateAsCreated, type Json } from "./helpers/consumer_scale.js";
import { pollInfos, pushedToEach, statesOtherThan, SCALE_DOWN_KINDS as KINDS, streamFollowedBy, streamOnReplicas, touchedBeforeSelecting, type Answer } from "./helpers/stream_scale_watch.js";

const MESSAGES = 40;

/** Waits until consumer `name` of S has a leader, no desired state and as many current members as its config asks for (the stream's three for 0); its info. */
async function settledAsConfigured(nc: NatsConnection, name: string): Promise<Json> {
  let info: Json = {};
  await waitUntil(
    async () => {
      info = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${name}`).catch(() => ({}));
      const c = info.cluster ?? {};
      const others = (c.replicas ?? []) as Json[];
      const asked = info.config?.num_replicas === 0 ? 3 : info.config?.num_replicas;
      return info.error === undefined && (c.leader ?? "") !== "" && c.desired === undefined && others.length === asked - 1 && others.every((r) => r.current === true);
    },
    30_000,
    `${name} settled`,
  ).catch(() => undefined);
  return info;
}

/** Consumers asking for 3 (not following the stream's count): remapped to R1 by the stream's scale-down once it selected its server. */
const ASKING_3 = KINDS.filter((k) => !k.follows);

/**
 * `remapped`: the scale back to R3 waits until the consumers asking for 3 show R1 (the stream's
 * leader selected its server and they were remapped); else it is asked for at once.
 */
async function scenario(cluster: RefJsCluster, remapped: boolean): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const { out, si } = await streamFollowedBy(nc, KINDS, MESSAGES);
    const cfg = si.config as Json;
    const polling = pollInfos(nc, ["S", ...KINDS.map((k) => k.name)]);
    try {
      out.push(`to R1: ${replicasSaid(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 }))}`);
      if (remapped) {
        for (const k of ASKING_3) {
          let info: Json = {};
          await waitUntil(async () => (info = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`)).config?.num_replicas === 1, 30_000, `${k.name} remapped`).catch(() => undefined);
          out.push(`${k.name} remapped: R${info.config?.num_replicas}`);
        }
      }
      out.push(`to R3${remapped ? "" : " at once"}: ${replicasSaid(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 }))}`);
      const s = await streamOnReplicas(nc, 3, 30_000);
      out.push(`S settled: R${s.config?.num_replicas}, ${s.state?.messages} messages`);
      for (const k of KINDS) {
        const info = await settledAsConfigured(nc, k.name);
        const asked = info.config?.num_replicas === 0 ? 3 : info.config?.num_replicas;
        out.push(`${k.name} settled with the replicas it asks for${k.follows ? ` (R${asked})` : ""}: ${(info.cluster?.replicas ?? []).length === asked - 1}: ${consumerState(info)}`);
      }
    } finally {
      await polling.stop();
    }
    const stream = polling.seen.get("S") as Answer[];
    for (const k of KINDS) {
      const answers = polling.seen.get(k.name) as Answer[];
      const changed = statesOtherThan(answers, stateAsCreated(k, MESSAGES));
      out.push(`${k.name} state kept throughout: ${changed.length === 0}${changed.length === 0 ? "" : ` (${changed.join("; ")})`}`);
      const touched = touchedBeforeSelecting(stream, answers);
      out.push(`${k.name} untouched before the stream selected its server: ${touched.length === 0}${touched.length === 0 ? "" : ` (R${touched[0].info.config?.num_replicas})`}`);
    }
    const names = ((await clusterApi<Json>(nc, "$JS.API.CONSUMER.NAMES.S")).consumers ?? []) as string[];
    out.push(`consumers: ${[...names].sort().join(" ")}`);
    // Each goes on from its state: pulls get 11..15, a new message is pushed once to each push consumer.
    for (const k of KINDS.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: ${seqSpan(await pullSeqs(nc, "S", k.name, 5, () => true))}`);
    out.push(...(await pushedToEach(nc, KINDS, MESSAGES + 1)));
    return out;
  } finally {
    await nc.close();
  }
}

const pushes = KINDS.filter((k) => k.push !== undefined);
/** The lines of a run; `remapped`: the consumers asking for 3 were remapped to R1 before the stream went back to R3. */
const expected = (remapped: boolean): string[] => [
  ...asCreated(KINDS, MESSAGES),
  "to R1: R1",
  ...(remapped ? ASKING_3.map((k) => `${k.name} remapped: R1`) : []),
  `to R3${remapped ? "" : " at once"}: R3`,
  `S settled: R3, ${MESSAGES} messages`,
  ...KINDS.map((k) => `${k.name} settled with the replicas it asks for${k.follows ? " (R3)" : ""}: true: ${stateAsCreated(k, MESSAGES)}`),
  ...KINDS.flatMap((k) => [`${k.name} state kept throughout: true`, `${k.name} untouched before the stream selected its server: true`]),
  `consumers: ${KINDS.map((k) => k.name).sort().join(" ")}`,
  ...KINDS.filter((k) => k.push === undefined).map((k) => `${k.name} next pull: 11..15`),
  ...pushes.map((k) => `${k.name} pushes: ${MESSAGES + 1}..${MESSAGES + 1}`),
];
sideBySideTests("consumers of an R3 stream scaled to R1 and at once back to R3: none lost, none touched before the stream selected its server, each settles with the replicas it asks for, its state kept throughout, and goes on", 3, (c) => scenario(c, false), expected(false));
sideBySideTests("consumers of an R3 stream scaled to R1, then back to R3 once those asking for 3 were remapped to R1: they stay R1, those following the stream grow with it, none lost", 3, (c) => scenario(c, true), expected(true));
