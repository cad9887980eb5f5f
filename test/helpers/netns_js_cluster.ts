// Test helper: a JetStream cluster of three tsnats processes, each in its own network namespace
// (netns.ts), for the fault tests (meta group faults, the Jepsen-style stream checker): the
// config every node gets, client options that prefer one node, a retry for API calls while the
// cluster settles, and one teardown for connections, namespaces, processes and store dirs.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { connect, NatsConnection } from "@nats-io/transport-node";
import { LabServer, NetnsLab, tsnatsCommand, tsnatsPowerLossCommand } from "./netns.js";

export interface NetnsJsClusterOptions {
  /** cluster.name of every node. */
  name: string;
  /** Serve monitoring on port 8222 of each node (for /jsz). */
  http: boolean;
  /** Prefix of the store directories' names. */
  dirPrefix: string;
  /** Run every server under the power-loss layer (LabServer.powerLoss()). */
  powerLoss?: boolean;
}

export class NetnsJsCluster {
  readonly servers: LabServer[] = [];
  readonly dirs: string[] = [];
  /** Connections the test opened: closed by stop(). */
  readonly conns: NatsConnection[] = [];

  private constructor(readonly lab: NetnsLab) {}

  static async start(opts: NetnsJsClusterOptions): Promise<NetnsJsCluster> {
    const c = new NetnsJsCluster(await NetnsLab.create(3));
    try {
      for (let i = 0; i < 3; i++) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${opts.dirPrefix}-${i}-`));
        c.dirs.push(dir);
        c.servers.push(new LabServer(c.lab, i, c.config(i, dir, opts), opts.powerLoss === true ? tsnatsPowerLossCommand(dir) : tsnatsCommand()));
      }
      await Promise.all(c.servers.map((s) => s.start()));
    } catch (err) {
      // The caller gets no cluster to stop: without this, the servers that did start (and the
      // namespaces) outlive the failed test and keep the test process alive until killed.
      await c.stop();
      throw err;
    }
    return c;
  }

  private config(i: number, storeDir: string, opts: NetnsJsClusterOptions): string {
    const me = this.lab.nodes[i].ip;
    const routes = this.lab.nodes.filter((n) => n.index !== i).map((n) => `"nats://${n.ip}:6222"`);
    return `server_name: n${i}
listen: "${me}:4222"
${opts.http ? `http: "${me}:8222"\n` : ""}jetstream { store_dir: "${storeDir}" }
cluster {
  name: ${opts.name}
  listen: "${me}:6222"
  routes: [${routes.join(", ")}]
  ping_interval: "500ms"
  ping_max: 2
}
`;
  }

  /** Client options listing every node, `first` first, reconnecting quickly and forever. */
  clientOpts(first: number): Parameters<typeof connect>[0] {
    const order = [first, ...this.lab.nodes.map((n) => n.index).filter((i) => i !== first)];
    return { servers: order.map((i) => `${this.lab.nodes[i].ip}:4222`), noRandomize: true, pingInterval: 500, maxPingOut: 2, reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 2000 };
  }

  async stop(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
    await this.lab.destroy();
    for (const s of this.servers) s.cleanup();
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** Retry an API call while the cluster settles (a request may get no answer during an election). */
export async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what}: ${(last as Error)?.message ?? String(last)}`);
}
