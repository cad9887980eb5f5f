// $JS.API.INFO (account info): the account's usage, limits and API counters. On one server the
// usage is what this server holds; in a cluster the meta leader answers with the whole
// account's usage, as nats-server 2.15: streams (from the meta group's assignments) and their
// consumers, and the bytes of every replica on every server (an R3 stream's bytes count three
// times). The meta leader asks each server holding a stream of the account what it holds
// (`$JSC.USAGE`, a system account message every server answers for itself).
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { JS_API_LEVEL } from "./api_level.js";
import type { JetStreamService, JsAccount } from "./jetstream.js";

export type AccountUsage = ReturnType<JsAccount["usage"]>;

/** The zero limits nats-server shows at the top of a tiered account's info. */
const NO_LIMITS = {
  max_memory: 0,
  max_storage: 0,
  max_streams: 0,
  max_consumers: 0,
  max_ack_pending: 0,
  memory_max_stream_bytes: 0,
  storage_max_stream_bytes: 0,
  max_bytes_required: false,
};

/** The account info answer (without `type`), with the usage of the account ("") or of one tier from `usageOf`. */
export function accountInfoJson(jsa: JsAccount, usageOf: (tier: string) => AccountUsage): Record<string, unknown> {
  const u = usageOf("");
  const domain = jsa.service.options.domain;
  const flat = jsa.limits.get("");
  const out: Record<string, unknown> = {
    memory: u.memory,
    storage: u.storage,
    reserved_memory: u.reservedMemory,
    reserved_storage: u.reservedStorage,
    streams: u.streams,
    consumers: u.consumers,
    // Tiered accounts (operator mode) have their limits per tier, none at the top.
    limits: flat !== undefined ? { ...flat } : { ...NO_LIMITS },
    ...(domain ? { domain } : {}),
    api: { level: JS_API_LEVEL, total: jsa.apiTotal, errors: jsa.apiErrors },
  };
  if (flat === undefined) {
    const tiers: Record<string, unknown> = {};
    for (const [tier, limits] of jsa.limits) {
      const t = usageOf(tier);
      tiers[tier] = {
        memory: t.memory,
        storage: t.storage,
        reserved_memory: t.reservedMemory,
        reserved_storage: t.reservedStorage,
        streams: t.streams,
        consumers: t.consumers,
        limits: { ...limits },
      };
    }
    out.tiers = tiers;
  }
  return out;
}

/** What one server holds of one stream of the account. */
interface HeldStream {
  bytes: number;
  memory: boolean;
  maxBytes: number;
  replicas: number;
  /** Its consumers held here, by name, with their replicas (an R1 consumer of an R3 stream is in tier R1). */
  consumers: Record<string, number>;
}

/** A server's answer on `$JSC.USAGE`. */
interface ServerUsage {
  server: string;
  account: string;
  streams: Record<string, HeldStream>;
}

/** A stream of the account as the meta group assigned it: its servers and its last config (base64). */
export interface AssignedStream {
  name: string;
  peers: string[];
  config?: string;
}

const USAGE_SUBJECT = "$JSC.USAGE";
/** How often a server looks whether what it holds of an account with storage limits changed, and tells the others. */
const USAGE_PUSH_MS = 250;
/** A report unchanged this long is sent again (a server that started meanwhile has it). */
const USAGE_REPUSH_MS = 5000;
/** The answers go to `<prefix>.<asking server>.<id>`, which every server hears. */
const REPORTS_PREFIX = "$JSC.U";

function parseReport(payload: Uint8Array): ServerUsage | undefined {
  try {
    const r = JSON.parse(Buffer.from(payload).toString()) as ServerUsage;
    if (typeof r.server === "string" && typeof r.account === "string" && typeof r.streams === "object" && r.streams !== null) return r;
  } catch {
    // not a report
  }
  return undefined;
}

function tierOf(replicas: number): string {
  return `R${Math.max(1, replicas)}`;
}

/** Usage gathering over the system account: every server answers, the meta leader asks. */
export class ClusterUsage {
  private sub: Subscription | undefined;
  private reportsSub: Subscription | undefined;
  /**
   * The last report of each server, by account: a server that is down still counts with what
   * it held when last heard from (as nats-server keeps the usage its peers last sent). Every
   * server hears every report, so a new meta leader has them too.
   */
  private readonly lastReports = new Map<string, Map<string, ServerUsage>>();

