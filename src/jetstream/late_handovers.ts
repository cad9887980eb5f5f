// Single-replica consumers that come back after their stream's group ended (issue #12). A stream
// scaled down to one replica ends its group once the R1 consumers of the servers it left came to
// the server it keeps (StreamReplica.adopt), or after a while (cluster.ts endGroupAlone). A server
// away longer than that hands them over on its return (dropCopy, handOverLeftBehind: `$JSC.ADOPT.
// <group>`, with their state), and nobody took them: the durable was lost. nats-server 2.15.1
// keeps the durable (its meta leader remaps an R1 consumer whose server left the stream onto the
// stream's servers, jetstream_cluster.go remapConsumerAssignments: "Durable immediately jumps to
// the desired peers"), recreated there without its state. Here the server that keeps the stream
// takes each durable it was still waiting for when the group ended, with its state, from the
// server it lived on; nothing else (one deleted meanwhile was no longer awaited, a copy from
// elsewhere is not the consumer, an ephemeral goes as nats-server deletes it), and answers each
// hand-over once decided (taken in, or not awaited): the returning server sends it again, less and
// less often, until then (cluster.ts sendHandOvers), so a kept server that is down or cut off
// during the first sends still gets it. What it awaits
// (and the pauses asked meanwhile) is kept in the stream's directory (`late_handovers.json`, sealed
// as the stream's other files), so a restart of the keeping server still takes the durable in
// (a memory stream keeps it in memory only). Until it comes, the stream's names still
// show it (its assignment stays), its list has it missing, with the stand-in entry of a consumer
// whose server is down (consumer_stand_in.ts), and its count counts it, so its info and updates are answered "consumer is offline" as
// for any single-replica consumer whose server is down, a pause is kept for it and a delete
// forgets it (cluster.ts awaitedRequest).
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import type { ConsumerState, PendingEntry } from "../storage/store.js";
import { FileStore } from "../storage/filestore.js";
import type { ConsumerConfig } from "./consumer_config.js";
import { restoreConsumer } from "./snapshot.js";
import { knownOf, pausedConfig, type KnownConsumer } from "./consumer_stand_in.js";
import type { Stream } from "./stream.js";

/** What a handed-over consumer carries (StreamReplica's SnapshotConsumer, as sent on `$JSC.ADOPT`). */
interface HandedOver {
  name: string;
  config: ConsumerConfig;
  created: string;
  state: { delivered: ConsumerState["delivered"]; ack_floor: ConsumerState["ack_floor"]; pending: Array<[number, PendingEntry]>; redelivered: Array<[number, number]> };
  from?: string;
}

/** The file of the stream's directory that keeps what is awaited (hosts, and pauses: null for a resume). */
const AWAITED_FILE = "late_handovers.json";

interface Saved {
  hosts: Record<string, string>;
  pauses: Record<string, string | null>;
  known?: Record<string, KnownConsumer>;
}

interface Awaited {
  stream: Stream;
  /** Consumer name -> the server it lives on. */
  hosts: Map<string, string>;
  /** Consumer name -> the pause asked while it was away (undefined: resumed), applied when it comes. */
  pauses: Map<string, string | undefined>;
  /** Consumer name -> its config and creation time as listed (what its stream's group recorded of it). */
  known: Map<string, KnownConsumer>;
}

export class LateHandovers {
  /** By stream group name. */
  private readonly awaited = new Map<string, Awaited>();
  private sub: Subscription | undefined;
  private sys: Account | undefined;

  constructor(
    /** Is `stream` held here alone, with no group (the server it was assigned to only)? undefined: its assignment is not known (yet). */
    private readonly heldAlone: (stream: Stream) => boolean | undefined,
    private readonly log: (msg: string) => void,
    /** The stream of this server whose group is (was) `group`, if any. */
    private readonly streamOfGroup: (group: string) => Stream | undefined = () => undefined,
  ) {}

  start(sys: Account): void {
    this.sys = sys;
    this.sub = sys.subscribeInternal("$JSC.ADOPT.*", (subject, reply, _h, payload) => this.take(subject.slice("$JSC.ADOPT.".length), Buffer.from(payload), reply), undefined, "jetstream-cluster-late-handovers");
  }

