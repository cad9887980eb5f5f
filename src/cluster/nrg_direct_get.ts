// Direct gets answered by a tsnats replica of a nats-server stream (issue 12's moonshot,
// experimental: `nrg_peer_streams`). In a nats-server cluster every member of a stream with
// `allow_direct` answers `$JS.API.DIRECT.GET.<stream>` and `$JS.API.DIRECT.GET.<stream>.>`
// from its own copy, in the `_sys_` queue group, once its copy is current (monitorStream's
// direct-get monitoring: subscribeToDirect); a mirror with `mirror_direct` (inherited from its
// origin's allow_direct) answers its origin's subjects the same way (subscribeToMirrorDirect),
// so reads of the origin are spread over its mirrors too. This server's copy joins those queue
// groups once current (the group's leader heard lately, everything committed applied, no
// catch-up running) and leaves them when the stream no longer asks for it or the group stops.
// The answers are the single server's (direct_get.ts) over the replica's store.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { handleDirectGet, type DirectGetStream } from "../jetstream/direct_get.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";
import type { NrgPeer } from "./nrg_peer.js";

/** nats-server's dgetGroup (sysGroup): the queue group of every direct-get responder. */
const DIRECT_GET_GROUP = "_sys_";
const PREFIX = "$JS.API.DIRECT.GET.";
/** A leader not heard from for longer leaves this copy not current (nats-server's lostQuorumInterval). */
const LEADER_SILENT_MS = 10_000;
/** How often a copy that is not current yet is looked at again. */
const CHECK_MS = 1000;

/** What the server lends the replicas' direct gets. */
export interface NrgDirectGetOptions {
  account(name: string): Account;
  /** The server's max_pending: a batch's default byte budget. */
  maxPending: number;
}

/** The direct-get subscriptions of one stream replica held by this server. */
export class NrgDirectGets {
  /** The stream's name for allow_direct, the origin's for mirror_direct, each with its two subscriptions. */
  private readonly subs = new Map<string, Subscription[]>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly counters = { answered: 0 };

  constructor(
    private readonly replica: NrgStreamReplica,
    private readonly peer: NrgPeer,
    private readonly account: Account,
    private readonly options: NrgDirectGetOptions,
  ) {}

  /** The names this copy answers for under its stream's config now. */
  private wanted(): string[] {
    const c = this.replica.stream.config;
    const names: string[] = [];
    if (c.allow_direct === true) names.push(String(c.name));
    const mirror = c.mirror as { name?: unknown } | null | undefined;
    if (c.mirror_direct === true && mirror !== null && mirror !== undefined && typeof mirror.name === "string" && mirror.name !== "") names.push(mirror.name);
    return names;
  }

  /** nats-server's condition for a member to start answering: its copy is current. */
  private current(): boolean {
    const p = this.peer;
    const r = this.replica;
    if (r.halted !== undefined || r.catchingUp || p.catchup !== undefined || p.writeError !== undefined || p.applied < p.commit) return false;
    return p.role === "leader" || (p.leader !== "" && Date.now() - p.leaderSeenAt < LEADER_SILENT_MS);
  }

  /** Follow the stream's config (at start and on each committed update). */
  update(): void {
    if (this.closed) return;
    const wanted = this.wanted();
    for (const [name, subs] of this.subs) {
      if (wanted.includes(name)) continue;
      for (const s of subs) this.account.unsubscribeInternal(s);
      this.subs.delete(name);
    }
    if (wanted.every((n) => this.subs.has(n))) {
      this.stopTimer();
      return;
    }
    if (!this.current()) {
      this.timer ??= setInterval(() => this.update(), CHECK_MS).unref();
      return;
    }
    this.stopTimer();
    for (const name of wanted) if (!this.subs.has(name)) this.subscribe(name);
  }

  private subscribe(name: string): void {
    const replica = this.replica;
    const options = this.options;
    const account = this.account;
    const stream: DirectGetStream = {
      get name() {
        return String(replica.stream.config.name);
      },
      get store() {
        return replica.store;
      },
      jsa: { account },
    };
    const answer = (lastBySubject: string | undefined) => (subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void => {
      if (reply === "") return;
      // Kept (the read buffer is reused) and answered after the publisher's turn, as the API does.
      const body = Buffer.from(payload);
      const h = hdr !== undefined && hdr.length > 0 ? Buffer.from(hdr) : undefined;
      const last = lastBySubject === undefined ? undefined : subject.substring(lastBySubject.length);
      queueMicrotask(() => {
        if (this.closed) return;
        this.counters.answered++;
        handleDirectGet(stream, options.maxPending, last, reply, body, h);
      });
    };
    const base = `${PREFIX}${name}`;
    this.subs.set(name, [
      account.subscribeInternal(base, answer(undefined), DIRECT_GET_GROUP, "nrg-direct-get"),
      account.subscribeInternal(`${base}.>`, answer(`${base}.`), DIRECT_GET_GROUP, "nrg-direct-get"),
    ]);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    for (const subs of this.subs.values()) for (const s of subs) this.account.unsubscribeInternal(s);
    this.subs.clear();
  }

  json(): Record<string, unknown> {
    return { names: [...this.subs.keys()], answered: this.counters.answered };
  }
}
