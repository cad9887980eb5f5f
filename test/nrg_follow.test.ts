// A tsnats server without JetStream, routed into a nats-server 2.15 JetStream cluster of three
// with `cluster { nrg_follow: true }`, follows the cluster's meta group read-only
// (src/cluster/nrg_meta_follower.ts): its /jsz shows the meta leader nats-server names, the
// streams and consumers assigned (created through the tsnats server, as a mixed cluster's
// clients do), a new leader after a step-down, and a deletion; the cluster keeps its three
// peers (the follower never answers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { encodeNrgAppendEntry, encodeNrgPeerState, NrgEntryType, type NrgEntry } from "../src/cluster/nrg_wire.js";
import { NrgEntryOp } from "../src/jetstream/nrg_entries.js";

const ACCOUNTS =
  "accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n  APP: { jetstream: enabled, users: [{ user: app, password: app }] }\n}\nsystem_account: SYS\n";

interface Follow {
  leader: string;
  term: number;
  commit: number;
  applied: number;
  peers: string[];
  undecodable: number;
  streams: { account: string; name: string; subjects: string[]; replicas: number; group: { name: string; peers: string[] }; leader?: string; last_seq_seen?: number }[];
  consumers: { account: string; stream: string; name: string; durable: boolean; group: { name: string; peers: string[] }; leader?: string; delivered_seen?: { consumer_seq: number; stream_seq: number }; acks_seen?: number }[];
}

async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