  constructor(
    private readonly service: JetStreamService,
    private readonly self: string,
  ) {}

  /** The last report this server pushed of each account, and when. */
  private readonly pushed = new Map<string, { report: string; at: number }>();
  private pushTimer: NodeJS.Timeout | undefined;

  start(sys: Account): void {
    this.sub = sys.subscribeInternal(
      USAGE_SUBJECT,
      (_s, reply, _h, payload) => {
        if (reply === "") return;
        let account: unknown;
        try {
          account = (JSON.parse(Buffer.from(payload).toString()) as { account?: unknown }).account;
        } catch {
          return;
        }
        if (typeof account !== "string") return;
        sys.publish(reply, "", undefined, Buffer.from(JSON.stringify(this.held(account))));
      },
      undefined,
      "jetstream-cluster-usage",
    );
    this.reportsSub = sys.subscribeInternal(
      `${REPORTS_PREFIX}.>`,
      (_s, _r, _h, payload) => {
        const r = parseReport(payload);
        if (r === undefined) return;
        let last = this.lastReports.get(r.account);
        if (last === undefined) this.lastReports.set(r.account, (last = new Map()));
        last.set(r.server, r);
      },
      undefined,
      "jetstream-cluster-usage-reports",
    );
    this.pushTimer = setInterval(() => this.pushChanged(sys), USAGE_PUSH_MS);
    this.pushTimer.unref();
  }

  /**
   * Tell the other servers what this one holds of each account with storage limits, when it
   * changed (as nats-server's servers exchange their accounts' usage): a publish on any server
   * counts the account's bytes on every server against its limits (`remoteBytes`).
   */
  private pushChanged(sys: Account): void {
    const now = Date.now();
    for (const jsa of this.service.accounts.values()) {
      if (!jsa.accountStorageLimited) continue;
      const name = jsa.account.name;
      const report = JSON.stringify(this.held(name));
      const last = this.pushed.get(name);
      if (last !== undefined && last.report === report && now - last.at < USAGE_REPUSH_MS) continue;
      this.pushed.set(name, { report, at: now });
      sys.publish(`${REPORTS_PREFIX}.${this.self}.push`, "", undefined, Buffer.from(report));
    }
  }

  /** The bytes the other servers last reported holding of `account`'s streams in `tier` ("" = all), memory or file. */
  remoteBytes(account: string, tier: string, memory: boolean): number {
    let n = 0;
    for (const [server, r] of this.lastReports.get(account) ?? []) {
      if (server === this.self) continue;
      for (const h of Object.values(r.streams)) if (h.memory === memory && (tier === "" || tierOf(h.replicas) === tier)) n += h.bytes;
    }
    return n;
  }

  stop(sys: Account | undefined): void {
    if (this.sub !== undefined) sys?.unsubscribeInternal(this.sub);
    if (this.reportsSub !== undefined) sys?.unsubscribeInternal(this.reportsSub);
    this.sub = undefined;
    this.reportsSub = undefined;
    if (this.pushTimer !== undefined) clearInterval(this.pushTimer);
    this.pushTimer = undefined;
  }

  /** What this server holds of `account`'s streams. */
  private held(account: string): ServerUsage {
    const streams: Record<string, HeldStream> = {};
    const jsa = this.service.accounts.get(account);
    for (const s of jsa?.streams.values() ?? []) {
      const consumers: Record<string, number> = {};
      for (const c of s.consumers.values()) {
        if (c.cfg.direct === true) continue;
        consumers[c.name] = c.cfg.num_replicas > 0 ? c.cfg.num_replicas : s.cfg.num_replicas;
      }
      streams[s.name] = { bytes: s.state().bytes, memory: s.cfg.storage === "memory", maxBytes: s.cfg.max_bytes, replicas: s.cfg.num_replicas, consumers };
    }
    return { server: this.self, account, streams };
  }

