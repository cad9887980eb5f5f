// NATS JWTs: `header.claims.signature`, each part unpadded base64url, signed with ed25519 by
// the nkey in the claims' `iss`. This file decodes a token, checks its header and its
// signature, and tells which kind of claims it carries; what the claims mean and whether
// they are valid is in claims.ts.
//
// The rules are those of nats-server (jwt/v2): version 2 tokens sign `header.claims`, version 1
// tokens (type at the top level) sign the claims part alone; every claim type may only be
// issued by keys of certain roles.
import { createHash } from "node:crypto";
import { isPublicKey, verifySignature, type KeyRole } from "./nkey_keys.js";
import { base32 } from "../server/server_keys.js";

export type ClaimType =
  | "operator"
  | "account"
  | "user"
  | "activation"
  | "authorization_request"
  | "authorization_response"
  | "generic";

/** The registered claims every NATS JWT has, and the NATS-specific part in `nats`. */
export interface ClaimsData {
  aud?: string;
  exp?: number;
  jti?: string;
  iat?: number;
  iss: string;
  name?: string;
  nbf?: number;
  sub: string;
  nats: Record<string, unknown>;
}

export interface DecodedJwt {
  /** The token as given. */
  readonly token: string;
  readonly type: ClaimType;
  readonly version: number;
  readonly claims: ClaimsData;
  /** The whole claims object: version 1 tokens keep some fields (tags, issuer_account) at its top. */
  readonly top: Record<string, unknown>;
}

/** A token that is not a NATS JWT, or not validly signed. The message is nats-server's. */
export class JwtError extends Error {}

/** nats-server refuses larger tokens outright. */
export const MAX_TOKEN_SIZE = 1024 * 1024;
/** Highest claims version this server understands. */
const LIB_VERSION = 2;
/** Every encoded JWT starts with the base64 of `{"`. */
export const JWT_PREFIX = "eyJ";

/** Which key roles may issue each claim type. */
const ISSUERS: Record<ClaimType, readonly KeyRole[] | undefined> = {
  operator: ["O"],
  account: ["A", "O"],
  user: ["A"],
  activation: ["A", "O"],
  authorization_request: ["N"],
  authorization_response: ["A"],
  generic: undefined,
};

const KNOWN_TYPES = new Set<string>(["operator", "account", "user", "activation", "authorization_request", "authorization_response"]);

/** Go's base64.RawURLEncoding: the URL alphabet, no padding; the error names the first bad byte. */
export function decodeRawUrlBase64(s: string): Buffer {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
    if (!ok) throw new JwtError(`illegal base64 data at input byte ${i}`);
  }
  if (s.length % 4 === 1) throw new JwtError(`illegal base64 data at input byte ${s.length - 1}`);
  return Buffer.from(s, "base64url");
}

