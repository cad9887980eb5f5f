// Consumers asking for two replicas of an R3 stream, side by side with a cluster of three
// nats-server 2.15 servers (both run as processes from the same configuration files): each runs
// on two of the stream's servers picked at random (nats-server's createGroupForConsumer: a
// shuffled pair of the stream's active peers), and only those two show it (/jsz); a client of the
// third server reads and acknowledges through it; scaled to three by an update, the third server
// gets it with its state (ack floor); an R3 one scaled to two leaves one server (its leader
// stays) and comes back to it scaled to three again; the stream scaled down to two servers takes
// its R2 consumers there. What is compared: each answer, and facts
// about each server's consumers (never which servers were picked).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sleep, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";

interface Answer extends Info {
  config?: { num_replicas?: number };
  cluster?: { leader?: string; raft_group?: string; replicas?: Array<{ name: string; current?: boolean; offline?: boolean }>; desired?: { replicas?: Array<{ name: string }> } & Record<string, unknown> };
}

function said(a: Answer): string {
  return a.error !== undefined ? `${a.error.code} ${a.error.err_code} ${a.error.description}` : `ok r=${a.config?.num_replicas}`;
}

/**
 * The `desired` of a scaling update's answer: its fields, and how many members it names, its
 * leader among them. (nats-server's sometimes has a status already, and its members' order is
 * its group's: neither is compared.)
 */
function desiredShape(a: Answer): string {
  const d = a.cluster?.desired;
  if (d === undefined) return "none";
  const r = d.replicas;
  return Object.keys(d).filter((k) => k !== "status").sort().join(",") + (r !== undefined ? ` (${r.length} members, the leader among them: ${r.some((x) => x.name === a.cluster?.leader)})` : "");
}

/** Each running server's consumers of `stream` (by /jsz), with their ack floors: name -> server -> ack floor. */
async function holders(cluster: RefJsCluster, stream: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const [i, s] of cluster.servers.entries()) {
    let j: { account_details?: Array<{ stream_detail?: Array<{ name: string; consumer_detail?: Array<{ name: string; ack_floor?: { stream_seq?: number } }> }> }> };
    try {
      j = (await (await fetch(`${s.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`)).json()) as typeof j;
    } catch {
      continue; // a server stopped holds nothing
    }
    for (const acc of j.account_details ?? []) {
      for (const sd of acc.stream_detail ?? []) {
        if (sd.name !== stream) continue;
        for (const c of sd.consumer_detail ?? []) {
          const byServer = out.get(c.name) ?? new Map<string, number>();
          byServer.set(`N${i + 1}`, c.ack_floor?.stream_seq ?? 0);
          out.set(c.name, byServer);
        }
      }
    }
  }
  return out;
}

/** The consumer's info once it has a leader and every other member is current (or after 30 s). */
async function settledInfo(nc: NatsConnection, stream: string, name: string, servers: number): Promise<Answer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const a = await clusterApi<Answer>(nc, `$JS.API.CONSUMER.INFO.${stream}.${name}`);
    const others = a.cluster?.replicas ?? [];
    if ((a.error === undefined && (a.cluster?.leader ?? "") !== "" && others.length === servers - 1 && others.every((r) => r.current === true)) || Date.now() > deadline) return a;
    await sleep(200);
  }
}

/** Waits until /jsz shows each of `names` on `servers` servers with ack floor `floor` (or 60 s); the holders then. */
async function heldOn(cluster: RefJsCluster, stream: string, names: string[], servers: number, floor?: number): Promise<Map<string, Map<string, number>>> {
  let seen = new Map<string, Map<string, number>>();
  await waitUntil(
    async () => {
      seen = await holders(cluster, stream);
      return names.every((n) => seen.get(n)?.size === servers && (floor === undefined || [...(seen.get(n)?.values() ?? [])].every((f) => f === floor)));
    },
    60_000,
    `${names.join(",")} on ${servers} servers`,
  ).catch(() => undefined);
  return seen;
}

/** Pulls `n` messages one at a time, acknowledging each (the ack confirmed); their payloads. */
async function pullAck(nc: NatsConnection, stream: string, name: string, n: number): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < n; i++) {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { max: 1, timeout: 10_000 });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify({ batch: 1, expires: 5_000_000_000 }), { reply: inbox });
    for await (const m of sub) {
      got.push(m.string());
      if (m.reply !== undefined && m.reply !== "") await nc.request(m.reply, "+ACK", { timeout: 10_000 });
    }
  }
  return got;
}

