// Streams that feed streams (ADR-59/60): a mirror keeps a 1:1 copy of another stream (same
// sequences and timestamps), sources append other streams' messages to a stream of its own.
//
// As in nats-server, each origin is read through a consumer created over the JetStream API
// (`$JS.API.CONSUMER.CREATE...`, or another account's/domain's prefix for `external`
// origins): an ephemeral push consumer with flow control and 1 s heartbeats, delivering to a
// private subject this stream subscribes to. Nothing here talks to the origin stream
// directly, so the same code works for a stream in this account, another account (through
// the account's imports) or another JetStream domain.
//
// On a work-queue or interest origin the origin turns that request into a durable consumer
// acknowledged by this copy's flow control replies (2.14 AckFlowControl, ADR-60): a reply
// names the last origin sequence this copy has stored, so a message leaves the origin only
// once it is here, and the origin keeps the interest while the copy is away. A source or
// mirror may also name a durable the user created (`consumer: {name, deliver_subject}`,
// "durable sourcing"): the copy then only resets it to its ack floor
// (`$JS.API.CONSUMER.RESET`) and listens on its deliver subject. Asking again (a gap, a
// restart of either side) repositions such a durable at its ack floor instead of creating a
// consumer, and what comes again that is already stored is skipped by origin sequence.
//
// Exactly-once: every delivery names the origin sequence and the consumer's delivery sequence
// in its ack reply (`$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`). A copy
// moves on only when the delivery sequence is the next one; a gap (a lost message, a missed
// heartbeat count, a store failure) recreates the consumer at the first origin sequence not
// yet stored. Where a source left off survives restarts: it is the origin sequence carried by
// the newest `Nats-Stream-Source` header, or (after this stream was purged) the state saved in
// `sources.json`. A mirror's position is its own last sequence.
import type { Subscription } from "../server/sublist.js";
import { appendHeaders, buildHeaders, getHeader, removeHeaders } from "../protocol/headers.js";
import type { SubjectTransform } from "../server/subject_transform.js";
import { isStoreError, type StreamStore } from "../storage/store.js";
import type { Account } from "../server/account.js";
import { parseRfc3339, rfc3339 } from "../server/time.js";
import { ApiError, jsError } from "./errors.js";
import { sourceIndexName, sourceTransform } from "./source_config.js";
import { HDR_STREAM_SOURCE, keepPositionsBeforePurge, savePositions, sourceOfHeader, sourcePositions, type SourcePosition } from "./source_positions.js";
import type { StreamConfig, StreamSourceJson } from "./stream_config.js";
import type { Stream } from "./stream.js";
import { randomToken, shortHash } from "./util.js";

/**
 * What the sourcing reads and calls of the stream it fills. The single server's Stream
 * (stream.ts) is one, standalone or leading a tsnats group (applyStreamOp and processInbound
 * then propose, replica.whenApplied waits for the commit); another owner of a copy (a member
 * leading a nats-server mirror or source, cluster/nrg_*) would provide the same members:
 * applyStreamOp's mirror_msg as a sourced stream message at the origin's sequence and time,
 * skip_msgs as a delete range, processInbound as a sourced publish, whenApplied on its commits.
 */
export interface SourcingStream {
  readonly name: string;
  readonly cfg: StreamConfig;
  readonly closed: boolean;
  readonly store: StreamStore;
  /** Replicated: runs `fn` once what was proposed so far is applied. */
  readonly replica: { whenApplied(fn: () => void): void } | undefined;
  readonly jsa: { readonly account: Account; readonly service: { readonly log: { warn(msg: string): void }; readonly options: { readonly domain?: string } } };
  applyStreamOp: Stream["applyStreamOp"];
  processInbound(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer, sourced?: boolean): void;
  /** A mirror's origin consumer starts after `delivered`: the sequences up to it are skipped (the origin's numbering kept). */
  mirrorCatchUp(delivered: number): void;
  /**
   * The headers of a request to the JetStream API, where the server adds to them: a tsnats member
   * of a nats-server cluster names the stream's account in Nats-Request-Info (the API is served in
   * the system account, and a request without it would be taken as the system account's).
   */
  apiHeaders?(hdr: Buffer | undefined, subject: string): Buffer | undefined;
  /**
   * Does the JetStream API that answers this copy's consumer requests take them now? If not,
   * `fn` runs once it does. A tsnats cluster server without a meta leader it reaches holds such
   * a request and, once a leader is known, leaves it to the leader, which never got it when this
   * server had no route to it (a restart: its copies start before its routes): it would go
   * unanswered for CREATE_TIMEOUT_MS, and the source would resume only after that and a backoff.
   */
  whenApiAnswers?(fn: () => void): boolean;
}

const HDR_STREAM_IDENTITY = "Nats-Stream-Identity";
const HDR_LAST_CONSUMER = "Nats-Last-Consumer";
const HDR_LAST_STREAM = "Nats-Last-Stream";
const HDR_STALLED = "Nats-Consumer-Stalled";

