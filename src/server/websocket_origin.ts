// Which web pages may open a WebSocket to the server: `same_origin` and `allowed_origins`,
// checked against the Origin header of the upgrade request as nats-server checks them
// (scheme, lower-cased host and port, the port defaulting by scheme). Also the start-up
// checks of the websocket block's origins and response headers.

interface AllowedOrigin {
  scheme: string;
  port: string;
}

/** Where an origin or Host header points: lower-cased host and port (default by scheme), as Go's SplitHostPort. */
function hostAndPort(tls: boolean, hostport: string): { host: string; port: string } {
  let host = hostport;
  let port = "";
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0) throw new Error(`address ${hostport}: missing ']' in address`);
    host = hostport.slice(1, end);
    const rest = hostport.slice(end + 1);
    if (rest.startsWith(":")) port = rest.slice(1);
    else if (rest !== "") throw new Error(`address ${hostport}: missing port in address`);
  } else {
    const i = hostport.lastIndexOf(":");
    if (i >= 0) {
      if (hostport.indexOf(":") !== i) throw new Error(`address ${hostport}: too many colons in address`);
      host = hostport.slice(0, i);
      port = hostport.slice(i + 1);
    }
  }
  if (port === "") port = tls ? "443" : "80";
  return { host: host.toLowerCase(), port };
}

/** scheme and host[:port] of an absolute URL (what Go's url.ParseRequestURI accepts for an origin). */
function parseOrigin(origin: string): { scheme: string; host: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(origin);
  if (m === null) throw new Error(`parse ${JSON.stringify(origin)}: invalid URI for request`);
  const authority = m[2];
  return { scheme: m[1].toLowerCase(), host: authority.slice(authority.lastIndexOf("@") + 1) };
}

/**
 * Check `allowed_origins` as nats-server does at start-up: absolute http(s) URLs with a host.
 * Returns the error text, or undefined when all are valid.
 */
export function invalidAllowedOrigin(origins: readonly string[]): string | undefined {
  for (const ao of origins) {
    let u: { scheme: string; host: string };
    try {
      u = parseOrigin(ao);
    } catch (err) {
      return `unable to parse allowed origin: ${(err as Error).message}`;
    }
    if (u.scheme !== "http" && u.scheme !== "https") {
      return `unable to parse allowed origin ${JSON.stringify(ao)}: allowed origins must be absolute URLs with http or https scheme`;
    }
    if (u.host === "") return `unable to parse allowed origin ${JSON.stringify(ao)}: host is required`;
    try {
      hostAndPort(u.scheme === "https", u.host);
    } catch (err) {
      return `unable to parse allowed origin: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Header names nats-server refuses in `websocket { headers {} }`; undefined when all are allowed. */
export function invalidResponseHeader(headers: Record<string, string>): string | undefined {
  for (const key of Object.keys(headers)) {
    const k = key.toLowerCase();
    if (["host", "content-length", "connection", "upgrade", "nats-no-masking"].includes(k)) {
      return `websocket: invalid header ${JSON.stringify(key)} not allowed`;
    }
    if (k.startsWith("sec-websocket-")) return `websocket: invalid header ${JSON.stringify(key)}, "Sec-WebSocket-" prefix not allowed`;
  }
  return undefined;
}

export class OriginPolicy {
  /** Allowed origins by host. */
  private readonly allowed = new Map<string, AllowedOrigin[]>();

  /** `origins` were checked at start-up (invalidAllowedOrigin). */
  constructor(
    private readonly sameOrigin: boolean,
    origins: readonly string[],
  ) {
    for (const ao of origins) {
      const u = parseOrigin(ao);
      const hp = hostAndPort(u.scheme === "https", u.host);
      const list = this.allowed.get(hp.host) ?? [];
      list.push({ scheme: u.scheme, port: hp.port });
      this.allowed.set(hp.host, list);
    }
  }

  /**
   * Why a request with this Origin (and Host header, over TLS or not) is refused, or
   * undefined when it is accepted. A request without Origin does not come from a web page,
   * where origins mean nothing: it is accepted (RFC 6455 section 1.6).
   */
  problem(origin: string, requestHost: string, secure: boolean): string | undefined {
    if (!this.sameOrigin && this.allowed.size === 0) return undefined;
    if (origin === "") return undefined;
    try {
      const u = parseOrigin(origin);
      const o = hostAndPort(u.scheme === "https", u.host);
      if (this.sameOrigin) {
        const r = hostAndPort(secure, requestHost);
        if (o.host !== r.host || o.port !== r.port || u.scheme !== (secure ? "https" : "http")) return "not same origin";
      }
      if (this.allowed.size > 0 && !(this.allowed.get(o.host) ?? []).some((a) => a.scheme === u.scheme && a.port === o.port)) {
        return "not in the allowed list";
      }
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }
}
