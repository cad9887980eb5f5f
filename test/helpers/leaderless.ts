// Test helper: what a server left without the other members of a RAFT group answers (the meta
// group's or a stream's), the same steps on tsnats and nats-server 2.15 clusters of processes.
import type { NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./cluster_retry.js";
import { sleep } from "./js_cluster_consumer_groups.js";

export interface LeaderlessAnswer {
  error?: { code: number; err_code: number; description: string };
  state?: { messages?: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current?: boolean; offline?: boolean }> };
  [k: string]: unknown;
}

/**
 * One request, answered within 5 s or not at all ("no answer"): a server that holds a request
 * until its wait for a leader ends (10 s) gives none.
 */
export async function ask(nc: NatsConnection, subject: string, body?: unknown): Promise<LeaderlessAnswer | "no answer"> {
  try {
    return JSON.parse((await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: 5000 })).string()) as LeaderlessAnswer;
  } catch {
    return "no answer";
  }
}

/** The answer once `done` holds for it (asked every 250 ms), or the last one after `withinMs`. */
export async function askUntil(nc: NatsConnection, subject: string, body: unknown, done: (a: LeaderlessAnswer) => boolean, withinMs: number): Promise<LeaderlessAnswer | "no answer"> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const a = await ask(nc, subject, body);
    if ((a !== "no answer" && done(a)) || Date.now() > deadline) return a;
    await sleep(250);
  }
}

/** An answer as compared: its error's code, or what a stream info says of its group and copy. */
export function shape(a: LeaderlessAnswer | "no answer"): string {
  if (a === "no answer") return a;
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code} ${a.error.description}`;
  const c = a.cluster ?? {};
  const replicas = [...(c.replicas ?? [])].sort((x, y) => x.name.localeCompare(y.name)).map((r) => `${r.name}${r.current === true ? " current" : ""}${r.offline === true ? " offline" : ""}`);
  return `leader ${c.leader ?? "none"}; replicas ${replicas.join(", ")}; ${a.state?.messages ?? 0} messages`;
}

/** The stream info shows no leader and no other member current (a member answering from its copy). */
export const fromOwnCopy = (self: string) => (a: LeaderlessAnswer): boolean =>
  a.error === undefined && a.cluster?.leader === undefined && (a.cluster?.replicas ?? []).every((r) => (r.name === self) === (r.current === true));

/**
 * Stream `name` (`replicas` servers, subjects `<name>.>`) with two messages and a durable `C`,
 * once every member has both (its leader reports them all current); its members, leader first.
 */
export async function streamWithDurable(nc: NatsConnection, name: string, replicas: number): Promise<string[]> {
  await createStreamWhenPlaced(nc, { name, subjects: [`${name}.>`], num_replicas: replicas });
  for (const m of ["m1", "m2"]) await clusterPublish(nc, `${name}.x`, m);
  await clusterApi(nc, `$JS.API.CONSUMER.CREATE.${name}.C`, { stream_name: name, config: { durable_name: "C", ack_policy: "explicit" } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const a = await clusterApi<LeaderlessAnswer>(nc, `$JS.API.STREAM.INFO.${name}`);
    const others = a.cluster?.replicas ?? [];
    if (a.cluster?.leader !== undefined && others.length === replicas - 1 && others.every((r) => r.current === true)) return [a.cluster.leader, ...others.map((r) => r.name)];
    if (Date.now() > deadline) throw new Error(`stream ${name} not settled: ${JSON.stringify(a.cluster)}`);
    await sleep(200);
  }
}