/** The origin consumer's heartbeat; a copy not heard from for the check interval is recreated. */
const HEARTBEAT_NS = 1_000_000_000;
const HEALTH_CHECK_MS = 10_000;
/** Sourcing consumers go away this long after their copy stopped listening. */
const CONSUMER_INACTIVE_NS = 10_000_000_000;
/** Minimum time between two consumer requests of one copy, then backoff per failure. */
const RETRY_THRESHOLD_MS = 2_000;
const RETRY_BACKOFF_MS = 5_000;
const RETRY_MAX_MS = 120_000;
/** How long a consumer create request may take before it is tried again. */
const CREATE_TIMEOUT_MS = 30_000;
/** A user's durable is only repositioned: its reset is given less time. */
const RESET_TIMEOUT_MS = 5_000;
/** A mirror answers direct gets for its origin once fewer messages than this are pending. */
const MIRROR_DIRECT_CAUGHT_UP = 10;
/** Error code of "consumer's stream identity does not match" (the origin was recreated). */
const IDENTITY_MISMATCH = 10225;

/** A stream's identity (2.15): a hash of its creation time, to tell a recreated origin apart. */
export function streamIdentity(created: bigint): string {
  return shortHash(rfc3339(created));
}

function retryBackoff(fails: number): number {
  return Math.min(RETRY_BACKOFF_MS * fails * 2, RETRY_MAX_MS);
}

function jitter(): number {
  return 100 + Math.floor(Math.random() * 100);
}

/** The fields of an ack reply subject (v1 `$JS.ACK.<stream>.<consumer>...` or v2 with domain and account hash). */
interface AckInfo {
  consumer: string;
  dc: number;
  sseq: number;
  sseqText: string;
  dseq: number;
  ts: bigint;
  pending: number;
}

function parseAckReply(reply: string): AckInfo | undefined {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK" || (t.length !== 9 && t.length < 11)) return undefined;
  const o = t.length === 9 ? 2 : 4;
  const num = (s: string): number => {
    const n = Number(s);
    return Number.isSafeInteger(n) && n >= 0 ? n : -1;
  };
  let ts: bigint;
  try {
    ts = BigInt(t[o + 5]);
  } catch {
    return undefined;
  }
  const info = { consumer: t[o + 1], dc: num(t[o + 2]), sseq: num(t[o + 3]), sseqText: t[o + 3], dseq: num(t[o + 4]), ts, pending: num(t[o + 6]) };
  if (info.dc < 0 || info.sseq < 0 || info.dseq < 0 || info.pending < 0) return undefined;
  return info;
}

/** Control messages (heartbeats, flow control) are empty with a "NATS/1.0 100 ..." status. */
function isControl(hdr: Buffer | undefined, payload: Buffer): boolean {
  return payload.length === 0 && hdr !== undefined && hdr.length > 13 && hdr.toString("latin1", 0, 13) === "NATS/1.0 100 ";
}

/** Headers a copy never keeps: expectations were checked by the origin, batches do not apply. */
function dropOnCopy(key: string): boolean {
  return key.startsWith("Nats-Expected-") || key.startsWith("Nats-Batch-");
}

function dropOnSource(key: string): boolean {
  return key === HDR_STREAM_SOURCE || dropOnCopy(key);
}

/** One origin feeding a stream: the mirror, or one entry of `sources`. */
export class SourceLink {
  readonly iname: string;
  /** Origin sequence of the last message stored (or skipped) from the origin. */
  sseq = 0;
  /** Delivery sequence of the current consumer. */
  dseq = 0;
  lag = 0;
  /** When the origin was last heard from (ms), 0 = never. */
  lastSeen = 0;
  err: ApiError | undefined;
  /** The origin's identity as last seen, "" = unknown. */
  ident = "";
  private recreated = false;
  private cname = "";
  private fails = 0;
  private lastRequest = 0;
  private setupInProgress = false;
  private deliverSub: Subscription | undefined;
  /** A durable of an old name this copy still has to delete at the origin (see renamed()). */
  private staleConsumer: string | undefined;
  /** After a timed-out reset of a user's durable: a delivery seen there cuts the backoff short. */
  private probeSub: Subscription | undefined;
  private replySub: Subscription | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private createTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Its consumer request waits for the API to take requests (whenApiAnswers). */
  private awaitingApi = false;
  private awaitingSeq = 0;
  private readonly transforms: SubjectTransform[];
  private readonly filters: string[];
  /** " <filters> <destinations> " of the index name, for the Nats-Stream-Source header. */
  private readonly headerStream: string;
  private readonly headerMiddle: string;

