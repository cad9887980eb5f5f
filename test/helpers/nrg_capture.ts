// Test helper: a nats-server 2.15 JetStream cluster of three with a system account user, and a
// system-account client on one server subscribed to `$NRG.>`, recording every RAFT message the
// cluster exchanges (its subscription makes every server route all `$NRG.` traffic to that
// server, so the one client sees the messages between the other two as well).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer, type ReferenceServer } from "./nats_server.js";
import { shortHash } from "../../src/jetstream/util.js";

export interface CapturedNrg {
  subject: string;
  reply: string;
  data: Buffer;
}

export interface NrgCaptureCluster {
  servers: ReferenceServer[];
  names: string[];
  /** Each server's RAFT peer id, by server name. */
  peerIds: Map<string, string>;
  captured: CapturedNrg[];
  /** A client of the APP account (JetStream enabled) and its manager. */
  app: NatsConnection;
  jsm: JetStreamManager;
  stop(): Promise<void>;
}

const ACCOUNTS =
  "accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n  APP: { jetstream: enabled, users: [{ user: app, password: app }] }\n}\nsystem_account: SYS\n";

export async function startNrgCaptureCluster(): Promise<NrgCaptureCluster> {
  const names = ["N1", "N2", "N3"];
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const servers = await Promise.all(
    names.map((name, i) =>
      startNatsServer(
        ["-js", "-m", "-1"],
        `server_name: ${name}\n${ACCOUNTS}jetstream { max_mem_store: 256MB, max_file_store: 1GB }\ncluster { name: NRG, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes}] }\n`,
        "2.15",
      ),
    ),
  );
  const captured: CapturedNrg[] = [];
  let sys: NatsConnection | undefined;
  let app: NatsConnection | undefined;
  const stop = async (): Promise<void> => {
    await app?.close().catch(() => undefined);
    await sys?.close().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    sys = await connect({ servers: `127.0.0.1:${servers[0].port}`, user: "sys", pass: "sys" });
    sys.subscribe("$NRG.>", {
      callback: (_err, m) => {
        captured.push({ subject: m.subject, reply: m.reply ?? "", data: Buffer.from(m.data) });
      },
    });
    await sys.flush();
    app = await connect({ servers: `127.0.0.1:${servers[1].port}`, user: "app", pass: "app" });
    // The first request waits for the meta group's first leader (the servers just started).
    const deadline = Date.now() + 60_000;
    let jsm: JetStreamManager | undefined;
    while (jsm === undefined) {
      try {
        jsm = await jetstreamManager(app, { timeout: 5000 });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    return { servers, names, peerIds: new Map(names.map((n) => [n, shortHash(n)])), captured, app, jsm, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
