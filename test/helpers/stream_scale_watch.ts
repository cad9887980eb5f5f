// Test helper: what a stream's consumers show while the stream is scaled down to one replica, the
// same steps on a tsnats and a nats-server cluster (RefJsCluster). Each consumer's info and the
// stream's are asked for every few milliseconds from the update until every one settled; what is
// kept of it is what must hold on both servers whatever the timing:
// - each consumer shows phases (desired.status), in nats-server 2.15's order, and a member being
//   removed is listed (not current, pending; on nats-server current until its leader applied the
//   removal it proposed) while it is; the stream shows that it waits for them;
// - the consumers' delivered and ack floor sequences and pending counts never change (but for a
//   nats-server consumer leader's answer right after its election: uncountedByNewLeader);
// - the stream removes none of its own members while a consumer's group still has a member on a
//   server the stream leaves: any consumer info asked for after an answer showing the stream
//   removing a member lists no such member (other than one being removed);
// - each consumer ends on the server the stream keeps, alone.
// Then (goOnAndGrow) the consumers go on from their state, and those following the stream's
// count grow with it when it is scaled back to R3, showing the phases of a growing group.
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish } from "./cluster_retry.js";
import { consumerState, EPHEMERAL, EXPLICIT, pullSeqs, seqSpan, settledInfo, stateAsCreated, streamWithConsumers, type Json, type ScaledConsumer } from "./consumer_scale.js";
import { waitUntil } from "./server.js";

/** nats-server 2.15's phases (desired.status), one letter each. */
const PHASES: Record<string, string> = {
  "recording leadership term with meta leader": "R",
  "expanding assignment with desired peers": "E",
  "waiting for quorum to add peer": "Q",
  "waiting for peer to catch up before adding it": "C",
  "adding peer N": "A",
  "reporting membership to meta leader": "M",
  "selecting peers to scale down to": "S",
  "waiting for consumer 'X' to migrate": "B",
  "removing peer N": "V",
  "waiting for peer set to settle": "T",
};
/**
 * A consumer's group growing with its stream from one server: nats-server 2.15 records its
 * leader's term, expands the assignment, waits for a quorum, catches each server up, adds it and
 * reports the membership (tsnats: catch-up and adding); the settling of the stream's own
 * scale-up is shown by its first answers now and then.
 */
const GROW_ORDER = /^T?R?E?[QCA]*[MT]*$/;
/** States nats-server shows now and then between two phases: left out of the order. */
const PASSING = new Set([
  "waiting for membership change to commit",
  "desired state changed, reassessing",
  "requesting desired state from meta leader",
  "waiting for peers to catch up",
  "waiting for desired peers to catch up",
  "installing snapshot",
  "waiting to encode state for snapshot",
  "waiting to flush pending state for snapshot",
  "waiting to install snapshot",
]);
/** A consumer's group following its stream's scale-down (nats-server records its leader's term first, and a new leader's again). */
const CONSUMER_ORDER = /^R?[VT]*(R[VT]*)*$/;
/** The stream: peers selected, waits for its consumers, then removes its own one at a time. */
const STREAM_ORDER = /^R?S?B*[VT]*$/;

export interface Answer {
  /** When the request was sent and when its answer came (ms). */
  sent: number;
  got: number;
  info: Json;
}

const phaseLetter = (status: string): string => PHASES[status.replace(/N\d+$/, "N").replace(/^waiting for consumer '.*' to migrate$/, "waiting for consumer 'X' to migrate")] ?? `?(${status})`;

/** The distinct phases of a series of answers, in order (letters of PHASES). */
export function phasesOf(answers: Answer[]): string {
  let out = "";
  let last = "";
  for (const a of answers) {
    const status = a.info.cluster?.desired?.status?.description as string | undefined;
    if (status === undefined || PASSING.has(status)) continue;
    const letter = phaseLetter(status);
    if (letter !== last) out += letter;
    last = letter;
  }
  return out;
}

/** "phases in order", or what is wrong with them (none seen: the group did not shrink step by step, or nobody saw it). */
const phaseCheck = (phases: string, order: RegExp): string => (phases === "" ? "no phase seen" : order.test(phases) ? "phases in order" : `phases out of order (${phases})`);

