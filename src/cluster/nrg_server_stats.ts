// What the meta leader's placement knows of each server's JetStream room (issue 12's moonshot,
// `nrg_peer_meta_lead`): the STATSZ every server publishes in the system account
// (`$SYS.SERVER.<id>.STATSZ`, and the answers to a `$SYS.REQ.SERVER.PING.STATSZ` sent when T3
// starts leading), by RAFT peer id (the hash of the server's name): its max memory and storage,
// and what it uses or has reserved, and its tags. nats-server's selectPeerGroup leaves out a
// server whose free room (max minus the larger of used and reserved) is below a stream's
// max_bytes, or that lacks one of the placement's tags. Every server's name, cluster and tags
// also tell where a LEADER.STEPDOWN with a placement may hand a leadership (nrg_stepdown_placement.ts).
import { randomBytes } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { shortHash } from "../jetstream/util.js";
import type { NrgNodeInfo } from "./nrg_stepdown_placement.js";

export interface NrgServerRoom {
  maxMemory: number;
  maxStorage: number;
  memory: number;
  storage: number;
  reservedMemory: number;
  reservedStorage: number;
  /** The RAFT groups it runs, the meta group included (stats.ha_assets). */
  haAssets: number;
}

/** The JetStream room a STATSZ `jetstream` block shows (config and stats), or undefined without one. */
export function roomOf(js: unknown): NrgServerRoom | undefined {
  if (typeof js !== "object" || js === null) return undefined;
  const { config, stats } = js as { config?: Record<string, unknown>; stats?: Record<string, unknown> };
  if (config === undefined || stats === undefined) return undefined;
  const n = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return { maxMemory: n(config.max_memory), maxStorage: n(config.max_storage), memory: n(stats.memory), storage: n(stats.storage), reservedMemory: n(stats.reserved_memory), reservedStorage: n(stats.reserved_storage), haAssets: n(stats.ha_assets) };
}

/** Free room of one kind as nats-server's placement counts it. */
export function available(room: NrgServerRoom, memory: boolean): number {
  const used = memory ? Math.max(room.reservedMemory, room.memory) : Math.max(room.reservedStorage, room.storage);
  const max = memory ? room.maxMemory : room.maxStorage;
  return max > used ? max - used : 0;
}

export class NrgServerStats {
  private readonly rooms = new Map<string, NrgServerRoom>();
  /** Each server's tags (lower-cased, as nats-server's TagSet compares them). */
  private readonly tagsOf = new Map<string, string[]>();
  /** Every server heard from (JetStream or not), as nats-server's nodeToInfo: name, cluster, tags. */
  private readonly nodes = new Map<string, NrgNodeInfo>();
  private subs: Subscription[] = [];
  private readonly inbox = `_INBOX.nrgstatsz.${randomBytes(8).toString("hex")}`;

  /** Called with a server's peer id for each STATSZ of it with a JetStream block (it can be placed on). */
  onJetStream: ((peer: string) => void) | undefined;

  constructor(private readonly sys: Account) {}

  start(): void {
    const take = (_s: string, _r: string, _h: Buffer | undefined, payload: Buffer): void => {
      try {
        const m = JSON.parse(Buffer.from(payload).toString("utf8")) as { server?: { name?: unknown; cluster?: unknown; tags?: unknown }; statsz?: { jetstream?: unknown } };
        const name = m.server?.name;
        if (typeof name !== "string" || name === "") return;
        const tags = Array.isArray(m.server?.tags) ? m.server.tags.filter((t): t is string => typeof t === "string").map((t) => t.toLowerCase()) : [];
        this.nodes.set(shortHash(name), { name, cluster: typeof m.server?.cluster === "string" ? m.server.cluster : "", tags });
        const room = roomOf(m.statsz?.jetstream);
        if (room === undefined) return;
        this.rooms.set(shortHash(name), room);
        this.tagsOf.set(shortHash(name), tags);
        this.onJetStream?.(shortHash(name));
      } catch {
        // not a STATSZ message
      }
    };
    this.subs.push(this.sys.subscribeInternal("$SYS.SERVER.*.STATSZ", take, undefined, "nrg-server-stats"));
    this.subs.push(this.sys.subscribeInternal(this.inbox, take, undefined, "nrg-server-stats"));
  }

  /** Ask every server for its STATSZ now (their answers come to our inbox). */
  ping(): void {
    this.sys.publish("$SYS.REQ.SERVER.PING.STATSZ", this.inbox, undefined, Buffer.from("{}"));
  }

  stop(): void {
    for (const s of this.subs) this.sys.unsubscribeInternal(s);
    this.subs = [];
  }

  room(peer: string): NrgServerRoom | undefined {
    return this.rooms.get(peer);
  }

  tags(peer: string): string[] | undefined {
    return this.tagsOf.get(peer);
  }

  node(peer: string): NrgNodeInfo | undefined {
    return this.nodes.get(peer);
  }
}
