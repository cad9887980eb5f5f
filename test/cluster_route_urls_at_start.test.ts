// A server started with a fixed client port and configured routes opens its client port only
// once those routes are registered on both sides (src/cluster/cluster.ts, beforeClientListener):
// whoever sees that port accept can reach every server the routes brought, through any of them.
// Client test harnesses rely on it: nats.c starts a server, polls its client port until it
// accepts, then connects to the first server and expects every URL (GetServers,
// DiscoveredServersCb, ServerPoolUpdatedOnClusterUpdate). nats-server opens its client port
// first and its routes right after, a millisecond's gap; tsnats' routes took tens to hundreds of
// milliseconds longer, and under load those tests failed 1 to 2 runs in 10.
//
// Servers run as processes, as the harness runs them; the client port is polled every few
// milliseconds (tighter than nats.c's 200 ms), so the first accept is caught at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { freePort, TSNATS_SERVER_BIN, waitForPort } from "./helpers/nats_server.js";
import { RawConn } from "./helpers/raw.js";

interface Proc {
  child: ChildProcess;
  client: number;
  route: number;
  output: () => string;
}

const running = new Set<ChildProcess>();

/** A member routed to `routes` (and to itself with `self`, as a config listing every member does). */
async function spawnMember(routes: Pick<Proc, "route">[], self = false): Promise<Proc> {
  const client = await freePort();
  const route = await freePort();
  const args = [TSNATS_SERVER_BIN, "-a", "127.0.0.1", "-p", String(client), "-cluster", `nats://127.0.0.1:${route}`, "-cluster_name", "abc"];
  const to = [...routes, ...(self ? [{ route }] : [])];
  if (to.length > 0) args.push("-routes", to.map((r) => `nats://127.0.0.1:${r.route}`).join(","));
  const child = spawn(process.execPath, [...args, "-D"], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  return { child, client, route, output: () => out };
}

/** Resolves at the first moment `port` accepts a TCP connection (tried every 2 ms). */
async function firstAccept(p: Proc): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`server exited with ${p.child.exitCode}:\n${p.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: p.client });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`client port ${p.client} never accepted:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The route lines of the members' logs, for a failure's message. */
function routeLog(...ps: Proc[]): string {
  return ps.map((p, i) => p.output().split("\n").filter((l) => /[Rr]oute|client listener|Listening/.test(l)).map((l) => `${i}: ${l}`).join("\n")).join("\n");
}

function urlOf(p: Proc): string {
  return `127.0.0.1:${p.client}`;
}

/** connect_urls of the INFO a new client of `p` gets. */
async function connectUrls(p: Proc, conns: RawConn[]): Promise<string[]> {
  const c = await RawConn.connect(p.client, { timeoutMs: 30_000 });
  conns.push(c);
  return ((c.info.connect_urls as string[] | undefined) ?? []).slice().sort();
}

test("a server with routes opens its client port once they are up: a client of any member, connecting then, gets every URL", async () => {
  const conns: RawConn[] = [];
  try {
    const a = await spawnMember([]);
    await firstAccept(a);
    // A's route port too: a route refused there is retried a second later, a start-up race of its own.
    await waitForPort("127.0.0.1", a.route, 60_000, () => a.child.exitCode !== null);

    const b = await spawnMember([a]);
    await firstAccept(b);
    // At once, as nats.c's GetServers: B is known to A, A to B.
    const [fromA, fromB] = await Promise.all([connectUrls(a, conns), connectUrls(b, conns)]);
    assert.deepEqual(fromA, [urlOf(a), urlOf(b)].sort(), `A's new client, as B's client port first accepts\n${routeLog(a, b)}`);
    assert.deepEqual(fromB, [urlOf(a), urlOf(b)].sort(), `B's first client\n${routeLog(a, b)}`);

    // Routes to both (nats.c's ServerPoolUpdatedOnClusterUpdate restarts a server so).
    const c = await spawnMember([a, b]);
    await firstAccept(c);
    const all = [urlOf(a), urlOf(b), urlOf(c)].sort();
    const [a2, b2, c2] = await Promise.all([connectUrls(a, conns), connectUrls(b, conns), connectUrls(c, conns)]);
    assert.deepEqual(a2, all, `A's new client, as C's client port first accepts\n${routeLog(a, b, c)}`);
    assert.deepEqual(b2, all, `B's new client\n${routeLog(a, b, c)}`);
    assert.deepEqual(c2, all, `C's first client\n${routeLog(a, b, c)}`);
    assert.match(c.output(), /Configured routes before the client listener: 2 of 2 settled/, routeLog(a, b, c));
  } finally {
    for (const c of conns) c.socket.destroy();
    const exits = [...running].map((p) => new Promise((r) => p.once("exit", r)));
    for (const p of running) p.kill("SIGINT");
    await Promise.all(exits);
  }
});

test("a configured route that refuses, or leads back to the server itself, does not hold the client port", async () => {
  const conns: RawConn[] = [];
  try {
    const nowhere = { route: await freePort() };
    const s = await spawnMember([nowhere], true);
    await firstAccept(s);
    // Its own URL at most (a lone member's INFO may leave connect_urls out).
    for (const u of await connectUrls(s, conns)) assert.equal(u, urlOf(s));
    // Settled: the refused dial at once, the route to itself once it saw its own INFO (far below the 2 s cap).
    const m = /Configured routes before the client listener: 2 of 2 settled in (\d+) ms/.exec(s.output());
    assert.ok(m !== null, s.output());
  } finally {
    for (const c of conns) c.socket.destroy();
    const exits = [...running].map((p) => new Promise((r) => p.once("exit", r)));
    for (const p of running) p.kill("SIGINT");
    await Promise.all(exits);
  }
});