test("a tsnats server with nrg_follow follows a nats-server 2.15 cluster's meta group: leader, streams, consumers, a new leader, a deletion", { skip: referenceMissing(), timeout: 240_000 }, async () => {
  const routePorts = [await freePort(), await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const conf = (name: string, port: number, js: boolean): string =>
    `server_name: ${name}\n${ACCOUNTS}${js ? "jetstream { max_mem_store: 256MB, max_file_store: 1GB }\n" : ""}cluster { name: NRG, listen: 127.0.0.1:${port}, routes: [${routes}]${js ? "" : ", nrg_follow: true"} }\n`;
  // The follower first: it hears the meta group from its first entry.
  const servers: ReferenceServer[] = [];
  try {
    servers.push(await startNatsServer(["-m", "-1"], conf("T4", routePorts[3], false), "tsnats"));
    servers.push(...(await Promise.all([0, 1, 2].map((i) => startNatsServer(["-js", "-m", "-1"], conf(`N${i + 1}`, routePorts[i], true), "2.15")))));
    const [ours, n1] = servers;
    const follow = async (): Promise<Follow> => (await getJson<{ nrg_meta_follow: Follow }>(`${ours.monitorUrl}/jsz`)).nrg_meta_follow;
    const metaLeader = async (): Promise<string> => (await getJson<{ meta_cluster?: { leader?: string } }>(`${n1.monitorUrl}/jsz`)).meta_cluster?.leader ?? "";

    const app = await connect({ servers: `127.0.0.1:${ours.port}`, user: "app", pass: "app" });
    const sys = await connect({ servers: `127.0.0.1:${ours.port}`, user: "sys", pass: "sys" });
    try {
      const jsm: JetStreamManager = await retry(() => jetstreamManager(app, { timeout: 5000 }));
      await retry(() => jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 }));
      await retry(() => jsm.streams.add({ name: "AUDIT", subjects: ["audit.>"], num_replicas: 1 }));
      await retry(() => jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit }));

      // The follower's picture matches what nats-server reports.
      let f: Follow | undefined;
      await waitUntil(
        async () => {
          f = await follow();
          return f.streams.length === 2 && f.consumers.length === 1 && f.leader !== "" && f.leader === (await metaLeader());
        },
        60_000,
        "the follower sees both streams, the consumer and the meta leader",
        () => JSON.stringify(f),
      );
      assert.ok(f !== undefined);
      assert.equal(f.undecodable, 0);
      assert.deepEqual(f.peers, ["N1", "N2", "N3"], "the meta group's peers, without the follower");
      const orders = f.streams.find((s) => s.name === "ORDERS");
      assert.ok(orders !== undefined);
      assert.equal(orders.account, "APP");
      assert.deepEqual(orders.subjects, ["orders.>"]);
      assert.equal(orders.replicas, 3);
      assert.deepEqual([...orders.group.peers].sort(), ["N1", "N2", "N3"]);
      const info = await jsm.streams.info("ORDERS");
      assert.ok(orders.group.peers.includes(info.cluster?.leader ?? "?"));
      const audit = f.streams.find((s) => s.name === "AUDIT");
      assert.equal(audit?.replicas, 1);
      assert.equal(audit?.group.peers.length, 1);
      assert.deepEqual(
        f.consumers.map((c) => [c.account, c.stream, c.name, c.durable]),
        [["APP", "ORDERS", "worker", true]],
      );
      assert.ok(f.applied <= f.commit && f.applied > 0);

      // The follower listens to ORDERS's group too: its leader and the messages' sequences.
      const js = jetstream(app);
      for (let i = 1; i <= 5; i++) await retry(() => js.publish(`orders.${i}`, `order ${i}`));
      let streamLeader = "";
      await waitUntil(
        async () => {
          f = await follow();
          streamLeader = (await jsm.streams.info("ORDERS")).cluster?.leader ?? "";
          const o = f.streams.find((s) => s.name === "ORDERS");
          return o?.last_seq_seen === 5 && o.leader === streamLeader;
        },
        60_000,
        "the follower sees ORDERS's leader and its five messages",
        () => JSON.stringify(f),
      );
      assert.equal(f.streams.find((s) => s.name === "AUDIT")?.leader, undefined, "an R1 stream runs no group to hear");

      // And to worker's group (R3 like its stream): its leader, deliveries and acks.
      const worker = await js.consumers.get("ORDERS", "worker");
      let acked = 0;
      while (acked < 3) {
        for await (const m of await worker.fetch({ max_messages: 3 - acked, expires: 2000 })) {
          await m.ackAck();
          acked++;
        }
      }
      await waitUntil(
        async () => {
          f = await follow();
          const leader = (await jsm.consumers.info("ORDERS", "worker")).cluster?.leader ?? "";
          const w = f.consumers.find((c) => c.name === "worker");
          return w?.leader === leader && w.delivered_seen?.stream_seq === 3 && w.delivered_seen.consumer_seq === 3 && w.acks_seen === 3;
        },
        60_000,
        "the follower sees worker's leader, its three deliveries and acks",
        () => JSON.stringify(f),
      );

      // A meta leader step-down: the follower sees the new leader in a higher term.
      const before = f;
      await retry(async () => {
        const r = await sys.request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 5000 });
        const body = JSON.parse(r.string()) as { success?: boolean; error?: { description: string } };
        if (body.success !== true) throw new Error(body.error?.description ?? r.string());
      });
      await waitUntil(
        async () => {
          f = await follow();
          const leader = await metaLeader();
          return f.term > before.term && leader !== "" && leader !== before.leader && f.leader === leader;
        },
        60_000,
        "the follower sees the new meta leader",
        () => JSON.stringify(f),
      );

      // Deleting a stream removes it (and nothing else) from the follower's picture.
      await jsm.streams.delete("AUDIT");
      await waitUntil(
        async () => {
          f = await follow();
          return f.streams.length === 1;
        },
        60_000,
        "the follower sees AUDIT deleted",
        () => JSON.stringify(f),
      );
      assert.deepEqual(f?.streams.map((s) => s.name), ["ORDERS"]);
      assert.equal(f?.consumers.length, 1);
      // Garbage on the meta group's subjects is counted and ignored: the follower keeps its
      // picture and keeps following (nats-server drops such messages as malformed too).
      const undecodableBefore = f?.undecodable ?? 0;
      sys.publish("$NRG.AE._meta_", Buffer.from([1, 2, 3]));
      sys.publish("$NRG.V._meta_", Buffer.from("not a vote"));
      await sys.flush();
      await waitUntil(
        async () => {
          f = await follow();
          return f.undecodable === undecodableBefore + 2;
        },
        30_000,
        "the follower counts both malformed messages",
        () => JSON.stringify(f),
      );
      assert.deepEqual(f?.streams.map((s) => s.name), ["ORDERS"]);
      await retry(() => jsm.streams.add({ name: "LATE", subjects: ["late.>"], num_replicas: 3 }));
      await waitUntil(
        async () => {
          f = await follow();
          return f.streams.some((s) => s.name === "LATE");
        },
        60_000,
        "the follower still follows",
        () => JSON.stringify(f),
      );
      // A second follower that starts now has missed the meta log's start (compacted or not):
      // it asks the servers what they hold, then follows from there.
      await retry(() => jsm.streams.add({ name: "SINGLE", subjects: ["single.>"], num_replicas: 1 }));
      const singleHolder = (await jsm.streams.info("SINGLE")).cluster?.leader ?? "";
      const latePort = await freePort();
      const late = await startNatsServer(["-m", "-1"], `server_name: T5\n${ACCOUNTS}cluster { name: NRG, listen: 127.0.0.1:${latePort}, routes: [${routes}], nrg_follow: true }\n`, "tsnats");
      servers.push(late);
      let g: (Follow & { seeded?: { servers: number; streams: number; consumers: number } }) | undefined;
      const ordersLeader = (await jsm.streams.info("ORDERS")).cluster?.leader ?? "";
      await waitUntil(
        async () => {
          g = (await getJson<{ nrg_meta_follow: NonNullable<typeof g> }>(`${late.monitorUrl}/jsz`)).nrg_meta_follow;
          return g.seeded !== undefined && g.leader === (await metaLeader()) && g.streams.find((s) => s.name === "ORDERS")?.leader === ordersLeader;
        },
        60_000,
        "the late follower learns the assets and the leaders",
        () => JSON.stringify(g),
      );
      assert.ok(g !== undefined && g.seeded !== undefined);
      assert.equal(g.seeded.servers, 3);
      assert.deepEqual(g.streams.map((s) => [s.account, s.name, s.replicas, [...s.group.peers].sort()]), [
        ["APP", "LATE", 3, ["N1", "N2", "N3"]],
        ["APP", "ORDERS", 3, ["N1", "N2", "N3"]],
        ["APP", "SINGLE", 1, [singleHolder]],
      ]);
      assert.equal(g.streams.find((s) => s.name === "ORDERS")?.group.name, f?.streams.find((s) => s.name === "ORDERS")?.group.name);
      assert.deepEqual(g.consumers.map((c) => [c.stream, c.name, c.group.name]), f?.consumers.map((c) => [c.stream, c.name, c.group.name]));
      // And it follows from there: a stream deleted now leaves both pictures.
      await jsm.streams.delete("LATE");
      await waitUntil(
        async () => {
          g = (await getJson<{ nrg_meta_follow: NonNullable<typeof g> }>(`${late.monitorUrl}/jsz`)).nrg_meta_follow;
          return !g.streams.some((s) => s.name === "LATE");
        },
        60_000,
        "the late follower sees LATE deleted",
        () => JSON.stringify(g),
      );
      // The cluster never took the followers for peers.
      const metaCluster = (await getJson<{ meta_cluster: { cluster_size: number; replicas?: { name: string }[] } }>(`${n1.monitorUrl}/jsz`)).meta_cluster;
      assert.equal(metaCluster.cluster_size, 3);
      assert.ok(!(metaCluster.replicas ?? []).some((r) => r.name === "T4" || r.name === "T5"));
    } finally {
      await app.close();
      await sys.close();
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});

