// Test helper: a JetStream cluster of tsnats servers on loopback, every server with routes to
// all the others (as deployments list them: the meta group's size comes from the routes), each
// with its own store directory that survives a restart of the server.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type EmbeddedOptions, type EmbeddedServer } from "../../src/index.js";
import { freePort } from "./nats_server.js";
import { waitUntil } from "./server.js";
import type { JetStreamService } from "../../src/jetstream/jetstream.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { Stream } from "../../src/jetstream/stream.js";
import type { RaftMsg, RaftNode } from "../../src/cluster/raft.js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";

export interface JsClusterMember {
  name: string;
  port: number;
  routePort: number;
  storeDir: string;
  url: string;
  srv: EmbeddedServer | undefined;
}

export class JsTestCluster {
  private constructor(
    readonly members: JsClusterMember[],
    private readonly dir: string,
    readonly clusterName: string,
    /** Each server's routes list its own URL too, as nats-server deployments' shared configs do. */
    private readonly routesIncludeSelf: boolean,
    /** More options of every server (users, accounts...). */
    private readonly extra: EmbeddedOptions,
    /** Each server's `server_tags`, by server name, and the `unique_tag` of every server. */
    private readonly tags: { byServer?: Record<string, string[]>; unique?: string } = {},
    /** The JetStream domain of every server, if any. */
    private readonly domain?: string,
  ) {}

  /** `withSystemUser`: clients log in as `a`/`a` (or without credentials) in the global account, `sys`/`sys` in the system account. */
  static async start(
    size: number,
    clusterName = "JSC",
    opts: { routesIncludeSelf?: boolean; withSystemUser?: boolean; serverTags?: Record<string, string[]>; uniqueTag?: string; domain?: string } = {},
  ): Promise<JsTestCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-jsc-"));
    const members: JsClusterMember[] = [];
    for (let i = 0; i < size; i++) {
      const name = `S${i + 1}`;
      const port = await freePort();
      members.push({ name, port, routePort: await freePort(), storeDir: path.join(dir, name), url: `nats://127.0.0.1:${port}`, srv: undefined });
    }
    const extra: EmbeddedOptions = opts.withSystemUser
      ? { users: [{ user: "a", password: "a" }, { user: "sys", password: "sys", account: "$SYS" }], noAuthUser: "a" }
      : {};
    const c = new JsTestCluster(members, dir, clusterName, opts.routesIncludeSelf === true, extra, { byServer: opts.serverTags, unique: opts.uniqueTag }, opts.domain);
    const started = await Promise.allSettled(members.map((m) => c.startMember(m.name)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) {
      // The servers that did start stop too: left running, they would keep the test process
      // alive after the failure is reported (a run that never ends).
      await c.stop();
      throw failed.reason;
    }
    return c;
  }

  member(name: string): JsClusterMember {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  async startMember(name: string): Promise<void> {
    const m = this.member(name);
    // JSC_LOG=1: every server's log lines on stderr, with the time and the server's name (to see why a test stalls).
    const line = (level: string) => (msg: string): void => console.error(`${new Date().toISOString().slice(11, 23)} ${m.name} ${level} ${msg}`);
    const log = process.env.JSC_LOG === "1" ? { debugEnabled: false, traceEnabled: false, info: line("INF"), warn: line("WRN"), error: line("ERR"), fatal: line("FTL"), debug() {}, trace() {} } : undefined;
    m.srv = await startServer({
      ...(log !== undefined ? { log } : {}),
      ...this.extra,
      host: "127.0.0.1",
      port: m.port,
      serverName: m.name,
      serverTags: this.tags.byServer?.[m.name] ?? [],
      httpPort: -1,
      jetstream: { storeDir: m.storeDir, ...(this.tags.unique !== undefined ? { uniqueTag: this.tags.unique } : {}), ...(this.domain !== undefined ? { domain: this.domain } : {}) },
      cluster: { name: this.clusterName, host: "127.0.0.1", port: m.routePort, routes: this.members.filter((x) => this.routesIncludeSelf || x !== m).map((x) => `nats://127.0.0.1:${x.routePort}`) },
    });
  }

  /**
   * Stops a member and waits until no running member has a route to it any more: until then a
   * request sent right after the stop can reach a server that still counts the stopped one as
   * its meta leader and leaves the request to it (lost, as with nats-server when a leader dies
   * with a request in flight), where a test means a request sent once the server is gone.
   */
  async stopMember(name: string): Promise<void> {
    const m = this.member(name);
    await m.srv?.close();
    m.srv = undefined;
    await waitUntil(
      () =>
        this.members.every((o) => {
          const cl = o.srv?.server.services.find((s) => s.name === "cluster") as Cluster | undefined;
          return cl === undefined || !cl.peers().some((p) => p.name === name);
        }),
      10_000,
      `no route to ${name} left on the running members`,
    );
  }

  js(name: string): JetStreamService {
    const srv = this.member(name).srv;
    const js = srv?.server.services.find((s) => s.name === "jetstream") as JetStreamService | undefined;
    if (js === undefined) throw new Error(`${name} runs no JetStream`);
    return js;
  }

  /**
   * Every running member has all its route connections to every other (each pool slot and the
   * system account's own route): only then does a client's request reach every server.
   */
  async fullMesh(timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      () => {
        const running = this.members.filter((m) => m.srv !== undefined);
        return running.every((m) => {
          const cl = m.srv?.server.services.find((s) => s.name === "cluster") as Cluster | undefined;
          if (cl === undefined || cl.routes.size !== running.length - 1) return false;
          for (const pool of cl.routes.values()) if (pool.some((r) => r === undefined)) return false;
          for (const byPeer of cl.accRoutes.values()) if (byPeer.size !== running.length - 1) return false;
          return true;
        });
      },
      timeoutMs,
      "a full mesh of routes",
    );
  }