/**
 * The states other than `expected` in the answers of a consumer's leader (those naming one).
 * While a consumer's group grows, nats-server 2.15.1 sometimes answers its info from a server
 * that just got the consumer: no cluster info, delivered and ack floor 0, nothing pending (seen
 * in 3 of 5 runs, once or twice among ~250 answers); that is not the consumer's state.
 */
export function statesOtherThan(answers: readonly Answer[], expected: string): string[] {
  return [...new Set(answers.filter((a) => (a.info.cluster?.leader ?? "") !== "").map((a) => consumerState(a.info)).filter((st) => st !== expected))];
}

/**
 * An answer of a consumer leader elected a moment before (its `ts` within 100 ms of
 * `leader_since`) that differs from `expected` only by 0 pending: nats-server 2.15.1's new
 * consumer leader answered so 0.2 ms after its election, under load (its pending count not yet
 * taken from the stream: streamNumPending), and the right count the next time. Not the
 * consumer's state.
 */
function uncountedByNewLeader(info: Json, expected: string): boolean {
  const since = Date.parse(info.cluster?.leader_since ?? "");
  const at = Date.parse(info.ts ?? "");
  const withoutPending = (st: string): string => st.replace(/ pending \d+$/, "");
  return info.num_pending === 0 && at - since < 100 && withoutPending(consumerState(info)) === withoutPending(expected);
}