async function scenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  const conns: NatsConnection[] = [];
  try {
    const created = await createStreamWhenPlaced<Answer>(nc, { name: "P", subjects: ["p.>"], num_replicas: 3 });
    out.push(`create P: ${said(created)}`);
    for (let i = 1; i <= 6; i++) await clusterPublish(nc, "p.x", `p${i}`);
    const kinds: Array<[string, Record<string, unknown>]> = [];
    for (let i = 0; i < 4; i++) {
      kinds.push([`D${i}`, { durable_name: `D${i}` }]);
      kinds.push([`E${i}`, { name: `E${i}`, inactive_threshold: 600_000_000_000 }]);
      kinds.push([`H${i}`, { durable_name: `H${i}`, deliver_subject: `push.p${i}` }]);
    }
    const names = kinds.map(([n]) => n);
    for (const [name, cfg] of kinds) {
      const a = await clusterApi<Answer>(nc, `$JS.API.CONSUMER.CREATE.P.${name}`, { stream_name: "P", config: { ack_policy: "explicit", num_replicas: 2, ...cfg } });
      out.push(`create P.${name}: ${said(a)}`);
    }
    // Each on two servers: those its info names, the only ones showing it.
    const held = await heldOn(cluster, "P", names, 2);
    const pairs = new Set<string>();
    for (const name of names) {
      const a = await settledInfo(nc, "P", name, 2);
      const named = [a.cluster?.leader ?? "", ...(a.cluster?.replicas ?? []).map((r) => r.name)].sort().join(",");
      const shown = [...(held.get(name)?.keys() ?? [])].sort().join(",");
      pairs.add(shown);
      out.push(`P.${name}: ${said(a)} on ${held.get(name)?.size} servers, those its info names: ${named === shown}`);
    }
    // 12 pairs picked at random among 3: all the same once in 177147 runs.
    out.push(`pairs differ: ${pairs.size > 1}`);
    const si = await clusterApi<Answer & { state?: { consumer_count?: number } }>(nc, "$JS.API.STREAM.INFO.P");
    out.push(`stream info consumers: ${si.state?.consumer_count}`);

    // Read and acknowledged through the server outside D0's pair.
    const third = cluster.urls.findIndex((_u, i) => !(held.get("D0")?.has(`N${i + 1}`) ?? true));
    const via = await connect({ servers: cluster.urls[third], reconnect: false });
    conns.push(via);
    const info = await clusterApi<Answer>(via, "$JS.API.CONSUMER.INFO.P.D0");
    out.push(`info P.D0 through the third server: ${said(info)}`);
    const inbox = createInbox();
    const sub = via.subscribe(inbox, { max: 1, timeout: 10_000 });
    via.publish("$JS.API.CONSUMER.MSG.NEXT.P.D0", JSON.stringify({ batch: 1, expires: 5_000_000_000 }), { reply: inbox });
    for await (const m of sub) {
      out.push(`next P.D0 through the third server: ${m.string()}`);
      const acked = await via.request(m.reply ?? "", "+ACK", { timeout: 10_000 });
      out.push(`ack confirmed: ${JSON.stringify(acked.string())}`);
    }
    // Listed with each consumer's own state (whichever server answers).
    let listed = "";
    await waitUntil(
      async () => {
        const l = await clusterApi<Answer & { total?: number; consumers?: Answer[] }>(nc, "$JS.API.CONSUMER.LIST.P");
        const d0 = (l.consumers ?? []).find((c) => c.name === "D0");
        const led = (l.consumers ?? []).every((c) => (c.cluster?.leader ?? "") !== "");
        listed = `list: total=${l.total} entries=${l.consumers?.length} D0 ack floor=${d0?.ack_floor?.stream_seq} all led: ${led}`;
        return d0?.ack_floor?.stream_seq === 1 && led;
      },
      30_000,
      "D0 listed with its ack floor",
    ).catch(() => undefined);
    out.push(listed);
    // Scaled to three: the third server has it, with its ack floor.
    const up = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.D0", { stream_name: "P", config: { durable_name: "D0", ack_policy: "explicit", num_replicas: 3 } });
    out.push(`P.D0 to R3: ${said(up)}`);
    const d0 = await heldOn(cluster, "P", ["D0"], 3, 1);
    out.push(`P.D0 on ${d0.get("D0")?.size} servers, ack floors ${[...(d0.get("D0")?.values() ?? [])].join(",")}`);
    out.push(`  info: ${said(await settledInfo(nc, "P", "D0", 3))}`);
    // An R3 one scaled to two: one server leaves its group (its leader stays), and only the two
    // left show it; back to three, the third has it again, with its ack floor.
    const k = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K", { stream_name: "P", config: { durable_name: "K", ack_policy: "explicit" } });
    out.push(`create P.K: ${said(k)}`);
    await heldOn(cluster, "P", ["K"], 3);
    const kLeader = (await settledInfo(nc, "P", "K", 3)).cluster?.leader ?? "";
    const down = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K", { stream_name: "P", config: { durable_name: "K", ack_policy: "explicit", num_replicas: 2 } });
    out.push(`P.K to R2: ${said(down)}, desired ${desiredShape(down)}`);
    const kTwo = await heldOn(cluster, "P", ["K"], 2);
    const kInfo = await settledInfo(nc, "P", "K", 2);
    const kNamed = [kInfo.cluster?.leader ?? "", ...(kInfo.cluster?.replicas ?? []).map((r) => r.name)].sort().join(",");
    out.push(`  P.K on ${kTwo.get("K")?.size} servers, those its info names: ${kNamed === [...(kTwo.get("K")?.keys() ?? [])].sort().join(",")}, its leader kept: ${kInfo.cluster?.leader === kLeader}`);
    out.push(`  info: ${said(kInfo)}`);
    out.push(`  read and acknowledged through its group of two: ${(await pullAck(nc, "P", "K", 2)).join(",")}`);
    const kUp = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K", { stream_name: "P", config: { durable_name: "K", ack_policy: "explicit", num_replicas: 3 } });
    out.push(`P.K to R3 again: ${said(kUp)}, desired ${desiredShape(kUp)}`);
    const kThree = await heldOn(cluster, "P", ["K"], 3, 2);
    out.push(`  P.K on ${kThree.get("K")?.size} servers, ack floors ${[...(kThree.get("K")?.values() ?? [])].join(",")}`);
    out.push(`  info: ${said(await settledInfo(nc, "P", "K", 3))}`);
    const kBack = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K", { stream_name: "P", config: { durable_name: "K", ack_policy: "explicit", num_replicas: 2 } });
    out.push(`P.K to R2 again: ${said(kBack)}, desired ${desiredShape(kBack)}`);
    out.push(`  P.K on ${(await heldOn(cluster, "P", ["K"], 2)).get("K")?.size} servers`);
    // Every server healthy; its RAFT group runs on the two (/raftz), none outside its group.
    const group = (await settledInfo(nc, "P", "K", 2)).cluster?.raft_group ?? "";
    const health: string[] = [];
    let running = 0;
    for (const s of cluster.servers) {
      health.push(((await (await fetch(`${s.monitorUrl}/healthz`)).json()) as { status?: string }).status ?? "");
      const raftz = (await (await fetch(`${s.monitorUrl}/raftz?acc=%24G`)).json()) as Record<string, Record<string, unknown>>;
      if (Object.values(raftz).some((groups) => groups[group] !== undefined)) running++;
    }
    out.push(`  /healthz ${health.join(",")}; its RAFT group on ${running} servers`);

    // The stream scaled down to two servers: its R2 consumers run on those two.
    const cfg = (await clusterApi<Answer & { config?: Record<string, unknown> }>(nc, "$JS.API.STREAM.INFO.P")).config;
    const scaled = await clusterApi<Answer>(nc, "$JS.API.STREAM.UPDATE.P", { ...cfg, num_replicas: 2 });
    out.push(`P to R2: ${scaled.error === undefined ? "ok" : said(scaled)}`);
    const two = [...names.filter((n) => n !== "D0"), "K"];
    let streamServers = "";
    await waitUntil(
      async () => {
        const s = await clusterApi<Answer>(nc, "$JS.API.STREAM.INFO.P");
        streamServers = [s.cluster?.leader ?? "", ...(s.cluster?.replicas ?? []).map((r) => r.name)].sort().join(",");
        return (s.cluster?.replicas ?? []).length === 1;
      },
      60_000,
      "the stream on two servers",
    ).catch(() => undefined);
    const after = await heldOn(cluster, "P", [...two, "D0"], 2);
    const onStreamServers = [...two, "D0"].filter((n) => [...(after.get(n)?.keys() ?? [])].sort().join(",") === streamServers);
    out.push(`consumers on the stream's two servers: ${onStreamServers.length} of ${two.length + 1}`);
    for (const name of ["D1", "E1", "H1", "K", "D0"]) out.push(`  info P.${name}: ${said(await settledInfo(nc, "P", name, 2))}`);
    return out;
  } finally {
    for (const c of conns) await c.close();
    await nc.close();
  }
}

