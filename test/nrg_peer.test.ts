// A tsnats server with `cluster { nrg_peer: true }` as a voting member of a nats-server 2.15
// JetStream cluster's meta group (src/cluster/nrg_meta_peer.ts), against three real
// nats-server 2.15 servers: the meta leader lists it as a current peer of four; with one
// nats-server stopped, meta elections and stream creates (3 of 4) need its vote and its acks;
// restarted, it keeps its log and term and catches up; a step-down elects a nats-server with
// its vote; garbage and truncated appends do not crash it; a second tsnats peer joining late is
// caught up from the leader's snapshot, and answers no more once removed from the cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { encodeNrgAppendEntry, NrgEntryType } from "../src/cluster/nrg_wire.js";
import { shortHash } from "../src/jetstream/util.js";

const ACCOUNTS =
  "accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n  APP: { jetstream: enabled, users: [{ user: app, password: app }] }\n}\nsystem_account: SYS\n";

interface PeerJson {
  id: string;
  term: number;
  vote: string;
  last_vote_granted?: { term: number; candidate: string };
  leader: string;
  last_term: number;
  last_index: number;
  commit: number;
  catching_up: boolean;
  peers: string[];
  counters: Record<string, number>;
  undecodable: number;
  write_error?: string;
  streams?: { account: string; name: string; group: string; peers: string[] }[];
}

interface MetaCluster {
  leader?: string;
  cluster_size?: number;
  replicas?: { name: string; current: boolean; offline?: boolean; peer?: string }[];
}

async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

