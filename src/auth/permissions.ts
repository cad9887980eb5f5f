// A user's publish/subscribe permissions, enforced the way nats-server 2.9 does:
// - publish/subscribe take a subject, a list, or {allow, deny}; no allow list means "all allowed",
//   and deny always wins.
// - a subscribe entry "subject queue" grants (or denies) that queue group only.
// - a wildcard subscription that overlaps a subscribe deny still gets created, but messages on
//   denied subjects are not delivered through it.
// - allow_responses lets the user publish to the reply subjects of requests it received (each at
//   most max_msgs times, within expires); it turns off the blanket publish allow when the block
//   names no publish allow list.
// Filters apply to subjects token by token, with the subject's own wildcards taken literally.
import { hasWildcard, subjectMatches } from "../protocol/subject.js";
import type { JwtPermission, JwtPermissions } from "./claims.js";

interface Filter {
  subject: string;
  queue: string | undefined;
}

interface SubjectRules<T> {
  allow: T[] | undefined;
  deny: T[];
}

interface ResponseGrant {
  remaining: number;
  expiresAt: number;
}

const DEFAULT_RESPONSE_MAX_MSGS = 1;
const DEFAULT_RESPONSE_EXPIRES_MS = 2 * 60 * 1000;
/** Past this many outstanding reply grants, expired ones are swept on insert. */
const RESPONSE_SWEEP_AT = 1024;

function pick(m: Record<string, unknown>, ...names: string[]): unknown {
  for (const [k, v] of Object.entries(m)) if (names.includes(k.toLowerCase())) return v;
  return undefined;
}

function stringList(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return [];
}

/** A subject permission as written: "a", ["a", "b"] or {allow: ..., deny: ...}. */
function readRules(v: unknown): SubjectRules<string> | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const m = v as Record<string, unknown>;
    const allow = pick(m, "allow");
    return { allow: allow === undefined ? undefined : stringList(allow), deny: stringList(pick(m, "deny")) };
  }
  return { allow: stringList(v), deny: [] };
}

function toFilter(entry: string): Filter {
  const parts = entry.trim().split(/\s+/);
  return { subject: parts[0] ?? "", queue: parts.length > 1 ? parts[1] : undefined };
}

