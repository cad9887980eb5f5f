// Pull requests of a pull consumer ($JS.API.CONSUMER.MSG.NEXT): how a request body is read
// (nats-server's nextReqFromMsg: empty = one message, a number = a batch, or JSON) and the
// queue of waiting requests. The queue serves requests in turn, one message each (a request
// with more to get goes to the back), as nats-server's waitQueue does; with the
// "prioritized" policy it is kept ordered by priority (0 first), FIFO within a priority.
import { PULL_REQUEST_SHAPE, unmarshalLenient } from "./json.js";
import { goDuration } from "../server/time.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";

/** The priority-group part of a pull request (ADR-42). */
export interface PriorityRequest {
  group: string;
  minPending: number;
  minAckPending: number;
  /** The pin id the client holds ("" = none); the server sets it when it pins this request. */
  id: string;
  priority: number;
}

export interface PullRequest {
  reply: string;
  /** Messages still to send (may go to 0 or below: the request ends then). */
  n: number;
  /** Messages sent. */
  d: number;
  /** max_bytes left (0 = no byte limit). */
  b: number;
  /** Expiry (ms since epoch, 0 = none). */
  expiresAt: number;
  noWait: boolean;
  hbMs: number;
  /** Next idle heartbeat due (ms since epoch, 0 = none). */
  hbAt: number;
  received: number;
  /** Set for JSON requests (nats-server's PriorityGroup is never nil then). */
  group: PriorityRequest | undefined;
}

/**
 * Counts a message of `size` bytes against a request's max_bytes (none: always fits). False when
 * it does not fit: nats-server answers that request 409 "Message Size Exceeds MaxBytes".
 */
export function takeMaxBytes(wr: PullRequest, size: number): boolean {
  if (wr.b <= 0) return true;
  if (size > wr.b) return false;
  wr.b -= size;
  // Exactly used up: this message is the last one for the request.
  if (wr.b === 0) wr.n = 1;
  return true;
}

export interface ParsedPull {
  batch: number;
  expiresNs: number;
  maxBytes: number;
  noWait: boolean;
  hbNs: number;
  group: PriorityRequest | undefined;
}

/** The consumer settings a pull request is checked against (0: no limit). */
export interface PullLimits {
  maxBatch: number;
  maxExpiresNs: number;
  maxBytes: number;
  priorityPolicy: string;
}

/**
 * nats-server's checks of a parsed request against the consumer's limits and its priority
 * policy, in its order: the status to answer when one fails. The checks a policy's own groups
 * add (group named and configured) are the consumer's.
 */
export function pullRequestRefusal(p: ParsedPull, l: PullLimits): string | undefined {
  if (l.maxBatch > 0 && p.batch > l.maxBatch) return `409 Exceeded MaxRequestBatch of ${l.maxBatch}`;
  if (p.expiresNs > 0 && l.maxExpiresNs > 0 && p.expiresNs > l.maxExpiresNs) return `409 Exceeded MaxRequestExpires of ${goDuration(l.maxExpiresNs)}`;
  if (p.maxBytes > 0 && l.maxBytes > 0 && p.maxBytes > l.maxBytes) return `409 Exceeded MaxRequestMaxBytes of ${l.maxBytes}`;
  const g = p.group;
  if (g === undefined) return undefined;
  if ((g.minPending !== 0 || g.minAckPending !== 0) && l.priorityPolicy !== "overflow") return "400 Bad Request - Not a Overflow Priority consumer";
  if (g.id !== "" && l.priorityPolicy !== "pinned_client") return "400 Bad Request - Not a Pinned Client Priority consumer";
  if (g.priority < 0 || g.priority > 9) return "400 Bad Request - Priority must be between 0 and 9";
  return undefined;
}

interface PullJson {
  expires?: number;
  batch?: number;
  max_bytes?: number;
  no_wait?: boolean;
  idle_heartbeat?: number;
  group?: string;
  min_pending?: number;
  min_ack_pending?: number;
  id?: string;
  priority?: number;
}

const PULL_KEYS = new Set(Object.keys(PULL_REQUEST_SHAPE));
const BOOL_KEYS = new Set(["no_wait"]);
const STRING_KEYS = new Set(["group", "id"]);

/**
 * The fields of a JSON pull request, via JSON.parse when the body is plain (known keys with
 * the right types, integers written as such), else through the Go-faithful reader for
 * nats-server's exact error text. Returns the fields or an error text.
 */
