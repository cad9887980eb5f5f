// Hand-over of API requests held through a meta leader change. Every server hears a
// `$JS.API` request and only the one in charge answers it; a request that arrives while the
// leadership changes can be skipped by the new leader (it still followed the old one) and held
// by a server that knew of no leader. Once that server learns the new leader it relays the
// request to it over the system account, and the leader answers each request (by account and
// reply subject) once, whoever relays it and however often.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";

/** How long an answered request is remembered (a held request waits at most this long). */
const REMEMBER_MS = 10_000;
const RELAY_PREFIX = "$JSC.HELD";

export interface RelayedRequest {
  account: string;
  rest: string;
  reply: string;
  body: Buffer;
  hdr: Buffer | undefined;
}

export class ApiRelay {
  /** Two generations of answered requests: the older is dropped every REMEMBER_MS. */
  private answered = new Set<string>();
  private answeredBefore = new Set<string>();
  private rotatedAt = Date.now();
  private sub: Subscription | undefined;

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
  }

  stop(sys: Account | undefined): void {
    if (this.sub !== undefined) sys?.unsubscribeInternal(this.sub);
    this.sub = undefined;
  }

  /** This server answers (or will answer) `reply`. */
  noteAnswered(account: string, reply: string): void {
    if (reply === "") return;
    this.rotate();
    this.answered.add(`${account} ${reply}`);
  }

  wasAnswered(account: string, reply: string): boolean {
    this.rotate();
    const key = `${account} ${reply}`;
    return this.answered.has(key) || this.answeredBefore.has(key);
  }

  relay(sys: Account, leader: string, req: RelayedRequest): void {
    const out = {
      account: req.account,
      rest: req.rest,
      reply: req.reply,
      body: req.body.toString("base64"),
      ...(req.hdr !== undefined ? { hdr: req.hdr.toString("base64") } : {}),
    };
    sys.publish(`${RELAY_PREFIX}.${leader}`, "", undefined, Buffer.from(JSON.stringify(out)));
  }

  private rotate(): void {
    const now = Date.now();
    if (now - this.rotatedAt < REMEMBER_MS) return;
    this.answeredBefore = this.answered;
    this.answered = new Set();
    this.rotatedAt = now;
  }
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
    };
  } catch {
    return undefined;
  }
}
