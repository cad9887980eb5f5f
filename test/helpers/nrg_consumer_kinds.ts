// Helpers of the side-by-side tests of the consumer kinds a tsnats server leads in a nats-server
// 2.15 cluster (nrg_consumer_leader_kinds, nrg_consumer_leader_priority).
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConsumerConfig, JetStreamManager } from "@nats-io/jetstream";
import { retry } from "./server.js";
import { waitUntil } from "./js_cluster_move.js";
import { rawInfo, type ConsumerInfoJson } from "./nrg_consumer.js";

/** Create a consumer again until its group's first leader is T3 (`t3`) or a nats-server (not). */
export async function createLedBy(jsm: JetStreamManager, nc: NatsConnection, stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }, t3: boolean): Promise<void> {
  let leader: string | undefined;
  await waitUntil(
    async () => {
      await retry(() => jsm.consumers.add(stream, cfg), 90_000);
      let info: ConsumerInfoJson | undefined;
      await waitUntil(async () => (leader = (info = await rawInfo(nc, stream, cfg.durable_name).catch(() => undefined))?.cluster?.leader) !== undefined && leader !== "", 60_000, `${cfg.durable_name} has a leader`, () => JSON.stringify(info));
      if ((leader === "T3") === t3) return true;
      // (A delete whose answer was lost and that is asked again finds nothing.)
      await retry(() => jsm.consumers.delete(stream, cfg.durable_name).catch((e: unknown) => String(e).includes("consumer not found") || Promise.reject(e)), 60_000);
      await waitUntil(async () => (await rawInfo(nc, stream, cfg.durable_name).catch(() => undefined))?.error !== undefined, 60_000, `${cfg.durable_name} removed`);
      return false;
    },
    300_000,
    `${cfg.durable_name} led by ${t3 ? "T3" : "a nats-server"} from its creation`,
    () => String(leader),
  );
}

/** What both leaders must answer alike. */
export function infoState(i: ConsumerInfoJson): unknown {
  const seqs = (s: { consumer_seq: number; stream_seq: number }): number[] => [s.consumer_seq, s.stream_seq];
  return { delivered: seqs(i.delivered), ack_floor: seqs(i.ack_floor), num_ack_pending: i.num_ack_pending, num_pending: i.num_pending, num_redelivered: i.num_redelivered };
}

export async function sameInfo(nc: NatsConnection, stream: string, t: string, n: string, what: string): Promise<ConsumerInfoJson> {
  let a: ConsumerInfoJson | undefined;
  let b: ConsumerInfoJson | undefined;
  await waitUntil(
    async () => {
      a = await rawInfo(nc, stream, t);
      b = await rawInfo(nc, stream, n);
      return a.cluster?.leader === "T3" && JSON.stringify(infoState(a)) === JSON.stringify(infoState(b));
    },
    30_000,
    what,
    () => JSON.stringify({ t3: a === undefined ? a : infoState(a), nats: b === undefined ? b : infoState(b), leader: a?.cluster?.leader }),
  );
  return a as ConsumerInfoJson;
}
