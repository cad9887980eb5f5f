// Subject trie holding an account's subscriptions, with a cache of match results.
// Literal tokens live in a map per level; `*` and `>` have their own slots so a match
// walks at most three branches per token. Cached results are dropped only when an
// inserted or removed subscription could match the cached subject.
import type { TraceRemote } from "./msg_trace.js";
import { hasWildcard, subjectMatches } from "../protocol/subject.js";
import type { Stallable } from "./outbound.js";
import { DOUBLE_ZERO } from "./double_zero.js";

/**
 * Something a matched message can be handed to: a client connection, an internal handler, or a
 * connection to another server (route, leaf node, gateway) whose subscriptions stand for the
 * interest on that side.
 */
export interface Deliverer {
  /** Kind of connection, for echo, forwarding and monitoring decisions. */
  readonly kind: "client" | "internal" | "route" | "leaf" | "gateway";
  readonly cid: number;
  /** Returns false when the message did not get through (import machinery: nobody beyond it got it). */
  deliver(sub: Subscription, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void | boolean;
}

/**
 * A connection to another server (route, leaf node, gateway). Its subscriptions in an account's
 * sublist stand for interest on the other side; a matching message is sent there once per
 * connection, with the queue groups the other side should deliver it to.
 */
export interface RemoteDeliverer extends Deliverer, TraceRemote, Stallable {
  readonly kind: "route" | "leaf" | "gateway";
  /**
   * Send one message across; `queues` (not kept) names the queue groups to deliver it to there,
   * `origin` the leaf node cluster it came from ("" when none). False: not sent after all.
   */
  sendRouted(account: string, subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, queues: readonly string[], origin: string): void | false;
  /** The leaf node cluster of the message being routed from this connection ("" when none). */
  readonly originCluster?: string;
  /** Its pending bytes passed the stall mark: a publishing client waits until it catches up. */
  readonly behind: boolean;
  stallPublisher(publisher: Stallable): void;
  /**
   * Rules against loops and duplicates: may a message that came in on this connection go out on
   * `to` (another server's connection)? Messages from local clients may always go.
   */
  mayForwardTo(to: RemoteDeliverer, subject: string): boolean;
}

export interface Subscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly sid: string;
  readonly client: Deliverer;
  /** Auto-unsubscribe after this many deliveries (0 = never). */
  max: number;
  delivered: number;
  /** Set once removed, so in-flight deliveries skip it. */
  closed: boolean;
  /**
   * A queue subscription of another server stands for this many members there: it takes that
   * many slots when a member of the group is picked, so the cluster shares messages by member.
   */
  weight?: number;
  /** The leaf node cluster a subscription of another server comes from (LS+), for no-echo across the cluster. */
  origin?: string;
  /** The connection's cached control line ("MSG <subject> <sid> [reply] <size>") of the last delivery. */
  encoded?: DataView;
  encodedLength?: number;
  encodedSubject?: string;
  encodedReply?: string;
  encodedHdr?: number;
  encodedTotal?: number;
  /** Import machinery (service imports, reply mappings): never mirrored into exporters. */
  noImports?: boolean;
  /** Not announced to routes (nats-server's noForward: service import subscriptions, handled on every server). */
  noRoutes?: boolean;
  /** Its stand-ins in exporters' sublists, for the account's stream imports. */
  shadows?: Subscription[];
}

export interface SublistResult {
  readonly psubs: Subscription[];
  /** One array per queue group that matched. */
  readonly qsubs: Subscription[][];
}

const EMPTY_RESULT: SublistResult = Object.freeze({ psubs: [], qsubs: [] }) as SublistResult;
const CACHE_MAX = 4096;
const JS_ACK_PREFIX = "$JS.ACK.";

interface Node {
  next: Level | undefined;
  psubs: Set<Subscription>;
  qsubs: Map<string, Set<Subscription>>;
  /**
   * The result of a match that found this node's plain subscriptions and nothing else (every
   * reply subject under `_INBOX.<id>.*`): made once, dropped when they change.
   */
  alone: SublistResult | undefined;
}

