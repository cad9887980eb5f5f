// The claims of NATS JWTs as typed values, and their validation.
//
// A decoded JWT (jwt.ts) carries untyped JSON; here each claim type is read into a typed
// shape the way nats-server's Go decoder does it: a field of the wrong JSON type fails the
// token, an absent number is 0 (not "unlimited": issuers write -1 for that), an absent list
// is empty. `validate*` report what nats-server's validation reports, with its wording:
// blocking errors, time checks (expired / not yet valid) and warnings.
import { JwtError, decodeJwt, type ClaimsData, type DecodedJwt } from "./jwt.js";
import { isPublicKey } from "./nkey_keys.js";

// ---------------------------------------------------------------------------------------
// validation results

export interface ValidationIssue {
  description: string;
  blocking: boolean;
  timeCheck: boolean;
}

export class ValidationResults {
  readonly issues: ValidationIssue[] = [];
  addError(description: string): void {
    this.issues.push({ description, blocking: true, timeCheck: false });
  }
  addTimeCheck(description: string): void {
    this.issues.push({ description, blocking: false, timeCheck: true });
  }
  addWarning(description: string): void {
    this.issues.push({ description, blocking: false, timeCheck: false });
  }
  isBlocking(includeTimeChecks: boolean): boolean {
    return this.issues.some((i) => i.blocking || (includeTimeChecks && i.timeCheck));
  }
  /** Blocking issues only, as nats-server lists them ("validation errors: [a b]"). */
  errors(): string[] {
    return this.issues.filter((i) => i.blocking).map((i) => i.description);
  }
}

/** Expiry and not-before, against the current second. */
export function validateTimes(c: ClaimsData, vr: ValidationResults, nowSec = Math.floor(Date.now() / 1000)): void {
  if (c.exp !== undefined && c.exp > 0 && nowSec > c.exp) vr.addTimeCheck("claim is expired");
  if (c.nbf !== undefined && c.nbf > 0 && c.nbf > nowSec) vr.addTimeCheck("claim is not yet valid");
}

// ---------------------------------------------------------------------------------------
// typed reading of the `nats` part (Go's json.Unmarshal strictness)

type Json = Record<string, unknown>;

function fail(field: string, want: string, v: unknown): never {
  const got = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
  throw new JwtError(`json: cannot unmarshal ${got} into Go struct field ${field} of type ${want}`);
}

function num(o: Json, key: string, field: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isFinite(v)) fail(field, "int64", v);
  return Math.trunc(v);
}

function bool(o: Json, key: string, field: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") fail(field, "bool", v);
  return v;
}

function str(o: Json, key: string, field: string): string {
  const v = o[key];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") fail(field, "string", v);
  return v;
}

function obj(o: Json, key: string, field: string): Json {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(field, "struct", v);
  return v as Json;
}

function strings(o: Json, key: string, field: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, "[]string", v);
  return v.map((x) => (typeof x === "string" ? x : fail(field, "string", x)));
}

function array(o: Json, key: string, field: string): Json[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, "slice", v);
  return v.map((x) => (x === null ? (null as unknown as Json) : typeof x === "object" && !Array.isArray(x) ? (x as Json) : fail(field, "struct", x)));
}

// ---------------------------------------------------------------------------------------
// subjects (the JWT library's own, looser, checks)

function validateSubject(s: string, vr: ValidationResults): void {
  if (s === "") {
    vr.addError("subject cannot be empty");
    return;
  }
  if (s.includes(" ")) vr.addError(`subject ${JSON.stringify(s)} cannot have spaces`);
  if (s.startsWith(".") || s.endsWith(".")) vr.addError(`subject ${JSON.stringify(s)} cannot start or end with a \`.\``);
  if (s.includes("..")) vr.addError(`subject ${JSON.stringify(s)} cannot contain consecutive \`.\``);
}

/** The JWT library's wildcard test (a subject with a `*` or `>` token). */
export function jwtSubjectHasWildcards(v: string): boolean {
  return v.endsWith(".>") || v.includes(".*.") || v.endsWith(".*") || v.startsWith("*.") || v === "*" || v === ">";
}