  /** The meta leader every running member agrees on (once the routes are all up). */
  async metaLeader(timeoutMs = 20_000): Promise<string> {
    await this.fullMesh(timeoutMs);
    let leader = "";
    await waitUntil(
      () => {
        const running = this.members.filter((m) => m.srv !== undefined);
        const seen = running.map((m) => this.js(m.name).cluster?.leader ?? "");
        leader = seen[0] ?? "";
        const node = running.some((m) => m.name === leader) ? this.js(leader).cluster?.node : undefined;
        const ready = node?.leaderReady === true;
        // Every running member answered the leader (a stream placed right after can use them all).
        const heard = node?.peerStatus().filter((p) => p.current).length ?? 0;
        return leader !== "" && ready && seen.every((l) => l === leader) && heard >= running.length - 1;
      },
      timeoutMs,
      "a meta leader",
    );
    return leader;
  }

  /** The meta leader, once it sees every server current (placement takes the servers it sees current). */
  async metaAllCurrent(timeoutMs = 20_000): Promise<string> {
    const meta = await this.metaLeader(timeoutMs);
    await waitUntil(() => this.js(meta).cluster?.node?.peerStatus().every((p) => p.current) === true, timeoutMs, "every server current in the meta group");
    return meta;
  }

  async stop(): Promise<void> {
    for (const m of this.members) await m.srv?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A client of the server at `url` and its JetStream manager (API answers waited for 20 s: a cluster may be electing), added to `ncs` for the test to close. */
export async function managerOn(url: string, ncs: NatsConnection[]): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: url });
  ncs.push(nc);
  return { nc, jsm: await jetstreamManager(nc, { timeout: 20_000 }) };
}

/** A member's copy of a stream in the global account (undefined while the member is stopped). */
export function streamOn(c: JsTestCluster, member: string, name: string): Stream | undefined {
  if (c.member(member).srv === undefined) return undefined;
  return c.js(member).accounts.get("$G")?.streams.get(name);
}

/** Every message of a member's copy: [seq, subject, payload] (the member must hold the stream). */
export function copyOf(c: JsTestCluster, member: string, name: string): Array<[number, string, string]> {
  const s = streamOn(c, member, name);
  if (s === undefined) throw new Error(`${member} does not hold ${name}`);
  const out: Array<[number, string, string]> = [];
  const st = s.store.state();
  for (let seq = st.firstSeq; seq <= st.lastSeq && st.msgs > 0; seq++) {
    const m = s.store.loadNextMsg("", seq);
    if (m === null) break;
    out.push([m.seq, m.subject, m.data.toString()]);
    seq = m.seq;
  }
  return out;
}

/** The stream group's leader once every running member agrees on it (and it is not `not`). */
export async function replicaLeader(c: JsTestCluster, name: string, not = ""): Promise<string> {
  let leader = "";
  await waitUntil(
    () => {
      const running = c.members.filter((m) => m.srv !== undefined);
      const seen = running.map((m) => streamOn(c, m.name, name)?.replica?.leader ?? "");
      leader = seen[0];
      return leader !== "" && leader !== not && seen.every((l) => l === leader) && streamOn(c, leader, name)?.replica?.node.leaderReady === true;
    },
    30_000,
    `a leader of ${name}`,
  );
  return leader;
}

/**
 * A RAFT member as a paused process's: it neither sends nor hears until resumed; `stopTimers`
 * also cancels its heartbeat and election timers, so it keeps its role and its leader for good
 * (a leader that goes on believing it leads, a follower that never campaigns).
 */
export function pauseRaft(raft: RaftNode, stopTimers = false): () => void {
  const node = raft as unknown as {
    transport: { send(to: string, msg: RaftMsg): void };
    heartbeatTimer?: { cancel(): void };
    electionTimer?: { cancel(): void };
    receive(from: string, msg: RaftMsg): void;
  };
  const send = node.transport.send;
  node.transport.send = () => undefined;
  node.receive = () => undefined;
  if (stopTimers) {
    node.heartbeatTimer?.cancel();
    node.electionTimer?.cancel();
  }
  return () => {
    node.transport.send = send;
    delete (node as Partial<typeof node>).receive;
  };
}