  constructor(
    private readonly owner: StreamSourcing,
    readonly mirror: boolean,
    readonly spec: StreamSourceJson,
  ) {
    this.iname = sourceIndexName(spec);
    const parts = this.iname.split(" ");
    // The whole stream part, with the durable's ":C=<hash>" when there is one (as nats-server writes it).
    this.headerStream = parts[0];
    this.headerMiddle = ` ${parts[1]} ${parts[2]} `;
    this.transforms = [];
    this.filters = [];
    for (const t of spec.subject_transforms ?? []) {
      const tr = sourceTransform(t.src, t.dest);
      if (tr) this.transforms.push(tr);
      this.filters.push(t.src === "" ? ">" : t.src);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  private get stream(): SourcingStream {
    return this.owner.stream;
  }

  /** The `mirror` / `sources[i]` object of stream info. */
  infoJson(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.spec.name };
    if (this.spec.external !== undefined) out.external = { api: this.spec.external.api, deliver: this.spec.external.deliver ?? "" };
    out.lag = this.lag;
    if (this.sseq > 0 && !this.mirror) out.seq = this.sseq;
    out.active = this.lastSeen === 0 ? -1 : Math.max(0, Date.now() - this.lastSeen) * 1_000_000;
    if (this.err !== undefined) out.error = this.err.toJSON();
    // nats-server reports a mirror's filter only through its config, not in its source info.
    if (this.spec.filter_subject && !this.mirror) out.filter_subject = this.spec.filter_subject;
    if (this.spec.subject_transforms !== undefined && this.spec.subject_transforms.length > 0) {
      out.subject_transforms = this.spec.subject_transforms.map((t) => ({ src: t.src, dest: t.dest }));
    }
    return out;
  }

  // ---- consumer set-up ----

  /**
   * Ask for a new consumer (after the throttle and backoff nats-server applies), starting at
   * origin sequence `seq` (0 = from the configured start).
   */
  schedule(seq: number, now = false): void {
    if (this.stopped || this.retryTimer !== undefined || this.setupInProgress) return;
    let delay = 0;
    if (!now && this.lastRequest > 0) {
      delay = Math.max(0, RETRY_THRESHOLD_MS - (Date.now() - this.lastRequest));
      if (this.fails > 0) delay += retryBackoff(this.fails);
    }
    delay += jitter();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.setup(seq);
    }, delay);
    this.retryTimer.unref();
  }

  /** Skip the wait: the origin just appeared (a stream of that name was created here). */
  originAppeared(): void {
    if (this.stopped || this.setupInProgress || this.deliverSub !== undefined) return;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.fails = 0;
    this.schedule(this.mirror ? 0 : this.sseq + 1, true);
  }

  /** Recreate the consumer at `seq` (a gap, a stall, a store failure). */
  retry(seq: number): void {
    if (this.stopped) return;
    this.cancel();
    this.schedule(seq);
  }

  private cancel(): void {
    const acc = this.stream.jsa.account;
    if (this.deliverSub !== undefined) acc.unsubscribeInternal(this.deliverSub);
    this.deliverSub = undefined;
    if (this.probeSub !== undefined) acc.unsubscribeInternal(this.probeSub);
    this.probeSub = undefined;
    this.cname = "";
  }

  /** The name of the durable a work-queue/interest origin keeps for this copy. */
  managedConsumerName(sources?: StreamSourceJson[]): string {
    return this.mirror ? `JS_MIRROR_${this.owner.stableHash()}` : `JS_SRC_${this.owner.sourceHash(this.spec, sources)}`;
  }

  /**
   * This copy no longer reads the origin (source removed, mirror promoted, stream deleted):
   * ask the origin once to delete the durable it may keep for it (best effort, as nats-server;
   * a durable the user named is left alone). Only a failure on the durable in use is logged.
   */
  deleteManagedConsumer(sources?: StreamSourceJson[]): void {
    if (this.spec.consumer !== undefined) return;
    this.deleteOriginConsumer(this.managedConsumerName(sources));
  }

  /**
   * Another source of the same origin came or went, which renames this one's durable (its
   * hash then includes the filters): move to the new name, and delete the old durable once
   * the new one is in place, so the origin keeps the interest in between.
   */
  renamed(oldName: string): void {
    if (this.spec.consumer !== undefined || oldName === this.managedConsumerName()) return;
    this.staleConsumer = oldName;
    this.retry(this.sseq + 1);
  }

  private deleteOriginConsumer(name: string): void {
    const inUse = this.cname === name;
    const acc = this.stream.jsa.account;
    const log = this.stream.jsa.service.log;
    const kind = this.mirror ? "mirror" : "source";
    const what = `Cleanup of ${kind} consumer '${this.spec.name} > ${name}' failed for stream '${acc.name} > ${this.stream.name}'`;
    const reply = `$JSC.R.${randomToken()}`;
    let timer: NodeJS.Timeout | undefined;
    const sub = acc.subscribeInternal(
      reply,
      (_s, _r, _h, payload) => {
        if (timer !== undefined) clearTimeout(timer);
        acc.unsubscribeInternal(sub);
        try {
          const resp = JSON.parse(payload.toString("utf8")) as { error?: { description?: string } };
          if (resp.error !== undefined && inUse) log.warn(`${what}: ${resp.error.description ?? "error"}`);
        } catch {
          // not an API answer (no responders)
        }
      },
      undefined,
      `stream-source:${this.stream.name}`,
    );
    timer = setTimeout(() => {
      acc.unsubscribeInternal(sub);
      if (inUse) log.warn(`${what}: timeout`);
    }, RESET_TIMEOUT_MS);
    timer.unref();
    const subject = this.apiSubject(`CONSUMER.DELETE.${this.spec.name}.${name}`);
    const hdr = this.stream.apiHeaders?.(undefined, subject);
    queueMicrotask(() => acc.publish(subject, reply, hdr, EMPTY));
  }

  private apiSubject(rest: string): string {
    const ext = this.spec.external;
    if (ext === undefined || ext.api === "") return `$JS.API.${rest}`;
    return `${ext.api}.${rest}`.replace(/\.\.+/g, ".");
  }

  private deliverSubject(): string {
    const kind = this.mirror ? "M" : "S";
    const prefix = this.spec.external?.deliver ?? "";
    if (prefix !== "") return `${prefix}.${kind}.${randomToken()}`.replace(/\.\.+/g, ".");
    return `$JS.${kind}.${randomToken()}`;
  }

  /** The consumer create request (nats-server's sourcing consumer). */
  private createRequest(seq: number): { subject: string; body: Record<string, unknown> } {
    const stream = this.stream;
    const st = stream.store.state();
    const cfg: Record<string, unknown> = {
      name: this.managedConsumerName(),
      deliver_subject: this.deliverSubject(),
      deliver_policy: "all",
      ack_policy: "none",
      ack_wait: 22 * 3600 * 1_000_000_000,
      max_deliver: 1,
      idle_heartbeat: HEARTBEAT_NS,
      flow_control: true,
      direct: true,
      sourcing: true,
      inactive_threshold: CONSUMER_INACTIVE_NS,
      metadata: this.owner.consumerMetadata(this.mirror),
    };
    const spec = this.spec;
    if (this.mirror) {
      if (st.msgs === 0 && st.firstSeq === 0) {
        // First time: the mirror's own start options.
        if (spec.opt_start_seq) {
          cfg.deliver_policy = "by_start_sequence";
          cfg.opt_start_seq = spec.opt_start_seq;
        } else if (spec.opt_start_time) {
          cfg.deliver_policy = "by_start_time";
          cfg.opt_start_time = spec.opt_start_time;
        }
      } else {
        cfg.deliver_policy = "by_start_sequence";
        cfg.opt_start_seq = st.lastSeq + 1;
      }
    } else if (seq <= 1) {
      if (spec.opt_start_seq) {
        cfg.deliver_policy = "by_start_sequence";
        cfg.opt_start_seq = spec.opt_start_seq;
      } else if (spec.opt_start_time) {
        // Not before what this stream already holds.
        const t = parseRfc3339(spec.opt_start_time) ?? 0n;
        cfg.deliver_policy = "by_start_time";
        cfg.opt_start_time = st.lastTime !== 0n && t < st.lastTime ? rfc3339(st.lastTime) : spec.opt_start_time;
      } else if (st.firstSeq > 1 && st.lastTime !== 0n && !this.recreated) {
        cfg.deliver_policy = "by_start_time";
        cfg.opt_start_time = rfc3339(st.lastTime);
      }
    } else {
      cfg.deliver_policy = "by_start_sequence";
      cfg.opt_start_seq = seq;
    }
    if (spec.filter_subject) cfg.filter_subject = spec.filter_subject;
    if (this.filters.length === 1 && cfg.filter_subject === undefined) cfg.filter_subject = this.filters[0];
    else if (this.filters.length > 1) cfg.filter_subjects = this.filters;
    const name = cfg.name as string;
    const filter = cfg.filter_subject as string | undefined;
    const subject = this.apiSubject(filter !== undefined ? `CONSUMER.CREATE.${spec.name}.${name}.${filter}` : `CONSUMER.CREATE.${spec.name}`);
    return { subject, body: { stream_name: spec.name, config: cfg } };
  }

  private setup(seq: number): void {
    if (this.stopped) return;
    // (Another domain's API, external.api, is not this cluster's meta group.)
    if (this.spec.external === undefined && this.stream.whenApiAnswers !== undefined) {
      this.awaitingSeq = seq;
      if (this.awaitingApi) return;
      if (!this.stream.whenApiAnswers(() => this.apiAnswers())) {
        this.awaitingApi = true;
        return;
      }
    }
    this.cancel();
    this.lastRequest = Date.now();
    const acc = this.stream.jsa.account;
    // A durable the user named is repositioned at its ack floor, not created.
    const durable = this.spec.consumer;
    const { subject, body } =
      durable !== undefined ? { subject: this.apiSubject(`CONSUMER.RESET.${this.spec.name}.${durable.name}`), body: undefined } : this.createRequest(seq);
    // Where the deliveries come: what this copy asked for, not what the answer says (an
    // origin may answer for an existing durable with its config as first created).
    const deliverSubject = durable !== undefined ? durable.deliver_subject : ((body?.config as Record<string, unknown>).deliver_subject as string);
    const reply = `$JSC.R.${randomToken()}`;
    this.setupInProgress = true;
    this.err = undefined;
    const replySub = acc.subscribeInternal(
      reply,
      (_s, _r, hdr, payload) => {
        if (this.replySub !== replySub) return;
        let resp: Record<string, any>;
        try {
          resp = JSON.parse(payload.toString("utf8")) as Record<string, any>;
        } catch {
          return; // not a response (e.g. a 503 status): the timeout retries
        }
        this.endRequest();
        this.onCreated(resp, getHeader(hdr, HDR_STREAM_IDENTITY) ?? "", seq, deliverSubject);
      },
      undefined,
      `stream-source:${this.stream.name}`,
    );
    this.replySub = replySub;
    this.createTimer = setTimeout(
      () => {
        this.endRequest();
        this.fails++;
        this.schedule(seq);
        if (durable !== undefined) this.probe(durable.deliver_subject, seq);
      },
      durable !== undefined ? RESET_TIMEOUT_MS : CREATE_TIMEOUT_MS,
    );
    this.createTimer.unref();
    // A source asks for the origin's identity (a reset answers it, a create also checks it).
    const identity = !this.mirror && (this.ident !== "" || durable !== undefined) ? buildHeaders([[HDR_STREAM_IDENTITY, this.ident]]) : undefined;
    const hdr = this.stream.apiHeaders !== undefined ? this.stream.apiHeaders(identity, subject) : identity;
    const payload = body !== undefined ? Buffer.from(JSON.stringify(body)) : EMPTY;
    // Sent after this turn: the API answers through the account, possibly re-entering here.
    // Nobody to hear it (the link to another domain's server is down): ask again after the
    // usual throttle rather than waiting out the answer's timeout.
    queueMicrotask(() => {
      if (this.replySub !== replySub) return;
      if (acc.publish(subject, reply, hdr, payload) > 0) return;
      this.endRequest();
      this.schedule(seq);
    });
  }

  /** The API takes requests again (whenApiAnswers): the request set up now. */
  private apiAnswers(): void {
    if (!this.awaitingApi) return;
    this.awaitingApi = false;
    this.schedule(this.awaitingSeq, true);
  }

  /**
   * A reset of the user's durable went unanswered (its server may be away): while backing
   * off, watch its deliver subject, and ask again at once when something arrives there.
   */
  private probe(deliverSubject: string, seq: number): void {
    if (this.stopped || this.probeSub !== undefined || this.deliverSub !== undefined) return;
    const acc = this.stream.jsa.account;
    this.probeSub = acc.subscribeInternal(
      deliverSubject,
      () => {
        if (this.stopped || this.setupInProgress || this.fails === 0 || this.retryTimer === undefined) return;
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.fails = 0;
        this.schedule(seq, true);
      },
      undefined,
      `stream-source:${this.stream.name}`,
    );
  }

  private endRequest(): void {
    this.setupInProgress = false;
    if (this.createTimer !== undefined) clearTimeout(this.createTimer);
    this.createTimer = undefined;
    if (this.replySub !== undefined) this.stream.jsa.account.unsubscribeInternal(this.replySub);
    this.replySub = undefined;
  }

  private onCreated(resp: Record<string, any>, ident: string, seq: number, deliver: string): void {
    if (this.stopped) return;
    const info = resp.error === undefined ? resp : undefined;
    if (info === undefined || typeof info.name !== "string" || info.config === undefined) {
      const e = resp.error as { code?: number; err_code?: number; description?: string } | undefined;
      if (e?.err_code === IDENTITY_MISMATCH && !this.mirror) {
        // The origin was deleted and recreated: start over from its beginning.
        this.sseq = 0;
        this.dseq = 0;
        this.ident = "";
        this.recreated = true;
        this.owner.markDirty();
        this.schedule(0);
        return;
      }
      this.err =
        e !== undefined && typeof e.code === "number"
          ? new ApiError(e.code, e.err_code ?? 0, e.description ?? "")
          : jsError(this.mirror ? "JSMirrorConsumerSetupFailedErrF" : "JSSourceConsumerSetupFailedErrF", { err: "invalid consumer create response" });
      this.stream.jsa.service.log.warn(
        `JetStream error response for stream ${this.stream.name} create ${this.mirror ? "mirror" : "source"} consumer ${this.spec.name}: ${this.err.description}`,
      );
      this.fails++;
      this.schedule(seq);
      return;
    }
    // Durable sourcing reads only through a durable acknowledged by flow control.
    if (this.spec.consumer !== undefined && info.config.ack_policy !== "flow_control") {
      this.err = jsError(this.mirror ? "JSMirrorConsumerRequiresAckFCErr" : "JSSourceConsumerRequiresAckFCErr");
      this.fails++;
      this.schedule(seq);
      return;
    }
    this.fails = 0;
    const delivered = Number(info.delivered?.stream_seq ?? 0);
    if (this.mirror) {
      try {
        this.stream.mirrorCatchUp(delivered);
      } catch (err) {
        this.err = jsError("JSMirrorConsumerSetupFailedErrF", { err: (err as Error).message });
        this.fails++;
        this.schedule(seq);
        return;
      }
      this.sseq = Math.max(delivered, this.stream.store.state().lastSeq);
    } else {
      if (this.recreated || (ident !== "" && this.ident !== "" && ident !== this.ident)) {
        this.stream.jsa.service.log.warn(
          `JetStream source stream "${this.spec.name}" for stream '${this.stream.jsa.account.name} > ${this.stream.name}' was recreated, resetting source state`,
        );
        this.sseq = 0;
      }
      if (ident !== "") this.ident = ident;
      this.recreated = false;
      if (this.sseq < delivered) this.sseq = delivered;
      this.owner.markDirty();
    }
    this.cname = info.name as string;
    if (this.staleConsumer !== undefined && this.staleConsumer !== this.cname) this.deleteOriginConsumer(this.staleConsumer);
    this.staleConsumer = undefined;
    this.dseq = 0;
    this.lastSeen = Date.now();
    const acc = this.stream.jsa.account;
    if (this.probeSub !== undefined) acc.unsubscribeInternal(this.probeSub);
    this.probeSub = undefined;
    this.deliverSub = acc.subscribeInternal(deliver, (subject, reply, hdr, payload) => this.onDelivery(subject, reply, hdr, payload), undefined, `stream-source:${this.stream.name}`);
  }

  // ---- deliveries ----

  private onDelivery(subject: string, reply: string, hdr: Buffer | undefined, payload: Buffer): void {
    if (this.stopped) return;
    this.lastSeen = Date.now();
    if (isControl(hdr, payload)) {
      this.onControl(reply, hdr);
      return;
    }
    const a = parseAckReply(reply);
    if (a === undefined || a.consumer !== this.cname || a.dc > 1) return;
    if (this.mirror) this.onMirrorMsg(subject, hdr, payload, a);
    else this.onSourceMsg(subject, hdr, payload, a);
  }

  private onControl(reply: string, hdr: Buffer | undefined): void {
    if (reply !== "") {
      // Flow control: answer with how far this copy has stored (an AckFlowControl origin
      // acknowledges up to there), once the stored messages are with the kernel.
      const fc = buildHeaders([
        [HDR_LAST_CONSUMER, String(this.dseq)],
        [HDR_LAST_STREAM, String(this.sseq)],
      ]);
      this.owner.afterStored(() => this.stream.jsa.account.publish(reply, "", fc, EMPTY));
      return;
    }
    const last = Number(getHeader(hdr, HDR_LAST_CONSUMER) ?? "0");
    if (last > 0 && last !== this.dseq) {
      // A delivery went missing.
      this.retry(this.mirror ? 0 : this.sseq + 1);
      return;
    }
    const stalled = getHeader(hdr, HDR_STALLED);
    if (stalled !== undefined && stalled !== "") {
      this.owner.afterStored(() => this.stream.jsa.account.publish(stalled, "", undefined, EMPTY));
    }
  }

  private lagFrom(pending: number): number {
    return pending === 0 ? 0 : pending - 1;
  }

  private onMirrorMsg(subject: string, hdr: Buffer | undefined, payload: Buffer, a: AckInfo): void {
    const osseq = this.sseq;
    const odseq = this.dseq;
    if (a.sseq <= this.sseq) {
      if (a.dseq === this.dseq + 1) this.dseq++;
      return;
    }
    const stream = this.stream;
    try {
      if (a.sseq !== this.sseq + 1) {
        // Origin messages in between expired or were deleted (or filtered out): the
        // delivery sequence tells a gap in the origin from a missed delivery.
        if (a.dseq !== this.dseq + 1) {
          this.retry(0);
          return;
        }
        stream.applyStreamOp({ op: "skip_msgs", seq: this.sseq + 1, num: a.sseq - this.sseq - 1 });
      }
      this.dseq = a.dseq;
      this.sseq = a.sseq;
      this.lag = this.lagFrom(a.pending);
      if (this.owner.cfg.mirror_direct && a.pending < MIRROR_DIRECT_CAUGHT_UP) this.owner.mirrorDirectReady = true;
      let subj = subject;
      for (const tr of this.transforms) {
        if (tr.matches(subj)) {
          subj = tr.apply(subj) ?? subj;
          break;
        }
      }
      const h = hdr === undefined ? undefined : removeHeaders(hdr, dropOnCopy);
      stream.applyStreamOp({ op: "mirror_msg", subject: subj, hdr: h, data: payload, seq: a.sseq, time: a.ts });
    } catch (err) {
      this.sseq = osseq;
      this.dseq = odseq;
      const last = stream.store.state().lastSeq;
      if (isStoreError(err, "ErrSequenceMismatch")) this.sseq = Math.max(this.sseq, last);
      else this.warnStoreFailure(err);
      this.retry(0);
    }
  }

  private onSourceMsg(subject: string, hdr: Buffer | undefined, payload: Buffer, a: AckInfo): void {
    const osseq = this.sseq;
    const odseq = this.dseq;
    if (a.sseq <= this.sseq) {
      if (a.dseq === this.dseq + 1) this.dseq++;
      return;
    }
    if (a.dseq === this.dseq + 1) {
      this.dseq++;
      this.sseq = a.sseq;
    } else {
      if (a.dseq > this.dseq) this.retry(this.sseq + 1);
      return;
    }
    this.lag = this.lagFrom(a.pending);
    // Where it came from, as nats-server writes it:
    // "<stream>[:<api hash>] <origin seq> <filters> <destinations> <origin subject>[ <identity>]".
    let h = hdr === undefined ? undefined : removeHeaders(hdr, dropOnSource);
    const ident = this.ident !== "" ? ` ${this.ident}` : "";
    h = appendHeaders(h, [[HDR_STREAM_SOURCE, `${this.headerStream} ${a.sseqText}${this.headerMiddle}${subject}${ident}`]]);
    let subj = subject;
    for (const tr of this.transforms) {
      if (tr.matches(subj)) {
        subj = tr.apply(subj) ?? subj;
        break;
      }
    }
    try {
      this.stream.processInbound(subj, "", h, payload, true);
      this.owner.markDirty();
    } catch (err) {
      // Store it again from this message on (the stream may be full with discard new).
      this.sseq = osseq;
      this.dseq = odseq;
      const full = isStoreError(err, "ErrMaxMsgs") || isStoreError(err, "ErrMaxBytes") || isStoreError(err, "ErrMaxMsgsPerSubject");
      if (!full) this.warnStoreFailure(err);
      this.retry(a.sseq);
    }
  }

  private warnStoreFailure(err: unknown): void {
    const msg = err instanceof ApiError ? err.description : (err as Error).message;
    this.stream.jsa.service.log.warn(
      `Error processing inbound ${this.mirror ? "mirror" : `source "${this.iname}"`} message for '${this.stream.jsa.account.name}' > '${this.stream.name}': ${msg}`,
    );
  }

  /** Health check: an origin silent for longer than its heartbeats allow is asked again. */
  checkHealth(now: number): void {
    if (this.stopped || this.setupInProgress || this.retryTimer !== undefined) return;
    if (this.deliverSub !== undefined && now - this.lastSeen > HEALTH_CHECK_MS) {
      this.fails = 0;
      this.retry(this.mirror ? 0 : this.sseq + 1);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.endRequest();
    this.cancel();
  }
}

