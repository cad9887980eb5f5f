// What a stream leader answers in a nats-server 2.15 cluster, for a tsnats member leading a stream
// group (`nrg_peer_lead`, nrg_stream_leader.ts). Every server takes `$JS.API.>` in the system
// account (the accounts import it), and for an assigned stream with a leader only that leader
// answers (jetstream_api.go jsStreamInfoRequest, jsStreamLeaderStepDownRequest): so the tsnats
// leader subscribes, while it leads, to
// - `$JS.API.STREAM.INFO.<stream>`: the stream info response (config with the server's dynamic
//   metadata, created, state, cluster with the leader and what it knows of each replica);
// - `$JS.API.STREAM.LEADER.STEPDOWN.<stream>`: success, then the leadership goes to the
//   preferred member (or another up-to-date one) with a LeaderTransfer, as StepDown(preferred);
// - `$JSC.SI.<account>.<stream>`: the bare StreamInfo the meta leader gathers for lists
//   (processClusterStreamInfoRequest; every member subscribes, the leader answers);
// - `$JS.API.STREAM.MSG.GET.<stream>`: a message by sequence, last or next by subject, or time,
//   read from its copy;
// - `$JS.API.STREAM.MSG.DELETE.<stream>` and `$JS.API.STREAM.PURGE.<stream>`: checked (sealed,
//   deny_delete / deny_purge, the request), proposed as nats-server's delete / purge entries (the
//   request's reply, subject and ClientInfo inside, a purge stamped with the last sequence) and
//   answered when applied (jsClusteredMsgDeleteRequest, jsClusteredStreamPurgeRequest).
// A request names its account in the Nats-Request-Info header (the service import's ClientInfo:
// `svc`, else `acc`); a request about another account's stream of the same name is not ours.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { nowNs, rfc3339 } from "../server/time.js";
import { getHeader } from "../protocol/headers.js";
import { jsError, ApiError } from "../jetstream/errors.js";
import { decodeRequest, MSG_DELETE_SHAPE, MSG_GET_SHAPE, PURGE_SHAPE, STREAM_INFO_SHAPE } from "../jetstream/json.js";
import { stepDownPlacement, type NrgStepDownPlacement } from "./nrg_stepdown_placement.js";
import { isEmptyRequest, isJsonObjectOrArray } from "../jetstream/api.js";
import { NrgEntryOp } from "../jetstream/nrg_entries.js";
import { parseRfc3339 } from "../server/time.js";
import { dynamicMetadata, HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "../jetstream/api_level.js";
import { streamLeaderElected } from "../jetstream/advisories.js";
import { LOST_QUORUM_MS, type NrgCampaign } from "./nrg_campaign.js";
import { desiredOf } from "./nrg_meta_desired.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";
import type { NrgSourcingStream } from "./nrg_stream_sourcing.js";

const HDR_REQUEST_INFO = "Nats-Request-Info";
/** nats-server's JSMaxSubjectDetails: at most this many subjects in one stream info answer. */
const MAX_SUBJECT_DETAILS = 100_000;

/** What the leader's answers need from the server. */
export interface NrgLeaderServer {
  sys: Account;
  account: Account;
  serverName: string;
  clusterName: string;
  /** This server's max_payload. */
  maxPayload: number;
  domain: string | undefined;
  /** A peer id's server name (the id itself when unknown). */
  nameOf(id: string): string;
  /**
   * Where a LEADER.STEPDOWN with this placement hands the leadership (nrg_stepdown_placement.ts):
   * a member's peer id, or undefined for any up-to-date one; throws the request's refusal.
   */
  stepDownTarget(placement: NrgStepDownPlacement | undefined): string | undefined;
  /** Hand the leadership over (StepDown with a preferred member). */
  stepDown(preferred: string | undefined): void;
  /** A stream entry of ours (false: not leading). */
  propose(data: Buffer): boolean;
  /** An entry for the meta group, forwarded to its leader (raft.go ForwardProposal: `$NRG.P._meta_`). */
  forwardMeta(entry: Buffer): void;
}

/** The account a request through `$JS.API` names in its Nats-Request-Info header (the ClientInfo's svc, else acc). */
export function requestAccount(hdr: Buffer | undefined): string | undefined {
  const text = getHeader(hdr, HDR_REQUEST_INFO);
  if (text === undefined) return undefined;
  try {
    const ci = JSON.parse(text) as { acc?: unknown; svc?: unknown };
    const acc = typeof ci.svc === "string" && ci.svc !== "" ? ci.svc : ci.acc;
    return typeof acc === "string" ? acc : undefined;
  } catch {
    return undefined;
  }
}

/** A group's replicas as nats-server's leader reports them (PeerInfo, the leader left out). */
export function nrgReplicas(campaign: NrgCampaign, peers: string[], nameOf: (id: string) => string): Record<string, unknown>[] {
  return campaign.followers(peers, LOST_QUORUM_MS).map((f) => ({
    name: nameOf(f.id),
    current: f.current,
    active: f.lastSeenMs === undefined ? 0 : f.lastSeenMs * 1_000_000,
    ...(f.lag > 0 ? { lag: f.lag } : {}),
    peer: f.id,
  }));
}

/** A group's ClusterInfo as its nats-server leader reports it (js.clusterInfo), this server leading. */
export function nrgClusterInfo(srv: NrgLeaderServer, campaign: NrgCampaign, group: string, peers: string[], desired: unknown = undefined): Record<string, unknown> {
  // An R1 asset runs without a RAFT group (NrgGroupMember.solo): nats-server names only its cluster and server.
  if (peers.length === 1 && desired === undefined) return { name: srv.clusterName, leader: srv.serverName };
  const cluster: Record<string, unknown> = {
    name: srv.clusterName,
    raft_group: group,
    leader: srv.serverName,
    ...(campaign.leaderSinceNs > 0n ? { leader_since: rfc3339(campaign.leaderSinceNs) } : {}),
    system_account: true,
    traffic_account: srv.sys.name,
  };
  const replicas = nrgReplicas(campaign, peers, srv.nameOf);
  if (replicas.length > 0) cluster.replicas = replicas;
  return cluster;
}

export class NrgLeaderApi {
  private subs: Subscription[] = [];
  /** A mirror's or sources' reading of its origins, for the info's `mirror` and `sources` blocks. */
  sourcing: NrgSourcingStream | undefined;

  constructor(
    private readonly srv: NrgLeaderServer,
    private readonly replica: NrgStreamReplica,
    private readonly campaign: NrgCampaign,
  ) {}

  private get name(): string {
    return this.replica.stream.config.name;
  }

  start(): void {
    const sys = this.srv.sys;
    const on = (subject: string, handler: (reply: string, hdr: Buffer | undefined, body: Buffer) => void): void => {
      this.subs.push(
        sys.subscribeInternal(
          subject,
          (_s, reply, hdr, payload) => {
            if (reply === "") return;
            handler(reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload));
          },
          undefined,
          "nrg-stream-leader-api",
        ),
      );
    };
    on(`$JS.API.STREAM.INFO.${this.name}`, (reply, hdr, body) => this.info(reply, hdr, body));
    on(`$JS.API.STREAM.LEADER.STEPDOWN.${this.name}`, (reply, hdr, body) => this.leaderStepDown(reply, hdr, body));
    on(`$JSC.SI.${this.replica.stream.account}.${this.name}`, (reply) => this.send(reply, this.streamInfo(false, {})));
    on(`$JS.API.STREAM.MSG.GET.${this.name}`, (reply, hdr, body) => this.msgGet(reply, hdr, body));
    on(`$JS.API.STREAM.MSG.DELETE.${this.name}`, (reply, hdr, body) => this.msgDelete(reply, hdr, body));
    on(`$JS.API.STREAM.PURGE.${this.name}`, (reply, hdr, body) => this.purge(reply, hdr, body));
    this.replica.onApiApplied = (op) => this.applied(op);
    streamLeaderElected({ account: this.srv.account, domain: this.srv.domain, serverName: this.srv.serverName }, this.name, this.srv.serverName, this.replicas());
  }

  stop(): void {
    for (const sub of this.subs) this.srv.sys.unsubscribeInternal(sub);
    this.subs = [];
    this.replica.onApiApplied = undefined;
  }

  /** A committed update of our stream: its requester gets the stream's info (processClusterUpdateStream's answer). */
  answerUpdate(reply: string): void {
    if (this.subs.length === 0) return;
    this.send(reply, { type: "io.nats.jetstream.api.v1.stream_update_response", ...this.streamInfo(true, {}) });
  }

  /** A new stream's first leader answers its create (processStreamLeaderChange). */
  answerCreate(reply: string): void {
    if (this.subs.length === 0) return;
    this.send(reply, { type: "io.nats.jetstream.api.v1.stream_create_response", ...this.streamInfo(true, {}), did_create: true });
  }

  /** The request's ClientInfo (Nats-Request-Info), as a delete or purge entry carries it. */
  private clientInfo(hdr: Buffer | undefined): Record<string, unknown> | undefined {
    try {
      return JSON.parse(getHeader(hdr, HDR_REQUEST_INFO) ?? "") as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  private msgGet(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.stream_msg_get_response";
    try {
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
      const req = decodeRequest<{ seq?: number; last_by_subj?: string; next_by_subj?: string; start_time?: string; batch?: number; max_bytes?: number; no_hdr?: boolean }>(body, MSG_GET_SHAPE, "JSApiMsgGetRequest", false);
      if (req === undefined) throw jsError("JSBadRequestErr");
      const seq = req.seq ?? 0;
      const last = req.last_by_subj ?? "";
      const next = req.next_by_subj ?? "";
      const time = req.start_time;
      // Batches are Direct Get's; seq, last_by_subj and start_time exclude each other.
      if ((req.batch ?? 0) > 0 || (req.max_bytes ?? 0) > 0 || (seq > 0 && last !== "") || (seq === 0 && last === "" && next === "" && time === undefined) || (seq > 0 && time !== undefined) || (time !== undefined && last !== "") || (last !== "" && next !== "")) {
        throw jsError("JSBadRequestErr");
      }
      const store = this.replica.store;
      const from = time !== undefined ? store.getSeqFromTime(parseRfc3339(time) ?? 0n) : seq;
      const m = last !== "" ? store.loadLastMsg(last) : next !== "" || time !== undefined ? store.loadNextMsg(next, Math.max(from, 1)) : store.loadMsg(seq);
      if (m === null) throw jsError("JSNoMessageFoundErr");
      const message: Record<string, unknown> = { subject: m.subject, seq: m.seq };
      if (req.no_hdr !== true && m.hdr !== undefined && m.hdr.length > 0) message.hdrs = m.hdr.toString("base64");
      if (m.data.length > 0) message.data = m.data.toString("base64");
      message.time = rfc3339(m.time);
      this.send(reply, { type, message });
    } catch (err) {
      this.error(reply, type, err);
    }
  }

  private msgDelete(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.stream_msg_delete_response";
    try {
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
      const req = decodeRequest<{ seq?: number; no_erase?: boolean }>(body, MSG_DELETE_SHAPE, "JSApiMsgDeleteRequest", false) ?? {};
      const cfg = this.replica.stream.config;
      if (cfg.sealed === true) throw jsError("JSStreamSealedErr");
      if (cfg.deny_delete === true) throw jsError("JSStreamMsgDeleteFailedF", { err: "message delete not permitted" });
      const md = { ...(this.clientInfo(hdr) !== undefined ? { client: this.clientInfo(hdr) } : {}), stream: this.name, seq: req.seq ?? 0, ...(req.no_erase === true ? { no_erase: true } : {}), subject: `$JS.API.STREAM.MSG.DELETE.${this.name}`, reply };
      if (!this.srv.propose(Buffer.concat([Buffer.from([NrgEntryOp.DeleteMsg]), Buffer.from(JSON.stringify(md))]))) throw jsError("JSClusterNotLeaderErr");
    } catch (err) {
      this.error(reply, type, err);
    }
  }

  private purge(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.stream_purge_response";
    try {
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      let request: { filter?: string; seq?: number; keep?: number } | undefined;
      if (isJsonObjectOrArray(body)) {
        request = decodeRequest<{ filter?: string; seq?: number; keep?: number }>(body, PURGE_SHAPE, "JSApiStreamPurgeRequest") ?? {};
        if ((request.seq ?? 0) > 0 && (request.keep ?? 0) > 0) throw jsError("JSBadRequestErr");
      }
      const cfg = this.replica.stream.config;
      if (cfg.sealed === true) throw jsError("JSStreamSealedErr");
      if (cfg.deny_purge === true) throw jsError("JSStreamPurgeFailedF", { err: "stream purge not permitted" });
      // Stamped with our last sequence: a replay never purges what came after.
      const sp = { ...(this.clientInfo(hdr) !== undefined ? { client: this.clientInfo(hdr) } : {}), stream: this.name, last_seq: this.replica.store.lastSequence(), subject: `$JS.API.STREAM.PURGE.${this.name}`, reply, ...(request !== undefined ? { request } : {}) };
      if (!this.srv.propose(Buffer.concat([Buffer.from([NrgEntryOp.PurgeStream]), Buffer.from(JSON.stringify(sp))]))) throw jsError("JSClusterNotLeaderErr");
    } catch (err) {
      this.error(reply, type, err);
    }
  }

  /** A delete or purge applied to our copy: its requester gets the answer. */
  private applied(op: { purge: Record<string, unknown>; purged: number } | { delete: Record<string, unknown>; removed: boolean }): void {
    if ("purge" in op) {
      const reply = op.purge.reply;
      if (typeof reply === "string" && reply !== "") this.send(reply, { type: "io.nats.jetstream.api.v1.stream_purge_response", success: true, purged: op.purged });
      return;
    }
    const reply = op.delete.reply;
    if (typeof reply !== "string" || reply === "") return;
    const type = "io.nats.jetstream.api.v1.stream_msg_delete_response";
    if (op.removed) {
      this.send(reply, { type, success: true });
      return;
    }
    // nats-server's file store fails outside the range it holds (past the end: EOF; before the
    // first message: not found); a gap inside it, and any miss of its memory store, is "not removed".
    const seq = typeof op.delete.seq === "number" ? op.delete.seq : 0;
    const st = this.replica.store.state();
    const file = this.replica.store.type === "file";
    if (file && seq > st.lastSeq) this.error(reply, type, jsError("JSStreamMsgDeleteFailedF", { err: "stream store EOF" }));
    else if (file && (seq === 0 || seq < st.firstSeq)) this.error(reply, type, jsError("JSStreamMsgDeleteFailedF", { err: "no message found" }));
    else this.error(reply, type, jsError("JSSequenceNotFoundErrF", { seq }));
  }

  /** The request is about our stream: its account (Nats-Request-Info's svc, else acc) is the stream's. */
  private ours(hdr: Buffer | undefined): boolean {
    return requestAccount(hdr) === this.replica.stream.account;
  }

  private send(reply: string, body: Record<string, unknown>): void {
    this.srv.sys.publish(reply, "", undefined, Buffer.from(JSON.stringify(body)));
  }

  private error(reply: string, type: string, err: unknown): void {
    const e = err instanceof ApiError ? err : jsError("JSInvalidJSONErr", { err: (err as Error).message });
    this.send(reply, { type, error: e.toJSON() });
  }

  private info(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = getHeader(hdr, "Nats-Response-Type") === "io.nats.jetstream.api.v1.stream_create_response" ? "io.nats.jetstream.api.v1.stream_create_response" : "io.nats.jetstream.api.v1.stream_info_response";
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
      this.error(reply, type, jsError("JSRequiredApiLevelErr"));
      return;
    }
    let req: { deleted_details?: boolean; subjects_filter?: string; offset?: number } = {};
    try {
      if (isJsonObjectOrArray(body)) req = decodeRequest(body, STREAM_INFO_SHAPE, "JSApiStreamInfoRequest") ?? {};
    } catch (err) {
      this.error(reply, type, err);
      return;
    }
    const paged = { total: 0, offset: 0, limit: 0 };
    const info = this.streamInfo(true, req, paged);
    this.send(reply, { type, ...paged, ...info });
  }

  private leaderStepDown(reply: string, hdr: Buffer | undefined, body: Buffer): void {
    if (!this.ours(hdr)) return;
    const type = "io.nats.jetstream.api.v1.stream_leader_stepdown_response";
    if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
      this.error(reply, type, jsError("JSRequiredApiLevelErr"));
      return;
    }
    let preferred: string | undefined;
    try {
      preferred = this.srv.stepDownTarget(stepDownPlacement(body));
    } catch (err) {
      this.error(reply, type, err);
      return;
    }
    this.send(reply, { type, success: true });
    this.srv.stepDown(preferred);
  }

  private replicas(): Record<string, unknown>[] {
    return nrgReplicas(this.campaign, this.replica.stream.group.peers, this.srv.nameOf);
  }

  /** StreamInfo as nats-server's leader builds it; `dynamic`: the config with the server's version metadata (a single stream's answer). */
  private streamInfo(dynamic: boolean, req: { deleted_details?: boolean; subjects_filter?: string; offset?: number }, paged?: { total: number; offset: number; limit: number }): Record<string, unknown> {
    const s = this.replica.stream;
    const config = dynamic ? { ...s.config, metadata: dynamicMetadata(s.config.metadata as Record<string, string> | undefined) } : s.config;
    const st = this.replica.store.state(req.deleted_details === true);
    const state: Record<string, unknown> = { messages: st.msgs, bytes: st.bytes, first_seq: st.firstSeq, first_ts: rfc3339(st.firstTime), last_seq: st.lastSeq, last_ts: rfc3339(st.lastTime) };
    if (st.numSubjects > 0) state.num_subjects = st.numSubjects;
    if (req.subjects_filter !== undefined && req.subjects_filter !== "" && paged !== undefined) {
      const totals = [...this.replica.store.subjectsTotals(req.subjects_filter).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (totals.length > 0) {
        const offset = Math.min(Math.max(req.offset ?? 0, 0), totals.length);
        paged.total = totals.length;
        paged.offset = Math.max(req.offset ?? 0, 0);
        paged.limit = MAX_SUBJECT_DETAILS;
        const page = totals.slice(offset, offset + MAX_SUBJECT_DETAILS);
        if (page.length > 0) state.subjects = Object.fromEntries(page);
      }
    }
    if (st.numDeleted > 0) state.num_deleted = st.numDeleted;
    if (req.deleted_details === true && st.deleted !== undefined && st.deleted.length > 0) state.deleted = st.deleted;
    state.consumer_count = s.consumers.size;
    const cluster = nrgClusterInfo(this.srv, this.campaign, s.group.name, s.group.peers, desiredOf(s.group));
    return {
      config,
      created: s.created,
      state,
      ...(this.srv.domain !== undefined && this.srv.domain !== "" ? { domain: this.srv.domain } : {}),
      cluster,
      ...this.sourcing?.infoJson(),
      ts: rfc3339(nowNs()),
    };
  }
}
