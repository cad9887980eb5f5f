// Consumers scaled down to one replica and up again keep every acknowledged state, side by side
// with three nats-server 2.15 servers (both run as processes from the same configuration files).
// nats-server 2.15 scales a consumer's group down one member at a time (its leader removes the
// others, then the meta group records the consumer's one server); tsnats does the same, and the
// member left alone keeps the consumer through a `kept` entry of the stream's group. Four kinds:
// durable and ephemeral, pull and push, each with 10 (pull) or 40 (push) messages delivered and
// the first 5 acknowledged; then, for each, R3 -> R2 -> R1 -> R3 asked at once (each scale
// replaces the one under way), R1 with its leader stepping down while its group shrinks, and
// R3 again. After each, the consumer settles (a leader, no desired state, the members asked for
// all current) with the same delivered and ack floor sequences and the same pending counts.
import { connect } from "@nats-io/transport-node";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { asCreated, EPHEMERAL, EXPLICIT, streamWithConsumers, replicasSaid as said, scaleConsumer as update, settled, stateAsCreated, type ScaledConsumer as Kind } from "./helpers/consumer_scale.js";

const KINDS: Kind[] = [
  { name: "D", config: { durable_name: "D", ...EXPLICIT } },
  { name: "E", config: { name: "E", ...EPHEMERAL, ...EXPLICIT } },
  { name: "PD", config: { durable_name: "PD", deliver_subject: "in.PD", ...EXPLICIT }, push: "in.PD" },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", ...EPHEMERAL, ...EXPLICIT }, push: "in.PE" },
];

const MESSAGES = 40;

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const out = await streamWithConsumers(nc, KINDS, MESSAGES);
    for (const k of KINDS) {
      const answers = [];
      for (const r of [2, 1, 3]) answers.push(said(await update(nc, k, r)));
      out.push(`${k.name} R2, R1, R3 at once: ${answers.join(", ")}; ${await settled(nc, k.name, 3)}`);
    }
    for (const k of KINDS) {
      const answer = said(await update(nc, k, 1));
      // Its leader steps down while its group shrinks (once it is alone, there is nobody to hand it to).
      await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.S.${k.name}`, "", { timeout: 5000 }).catch(() => undefined);
      out.push(`${k.name} R1, its leader stepping down: ${answer}; ${await settled(nc, k.name, 1)}`);
      out.push(`${k.name} R3 again: ${said(await update(nc, k, 3))}; ${await settled(nc, k.name, 3)}`);
    }
    return out;
  } finally {
    await nc.close();
  }
}

function expected(): string[] {
  const out = asCreated(KINDS, MESSAGES);
  const st = (k: Kind): string => stateAsCreated(k, MESSAGES);
  for (const k of KINDS) out.push(`${k.name} R2, R1, R3 at once: R2, R1, R3; R3 others 2: ${st(k)}`);
  for (const k of KINDS) {
    out.push(`${k.name} R1, its leader stepping down: R1; R1 others 0: ${st(k)}`);
    out.push(`${k.name} R3 again: R3; R3 others 2: ${st(k)}`);
  }
  return out;
}

sideBySideTests("consumers scaled R3 -> R2 -> R1 -> R3 at once, then to R1 with a leader change and back, keep their state", 3, scenario, expected());
