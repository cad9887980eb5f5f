// Message schedules (ADR-51, nats-server 2.12/2.14). A message with `Nats-Schedule` on a
// stream with allow_msg_schedules is a schedule: its subject holds it (the stream adds
// `Nats-Rollup: sub`, so one schedule per subject), and when it is due the stream
// publishes its payload and headers (or those of the last message on
// `Nats-Schedule-Source`) to `Nats-Schedule-Target`, with `Nats-Scheduler: <schedule
// subject>` and `Nats-Schedule-Next: <next time>` or `purge`. A one-shot schedule
// (`@at <RFC3339>`) is purged by its own produced message; repeating ones (`@every <dur>`,
// cron patterns and @hourly..@yearly, optionally in `Nats-Schedule-Time-Zone`) move on.
//
// A replicated stream's schedules fire on its group's leader only: every member keeps the
// schedules (from the applied messages), the leader proposes the produced messages, and a
// member that becomes leader fires what came due and was not produced yet (`resume`).
//
// Nothing is kept besides the stored messages: after a restart the schedules are rebuilt
// from them (the schedule message's time, then the next times its produced messages
// recorded), so a schedule that was due while the server was down fires once on start.
import { getHeader, removeHeaders, appendHeaders } from "../protocol/headers.js";
import { isValidLiteralSubject, subjectsCollide } from "../protocol/subject.js";
import { parseDuration } from "../config/conf_parser.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { DeadlineQueue, type Deadlined } from "../server/deadline_queue.js";
import type { StoredMsg } from "../storage/store.js";
import { ApiError, jsError } from "./errors.js";
import { isKnownTimeZone, nextCronTime, parseCron } from "./cron.js";
import {
  HDR_MSG_ID,
  HDR_ROLLUP,
  HDR_SCHEDULE,
  HDR_SCHEDULE_NEXT,
  HDR_SCHEDULE_ROLLUP,
  HDR_SCHEDULE_SOURCE,
  HDR_SCHEDULE_TARGET,
  HDR_SCHEDULE_TIME_ZONE,
  HDR_SCHEDULE_TTL,
  HDR_SCHEDULER,
  HDR_TTL,
  SCHEDULE_NEXT_PURGE,
  parseMessageTTL,
} from "./msg_headers.js";
import type { Stream } from "./stream.js";

/** The shortest wait between two runs (nats-server: ingest must not suffer from schedules). */
const MIN_RUN_INTERVAL_MS = 250;

const PREDEFINED: Record<string, string> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
};

export interface NextFire {
  /** ms since the epoch. */
  at: number;
  repeat: boolean;
}

/**
 * When a pattern fires next after `fromMs` (the schedule's time, for repeating ones), or
 * undefined when the pattern is not valid. A repeating schedule that would have fired in
 * the past (after a restart) fires once, now, and carries on from there.
 */
export function nextFire(pattern: string, zone: string | undefined, fromMs: number): NextFire | undefined {
  if (pattern.startsWith("@at ")) {
    if (zone !== undefined) return undefined;
    const t = parseRfc3339(pattern.slice(4));
    return t === undefined ? undefined : { at: Number(t / 1_000_000n), repeat: false };
  }
  if (pattern.startsWith("@every ")) {
    if (zone !== undefined) return undefined;
    let ms: number;
    try {
      ms = parseDuration(pattern.slice(7));
    } catch {
      return undefined;
    }
    if (ms < 1000) return undefined;
    const now = Date.now();
    let at = Math.round(fromMs / 1000) * 1000 + ms;
    if (at < now) at = Math.round(now / 1000) * 1000 + ms;
    return { at, repeat: true };
  }
  const cron = parseCron(PREDEFINED[pattern] ?? pattern);
  if (cron === undefined) return undefined;
  let at = nextCronTime(cron, fromMs, zone);
  if (at === undefined) return undefined;
  const now = Date.now();
  if (at < now) at = nextCronTime(cron, Math.round(now / 1000) * 1000, zone);
  return at === undefined ? undefined : { at, repeat: true };
}

/** The time zone header: undefined when absent, "invalid" when empty or unknown. */
function zoneOf(hdr: Buffer | undefined): string | undefined | "invalid" {
  const tz = getHeader(hdr, HDR_SCHEDULE_TIME_ZONE);
  if (tz === undefined) return undefined;
  return isKnownTimeZone(tz) ? tz : "invalid";
}

