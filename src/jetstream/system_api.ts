// The JetStream API as the system account sees it. The system account has no JetStream of its
// own, but it is where nats-server serves the cluster's administrative requests:
// `$JS.API.META.LEADER.STEPDOWN`, `$JS.API.SERVER.REMOVE|EVACUATE` and `$JS.API.ACCOUNT.PURGE.<account>`
// are answered by the meta leader (a purge also outside a cluster) for system account users only
// (from any other account nobody answers them). Any other request
// of the system account is answered "JetStream not enabled for account" (10039): `$JS.API.INFO`
// by the meta leader (or by this server outside a cluster), the rest by the server the client is
// connected to, as nats-server 2.15 answers.
import fs from "node:fs";
import path from "node:path";
import type { Account } from "../server/account.js";
import type { Log } from "../server/log.js";
import type { Subscription } from "../server/sublist.js";
import { getHeader } from "../protocol/headers.js";
import { REQUEST_INFO_HEADER } from "../server/imports.js";
import { errorResponse } from "./api.js";
import * as adv from "./advisories.js";
import { HDR_REQUIRED_API_LEVEL, requiredLevelUnmet } from "./api_level.js";
import type { JsCluster } from "./cluster.js";
import { ApiError, jsError } from "./errors.js";
import type { JsAccount } from "./jetstream.js";

const PREFIX = "$JS.API.";
const SYSTEM_RESPONSE = "io.nats.jetstream.api.v1.system_response";
/** The meta leader's system requests and their answers' types. */
const SYSTEM_TYPES: Record<string, string> = {
  "META.LEADER.STEPDOWN": "meta_leader_stepdown_response",
  "SERVER.REMOVE": "meta_server_remove_response",
  "SERVER.EVACUATE": "meta_server_evacuate_response",
};
/**
 * Answers to an account's request that came in through the system account go to this prefix
 * plus the system account reply, in the account; each server forwards its own to the system account.
 */
const SYSTEM_REPLY_PREFIX = "$JSC.SYSR.";

export class SystemJsApi {
  private subs: Subscription[] = [];
  /** The accounts whose answers this server forwards to the system account (mixed mode). */
  private readonly forwarders = new Map<JsAccount, Subscription>();

  constructor(
    private readonly sys: Account,
    private readonly cluster: JsCluster | undefined,
    /** The JetStream of an account, by name (requests of accounts relayed by servers without JetStream). */
    private readonly accountOf: (name: string) => JsAccount | undefined = () => undefined,
    /** The JetStream store directory (account purges remove `<storeDir>/<account>`). */
    private readonly storeDir = "",
    private readonly log?: Log,
  ) {}

  install(): void {
    // Stream moves are the meta leader's, in a cluster only (as nats-server subscribes them).
    const areas = ["INFO", "META.>", "SERVER.>", "STREAM.>", "CONSUMER.>", "DIRECT.>", "ACCOUNT.PURGE.*"];
    if (this.cluster !== undefined) areas.push("ACCOUNT.STREAM.MOVE.*.*", "ACCOUNT.STREAM.CANCEL_MOVE.*.*");
    for (const area of areas) {
      this.subs.push(
        this.sys.subscribeInternal(
          PREFIX + area,
          (subject, reply, hdr, payload, origin) => {
            if (reply === "") return;
            const rest = subject.substring(PREFIX.length);
            const body = Buffer.from(payload);
            const h = hdr !== undefined ? Buffer.from(hdr) : undefined;
            // Answered after the publisher's turn, as the accounts' API is.
            queueMicrotask(() => {
              if (!this.relayedForAccount(rest, reply, body, h)) this.handle(rest, reply, body, h, origin !== undefined);
            });
          },
          undefined,
          "jetstream-system-api",
        ),
      );
    }
  }

  uninstall(): void {
    for (const sub of this.subs) this.sys.unsubscribeInternal(sub);
    this.subs = [];
    for (const [jsa, sub] of this.forwarders) jsa.account.unsubscribeInternal(sub);
    this.forwarders.clear();
  }

  /**
   * Mixed mode: a server without JetStream hands its clients' requests to the system account,
   * naming the account in Nats-Request-Info (nats-server's import of `$JS.API.>`). Served as the
   * account's own request (the cluster decides who answers), the answer going back through the
   * system account. False when the request is the system account's own.
   */
  private relayedForAccount(rest: string, reply: string, body: Buffer, hdr: Buffer | undefined): boolean {
    const raw = getHeader(hdr, REQUEST_INFO_HEADER);
    if (raw === undefined) return false;
    let name: unknown;
    try {
      const info = JSON.parse(raw) as { acc?: unknown; svc?: unknown };
      name = info.svc ?? info.acc;
    } catch {
      return false;
    }
    if (typeof name !== "string" || name === this.sys.name) return false;
    const jsa = this.accountOf(name);
    // An account without JetStream here: the system account's answer (not enabled) stands.
    if (jsa === undefined) return false;
    if (!this.forwarders.has(jsa)) {
      const sub = jsa.account.subscribeInternal(
        `${SYSTEM_REPLY_PREFIX}>`,
        (subject, _r, h, payload) => {
          this.sys.publish(subject.substring(SYSTEM_REPLY_PREFIX.length), "", h !== undefined ? Buffer.from(h) : undefined, Buffer.from(payload));
        },
        undefined,
        "jetstream-system-reply",
        true,
      );
      this.forwarders.set(jsa, sub);
    }
    jsa.executeApi(rest, SYSTEM_REPLY_PREFIX + reply, body, hdr, true);
    return true;
  }

