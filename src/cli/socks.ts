// --socks-proxy: NATS connections through a SOCKS5 proxy (natscli's socks_proxy setting). The
// `socks` library does the proxy handshake; nats.js lets a program supply the transport, so a
// NodeTransport whose dial goes through the proxy carries the whole NATS protocol, TLS
// included (TLS runs on top of the proxied socket, as with a direct one).
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { SocksClient, type SocksProxy } from "socks";
import { NatsConnectionImpl, setTransportFactory, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";
import { CliError } from "./runtime.js";

/**
 * Parse a proxy setting as natscli does (Go's proxy.FromURL): socks5://[user:pass@]host:port
 * or socks5h://...; a bare host:port means socks5. Hostnames of NATS servers are always
 * handed to the proxy to resolve.
 */
export function parseSocksProxy(text: string): SocksProxy {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `socks5://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new CliError(`invalid SOCKS proxy "${text}"`, "give it as socks5://host:port (user:password@ may precede the host)");
  }
  if (u.protocol !== "socks5:" && u.protocol !== "socks5h:") {
    throw new CliError(`unsupported SOCKS proxy scheme "${u.protocol.replace(/:$/, "")}"`, "only SOCKS5 proxies are supported: socks5://host:port");
  }
  const port = Number(u.port || "1080");
  if (u.hostname === "" || !Number.isInteger(port) || port <= 0 || port > 65535) throw new CliError(`invalid SOCKS proxy "${text}"`, "give it as socks5://host:port");
  const proxy: SocksProxy = { host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port, type: 5 };
  if (u.username !== "") {
    proxy.userId = decodeURIComponent(u.username);
    proxy.password = decodeURIComponent(u.password);
  }
  return proxy;
}

/** A NodeTransport that reaches the server through a SOCKS5 proxy. */
class SocksTransport extends NodeTransport {
  constructor(
    private readonly proxy: SocksProxy,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  override async dial(hp: { hostname: string; port: number }): Promise<Socket> {
    try {
      const { socket } = await SocksClient.createConnection({ proxy: this.proxy, command: "connect", destination: { host: hp.hostname, port: hp.port }, timeout: this.timeoutMs });
      socket.setNoDelay(true);
      return socket;
    } catch (err) {
      throw new Error(`SOCKS proxy ${this.proxy.host}:${this.proxy.port}: ${(err as Error).message}`);
    }
  }

  override async tlsFirst(hp: { hostname: string; port: number }): Promise<TLSSocket> {
    // NodeTransport's TLS-first handshake runs over `this.socket` when one is set.
    this.socket = await this.dial(hp);
    return super.tlsFirst(hp);
  }
}

/**
 * Connect like transport-node's `connect`, with every dial (reconnects too) going through
 * the proxy. The transport factory is process-wide in nats.js; the CLI makes one connection.
 */
export function connectViaSocks(opts: NodeConnectionOptions, proxy: SocksProxy): Promise<NatsConnection> {
  const timeoutMs = opts.timeout ?? 20_000;
  // No DNS resolver: the proxy resolves the server's hostname (socks5h semantics).
  setTransportFactory({ factory: () => new SocksTransport(proxy, timeoutMs) });
  return NatsConnectionImpl.connect(opts);
}