interface Level {
  literal: Map<string, Node>;
  /**
   * The literal tokens while there are at most FEW_LITERALS of them (undefined above): a match
   * compares them in place instead of cutting the subject's token out as a new string to look
   * up (`_INBOX` and a client's inbox id at every reply).
   */
  few: Array<{ token: string; node: Node }> | undefined;
  pwc: Node | undefined;
  fwc: Node | undefined;
}

const FEW_LITERALS = 4;

function newLevel(): Level {
  return { literal: new Map(), few: [], pwc: undefined, fwc: undefined };
}

/**
 * Keep `few` equal to the literal tokens (a subscription was added or removed: rare next to
 * matches). Built by pushing into an array literal, so every `few` has the same elements kind
 * (packed): Array.prototype.map makes packed arrays while it runs as a builtin but holey ones
 * once TurboFan has inlined it into an optimized caller, and matchLevel, optimized on the
 * warm-up's packed arrays, was thrown away at the first holey one (conns1000: the root level
 * of a crowd's account got its last token after a thousand SUBs had optimized this function,
 * and the round trips measured right after paid for the deoptimization and recompilation).
 */
function literalsChanged(level: Level): void {
  if (level.literal.size > FEW_LITERALS) {
    level.few = undefined;
    return;
  }
  const few: Array<{ token: string; node: Node }> = [];
  for (const [token, node] of level.literal) few.push({ token, node });
  level.few = few;
}

function newNode(): Node {
  return { next: undefined, psubs: new Set(), qsubs: new Map(), alone: undefined };
}

function nodeIsEmpty(n: Node): boolean {
  return n.psubs.size === 0 && n.qsubs.size === 0 && (n.next === undefined || levelIsEmpty(n.next));
}

function levelIsEmpty(l: Level): boolean {
  return l.literal.size === 0 && l.pwc === undefined && l.fwc === undefined;
}

/** `_INBOX.<id>.<token>...`: the reply subject of one request (not a bare `_INBOX.<id>`, which may be a long-lived deliver subject). */
function isRequestReplySubject(subject: string): boolean {
  return subject.charCodeAt(0) === 95 /* _ */ && subject.startsWith("_INBOX.") && subject.indexOf(".", 7) > 7;
}

export class Sublist {
  private readonly root: Level = newLevel();
  private readonly cache: Map<string, SublistResult> | undefined;
  private subCount = 0;
  /** Changes on every insert and remove, so callers may keep a match result while it is equal. */
  generation = 0;
  matches = DOUBLE_ZERO;
  cacheHits = DOUBLE_ZERO;
  inserts = 0;
  removes = 0;

  constructor(useCache = true) {
    this.cache = useCache ? new Map() : undefined;
  }

  get count(): number {
    return this.subCount;
  }

  get cacheSize(): number {
    return this.cache?.size ?? 0;
  }