function pullJson(body: Buffer): PullJson | string {
  const text = body.toString("utf8");
  if (!/[0-9][.eE]/.test(text)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      let plain = true;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (!PULL_KEYS.has(k)) {
          plain = false;
          break;
        }
        const ok = BOOL_KEYS.has(k) ? typeof x === "boolean" : STRING_KEYS.has(k) ? typeof x === "string" : typeof x === "number" && Number.isSafeInteger(x);
        if (!ok) {
          plain = false;
          break;
        }
      }
      if (plain) return v as PullJson;
    }
  }
  // nats-server decodes into a pooled pointer: Go's messages name no struct type (".batch").
  const r = unmarshalLenient(body, PULL_REQUEST_SHAPE, "");
  return typeof r === "string" ? r : (r as PullJson);
}

/** Go's strconv.Atoi for a batch given as a bare number. */
function atoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) && Math.abs(Number(s)) < 2 ** 63 ? Number(s) : undefined;
}

/**
 * Read a pull request body as nats-server's nextReqFromMsg does. A string is the text of a
 * "400 Bad Request - <text>" answer.
 */
export function parsePullRequest(body: Buffer): ParsedPull | string {
  let start = 0;
  let end = body.length;
  while (start < end && (body[start] === 0x20 || body[start] === 0x09 || body[start] === 0x0a || body[start] === 0x0d)) start++;
  while (end > start && (body[end - 1] === 0x20 || body[end - 1] === 0x09 || body[end - 1] === 0x0a || body[end - 1] === 0x0d)) end--;
  const none: ParsedPull = { batch: 1, expiresNs: 0, maxBytes: 0, noWait: false, hbNs: 0, group: undefined };
  if (start === end) return none;
  const req = body.subarray(start, end);
  if (req[0] !== 0x7b) {
    // A bare number is a batch size; anything else is one message.
    const n = atoi(req.toString("latin1"));
    return n === undefined ? none : { ...none, batch: n };
  }
  const j = pullJson(req);
  if (typeof j === "string") return j;
  const expiresNs = j.expires ?? 0;
  const hbNs = j.idle_heartbeat ?? 0;
  if (hbNs > 0 && hbNs * 2 > expiresNs) return "heartbeat value too large";
  return {
    batch: j.batch ?? 0,
    expiresNs,
    maxBytes: j.max_bytes ?? 0,
    noWait: j.no_wait ?? false,
    hbNs,
    group: { group: j.group ?? "", minPending: j.min_pending ?? 0, minAckPending: j.min_ack_pending ?? 0, id: j.id ?? "", priority: j.priority ?? 0 },
  };
}

/** nats-server's waitQueue: at most `max` requests, served in turn. */
export class WaitQueue {
  private items: PullRequest[] = [];
  /** When a request last arrived (ms; a double field from the start, server/double_zero.ts). */
  last = DOUBLE_ZERO;

  constructor(public max: number) {}

  get length(): number {
    return this.items.length;
  }

  isFull(): boolean {
    return this.items.length >= this.max;
  }

  peek(): PullRequest | undefined {
    return this.items[0];
  }

  all(): readonly PullRequest[] {
    return this.items;
  }

  /** Add at the back; false when full. */
  add(r: PullRequest): boolean {
    if (this.isFull()) return false;
    this.items.push(r);
    this.last = r.received;
    return true;
  }

  /** Add behind every request of the same or higher priority (lower number first). */
  addPrioritized(r: PullRequest): boolean {
    if (this.isFull()) return false;
    this.insertByPriority(r);
    this.last = r.received;
    return true;
  }

  private insertByPriority(r: PullRequest): void {
    const p = r.group?.priority ?? Number.MAX_SAFE_INTEGER;
    let i = 0;
    while (i < this.items.length && (this.items[i].group?.priority ?? Number.MAX_SAFE_INTEGER) <= p) i++;
    this.items.splice(i, 0, r);
  }

  removeHead(): void {
    this.items.shift();
  }

  remove(r: PullRequest): void {
    const i = this.items.indexOf(r);
    if (i >= 0) this.items.splice(i, 1);
  }

  /** Move the head to the back (it is passed over for now). */
  cycle(): void {
    const r = this.items.shift();
    if (r !== undefined) this.items.push(r);
  }

  /**
   * The head takes one message: it leaves when done, otherwise goes to the back (or, with
   * priorities, behind the requests of its priority) so waiting requests take turns.
   */
  pop(prioritized: boolean): PullRequest | undefined {
    const r = this.items[0];
    if (r === undefined) return undefined;
    r.d++;
    r.n--;
    if (r.n <= 0) this.items.shift();
    else if (this.items.length > 1) {
      this.items.shift();
      if (prioritized) this.insertByPriority(r);
      else this.items.push(r);
    }
    return r;
  }

  /** Take every request out (consumer deleted or stopped). */
  drain(): PullRequest[] {
    const out = this.items;
    this.items = [];
    return out;
  }
}
