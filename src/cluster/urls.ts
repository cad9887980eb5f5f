// The "host:port" URLs a server offers for a listener, as nats-server builds them for
// connect_urls (and leafnode/gateway URLs): the advertised address when set, else every
// global unicast address of the machine when listening on 0.0.0.0 or ::, else the listen host.
import os from "node:os";
import net from "node:net";
import type { Server } from "../server/server.js";

export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Global unicast addresses (not loopback, not link-local), as Go's IP.IsGlobalUnicast. */
function globalUnicastAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv6" && /^fe80:/i.test(a.address)) continue;
      if (a.family === "IPv4" && a.address.startsWith("169.254.")) continue;
      out.push(a.address);
    }
  }
  return out;
}

export function listenUrls(advertise: string | undefined, host: string, port: number): string[] {
  if (advertise !== undefined && advertise !== "") {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(advertise) ?? /^([^:]+)(?::(\d+))?$/.exec(advertise);
    if (m !== null) return [hostPort(m[1], m[2] !== undefined ? Number(m[2]) : port)];
    return [advertise];
  }
  if (net.isIP(host) !== 0 && (host === "0.0.0.0" || host === "::")) {
    const ips = globalUnicastAddresses().map((ip) => hostPort(ip, port));
    if (ips.length > 0) return ips;
    return [];
  }
  return [hostPort(host, port)];
}

/** Whether a listen host means every interface. */
export function listensEverywhere(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

/**
 * A listener's URLs as the ports file lists them (nats-server's portsInfo): on every interface,
 * each address of every interface in the system's order, loopback and link-local included (so
 * 127.0.0.1 comes first); else the listen host alone.
 */
export function portsFileUrls(scheme: string, host: string, port: number): string[] {
  if (!listensEverywhere(host)) return [`${scheme}://${hostPort(host, port)}`];
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.push(`${scheme}://${hostPort(a.address, port)}`);
  }
  return out.length > 0 ? out : [`${scheme}://127.0.0.1:${port}`];
}

/** This server's client URLs (for connect_urls). */
export function clientConnectUrls(server: Server): string[] {
  // Before the client listener is up (routes may open first: cluster.ts), the fixed port it will have.
  const port = server.port !== 0 ? server.port : Math.max(server.options.port, 0);
  return listenUrls(server.options.clientAdvertise, server.options.host, port);
}