  insert(sub: Subscription): void {
    const tokens = sub.subject.split(".");
    let level = this.root;
    let node: Node | undefined;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === "*") node = level.pwc ??= newNode();
      else if (t === ">") node = level.fwc ??= newNode();
      else {
        node = level.literal.get(t);
        if (node === undefined) {
          node = newNode();
          level.literal.set(t, node);
          literalsChanged(level);
        }
      }
      if (i < tokens.length - 1) level = node.next ??= newLevel();
    }
    const n = node as Node;
    if (sub.queue === undefined) {
      n.psubs.add(sub);
      n.alone = undefined;
    } else {
      let group = n.qsubs.get(sub.queue);
      if (group === undefined) {
        group = new Set();
        n.qsubs.set(sub.queue, group);
      }
      group.add(sub);
    }
    this.subCount++;
    this.inserts++;
    this.generation++;
    this.invalidate(sub.subject);
  }

  remove(sub: Subscription): boolean {
    const tokens = sub.subject.split(".");
    const path: Array<{ level: Level; token: string; node: Node }> = [];
    let level: Level | undefined = this.root;
    let node: Node | undefined;
    for (const t of tokens) {
      if (level === undefined) return false;
      node = t === "*" ? level.pwc : t === ">" ? level.fwc : level.literal.get(t);
      if (node === undefined) return false;
      path.push({ level, token: t, node });
      level = node.next;
    }
    const n = node as Node;
    let removed: boolean;
    if (sub.queue === undefined) {
      removed = n.psubs.delete(sub);
      n.alone = undefined;
    } else {
      const group = n.qsubs.get(sub.queue);
      removed = group !== undefined && group.delete(sub);
      if (group !== undefined && group.size === 0) n.qsubs.delete(sub.queue);
    }
    if (!removed) return false;
    // Prune empty nodes bottom-up so the trie does not grow with churn.
    for (let i = path.length - 1; i >= 0; i--) {
      const p = path[i];
      if (!nodeIsEmpty(p.node)) break;
      if (p.token === "*") p.level.pwc = undefined;
      else if (p.token === ">") p.level.fwc = undefined;
      else {
        p.level.literal.delete(p.token);
        literalsChanged(p.level);
      }
    }
    this.subCount--;
    this.removes++;
    this.generation++;
    this.invalidate(sub.subject);
    return true;
  }

  /** `match` for a subject used once (a reply inbox): the cache is neither read nor filled. */
  matchOnce(subject: string): SublistResult {
    this.matches++;
    return this.matchTrie(subject);
  }

  private matchTrie(subject: string): SublistResult {
    // A subject with an empty token (`a..b`, `.a`, `a.`, ``) matches nothing, as in nats-server.
    if (subject.length === 0 || subject.charCodeAt(0) === 46 || subject.charCodeAt(subject.length - 1) === 46 || subject.includes("..")) {
      return EMPTY_RESULT;
    }
    matchLevel(this.root, subject, 0);
    return takeFound();
  }

  /** All subscriptions whose subject matches the literal subject. */
  match(subject: string): SublistResult {
    this.matches++;
    // JetStream ack subjects carry the message's sequences, and a request's reply subject
    // (`_INBOX.<id>.<token>`, the clients' shared response inbox) names one request: each is
    // used once, so caching one costs a hash, an insert and an eviction for nothing (and
    // evicts what repeats).
    const cache = subject.startsWith(JS_ACK_PREFIX) || isRequestReplySubject(subject) ? undefined : this.cache;
    if (cache !== undefined) {
      const hit = cache.get(subject);
      if (hit !== undefined) {
        this.cacheHits++;
        return hit;
      }
    }
    const result = this.matchTrie(subject);
    if (cache !== undefined) {
      if (cache.size >= CACHE_MAX) {
        // Drop the oldest quarter; Map keeps insertion order.
        let drop = CACHE_MAX >> 2;
        for (const k of cache.keys()) {
          cache.delete(k);
          if (--drop === 0) break;
        }
      }
      cache.set(subject, result);
    }
    return result;
  }

  hasInterest(subject: string): boolean {
    const r = this.match(subject);
    return r.psubs.length > 0 || r.qsubs.length > 0;
  }

  /** Largest and mean number of subscriptions in the cached match results (for /subsz). */
  cacheFanout(): { max: number; total: number; entries: number } {
    let max = 0;
    let total = 0;
    const cache = this.cache;
    if (cache === undefined) return { max, total, entries: 0 };
    for (const r of cache.values()) {
      const n = r.psubs.length + r.qsubs.length;
      total += n;
      if (n > max) max = n;
    }
    return { max, total, entries: cache.size };
  }

  /** Every subscription, for monitoring. */
  all(): Subscription[] {
    const out: Subscription[] = [];
    collect(this.root, out);
    return out;
  }

  private invalidate(pattern: string): void {
    const cache = this.cache;
    if (cache === undefined || cache.size === 0) return;
    // A literal subject can only change its own cached result: no scan of the whole cache per
    // subscribe or unsubscribe (connection churn, a subscription per request).
    if (!hasWildcard(pattern)) {
      cache.delete(pattern);
      return;
    }
    for (const key of cache.keys()) {
      if (subjectMatches(pattern, key)) cache.delete(key);
    }
  }
}

