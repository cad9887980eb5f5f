// The pieces of the INFO/CONNECT handshake that routes, leaf nodes and gateways have in common
// (nats-server's route.go, leafnode.go and gateway.go each do the same): both ops carry one JSON
// object, a CONNECT is traced without its password, a block's user and password (plain or
// bcrypt) decide who may connect, and an accepted connection must log in within its auth
// timeout. What each kind reads from the objects stays in its own file; the connection-side
// steps (tracing, sending, holding input during a bcrypt check) are RemoteConnection's.
import { goJsonKind, goJsonSyntaxError } from "../jetstream/go_json.js";
import { clientOptsTypeError } from "../server/client_opts_json.js";
import { bcryptMatches, isBcryptHash } from "../auth/bcrypt.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Server } from "../server/server.js";
import { MSG_TRACE_PROTO } from "../server/msg_trace.js";
import { NATS_FEATURE_VERSION } from "../server/version.js";

/**
 * The fields every server-to-server INFO starts with (nats-server's Info struct): who this
 * server is, its version and protocol level, where it is reached, header support. Gateways
 * announce protocol 2 and no Go version, as nats-server's gateway INFO.
 */
export function serverInfoHead(server: Server, host: string, port: number, gateway = false): Record<string, unknown> {
  return {
    server_id: server.id,
    server_name: server.name,
    version: NATS_FEATURE_VERSION,
    proto: gateway ? 2 : MSG_TRACE_PROTO,
    go: gateway ? "" : `node${process.version}`,
    host,
    port,
    headers: !server.options.noHeaderSupport,
  };
}

/** The JSON object of an INFO or CONNECT; anything else is a protocol violation naming `what`. */
export function parseHandshakeJson<T extends object>(json: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    // nats-server's words: Go's json.Unmarshal error.
    throw new ProtocolError("", goJsonSyntaxError(json) ?? `${what}: ${(err as Error).message}`);
  }
  if (value === null) throw new ProtocolError("", `${what}: not an object`);
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError("", `json: cannot unmarshal ${goJsonKind(value)} into Go value of type server.${what.endsWith("INFO") ? "Info" : "ClientOpts"}`);
  }
  // nats-server decodes every CONNECT into its ClientOpts first.
  const typeError = what.endsWith("CONNECT") ? clientOptsTypeError(value as Record<string, unknown>) : undefined;
  if (typeError !== undefined) throw new ProtocolError("", typeError);
  return value as T;
}

/** A CONNECT's JSON as it may be logged: the password replaced. */
export function redactPassword(json: string): string {
  return json.replace(/"pass":"(?:[^"\\]|\\.)*"/, '"pass":"[REDACTED]"');
}

/** The CONNECT's password against a configured one (plain or bcrypt: then asynchronous). */
export function passwordMatches(given: string, configured: string): boolean | Promise<boolean> {
  if (isBcryptHash(configured)) return bcryptMatches(given, configured);
  return given === configured;
}

/** A block's `authorization { user, password }` (nothing set: no login required). */
export interface BlockCredentials {
  username?: string;
  password?: string;
}

/** Whether a CONNECT's user and password match the block's. */
export function credentialsMatch(connect: { user?: string; pass?: string }, block: BlockCredentials): boolean | Promise<boolean> {
  if (block.username === undefined || block.username === "") return true;
  if (connect.user !== block.username) return false;
  return passwordMatches(connect.pass ?? "", block.password ?? "");
}

/**
 * How long an accepted connection has to send its CONNECT: the block's `auth_timeout`, else the
 * server's, at least 2 s when TLS has to be negotiated first (nats-server's defaults).
 */
export function authTimeoutMs(blockMs: number | undefined, serverMs: number, withTls: boolean): number {
  return blockMs ?? Math.max(serverMs, withTls ? 2000 : 0);
}

/** Subject permission as nats-server puts it in INFO: `{ allow: [...], deny: [...] }`. */
export function subjectPermissionJson(v: unknown): Record<string, string[]> {
  if (typeof v === "string") return { allow: [v] };
  if (Array.isArray(v)) return { allow: v.filter((x): x is string => typeof x === "string") };
  const out: Record<string, string[]> = {};
  if (v !== null && typeof v === "object") {
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      const list = typeof val === "string" ? [val] : Array.isArray(val) ? val.filter((x): x is string => typeof x === "string") : [];
      if (k.toLowerCase() === "allow") out.allow = list;
      else if (k.toLowerCase() === "deny") out.deny = list;
    }
  }
  return out;
}