  private handle(rest: string, reply: string, body: Buffer, hdr: Buffer | undefined, fromLocalClient: boolean): void {
    const cluster = this.cluster;
    if (rest === "META.LEADER.STEPDOWN" || rest === "SERVER.REMOVE" || rest === "SERVER.EVACUATE") {
      // Outside a cluster (or off the meta leader) nobody here answers.
      if (cluster === undefined || !cluster.isLeader) return;
      let out: string | undefined;
      try {
        if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) throw jsError("JSRequiredApiLevelErr");
        const r =
          rest === "SERVER.REMOVE" ? cluster.serverRemove(body, (answer) => this.answer(reply, answer)) : rest === "SERVER.EVACUATE" ? cluster.serverEvacuate(body) : cluster.metaStepDown(body);
        if (r !== undefined) out = JSON.stringify({ type: `io.nats.jetstream.api.v1.${SYSTEM_TYPES[rest]}`, ...r });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        out = errorResponse(rest, err);
      }
      if (out !== undefined) this.answer(reply, out);
      return;
    }
    if (rest === "META.RESCUE") {
      // Every server of the cluster answers for itself (outside a cluster nobody does).
      if (cluster === undefined) return;
      const r = cluster.metaRescue(body, requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL)));
      if (r.advisory !== undefined) adv.metaRescue({ account: this.sys, domain: cluster.domain, serverName: r.advisory.server }, r.advisory);
      this.answer(reply, JSON.stringify({ type: "io.nats.jetstream.api.v1.meta_rescue_response", ...r.answer }));
      return;
    }
    if (rest.startsWith("ACCOUNT.PURGE.")) {
      this.purgeAccount(rest.substring("ACCOUNT.PURGE.".length), reply, hdr);
      return;
    }
    if (rest.startsWith("ACCOUNT.STREAM.")) {
      // ACCOUNT.STREAM.MOVE|CANCEL_MOVE.<account>.<stream>: answered by the stream's leader once committed.
      if (cluster === undefined || !cluster.isLeader) return;
      const t = rest.split(".");
      const cancel = t[2] === "CANCEL_MOVE";
      try {
        if (cancel) cluster.cancelMove(t[3], t[4], reply, "io.nats.jetstream.api.v1.stream_cancel_move_response", true);
        else cluster.systemMove(t[3], t[4], body, reply);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        this.answer(reply, JSON.stringify({ type: `io.nats.jetstream.api.v1.${cancel ? "stream_cancel_move_response" : "stream_update_response"}`, error: err.toJSON() }));
      }
      return;
    }
    if (rest === "INFO") {
      if (cluster !== undefined) {
        if (cluster.leader === "") {
          if (fromLocalClient) this.answer(reply, errorResponse(rest, jsError("JSClusterNotAvailErr")));
          return;
        }
        if (!cluster.isLeader) return;
      }
      this.answer(reply, JSON.stringify({ type: "io.nats.jetstream.api.v1.account_info_response", error: jsError("JSNotEnabledForAccountErr").toJSON() }));
      return;
    }
    if (!fromLocalClient) return;
    this.answer(reply, JSON.stringify({ type: SYSTEM_RESPONSE, error: jsError("JSNotEnabledForAccountErr").toJSON() }));
  }

  /**
   * ACCOUNT.PURGE.<account>: all of the account's JetStream goes, for good. Outside a cluster
   * this server deletes the streams and the account's store directory; in a cluster the meta
   * leader deletes them through the meta log. Answered `initiated` either way, as nats-server.
   */
  private purgeAccount(name: string, reply: string, hdr: Buffer | undefined): void {
    const type = "io.nats.jetstream.api.v1.account_purge_response";
    // A name that is a path step would remove another directory than the account's.
    if (/[\\/]/.test(name) || name === "." || name === "..") {
      this.answer(reply, JSON.stringify({ type, error: jsError("JSStreamGeneralErrorF", { err: "account name can not contain path separators" }).toJSON() }));
      return;
    }
    const cluster = this.cluster;
    if (cluster !== undefined) {
      if (!cluster.isLeader) return;
      if (requiredLevelUnmet(getHeader(hdr, HDR_REQUIRED_API_LEVEL))) {
        this.answer(reply, JSON.stringify({ type, error: jsError("JSRequiredApiLevelErr").toJSON() }));
        return;
      }
      try {
        cluster.purgeAccount(name);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        this.answer(reply, JSON.stringify({ type, error: err.toJSON() }));
        return;
      }
      this.answer(reply, JSON.stringify({ type, initiated: true }));
      return;
    }
    const jsa = this.accountOf(name);
    const streams = jsa !== undefined ? [...jsa.streams.keys()] : [];
    this.log?.info(`Purge request for account ${name} (streams: ${streams.length}, hasAccount: ${jsa !== undefined})`);
    try {
      for (const s of streams) jsa?.deleteStream(s);
      if (this.storeDir !== "") fs.rmSync(path.join(this.storeDir, name), { recursive: true, force: true });
    } catch (err) {
      const e = err instanceof ApiError ? err : jsError("JSStreamGeneralErrorF", { err: (err as Error).message });
      this.answer(reply, JSON.stringify({ type, error: e.toJSON() }));
      return;
    }
    this.answer(reply, JSON.stringify({ type, initiated: true }));
  }

  private answer(reply: string, json: string): void {
    this.sys.publish(reply, "", undefined, Buffer.from(json));
  }
}
