// Test helper: JetStream requests to a cluster just started or changing leaders, asked again while
// the answer is "temporarily unavailable" (503) or missing, so the steps read the same on tsnats
// and on nats-server clusters.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

export interface ClusterAnswer {
  error?: { code: number; err_code: number; description: string };
  [k: string]: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A JSON API request, repeated for up to 30 s while the cluster answers 503 or not at all. */
export async function clusterApi<T extends ClusterAnswer = ClusterAnswer>(nc: NatsConnection, subject: string, body?: unknown): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const a = JSON.parse((await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: 5000 })).string()) as T;
      if (a.error?.code !== 503 || Date.now() > deadline) return a;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}

/** A publish (its data doubles as Nats-Msg-Id) acknowledged by the stream, retried while its group elects a leader; the stream sequence. */
export async function clusterPublish(nc: NatsConnection, subject: string, data: string): Promise<number> {
  const js = jetstream(nc, { timeout: 5000 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return (await js.publish(subject, data, { msgID: data })).seq;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** A stream create, asked again while a cluster just started does not know all its servers yet ("no suitable peers", 10005). */
export async function createStreamWhenPlaced<T extends ClusterAnswer = ClusterAnswer>(nc: NatsConnection, cfg: { name: string } & Record<string, unknown>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const a = await clusterApi<T>(nc, `$JS.API.STREAM.CREATE.${cfg.name}`, cfg);
    if (a.error?.err_code !== 10005 || Date.now() > deadline) return a;
    await sleep(250);
  }
}

/** A JetStream client call (nats.js' JetStreamManager...), made again for up to 30 s while it fails with 503 (10008: no leader yet) or times out. */
export async function clusterRetry<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const e = err as { code?: unknown; name?: string; message?: string };
      const transient = e.code === 503 || e.code === "503" || e.code === 10008 || e.name === "TimeoutError" || /timeout|temporarily unavailable/i.test(e.message ?? "");
      if (!transient || Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}
