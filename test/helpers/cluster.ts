// Shared test helper: clusters of tsnats servers and nats-server reference servers on loopback,
// and the checks that a cluster carries interest: wait for the full mesh, wait until a
// subscriber's interest has reached a publisher's server (through a probe request that travels
// the same route right behind it).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./server.js";
import { freePort, startNatsServer, type ReferenceLine, type ReferenceServer } from "./nats_server.js";
import type { EmbeddedOptions } from "../../src/index.js";
import type { Cluster } from "../../src/cluster/cluster.js";

/** One member of a test cluster: tsnats (embedded) or a nats-server process. */
export interface Member {
  readonly kind: "tsnats" | ReferenceLine;
  readonly name: string;
  readonly clientUrl: string;
  readonly routeUrl: string;
  readonly monitorPort: number;
  /** Number of peers this member has routes to. */
  peers(): Promise<number>;
  stop(): Promise<void>;
}

export function clusterOf(ts: TestServer): Cluster {
  const c = ts.server.services.find((s) => s.name === "cluster");
  if (c === undefined) throw new Error("server has no cluster");
  return c as Cluster;
}

export async function startTsMember(
  name: string,
  clusterName: string,
  routes: string[],
  extra: EmbeddedOptions = {},
): Promise<Member & { ts: TestServer }> {
  const ts = await startTestServer({
    serverName: name,
    httpPort: -1,
    ...extra,
    cluster: { name: clusterName, port: -1, routes, ...(extra.cluster ?? {}) },
  });
  const cl = clusterOf(ts);
  return {
    kind: "tsnats",
    name,
    ts,
    clientUrl: ts.url,
    routeUrl: `nats://127.0.0.1:${cl.port}`,
    monitorPort: Number(new URL(ts.monitorUrl as string).port),
    peers: async () => cl.numPeers,
    stop: () => ts.close(),
  };
}

export async function startRefMember(
  line: ReferenceLine,
  name: string,
  clusterName: string,
  routes: string[],
  config?: string,
  extraArgs: string[] = [],
): Promise<Member & { ref: ReferenceServer }> {
  // A free port can be taken by someone else before nats-server binds it: try again with others.
  for (let attempt = 1; ; attempt++) {
    const cport = await freePort();
    const mport = await freePort();
    const args = ["-n", name, "--cluster", `nats://127.0.0.1:${cport}`, "--cluster_name", clusterName, "-m", String(mport), ...extraArgs];
    if (routes.length > 0) args.push("--routes", routes.join(","));
    let ref: ReferenceServer;
    try {
      ref = await startNatsServer(args, config, line, [cport, mport]);
    } catch (err) {
      if (attempt < 5 && /address already in use/.test((err as Error).message)) continue;
      throw err;
    }
    return refMember(line, name, ref, cport, mport);
  }
}

function refMember(line: ReferenceLine, name: string, ref: ReferenceServer, cport: number, mport: number): Member & { ref: ReferenceServer } {
  return {
    kind: line,
    name,
    ref,
    clientUrl: `nats://127.0.0.1:${ref.port}`,
    routeUrl: `nats://127.0.0.1:${cport}`,
    monitorPort: mport,
    peers: async () => {
      const r = await fetch(`http://127.0.0.1:${mport}/routez`);
      const j = (await r.json()) as { routes?: Array<{ rid: number; remote_id: string }> };
      return new Set((j.routes ?? []).map((x) => x.remote_id)).size;
    },
    stop: () => ref.stop(),
  };
}

/** Wait until every member has a route to every other one. */
export async function waitForMesh(members: Member[], timeoutMs = 15_000): Promise<void> {
  const want = members.length - 1;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(members.map((m) => m.peers().catch(() => -1)));
    if (counts.every((n) => n === want)) return;
    if (Date.now() > deadline) throw new Error(`no full mesh: peers ${members.map((m, i) => `${m.name}=${counts[i]}`).join(" ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let probeSeq = 0;

/**
 * Wait until the subscriptions `sub` made so far are known where `pub` is connected: `sub`
 * answers a fresh probe subject, `pub` asks until it gets the answer. Interest travels in order
 * on one route, so the earlier subscriptions have arrived when the probe's has.
 */
export async function waitForInterest(pub: NatsConnection, sub: NatsConnection, timeoutMs = 10_000): Promise<void> {
  const subject = `probe.${process.pid}.${++probeSeq}`;
  const s = sub.subscribe(subject, { callback: (_e, m) => void m.respond() });
  await sub.flush();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await pub.request(subject, undefined, { timeout: 500 });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`interest did not propagate: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  } finally {
    s.unsubscribe();
  }
}

export function connectTo(m: Member, opts: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({ servers: m.clientUrl, reconnect: false, ...opts });
}

/** Stop all members, ignoring ones already stopped. */
export async function stopAll(members: Array<Member | undefined>): Promise<void> {
  await Promise.all(members.map((m) => m?.stop().catch(() => undefined)));
}

/** A temp directory removed by the caller. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export { waitUntil };

/**
 * Every connection subscribes to one subject, then every connection publishes `n` numbered
 * messages (with a header on odd ones): each subscriber must get each message exactly once, in
 * each publisher's order, headers intact.
 */
