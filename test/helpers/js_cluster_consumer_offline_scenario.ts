// The steps of the single-replica-consumer-offline tests (js_cluster_consumer_offline on tsnats,
// js_cluster_consumer_offline_ref on nats-server 2.15; one file each, so neither nears the runner's
// per-file limit): a single-replica consumer of an R3 stream whose server is down, on three servers
// run as processes from the same configuration files: a
// client of another server asking it for messages gets 503 no responders at once (nobody
// subscribes to its pull subject), its info and an update of it are answered "consumer is
// offline" (10119), the stream still counts and names it; a pause (or a resume) is answered at
// once; another one there is deleted at once; back, it has the config it had (the update was
// refused, not kept for later) but paused as asked while it was down, and its state: resumed,
// reading goes on from its ack floor; the deleted one is gone from that server too.
// What is compared: each answer's status or error, and the consumer's config and state after.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./cluster_retry.js";
import type { Info } from "./js_cluster_consumer_groups.js";
import type { RefJsCluster } from "./ref_js_cluster.js";
import { waitUntil } from "./server.js";
import { pullOnce, pullRefused, secondOnHost } from "./js_cluster_offline.js";

interface ConsumerAnswer extends Info {
  config?: { num_replicas?: number; max_ack_pending?: number; description?: string; pause_until?: string };
  paused?: boolean;
  num_pending?: number;
  state?: { consumer_count?: number };
  total?: number;
}

interface PauseAnswer extends Info {
  type?: string;
  paused?: boolean;
  pause_until?: string;
  pause_remaining?: number;
}

/** The same instant (Go writes the time with its trailing zeros cut: .880Z comes back as .88Z). */
function sameTime(a: string | undefined, b: string): boolean {
  return a !== undefined && Date.parse(a) === Date.parse(b);
}

/** A pause answer: paused or not, until the time asked (`until`) or the zero time, a remaining time or none. */
function pauseSaid(a: PauseAnswer, until: string): string {
  const at = sameTime(a.pause_until, until) ? "the time asked" : a.pause_until;
  const left = a.pause_remaining === undefined ? "none" : a.pause_remaining > 3_000_000_000_000 ? "near an hour" : String(a.pause_remaining);
  return `${a.type ?? ""} ${a.error !== undefined ? `${a.error.code} ${a.error.err_code} ${a.error.description} ` : ""}paused=${a.paused} until ${at} remaining ${left}`;
}

function said(a: ConsumerAnswer): string {
  return a.error !== undefined ? `${a.error.code} ${a.error.err_code} ${a.error.description}` : "ok";
}