/** Is `s` contained in `other` (other's wildcards cover s)? The JWT library's token test. */
export function jwtSubjectContainedIn(s: string, other: string): boolean {
  const o = other.split(".");
  const m = s.split(".");
  if (m.length > o.length && o[o.length - 1] !== ">") return false;
  if (m.length < o.length) return false;
  for (let i = 0; i < o.length; i++) {
    if (i === o.length - 1 && o[i] === ">") return true;
    if (o[i] !== m[i] && o[i] !== "*") return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// permissions and user limits

export interface JwtPermission {
  allow: string[];
  deny: string[];
}

export interface JwtResponsePermission {
  max: number;
  /** Nanoseconds (a Go duration). */
  ttl: number;
}

export interface JwtPermissions {
  pub: JwtPermission;
  sub: JwtPermission;
  resp: JwtResponsePermission | undefined;
}

export interface TimeRange {
  start: string;
  end: string;
}

/** What a user JWT (or a scoped signing key's template) says a user may do. */
export interface UserPermissionLimits {
  permissions: JwtPermissions;
  src: string[];
  times: TimeRange[];
  locale: string;
  subs: number;
  data: number;
  payload: number;
  bearerToken: boolean;
  proxyRequired: boolean;
  allowedConnectionTypes: string[];
}

function readPermission(o: Json, key: string): JwtPermission {
  const p = obj(o, key, key);
  return { allow: strings(p, "allow", "Permission.allow"), deny: strings(p, "deny", "Permission.deny") };
}

export function readPermissions(o: Json): JwtPermissions {
  const r = o.resp;
  let resp: JwtResponsePermission | undefined;
  if (r !== undefined && r !== null) {
    const ro = obj(o, "resp", "Permissions.resp");
    resp = { max: num(ro, "max", "ResponsePermission.max"), ttl: num(ro, "ttl", "ResponsePermission.ttl") };
  }
  return { pub: readPermission(o, "pub"), sub: readPermission(o, "sub"), resp };
}

/** `src` is a list or a comma-separated string (lower-cased, as the JWT library reads it). */
function readCidrs(o: Json): string[] {
  const v = o.src;
  if (typeof v === "string") return [...new Set(v.toLowerCase().split(",").map((s) => s.trim()).filter((s) => s !== ""))];
  return strings(o, "src", "UserLimits.src");
}

export function readUserPermissionLimits(o: Json): UserPermissionLimits {
  const times = array(o, "times", "UserLimits.times").map((t) => ({
    start: str(t ?? {}, "start", "TimeRange.start"),
    end: str(t ?? {}, "end", "TimeRange.end"),
  }));
  return {
    permissions: readPermissions(o),
    src: readCidrs(o),
    times,
    locale: str(o, "times_location", "UserLimits.times_location"),
    subs: num(o, "subs", "NatsLimits.subs"),
    data: num(o, "data", "NatsLimits.data"),
    payload: num(o, "payload", "NatsLimits.payload"),
    bearerToken: bool(o, "bearer_token", "UserPermissionLimits.bearer_token"),
    proxyRequired: bool(o, "proxy_required", "UserPermissionLimits.proxy_required"),
    allowedConnectionTypes: strings(o, "allowed_connection_types", "UserPermissionLimits.allowed_connection_types"),
  };
}

/** True when a user JWT sets no permission or limit at all (required of scoped users). */
export function hasEmptyPermissions(l: UserPermissionLimits): boolean {
  const p = l.permissions;
  return (
    p.pub.allow.length === 0 &&
    p.pub.deny.length === 0 &&
    p.sub.allow.length === 0 &&
    p.sub.deny.length === 0 &&
    p.resp === undefined &&
    l.src.length === 0 &&
    l.times.length === 0 &&
    l.locale === "" &&
    l.subs === 0 &&
    l.data === 0 &&
    l.payload === 0 &&
    !l.bearerToken &&
    !l.proxyRequired &&
    l.allowedConnectionTypes.length === 0
  );
}

function checkPermission(vr: ValidationResults, subj: string, permitQueue: boolean): void {
  const tk = subj.split(" ");
  if (tk.length === 1) validateSubject(tk[0], vr);
  else if (tk.length === 2) {
    validateSubject(tk[0], vr);
    validateSubject(tk[1], vr);
    if (!permitQueue) vr.addError(`Permission Subject "${subj}" is not allowed to contain queue`);
  } else vr.addError(`Permission Subject "${subj}" contains too many spaces`);
}

export function validatePermissions(p: JwtPermissions, vr: ValidationResults): void {
  for (const s of [...p.sub.allow, ...p.sub.deny]) checkPermission(vr, s, true);
  for (const s of [...p.pub.allow, ...p.pub.deny]) checkPermission(vr, s, false);
}

const CLOCK = /^(\d{1,2}):(\d{2}):(\d{2})$/;

/** Seconds since midnight of an "HH:MM:SS" time (Go's "15:04:05" layout), or undefined. */
export function parseClock(s: string): number | undefined {
  const m = CLOCK.exec(s);
  if (m === null) return undefined;
  const h = Number(m[1]);
  const mi = Number(m[2]);
  const se = Number(m[3]);
  if (h > 23 || mi > 59 || se > 59) return undefined;
  return h * 3600 + mi * 60 + se;
}

/** An IANA time zone name the runtime knows ("" and "Local" mean the server's own zone). */
export function isKnownTimeZone(name: string): boolean {
  if (name === "" || name === "Local" || name === "UTC") return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A CIDR ("10.0.0.0/8", "::1/128") as Go's net.ParseCIDR accepts it. */
export function parseCidr(cidr: string): { family: 4 | 6; base: bigint; bits: number } | undefined {
  const slash = cidr.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(cidr.slice(0, slash));
  const bitsText = cidr.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (ip.family === 4 ? 32 : 128)) return undefined;
  return { family: ip.family, base: ip.value, bits };
}

/** An IPv4 or IPv6 address as a number (IPv4-mapped IPv6 reads as IPv4). */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (!text.includes(":")) return undefined;
  let body = text;
  let tail: bigint | undefined;
  const lastColon = body.lastIndexOf(":");
  if (body.slice(lastColon + 1).includes(".")) {
    const embedded = parseIp(body.slice(lastColon + 1));
    if (embedded === undefined || embedded.family !== 4) return undefined;
    tail = embedded.value;
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  let value = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== undefined) value = (value & ~0xffffffffn) | tail;
  // ::ffff:a.b.c.d is an IPv4 address for matching, as in Go.
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

export function validateUserLimits(l: UserPermissionLimits, vr: ValidationResults): void {
  for (const cidr of l.src) if (parseCidr(cidr) === undefined) vr.addError(`invalid cidr ${JSON.stringify(cidr)} in user src limits`);
  for (const t of l.times) {
    if (t.start === "") vr.addError("time ranges start must contain a start");
    else if (parseClock(t.start) === undefined) vr.addError(`start in time range is invalid ${JSON.stringify(t.start)}`);
    if (t.end === "") vr.addError("time ranges end must contain an end");
    else if (parseClock(t.end) === undefined) vr.addError(`end in time range is invalid ${JSON.stringify(t.end)}`);
  }
  if (l.locale !== "" && !isKnownTimeZone(l.locale)) {
    vr.addError(`could not parse iana time zone by name: unknown time zone ${l.locale}`);
  }
}

// ---------------------------------------------------------------------------------------
// revocations

export type RevocationList = Map<string, number>;

function readRevocations(o: Json, key: string): RevocationList {
  const m = obj(o, key, key);
  const out: RevocationList = new Map();
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== "number") fail("revocations", "int64", v);
    out.set(k, Math.trunc(v));
  }
  return out;
}