const EMPTY = Buffer.alloc(0);

/** The mirror or sources of one stream: their links, persisted positions and health checks. */
export class StreamSourcing {
  mirrorLink: SourceLink | undefined;
  readonly sources = new Map<string, SourceLink>();
  /** A caught-up mirror with mirror_direct answers direct gets for its origin. */
  mirrorDirectReady = false;
  private healthTimer: NodeJS.Timeout | undefined;
  private started = false;
  private dirty = false;
  private afterStoredQueue: Array<() => void> = [];
  private afterStoredScheduled = false;

  constructor(readonly stream: SourcingStream) {}

  get cfg(): StreamConfig {
    return this.stream.cfg;
  }

  static needed(cfg: StreamConfig): boolean {
    return cfg.mirror !== undefined || (cfg.sources !== undefined && cfg.sources.length > 0);
  }

  /** nats-server's stable consumer hash of this stream: "<stream> <account>[ <domain>]". */
  stableHash(): string {
    const domain = this.stream.jsa.service.options.domain;
    return shortHash(`${this.cfg.name} ${this.stream.jsa.account.name}${domain ? ` ${domain}` : ""}`);
  }

  /** The source consumer's hash: stable, unless the same origin is sourced more than once. */
  sourceHash(spec: StreamSourceJson, sources = this.cfg.sources): string {
    let id = this.stableHash();
    const same = (sources ?? []).filter((s) => s.name === spec.name).length;
    if (same > 1) id = `${id} ${sourceIndexName(spec)}`;
    return shortHash(id);
  }