export async function offlineScenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  let via: NatsConnection | undefined;
  try {
    const created = await createStreamWhenPlaced<ConsumerAnswer>(nc, { name: "O", subjects: ["o.>"], num_replicas: 3 });
    out.push(`create O: ${said(created)}`);
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "o.x", `o${i}`);
    const d1 = await clusterApi<ConsumerAnswer>(nc, "$JS.API.CONSUMER.CREATE.O.D1", { stream_name: "O", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1 } });
    out.push(`create O.D1: ${said(d1)}`);
    const host = d1.cluster?.leader ?? "";
    const hostIndex = Number(host.slice(1)) - 1;
    // A second one on the same server (placed at random: those placed elsewhere are deleted).
    const z = await secondOnHost(nc, "O", host);
    out.push(`a second one on its server: ${z !== ""}`);
    // A client of the other two servers.
    via = await connect({ servers: cluster.urls.filter((_u, i) => i !== hostIndex) });
    out.push(`pull: ${await pullOnce(via, "O", "D1")}`, `pull: ${await pullOnce(via, "O", "D1")}`);

    await cluster.stopServer(hostIndex);
    // Once the others know its server is gone (its routes closed): a pull request is refused at once.
    out.push(`pull while its server is down: ${await pullRefused(via, "O", "D1")}`);
    out.push(`info while down: ${said(await clusterApi<ConsumerAnswer>(via, "$JS.API.CONSUMER.INFO.O.D1"))}`);
    const update = { stream_name: "O", config: { durable_name: "D1", ack_policy: "explicit", num_replicas: 1, max_ack_pending: 7, description: "changed" } };
    out.push(`update while down: ${said(await clusterApi<ConsumerAnswer>(via, "$JS.API.CONSUMER.CREATE.O.D1", update))}`);
    out.push(`durable update while down: ${said(await clusterApi<ConsumerAnswer>(via, "$JS.API.CONSUMER.DURABLE.CREATE.O.D1", update))}`);
    // A pause is answered at once (resumed by a body that is not JSON, paused again), applied by its server when it returns.
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const paused = await clusterApi<PauseAnswer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", { pause_until: until });
    out.push(`pause while down: ${pauseSaid(paused, until)}`);
    out.push(`resume while down: ${pauseSaid(await clusterApi<PauseAnswer>(via, "$JS.API.CONSUMER.PAUSE.O.D1"), until)}`);
    out.push(`pause again while down: ${pauseSaid(await clusterApi<PauseAnswer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", { pause_until: until }), until)}`);
    out.push(`bad pause while down: ${pauseSaid(await clusterApi<PauseAnswer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", { pause_until: 7 }), until)}`);
    // A delete is done at once; its server drops its copy when it returns.
    out.push(`delete the second while down: ${said(await clusterApi<ConsumerAnswer>(via, `$JS.API.CONSUMER.DELETE.O.${z}`))}`);
    // The count is the stream leader's, which learns of the delete from the meta log after the
    // meta leader answered it: nats-server 2.15.1 once still counted 2 right after (full suite).
    let si: ConsumerAnswer = {};
    await waitUntil(async () => {
      si = await clusterApi<ConsumerAnswer>(via as NatsConnection, "$JS.API.STREAM.INFO.O");
      return si.state?.consumer_count === 1;
    }, 5_000).catch(() => undefined);
    out.push(`stream info while down: ${said(si)} consumers=${si.state?.consumer_count}`);
    const names = await clusterApi<ConsumerAnswer & { consumers?: string[] }>(via, "$JS.API.CONSUMER.NAMES.O");
    out.push(`names while down: ${names.total} ${(names.consumers ?? []).join(",")}`);

    await cluster.startServer(hostIndex);
    // Back: its config as it was, reading on from its ack floor.
    let back: ConsumerAnswer = {};
    await waitUntil(
      async () => {
        back = await clusterApi<ConsumerAnswer>(via as NatsConnection, "$JS.API.CONSUMER.INFO.O.D1");
        return back.error === undefined && back.paused === true;
      },
      60_000,
      "its info answered again, paused",
    ).catch(() => undefined);
    out.push(`info back: ${said(back)} max_ack_pending=${back.config?.max_ack_pending} description=${back.config?.description} ack_floor=${back.ack_floor?.stream_seq} pending=${back.num_pending} on ${back.cluster?.leader === host ? "its server" : back.cluster?.leader}`);
    out.push(`  paused=${back.paused} until the time asked: ${sameTime(back.config?.pause_until, until)}`);
    out.push(`resume back: ${pauseSaid(await clusterApi<PauseAnswer>(via, "$JS.API.CONSUMER.PAUSE.O.D1", {}), until)}`);
    // (nats-server's meta leader answers before the consumer applies it.)
    await waitUntil(
      async () => (await clusterApi<ConsumerAnswer>(via as NatsConnection, "$JS.API.CONSUMER.INFO.O.D1")).paused === false,
      30_000,
      "resumed",
    ).catch(() => undefined);
    out.push(`pull back: ${await pullOnce(via, "O", "D1")}`);
    let held: string[] = [];
    await waitUntil(
      async () => {
        const j = (await (await fetch(`${cluster.servers[hostIndex].monitorUrl}/jsz?accounts=true&streams=true&consumers=true`)).json()) as {
          account_details?: Array<{ stream_detail?: Array<{ consumer_detail?: Array<{ name: string }> }> }>;
        };
        held = (j.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).flatMap((sd) => (sd.consumer_detail ?? []).map((c) => c.name)));
        return !held.includes(z);
      },
      30_000,
      "the deleted one gone from its server",
    ).catch(() => undefined);
    out.push(`its server holds: ${held.sort().join(",")}`);
    const after = await clusterApi<ConsumerAnswer>(via, "$JS.API.CONSUMER.INFO.O.D1");
    out.push(`ack floor after: ${after.ack_floor?.stream_seq}`);
    return out;
  } finally {
    await via?.close();
    await nc.close();
  }
}

/** What a client sees on tsnats and on nats-server 2.15 alike. */
export const offlineExpected: readonly string[] = [
  "create O: ok",
  "create O.D1: ok",
  "a second one on its server: true",
  "pull: seq 1",
  "pull: seq 2",
  "pull while its server is down: 503",
  "info while down: 500 10119 consumer is offline",
  "update while down: 500 10119 consumer is offline",
  "durable update while down: 500 10119 consumer is offline",
  "pause while down: io.nats.jetstream.api.v1.consumer_pause_response paused=true until the time asked remaining near an hour",
  "resume while down: io.nats.jetstream.api.v1.consumer_pause_response paused=false until 0001-01-01T00:00:00Z remaining none",
  "pause again while down: io.nats.jetstream.api.v1.consumer_pause_response paused=true until the time asked remaining near an hour",
  "bad pause while down: io.nats.jetstream.api.v1.consumer_pause_response 400 10025 invalid JSON: json: cannot unmarshal number into Go struct field JSApiConsumerPauseRequest.pause_until of type time.Time paused=false until 0001-01-01T00:00:00Z remaining none",
  "delete the second while down: ok",
  "stream info while down: ok consumers=1",
  "names while down: 1 D1",
  "info back: ok max_ack_pending=1000 description=undefined ack_floor=2 pending=3 on its server",
  "  paused=true until the time asked: true",
  "resume back: io.nats.jetstream.api.v1.consumer_pause_response paused=false until 0001-01-01T00:00:00Z remaining none",
  "pull back: seq 3",
  "its server holds: D1",
  "ack floor after: 3",
];