/** Is a JWT of `pubKey` issued at `issuedAt` revoked (by key or by `*`, at or after issue)? */
export function isRevoked(list: RevocationList | undefined, pubKey: string, issuedAt: number): boolean {
  if (list === undefined || list.size === 0) return false;
  const all = list.get("*");
  if (all !== undefined && all >= issuedAt) return true;
  const t = list.get(pubKey);
  return t !== undefined && t >= issuedAt;
}

// ---------------------------------------------------------------------------------------
// user claims

export interface UserClaims {
  readonly jwt: DecodedJwt;
  readonly data: ClaimsData;
  limits: UserPermissionLimits;
  /** The account the issuer (a signing key) signs for; "" when the account key signed. */
  readonly issuerAccount: string;
  readonly tags: string[];
}

export function userClaims(d: DecodedJwt): UserClaims {
  const n = d.claims.nats;
  if (d.version === 1) {
    // Version 1: absent limits mean "none", and tags/issuer_account sit at the top level.
    const limits = readUserPermissionLimits({ subs: -1, data: -1, payload: -1, ...n });
    return { jwt: d, data: d.claims, limits, issuerAccount: str(d.top, "issuer_account", "User.issuer_account"), tags: strings(d.top, "tags", "tags") };
  }
  return {
    jwt: d,
    data: d.claims,
    limits: readUserPermissionLimits(n),
    issuerAccount: str(n, "issuer_account", "User.issuer_account"),
    tags: strings(n, "tags", "GenericFields.tags"),
  };
}

export function validateUserClaims(u: UserClaims, vr: ValidationResults): void {
  validateTimes(u.data, vr);
  validatePermissions(u.limits.permissions, vr);
  validateUserLimits(u.limits, vr);
  if (u.issuerAccount !== "" && !isPublicKey(u.issuerAccount, "A")) vr.addError("account_id is not an account public key");
}

/** Decode and type a user JWT ("not user claim" for another type). */
export function decodeUserClaims(token: string): UserClaims {
  const d = decodeJwt(token);
  if (d.type !== "user") throw new JwtError("not user claim");
  return userClaims(d);
}

// ---------------------------------------------------------------------------------------
// scoped signing keys

export interface UserScope {
  kind: "user_scope";
  key: string;
  role: string;
  template: UserPermissionLimits;
  description: string;
}

/** Account signing keys: key → its scope, or null for an unscoped key. */
export type SigningKeys = Map<string, UserScope | null>;

