// Direct consumers of a nats-server stream a tsnats member leads (issue 12's moonshot,
// experimental: `cluster { nrg_peer_lead: true }`). A nats-server mirror's or source's leader
// reads its origin through a consumer it creates on the origin's leader itself, not through the
// meta group: a CONSUMER.CREATE with `direct` (and, from 2.14, `sourcing`) that only the origin's
// leader answers (jetstream_api.go jsConsumerCreateRequest; on a work-queue or interest origin a
// sourcing create goes to the meta leader instead, as a replicated durable). The consumer belongs
// to no RAFT group: a push consumer without acks, with flow control and idle heartbeats, kept in
// the leader's memory. Here it is the consumer leader's half (nrg_consumer_leader.ts) without a
// group, delivering from this server's copy of the stream; the request is read with the single
// server's checks (consumer_create.ts createRequestConfig, sourcingConsumer: a stable name gets a
// fresh suffix, the origin's identity is checked and sent back; consumer_config.ts defaults).
// As on nats-server, a Direct consumer outlives its server's leadership (the copy keeps reading
// from a follower's store) and goes when idle past its inactive_threshold, or with the stream.
import type { Subscription } from "../server/sublist.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";
import { getHeader } from "../protocol/headers.js";
import { ApiError, jsError } from "../jetstream/errors.js";
import { CONSUMER_CREATE_SHAPE, decodeRequest } from "../jetstream/json.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet, staticMetadata } from "../jetstream/api_level.js";
import { consumerRequiredLevel, normalizeConsumerConfig, type ConsumerConfig } from "../jetstream/consumer_config.js";
import { createRequestConfig, randomConsumerName, sourcingConsumer } from "../jetstream/consumer_create.js";
import type { StreamConfig } from "../jetstream/stream_config.js";
import { streamIdentity } from "../jetstream/stream_source.js";
import { NrgConsumerLeader } from "./nrg_consumer_leader.js";
import { NrgConsumerReplica } from "./nrg_consumer_replica.js";
import type { NrgMetaConsumer } from "./nrg_meta_state.js";
import { requestAccount, type NrgLeaderServer } from "./nrg_stream_leader_api.js";
import type { NrgStreamReplica } from "./nrg_stream_peer.js";

const CREATE_RESPONSE = "io.nats.jetstream.api.v1.consumer_create_response";

export class NrgDirectConsumers {
  private readonly running = new Map<string, NrgConsumerLeader>();
  private subs: Subscription[] = [];
  private srv: NrgLeaderServer | undefined;
  counters = { created: 0, refused: 0, removed: 0 };

  constructor(
    private readonly replica: NrgStreamReplica,
    private readonly log: (msg: string) => void,
  ) {}

  /** Leading the stream: its Direct creates are answered here (nats-server's origin leader alone answers them). */
  lead(srv: NrgLeaderServer): void {
    this.follow();
    // What a Direct consumer needs of the server: no group to propose to, to step down from, or to forward to.
    this.srv = { ...srv, propose: () => true, stepDown: () => undefined, forwardMeta: () => undefined };
    const name = this.replica.stream.config.name;
    for (const subject of [`$JS.API.CONSUMER.CREATE.${name}`, `$JS.API.CONSUMER.CREATE.${name}.>`]) {
      this.subs.push(
        srv.sys.subscribeInternal(
          subject,
          (s, reply, hdr, payload) => {
            if (reply !== "") this.createRequest(s, reply, hdr === undefined ? undefined : Buffer.from(hdr), Buffer.from(payload));
          },
          undefined,
          "nrg-direct-consumer",
        ),
      );
    }
  }

  /** Not leading any more: creates are the new leader's; the consumers running here go on until idle (nats-server's do too). */
  follow(): void {
    for (const sub of this.subs) this.srv?.sys.unsubscribeInternal(sub);
    this.subs = [];
  }

  /** The stream's group stops here: its Direct consumers with it. */
  close(): void {
    this.follow();
    for (const c of this.running.values()) c.stop();
    this.running.clear();
  }