  consumerMetadata(mirror: boolean): Record<string, string> {
    const k = mirror ? "_nats.mirror" : "_nats.src";
    const md: Record<string, string> = { [`${k}.stream`]: this.cfg.name, [`${k}.acc`]: this.stream.jsa.account.name };
    const domain = this.stream.jsa.service.options.domain;
    if (domain) md[`${k}.domain`] = domain;
    return md;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const cfg = this.cfg;
    if (cfg.mirror !== undefined) {
      this.mirrorLink = new SourceLink(this, true, cfg.mirror);
      this.mirrorLink.sseq = this.stream.store.state().lastSeq;
      this.mirrorLink.schedule(0, true);
    }
    this.addSources(cfg.sources ?? []);
    this.healthTimer = setInterval(() => this.checkHealth(), HEALTH_CHECK_MS);
    this.healthTimer.unref();
  }

  private addSources(specs: StreamSourceJson[]): void {
    const links = specs.map((s) => new SourceLink(this, false, s));
    this.startingSequences(links);
    for (const l of links) {
      this.sources.set(l.iname, l);
      l.schedule(l.sseq + 1, true);
    }
  }

  /** After a config update: promote a mirror, add and remove sources. */
  update(old: StreamConfig, next: StreamConfig): void {
    if (!this.started) return;
    if (old.mirror !== undefined && next.mirror === undefined) {
      this.mirrorLink?.deleteManagedConsumer();
      this.mirrorLink?.stop();
      this.mirrorLink = undefined;
      this.mirrorDirectReady = false;
    }
    const keep = new Set<string>();
    const added: StreamSourceJson[] = [];
    for (const s of next.sources ?? []) {
      const iname = sourceIndexName(s);
      keep.add(iname);
      const l = this.sources.get(iname);
      if (l === undefined) added.push(s);
      else l.renamed(l.managedConsumerName(old.sources));
    }
    for (const [iname, l] of this.sources) {
      if (!keep.has(iname)) {
        l.deleteManagedConsumer(old.sources);
        l.stop();
        this.sources.delete(iname);
        this.dirty = true;
      }
    }
    this.addSources(added);
  }

