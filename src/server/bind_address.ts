// Which address a listener binds, and how a peer's address is shown.
//
// nats-server (Go) listens on "0.0.0.0" with one dual-stack socket: clients reach it over IPv4
// and IPv6 alike, `localhost` resolved to ::1 included. Node binds "0.0.0.0" to IPv4 only, so a
// client that tries ::1 first is refused. The unspecified IPv4 address therefore becomes "::"
// (dual-stack, Node's default for it) when this machine has IPv6 at all. Peers that come in
// over IPv4 then show as IPv4-mapped addresses (::ffff:a.b.c.d): they are shown as a.b.c.d, as
// Go shows them (INFO client_ip, /connz, logs, permissions by address).
import os from "node:os";

let ipv6: boolean | undefined;

function hasIpv6(): boolean {
  if (ipv6 === undefined) {
    ipv6 = Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === "IPv6") === true);
  }
  return ipv6;
}

/** The host to give `listen()` for a configured listen host. */
export function bindHost(host: string): string {
  return (host === "0.0.0.0" || host === "") && hasIpv6() ? "::" : host;
}

/** A socket's remote address as nats-server shows it (IPv4-mapped IPv6 unmapped). */
export function peerAddress(addr: string | undefined): string {
  if (addr === undefined) return "";
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

/**
 * A start-up failure nats-server logs in its own words ("Error listening on port: ...",
 * "Can't start monitoring: ..."): the fatal line shows it as is.
 */
export class StartError extends Error {}

/** Go's net.Listen error text for what Node's listen() reported (nats-server quotes it). */
export function goListenError(host: string, port: number, err: NodeJS.ErrnoException): string {
  const at = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch (err.code) {
    case "EADDRINUSE":
      return `listen tcp ${at}: bind: address already in use`;
    case "EACCES":
      return `listen tcp ${at}: bind: permission denied`;
    case "EADDRNOTAVAIL":
      return `listen tcp ${at}: bind: cannot assign requested address`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `listen tcp: lookup ${host}: no such host`;
    default:
      return err.message;
  }
}

/**
 * Go's refusal of a port a listener cannot have (nats-server takes any integer from its
 * options and lets net.Listen refuse it): its text, or undefined for a usable port (-1 is any).
 */
export function invalidListenPort(port: number): string | undefined {
  return port !== -1 && (port < 0 || port > 65535) ? `listen tcp: address ${port}: invalid port` : undefined;
}