  stop(sys: Account | undefined): void {
    if (this.sub !== undefined) sys?.unsubscribeInternal(this.sub);
    this.sub = undefined;
    this.awaited.clear();
  }

  /** The group `group` of `stream` ended here with these consumers (name -> server, and what is listed of them) still on other servers. */
  wait(group: string, stream: Stream, hosts: Map<string, string>, known: Map<string, KnownConsumer>): void {
    this.awaited.set(group, { stream, hosts, pauses: new Map(), known });
    this.changed(group, stream);
  }

  /** `stream` (group `group`), a single replica, was restored here at start: what it awaited before the restart. */
  recover(group: string, stream: Stream): void {
    if (!(stream.store instanceof FileStore)) return;
    let saved: Saved;
    try {
      const data = stream.store.readAuxFile(AWAITED_FILE);
      if (data === undefined) return;
      saved = JSON.parse(data.toString("utf8")) as Saved;
    } catch (err) {
      this.log(`stream '${stream.jsa.account.name} > ${stream.name}': the single-replica durables it awaited could not be read: ${(err as Error).message}`);
      return;
    }
    const hosts = new Map(Object.entries(saved.hosts ?? {}).filter(([, h]) => typeof h === "string"));
    const pauses = new Map<string, string | undefined>();
    for (const [n, until] of Object.entries(saved.pauses ?? {})) if (hosts.has(n)) pauses.set(n, typeof until === "string" ? until : undefined);
    const known = new Map<string, KnownConsumer>();
    for (const [n, k] of Object.entries(saved.known ?? {})) {
      const ok = hosts.has(n) && typeof k === "object" && k !== null ? knownOf(k) : undefined;
      if (ok !== undefined) known.set(n, ok);
    }
    if (hosts.size > 0) this.awaited.set(group, { stream, hosts, pauses, known });
  }

  /**
   * What `group` awaits changed: an empty list goes, and the stream's directory keeps the list as
   * it is now (the one place it is written: a restart reads it back in `recover`).
   */
  private changed(group: string, stream: Stream): void {
    const a = this.awaited.get(group);
    if (a !== undefined && a.hosts.size === 0) this.awaited.delete(group);
    // (A stream deleted meanwhile has no directory left to write to.)
    if (stream.closed || !(stream.store instanceof FileStore)) return;
    try {
      if (a === undefined || a.hosts.size === 0) stream.store.removeAuxFile(AWAITED_FILE);
      else {
        const saved: Saved = { hosts: Object.fromEntries(a.hosts), pauses: Object.fromEntries([...a.pauses].map(([n, until]) => [n, until ?? null])), known: Object.fromEntries(a.known) };
        stream.store.writeAuxFile(AWAITED_FILE, Buffer.from(JSON.stringify(saved)), true);
      }
    } catch (err) {
      this.log(`stream '${stream.jsa.account.name} > ${stream.name}': the single-replica durables it awaits could not be saved: ${(err as Error).message}`);
    }
  }

  /** The server `consumer` of `stream` (group `group`) lives on, while it is awaited here (undefined: it is not). */
  awaitedHost(group: string, stream: Stream, consumer: string): string | undefined {
    const a = this.awaited.get(group);
    if (a === undefined || a.stream !== stream || stream.closed || stream.jsa.streams.get(stream.name) !== stream || this.heldAlone(stream) !== true) return undefined;
    return a.hosts.get(consumer);
  }

  /** The single-replica durables of `stream` (group `group`) awaited here. */
  awaitedNames(group: string, stream: Stream): string[] {
    const a = this.awaited.get(group);
    return a === undefined ? [] : [...a.hosts.keys()].filter((n) => this.awaitedHost(group, stream, n) !== undefined && !stream.consumers.has(n));
  }

  /** What is listed of an awaited consumer while it is away: the server it lives on and, if recorded, its config and creation time. */
  standIn(group: string, stream: Stream, consumer: string): { host: string; known: KnownConsumer | undefined } | undefined {
    const host = this.awaitedHost(group, stream, consumer);
    return host === undefined ? undefined : { host, known: this.awaited.get(group)?.known.get(consumer) };
  }