// What a match collects, kept between matches (matching is synchronous and never nests): the
// result then allocates only its own object and an array of exactly the subscriptions found,
// not a collector, a growing array and an empty queue list per match (a request's reply
// subject is matched afresh every time).
const found: Subscription[] = [];
let foundCount = 0;
/** The queue groups found; created only when one matches. */
let foundQueues: Map<string, Subscription[]> | undefined;
/** Nodes whose plain subscriptions were found, and the last of them. */
let foundNodes = 0;
let foundNode: Node | undefined;
/** `qsubs` of the results without queue groups. */
const NO_QUEUE_GROUPS = Object.freeze([]) as unknown as Subscription[][];

/** The result of the match just made; the collector is emptied for the next one. */
function takeFound(): SublistResult {
  const n = foundCount;
  const queues = foundQueues;
  if (n === 0 && queues === undefined) return EMPTY_RESULT;
  let result: SublistResult;
  const node = foundNode;
  if (queues === undefined && foundNodes === 1 && node !== undefined) result = node.alone ??= { psubs: found.slice(0, n), qsubs: NO_QUEUE_GROUPS };
  else result = { psubs: found.slice(0, n), qsubs: queues === undefined ? NO_QUEUE_GROUPS : [...queues.values()] };
  // Emptied slot by slot (no `length = 0`, which would free the backing store), so the
  // collector pins no subscription.
  for (let i = 0; i < n; i++) found[i] = undefined as unknown as Subscription;
  foundCount = 0;
  foundQueues = undefined;
  foundNodes = 0;
  foundNode = undefined;
  return result;
}

function pushFound(s: Subscription): void {
  found[foundCount++] = s;
}

function addNode(n: Node): void {
  if (n.psubs.size > 0) {
    // forEach with a plain function: a for-of over a Set allocates an iterator per match.
    n.psubs.forEach(pushFound);
    foundNodes++;
    foundNode = n;
  }
  if (n.qsubs.size > 0) {
    const queues = (foundQueues ??= new Map());
    for (const [q, group] of n.qsubs) {
      let arr = queues.get(q);
      if (arr === undefined) {
        arr = [];
        queues.set(q, arr);
      }
      for (const s of group) {
        const w = s.weight;
        if (w === undefined) arr.push(s);
        else for (let k = 0; k < w; k++) arr.push(s);
      }
    }
  }
}

/**
 * Match the tokens of `subject` from offset `start` against `level`. Tokens are cut out only
 * where a level has literal children to look them up in: a subject whose tail only a `>`
 * covers (an ack subject of nine tokens under `$JS.ACK.<stream>.<consumer>.>`, an inbox
 * reply) is matched without splitting it.
 */
function matchLevel(level: Level, subject: string, start: number): void {
  const dot = subject.indexOf(".", start);
  const last = dot < 0;
  if (level.fwc !== undefined) addNode(level.fwc);
  if (level.pwc !== undefined) {
    if (last) addNode(level.pwc);
    else if (level.pwc.next !== undefined) matchLevel(level.pwc.next, subject, dot + 1);
  }
  if (level.literal.size === 0) return;
  let n: Node | undefined;
  const few = level.few;
  if (few !== undefined) {
    const len = (last ? subject.length : dot) - start;
    for (let i = 0; i < few.length; i++) {
      const t = few[i].token;
      if (t.length === len && subject.startsWith(t, start)) {
        n = few[i].node;
        break;
      }
    }
  } else n = level.literal.get(last ? (start === 0 ? subject : subject.substring(start)) : subject.substring(start, dot));
  if (n !== undefined) {
    if (last) addNode(n);
    else if (n.next !== undefined) matchLevel(n.next, subject, dot + 1);
  }
}

function collect(level: Level, out: Subscription[]): void {
  const visit = (n: Node): void => {
    for (const s of n.psubs) out.push(s);
    for (const g of n.qsubs.values()) for (const s of g) out.push(s);
    if (n.next !== undefined) collect(n.next, out);
  };
  for (const n of level.literal.values()) visit(n);
  if (level.pwc !== undefined) visit(level.pwc);
  if (level.fwc !== undefined) visit(level.fwc);
}