/** A schedule's next fire time, from its headers; an ApiError for a bad pattern or zone. */
function scheduleOf(hdr: Buffer | undefined, fromMs: number): NextFire | ApiError | undefined {
  const zone = zoneOf(hdr);
  if (zone === "invalid") return jsError("JSMessageSchedulesTimeZoneInvalidErr");
  const pattern = getHeader(hdr, HDR_SCHEDULE);
  if (pattern === undefined || pattern === "") return undefined;
  return nextFire(pattern, zone, fromMs) ?? jsError("JSMessageSchedulesPatternInvalidErr");
}

function scheduleTtlOk(hdr: Buffer | undefined): boolean {
  const ttl = getHeader(hdr, HDR_SCHEDULE_TTL);
  return ttl === undefined || ttl === "" || parseMessageTTL(ttl) !== "invalid";
}

/** One active schedule (its subject's schedule message), queued by its next fire time. */
class Schedule implements Deadlined {
  deadlineIdx = -1;
  deadlineAt = 0;
  /** Produced and not yet stored (the stream is busy with it). */
  inflight = false;
  constructor(
    readonly subject: string,
    public seq: number,
  ) {}
}

export class MessageSchedules {
  private readonly bySubject = new Map<string, Schedule>();
  private readonly bySeq = new Map<number, Schedule>();
  private readonly due: DeadlineQueue<Schedule>;
  private running = false;
  /** Due and waiting for the next run. */
  private readonly firing = new Set<Schedule>();
  private lastRun = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: Stream) {
    this.due = new DeadlineQueue<Schedule>((s) => {
      this.firing.add(s);
      this.kick();
    });
  }

  get size(): number {
    return this.bySubject.size;
  }

  /**
   * Publish checks (nats-server's order) for a client message that carries schedule
   * headers; returns the headers to store (a schedule gains `Nats-Rollup: sub`).
   * Throws the ApiError to answer.
   */
  checkPublish(subject: string, hdr: Buffer | undefined): Buffer | undefined {
    const cfg = this.stream.cfg;
    const allowed = cfg.allow_msg_schedules === true;
    const pattern = getHeader(hdr, HDR_SCHEDULE);
    const zoneHdr = getHeader(hdr, HDR_SCHEDULE_TIME_ZONE);
    if ((pattern !== undefined && pattern !== "") || zoneHdr !== undefined) {
      const s = scheduleOf(hdr, Date.now());
      if (s instanceof ApiError) throw allowed ? s : jsError("JSMessageSchedulesDisabledErr");
      if (s !== undefined) {
        if (!allowed) throw jsError("JSMessageSchedulesDisabledErr");
        if (!scheduleTtlOk(hdr)) throw jsError("JSMessageSchedulesTTLInvalidErr");
        const rollup = getHeader(hdr, HDR_SCHEDULE_ROLLUP);
        if (rollup !== undefined && rollup !== "" && rollup !== "sub") throw jsError("JSMessageSchedulesRollupInvalidErr");
        const ttl = getHeader(hdr, HDR_SCHEDULE_TTL);
        if (ttl !== undefined && ttl !== "" && !cfg.allow_msg_ttl) throw jsError("JSMessageTTLDisabledErr");
        const target = getHeader(hdr, HDR_SCHEDULE_TARGET) ?? "";
        if (target === "" || !isValidLiteralSubject(target) || target === subject) throw jsError("JSMessageSchedulesTargetInvalidErr");
        const source = getHeader(hdr, HDR_SCHEDULE_SOURCE) ?? "";
        if (source !== "" && (source === target || source === subject || !isValidLiteralSubject(source))) {
          throw jsError("JSMessageSchedulesSourceInvalidErr");
        }
        const subjects = cfg.subjects ?? [];
        if (!subjects.some((s) => subjectsCollide(s, target))) throw jsError("JSMessageSchedulesTargetInvalidErr");
        if (source !== "" && !subjects.some((s) => subjectsCollide(s, source))) throw jsError("JSMessageSchedulesSourceInvalidErr");
        const r = getHeader(hdr, HDR_ROLLUP);
        if (r === undefined || r === "") hdr = appendHeaders(hdr, [[HDR_ROLLUP, "sub"]]);
        else if (r !== "sub") throw jsError("JSMessageSchedulesRollupInvalidErr");
      }
    }
    const next = getHeader(hdr, HDR_SCHEDULE_NEXT);
    if (next !== undefined && next !== "") {
      // Clients may only use Nats-Schedule-Next to purge a schedule.
      if (next !== SCHEDULE_NEXT_PURGE) throw jsError("JSMessageSchedulesSchedulerInvalidErr");
      const scheduler = getHeader(hdr, HDR_SCHEDULER) ?? "";
      if (scheduler === "" || scheduler === subject || !isValidLiteralSubject(scheduler)) throw jsError("JSMessageSchedulesSchedulerInvalidErr");
      if (!allowed) throw jsError("JSMessageSchedulesDisabledErr");
      const last = this.stream.store.loadLastMsg(scheduler);
      if (last !== null && getHeader(last.hdr, HDR_SCHEDULE) === undefined) throw jsError("JSMessageSchedulesSchedulerInvalidErr");
    } else if (getHeader(hdr, HDR_SCHEDULER) !== undefined) {
      throw jsError("JSMessageSchedulesSchedulerInvalidErr");
    }
    return hdr;
  }

  /** A message was stored: a schedule starts (or is replaced), a plain one ends it, a produced one moves it on. */
  onStored(seq: number, subject: string, hdr: Buffer | undefined, timeNs: bigint): void {
    if (this.stream.cfg.allow_msg_schedules !== true) return;
    const s = hdr !== undefined ? scheduleOf(hdr, Number(timeNs / 1_000_000n)) : undefined;
    if (s !== undefined && !(s instanceof ApiError)) {
      this.add(subject, seq, s.at);
    } else if (getHeader(hdr, HDR_SCHEDULER) === undefined) {
      this.removeSubject(subject);
    }
    const next = getHeader(hdr, HDR_SCHEDULE_NEXT);
    const scheduler = getHeader(hdr, HDR_SCHEDULER);
    if (next !== undefined && next !== SCHEDULE_NEXT_PURGE && scheduler !== undefined) {
      const t = parseRfc3339(next);
      const sched = this.bySubject.get(scheduler);
      if (t !== undefined && sched !== undefined) {
        sched.inflight = false;
        this.firing.delete(sched);
        this.due.add(sched, Math.max(Number(t / 1_000_000n), this.lastRun + MIN_RUN_INTERVAL_MS));
      }
    }
  }

  /** A stored message left the stream: a schedule whose message it was ends. */
  onRemoved(seq: number): void {
    const s = this.bySeq.get(seq);
    if (s !== undefined) this.removeSubject(s.subject);
  }

  /** After a restart: rebuild the schedules from the stored messages, oldest first. */
  recover(): void {
    if (this.stream.cfg.allow_msg_schedules !== true) return;
    const store = this.stream.store;
    for (let m = store.loadNextMsg("", 0); m !== null; m = store.loadNextMsg("", m.seq + 1)) {
      if (m.hdr !== undefined) this.onStored(m.seq, m.subject, m.hdr, m.time);
    }
  }

  stop(): void {
    this.due.stop();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.bySubject.clear();
    this.bySeq.clear();
  }

  private add(subject: string, seq: number, at: number): void {
    let s = this.bySubject.get(subject);
    if (s !== undefined) {
      this.bySeq.delete(s.seq);
      s.seq = seq;
    } else {
      s = new Schedule(subject, seq);
      this.bySubject.set(subject, s);
    }
    s.inflight = false;
    this.firing.delete(s);
    this.bySeq.set(seq, s);
    this.due.add(s, at);
  }

  private removeSubject(subject: string): void {
    const s = this.bySubject.get(subject);
    if (s === undefined) return;
    this.due.remove(s);
    this.firing.delete(s);
    this.bySubject.delete(subject);
    this.bySeq.delete(s.seq);
  }

  /** Something is due: run now, or after the minimum interval since the last run. */
  private kick(): void {
    if (this.running || this.timer !== undefined) return;
    const wait = this.lastRun + MIN_RUN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.run();
      }, wait);
      this.timer.unref();
      return;
    }
    this.run();
  }

  /** Fires here: a single replica where it is assigned (Stream.runsAssignedWork), or the leader of a replicated stream's group. */
  private leads(): boolean {
    const r = this.stream.replica;
    return r === undefined ? this.stream.runsAssignedWork() : r.isLeader && r.node.leaderReady;
  }

  /**
   * This member leads its stream's group now: what came due and was not produced (by the old
   * leader, or by this one before its proposal was lost) fires.
   */
  resume(): void {
    for (const s of this.bySubject.values()) {
      if (!s.inflight) continue;
      s.inflight = false;
      this.firing.add(s);
    }
    if (this.firing.size > 0) this.kick();
  }

  /** It may fire here now (a single replica whose assignment became known): what came due meanwhile fires. */
  wake(): void {
    if (this.firing.size > 0) this.kick();
  }

  /** Publish every due schedule's message, in schedule (sequence) order. */
  private run(): void {
    // A member that does not lead keeps them due: the leader's produced messages move them on.
    if (!this.leads()) return;
    this.running = true;
    this.lastRun = Date.now();
    try {
      const due = [...this.firing].sort((a, b) => a.seq - b.seq);
      this.firing.clear();
      for (const s of due) this.produce(s);
    } finally {
      this.running = false;
    }
  }

  private produce(s: Schedule): void {
    const stream = this.stream;
    const m = stream.store.loadMsg(s.seq);
    if (m === null || s.inflight) {
      if (m === null) this.removeSubject(s.subject);
      return;
    }
    // Repeating schedules carry on from when they were due (nats-server's rule for catching up).
    const out = producedMessage(m, s.deadlineAt, (subj) => stream.store.loadLastMsg(subj));
    if (out === undefined) {
      this.removeSubject(s.subject);
      return;
    }
    s.inflight = true;
    try {
      stream.processInbound(out.target, "", out.hdr, out.data, true);
    } catch (err) {
      stream.jsa.service.log.warn(`JetStream stream '${stream.name}' schedule '${s.subject}' could not publish: ${(err as Error).message}`);
      // Try again at the next run rather than never.
      s.inflight = false;
      this.due.add(s, Date.now() + 1000);
    }
  }
}

