// Replicated consumers of one stream being scaled down to one replica, as nats-server 2.15 does
// it: the update to R1 is committed in the stream's group, but the consumer keeps its group (and
// stays replicated) while its leader removes the other members one at a time; once that leader
// is the only member it proposes a `kept` entry through the stream's group, and every member
// applies it at the same point of the stream's log: the member named keeps the consumer as a
// single replica, the others drop their copies and record where it lives.
//
// A `kept` entry counts only for the round it was proposed in: the index of the stream group's
// entry that started the scale-down (or the last request about the consumer committed since, a
// repeated R1 update). Any request about the consumer committed after it (a scale back up, a
// delete, another update) ends that round, so a late `kept` from an earlier round can never turn
// a consumer that grows again into a single replica on a member that is no longer its only one.
// Whether a `kept` counted is decided from the stream's log alone (its requests and the rounds
// its snapshot carries), so a member replaying its log after a restart decides as it did.
import fs from "node:fs";

/** How often a leader left alone in its group asks again for its `kept` entry (until it is applied). */
export const KEPT_RESEND_MS = 1000;

export class ConsumerScaleDowns {
  /** Consumers scaling down to one replica: the index of the entry their round started at. */
  private readonly rounds = new Map<string, number>();
  /** The index of the last request entry about each consumer applied (replayed too: a record). */
  private readonly lastRequest = new Map<string, number>();
  /** When this server last sent a consumer's `kept` entry (not again before KEPT_RESEND_MS). */
  private readonly sentAt = new Map<string, number>();

  /** `file`: where the rounds are kept across restarts (undefined: a memory stream, nothing kept). */
  constructor(private readonly file: string | undefined) {
    if (file === undefined) return;
    let saved: unknown;
    try {
      saved = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      return; // none (or half written: the rounds come again from the stream's snapshot)
    }
    if (saved === null || typeof saved !== "object") return;
    for (const [name, index] of Object.entries(saved as Record<string, unknown>)) {
      // (The last requests come from the stream's snapshot and log, replayed at start.)
      if (typeof index === "number" && Number.isSafeInteger(index)) this.rounds.set(name, index);
    }
  }

  /** Is the consumer scaling down to one replica (still replicated, its group shrinking)? */
  has(name: string): boolean {
    return this.rounds.size > 0 && this.rounds.has(name);
  }

  /** The round a consumer's scale-down is in (undefined: not scaling down). */
  round(name: string): number | undefined {
    return this.rounds.get(name);
  }

  /** A request about the consumer was committed at `index` (applied now or replayed). */
  requestApplied(name: string, index: number): void {
    this.lastRequest.set(name, index);
  }

  /** The request at `index` scaled the consumer down to one replica, or asked for it again while it was: a round starts. */
  start(name: string, index: number): void {
    this.rounds.set(name, index);
    this.sentAt.delete(name);
    this.save();
  }

  /** Its scale-down is over (kept by one member, scaled up again, deleted). */
  end(name: string): void {
    this.sentAt.delete(name);
    if (this.rounds.delete(name)) this.save();
  }

  /** Does a `kept` entry of round `since` count (no request about the consumer committed since)? */
  counts(name: string, since: number): boolean {
    return this.lastRequest.get(name) === since;
  }

  /** May this server send the consumer's `kept` entry now (not sent lately)? Notes it as sent. */
  sendNow(name: string, now: number): boolean {
    const at = this.sentAt.get(name);
    if (at !== undefined && now - at < KEPT_RESEND_MS) return false;
    this.sentAt.set(name, now);
    return true;
  }

  /** The rounds, for the stream group's snapshot. */
  json(): Record<string, number> {
    return Object.fromEntries(this.rounds);
  }

  /**
   * From a stream group's snapshot: the rounds under way at its index, the last requests as far
   * as they matter (the entries before it are not replayed). `replace`: the snapshot came from
   * the leader (this member missed the entries): they are this member's rounds from now on.
   */
  restore(rounds: unknown, replace: boolean): void {
    const valid = new Map<string, number>();
    if (rounds !== null && typeof rounds === "object") {
      for (const [name, index] of Object.entries(rounds as Record<string, unknown>)) if (typeof index === "number" && Number.isSafeInteger(index)) valid.set(name, index);
    }
    for (const [name, index] of valid) this.lastRequest.set(name, index);
    if (!replace) return;
    this.rounds.clear();
    for (const [name, index] of valid) this.rounds.set(name, index);
    this.save();
  }

  private save(): void {
    if (this.file === undefined) return;
    try {
      const tmp = `${this.file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.rounds)));
      fs.renameSync(tmp, this.file);
    } catch {
      // the group's directory is being removed
    }
  }
}
