// An account's JetStream usage across a nats-server 2.15 cluster, as its members tell each other
// (issue 12's moonshot, with `nrg_peer_meta_lead`): every nats-server sends, for each account
// it holds JetStream data of, its own memory and storage use and API counters on
// `$JSC.ARU.<account>.<node>` in the system account (jetstream.go sendClusterUsageUpdate, every
// 1.5 s and on changes; binary, little-endian: per tier memory, storage, the first record also
// API total and errors, the count of further tiers and the tier's name). A meta leader answers
// account info with the sum over the servers' latest reports (remoteUpdateUsage,
// storageTotals). T3 keeps those reports, and sends its own the same way for the accounts its
// stream replicas hold (so a nats-server meta leader counts T3's bytes too), zeros once it holds
// nothing more of an account.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";

/** nats-server's usageTick. */
const USAGE_TICK_MS = 1_500;
/** minUsageUpdateLen and usageMultiTiersLen: the first record without and with its tier count and name. */
const MIN_LEN = 32;
const MULTI_TIERS_LEN = 44;
const RECORD_LEN = 24;

export interface NrgUsage {
  memory: number;
  storage: number;
}

interface Report extends NrgUsage {
  api: number;
  errors: number;
}

/** One `$JSC.ARU` message: the sum of its tiers, or undefined when it is malformed (nats-server ignores those too). */
export function decodeUsageUpdate(msg: Buffer): Report | undefined {
  if (msg.length < MIN_LEN) return undefined;
  const i64 = (at: number): number => Number(msg.readBigInt64LE(at));
  const report: Report = { memory: i64(0), storage: i64(8), api: Number(msg.readBigUInt64LE(16)), errors: Number(msg.readBigUInt64LE(24)) };
  if (msg.length < MULTI_TIERS_LEN) return report;
  let extra = msg.readUInt32LE(32);
  let at = MULTI_TIERS_LEN + Number(msg.readBigUInt64LE(36));
  while (extra-- > 0) {
    if (at + RECORD_LEN > msg.length) return undefined;
    report.memory += i64(at);
    report.storage += i64(at + 8);
    at += RECORD_LEN + Number(msg.readBigUInt64LE(at + 16));
  }
  return at <= msg.length ? report : undefined;
}

/** This server's usage of one account as nats-server encodes it: one untiered record, no API counts. */
export function encodeUsageUpdate(usage: NrgUsage): Buffer {
  const b = Buffer.alloc(MULTI_TIERS_LEN);
  b.writeBigInt64LE(BigInt(usage.memory), 0);
  b.writeBigInt64LE(BigInt(usage.storage), 8);
  return b;
}

export class NrgAccountUsage {
  /** account → reporting node → its latest report. */
  private readonly reports = new Map<string, Map<string, Report>>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Accounts this server reported non-zero usage of: they get a zero report once it holds nothing of them. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly sys: Account,
    private readonly selfId: string,
    /** What this server's own replicas hold, by account. */
    private readonly local: () => Map<string, NrgUsage>,
  ) {}

  start(): void {
    this.sub = this.sys.subscribeInternal(
      "$JSC.ARU.*.*",
      (subject, _r, _h, payload) => {
        const t = subject.split(".");
        const node = t[3];
        if (node === this.selfId) return;
        const report = decodeUsageUpdate(Buffer.from(payload));
        if (report === undefined) return;
        let byNode = this.reports.get(t[2]);
        if (byNode === undefined) this.reports.set(t[2], (byNode = new Map()));
        byNode.set(node, report);
      },
      undefined,
      "nrg-account-usage",
    );
    this.timer = setInterval(() => this.send(), USAGE_TICK_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.sub !== undefined) this.sys.unsubscribeInternal(this.sub);
    this.sub = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(): void {
    const mine = this.local();
    for (const account of new Set([...mine.keys(), ...this.reported])) {
      const usage = mine.get(account) ?? { memory: 0, storage: 0 };
      this.sys.publish(`$JSC.ARU.${account}.${this.selfId}`, "", undefined, encodeUsageUpdate(usage));
      if (usage.memory === 0 && usage.storage === 0) this.reported.delete(account);
      else this.reported.add(account);
    }
  }

  /** The account's usage over the cluster: the other servers' latest reports and this server's own replicas. */
  totals(account: string): Report {
    const own = this.local().get(account) ?? { memory: 0, storage: 0 };
    const out: Report = { memory: own.memory, storage: own.storage, api: 0, errors: 0 };
    for (const r of this.reports.get(account)?.values() ?? []) {
      out.memory += r.memory;
      out.storage += r.storage;
      out.api += r.api;
      out.errors += r.errors;
    }
    return out;
  }
}