/**
 * The message a due schedule publishes: the schedule's (or its source's last) payload and
 * headers without the scheduling and conditional-publish headers, plus Nats-Scheduler and
 * Nats-Schedule-Next, and the schedule's TTL and rollup when it asks for them.
 */
export function producedMessage(
  m: StoredMsg,
  dueMs: number,
  loadLast: (subject: string) => StoredMsg | null,
): { target: string; hdr: Buffer | undefined; data: Buffer } | undefined {
  const pattern = getHeader(m.hdr, HDR_SCHEDULE);
  if (pattern === undefined || pattern === "") return undefined;
  const zone = zoneOf(m.hdr);
  if (zone === "invalid") return undefined;
  const next = nextFire(pattern, zone, dueMs);
  if (next === undefined || !scheduleTtlOk(m.hdr)) return undefined;
  const target = getHeader(m.hdr, HDR_SCHEDULE_TARGET) ?? "";
  if (target === "") return undefined;
  const ttl = getHeader(m.hdr, HDR_SCHEDULE_TTL) ?? "";
  const rollup = getHeader(m.hdr, HDR_SCHEDULE_ROLLUP) ?? "";
  const sourceSubject = getHeader(m.hdr, HDR_SCHEDULE_SOURCE) ?? "";
  let from = m;
  if (sourceSubject !== "") from = loadLast(sourceSubject) ?? m;
  let hdr = removeHeaders(
    from.hdr,
    (k) => k.startsWith("Nats-Schedule") || k.startsWith("Nats-Expected-") || k === HDR_MSG_ID || k === HDR_TTL || k === HDR_ROLLUP,
  );
  const pairs: Array<[string, string]> = [
    [HDR_SCHEDULER, m.subject],
    [HDR_SCHEDULE_NEXT, next.repeat ? rfc3339(BigInt(next.at) * 1_000_000n) : SCHEDULE_NEXT_PURGE],
  ];
  if (ttl !== "") pairs.push([HDR_TTL, ttl]);
  if (rollup !== "") pairs.push([HDR_ROLLUP, rollup]);
  hdr = appendHeaders(hdr, pairs);
  return { target, hdr, data: Buffer.from(from.data) };
}

/** For tests and tools: when does a pattern fire next from now? */
export function nextFireFromNow(pattern: string, zone?: string): number | undefined {
  return nextFire(pattern, zone, Number(nowNs() / 1_000_000n))?.at;
}