export async function checkAllToAll(conns: NatsConnection[], subject: string, n = 50): Promise<void> {
  const { headers } = await import("@nats-io/transport-node");
  const got = conns.map(() => new Map<number, number[]>());
  const errors: string[] = [];
  const subs = conns.map((c, i) =>
    c.subscribe(subject, {
      callback: (_e, m) => {
        const [p, s] = m.string().split(":").map(Number);
        if (s % 2 === 1 && m.headers?.get("X-Seq") !== String(s)) errors.push(`sub ${i}: header lost on ${p}:${s}`);
        const list = got[i].get(p) ?? [];
        list.push(s);
        got[i].set(p, list);
      },
    }),
  );
  for (const c of conns) await c.flush();
  for (const p of conns) for (const s of conns) if (p !== s) await waitForInterest(p, s);
  conns.forEach((c, p) => {
    for (let s = 0; s < n; s++) {
      if (s % 2 === 1) {
        const h = headers();
        h.set("X-Seq", String(s));
        c.publish(subject, `${p}:${s}`, { headers: h });
      } else c.publish(subject, `${p}:${s}`);
    }
  });
  const total = n * conns.length;
  await waitUntil(() => got.every((g) => [...g.values()].reduce((a, l) => a + l.length, 0) >= total), 15_000, "all messages delivered");
  // Anything late (a duplicate) shows up after one more round trip everywhere.
  for (const c of conns) await c.flush();
  for (const s of subs) s.unsubscribe();
  if (errors.length > 0) throw new Error(errors.join("; "));
  got.forEach((g, i) => {
    for (let p = 0; p < conns.length; p++) {
      const list = g.get(p) ?? [];
      const want = Array.from({ length: n }, (_, k) => k);
      if (JSON.stringify(list) !== JSON.stringify(want)) {
        throw new Error(`subscriber ${i} got from publisher ${p}: ${list.length} messages, not each once in order: ${list.slice(0, 20).join(",")}...`);
      }
    }
  });
}

/**
 * Users a/a (account A) and b/b (account B) on both members: `n` messages published in each
 * account on `pubM` on the same subject reach only that account's subscriber on `subM`, each
 * once and in order.
 */
export async function checkAccountIsolation(pubM: Member, subM: Member, subject: string, n: number): Promise<void> {
  const subA = await connectTo(subM, { user: "a", pass: "a" });
  const subB = await connectTo(subM, { user: "b", pass: "b" });
  const pubA = await connectTo(pubM, { user: "a", pass: "a" });
  const pubB = await connectTo(pubM, { user: "b", pass: "b" });
  const gotA: string[] = [];
  const gotB: string[] = [];
  subA.subscribe(subject, { callback: (_e, m) => void gotA.push(m.string()) });
  subB.subscribe(subject, { callback: (_e, m) => void gotB.push(m.string()) });
  await waitForInterest(pubA, subA);
  await waitForInterest(pubB, subB);
  for (let i = 0; i < n; i++) {
    pubA.publish(subject, `a${i}`);
    pubB.publish(subject, `b${i}`);
  }
  await waitUntil(() => gotA.length >= n && gotB.length >= n, 5000, `${n} messages per account`);
  // Anything that crossed accounts, or came twice, shows up after one more round trip everywhere.
  for (const c of [pubA, pubB, subA, subB]) await c.flush();
  assert.deepEqual(gotA, Array.from({ length: n }, (_, i) => `a${i}`));
  assert.deepEqual(gotB, Array.from({ length: n }, (_, i) => `b${i}`));
  await Promise.all([subA, subB, pubA, pubB].map((c) => c.close()));
}

/**
 * A queue group with members on every connection (2 each) plus one plain subscriber per
 * connection; `n` messages from each connection: each message reaches exactly one member
 * cluster-wide and every plain subscriber.
 */
export async function checkQueueGroup(conns: NatsConnection[], subject: string, n = 60): Promise<number[]> {
  const queueGot = new Map<string, number>();
  const perConn = conns.map(() => 0);
  const plainGot = conns.map(() => 0);
  const dup: string[] = [];
  for (let i = 0; i < conns.length; i++) {
    for (let k = 0; k < 2; k++) {
      conns[i].subscribe(subject, {
        queue: "workers",
        callback: (_e, m) => {
          const id = m.string();
          if (queueGot.has(id)) dup.push(id);
          queueGot.set(id, i);
          perConn[i]++;
        },
      });
    }
    conns[i].subscribe(subject, { callback: () => void plainGot[i]++ });
    await conns[i].flush();
  }
  for (const p of conns) for (const s of conns) if (p !== s) await waitForInterest(p, s);
  conns.forEach((c, p) => {
    for (let s = 0; s < n; s++) c.publish(subject, `${p}:${s}`);
  });
  const total = n * conns.length;
  await waitUntil(() => queueGot.size >= total && plainGot.every((x) => x >= total), 15_000, "queue deliveries");
  for (const c of conns) await c.flush();
  if (dup.length > 0) throw new Error(`delivered to more than one queue member: ${dup.slice(0, 10).join(",")}`);
  if (queueGot.size !== total) throw new Error(`queue group got ${queueGot.size} of ${total}`);
  if (!plainGot.every((x) => x === total)) throw new Error(`plain subscribers got ${plainGot.join(",")} of ${total}`);
  return perConn;
}