  /** Where each source left off: the newest Nats-Stream-Source header, or the saved state (source_positions.ts). */
  private startingSequences(links: SourceLink[]): void {
    if (links.length === 0) return;
    const positions = sourcePositions(this.stream.store, links.map((l) => l.iname));
    for (const l of links) {
      const p = positions.get(l.iname);
      if (p === undefined) continue;
      l.sseq = p.seq;
      l.ident = p.ident;
    }
  }

  markDirty(): void {
    this.dirty = true;
  }

  /**
   * A member of a replicated stream that does not lead it runs no sources: before a purge
   * removes the Nats-Stream-Source headers that tell how far each source got, it keeps those
   * positions in `sources.json`, so that it resumes from there if it leads later.
   */
  keepPositions(): void {
    if (this.started) return;
    const err = keepPositionsBeforePurge(this.stream.store, this.cfg.sources);
    if (err !== undefined) this.stream.jsa.service.log.warn(`JetStream stream '${this.cfg.name}': cannot save source positions: ${err.message}`);
  }

  /** Save where the sources are (on stop, after a purge of this stream, and every health check). */
  saveState(): void {
    if (!this.dirty || this.sources.size === 0) return;
    const positions = new Map<string, SourcePosition>([...this.sources.values()].map((l) => [l.iname, { seq: l.sseq, ident: l.ident }]));
    try {
      if (savePositions(this.stream.store, positions)) this.dirty = false;
    } catch (err) {
      this.stream.jsa.service.log.warn(`JetStream stream '${this.cfg.name}': cannot save source positions: ${(err as Error).message}`);
    }
  }