test("a tsnats server with nrg_peer votes in a nats-server 2.15 cluster's meta group: joins, acks, votes, restarts, survives garbage; a late peer installs the snapshot and is removed", { skip: referenceMissing(), timeout: 400_000 }, async () => {
  const routePorts = [await freePort(), await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-peer-"));
  const conf = (name: string, port: number, ours: boolean): string =>
    `server_name: ${name}\n${ACCOUNTS}jetstream { max_mem_store: 256MB, max_file_store: 1GB${ours ? `, store_dir: "${storeDir}"` : ""} }\ncluster { name: NRG, listen: 127.0.0.1:${port}, routes: [${routes}]${ours ? ", nrg_peer: true" : ""} }\n`;
  const startOurs = (): Promise<ReferenceServer> => startNatsServer(["-m", "-1"], conf("T4", routePorts[3], true), "tsnats");
  const nats: (ReferenceServer | undefined)[] = [];
  let ours: ReferenceServer | undefined;
  let late: ReferenceServer | undefined;
  const lateStoreDir = fs.mkdtempSync(path.join(os.tmpdir(), "nrg-peer-late-"));
  const conns: NatsConnection[] = [];
  try {
    ours = await startOurs();
    // Alone, it has no meta leader: unhealthy, as a nats-server without one.
    const alone = await fetch(`${ours.monitorUrl}/healthz`);
    assert.equal(alone.status, 503);
    assert.equal(((await alone.json()) as { error?: string }).error, "JetStream has not established contact with a meta leader");
    nats.push(...(await Promise.all([0, 1, 2].map((i) => startNatsServer(["-js", "-m", "-1"], conf(`N${i + 1}`, routePorts[i], false), "2.15")))));
    const peerJson = async (): Promise<PeerJson> => (await getJson<{ nrg_meta_peer: PeerJson }>(`${ours?.monitorUrl}/jsz`)).nrg_meta_peer;
    const live = (): ReferenceServer[] => nats.filter((s): s is ReferenceServer => s !== undefined);
    /** The meta group as its leader reports it (only the leader knows whether followers are current). */
    const leaderView = async (): Promise<{ server: ReferenceServer; meta: MetaCluster } | undefined> => {
      for (const s of live()) {
        const meta = (await getJson<{ meta_cluster?: MetaCluster }>(`${s.monitorUrl}/jsz`)).meta_cluster ?? {};
        if (meta.leader === undefined || meta.leader === "") continue;
        const leader = nats[Number(meta.leader.slice(1)) - 1];
        if (leader === undefined) continue;
        const lm = (await getJson<{ meta_cluster?: MetaCluster }>(`${leader.monitorUrl}/jsz`)).meta_cluster ?? {};
        if (lm.leader === meta.leader) return { server: leader, meta: lm };
      }
      return undefined;
    };
    const t4Current = (m: MetaCluster | undefined): boolean => m?.replicas?.some((r) => r.name === "T4" && r.current) === true;

    // 1. It joins: the meta leader lists four peers, T4 current.
    let view: Awaited<ReturnType<typeof leaderView>>;
    await waitUntil(
      async () => {
        view = await leaderView();
        return view !== undefined && view.meta.cluster_size === 4 && t4Current(view.meta);
      },
      90_000,
      "the meta leader lists T4 as a current peer of four",
      () => JSON.stringify(view?.meta),
    );
    let p = await peerJson();
    assert.equal(p.id, shortHash("T4"));
    assert.equal(p.undecodable, 0);
    assert.equal(p.write_error, undefined);
    assert.ok(p.last_index > 0 && p.term > 0, JSON.stringify(p));
    assert.ok(p.peers.includes("T4"), `T4 is among the peers its log holds: ${JSON.stringify(p.peers)}`);
    // Its health is its membership's: current with the meta leader.
    const health = await fetch(`${ours.monitorUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });

    // Clients of the tsnats server use the cluster's JetStream through the routes.
    const app = await connect({ servers: `127.0.0.1:${ours.port}`, user: "app", pass: "app" });
    conns.push(app);
    const jsm: JetStreamManager = await retry(() => jetstreamManager(app, { timeout: 5000 }));
    await retry(() => jsm.streams.add({ name: "ONE", subjects: ["one.>"], num_replicas: 1 }));
    const placed = (await jsm.streams.info("ONE")).cluster?.leader ?? "";
    assert.ok(["N1", "N2", "N3"].includes(placed), `a stream is never placed on T4 (placed on ${placed})`);
    // The committed assignment is in T4's meta state, placed where the stream is.
    await waitUntil(
      async () => {
        p = await peerJson();
        return p.streams?.some((s) => s.account === "APP" && s.name === "ONE" && s.peers.includes(placed)) === true;
      },
      30_000,
      "T4's meta state holds the assignment of ONE",
      () => JSON.stringify(p.streams),
    );
    // Seen as a JetStream server (route INFO and STATSZ say so), but its STATSZ carries no
    // JetStream config and stats: nats-server never selects it for a stream or consumer.
    const sysT4 = await connect({ servers: `127.0.0.1:${ours.port}`, user: "sys", pass: "sys" });
    conns.push(sysT4);
    const statsz = (await sysT4.request("$SYS.REQ.SERVER.PING.STATSZ", JSON.stringify({ server_name: "T4" }), { timeout: 5000 })).json<{ server: { name: string; jetstream: boolean }; statsz: Record<string, unknown> }>();
    assert.equal(statsz.server.name, "T4");
    assert.equal(statsz.server.jetstream, true);
    assert.equal(statsz.statsz.jetstream, undefined);

    // 2. A step-down elects a nats-server, T4 granting its vote in the new term.
    const sysOn = async (s: ReferenceServer): Promise<NatsConnection> => {
      const c = await connect({ servers: `127.0.0.1:${s.port}`, user: "sys", pass: "sys" });
      conns.push(c);
      return c;
    };
    const before = (await leaderView())?.meta.leader ?? "";
    const termBefore = (await peerJson()).term;
    const sys1 = await sysOn(live()[0]);
    await retry(async () => {
      const r = await sys1.request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 5000 });
      const body = r.json<{ success?: boolean; error?: unknown }>();
      if (body.success !== true) throw new Error(JSON.stringify(body));
    });
    await waitUntil(
      async () => {
        view = await leaderView();
        p = await peerJson();
        // The leader steps down; a transfer to T4 is never taken up (an observer does not
        // campaign), so the next leader may be the same server, in a higher term.
        return view?.meta.leader !== undefined && view.meta.leader !== "" && p.term > termBefore && p.leader === view.meta.leader && t4Current(view.meta);
      },
      90_000,
      "a nats-server meta leader elected again, followed by T4 in a higher term",
      () => JSON.stringify({ meta: view?.meta, p }),
    );
    assert.ok(["N1", "N2", "N3"].includes(p.leader), p.leader);
    assert.notEqual(before, "");
    // T4 took part: it granted a vote in the election (with all four up, a split vote in one
    // term can elect the other candidate without T4's vote, so not necessarily the winner's).
    assert.ok((p.last_vote_granted?.term ?? 0) > termBefore, `T4 voted in the election: ${JSON.stringify(p)}`);
    assert.ok(["N1", "N2", "N3"].includes(p.last_vote_granted?.candidate ?? ""), JSON.stringify(p.last_vote_granted));

    const appN = async (s: ReferenceServer): Promise<JetStreamManager> => {
      const c = await connect({ servers: `127.0.0.1:${s.port}`, user: "app", pass: "app" });
      conns.push(c);
      return retry(() => jetstreamManager(c, { timeout: 5000 }));
    };

    // 3. T4 killed (SIGKILL: no shutdown path runs): the three nats-servers go on without it (3
    // of 4). Restarted, it keeps its log and term and is caught up over a `$NRG.CR.` inbox.
    const termAtStop = p.term;
    const indexAtStop = p.last_index;
    ours.proc.kill("SIGKILL");
    await ours.stop();
    ours = undefined;
    const jsmN = await appN(live()[0]);
    await retry(() => jsmN.streams.add({ name: "TWO", subjects: ["two.>"], num_replicas: 1 }), 90_000);
    await retry(() => jsmN.streams.add({ name: "THREE", subjects: ["three.>"], num_replicas: 1 }), 90_000);
    ours = await startOurs();
    p = await peerJson();
    assert.ok(p.term >= termAtStop, `term kept: ${p.term} >= ${termAtStop}`);
    assert.ok(p.last_index >= indexAtStop && p.last_index > 0, `log kept: ${p.last_index} >= ${indexAtStop}`);
    await waitUntil(
      async () => {
        view = await leaderView();
        p = await peerJson();
        return view !== undefined && t4Current(view.meta) && p.last_index >= indexAtStop + 2 && !p.catching_up;
      },
      120_000,
      "the restarted T4 is caught up and current",
      () => JSON.stringify({ meta: view?.meta, p }),
    );
    assert.ok(p.counters.catchups >= 1, `caught up through a catch-up: ${JSON.stringify(p.counters)}`);
    // Its meta state is rebuilt from its snapshot and log, and has what it missed.
    await waitUntil(
      async () => {
        p = await peerJson();
        const names = (p.streams ?? []).map((s) => s.name);
        return ["ONE", "TWO", "THREE"].every((n) => names.includes(n));
      },
      30_000,
      "the restarted T4's meta state holds ONE, TWO and THREE",
      () => JSON.stringify(p.streams),
    );

    // 4. The meta leader stopped: two nats-servers and T4 (3 of 4) elect a new leader, and a
    // create commits with T4's acknowledgement; without T4 too (2 of 4) none can.
    const leaderName = view?.meta.leader ?? "";
    const stopped = Number(leaderName.slice(1)) - 1;
    const termAtLeaderStop = p.term;
    await nats[stopped]?.stop();
    nats[stopped] = undefined;
    await waitUntil(
      async () => {
        view = await leaderView();
        p = await peerJson();
        return view !== undefined && view.meta.leader !== leaderName && p.term > termAtLeaderStop && p.leader === view.meta.leader;
      },
      120_000,
      "the two nats-servers left elect a leader, T4 following it",
      () => JSON.stringify({ meta: view?.meta, p }),
    );
    // With three members up, every winner needs T4's vote: the last one it granted is the leader's.
    assert.equal(p.last_vote_granted?.candidate, view?.meta.leader, "T4 voted for the new leader");
    assert.equal(p.last_vote_granted?.term, p.term);
    const indexBefore = p.last_index;
    const jsm2 = await appN(live()[0]);
    await retry(() => jsm2.streams.add({ name: "FOUR", subjects: ["four.>"], num_replicas: 1 }), 90_000);
    p = await peerJson();
    assert.ok(p.last_index > indexBefore, "T4 stored the create the cluster needed its acknowledgement for");
    await ours.stop();
    ours = undefined;
    await assert.rejects(jsm2.streams.add({ name: "FIVE", subjects: ["five.>"], num_replicas: 1 }), "with 2 of 4 members nothing commits");
    ours = await startOurs();
    await retry(async () => {
      const names: string[] = [];
      for await (const n of jsm2.streams.names()) names.push(n);
      if (!names.includes("FIVE")) await jsm2.streams.add({ name: "FIVE", subjects: ["five.>"], num_replicas: 1 });
    }, 120_000);
    await waitUntil(
      async () => {
        view = await leaderView();
        p = await peerJson();
        return view !== undefined && t4Current(view.meta);
      },
      90_000,
      "T4 is current again",
      () => JSON.stringify({ meta: view?.meta, p }),
    );

    // 5. Garbage and truncated appends and votes: counted, never a crash, still current.
    const sys4 = await sysOn(ours);
    const ae = encodeNrgAppendEntry({ leader: "ABCDEFGH", term: p.term + 100, commit: 9, prevTerm: p.term, prevIndex: p.last_index, entries: [{ type: NrgEntryType.Normal, data: Buffer.from("x") }], leaderTerm: 0 });
    for (let cut = 1; cut < ae.length; cut += 7) sys4.publish("$NRG.AE._meta_", ae.subarray(0, cut), { reply: "$NRG.R.garbage" });
    sys4.publish("$NRG.AE._meta_", Buffer.from("not an append entry at all, not at all"), { reply: "$NRG.R.garbage" });
    sys4.publish("$NRG.V._meta_", Buffer.from("short"), { reply: "$NRG.R.garbage" });
    await sys4.flush();
    await waitUntil(
      async () => {
        p = await peerJson();
        return p.undecodable >= 3;
      },
      30_000,
      "the garbage is counted",
      () => JSON.stringify(p),
    );
    assert.equal(p.write_error, undefined);
    await retry(() => jsm2.streams.add({ name: "SIX", subjects: ["six.>"], num_replicas: 1 }), 90_000);
    await waitUntil(async () => t4Current((await leaderView())?.meta), 60_000, "T4 still current after the garbage");

    // 6. A second tsnats peer joining late, its log empty: the meta leader compacted its log into
    // a snapshot when T4 was added, so the catch-up starts with that snapshot, installed.
    const t5Route = await freePort();
    late = await startNatsServer(["-m", "-1"], conf("T5", t5Route, true).replace(storeDir, lateStoreDir), "tsnats");
    const lateUrl = late.monitorUrl;
    let q: PeerJson | undefined;
    await waitUntil(
      async () => {
        view = await leaderView();
        q = (await getJson<{ nrg_meta_peer: PeerJson }>(`${lateUrl}/jsz`)).nrg_meta_peer;
        return view !== undefined && view.meta.cluster_size === 5 && view.meta.replicas?.some((r) => r.name === "T5" && r.current) === true && !q.catching_up;
      },
      120_000,
      "T5 joins as a current peer of five",
      () => JSON.stringify({ meta: view?.meta, q }),
    );
    assert.ok(q !== undefined && q.counters.snapshots >= 1, `T5 installed the leader's snapshot: ${JSON.stringify(q)}`);
    assert.ok(q.peers.includes("T5") && q.peers.includes("T4"), JSON.stringify(q.peers));

    // 7. T5 removed from the cluster (SERVER.REMOVE): once the removal commits it answers no
    // more (as nats-server disables JetStream on a removed server), and the group is four again.
    const sysN = await sysOn(live()[0]);
    await retry(async () => {
      const r = (await sysN.request("$JS.API.SERVER.REMOVE", JSON.stringify({ peer: "T5" }), { timeout: 5000 })).json<{ success?: boolean; error?: unknown }>();
      if (r.success !== true) throw new Error(JSON.stringify(r));
    });
    await waitUntil(
      async () => {
        view = await leaderView();
        q = (await getJson<{ nrg_meta_peer: PeerJson & { removed?: boolean } }>(`${lateUrl}/jsz`)).nrg_meta_peer;
        return (q as { removed?: boolean }).removed === true && view !== undefined && view.meta.cluster_size === 4 && !(view.meta.replicas ?? []).some((r) => r.name === "T5");
      },
      90_000,
      "T5 is out of the meta group and knows it",
      () => JSON.stringify({ meta: view?.meta, q }),
    );
    assert.equal((await fetch(`${lateUrl}/healthz`)).status, 503);
    await retry(() => jsm2.streams.add({ name: "SEVEN", subjects: ["seven.>"], num_replicas: 1 }), 90_000);
    await waitUntil(async () => t4Current((await leaderView())?.meta), 60_000, "T4 still current with T5 gone");
  } finally {
    for (const c of conns) await c.close().catch(() => undefined);
    await Promise.all([...nats, ours, late].map((s) => s?.stop()));
    fs.rmSync(storeDir, { recursive: true, force: true });
    fs.rmSync(lateStoreDir, { recursive: true, force: true });
  }
});

test("nrg_peer is refused at start-up without JetStream, or with a value that is not a boolean (file, line, reason)", { timeout: 60_000 }, async () => {
  const port = await freePort();
  await assert.rejects(startNatsServer([], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: true\n}\n`, "tsnats"), (err: Error) => /nrg_peer needs JetStream/.test(err.message));
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: 5\n}\n`, "tsnats"),
    // Go's words for a wrong type, as nats-server reports them (file:line:column).
    (err: Error) => /server\.conf:5:3: interface conversion: interface \{\} is int64, not bool/.test(err.message),
  );
  await assert.rejects(
    startNatsServer(["-js"], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_peer: true\n  nrg_follow: true\n}\n`, "tsnats"),
    (err: Error) => /nrg_peer and cluster.nrg_follow/.test(err.message),
  );
});
