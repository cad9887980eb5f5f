// Shared by the stream-move tests (test/js_cluster_move*.test.ts): the zones of their five tagged
// servers, the stream info shape they read (cluster.desired during a move) and a poll that
// accepts async conditions and says what it last saw when it gives up.
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { JsTestCluster } from "./js_cluster.js";
import { clusterApi, type ClusterAnswer } from "./cluster_retry.js";

/** Poll a condition (sync or not) until it holds. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, seen?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen !== undefined ? `; last seen: ${seen()}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Zone a: S1, S2; zone b: S3, S4; S5 has no zone.
export const TAGS: Record<string, string[]> = { S1: ["zone:a"], S2: ["zone:a"], S3: ["zone:b"], S4: ["zone:b"], S5: [] };

export interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; pending?: boolean }>;
  desired?: { name: string; replicas: Array<{ name: string; peer: string }>; origin: { replicas: number; placement?: unknown }; status?: unknown };
}

export type Info = ClusterAnswer & { cluster?: ClusterInfo; config?: { placement?: unknown }; state?: { messages: number; last_seq: number } };

/** The servers holding the stream, as its info reports them (leader first). */
export function serversOf(ci: ClusterInfo | undefined): string[] {
  return ci === undefined ? [] : [ci.leader ?? "", ...(ci.replicas ?? []).map((r) => r.name)];
}

/** Wait for the cluster's meta leader, then connect a client that knows all its servers. */
export async function connectWhenLed(c: JsTestCluster, options: ConnectionOptions = {}): Promise<NatsConnection> {
  await c.metaLeader(60_000);
  return connect({ servers: c.members.map((m) => m.url), timeout: 20_000, ...options });
}

/** Poll the stream's info until no move is under way and it is on exactly `servers` holding `messages`. */
export async function waitForPlacement(nc: NatsConnection, stream: string, servers: string[], messages: number, timeoutMs: number, what: string): Promise<void> {
  const wanted = JSON.stringify([...servers].sort());
  let last: Info | undefined;
  await waitUntil(
    async () => {
      last = await clusterApi<Info>(nc, `$JS.API.STREAM.INFO.${stream}`).catch(() => undefined);
      return last?.cluster?.desired === undefined && JSON.stringify(serversOf(last?.cluster).sort()) === wanted && last?.state?.messages === messages;
    },
    timeoutMs,
    what,
    () => JSON.stringify(last?.cluster),
  );
}
