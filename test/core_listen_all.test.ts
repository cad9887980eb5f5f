// Listening on every address (`-a 0.0.0.0`, the default): nats-server's one dual-stack socket
// takes IPv4 and IPv6 clients (a client that resolves `localhost` to ::1 first included), and
// shows IPv4 peers as a.b.c.d. tsnats is run as a process beside nats-server 2.15 with the
// same flags, and the same clients connect to both over 127.0.0.1 and ::1.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import os from "node:os";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { referenceMissing } from "./helpers/side_by_side.js";

const hasIpv6 = Object.values(os.networkInterfaces()).some((l) => l?.some((a) => a.family === "IPv6" && a.internal));
const skip = referenceMissing() || (hasIpv6 ? false : "this machine has no IPv6 loopback");

/** The INFO a raw TCP connection to host:port gets, or the connection error's code. */
function firstInfo(host: string, port: number): Promise<{ client_ip?: string } | string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      const end = buf.indexOf("\r\n");
      if (end < 0) return;
      s.destroy();
      resolve(JSON.parse(buf.slice(5, end)) as { client_ip?: string });
    });
    s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

interface Seen {
  info4: unknown;
  info6: unknown;
  connzIps: string[];
  monitor6: number;
  localOnly6: unknown;
  /** The ports file's lists, ports left out. */
  ports: Record<string, string[] | undefined>;
  localPorts: Record<string, string[] | undefined>;
}

/** A ports file's URL lists with the (random) ports replaced by "P". */
function portsShape(ports: Record<string, string[] | undefined>): Record<string, string[] | undefined> {
  const out: Record<string, string[] | undefined> = {};
  for (const key of ["nats", "monitoring", "cluster", "websocket"]) out[key] = ports[key]?.map((u) => u.replace(/:\d+$/, ":P"));
  return out;
}

async function observe(line: "tsnats" | "2.15"): Promise<Seen> {
  // Routes and websocket on every address too: the ports file lists each interface's addresses.
  const listeners = 'cluster { name: C, listen: "0.0.0.0:-1" }\nwebsocket { listen: "0.0.0.0:-1", no_tls: true }\n';
  const all: ReferenceServer = await startNatsServer(["-a", "0.0.0.0", "-m", "-1"], listeners, line);
  const local: ReferenceServer = await startNatsServer([], undefined, line);
  try {
    const info4 = await firstInfo("127.0.0.1", all.port);
    const info6 = await firstInfo("::1", all.port);
    const nc4 = await connect({ servers: `nats://127.0.0.1:${all.port}` });
    const nc6 = await connect({ servers: `nats://[::1]:${all.port}` });
    const mport = Number(new URL(all.monitorUrl ?? "").port);
    const connz = (await (await fetch(`http://[::1]:${mport}/connz`)).json()) as { connections: { ip: string }[] };
    await nc4.close();
    await nc6.close();
    return {
      info4: typeof info4 === "string" ? info4 : info4.client_ip,
      info6: typeof info6 === "string" ? info6 : info6.client_ip,
      connzIps: connz.connections.map((c) => c.ip).sort(),
      monitor6: (await fetch(`http://[::1]:${mport}/healthz`)).status,
      // -a 127.0.0.1 stays IPv4 only.
      localOnly6: await firstInfo("::1", local.port),
      ports: portsShape(all.ports as Record<string, string[]>),
      localPorts: portsShape(local.ports as Record<string, string[]>),
    };
  } finally {
    await all.stop();
    await local.stop();
  }
}

test("-a 0.0.0.0 takes IPv4 and IPv6 clients on one port, shows IPv4 peers unmapped and lists every interface's addresses in the ports file, as nats-server 2.15", { skip, timeout: 60_000 }, async () => {
  const [ts, ref] = await Promise.all([observe("tsnats"), observe("2.15")]);
  const { ports, localPorts, ...seen } = ref;
  assert.deepEqual(seen, { info4: "127.0.0.1", info6: "::1", connzIps: ["127.0.0.1", "::1"], monitor6: 200, localOnly6: "ECONNREFUSED" });
  // Every interface's addresses, loopback first; -a 127.0.0.1 lists that address alone.
  assert.deepEqual(ports.nats?.slice(0, 2), ["nats://127.0.0.1:P", "nats://[::1]:P"]);
  assert.deepEqual(ports.websocket?.slice(0, 2), ["ws://127.0.0.1:P", "ws://[::1]:P"]);
  assert.deepEqual(localPorts, { nats: ["nats://127.0.0.1:P"], monitoring: undefined, cluster: undefined, websocket: undefined });
  assert.deepEqual(ts, ref);
});