/** Asks for the info of stream S ("S") and of its consumers `names` every 5 ms until stopped; the answers without an error, by name. */
export function pollInfos(nc: NatsConnection, names: string[]): { seen: Map<string, Answer[]>; stop: () => Promise<void> } {
  const seen = new Map<string, Answer[]>(names.map((n): [string, Answer[]] => [n, []]));
  let stopped = false;
  const poll = async (name: string): Promise<void> => {
    const subject = name === "S" ? "$JS.API.STREAM.INFO.S" : `$JS.API.CONSUMER.INFO.S.${name}`;
    const list = seen.get(name) as Answer[];
    while (!stopped) {
      const sent = Date.now();
      try {
        const info = JSON.parse((await nc.request(subject, "", { timeout: 2000 })).string()) as Json;
        if (info.error === undefined) list.push({ sent, got: Date.now(), info });
      } catch {
        // no answer now (a group electing its leader): asked again
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const pollers = names.map((name) => poll(name));
  return {
    seen,
    stop: async () => {
      stopped = true;
      await Promise.all(pollers);
    },
  };
}

/** The servers an info lists for its group (leader and replicas), those being removed (pending) apart. */
function membersOf(info: Json): { staying: string[]; removing: string[] } {
  const c = info.cluster ?? {};
  const replicas = (c.replicas ?? []) as Json[];
  const staying = [...((c.leader ?? "") !== "" ? [c.leader as string] : []), ...replicas.filter((r) => r.pending !== true).map((r) => r.name as string)];
  return { staying, removing: replicas.filter((r) => r.pending === true).map((r) => r.name as string) };
}

/** The servers of a consumer's group an info names (leader and replicas, those being removed too), sorted. */
function serversOf(info: Json): string {
  const { staying, removing } = membersOf(info);
  return [...staying, ...removing].sort().join(",");
}

/**
 * The answers of a consumer that show it changed (its num_replicas or its servers, from its first
 * answer's) and were received before the stream's leader started selecting the servers it keeps:
 * nats-server 2.15 remaps a stream's consumers only once its leader selected them (a scale asked
 * before leaves them as they are). Causal whatever the timing: an answer of the stream made before
 * its first "selecting" one shows its leader not selecting yet when asked, nothing can follow a
 * selection not yet made, and a consumer answer received before that stream answer was asked for
 * was made before it. (Not "before the last selecting answer": the consumers change on their own
 * servers as those apply the meta entry that records the selection, which the stream's leader may
 * apply later: tsnats's consumer leader was seen remapped, under load, while the stream's leader
 * still answered "selecting", and nats-server's meta leader remaps them on a selection its stream
 * leader sends again before applying the first.)
 */
export function touchedBeforeSelecting(stream: readonly Answer[], answers: readonly Answer[]): Answer[] {
  const firstSelecting = stream.findIndex((a) => a.info.cluster?.desired?.status?.description === "selecting peers to scale down to");
  const first = answers[0]?.info;
  if (firstSelecting <= 0 || first === undefined) return [];
  const notYet = stream[firstSelecting - 1].sent;
  return answers.filter((a) => a.got < notYet && (a.info.config?.num_replicas !== first.config?.num_replicas || serversOf(a.info) !== serversOf(first)));
}

/**
 * Scales stream S (its config `cfg`) to one replica and watches it and `kinds` until each
 * consumer settled alone; one line per consumer and one for the stream, the same on any server
 * that scales down as nats-server 2.15 does.
 */
export async function watchStreamScaleDown(nc: NatsConnection, cfg: Json, kinds: readonly ScaledConsumer[], states: Map<string, string>): Promise<string[]> {
  const polling = pollInfos(nc, ["S", ...kinds.map((k) => k.name)]);
  const seen = polling.seen;
  const answer = await clusterApi<Json>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 });
  assert.equal(answer.error, undefined, JSON.stringify(answer.error));
  const out: string[] = [`stream to R1: R${answer.config?.num_replicas}`];
  let kept = "";
  try {
    kept = await streamOnOneServer(nc, 30_000);
    for (const k of kinds) {
      const info = await settledInfo(nc, "S", k.name, 1, false);
      out.push(`${k.name}: R${info.config?.num_replicas}, on the server the stream keeps ${info.cluster?.leader === kept}: ${consumerState(info)}`);
    }
  } finally {
    await polling.stop();
  }
  const stream = seen.get("S") as Answer[];
  // The first answer showing the stream removing a member of its own (or without one already).
  const removal = stream.find((a) => /^removing peer/.test(a.info.cluster?.desired?.status?.description ?? "") || (a.info.cluster?.replicas ?? []).length < 2);
  const streamPhases = phasesOf(stream);
  out.push(`stream: ${phaseCheck(streamPhases, STREAM_ORDER)}, waited for its consumers ${streamPhases.includes("B")}`);
  for (const k of kinds) {
    const answers = seen.get(k.name) as Answer[];
    const phases = phasesOf(answers);
    const expected = states.get(k.name) as string;
    const changed = answers.filter((a) => consumerState(a.info) !== expected && !uncountedByNewLeader(a.info, expected)).map((a) => consumerState(a.info));
    // Asked for after the stream was seen removing one of its members, with a member on a server it leaves.
    const late = removal === undefined ? [] : answers.filter((a) => a.sent > removal.got && membersOf(a.info).staying.some((s) => s !== kept));
    const touched = touchedBeforeSelecting(stream, answers);
    const unlisted = answers.filter((a) => {
      const removing = /^removing peer (\S+)$/.exec(a.info.cluster?.desired?.status?.description ?? "")?.[1];
      // (nats-server lists it as a current member until its leader applied the removal it proposed: js_cluster_scale_phases.)
      const current = ((a.info.cluster?.replicas ?? []) as Json[]).some((r) => r.name === removing && r.current === true && r.pending !== true);
      return removing !== undefined && !membersOf(a.info).removing.includes(removing) && !current;
    });
    out.push(
      `${k.name} during the scale-down: ${phaseCheck(phases, CONSUMER_ORDER)}, state kept ${changed.length === 0}${changed.length === 0 ? "" : ` (${[...new Set(changed)].join("; ")})`}, ` +
        `moved before the stream's members ${late.length === 0}${late.length === 0 ? "" : ` (${JSON.stringify(late[0].info.cluster)})`}, removed members listed ${unlisted.length === 0}, ` +
        `untouched before the stream selected its servers ${touched.length === 0}${touched.length === 0 ? "" : ` (R${touched[0].info.config?.num_replicas} on ${serversOf(touched[0].info)})`}`,
    );
  }
  return out;
}

/** The lines watchStreamScaleDown gives after each consumer's settled one, when all went as on nats-server 2.15. */
export function duringScaleDown(kinds: readonly ScaledConsumer[]): string[] {
  return ["stream: phases in order, waited for its consumers true", ...kinds.map((k) => `${k.name} during the scale-down: phases in order, state kept true, moved before the stream's members true, removed members listed true, untouched before the stream selected its servers true`)];
}

/** A consumer of the scale-down tests; `follows`: num_replicas 0 (the stream's count), the others ask for 3. */
export type FollowingKind = ScaledConsumer & { follows: boolean };

/** Durable and ephemeral, pull and push, following the stream's count or asking for 3. */
export const SCALE_DOWN_KINDS: FollowingKind[] = [
  { name: "D", config: { durable_name: "D", ...EXPLICIT }, follows: true },
  { name: "D3", config: { durable_name: "D3", ...EXPLICIT }, follows: false },
  { name: "E", config: { name: "E", ...EPHEMERAL, ...EXPLICIT }, follows: false },
  { name: "PD", config: { durable_name: "PD", deliver_subject: "in.PD", ...EXPLICIT }, push: "in.PD", follows: true },
  { name: "PE", config: { name: "PE", deliver_subject: "in.PE", ...EPHEMERAL, ...EXPLICIT }, push: "in.PE", follows: false },
];

/** The R3 stream S with `messages` messages and `kinds` (streamWithConsumers), those that follow the stream updated to num_replicas 0; the lines as created. */
export async function streamFollowedBy(nc: NatsConnection, kinds: readonly FollowingKind[], messages: number): Promise<{ out: string[]; si: Json }> {
  const out = await streamWithConsumers(nc, kinds, messages);
  for (const k of kinds.filter((x) => x.follows)) {
    const a = await clusterApi<Json>(nc, `$JS.API.CONSUMER.CREATE.S.${k.name}`, { stream_name: "S", config: { ...k.config, num_replicas: 0 } });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
  }
  return { out, si: await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S") };
}

/** Waits until S runs on one server, no move left; that server. */
export async function streamOnOneServer(nc: NatsConnection, timeoutMs: number): Promise<string> {
  return (await streamOnReplicas(nc, 1, timeoutMs)).cluster?.leader as string;
}

/** Waits until S runs on `replicas` servers, led, the others current, no move left; its info. */
export async function streamOnReplicas(nc: NatsConnection, replicas: number, timeoutMs: number): Promise<Json> {
  let si: Json = {};
  await waitUntil(
    async () => {
      si = await clusterApi<Json>(nc, "$JS.API.STREAM.INFO.S");
      const others = (si.cluster?.replicas ?? []) as Json[];
      return si.cluster?.desired === undefined && others.length === replicas - 1 && others.every((r) => r.current === true) && (si.cluster?.leader ?? "") !== "";
    },
    timeoutMs,
    `S on ${replicas} servers`,
  );
  return si;
}

/**
 * Once S is R1: each consumer goes on from its state (the pulls get 11..15, acknowledged; a new
 * message is pushed once to each push consumer, with interest on every deliver subject), then S
 * goes back to R3 (asked again while a server just back is not counted as current: 10005) and
 * each consumer settles, those following the stream as R3, showing the phases of a group that
 * grows (as nats-server 2.15 grows it from its one server: none for a group started on all its
 * servers at once), led by the server that held it throughout; the lines.
 */
export async function goOnAndGrow(nc: NatsConnection, cfg: Json, kinds: readonly FollowingKind[], messages: number): Promise<string[]> {
  const out: string[] = [];
  for (const k of kinds.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: ${seqSpan(await pullSeqs(nc, "S", k.name, 5, () => true))}`);
  for (const k of kinds) if (k.push !== undefined) nc.subscribe(k.push, { callback: () => undefined });
  out.push(...(await pushedToEach(nc, kinds, messages + 1)));
  // (Those following the stream watched while they grow with it, from the state they went on to:
  // the acks of the pull just sent taken in.)
  const growing = kinds.filter((k) => k.follows);
  const holders = new Map<string, string>();
  for (const k of growing) {
    let info: Json = {};
    await waitUntil(async () => consumerState((info = await clusterApi<Json>(nc, `$JS.API.CONSUMER.INFO.S.${k.name}`))) === stateAfterGoingOn(k, messages + 1), 15_000, `${k.name} went on`).catch(() => undefined);
    holders.set(k.name, (info.cluster?.leader ?? "") as string);
  }
  const polling = pollInfos(nc, growing.map((k) => k.name));
  try {
    let up: Json = {};
    await waitUntil(async () => (up = await clusterApi<Json>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 })).error?.err_code !== 10005, 30_000, "S placed on three servers");
    out.push(`stream to R3: ${up.error !== undefined ? `${up.error.err_code} ${up.error.description}` : `R${up.config?.num_replicas}`}`);
    for (const k of kinds) {
      const info = await settledInfo(nc, "S", k.name, k.follows ? 3 : 1, false);
      out.push(`${k.name} once the stream is R3 again: R${info.config?.num_replicas} others ${(info.cluster?.replicas ?? []).length}: ${consumerState(info)}`);
    }
  } finally {
    await polling.stop();
  }
  for (const k of growing) {
    const answers = polling.seen.get(k.name) as Answer[];
    // (An answer with a leader: nats-server's stays the server that held it, the group growing from it.)
    const leaders = new Set(answers.map((a) => (a.info.cluster?.leader ?? "") as string).filter((l) => l !== ""));
    const kept = leaders.size === 1 && leaders.has(holders.get(k.name) as string);
    const changed = statesOtherThan(answers, stateAfterGoingOn(k, messages + 1));
    out.push(
      `${k.name} growing with the stream: ${phaseCheck(phasesOf(answers), GROW_ORDER)}, led by the server that held it throughout ${kept}${kept ? "" : ` (${[...leaders].join(" ")})`}, ` +
        `state kept ${changed.length === 0}${changed.length === 0 ? "" : ` (${changed.join("; ")})`}`,
    );
  }
  return out;
}

/** What goOnAndGrow gives when every consumer went on from its state. */
export function wentOnAndGrew(kinds: readonly FollowingKind[], messages: number): string[] {
  const out: string[] = [];
  for (const k of kinds.filter((x) => x.push === undefined)) out.push(`${k.name} next pull: 11..15`);
  for (const k of kinds.filter((x) => x.push !== undefined)) out.push(`${k.name} pushes: ${messages + 1}..${messages + 1}`);
  out.push("stream to R3: R3");
  for (const k of kinds) out.push(`${k.name} once the stream is R3 again: R${k.follows ? 0 : 1} others ${k.follows ? 2 : 0}: ${stateAfterGoingOn(k, messages + 1)}`);
  for (const k of kinds.filter((x) => x.follows)) out.push(`${k.name} growing with the stream: phases in order, led by the server that held it throughout true, state kept true`);
  return out;
}

/**
 * A consumer's state once it went on (consumerWithAcks, then a pull of 5 acknowledged, or every
 * message pushed) with `total` messages in the stream: a pull consumer pulled 11..15 and
 * acknowledged them, 6..10 still pending; a push consumer got every message.
 */
export function stateAfterGoingOn(k: ScaledConsumer, total: number): string {
  return k.push === undefined ? `delivered 15/15 ack floor 5/5 ack pending 5 pending ${total - 15}` : `delivered ${total}/${total} ack floor 5/5 ack pending ${total - 5} pending 0`;
}

/**
 * Publishes message `seq` ("m<seq>") once, with every push consumer of `kinds` listened to: the
 * messages each pushes until each pushed one (15 s at most; a leader may get to it late), one
 * line per push consumer.
 */
export async function pushedToEach(nc: NatsConnection, kinds: readonly ScaledConsumer[], seq: number): Promise<string[]> {
  const pushed = new Map<string, number[]>();
  const subs = kinds
    .filter((x) => x.push !== undefined)
    .map((k) => {
      const got: number[] = [];
      pushed.set(k.name, got);
      return nc.subscribe(k.push as string, { callback: (_e, m) => void (m.data.length > 0 && got.push(Number(m.string().slice(1)))) });
    });
  await nc.flush();
  await clusterPublish(nc, "s.x", `m${seq}`);
  await waitUntil(() => [...pushed.values()].every((got) => got.length > 0), 15_000, "the new message pushed").catch(() => undefined);
  for (const sub of subs) sub.unsubscribe();
  return [...pushed].map(([name, got]) => `${name} pushes: ${seqSpan(got)}`);
}

/** What watchStreamScaleDown gives when all went as on nats-server 2.15. */
export function scaledDownAsExpected(kinds: readonly FollowingKind[], messages: number): string[] {
  return ["stream to R1: R1", ...kinds.map((k) => `${k.name}: R${k.follows ? 0 : 1}, on the server the stream keeps true: ${stateAsCreated(k, messages)}`), ...duringScaleDown(kinds)];
}