function parseJsonObject(bytes: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new JwtError(`invalid character in JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new JwtError("json: cannot unmarshal non-object into claims");
  return v as Record<string, unknown>;
}

/** Checks the header and returns its algorithm, lower case. */
function checkHeader(part: string): string {
  const h = parseJsonObject(decodeRawUrlBase64(part));
  const typ = typeof h.typ === "string" ? h.typ : "";
  const alg = typeof h.alg === "string" ? h.alg : "";
  if (typ.toUpperCase() !== "JWT") throw new JwtError(`not supported type ${JSON.stringify(typ)}`);
  const lower = alg.toLowerCase();
  if (lower !== "ed25519" && lower !== "ed25519-nkey") throw new JwtError(`unexpected ${JSON.stringify(alg)} algorithm`);
  return lower;
}

function optionalNumber(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw new JwtError(`json: cannot unmarshal ${typeof v} into Go struct field ClaimsData.${key} of type int64`);
  return v;
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new JwtError(`json: cannot unmarshal ${typeof v} into Go struct field ClaimsData.${key} of type string`);
  return v;
}

function claimsData(o: Record<string, unknown>): ClaimsData {
  const natsRaw = o.nats;
  if (natsRaw !== undefined && natsRaw !== null && (typeof natsRaw !== "object" || Array.isArray(natsRaw))) {
    throw new JwtError("json: cannot unmarshal non-object into Go struct field .nats");
  }
  return {
    aud: optionalString(o, "aud"),
    exp: optionalNumber(o, "exp"),
    jti: optionalString(o, "jti"),
    iat: optionalNumber(o, "iat"),
    iss: optionalString(o, "iss") ?? "",
    name: optionalString(o, "name"),
    nbf: optionalNumber(o, "nbf"),
    sub: optionalString(o, "sub") ?? "",
    nats: (natsRaw as Record<string, unknown> | undefined) ?? {},
  };
}

/**
 * Decode a NATS JWT and verify its signature against its issuer. Throws JwtError with
 * nats-server's wording when the token is malformed, from an unknown version, signed by a
 * key of the wrong role, or not signed by its issuer. Expiry is not checked here.
 */
export function decodeJwt(token: string): DecodedJwt {
  // The same token verifies the same way: users presenting their JWT again skip the work.
  const known = verified.get(token);
  if (known !== undefined) return known;
  const d = decodeAndVerify(token);
  if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value as string);
  verified.set(token, d);
  return d;
}

/** Recently verified tokens (the signature check dominates a JWT login). */
const verified = new Map<string, DecodedJwt>();
const VERIFIED_CACHE_MAX = 1024;

function decodeAndVerify(token: string): DecodedJwt {
  if (token.length > MAX_TOKEN_SIZE) {
    throw new JwtError(`token size ${token.length} exceeds maximum of ${MAX_TOKEN_SIZE} bytes: token too large`);
  }
  const chunks = token.split(".");
  if (chunks.length !== 3) throw new JwtError("expected 3 chunks");
  const alg = checkHeader(chunks[0]);
  const raw = parseJsonObject(decodeRawUrlBase64(chunks[1]));
  const data = claimsData(raw);
  // Version 1 tokens name their type at the top level; version 2 inside `nats`.
  const topType = typeof raw.type === "string" ? raw.type : "";
  const natsType = typeof data.nats.type === "string" ? data.nats.type : "";
  const version = topType !== "" ? 1 : typeof data.nats.version === "number" ? data.nats.version : 0;
  if (version > LIB_VERSION) throw new JwtError("JWT was generated by a newer version ");
  const kind = topType !== "" ? topType : natsType;
  if (kind === "cluster") throw new JwtError("ClusterClaims are not supported");
  if (kind === "server") throw new JwtError("ServerClaims are not supported");
  const type: ClaimType = KNOWN_TYPES.has(kind) ? (kind as ClaimType) : "generic";
  const sig = decodeRawUrlBase64(chunks[2]);
  // Typed claims sign per their version; generic ones (operator requests) per the header's algorithm.
  const v1 = type === "generic" ? alg === "ed25519" : version <= 1;
  const signed = v1 ? chunks[1] : token.slice(0, chunks[0].length + chunks[1].length + 1);
  if (!verifySignature(data.iss, Buffer.from(signed), sig)) {
    throw new JwtError(`claim failed V${v1 ? 1 : 2} signature verification`);
  }
  const roles = ISSUERS[type];
  if (roles !== undefined && !roles.some((r) => isPublicKey(data.iss, r))) {
    throw new JwtError(`unable to validate expected prefixes - [${roles.map((r) => ROLE_BYTES[r]).join(" ")}]`);
  }
  return { token, type, version, claims: data, top: raw };
}

/** Go prints the expected prefixes as their byte values. */
const ROLE_BYTES: Record<KeyRole, number> = { O: 112, A: 0, U: 160, N: 104, X: 184 };

/** Decode a token that must be of `type`; `what` names it in the error ("not user claim"). */
export function decodeJwtOfType(token: string, type: ClaimType, notTypeMessage: string): DecodedJwt {
  const d = decodeJwt(token);
  if (d.type !== type) throw new JwtError(notTypeMessage);
  return d;
}

/**
 * A JWT from a file or inline text: the first block between `-----BEGIN ...-----` and
 * `------END ...------` lines (the decorated form nsc writes), else the whole text.
 */
export function parseDecoratedJwt(contents: string): string {
  const m = /\s*(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}(?:\r?\n|$))/.exec(contents);
  return m === null ? contents.trim() : m[1];
}

/** Encode base64url without padding (JWT parts, signatures). */
export function encodeRawUrlBase64(data: Uint8Array | string): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * Sign `claims` as a version 2 JWT with `signer` (an nkey pair): `iss` and `iat` are set,
 * `jti` is the hash of the claims as nats-server computes its own.
 */
export function encodeJwt(claims: Omit<ClaimsData, "iss" | "iat" | "jti">, signer: { getPublicKey(): string; sign(d: Uint8Array): Uint8Array }): string {
  const body: Record<string, unknown> = { ...claims, iss: signer.getPublicKey(), iat: Math.floor(Date.now() / 1000) };
  body.jti = base32(createHash("sha512-256").update(JSON.stringify({ ...body, jti: "" })).digest());
  const head = encodeRawUrlBase64(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const payload = encodeRawUrlBase64(JSON.stringify(body));
  const sig = encodeRawUrlBase64(signer.sign(Buffer.from(`${head}.${payload}`)));
  return `${head}.${payload}.${sig}`;
}