function readSigningKeys(o: Json): SigningKeys {
  const out: SigningKeys = new Map();
  const v = o.signing_keys;
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) fail("Account.signing_keys", "[]interface {}", v);
  for (const e of v) {
    if (typeof e === "string") out.set(e, null);
    else if (e !== null && typeof e === "object" && !Array.isArray(e)) {
      const m = e as Json;
      if (m.kind !== "user_scope") throw new JwtError(`unknown signing key scope ${JSON.stringify(m.type ?? null)}`);
      const key = str(m, "key", "UserScope.key");
      out.set(key, {
        kind: "user_scope",
        key,
        role: str(m, "role", "UserScope.role"),
        template: readUserPermissionLimits(obj(m, "template", "UserScope.template")),
        description: str(m, "description", "UserScope.description"),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// account claims

export type ExportType = "stream" | "service";

export interface JwtExport {
  name: string;
  subject: string;
  type: ExportType | "";
  tokenReq: boolean;
  revocations: RevocationList;
  responseType: string;
  /** Nanoseconds. */
  responseThreshold: number;
  latency: { sampling: number | "headers"; results: string } | undefined;
  accountTokenPosition: number;
  advertise: boolean;
  allowTrace: boolean;
  description: string;
  infoUrl: string;
}

export interface JwtImport {
  name: string;
  subject: string;
  account: string;
  token: string;
  to: string;
  localSubject: string;
  type: ExportType | "";
  share: boolean;
  allowTrace: boolean;
}

export interface JetStreamLimits {
  mem_storage: number;
  disk_storage: number;
  streams: number;
  consumer: number;
  max_ack_pending: number;
  mem_max_stream_bytes: number;
  disk_max_stream_bytes: number;
  max_bytes_required: boolean;
}

export interface OperatorLimits {
  subs: number;
  data: number;
  payload: number;
  imports: number;
  exports: number;
  wildcards: boolean;
  disallowBearer: boolean;
  conn: number;
  leaf: number;
  jetstream: JetStreamLimits;
  /** Tiered JetStream limits ("R1", "R3"...). */
  tiered: Map<string, JetStreamLimits>;
}

export interface WeightedMapping {
  subject: string;
  weight: number;
  cluster: string;
}

export interface ExternalAuthorization {
  authUsers: string[];
  allowedAccounts: string[];
  xkey: string;
}

export interface AccountClaims {
  readonly jwt: DecodedJwt;
  readonly data: ClaimsData;
  imports: JwtImport[];
  exports: JwtExport[];
  limits: OperatorLimits;
  signingKeys: SigningKeys;
  revocations: RevocationList;
  defaultPermissions: JwtPermissions;
  mappings: Map<string, WeightedMapping[]>;
  authorization: ExternalAuthorization;
  tags: string[];
  description: string;
  infoUrl: string;
  clusterTraffic: string;
  trace: { dest: string; sampling: number } | undefined;
}

function exportType(v: string): ExportType | "" {
  if (v === "" || v === "stream" || v === "service") return v;
  throw new JwtError(`unknown export type ${JSON.stringify(v)}`);
}

function readJsLimits(o: Json): JetStreamLimits {
  return {
    mem_storage: num(o, "mem_storage", "JetStreamLimits.mem_storage"),
    disk_storage: num(o, "disk_storage", "JetStreamLimits.disk_storage"),
    streams: num(o, "streams", "JetStreamLimits.streams"),
    consumer: num(o, "consumer", "JetStreamLimits.consumer"),
    max_ack_pending: num(o, "max_ack_pending", "JetStreamLimits.max_ack_pending"),
    mem_max_stream_bytes: num(o, "mem_max_stream_bytes", "JetStreamLimits.mem_max_stream_bytes"),
    disk_max_stream_bytes: num(o, "disk_max_stream_bytes", "JetStreamLimits.disk_max_stream_bytes"),
    max_bytes_required: bool(o, "max_bytes_required", "JetStreamLimits.max_bytes_required"),
  };
}

function readLatency(o: Json): JwtExport["latency"] {
  const v = o.service_latency;
  if (v === undefined || v === null) return undefined;
  const l = obj(o, "service_latency", "Export.service_latency");
  const s = l.sampling;
  let sampling: number | "headers";
  if (typeof s === "string" && s.toLowerCase() === "headers") sampling = "headers";
  else if (typeof s === "number") sampling = s === 0 ? "headers" : Math.trunc(s);
  else if (s === undefined || s === null) sampling = "headers";
  else fail("ServiceLatency.sampling", "int", s);
  return { sampling, results: str(l, "results", "ServiceLatency.results") };
}

export function accountClaims(d: DecodedJwt): AccountClaims {
  const n = d.claims.nats;
  const lim = obj(n, "limits", "Account.limits");
  const tieredRaw = obj(lim, "tiered_limits", "OperatorLimits.tiered_limits");
  const tiered = new Map<string, JetStreamLimits>();
  for (const [k, v] of Object.entries(tieredRaw)) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) fail("OperatorLimits.tiered_limits", "JetStreamLimits", v);
    tiered.set(k, readJsLimits(v as Json));
  }
  const mappings = new Map<string, WeightedMapping[]>();
  for (const [from, list] of Object.entries(obj(n, "mappings", "Account.mappings"))) {
    if (!Array.isArray(list)) fail("Account.mappings", "[]WeightedMapping", list);
    mappings.set(
      from,
      list.map((m) => {
        if (m === null || typeof m !== "object") fail("Account.mappings", "WeightedMapping", m);
        const mm = m as Json;
        return { subject: str(mm, "subject", "WeightedMapping.subject"), weight: num(mm, "weight", "WeightedMapping.weight"), cluster: str(mm, "cluster", "WeightedMapping.cluster") };
      }),
    );
  }
  const auth = obj(n, "authorization", "Account.authorization");
  const traceRaw = n.trace;
  let trace: AccountClaims["trace"];
  if (traceRaw !== undefined && traceRaw !== null) {
    const t = obj(n, "trace", "Account.trace");
    trace = { dest: str(t, "dest", "MsgTrace.dest"), sampling: num(t, "sampling", "MsgTrace.sampling") };
  }
  return {
    jwt: d,
    data: d.claims,
    imports: array(n, "imports", "Account.imports").map((i) =>
      i === null
        ? (null as unknown as JwtImport)
        : {
            name: str(i, "name", "Import.name"),
            subject: str(i, "subject", "Import.subject"),
            account: str(i, "account", "Import.account"),
            token: str(i, "token", "Import.token"),
            to: str(i, "to", "Import.to"),
            localSubject: str(i, "local_subject", "Import.local_subject"),
            type: exportType(str(i, "type", "Import.type")),
            share: bool(i, "share", "Import.share"),
            allowTrace: bool(i, "allow_trace", "Import.allow_trace"),
          },
    ),
    exports: array(n, "exports", "Account.exports").map((e) =>
      e === null
        ? (null as unknown as JwtExport)
        : {
            name: str(e, "name", "Export.name"),
            subject: str(e, "subject", "Export.subject"),
            type: exportType(str(e, "type", "Export.type")),
            tokenReq: bool(e, "token_req", "Export.token_req"),
            revocations: readRevocations(e, "revocations"),
            responseType: str(e, "response_type", "Export.response_type"),
            responseThreshold: num(e, "response_threshold", "Export.response_threshold"),
            latency: readLatency(e),
            accountTokenPosition: num(e, "account_token_position", "Export.account_token_position"),
            advertise: bool(e, "advertise", "Export.advertise"),
            allowTrace: bool(e, "allow_trace", "Export.allow_trace"),
            description: str(e, "description", "Info.description"),
            infoUrl: str(e, "info_url", "Info.info_url"),
          },
    ),
    limits: {
      subs: num(lim, "subs", "NatsLimits.subs"),
      data: num(lim, "data", "NatsLimits.data"),
      payload: num(lim, "payload", "NatsLimits.payload"),
      imports: num(lim, "imports", "AccountLimits.imports"),
      exports: num(lim, "exports", "AccountLimits.exports"),
      wildcards: bool(lim, "wildcards", "AccountLimits.wildcards"),
      disallowBearer: bool(lim, "disallow_bearer", "AccountLimits.disallow_bearer"),
      conn: num(lim, "conn", "AccountLimits.conn"),
      leaf: num(lim, "leaf", "AccountLimits.leaf"),
      // Version 1 knows no JetStream; tiered limits replace the account-wide ones.
      jetstream: d.version === 1 || tiered.size > 0 ? readJsLimits({}) : readJsLimits(lim),
      tiered: d.version === 1 ? new Map() : tiered,
    },
    signingKeys: readSigningKeys(n),
    revocations: readRevocations(n, "revocations"),
    defaultPermissions: readPermissions(obj(n, "default_permissions", "Account.default_permissions")),
    mappings,
    authorization: {
      authUsers: strings(auth, "auth_users", "ExternalAuthorization.auth_users"),
      allowedAccounts: strings(auth, "allowed_accounts", "ExternalAuthorization.allowed_accounts"),
      xkey: str(auth, "xkey", "ExternalAuthorization.xkey"),
    },
    tags: d.version === 1 ? strings(d.top, "tags", "tags") : strings(n, "tags", "GenericFields.tags"),
    description: str(n, "description", "Info.description"),
    infoUrl: str(n, "info_url", "Info.info_url"),
    clusterTraffic: str(n, "cluster_traffic", "Account.cluster_traffic"),
    trace,
  };
}

/** Decode and type an account JWT ("not account claim" for another type). */
export function decodeAccountClaims(token: string): AccountClaims {
  const d = decodeJwt(token);
  if (d.type !== "account") throw new JwtError("not account claim");
  return accountClaims(d);
}

/** Does the account claim enable JetStream (storage in the plain or any tiered limits)? */
export function isJetStreamEnabled(l: OperatorLimits): boolean {
  if (l.tiered.size > 0) {
    for (const t of l.tiered.values()) if (t.mem_storage !== 0 || t.disk_storage !== 0) return true;
    return false;
  }
  return l.jetstream.mem_storage !== 0 || l.jetstream.disk_storage !== 0;
}

const MAX_INFO_LENGTH = 8 * 1024;

function validateInfo(description: string, infoUrl: string, vr: ValidationResults): void {
  if (description.length > MAX_INFO_LENGTH) vr.addError("Description is too long");
  if (infoUrl !== "") {
    if (infoUrl.length > MAX_INFO_LENGTH) vr.addError("Info URL is too long");
    let ok = false;
    try {
      const u = new URL(infoUrl);
      ok = u.hostname !== "" && u.protocol !== "";
    } catch {
      ok = false;
    }
    if (!ok) vr.addError("error parsing info url: no hostname or scheme");
  }
}

function validateExport(e: JwtExport | null, vr: ValidationResults): void {
  if (e === null) {
    vr.addError("null export is not allowed");
    return;
  }
  const service = e.type === "service";
  const stream = e.type === "stream";
  if (!service && !stream) vr.addError(`invalid export type: ${JSON.stringify(e.type === "" ? "unknown" : e.type)}`);
  if (service && !["", "Singleton", "Stream", "Chunked"].includes(e.responseType)) {
    vr.addError(`invalid response type for service: ${JSON.stringify(e.responseType)}`);
  }
  if (stream) {
    if (e.responseType !== "") vr.addError(`invalid response type for stream: ${JSON.stringify(e.responseType)}`);
    if (e.allowTrace) vr.addError("AllowTrace only valid for service export");
  }
  if (e.latency !== undefined) {
    if (!service) vr.addError("latency tracking only permitted for services");
    const s = e.latency.sampling;
    if (s !== "headers" && (s < 1 || s > 100)) vr.addError("sampling percentage needs to be between 1-100");
    validateSubject(e.latency.results, vr);
    if (jwtSubjectHasWildcards(e.latency.results)) vr.addError("results subject can not contain wildcards");
  }
  if (e.responseThreshold < 0) vr.addError("negative response threshold is invalid");
  if (e.responseThreshold > 0 && !service) vr.addError("response threshold only valid for services");
  validateSubject(e.subject, vr);
  if (e.accountTokenPosition > 0) {
    if (!jwtSubjectHasWildcards(e.subject)) {
      vr.addError(`Account Token Position can only be used with wildcard subjects: ${e.subject}`);
    } else {
      const tokens = e.subject.split(".");
      if (e.accountTokenPosition > tokens.length) {
        vr.addError(`Account Token Position ${e.accountTokenPosition} exceeds length of subject '${e.subject}'`);
      } else if (tokens[e.accountTokenPosition - 1] !== "*") {
        vr.addError(`Account Token Position ${e.accountTokenPosition} matches '${tokens[e.accountTokenPosition - 1]}' but must match a * in: ${e.subject}`);
      }
    }
  }
  validateInfo(e.description, e.infoUrl, vr);
}

function validateExports(exports: (JwtExport | null)[], vr: ValidationResults): void {
  const services: string[] = [];
  const streams: string[] = [];
  for (const e of exports) {
    if (e === null) {
      vr.addError("null export is not allowed");
      continue;
    }
    (e.type === "service" ? services : streams).push(e.subject);
    validateExport(e, vr);
  }
  for (const [kind, subjects] of [
    ["service", services],
    ["stream", streams],
  ] as const) {
    const seen = new Map<string, string>();
    subjects.forEach((ns, i) =>
      subjects.forEach((s, j) => {
        if (i !== j && jwtSubjectContainedIn(ns, s) && !seen.has(s)) seen.set(s, ns);
      }),
    );
    for (const [k, v] of seen) vr.addError(`${kind} export subject ${JSON.stringify(k)} already exports ${JSON.stringify(v)}`);
  }
}

/** The subject a service import occupies in the importing account. */
function renamingToSubject(s: string): string {
  if (!s.includes("$")) return s;
  return s
    .split(".")
    .map((tk) => (tk.length > 1 && tk[0] === "$" && /^\d+$/.test(tk.slice(1)) ? "*" : tk))
    .join(".");
}

function validateRenamingSubject(s: string, from: string, vr: ValidationResults): void {
  validateSubject(s, vr);
  if (from === "") vr.addError("subject cannot be empty");
  if (s.includes(" ")) vr.addError(`subject ${JSON.stringify(s)} cannot have spaces`);
  const suffix = (x: string): boolean => x === ">" || x.endsWith(".>");
  if (suffix(s) !== suffix(from)) vr.addError("both, renaming subject and subject, need to end or not end in >");
  const fromCnt = from === "*" ? 1 : from.split(".").filter((t) => t === "*").length;
  let refCnt = 0;
  for (const tk of s.split(".")) {
    if (tk === "*") refCnt++;
    if (tk.length < 2) continue;
    if (tk[0] === "$" && /^-?\d+$/.test(tk.slice(1))) {
      const idx = Number(tk.slice(1));
      if (idx > fromCnt) vr.addError(`Reference $${idx} in ${JSON.stringify(s)} reference * in ${JSON.stringify(from)} that do not exist`);
      else refCnt++;
    }
  }
  if (refCnt !== fromCnt) vr.addError("subject does not contain enough * or reference wildcards $[0-9]");
}

/** One import of an account JWT, as the importing account `accountKey` includes it (activation token included). */
export function validateImport(i: JwtImport, accountKey: string, vr: ValidationResults): void {
  const service = i.type === "service";
  const stream = i.type === "stream";
  if (!service && !stream) vr.addError(`invalid import type: ${JSON.stringify(i.type === "" ? "unknown" : i.type)}`);
  if (service && i.allowTrace) vr.addError("AllowTrace only valid for stream import");
  if (i.account === "") vr.addError("account to import from is not specified");
  if (i.to !== "") vr.addWarning("the field to has been deprecated (use LocalSubject instead)");
  validateSubject(i.subject, vr);
  if (i.localSubject !== "") {
    validateRenamingSubject(i.localSubject, i.subject, vr);
    if (i.to !== "") vr.addError("Local Subject replaces To");
  }
  if (i.share && !service) vr.addError(`sharing information (for latency tracking) is only valid for services: ${JSON.stringify(i.subject)}`);
  if (i.token !== "") {
    let act: ActivationClaims | undefined;
    try {
      act = decodeActivationClaims(i.token);
    } catch {
      vr.addError(`import ${JSON.stringify(i.subject)} contains an invalid activation token`);
    }
    if (act !== undefined) {
      if (!(act.data.iss === i.account || act.issuerAccount === i.account)) {
        vr.addError(`activation token doesn't match account for import ${JSON.stringify(i.subject)}`);
      }
      if (act.data.sub !== accountKey) vr.addError(`activation token doesn't match account it is being included in, ${JSON.stringify(i.subject)}`);
      if (act.kind !== i.type) vr.addError(`mismatch between token import type ${act.kind || "unknown"} and type of import ${i.type || "unknown"}`);
      validateActivation(act, vr, false);
      const subj = service && i.to !== "" ? i.to : i.subject;
      if (!jwtSubjectContainedIn(subj, act.subject)) {
        vr.addError(`activation token import subject ${JSON.stringify(act.subject)} doesn't match import ${JSON.stringify(i.subject)}`);
      }
    }
  }
}

function validateImports(imports: (JwtImport | null)[], accountKey: string, vr: ValidationResults): void {
  const byAccount = new Map<string, Set<string>>();
  for (const i of imports) {
    if (i === null) {
      vr.addError("null import is not allowed");
      continue;
    }
    if (i.type === "service") {
      const sub = i.to !== "" ? i.to : i.localSubject !== "" ? renamingToSubject(i.localSubject) : i.subject;
      const seen = byAccount.get(i.account) ?? new Set<string>();
      for (const other of seen) {
        if (jwtSubjectContainedIn(sub, other) || jwtSubjectContainedIn(other, sub)) {
          vr.addError(`overlapping subject namespace for ${JSON.stringify(sub)} and ${JSON.stringify(other)} in same account ${JSON.stringify(i.account)}`);
        }
      }
      if (seen.has(sub)) vr.addError(`overlapping subject namespace for ${JSON.stringify(sub)} in account ${JSON.stringify(i.account)}`);
      seen.add(sub);
      byAccount.set(i.account, seen);
    }
    validateImport(i, accountKey, vr);
  }
}

function validateMappings(mappings: Map<string, WeightedMapping[]>, vr: ValidationResults): void {
  for (const [from, list] of mappings) {
    validateSubject(from, vr);
    const perCluster = new Map<string, number>();
    let total = 0;
    for (const m of list) {
      validateSubject(m.subject, vr);
      const w = m.weight === 0 ? 100 : m.weight;
      if (w > 100) vr.addError(`Mapping ${JSON.stringify(from)} has a weight ${w} that exceeds 100`);
      if (m.cluster !== "") {
        const t = (perCluster.get(m.cluster) ?? 0) + w;
        perCluster.set(m.cluster, t);
        if (t > 100) vr.addError(`Mapping ${JSON.stringify(from)} in cluster ${JSON.stringify(m.cluster)} exceeds 100% among all of it's weighted to mappings`);
      } else total += w;
    }
    if (total > 100) vr.addError(`Mapping ${JSON.stringify(from)} exceeds 100% among all of it's weighted to mappings`);
  }
}

function jsLimitsEmpty(l: JetStreamLimits): boolean {
  return Object.values(l).every((v) => v === 0 || v === false);
}

function operatorLimitsEmpty(l: OperatorLimits): boolean {
  return (
    l.subs === 0 &&
    l.data === 0 &&
    l.payload === 0 &&
    l.imports === 0 &&
    l.exports === 0 &&
    !l.wildcards &&
    !l.disallowBearer &&
    l.conn === 0 &&
    l.leaf === 0 &&
    jsLimitsEmpty(l.jetstream) &&
    l.tiered.size === 0
  );
}

export function validateAccountClaims(a: AccountClaims, vr: ValidationResults): void {
  validateTimes(a.data, vr);
  validateImports(a.imports, a.data.sub, vr);
  validateExports(a.exports, vr);
  if (a.limits.tiered.size > 0) {
    if (!jsLimitsEmpty(a.limits.jetstream)) vr.addError("JetStream Limits and tiered JetStream Limits are mutually exclusive");
    if (a.limits.tiered.has("")) vr.addError('Tiered JetStream Limits can not contain a blank "" tier name');
  }
  validatePermissions(a.defaultPermissions, vr);
  validateMappings(a.mappings, vr);
  const auth = a.authorization;
  if (auth.allowedAccounts.length > 0 && auth.authUsers.length === 0) vr.addError("External authorization cannot have accounts without users specified");
  for (const u of auth.authUsers) if (!isPublicKey(u, "U")) vr.addError(`AuthUser ${JSON.stringify(u)} is not a valid user public key`);
  for (const acc of auth.allowedAccounts) {
    if (acc === "*" && auth.allowedAccounts.length > 1) vr.addError('AllowedAccounts can only be a list of accounts or "*"');
    else if (acc !== "*" && !isPublicKey(acc, "A")) vr.addError(`Account ${JSON.stringify(acc)} is not a valid account public key`);
  }
  if (auth.xkey !== "" && !isPublicKey(auth.xkey, "X")) vr.addError(`XKey ${JSON.stringify(auth.xkey)} is not a valid public xkey`);
  if (a.trace !== undefined) {
    const tvr = new ValidationResults();
    validateSubject(a.trace.dest, tvr);
    if (tvr.issues.length > 0) vr.addError(`the account Trace.Destination ${tvr.issues[0].description}`);
    if (jwtSubjectHasWildcards(a.trace.dest)) vr.addError(`the account Trace.Destination subject ${JSON.stringify(a.trace.dest)} is not a valid publish subject`);
    if (a.trace.sampling < 0 || a.trace.sampling > 100) {
      vr.addError(`the account Trace.Sampling value '${a.trace.sampling}' is not valid, should be in the range [1..100]`);
    }
  }
  const l = a.limits;
  if (!operatorLimitsEmpty(l) && l.imports >= 0 && a.imports.length > l.imports) vr.addError("the account contains more imports than allowed by the operator");
  if (l.imports !== -1 && a.imports.length > l.imports) vr.addError("the account contains more imports than allowed by the operator");
  if (l.exports !== -1) {
    if (a.exports.length > l.exports) vr.addError("the account contains more exports than allowed by the operator");
    if (!l.wildcards) {
      for (const e of a.exports) {
        if (e !== null && jwtSubjectHasWildcards(e.subject)) vr.addError("the account contains wildcard exports that are not allowed by the operator");
      }
    }
  }
  for (const [k, scope] of a.signingKeys) {
    if (scope !== null) {
      if (!isPublicKey(scope.key, "A")) vr.addError(`${scope.key} is not an account public key`);
    } else if (!isPublicKey(k, "A")) vr.addError(`${JSON.stringify(k)} is not a valid account signing key`);
  }
  validateInfo(a.description, a.infoUrl, vr);
  if (a.clusterTraffic !== "" && a.clusterTraffic !== "system" && a.clusterTraffic !== "owner") {
    vr.addError(`unknown cluster traffic option: ${JSON.stringify(a.clusterTraffic)}`);
  }
  if (isPublicKey(a.data.iss, "A") && !operatorLimitsEmpty(l)) vr.addWarning("self-signed account JWTs shouldn't contain operator limits");
}

// ---------------------------------------------------------------------------------------
// activation claims

export interface ActivationClaims {
  readonly jwt: DecodedJwt;
  readonly data: ClaimsData;
  /** The exported subject the token grants. */
  subject: string;
  kind: ExportType | "";
  issuerAccount: string;
}

export function decodeActivationClaims(token: string): ActivationClaims {
  const d = decodeJwt(token);
  if (d.type !== "activation") throw new JwtError("not activation claim");
  const n = d.claims.nats;
  // Version 1 tokens name the kind `type`.
  const kindText = str(n, "kind", "Activation.kind") || (d.version === 1 ? str(n, "type", "Activation.type") : "");
  return { jwt: d, data: d.claims, subject: str(n, "subject", "Activation.subject"), kind: exportType(kindText), issuerAccount: str(n, "issuer_account", "Activation.issuer_account") };
}

export function validateActivation(a: ActivationClaims, vr: ValidationResults, timeChecks = true): void {
  if (timeChecks) validateTimes(a.data, vr);
  if (a.kind !== "service" && a.kind !== "stream") vr.addError(`invalid import type: ${JSON.stringify(a.kind || "unknown")}`);
  validateSubject(a.subject, vr);
  if (a.issuerAccount !== "" && !isPublicKey(a.issuerAccount, "A")) vr.addError("account_id is not an account public key");
}

// ---------------------------------------------------------------------------------------
// operator claims

export interface OperatorClaims {
  readonly jwt: DecodedJwt;
  readonly data: ClaimsData;
  signingKeys: string[];
  accountServerUrl: string;
  operatorServiceUrls: string[];
  systemAccount: string;
  assertServerVersion: string;
  strictSigningKeyUsage: boolean;
  tags: string[];
}

export function decodeOperatorClaims(token: string): OperatorClaims {
  const d = decodeJwt(token);
  if (d.type !== "operator") throw new JwtError("not operator claim");
  const n = d.claims.nats;
  return {
    jwt: d,
    data: d.claims,
    signingKeys: strings(n, "signing_keys", "Operator.signing_keys"),
    accountServerUrl: str(n, "account_server_url", "Operator.account_server_url"),
    operatorServiceUrls: strings(n, "operator_service_urls", "Operator.operator_service_urls"),
    systemAccount: str(n, "system_account", "Operator.system_account"),
    assertServerVersion: str(n, "assert_server_version", "Operator.assert_server_version"),
    strictSigningKeyUsage: bool(n, "strict_signing_key_usage", "Operator.strict_signing_key_usage"),
    tags: strings(n, "tags", "GenericFields.tags"),
  };
}

// ---------------------------------------------------------------------------------------
// authorization responses (auth callout)

export interface AuthorizationResponseClaims {
  readonly jwt: DecodedJwt;
  readonly data: ClaimsData;
  userJwt: string;
  error: string;
  issuerAccount: string;
}

export function decodeAuthorizationResponseClaims(token: string): AuthorizationResponseClaims {
  const d = decodeJwt(token);
  if (d.type !== "authorization_response") throw new JwtError("not an authorization request claim");
  const n = d.claims.nats;
  return {
    jwt: d,
    data: d.claims,
    userJwt: str(n, "jwt", "AuthorizationResponse.jwt"),
    error: str(n, "error", "AuthorizationResponse.error"),
    issuerAccount: str(n, "issuer_account", "AuthorizationResponse.issuer_account"),
  };
}

export function validateAuthorizationResponse(r: AuthorizationResponseClaims, vr: ValidationResults): void {
  if (!isPublicKey(r.data.sub, "U")) vr.addError("Subject must be a user public key");
  if (!isPublicKey(r.data.aud, "N")) vr.addError("Audience must be a server public key");
  if (r.error === "" && r.userJwt === "") vr.addError("Error or Jwt is required");
  if (r.error !== "" && r.userJwt !== "") vr.addError("Only Error or Jwt can be set");
  if (r.issuerAccount !== "" && !isPublicKey(r.issuerAccount, "A")) vr.addError("issuer_account is not an account public key");
  validateTimes(r.data, vr);
}