  /**
   * Ask `servers` (self included) what they hold of `jsa`'s streams, then call `done` with the
   * usage of the account's `assigned` streams (by tier). A server that does not answer within
   * `waitMs` (or is not asked: not connected) counts with its last report, if any, for the
   * streams still assigned to it; its streams count anyway, with their configs as assigned.
   */
  gather(sys: Account, jsa: JsAccount, assigned: AssignedStream[], servers: string[], waitMs: number, done: (usageOf: (tier: string) => AccountUsage) => void): void {
    const inbox = `${REPORTS_PREFIX}.${this.self}.${Math.random().toString(36).slice(2)}`;
    const reports = new Map<string, ServerUsage>();
    const expected = new Set(servers);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sys.unsubscribeInternal(sub);
      const last = this.lastReports.get(jsa.account.name) ?? new Map<string, ServerUsage>();
      const holders = new Set(assigned.flatMap((sa) => sa.peers));
      for (const server of last.keys()) if (!holders.has(server)) last.delete(server);
      const stale: ServerUsage[] = [];
      for (const [server, r] of last) if (!reports.has(server)) stale.push(staleReport(r, assigned));
      done((tier) => combine(assigned, [...reports.values(), ...stale], tier));
    };
    const sub = sys.subscribeInternal(
      inbox,
      (_s, _r, _h, payload) => {
        const r = parseReport(payload);
        if (r === undefined) return;
        reports.set(r.server, r);
        if ([...expected].every((s) => reports.has(s))) queueMicrotask(finish);
      },
      undefined,
      "jetstream-cluster-usage-gather",
    );
    const timer = setTimeout(finish, waitMs);
    timer.unref();
    sys.publish(USAGE_SUBJECT, inbox, undefined, Buffer.from(JSON.stringify({ account: jsa.account.name })));
  }
}

/** The usage of the assigned streams in `tier` ("" = all), from what the servers reported holding. */
function combine(assigned: AssignedStream[], reports: ServerUsage[], tier: string): AccountUsage {
  const u: AccountUsage = { memory: 0, storage: 0, reservedMemory: 0, reservedStorage: 0, streams: 0, consumers: 0 };
  for (const sa of assigned) {
    const held = reports.map((r) => r.streams[sa.name]).filter((h): h is HeldStream => h !== undefined);
    const cfg = held[0] ?? fromConfig(sa);
    const consumers = new Map<string, number>();
    for (const h of held) for (const [name, replicas] of Object.entries(h.consumers)) consumers.set(name, replicas);
    for (const replicas of consumers.values()) if (tier === "" || tierOf(replicas) === tier) u.consumers++;
    if (tier !== "" && tierOf(cfg.replicas) !== tier) continue;
    u.streams++;
    const bytes = held.reduce((n, h) => n + h.bytes, 0);
    const reserved = cfg.maxBytes > 0 ? cfg.maxBytes : 0;
    if (cfg.memory) {
      u.memory += bytes;
      u.reservedMemory += reserved;
    } else {
      u.storage += bytes;
      u.reservedStorage += reserved;
    }
  }
  return u;
}

/** A server's last report, limited to the streams still assigned to it. */
function staleReport(r: ServerUsage, assigned: AssignedStream[]): ServerUsage {
  const streams: Record<string, HeldStream> = {};
  for (const sa of assigned) {
    const held = r.streams[sa.name];
    if (held !== undefined && sa.peers.includes(r.server)) streams[sa.name] = held;
  }
  return { server: r.server, account: r.account, streams };
}

/** A stream no server reported: what its assignment's config says. */
function fromConfig(sa: AssignedStream): HeldStream {
  let cfg: { storage?: unknown; max_bytes?: unknown; num_replicas?: unknown } = {};
  try {
    if (sa.config !== undefined) cfg = JSON.parse(Buffer.from(sa.config, "base64").toString()) as typeof cfg;
  } catch {
    // counted with the defaults
  }
  return {
    bytes: 0,
    memory: cfg.storage === "memory",
    maxBytes: typeof cfg.max_bytes === "number" ? cfg.max_bytes : -1,
    replicas: typeof cfg.num_replicas === "number" ? cfg.num_replicas : sa.peers.length,
    consumers: {},
  };
}