  /** Run `fn` once what was stored so far is durable as a PubAck needs it (store.whenDurable). */
  afterStored(fn: () => void): void {
    this.afterStoredQueue.push(fn);
    if (this.afterStoredScheduled) return;
    this.afterStoredScheduled = true;
    queueMicrotask(() => {
      this.afterStoredScheduled = false;
      const fns = this.afterStoredQueue;
      this.afterStoredQueue = [];
      const run = (): void => {
        for (const f of fns) f();
      };
      if (this.stream.closed) return;
      // A replicated stream: once the copies proposed so far are committed (on a quorum).
      const replica = this.stream.replica;
      if (replica !== undefined) {
        replica.whenApplied(run);
        return;
      }
      this.stream.store.flush();
      this.stream.store.whenDurable((err) => {
        if (err === null) run();
      });
    });
  }

  /** The source (index name) a copy came from, by its Nats-Stream-Source header. */
  sourceOf(hdr: Buffer | undefined): string | undefined {
    return sourceOfHeader(hdr);
  }

  /**
   * A replicated stream's leader could not take a copy it had held (stream_replica.ts): that
   * source asks its origin again from the copy's origin sequence. Returns the source's index name.
   */
  copyRefused(hdr: Buffer | undefined): string | undefined {
    const iname = this.sourceOf(hdr);
    const link = iname === undefined ? undefined : this.sources.get(iname);
    if (link === undefined) return iname;
    const seq = Number((getHeader(hdr, HDR_STREAM_SOURCE) ?? "").split(" ")[1]) || 0;
    if (seq > 0 && seq - 1 < link.sseq) link.sseq = seq - 1;
    link.retry(link.sseq + 1);
    return iname;
  }

