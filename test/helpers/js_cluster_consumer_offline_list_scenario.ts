// The steps of js_cluster_consumer_offline_list (tsnats and nats-server 2.15 side by side): an R3
// stream with two single-replica durables on one server (D1 and a second one), one on another
// server maybe, and an R3 durable (R); the first server stops; what CONSUMER.LIST (whole and
// paged), CONSUMER.NAMES, CONSUMER.INFO, STREAM.INFO and the client's consumers.list() answer.
import { isDeepStrictEqual } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./cluster_retry.js";
import type { RefJsCluster } from "./ref_js_cluster.js";
import { pullOnce, pullRefused, secondOnHost } from "./js_cluster_offline.js";
import { waitUntil } from "./server.js";

export type Answer = Record<string, unknown> & { error?: { code: number; err_code: number; description: string } };
type Entry = Record<string, unknown> & { name?: string; created?: string; config?: Record<string, unknown> & { name?: string; pause_until?: string }; cluster?: Record<string, unknown> & { replicas?: Array<Record<string, unknown>> } };

/**
 * What is compared of the answers: servers and consumer names by role (the server stopped is
 * "host", its second consumer "second"), a stand-in entry in full but for its times (the
 * consumer's own creation time and config, as listed before the stop, or what differs), the
 * other entries by name.
 */
export async function offlineListScenario(cluster: RefJsCluster): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: cluster.urls });
  let via: NatsConnection | undefined;
  try {
    const created = await createStreamWhenPlaced<Answer>(nc, { name: "L", subjects: ["l.>"], num_replicas: 3 });
    if (created.error !== undefined) throw new Error(JSON.stringify(created.error));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "l.x", `l${i}`);
    const d1 = await clusterApi<Answer & { cluster?: { leader?: string } }>(nc, "$JS.API.CONSUMER.CREATE.L.D1", { stream_name: "L", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1, description: "first" } });
    if (d1.error !== undefined) throw new Error(JSON.stringify(d1.error));
    const host = d1.cluster?.leader ?? "";
    const hostIndex = Number(host.slice(1)) - 1;
    const second = await secondOnHost(nc, "L", host);
    const r = await clusterApi(nc, "$JS.API.CONSUMER.CREATE.L.R", { stream_name: "L", config: { durable_name: "R", ack_policy: "explicit", num_replicas: 3 } });
    if (r.error !== undefined) throw new Error(JSON.stringify(r.error));
    via = await connect({ servers: cluster.urls.filter((_u, i) => i !== hostIndex) });
    await pullOnce(via, "L", "D1");
    await pullOnce(via, "L", "D1");
    const before = ((await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L")).consumers ?? []) as Entry[];

    const alias = (n: unknown): unknown => (n === host ? "host" : n === second && second !== "" ? "second" : n);
    const sameTime = (a: unknown, b: string): boolean => typeof a === "string" && Date.parse(a) === Date.parse(b);
    let until = "";
    const entryShape = (e: Entry): unknown => {
      if (e.name !== "") return alias(e.name);
      const own = before.find((b) => b.name === e.config?.name);
      const cfg = { ...e.config };
      // (Paused while down: the time asked, the rest as before.)
      if (until !== "" && sameTime(cfg.pause_until, until)) cfg.pause_until = "the time asked";
      const ownCfg = { ...own?.config };
      const sameCfg = isDeepStrictEqual(cfg, ownCfg);
      const changed = sameCfg ? "the consumer's" : Object.fromEntries(Object.entries(cfg).filter(([k, v]) => !isDeepStrictEqual(v, ownCfg[k])));
      const { replicas, ...clusterRest } = e.cluster ?? {};
      return {
        keys: Object.keys(e).join(","),
        stream_name: e.stream_name,
        name: e.name,
        of: alias(e.config?.name),
        created: e.created === own?.created ? "the consumer's" : e.created,
        config: changed,
        state: [e.delivered, e.ack_floor, e.num_ack_pending, e.num_redelivered, e.num_waiting, e.num_pending],
        cluster: { keys: Object.keys(e.cluster ?? {}).join(","), name: clusterRest.name, raft_group: typeof clusterRest.raft_group, replicas: (replicas ?? []).map((p) => ({ ...p, name: alias(p.name), peer: typeof p.peer })) },
        ts: typeof e.ts,
      };
    };
    const listShape = (a: Answer): unknown => {
      const { consumers, missing, ...rest } = a;
      return { ...rest, consumers: ((consumers ?? []) as Entry[]).map(entryShape), missing: ((missing ?? []) as string[]).map(alias) };
    };

    await cluster.stopServer(hostIndex);
    await pullRefused(via, "L", "D1");
    const out: Record<string, unknown> = { second: second !== "" };
    out.list = listShape(await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L"));
    out.listAt1 = listShape(await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L", { offset: 1 }));
    out.listAt2 = listShape(await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L", { offset: 2 }));
    out.listAt9 = listShape(await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L", { offset: 9 }));
    const names = await clusterApi<Answer>(via, "$JS.API.CONSUMER.NAMES.L");
    out.names = [names.total, ((names.consumers ?? []) as string[]).map(alias)];
    out.info = (await clusterApi<Answer>(via, "$JS.API.CONSUMER.INFO.L.D1")).error;
    out.consumerCount = ((await clusterApi<Answer>(via, "$JS.API.STREAM.INFO.L")).state as { consumer_count?: number } | undefined)?.consumer_count;
    // The client iterates over every entry, the stand-ins (no name) too.
    const jsm = await jetstreamManager(via, { timeout: 20_000 });
    const clientList: unknown[] = [];
    for await (const ci of jsm.consumers.list("L")) clientList.push(alias(ci.name));
    out.clientList = clientList;
    // Paused while down: its stand-in lists the pause (nats-server's assignment records it).
    until = new Date(Date.now() + 3_600_000).toISOString();
    const paused = await clusterApi<Answer>(via, `$JS.API.CONSUMER.PAUSE.L.${second}`, { pause_until: until });
    out.paused = paused.error ?? paused.paused;
    // (nats-server's meta leader answers the pause before it applies it: the list shows it a little later.)
    const pausedAt1 = async (): Promise<Answer> => clusterApi<Answer>(via as NatsConnection, "$JS.API.CONSUMER.LIST.L", { offset: 1 });
    let listPaused = await pausedAt1();
    await waitUntil(async () => {
      listPaused = await pausedAt1();
      return ((listPaused.consumers ?? []) as Entry[]).some((e) => e.name === "" && e.config?.pause_until !== undefined);
    }, 10_000).catch(() => undefined);
    out.listPaused = listShape(listPaused);

    await cluster.startServer(hostIndex);
    let after: Answer = {};
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      after = await clusterApi<Answer>(via, "$JS.API.CONSUMER.LIST.L");
      const listed = (after.consumers as Entry[] | undefined) ?? [];
      if (after.missing === undefined && listed.length === 3 && listed.every((c) => c.name !== "")) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    out.after = [after.total, ((after.consumers ?? []) as Entry[]).map((e) => alias(e.name)), after.missing];
    return out;
  } finally {
    await via?.close();
    await nc.close();
  }
}