  /**
   * A CONSUMER.CREATE for this stream (`$JS.API.CONSUMER.CREATE.<stream>[.<name>[.<filter>]]`),
   * in the order of nats-server's checks. Not Direct, or a sourcing create on a work-queue or
   * interest origin: the meta leader's business, not answered here.
   */
  private createRequest(subject: string, reply: string, hdr: Buffer | undefined, body: Buffer): void {
    const srv = this.srv;
    const stream = this.replica.stream;
    if (srv === undefined || requestAccount(hdr) !== stream.account) return;
    let req: { stream_name?: string; config?: Partial<ConsumerConfig> | null; action?: string };
    try {
      req = decodeRequest<typeof req>(body, CONSUMER_CREATE_SHAPE, "CreateConsumerRequest") ?? {};
    } catch {
      // Every nats-server member answers a request that does not decode.
      return;
    }
    const direct = req.config?.direct === true;
    const limits = stream.config.retention === undefined || stream.config.retention === "limits";
    if (!direct || (req.config?.sourcing === true && !limits)) return;
    let responseHdr: Buffer | undefined;
    let info: Record<string, unknown>;
    try {
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
      const t = subject.split(".");
      const { raw, name: asked } = createRequestConfig(req, t[4], t[5], t.length > 6 ? t.slice(6).join(".") : undefined, false);
      // A Direct consumer is the leader's alone (nats-server answers as a single server would).
      if ((raw.num_replicas ?? 0) > 1) throw jsError("JSStreamReplicasNotSupportedErr");
      // The stream's config as nats-server's JSON: the fields the consumer checks read are the same.
      const origin = stream.config as unknown as StreamConfig;
      const sourcing = sourcingConsumer(raw, asked, origin, streamIdentity(parseRfc3339(stream.created) ?? 0n), hdr);
      responseHdr = sourcing.responseHdr;
      raw.metadata = staticMetadata(raw.metadata ?? undefined, consumerRequiredLevel({ ...raw } as ConsumerConfig));
      const cfg = normalizeConsumerConfig(raw, origin, { maxAckPending: 0 }, false);
      info = this.start(sourcing.name !== "" ? sourcing.name : randomConsumerName(), cfg);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.counters.refused++;
      srv.sys.publish(reply, "", undefined, Buffer.from(JSON.stringify({ type: CREATE_RESPONSE, error: err.toJSON() })));
      return;
    }
    srv.sys.publish(reply, "", responseHdr, Buffer.from(JSON.stringify({ type: CREATE_RESPONSE, ...info })));
  }

  /** Start delivering (a consumer of that name already here is replaced); its info as just created. */
  private start(name: string, cfg: ConsumerConfig): Record<string, unknown> {
    const srv = this.srv as NrgLeaderServer;
    this.running.get(name)?.stop();
    const consumer: NrgMetaConsumer = {
      name,
      stream: this.replica.stream.config.name,
      created: rfc3339(nowNs()),
      config: cfg as unknown as Record<string, unknown>,
      group: { name: "", peers: [], store: "memory" },
    };
    const leader = new NrgConsumerLeader(srv, this.replica, new NrgConsumerReplica(() => consumer), undefined, () => ({ stream: this.replica.stream, consumer }), name);
    leader.onInactive = () =>
      setImmediate(() => {
        if (this.running.get(name) !== leader) return;
        leader.stop();
        this.running.delete(name);
        this.counters.removed++;
        this.log(`NRG peer: Direct consumer '${this.replica.stream.account} > ${consumer.stream} > ${name}' removed, inactive`);
      });
    this.running.set(name, leader);
    this.counters.created++;
    // Its info before the first delivery (start only schedules it).
    leader.start();
    return leader.info();
  }

  json(): Record<string, unknown> {
    return { counters: { ...this.counters }, consumers: Object.fromEntries([...this.running].map(([name, c]) => [name, c.json()])) };
  }
}
