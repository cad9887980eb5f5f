// Shared by the tests of single-replica consumers whose server is down
// (test/js_cluster_consumer_offline*.test.ts): one pull request, a second consumer placed on the
// same server as the first, and waiting until the others refuse pulls at once.
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi } from "./cluster_retry.js";
import { waitUntil } from "./server.js";

/** One pull request of one message; its status ("503", "408"...), or the sequence of the message it got (acknowledged, the ack confirmed). */
export async function pullOnce(nc: NatsConnection, stream: string, consumer: string): Promise<string> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: 1, timeout: 10_000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: 1, expires: 3_000_000_000 }), { reply: inbox });
  try {
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      if (code !== 0) return `${code}`;
      const seq = /\.(\d+)\.\d+\.\d+\.\d+$/.exec(m.reply ?? "")?.[1];
      await nc.request(m.reply ?? "", "+ACK", { timeout: 10_000 });
      return `seq ${seq}`;
    }
  } catch {
    return "no answer";
  }
  return "no answer";
}

/**
 * A second single-replica durable (Z0, Z1...) on `host`, the server of the first: placed at
 * random, those placed elsewhere are deleted. Its name ("" if none came there in 40 tries).
 */
export async function secondOnHost(nc: NatsConnection, stream: string, host: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const a = await clusterApi<{ cluster?: { leader?: string } }>(nc, `$JS.API.CONSUMER.CREATE.${stream}.Z${i}`, { stream_name: stream, config: { durable_name: `Z${i}`, ack_policy: "explicit", num_replicas: 1 } });
    if (a.cluster?.leader === host) return `Z${i}`;
    await clusterApi(nc, `$JS.API.CONSUMER.DELETE.${stream}.Z${i}`);
  }
  return "";
}

/** Once the others know the consumer's server is gone (its routes closed): a pull request refused at once ("503"), or the last answer after 30 s. */
export async function pullRefused(via: NatsConnection, stream: string, consumer: string): Promise<string> {
  let pulled = "";
  await waitUntil(
    async () => {
      pulled = await pullOnce(via, stream, consumer);
      return pulled === "503";
    },
    30_000,
    "a pull request refused",
  ).catch(() => undefined);
  return pulled;
}