  /** The stream called `name` in this account was deleted: its consumers went with it. */
  originDeleted(name: string): void {
    if (this.mirrorLink?.name === name && this.mirrorLink.spec.external === undefined) this.mirrorLink.retry(0);
    for (const l of this.sources.values()) if (l.name === name && l.spec.external === undefined) l.retry(l.sseq + 1);
  }

  /** A stream called `name` was just created in this account: links waiting for it start now. */
  originCreated(name: string): void {
    if (this.mirrorLink?.name === name && this.mirrorLink.spec.external === undefined) this.mirrorLink.originAppeared();
    for (const l of this.sources.values()) if (l.name === name && l.spec.external === undefined) l.originAppeared();
  }

  private checkHealth(): void {
    const now = Date.now();
    this.mirrorLink?.checkHealth(now);
    for (const l of this.sources.values()) l.checkHealth(now);
    this.saveState();
  }

  mirrorInfo(): Record<string, unknown> | undefined {
    return this.mirrorLink?.infoJson();
  }

  sourcesInfo(): Array<Record<string, unknown>> | undefined {
    if (this.cfg.sources === undefined || this.cfg.sources.length === 0) return undefined;
    return [...this.sources.values()].map((l) => l.infoJson());
  }

  /** Stop reading the origins; `deleted`: the stream is gone, so are the durables origins keep for it. */
  stop(save: boolean, deleted = false): void {
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    if (deleted) {
      this.mirrorLink?.deleteManagedConsumer();
      for (const l of this.sources.values()) l.deleteManagedConsumer();
    }
    this.mirrorLink?.stop();
    for (const l of this.sources.values()) l.stop();
    if (save) this.saveState();
    // Started again from the stream's own state (a replicated stream's new leader).
    this.mirrorLink = undefined;
    this.sources.clear();
    this.mirrorDirectReady = false;
    this.dirty = false;
    this.started = false;
  }
}
