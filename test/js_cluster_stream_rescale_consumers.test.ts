// An R3 stream with consumers scaled to R1 and at once back to R3 (its scale-down not finished),
// side by side with three nats-server 2.15 servers. Checked live on nats-server 2.15.1 (infos
// every 5 ms): the stream shows "selecting peers to scale down to" and "waiting for peer set to
// settle", then settles as R3 on its three servers; no consumer is lost, none shows another
// delivered or ack floor sequence or pending count in its leader's answers, and each goes on.
// What is compared is what holds whatever the timing: every consumer settles with the replicas
// its config asks for (those following the stream's count as R3), its state kept throughout.
// (Left apart: nats-server rewrites a consumer asking for 3 to 1 only once the scale-down selected
// its peers, so a scale-up that comes first leaves it R3; tsnats rewrites it with the update.)
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { asCreated, consumerState, pullSeqs, replicasSaid, seqSpan, stateAsCreated, type Json } from "./helpers/consumer_scale.js";
import { pollInfos, pushedToEach, statesOtherThan, SCALE_DOWN_KINDS as KINDS, streamFollowedBy, streamOnReplicas, type Answer } from "./helpers/stream_scale_watch.js";

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

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const { out, si } = await streamFollowedBy(nc, KINDS, MESSAGES);
    const cfg = si.config as Json;
    const polling = pollInfos(nc, KINDS.map((k) => k.name));
    try {
      out.push(`to R1: ${replicasSaid(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 }))}`);
      out.push(`to R3 at once: ${replicasSaid(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 }))}`);
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
    for (const k of KINDS) {
      const answers = polling.seen.get(k.name) as Answer[];
      const changed = statesOtherThan(answers, stateAsCreated(k, MESSAGES));
      out.push(`${k.name} state kept throughout: ${changed.length === 0}${changed.length === 0 ? "" : ` (${changed.join("; ")})`}`);
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
sideBySideTests("consumers of an R3 stream scaled to R1 and at once back to R3: none lost, each settles with the replicas it asks for, its state kept throughout, and goes on", 3, scenario, [
  ...asCreated(KINDS, MESSAGES),
  "to R1: R1",
  "to R3 at once: R3",
  `S settled: R3, ${MESSAGES} messages`,
  ...KINDS.map((k) => `${k.name} settled with the replicas it asks for${k.follows ? " (R3)" : ""}: true: ${stateAsCreated(k, MESSAGES)}`),
  ...KINDS.map((k) => `${k.name} state kept throughout: true`),
  `consumers: ${KINDS.map((k) => k.name).sort().join(" ")}`,
  ...KINDS.filter((k) => k.push === undefined).map((k) => `${k.name} next pull: 11..15`),
  ...pushes.map((k) => `${k.name} pushes: ${MESSAGES + 1}..${MESSAGES + 1}`),
]);
