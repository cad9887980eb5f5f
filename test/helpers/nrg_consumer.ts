// What the nrg consumer leader tests share: T3's consumer group in its /jsz, a nats-server's own
// copy of a consumer's state, CONSUMER.INFO answered by the leader, and pulling messages.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type Consumer, type JsMsg } from "@nats-io/jetstream";
import { getJson, type GroupJson, type NrgCluster } from "./nrg_cluster.js";
import type { ReferenceServer } from "./nats_server.js";

export interface ConsumerGroup extends GroupJson {
  consumer_leader?: { next_stream_seq: number; next_delivery_seq: number; pending: number; counters: Record<string, number> };
  consumer_state?: { delivered: Seqs; ack_floor: Seqs; num_ack_pending: number };
}

export interface Seqs {
  consumer_seq: number;
  stream_seq: number;
}

export interface ConsumerInfoJson {
  name: string;
  delivered: Seqs;
  ack_floor: Seqs;
  num_ack_pending: number;
  num_redelivered: number;
  num_pending: number;
  num_waiting: number;
  config: Record<string, unknown>;
  cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] } & Record<string, unknown>;
  error?: unknown;
}

/** T3 leads the consumer's group with its leader half running. */
export async function leadOnT3(c: NrgCluster, nc: NatsConnection, stream: string, consumer: string): Promise<ConsumerGroup> {
  return (await c.leadOnT3(nc, stream, consumer)) as ConsumerGroup;
}

/** One nats-server's own copy of the consumer's state (its /jsz), not the leader's answer. */
export async function consumerOn(s: ReferenceServer, stream: string, consumer: string): Promise<ConsumerInfoJson | undefined> {
  const jsz = await getJson<{ account_details?: { name: string; stream_detail?: { name: string; consumer_detail?: ConsumerInfoJson[] }[] }[] }>(`${s.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`);
  return jsz.account_details
    ?.find((a) => a.name === "APP")
    ?.stream_detail?.find((d) => d.name === stream)
    ?.consumer_detail?.find((d) => d.name === consumer);
}

export async function rawInfo(nc: NatsConnection, stream: string, consumer: string): Promise<ConsumerInfoJson> {
  return (await nc.request(`$JS.API.CONSUMER.INFO.${stream}.${consumer}`, "", { timeout: 10_000 })).json();
}

/**
 * Pull `n` messages (a fetch may end early: asked again until all came). The consumer's info is
 * asked again while it is answered 10008: its group is electing a leader (after a member was
 * stopped or frozen, a nats-server answers so until one is elected).
 */
export async function pull(nc: NatsConnection, stream: string, consumer: string, n: number): Promise<JsMsg[]> {
  const deadline = Date.now() + 60_000;
  let cons: Consumer | undefined;
  while (cons === undefined) {
    try {
      cons = await jetstream(nc).consumers.get(stream, consumer);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 10008 || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const got: JsMsg[] = [];
  while (got.length < n && Date.now() < deadline) {
    const batch = await cons.fetch({ max_messages: n - got.length, expires: 5_000 });
    for await (const m of batch) got.push(m);
  }
  return got;
}
