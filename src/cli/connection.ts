// From command-line flags, NATS_* environment variables and the selected context to one
// NATS connection (and JetStream manager), opened lazily so commands that never talk to a
// server (context, nkey, completion) never need one. Precedence is natscli's: a flag, then
// its environment variable, then the context, then the default.
import fs from "node:fs";
import path from "node:path";
import { fmtCreds } from "@nats-io/jwt";
import {
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { TSNATS_VERSION } from "../server/version.js";
import { ContextStore, emptyContext, type ContextSettings } from "./context_store.js";
import { NscStore } from "./nsc_store.js";
import { connectViaSocks, parseSocksProxy } from "./socks.js";
import { traceRequests } from "./trace.js";
import { CliError, homeDir, type CliIO } from "./runtime.js";
import { parseDurationMs } from "./units.js";

export const DEFAULT_URL = "nats://127.0.0.1:4222";

/** The global connection flags (commander's camelCase names), all optional. */
export interface GlobalFlags {
  server?: string;
  user?: string;
  password?: string;
  token?: string;
  connectionName?: string;
  creds?: string;
  nkey?: string;
  jwt?: string;
  seed?: string;
  tlscert?: string;
  tlskey?: string;
  tlsca?: string;
  tlsfirst?: boolean;
  /** --tls-first, the hidden alias */
  tlsFirst?: boolean;
  timeout?: string;
  socksProxy?: string;
  jsApiPrefix?: string;
  jsEventPrefix?: string;
  jsDomain?: string;
  domain?: string;
  inboxPrefix?: string;
  colors?: string;
  /** --trace: log API requests and responses on stderr */
  trace?: boolean;
  /** A context name, or false for --no-context. */
  context?: string | false;
}

/** Flag → environment variable, as natscli names them. */
const FLAG_ENV: [keyof GlobalFlags, string][] = [
  ["server", "NATS_URL"],
  ["user", "NATS_USER"],
  ["password", "NATS_PASSWORD"],
  ["token", "NATS_TOKEN"],
  ["creds", "NATS_CREDS"],
  ["nkey", "NATS_NKEY"],
  ["jwt", "NATS_JWT"],
  ["seed", "NATS_SEED"],
  ["tlscert", "NATS_CERT"],
  ["tlskey", "NATS_KEY"],
  ["tlsca", "NATS_CA"],
  ["timeout", "NATS_TIMEOUT"],
  ["socksProxy", "NATS_SOCKS_PROXY"],
  ["context", "NATS_CONTEXT"],
];

/** The settings a connection is made with, after flags, env and context are merged. */
export interface Effective {
  contextName: string;
  ctx: ContextSettings;
  timeoutMs: number;
  connectionName: string;
}

/** Environment variables that override a context (shown by `context info`). */
export function overridingEnv(env: CliIO["env"]): string[] {
  return FLAG_ENV.filter(([k, e]) => k !== "context" && env[e] !== undefined && env[e] !== "").map(([, e]) => e);
}

/** Merge flags, environment and the chosen context into connection settings. */
export function resolveSettings(io: CliIO, flags: GlobalFlags): Effective {
  const f: GlobalFlags = { ...flags };
  for (const [key, envName] of FLAG_ENV) {
    const v = io.env[envName];
    if (f[key] === undefined && v !== undefined && v !== "") (f as Record<string, unknown>)[key] = v;
  }
  const store = new ContextStore(io.env);
  let contextName = "";
  let ctx: ContextSettings = emptyContext();
  if (f.context !== false) {
    contextName = f.context ?? store.selected();
    if (contextName !== "") {
      if (!store.exists(contextName)) {
        if (f.context !== undefined) throw new CliError(`unknown context "${contextName}"`, "list the saved contexts with `tsnats context ls`");
        // A selected context that was deleted behind our back: natscli errors too.
        throw new CliError(`the selected context "${contextName}" does not exist`, "select another with `tsnats context select` or run with --no-context");
      }
      ctx = store.load(contextName);
    }
  }
  const merged: ContextSettings = { ...ctx };
  const override = (key: keyof ContextSettings, v: string | boolean | undefined): void => {
    if (v !== undefined && v !== "") (merged as unknown as Record<string, unknown>)[key] = v;
  };
  override("url", f.server);
  if (f.user !== undefined) {
    // A user on the command line replaces every credential of the context.
    merged.creds = merged.nkey = merged.user_jwt = merged.user_seed = merged.token = "";
    merged.password = "";
  }
  override("user", f.user);
  override("password", f.password);
  override("token", f.token);
  if (f.creds !== undefined) merged.user = merged.nkey = "";
  override("creds", f.creds);
  if (f.nkey !== undefined) merged.user = merged.creds = "";
  override("nkey", f.nkey);
  override("user_jwt", f.jwt);
  override("user_seed", f.seed);
  override("cert", f.tlscert);
  override("key", f.tlskey);
  override("ca", f.tlsca);
  if (f.tlsfirst || f.tlsFirst) merged.tls_first = true;
  override("socks_proxy", f.socksProxy);
  override("jetstream_api_prefix", f.jsApiPrefix);
  override("jetstream_event_prefix", f.jsEventPrefix);
  override("jetstream_domain", f.jsDomain ?? f.domain);
  override("inbox_prefix", f.inboxPrefix);
  const timeoutMs = parseDurationMs(f.timeout ?? "5s", "--timeout");
  if (timeoutMs <= 0) throw new CliError("--timeout must be positive");
  return { contextName, ctx: merged, timeoutMs, connectionName: f.connectionName ?? `tsnats CLI Version ${TSNATS_VERSION}` };
}

/**
 * Resolve a credential location the way natscli contexts allow: a path, file://path,
 * env://NAME, or data:;base64,<payload>. Returns the bytes.
 */
export function readCredential(io: CliIO, location: string, what: string): Uint8Array {
  if (location.startsWith("env://")) {
    const v = io.env[location.slice(6)];
    if (v === undefined) throw new CliError(`${what}: environment variable ${location.slice(6)} is not set`);
    return new TextEncoder().encode(v);
  }
  if (location.startsWith("data:")) {
    const comma = location.indexOf(",");
    if (comma < 0) throw new CliError(`${what}: malformed data: URI`);
    const meta = location.slice(5, comma);
    const payload = location.slice(comma + 1);
    return meta.endsWith(";base64") ? new Uint8Array(Buffer.from(payload, "base64")) : new TextEncoder().encode(decodeURIComponent(payload));
  }
  if (location.startsWith("nsc://")) return nscCredentials(io, location, what);
  if (location.startsWith("op://")) {
    throw new CliError(`${what}: op:// credentials are read by 1Password's \`op\` CLI, which tsnats does not run`, "export them with `op read op://...` to a file and give its path (or an env:// variable)");
  }
  const file = expandPath(io, location.startsWith("file://") ? location.slice(7) : location);
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (err) {
    throw new CliError(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * nsc://<operator>/<account>/<user>: the user's credentials from the nsc store (the layout
 * `tsnats auth` and nsc write), as `nsc generate profile` would hand them to natscli.
 */
export function nscCredentials(io: CliIO, location: string, what: string): Uint8Array {
  const m = /^nsc:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)\/?$/.exec(location);
  if (!m) {
    throw new CliError(`${what}: invalid nsc URL "${location}"`, "give it as nsc://OPERATOR/ACCOUNT/USER (query options of nsc generate profile are not supported)");
  }
  const [op, acc, user] = m.slice(1).map(decodeURIComponent);
  const store = new NscStore(io.env);
  if (!store.hasOperator(op)) throw new CliError(`${what}: ${location}: no operator "${op}" in the nsc store ${store.storeRoot}`, "list them with `tsnats auth operator ls`");
  if (!store.hasAccount(op, acc)) throw new CliError(`${what}: ${location}: no account "${acc}" in operator ${op}`, "list them with `tsnats auth account ls`");
  if (!store.hasUser(op, acc, user)) throw new CliError(`${what}: ${location}: no user "${user}" in account ${acc}`, "list them with `tsnats auth user ls`");
  const file = store.credsPath(op, acc, user);
  if (fs.existsSync(file)) return new Uint8Array(fs.readFileSync(file));
  // No .creds written yet: build them from the user's JWT and its seed in the key store.
  const { jwt, claims } = store.user(op, acc, user);
  const kp = store.requireKey(claims.sub, `user ${user}`);
  return fmtCreds(jwt, kp);
}

/** "~/x" → "$HOME/x". */
export function expandPath(io: CliIO, p: string): string {
  if (p === "~") return homeDir(io.env);
  if (p.startsWith("~/")) return path.join(homeDir(io.env), p.slice(2));
  return p;
}

function literal(io: CliIO, v: string, what: string): string {
  // Literal values (password, token, jwt, seed) may also be resolver URIs.
  if (v.startsWith("env://") || v.startsWith("data:") || v.startsWith("file://")) return new TextDecoder().decode(readCredential(io, v, what)).trim();
  return v;
}

/** nats.js connection options for the effective settings. */
export function connectionOptions(io: CliIO, eff: Effective): NodeConnectionOptions {
  const c = eff.ctx;
  const opts: NodeConnectionOptions = {
    servers: (c.url || DEFAULT_URL)
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
    name: eff.connectionName,
    timeout: eff.timeoutMs,
    maxReconnectAttempts: 60,
    reconnectTimeWait: 1000,
  };
  const auth: Authenticator[] = [];
  if (c.user) {
    if (c.password) {
      opts.user = c.user;
      opts.pass = literal(io, c.password, "password");
    } else {
      // natscli: "--user" is "Username or Token".
      opts.token = c.user;
    }
  } else if (c.creds || c.nsc) {
    // "nsc" is natscli's older context field for an nsc:// location of the credentials.
    auth.push(credsAuthenticator(readCredential(io, c.creds || c.nsc, "creds")));
  } else if (c.nkey) {
    const seed = new TextDecoder().decode(readCredential(io, c.nkey, "nkey")).trim();
    const line = seed.split(/\r?\n/).find((l) => /^S[A-Z]/.test(l.trim()));
    if (!line) throw new CliError(`nkey: ${c.nkey} holds no NKey seed`, "generate one with `tsnats nkey gen user`");
    auth.push(nkeyAuthenticator(new TextEncoder().encode(line.trim())));
  } else if (c.user_jwt) {
    const jwt = literal(io, c.user_jwt, "user_jwt");
    const seed = c.user_seed ? new TextEncoder().encode(literal(io, c.user_seed, "user_seed")) : undefined;
    auth.push(jwtAuthenticator(jwt, seed));
  }
  if (c.token) opts.token = literal(io, c.token, "token");
  if (auth.length > 0) opts.authenticator = auth;
  if ((c.cert && !c.key) || (!c.cert && c.key)) throw new CliError("TLS needs both --tlscert and --tlskey");
  if (c.cert || c.ca || c.tls_first) {
    opts.tls = {};
    if (c.cert) opts.tls.certFile = expandPath(io, c.cert);
    if (c.key) opts.tls.keyFile = expandPath(io, c.key);
    if (c.ca) opts.tls.caFile = expandPath(io, c.ca);
    if (c.tls_first) opts.tls.handshakeFirst = true;
  }
  if (c.inbox_prefix) opts.inboxPrefix = c.inbox_prefix;
  return opts;
}

/** Open a connection with `opts` (from connectionOptions), through the SOCKS proxy if one is set. */
export function dial(eff: Effective, opts: NodeConnectionOptions): Promise<NatsConnection> {
  const proxy = eff.ctx.socks_proxy;
  return proxy ? connectViaSocks(opts, parseSocksProxy(proxy)) : connect(opts);
}

/** Turn a connect failure into a message that says what to try. */
export function explainConnectError(err: unknown, servers: string): CliError {
  const e = err as Error & { code?: string; cause?: Error };
  const msg = `${e.message ?? e}${e.cause ? `: ${e.cause.message}` : ""}`;
  if (/SOCKS proxy/.test(msg)) return new CliError(`could not connect to ${servers}: ${msg}`, "check --socks-proxy (socks5://host:port) and that the proxy may reach the server");
  if (/authoriz|authentication|auth/i.test(msg)) {
    return new CliError(`could not connect to ${servers}: ${msg}`, "check the credentials: --user/--password, --token, --creds, --nkey or the context's (`tsnats context info`)");
  }
  if (/refused|ECONNREFUSED|connection error|CONNECTION_REFUSED/i.test(msg)) {
    return new CliError(`could not connect to ${servers}: connection refused`, "is a server running there? Give its URL with --server or select a context with `tsnats context select`");
  }
  if (/timeout/i.test(msg)) {
    return new CliError(`could not connect to ${servers}: timed out`, "check the address and port, or raise --timeout");
  }
  if (/tls|certificate|ssl/i.test(msg)) {
    return new CliError(`could not connect to ${servers}: ${msg}`, "check --tlscert, --tlskey and --tlsca (or the context's cert/key/ca)");
  }
  return new CliError(`could not connect to ${servers}: ${msg}`);
}

/**
 * One command's view of the world: its I/O, the merged settings and a lazily opened
 * connection. `close()` drains it when the command ends.
 */
export class Session {
  private ncPromise?: Promise<NatsConnection>;
  private jsmPromise?: Promise<JetStreamManager>;
  private settings?: Effective;

  constructor(
    readonly io: CliIO,
    readonly flags: GlobalFlags,
  ) {}

  get effective(): Effective {
    this.settings ??= resolveSettings(this.io, this.flags);
    return this.settings;
  }

  get timeoutMs(): number {
    return this.effective.timeoutMs;
  }

  /** The connection (opened on first use). */
  nc(): Promise<NatsConnection> {
    if (!this.ncPromise) {
      const opts = connectionOptions(this.io, this.effective);
      const servers = (opts.servers as string[]).join(",");
      this.ncPromise = dial(this.effective, opts).then(
        (nc) => {
          if (this.flags.trace) traceRequests(nc, this.io);
          return nc;
        },
        (err: unknown) => {
          throw explainConnectError(err, servers);
        },
      );
    }
    return this.ncPromise;
  }

  /** JetStream options from the context/flags (domain or API prefix). */
  jsOptions(): { apiPrefix?: string; domain?: string; timeout: number } {
    const c = this.effective.ctx;
    const o: { apiPrefix?: string; domain?: string; timeout: number } = { timeout: this.timeoutMs };
    if (c.jetstream_domain) o.domain = c.jetstream_domain;
    else if (c.jetstream_api_prefix) o.apiPrefix = c.jetstream_api_prefix;
    return o;
  }

  /** The JetStream API prefix in use ("$JS.API" by default). */
  jsApiPrefix(): string {
    const c = this.effective.ctx;
    if (c.jetstream_domain) return `$JS.${c.jetstream_domain}.API`;
    return c.jetstream_api_prefix || "$JS.API";
  }

  /** The JetStream event prefix ("$JS.EVENT" by default). */
  jsEventPrefix(): string {
    return this.effective.ctx.jetstream_event_prefix || "$JS.EVENT";
  }

  jsm(): Promise<JetStreamManager> {
    if (!this.jsmPromise) {
      this.jsmPromise = this.nc().then(async (nc) => {
        try {
          return await jetstreamManager(nc, this.jsOptions());
        } catch (err) {
          throw explainJetStreamError(err);
        }
      });
    }
    return this.jsmPromise;
  }

  async js(): Promise<JetStreamClient> {
    return jetstream(await this.nc(), this.jsOptions());
  }

  async close(): Promise<void> {
    if (!this.ncPromise) return;
    const nc = await this.ncPromise.catch(() => undefined);
    if (nc && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
  }
}

/** JetStream failures with a next step. */
export function explainJetStreamError(err: unknown): Error {
  const e = err as Error & { code?: number | string; api_error?: { err_code?: number } };
  if (e instanceof CliError) return e;
  const msg = e.message ?? String(e);
  if (/jetstream not enabled|JetStream not enabled|503|no responders/i.test(msg)) {
    return new CliError(`JetStream is not available: ${msg}`, "start the server with JetStream (-js), enable it for this account, or check --js-domain");
  }
  return e;
}
