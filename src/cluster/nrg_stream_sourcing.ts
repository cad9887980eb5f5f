// A mirror's or a source's reading of its origins while a tsnats member leads the stream's
// nats-server group (issue 12's moonshot, experimental: `nrg_peer_lead`). In a nats-server
// cluster only the stream's leader runs the sourcing (stream.go setLeader → setupMirrorConsumer
// / setupSourceConsumers; a follower cancels its consumers), so the member runs it while it
// leads, with the single server's links (stream_source.ts: the origin consumer, its create and
// retries, flow control, heartbeats, gaps, lag and health), over the stream it leads:
// - a mirror's copy is proposed at its origin's sequence and time, a gap as skips
//   (`NrgStreamLeader.proposeMirrored` / `proposeSkips`: nats-server's processInboundMirrorMsg
//   and skipMsgs); a source's copy as a sourced publish with its Nats-Stream-Source header,
//   checked as the leader checks a publish (`inboundSourced`: processClusteredInboundMsg);
// - where to start comes from the committed state, the store the group applied to when this
//   member's leadership began (a mirror's last sequence; a source's newest Nats-Stream-Source
//   header), so a leader elected mid-mirroring takes the sourcing on where the last one's
//   committed copies end; what it had in flight and lost is asked for again;
// - a flow-control reply is sent once what was proposed before it is applied here
//   (`whenApplied`; nats-server proposes the reply through the group and its leader answers
//   when it applies it);
// - a sourced copy the members refused at apply time (a store limit) makes its source ask its
//   origin again from there (`copyRefused`).
// STREAM.INFO's `mirror` and `sources` blocks come from these links (nrg_stream_leader_api.ts).
import type { Account } from "../server/account.js";
import { REQUEST_INFO_HEADER } from "../server/imports.js";
import { setHeader } from "../protocol/headers.js";
import { subjectMatches } from "../protocol/subject.js";
import { StreamSourcing, type SourcingStream } from "../jetstream/stream_source.js";
import type { StreamOp } from "../jetstream/stream.js";
import type { StreamConfig } from "../jetstream/stream_config.js";
import type { StreamStore } from "../storage/store.js";
import type { NrgStreamLeader } from "./nrg_stream_leader.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";

/** The stream a tsnats leader of a nats-server group fills from its origins, as the sourcing reads it. */
export class NrgSourcingStream implements SourcingStream {
  readonly sourcing: StreamSourcing;
  closed = false;
  readonly replica: { whenApplied(fn: () => void): void };
  readonly jsa: SourcingStream["jsa"];

  constructor(
    private readonly copy: NrgStreamReplica,
    private readonly leader: NrgStreamLeader,
    account: Account,
    log: { warn(msg: string): void },
    domain: string | undefined,
    /** This server's name and cluster, as the request info of its API requests names them. */
    private readonly where: { server: string; cluster: string },
  ) {
    this.replica = { whenApplied: (fn) => leader.whenApplied(fn) };
    this.jsa = { account, service: { log, options: { domain } } };
    this.sourcing = new StreamSourcing(this);
    leader.onSourcedRefused = (hdr) => {
      if (!this.closed) this.sourcing.copyRefused(hdr);
    };
  }

  /** Whether a stream's config reads origins (a mirror, or sources). */
  static needed(config: Record<string, unknown>): boolean {
    return StreamSourcing.needed(asStreamConfig(config));
  }

  get name(): string {
    return this.copy.stream.config.name;
  }

  private cfgFrom: Record<string, unknown> | undefined;
  private cfgAs: StreamConfig | undefined;
  /** nats-server's StreamConfig JSON: the mirror's and sources' fields are the ones stream_source.ts reads. */
  get cfg(): StreamConfig {
    const from = this.copy.stream.config;
    if (this.cfgFrom !== from || this.cfgAs === undefined) {
      this.cfgFrom = from;
      this.cfgAs = asStreamConfig(from);
    }
    return this.cfgAs;
  }

  get store(): StreamStore {
    return this.copy.store;
  }

  start(): void {
    this.sourcing.start();
  }

  /** A committed config update while leading: sources added or removed, a mirror promoted. */
  update(old: Record<string, unknown>, next: Record<string, unknown>): void {
    this.sourcing.update(asStreamConfig(old), asStreamConfig(next));
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.leader.onSourcedRefused = undefined;
    this.sourcing.stop(false);
  }

  /** A mirror's copy or skip, proposed (applied by every member, this one included, once committed). */
  applyStreamOp(op: StreamOp): number | boolean {
    if (op.op === "mirror_msg") {
      this.leader.proposeMirrored(op.subject, op.hdr, op.data, op.seq, op.time);
      return op.seq;
    }
    if (op.op === "skip_msgs") {
      if (op.num > 0) this.leader.proposeSkips(op.seq, op.num);
      return op.seq + op.num - 1;
    }
    throw new Error(`stream op ${op.op} is not proposed by the sourcing of a nats-server stream`);
  }

  processInbound(subject: string, _reply: string, hdr: Buffer | undefined, payload: Buffer, sourced?: boolean): void {
    if (sourced !== true) throw new Error("only sourced copies come through the sourcing");
    this.leader.inboundSourced(subject, hdr, payload);
  }

  mirrorCatchUp(delivered: number): void {
    this.leader.mirrorCatchUp(delivered);
  }

  /**
   * The consumer create (or delete) crosses into the system account, where nats-server serves the
   * API: its Nats-Request-Info names the stream's account, as nats-server's own account-internal
   * requests do (without it the request is taken as the system account's, which has no such stream).
   */
  apiHeaders(hdr: Buffer | undefined, subject: string): Buffer {
    // An external origin's API reached through another account's export (`external.api`): the
    // request is that account's, as nats-server's import chain names it (ClientInfo's svc).
    const account = this.jsa.account;
    const via = account.serviceImports.find((si) => subjectMatches(si.from, subject))?.exporter;
    const svc = via !== undefined && via !== account && !via.isSystem ? via.name : undefined;
    return setHeader(hdr, REQUEST_INFO_HEADER, JSON.stringify({ acc: account.name, ...(svc !== undefined ? { svc } : {}), server: this.where.server, cluster: this.where.cluster }));
  }

  /**
   * STREAM.INFO's `mirror` and `sources` blocks. A clustered nats-server's mirror names its
   * filter there too, once its consumer was asked for (setupMirrorConsumer sets it): the
   * leader's link asks at once.
   */
  infoJson(): { mirror?: Record<string, unknown>; sources?: Record<string, unknown>[] } {
    let mirror = this.sourcing.mirrorInfo();
    const filter = this.cfg.mirror?.filter_subject;
    if (mirror !== undefined && filter !== undefined && filter !== "") mirror = { ...mirror, filter_subject: filter };
    const sources = this.sourcing.sourcesInfo();
    return { ...(mirror !== undefined ? { mirror } : {}), ...(sources !== undefined ? { sources } : {}) };
  }
}

/** A nats-server StreamConfig JSON as stream_source.ts reads it (a null mirror or sources: none). */
function asStreamConfig(config: Record<string, unknown>): StreamConfig {
  const out = { ...config } as Record<string, unknown>;
  if (out.mirror === null) delete out.mirror;
  if (out.sources === null) delete out.sources;
  return out as unknown as StreamConfig;
}
