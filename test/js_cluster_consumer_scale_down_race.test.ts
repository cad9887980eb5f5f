// Ephemeral consumers scaled down to one replica and back up at each point of the scale-down,
// side by side with three nats-server 2.15 servers (both run as processes from the same
// configuration files): an R3 ephemeral pull consumer (10 messages delivered, the first 5
// acknowledged) and an R3 ephemeral push consumer (40 delivered, 5 acknowledged) are scaled to R1,
// and scaled back to R3 as soon as their info shows at most 2, 1, then 0 other members (the
// scale-down just asked, one member removed, the leader alone), then once it settled as R1 (tsnats'
// `kept` entry applied: scaled up from one replica), each time settling as R3 with the same delivered and ack floor sequences and
// pending counts (a scale-up that reaches the servers between the last removal and the stream
// group's record of the one member left must not start the consumer over, nor lose it).
import { connect } from "@nats-io/transport-node";
import { clusterApi } from "./helpers/cluster_retry.js";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { expectedAfterCreate, EPHEMERAL, EXPLICIT, streamWithConsumers, replicasSaid as said, scaleConsumer as update, settled, type Json, type ScaledConsumer as Kind } from "./helpers/consumer_scale.js";

const KINDS: Kind[] = [
  { name: "E", config: { name: "E", ...EPHEMERAL, ...EXPLICIT } },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", ...EPHEMERAL, ...EXPLICIT }, push: "in.PE" },
];

const MESSAGES = 40;

/** Where the scale-down is when R3 is asked for: at most that many other members listed; settled as R1 (no desired state). */
const POINTS: Array<[number, boolean]> = [
  [2, false],
  [1, false],
  [0, false],
  [0, true],
];
const pointName = (most: number, r1: boolean): string => (r1 ? "R1 settled" : `${most} others`);

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const out = await streamWithConsumers(nc, KINDS, MESSAGES);
    for (const k of KINDS) {
      for (const [most, r1] of POINTS) {
        const down = said(await update(nc, k, 1));
        // Back up once its info lists at most `most` other members (or it is R1 already).
        await waitUntil(
          async () => {
            const info = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`).catch(() => ({}) as Json);
            return info.error === undefined && (info.cluster?.replicas ?? []).length <= most && (!r1 || info.cluster?.desired === undefined);
          },
          30_000,
          `${k.name}: at most ${most} other members${r1 ? ", settled" : ""}`,
        );
        out.push(`${k.name} R1, then R3 at ${pointName(most, r1)}: ${down}, ${said(await update(nc, k, 3))}; ${await settled(nc, k.name, 3)}`);
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

function expected(): string[] {
  return expectedAfterCreate(KINDS, MESSAGES, (k, st) => POINTS.map(([most, r1]) => `${k.name} R1, then R3 at ${pointName(most, r1)}: R1, R3; R3 others 2: ${st}`));
}

sideBySideTests("ephemerals scaled to R1 and back to R3 at each point of the scale-down keep their state", 3, scenario, expected());
