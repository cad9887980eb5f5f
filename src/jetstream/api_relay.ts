// Hand-over of API requests held through a meta leader change or a restart. Every server hears a
// `$JS.API` request and only the one in charge answers it; a request that arrives while the
// leadership changes can be skipped by the new leader (it still followed the old one), and one
// that arrives at a server with no route yet (restarted alone) never reaches the server that
// answers it. The server that held it, once it knows a meta leader, decides it again and, when
// another server answers it, relays it over the system account to every server it has a route
// to (`$JSC.HELD.<server>`): each decides it as if it had just arrived, and the one that answers
// it (the meta leader, or the server holding the stream) answers each request once by account
// and reply subject, whoever relays it and however often, and acknowledges it
// (`$JSC.HELDACK.<relayer>`). Until one does (a route to it not up yet, or its interest not yet
// known over a new route) the relay is sent again, as long as the requester may still wait.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";

/** How long an answered request is remembered (a held request waits at most this long). */
const REMEMBER_MS = 10_000;
/** A relay nobody acknowledged is sent again this often. */
const RESEND_MS = 250;
const RELAY_PREFIX = "$JSC.HELD";
const ACK_PREFIX = "$JSC.HELDACK";

export interface RelayedRequest {
  account: string;
  rest: string;
  reply: string;
  body: Buffer;
  hdr: Buffer | undefined;
  /** The server that relays it (acknowledged there); absent from servers before acknowledgements. */
  from?: string;
  /** How long its requester may still wait, as of this copy (absent from servers before it). */
  leftMs?: number;
}

interface Pending {
  req: RelayedRequest;
  until: number;
  timer: NodeJS.Timeout | undefined;
}

export class ApiRelay {
  /** Two generations of answered requests: the older is dropped every REMEMBER_MS. */
  private answered = new Set<string>();
  private answeredBefore = new Set<string>();
  /** Relayed requests decided here (each once: a resend is for the servers a copy did not reach). */
  private decided = new Set<string>();
  private decidedBefore = new Set<string>();
  private rotatedAt = Date.now();
  private sub: Subscription | undefined;
  private ackSub: Subscription | undefined;
  /** Relays sent from here that no server acknowledged yet, by account and reply. */
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly self: string) {}

  start(sys: Account, onRelayed: (req: RelayedRequest) => void): void {
    this.sub = sys.subscribeInternal(
      `${RELAY_PREFIX}.${this.self}`,
      (_s, _r, _h, payload) => {
        const req = decode(payload);
        if (req !== undefined) onRelayed(req);
      },
      undefined,
      "jetstream-cluster-relay",
    );
    this.ackSub = sys.subscribeInternal(
      `${ACK_PREFIX}.${this.self}`,
      (_s, _r, _h, payload) => {
        try {
          const j = JSON.parse(Buffer.from(payload).toString()) as { account?: unknown; reply?: unknown };
          if (typeof j.account === "string" && typeof j.reply === "string") this.settle(`${j.account} ${j.reply}`);
        } catch {
          // not an acknowledgement
        }
      },
      undefined,
      "jetstream-cluster-relay-ack",
    );
  }

  stop(sys: Account | undefined): void {
    if (this.sub !== undefined) sys?.unsubscribeInternal(this.sub);
    if (this.ackSub !== undefined) sys?.unsubscribeInternal(this.ackSub);
    this.sub = undefined;
    this.ackSub = undefined;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  /** This server answers (or will answer) `reply`. */
  noteAnswered(account: string, reply: string): void {
    if (reply === "") return;
    this.rotate();
    this.answered.add(`${account} ${reply}`);
    // A request relayed from here and then answered here (this server came to lead its stream's group).
    this.settle(`${account} ${reply}`);
  }

  wasAnswered(account: string, reply: string): boolean {
    this.rotate();
    const key = `${account} ${reply}`;
    return this.answered.has(key) || this.answeredBefore.has(key);
  }

  /** Is this the first copy of a relayed request to be decided here (it is noted so)? */
  firstDecision(account: string, reply: string): boolean {
    this.rotate();
    const key = `${account} ${reply}`;
    if (this.decided.has(key) || this.decidedBefore.has(key)) return false;
    this.decided.add(key);
    return true;
  }

  /** Tell the server that relayed `req` that it is answered here (it stops sending it). */
  acknowledge(sys: Account, req: RelayedRequest): void {
    if (req.from === undefined || req.from === "" || req.from === this.self) return;
    sys.publish(`${ACK_PREFIX}.${req.from}`, "", undefined, Buffer.from(JSON.stringify({ account: req.account, reply: req.reply })));
  }

  /**
   * Relay `req` to `targets()` (the servers this one has routes to, asked again at each send) until
   * one acknowledges it or `until` (after which the requester gave up).
   */
  relay(sys: Account, targets: () => Iterable<string>, req: RelayedRequest, until: number): void {
    const key = `${req.account} ${req.reply}`;
    if (this.pending.has(key)) return;
    const p: Pending = { req: { ...req, from: this.self }, until, timer: undefined };
    this.pending.set(key, p);
    const send = (): void => {
      p.timer = undefined;
      if (this.pending.get(key) !== p) return;
      if (Date.now() >= p.until) {
        this.pending.delete(key);
        return;
      }
      const out = encode({ ...p.req, leftMs: p.until - Date.now() });
      for (const to of targets()) if (to !== this.self) sys.publish(`${RELAY_PREFIX}.${to}`, "", undefined, out);
      p.timer = setTimeout(send, RESEND_MS);
      p.timer.unref();
    };
    send();
  }

  private settle(key: string): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
  }

  private rotate(): void {
    const now = Date.now();
    if (now - this.rotatedAt < REMEMBER_MS) return;
    this.answeredBefore = this.answered;
    this.answered = new Set();
    this.decidedBefore = this.decided;
    this.decided = new Set();
    this.rotatedAt = now;
  }
}

function encode(req: RelayedRequest): Buffer {
  const out = {
    account: req.account,
    rest: req.rest,
    reply: req.reply,
    body: req.body.toString("base64"),
    ...(req.hdr !== undefined ? { hdr: req.hdr.toString("base64") } : {}),
    ...(req.from !== undefined ? { from: req.from } : {}),
    ...(req.leftMs !== undefined ? { leftMs: req.leftMs } : {}),
  };
  return Buffer.from(JSON.stringify(out));
}

function decode(payload: Uint8Array): RelayedRequest | undefined {
  try {
    const j = JSON.parse(Buffer.from(payload).toString()) as Record<string, unknown>;
    if (typeof j.account !== "string" || typeof j.rest !== "string" || typeof j.reply !== "string" || typeof j.body !== "string") return undefined;
    return {
      account: j.account,
      rest: j.rest,
      reply: j.reply,
      body: Buffer.from(j.body, "base64"),
      hdr: typeof j.hdr === "string" ? Buffer.from(j.hdr, "base64") : undefined,
      from: typeof j.from === "string" ? j.from : undefined,
      leftMs: typeof j.leftMs === "number" && j.leftMs > 0 ? j.leftMs : undefined,
    };
  } catch {
    return undefined;
  }
}