test("the meta follower applies only committed entries, takes a new leader's overwrite, ignores a deposed leader, and goes on past a lost entry", { timeout: 120_000 }, async () => {
  // One tsnats server following; the "leaders" are a system-account client publishing
  // append entries as nats-server encodes them (nrg_wire.ts), so every step is deterministic.
  const routePort = await freePort();
  const ours = await startNatsServer(["-m", "-1"], `server_name: T1\n${ACCOUNTS}cluster { name: NRG, listen: 127.0.0.1:${routePort}, nrg_follow: true }\n`, "tsnats");
  const sys = await connect({ servers: `127.0.0.1:${ours.port}`, user: "sys", pass: "sys" });
  try {
    const [A, B, C] = ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"];
    const assign = (op: NrgEntryOp, name: string): NrgEntry => ({
      type: NrgEntryType.Normal,
      data: Buffer.concat([
        Buffer.from([op]),
        Buffer.from(
          JSON.stringify({
            client: { acc: "APP" },
            created: "2026-12-01T00:00:00Z",
            stream: { name, subjects: [`${name.toLowerCase()}.>`], num_replicas: 3 },
            group: { name: `S-R3F-${name}`, peers: [A, B, C], store: "file" },
            sync: "_INBOX.x",
          }) + "\n",
        ),
      ]),
    });
    const send = async (leader: string, term: number, prevIndex: number, commit: number, entries: NrgEntry[]): Promise<void> => {
      sys.publish("$NRG.AE._meta_", encodeNrgAppendEntry({ leader, term, commit, prevTerm: term, prevIndex, entries, leaderTerm: 0 }), { reply: "$NRG.R.leaderinbox" });
      await sys.flush();
    };
    let f: Follow & { complete: boolean; skipped_entries: number } = (await getJson<{ nrg_meta_follow: Follow & { complete: boolean; skipped_entries: number } }>(`${ours.monitorUrl}/jsz`)).nrg_meta_follow;
    const follow = async (): Promise<typeof f> => (f = (await getJson<{ nrg_meta_follow: typeof f }>(`${ours.monitorUrl}/jsz`)).nrg_meta_follow);
    const names = (): string[] => f.streams.map((s) => s.name);

    await send(A, 1, 0, 0, [{ type: NrgEntryType.PeerState, data: encodeNrgPeerState({ clusterSize: 3, knownPeers: [A, B, C], domainExtension: 0 }) }]);
    await send(A, 1, 1, 1, [assign(NrgEntryOp.AssignStream, "FOO")]);
    await waitUntil(async () => (await follow()).applied === 1, 10_000, "index 1 applied", () => JSON.stringify(f));
    assert.deepEqual(f.peers, [A, B, C]);
    assert.deepEqual(names(), [], "FOO is not committed yet");
    await send(A, 1, 2, 2, []);
    await waitUntil(async () => (await follow()).applied === 2, 10_000, "index 2 applied", () => JSON.stringify(f));
    assert.deepEqual(names(), ["FOO"]);
    assert.equal(f.leader, A);
    assert.equal(f.term, 1);

    // A's BAR at index 3 is never committed: B, elected in term 2, puts BAZ there.
    await send(A, 1, 2, 2, [assign(NrgEntryOp.AssignStream, "BAR")]);
    await send(B, 2, 2, 2, [assign(NrgEntryOp.AssignStream, "BAZ")]);
    await send(B, 2, 3, 3, []);
    // A, deposed, still sends: ignored.
    await send(A, 1, 3, 3, [assign(NrgEntryOp.RemoveStream, "FOO")]);
    await waitUntil(async () => (await follow()).applied === 3, 10_000, "index 3 applied", () => JSON.stringify(f));
    assert.deepEqual(names(), ["BAZ", "FOO"]);
    assert.equal(f.leader, B);
    assert.equal(f.term, 2);
    assert.equal(f.complete, true);

    // Index 4 is lost on the way; once index 5 is committed the follower goes on from it.
    await send(B, 2, 4, 3, [assign(NrgEntryOp.AssignStream, "QUX")]);
    await send(B, 2, 5, 5, []);
    await waitUntil(async () => (await follow()).applied === 5, 10_000, "index 5 applied", () => JSON.stringify(f));
    assert.deepEqual(names(), ["BAZ", "FOO", "QUX"]);
    assert.equal(f.skipped_entries, 1);
    assert.equal(f.complete, false);
    await send(B, 2, 5, 6, [assign(NrgEntryOp.RemoveStream, "FOO")]);
    await send(B, 2, 6, 6, []);
    await waitUntil(async () => (await follow()).applied === 6, 10_000, "index 6 applied", () => JSON.stringify(f));
    assert.deepEqual(names(), ["BAZ", "QUX"]);
    assert.equal(f.undecodable, 0);
    // The system account's JSZ request answers the same picture.
    const reply = await sys.request("$SYS.REQ.SERVER.PING.JSZ", "", { timeout: 5000 });
    const viaSys = (JSON.parse(reply.string()) as { data: { nrg_meta_follow: typeof f } }).data.nrg_meta_follow;
    assert.deepEqual(viaSys.streams.map((s) => s.name), ["BAZ", "QUX"]);
    assert.equal(viaSys.leader, B);
  } finally {
    await sys.close();
    await ours.stop();
  }
});

test("nrg_follow takes a boolean: another value is refused at start-up with the file, line and reason", { timeout: 60_000 }, async () => {
  const port = await freePort();
  await assert.rejects(
    startNatsServer([], `server_name: T1\ncluster {\n  name: NRG\n  listen: 127.0.0.1:${port}\n  nrg_follow: 5\n}\n`, "tsnats"),
    // Go's words for a wrong type, as nats-server reports them (file:line:column).
    (err: Error) => /server\.conf:5:3: interface conversion: interface \{\} is int64, not bool/.test(err.message),
  );
});