/** Seconds as a number, or a Go duration string ("2m", "500ms"). */
function durationMs(v: unknown): number {
  if (typeof v === "number") return v * 1000;
  if (typeof v !== "string") return 0;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of v.matchAll(/([\d.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (units[m[2]!] ?? 0);
  return total;
}

/** A subject permission as nats-server writes it in INFO: allow (absent: everything) and deny. */
export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

/** The publish and subscribe rules of a permissions block as configured, each absent when not given. */
export function permissionRules(raw: unknown): { publish?: SubjectPermission; subscribe?: SubjectPermission } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return {};
  const m = raw as Record<string, unknown>;
  const rules = (v: unknown): SubjectPermission | undefined => {
    const r = readRules(v);
    if (r === undefined) return undefined;
    return { ...(r.allow !== undefined ? { allow: r.allow } : {}), ...(r.deny.length > 0 ? { deny: r.deny } : {}) };
  };
  const publish = rules(pick(m, "publish", "pub"));
  const subscribe = rules(pick(m, "subscribe", "sub"));
  return { ...(publish !== undefined ? { publish } : {}), ...(subscribe !== undefined ? { subscribe } : {}) };
}

export class Permissions {
  private readonly pub: SubjectRules<string> | undefined;
  private readonly sub: SubjectRules<Filter> | undefined;
  private readonly responseMax: number;
  private readonly responseExpiresMs: number;
  readonly allowResponses: boolean;
  /** Reply subjects this user may answer, from requests delivered to it. */
  private readonly replies = new Map<string, ResponseGrant>();

  private constructor(raw: Record<string, unknown>) {
    let pub = readRules(pick(raw, "publish", "pub"));
    const sub = readRules(pick(raw, "subscribe", "sub"));
    this.sub = sub && { allow: sub.allow?.map(toFilter), deny: sub.deny.map(toFilter) };
    const resp = pick(raw, "allow_responses", "allow_resp");
    this.allowResponses = resp === true || (typeof resp === "object" && resp !== null);
    let max = DEFAULT_RESPONSE_MAX_MSGS;
    let expires = DEFAULT_RESPONSE_EXPIRES_MS;
    if (typeof resp === "object" && resp !== null) {
      const r = resp as Record<string, unknown>;
      const m = pick(r, "max", "max_msgs", "max_messages", "max_responses");
      if (typeof m === "number" && m !== 0) max = m;
      const e = durationMs(pick(r, "expires", "expiration", "ttl"));
      if (e !== 0) expires = e;
    }
    this.responseMax = max;
    this.responseExpiresMs = expires;
    if (this.allowResponses && pub?.allow === undefined) pub = { allow: [], deny: pub?.deny ?? [] };
    this.pub = pub;
  }

  /** The enforced form of a permissions block, or undefined when it restricts nothing. */
  static from(raw: unknown): Permissions | undefined {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
    const p = new Permissions(raw as Record<string, unknown>);
    return p.pub === undefined && p.sub === undefined ? undefined : p;
  }

  /** Publishing to `subject`; consumes one use of a reply grant when that is what allows it. */
  canPublish(subject: string): boolean {
    let allowed = this.publishRulesAllow(subject);
    if (!allowed && this.allowResponses) allowed = this.useReply(subject);
    return allowed;
  }

  /** The publish allow/deny rules alone (no response grant used up): message trace destinations. */
  publishRulesAllow(subject: string): boolean {
    const rules = this.pub;
    if (rules === undefined) return true;
    let allowed = rules.allow === undefined || rules.allow.some((f) => subjectMatches(f, subject));
    if (allowed && rules.deny.some((f) => subjectMatches(f, subject))) allowed = false;
    return allowed;
  }

  canSubscribe(subject: string, queue: string | undefined): boolean {
    const rules = this.sub;
    if (rules === undefined) return true;
    let allowed = true;
    if (rules.allow !== undefined) {
      const hits = rules.allow.filter((f) => subjectMatches(f.subject, subject));
      allowed = hits.some((f) => f.queue === undefined);
      const queued = hits.filter((f) => f.queue !== undefined);
      if (queue !== undefined && queued.length > 0) allowed = queued.some((f) => queueMatches(f.queue!, queue));
    }
    if (allowed && rules.deny.length > 0) {
      const hits = rules.deny.filter((f) => subjectMatches(f.subject, subject));
      allowed = !hits.some((f) => f.queue === undefined);
      const queued = hits.filter((f) => f.queue !== undefined);
      if (queue !== undefined && queued.length > 0) allowed = !queued.some((f) => queueMatches(f.queue!, queue));
    }
    return allowed;
  }

  /**
   * A message with a reply subject was delivered to this user (its subscribe deny rules were
   * checked before: deniesDelivery). As nats-server: the reply subject is (re)granted only when
   * publishing to it is not allowed already, and that check uses up a grant still live for it
   * (so each delivery of a request with the same reply counts as one of its max responses).
   */
  delivered(reply: string): void {
    if (reply !== "" && this.allowResponses && !this.canPublish(reply)) this.grantReply(reply);
  }

  /**
   * A message its subscription may not get: the subscription was allowed (a wildcard, or a
   * queue subscription) but the message's subject is under a subscribe deny rule — for a
   * queue subscription also a "subject queue" rule naming its group. Literal subscriptions a
   * rule denies are refused at SUB, so they are never checked here.
   */
  deniesDelivery(subSubject: string, subject: string, queue?: string): boolean {
    const deny = this.sub?.deny;
    if (deny === undefined || deny.length === 0) return false;
    if (queue === undefined && !hasWildcard(subSubject)) return false;
    for (const f of deny) {
      if (!subjectMatches(f.subject, subject)) continue;
      if (f.queue === undefined) return hasWildcard(subSubject);
      if (queue !== undefined && queueMatches(f.queue, queue)) return true;
    }
    return false;
  }

  private grantReply(reply: string): void {
    const now = Date.now();
    if (this.replies.size >= RESPONSE_SWEEP_AT) {
      for (const [k, g] of this.replies) if (g.expiresAt <= now) this.replies.delete(k);
    }
    this.replies.set(reply, { remaining: this.responseMax, expiresAt: now + this.responseExpiresMs });
  }

  private useReply(subject: string): boolean {
    const g = this.replies.get(subject);
    if (g === undefined) return false;
    if (g.expiresAt <= Date.now()) {
      this.replies.delete(subject);
      return false;
    }
    // A negative max_msgs means no limit on responses.
    if (this.responseMax > 0 && --g.remaining <= 0) this.replies.delete(subject);
    return true;
  }
}

function queueMatches(pattern: string, queue: string): boolean {
  return pattern === queue || subjectMatches(pattern, queue);
}

/**
 * JWT permissions (`pub`, `sub`, `resp`) in the config form `Permissions.from` reads, or
 * undefined when they restrict nothing. An empty allow list means "no allow list" (all
 * allowed), as nats-server reads JWTs; a response permission turns the publish allow list on.
 */
export function jwtPermissionsToConfig(p: JwtPermissions): Record<string, unknown> | undefined {
  const side = (x: JwtPermission): Record<string, unknown> | undefined => {
    if (x.allow.length === 0 && x.deny.length === 0) return undefined;
    return x.allow.length > 0 ? { allow: x.allow, deny: x.deny } : { deny: x.deny };
  };
  const out: Record<string, unknown> = {};
  const pub = side(p.pub);
  const sub = side(p.sub);
  if (pub !== undefined) out.publish = pub;
  if (sub !== undefined) out.subscribe = sub;
  if (p.resp !== undefined) {
    // ttl is a Go duration in nanoseconds; 0 keeps the defaults.
    out.allow_responses = { max: p.resp.max, expires: `${p.resp.ttl / 1e6}ms` };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
