// A pull consumer's priority groups (ADR-42, nats-server's pinned_client and overflow policies):
// which waiting request may take the next message. pinned_client pins the group to one client (a
// Nats-Pin-Id it sends back with each pull) until it stops pulling for priority_timeout or the pin
// is removed (CONSUMER.UNPIN); overflow serves a request only while the consumer's pending or
// ack-pending counts reach its min_pending / min_ack_pending. The pin lives on the consumer's
// leader only, as in nats-server. Held by the single server's consumer (consumer.ts) and by a
// tsnats member leading a nats-server consumer group (src/cluster/nrg_consumer_leader.ts).
import { nuid } from "@nats-io/nuid";
import { rfc3339 } from "../server/time.js";
import { DOUBLE_ZERO } from "../server/double_zero.js";
import { takeMaxBytes, type PullRequest, type WaitQueue } from "./pull_request.js";

/** Node's longest timer (ms). */
const MAX_TIMER_MS = 2_147_483_647;

export interface PriorityHost {
  /** priority_policy ("none", "pinned_client", "overflow", "prioritized"). */
  policy(): string;
  /** priority_groups. */
  groups(): string[];
  /** priority_timeout in ms. */
  timeoutMs(): number;
  /** A pin was given (its advisory). */
  pinned(group: string, id: string): void;
  /** A pin ended: "admin" (CONSUMER.UNPIN) or "timeout" (its advisory). */
  unpinned(group: string, reason: "admin" | "timeout"): void;
  /** Look at the waiting requests again. */
  kick(): void;
}

/** What to do with the request at the head of the wait queue. */
export type Admission = "take" | "pinned" | "cycle" | "wrong-pin";

export class PriorityGroups {
  /** The pinned client's id ("" none) and since when (ms; a double field from the start, server/double_zero.ts). */
  pinId = "";
  private pinnedAtMs = DOUBLE_ZERO;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly host: PriorityHost) {}

  /**
   * A pull request's group as nats-server checks it on arrival: the status to answer it with,
   * or undefined (a request of the pinned client restarts the pin's expiry).
   */
  arrival(g: PullRequest["group"]): string | undefined {
    if (g === undefined || this.host.policy() === "none") return undefined;
    if (g.group === "") return "400 Bad Request - Priority Group missing";
    if (!this.host.groups().includes(g.group)) return "400 Bad Request - Invalid Priority Group";
    if (this.pinId !== "") {
      if (g.id === this.pinId) this.armTimer(g.group);
      else if (g.id !== "") return "423 Nats-Pin-Id mismatch";
    }
    return undefined;
  }

  /**
   * The request at the head of the queue and the next message (nats-server's nextWaiting):
   * "take" it, "pinned" (taken, and the group pinned to it now: `unassign` if it cannot take
   * the message after all), "cycle" past it (another client holds the pin, or overflow's
   * thresholds are not reached), or refuse it with 423 ("wrong-pin": an old pin id). `npc`: the
   * messages pending once this one is delivered; `ackPending`: those awaiting an ack.
   */
  private admit(wr: PullRequest, npc: number, ackPending: number, now: number): Admission {
    const policy = this.host.policy();
    let assigned = false;
    if (this.pinId === "" && policy === "pinned_client") {
      if (wr.group !== undefined && wr.group.id !== "") return "wrong-pin";
      assigned = this.assign(wr, now);
    } else if (this.pinId !== "") {
      if (wr.group === undefined || wr.group.id === "") return "cycle";
      if (wr.group.id !== this.pinId) return "wrong-pin";
    }
    const g = wr.group;
    if (policy === "overflow" && g !== undefined && (g.minPending > 0 || g.minAckPending > 0)) {
      const met = (g.minPending > 0 && g.minPending <= npc + 1) || (g.minAckPending > 0 && g.minAckPending <= ackPending);
      if (!met) return "cycle";
    }
    return assigned ? "pinned" : "take";
  }

  /**
   * The request the next message goes to (nats-server's nextWaiting): expired ones get 408,
   * pins and overflow's thresholds are applied, max_bytes is charged (409 when the message does
   * not fit), requests nobody listens to any more are dropped.
   */
  nextWaiting(wq: WaitQueue, o: { size: number; npc: number; ackPending: number; now: number; prioritized: boolean; status(wr: PullRequest, status: string): void; listening(reply: string): boolean }): PullRequest | undefined {
    let cycled = 0;
    for (let wr = wq.peek(); wr !== undefined; wr = wq.peek()) {
      if (wr.expiresAt > 0 && o.now >= wr.expiresAt) {
        o.status(wr, "408 Request Timeout");
        wq.removeHead();
        continue;
      }
      const admission = this.admit(wr, o.npc, o.ackPending, o.now);
      if (admission === "wrong-pin") {
        // It holds an old pin id.
        o.status(wr, "423 Nats-Wrong-Pin-Id");
        wq.removeHead();
        continue;
      }
      if (admission === "cycle") {
        wq.cycle();
        if (++cycled >= wq.length) return undefined;
        continue;
      }
      if (!takeMaxBytes(wr, o.size)) {
        o.status(wr, "409 Message Size Exceeds MaxBytes");
        if (admission === "pinned") this.unassign();
        wq.removeHead();
        continue;
      }
      if (o.listening(wr.reply)) return wq.pop(o.prioritized);
      // Nobody listens for the answer any more.
      wq.removeHead();
    }
    return undefined;
  }

  /** Pin the group to this request's client: a new id, the expiry, the advisory. */
  private assign(wr: PullRequest, now: number): boolean {
    if (wr.group === undefined || wr.group.group === "") return false;
    this.pinId = nuid.next();
    this.pinnedAtMs = now;
    wr.group.id = this.pinId;
    this.armTimer(wr.group.group);
    this.host.pinned(wr.group.group, this.pinId);
    return true;
  }

  unassign(): void {
    this.pinId = "";
    this.pinnedAtMs = DOUBLE_ZERO;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** (Re)start the pin's expiry: without a pull from the pinned client within priority_timeout, it ends. */
  private armTimer(group: string, due = Date.now() + this.host.timeoutMs()): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.stopped || this.pinId === "") return;
        if (Date.now() < due) return this.armTimer(group, due);
        this.unassign();
        this.host.unpinned(group, "timeout");
        this.host.kick();
      },
      Math.min(Math.max(0, due - Date.now()), MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  /** CONSUMER.UNPIN: the group's pin ends now; the next request gets a new one. */
  unpin(group: string): void {
    this.unassign();
    this.host.unpinned(group, "admin");
    this.host.kick();
  }

  stop(): void {
    this.stopped = true;
    this.unassign();
  }

  /** CONSUMER.INFO's priority_groups: nats-server reports the first group (the only one a pin applies to so far). */
  infoJson(): Record<string, unknown> {
    const groups = this.host.groups();
    if (groups.length === 0) return {};
    return { priority_groups: [{ group: groups[0], ...(this.pinId !== "" ? { pinned_client_id: this.pinId } : {}), pinned_ts: rfc3339(this.pinnedAtMs * 1e6) }] };
  }
}