/** Does server `i` (0-based) answer /jsz with `stream` holding `messages` messages? */
async function streamCaughtUp(cluster: RefJsCluster, i: number, stream: string, messages: number): Promise<boolean> {
  try {
    const j = (await (await fetch(`${cluster.servers[i].monitorUrl}/jsz?accounts=true&streams=true`)).json()) as {
      account_details?: Array<{ stream_detail?: Array<{ name: string; state?: { messages?: number } }> }>;
    };
    return (j.account_details ?? []).some((a) => (a.stream_detail ?? []).some((sd) => sd.name === stream && sd.state?.messages === messages));
  } catch {
    return false;
  }
}

/** An R3 consumer scaled to two while one of its servers is down: that server leaves its group, and back it holds it no more. */
async function scaledWhileDown(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const out: string[] = [];
  try {
    out.push(`create Q: ${said(await createStreamWhenPlaced<Answer>(nc, { name: "Q", subjects: ["q.>"], num_replicas: 3 }))}`);
    for (let i = 1; i <= 4; i++) await clusterPublish(nc, "q.x", `q${i}`);
    const cfg = { durable_name: "K", ack_policy: "explicit" };
    out.push(`create Q.K: ${said(await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.Q.K", { stream_name: "Q", config: cfg }))}`);
    await heldOn(cluster, "Q", ["K"], 3);
    const leader = (await settledInfo(nc, "Q", "K", 3)).cluster?.leader ?? "";
    const down = cluster.servers.findIndex((_s, i) => `N${i + 1}` !== leader);
    await cluster.stopServer(down);
    // Once its info shows that server offline (nats-server: as soon as its routes close; tsnats:
    // not heard from for an election timeout), so either picks the members to keep knowing it.
    await waitUntil(
      async () => ((await clusterApi<Answer>(nc, "$JS.API.CONSUMER.INFO.Q.K")).cluster?.replicas ?? []).some((r) => r.name === `N${down + 1}` && r.offline === true),
      30_000,
      "the server shown offline",
    ).catch(() => undefined);
    const scaled = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.Q.K", { stream_name: "Q", config: { ...cfg, num_replicas: 2 } });
    out.push(`Q.K to R2 while a server is down: ${said(scaled)}, desired ${desiredShape(scaled)}`);
    const two = await heldOn(cluster, "Q", ["K"], 2);
    const info = await settledInfo(nc, "Q", "K", 2);
    const named = [info.cluster?.leader ?? "", ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort().join(",");
    out.push(`  on the two running servers: ${named === [...(two.get("K")?.keys() ?? [])].sort().join(",") && !named.includes(`N${down + 1}`)}, its leader kept: ${info.cluster?.leader === leader}`);
    // Down a while longer (past the groups' longest election timeout, 3 s: tsnats's consumer
    // leader forgets a removed member it does not hear from; back, that member asks for votes and
    // is told then). Nothing below waits on it: it only makes the return the harder case.
    await sleep(4000);
    await cluster.startServer(down);
    // Back and caught up, the server holds it no more.
    let held = new Map<string, Map<string, number>>();
    await waitUntil(
      async () => {
        held = await holders(cluster, "Q");
        return (await streamCaughtUp(cluster, down, "Q", 4)) && held.get("K")?.size === 2 && held.get("K")?.has(`N${down + 1}`) === false;
      },
      60_000,
      "the server back without K",
    ).catch(() => undefined);
    out.push(`  back, the server holds it: ${held.get("K")?.has(`N${down + 1}`)}, held on ${held.get("K")?.size} servers`);
    out.push(`  read and acknowledged: ${(await pullAck(nc, "Q", "K", 2)).join(",")}`);
    // Scaled up again: that server joins its group, with its state.
    const up = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.Q.K", { stream_name: "Q", config: { ...cfg, num_replicas: 3 } });
    out.push(`Q.K to R3: ${said(up)}, desired ${desiredShape(up)}`);
    const three = await heldOn(cluster, "Q", ["K"], 3, 2);
    out.push(`  on ${three.get("K")?.size} servers, ack floors ${[...(three.get("K")?.values() ?? [])].join(",")}`);
    out.push(`  info: ${said(await settledInfo(nc, "Q", "K", 3))}`);
    return out;
  } finally {
    await nc.close();
  }
}

test("an R3 consumer scaled to two while one of its servers is down leaves that server, which holds it no more once back, as nats-server 2.15", { timeout: 400_000 }, async (t) => {
  const mine = await onRefJsCluster(3, "P", "tsnats", scaledWhileDown);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  const theirs = await onRefJsCluster(3, "P", "2.15", scaledWhileDown);
  if (theirs === undefined) return;
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  assert.deepEqual(mine, theirs);
});

test("consumers with two replicas of an R3 stream run on a random pair of its servers, as nats-server 2.15 places them", { timeout: 600_000 }, async (t) => {
  const mine = await onRefJsCluster(3, "P", "tsnats", scenario);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  for (const line of mine) assert.doesNotMatch(line, /: false$/, line);
  const theirs = await onRefJsCluster(3, "P", "2.15", scenario);
  if (theirs === undefined) return;
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  assert.deepEqual(mine, theirs);
});