  /** Awaited no more: `consumer` was deleted while away (its handover is not taken; its server drops its copy). */
  forget(group: string, consumer: string): boolean {
    const a = this.awaited.get(group);
    if (a?.hosts.delete(consumer) !== true) return false;
    a.pauses.delete(consumer);
    a.known.delete(consumer);
    this.changed(group, a.stream);
    return true;
  }

  /** A pause (or a resume: undefined) of an awaited consumer, applied to it when it comes. false: it is not awaited. */
  pause(group: string, consumer: string, until: string | undefined): boolean {
    const a = this.awaited.get(group);
    if (a?.hosts.has(consumer) !== true) return false;
    a.pauses.set(consumer, until);
    // Listed paused (or not) from now on.
    const k = a.known.get(consumer);
    if (k !== undefined) a.known.set(consumer, { ...k, config: pausedConfig(k.config, until) });
    this.changed(group, a.stream);
    return true;
  }

  /**
   * A hand-over (`reply`: where its server waits for the answer, cluster.ts sendHandOvers): taken
   * in when awaited, and answered once applied (`taken`), or answered not taken when this server
   * keeps the stream alone and does not await it (deleted meanwhile, from another server, taken
   * already: then `taken` says whether it holds it), so its server stops sending it. Not answered
   * while undecided (its assignment not known yet): its server sends it again.
   */
  private take(group: string, payload: Buffer, reply = ""): void {
    let sc: HandedOver;
    try {
      sc = JSON.parse(payload.toString()) as HandedOver;
    } catch {
      return;
    }
    const answer = (s: Stream): void => {
      if (reply !== "" && typeof sc.name === "string") this.sys?.publish(reply, "", undefined, Buffer.from(JSON.stringify({ name: sc.name, taken: s.consumers.has(sc.name) })));
    };
    const a = this.awaited.get(group);
    if (a === undefined) {
      const held = this.streamOfGroup(group);
      if (held !== undefined && !held.closed && this.heldAlone(held) === true) answer(held);
      return;
    }
    const s = a.stream;
    // Its assignment not known yet (a restart replaying the meta log): its server sends it again.
    if (!s.closed && this.heldAlone(s) === undefined) return;
    // Deleted, recreated, scaled up again or moved since: the group's own leader (if any) adopts.
    if (s.closed || s.jsa.streams.get(s.name) !== s || this.heldAlone(s) !== true) {
      this.awaited.delete(group);
      this.changed(group, s);
      return;
    }
    // (A durable: an ephemeral whose server left the stream is deleted, as nats-server deletes it.)
    if (typeof sc.name !== "string" || typeof sc.config?.durable_name !== "string" || a.hosts.get(sc.name) === undefined || a.hosts.get(sc.name) !== sc.from || s.consumers.has(sc.name)) {
      answer(s);
      return;
    }
    try {
      const state: ConsumerState = { delivered: sc.state.delivered, ack_floor: sc.state.ack_floor, pending: new Map(sc.state.pending), redelivered: new Map(sc.state.redelivered) };
      const config = { ...sc.config };
      if (a.pauses.has(sc.name)) {
        const until = a.pauses.get(sc.name);
        if (until === undefined) delete config.pause_until;
        else config.pause_until = until;
      }
      restoreConsumer(s, sc.name, config, state, BigInt(sc.created));
      s.consumers.get(sc.name)?.start();
    } catch (err) {
      this.log(`stream '${s.jsa.account.name} > ${s.name}': consumer '${sc.name}' handed over by ${sc.from} not taken in: ${(err as Error).message}`);
      answer(s);
      return;
    }
    a.hosts.delete(sc.name);
    a.pauses.delete(sc.name);
    a.known.delete(sc.name);
    this.changed(group, s);
    answer(s);
    this.log(`stream '${s.jsa.account.name} > ${s.name}': its single-replica consumer '${sc.name}' came back from ${sc.from} after the stream's group ended; it lives here now`);
  }
}
