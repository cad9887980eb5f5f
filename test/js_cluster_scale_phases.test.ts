// The phases a stream and a consumer show while they scale (R1 -> R3 -> R5 -> R3 -> R1), side by
// side with a cluster of five nats-server 2.15 servers (both run as processes from the same
// configuration files). nats-server's group leader reports what it waits for in `desired.status`
// until the group has the servers asked for: growing, "waiting for peer to catch up before adding
// it", "adding peer N2", "reporting membership to meta leader" (or "waiting for peer set to
// settle"); shrinking, "selecting peers to scale down to", then "removing peer N4" and "waiting
// for peer set to settle" for each server that goes (one membership change at a time). Info is
// asked for every 50 ms during each scale; what is compared is the ORDER of the distinct phases
// seen (how long each lasts, hence which of them a poll sees, differs). While a member is being
// removed ("removing peer N4"), it is still listed among the replicas, not current and `pending`
// (nats-server lists the members of the group's assignment until the meta group records the
// removal; tsnats until the removal commits, and a stream's until the meta group records it).
// nats-server says "removing peer N4" as soon as its leader proposed the removal, and lists N4 as
// a current member of its RAFT group until that leader applied it (pending marks a member of the
// assignment that its RAFT group does not have: clusterInfo): seen under load, so listed either way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sleep } from "./helpers/js_cluster_consumer_groups.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";

interface Info {
  error?: { code: number; err_code: number; description: string };
  cluster?: { leader?: string; replicas?: Array<{ name?: string; current?: boolean; pending?: boolean }>; desired?: { status?: { description: string; type: string } } };
  config?: Record<string, unknown>;
  [k: string]: unknown;
}

/** nats-server 2.15's phases, one letter each, and the orders they come in. */
const PHASES: Record<string, string> = {
  "recording leadership term with meta leader": "R",
  "expanding assignment with desired peers": "E",
  "waiting for quorum to add peer": "Q",
  "waiting for peer to catch up before adding it": "C",
  "adding peer N": "A",
  "reporting membership to meta leader": "M",
  "selecting peers to scale down to": "S",
  "removing peer N": "V",
  "waiting for peer set to settle": "T",
};
/**
 * Passing states nats-server shows between those now and then (seen in CI: "waiting for membership
 * change to commit" between two phases of a scale-up): not phases of their own, left out of the order.
 */
const PASSING = new Set([
  "waiting for membership change to commit",
  "waiting for peers to catch up",
  "waiting for desired peers to catch up",
  "desired state changed, reassessing",
  "requesting desired state from meta leader",
  "installing snapshot",
  "waiting to encode state for snapshot",
  "waiting to flush pending state for snapshot",
  "waiting to install snapshot",
]);
// (Grown, nats-server reports the membership, and may wait for the peer set to settle after.)
const GROWING = /^R?E?[QCA]*[MT]*$/;
const SHRINKING = /^R?S?[VT]*$/;

interface Seen {
  /** The distinct phases in the order seen (letters of PHASES; "?" and the text for one not known). */
  phases: string;
  settled: boolean;
  /** Infos that said a member was being removed without listing it as a pending, not current replica. */
  unlisted: string[];
}

/** Sends `update`, then polls `info` every 50 ms until its group has `replicas` current members, a leader and no desired state (30 s at most). */
async function watch(nc: NatsConnection, info: string, update: { subject: string; body: unknown }, replicas: number): Promise<Seen> {
  const answer = await clusterApi<Info>(nc, update.subject, update.body);
  assert.equal(answer.error, undefined, JSON.stringify(answer.error));
  let phases = "";
  let last = "";
  const unlisted: string[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    let a: Info;
    try {
      a = JSON.parse((await nc.request(info, "", { timeout: 2000 })).string()) as Info;
    } catch {
      continue;
    }
    const c = a.cluster;
    const status = c?.desired?.status?.description;
    const removing = /^removing peer (\S+)$/.exec(status ?? "")?.[1];
    const listed = (r: { name?: string; current?: boolean; pending?: boolean }): boolean =>
      r.name === removing && ((r.current === false && r.pending === true) || (r.current === true && r.pending !== true));
    if (removing !== undefined && !(c?.replicas ?? []).some(listed)) unlisted.push(JSON.stringify(c));
    if (status !== undefined && !PASSING.has(status)) {
      const known = PHASES[status.replace(/N\d+$/, "N")];
      const letter = known ?? `?(${status})`;
      if (letter !== last) phases += letter;
      last = letter;
    }
    const others = c?.replicas ?? [];
    if (a.error === undefined && (c?.leader ?? "") !== "" && c?.desired === undefined && others.length === replicas - 1 && others.every((r) => r.current === true)) return { phases, settled: true, unlisted };
    await sleep(50);
  }
  return { phases, settled: false, unlisted };
}

async function scenario(cluster: RefJsCluster): Promise<Array<[string, Seen]>> {
  const nc = await connect({ servers: cluster.urls });
  const out: Array<[string, Seen]> = [];
  try {
    const created = await createStreamWhenPlaced<Info>(nc, { name: "S", subjects: ["s.>"], num_replicas: 1 });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "s.x", `m${i}`);
    const cfg = ((await clusterApi<Info>(nc, "$JS.API.STREAM.INFO.S")).config ?? {});
    const cc = { durable_name: "C", ack_policy: "explicit", num_replicas: 1 };
    const c1 = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.S.C", { stream_name: "S", config: cc });
    assert.equal(c1.error, undefined, JSON.stringify(c1.error));
    const stream = (r: number): { subject: string; body: unknown } => ({ subject: "$JS.API.STREAM.UPDATE.S", body: { ...cfg, num_replicas: r } });
    const consumer = (r: number): { subject: string; body: unknown } => ({ subject: "$JS.API.CONSUMER.CREATE.S.C", body: { stream_name: "S", config: { ...cc, num_replicas: r } } });
    const steps: Array<[string, "S" | "C", number]> = [
      ["stream R1 -> R3", "S", 3],
      ["consumer R1 -> R3", "C", 3],
      ["stream R3 -> R5", "S", 5],
      ["consumer R3 -> R5", "C", 5],
      ["consumer R5 -> R3", "C", 3],
      ["stream R5 -> R3", "S", 3],
      ["consumer R3 -> R1", "C", 1],
      ["stream R3 -> R1", "S", 1],
    ];
    for (const [what, kind, r] of steps) {
      const info = kind === "S" ? "$JS.API.STREAM.INFO.S" : "$JS.API.CONSUMER.INFO.S.C";
      out.push([what, await watch(nc, info, kind === "S" ? stream(r) : consumer(r), r)]);
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** Every scale settled, its phases in nats-server's order, at least one seen; a member being removed listed. */
function check(seen: Array<[string, Seen]>, line: "tsnats" | "2.15"): void {
  for (const [what, s] of seen) {
    assert.ok(s.settled, `${line}: ${what} did not settle (phases ${s.phases})`);
    assert.match(s.phases, /R1 -> R3|R3 -> R5/.test(what) ? GROWING : SHRINKING, `${line}: ${what}: phases ${s.phases} out of order`);
    assert.notEqual(s.phases, "", `${line}: ${what}: no phase seen`);
    assert.deepEqual(s.unlisted, [], `${line}: ${what}: a member being removed is not listed as a pending replica`);
  }
}

test("a stream and a consumer scaling up and down show nats-server 2.15's phases in its order", { timeout: 180_000 }, async (t) => {
  const show = (seen: Array<[string, Seen]>): string => seen.map(([what, s]) => `${what}: ${s.phases || "-"}`).join(" | ");
  const mine = await onRefJsCluster(5, "X", "tsnats", scenario);
  assert.ok(mine !== undefined);
  t.diagnostic(`tsnats: ${show(mine)}`);
  const theirs = await onRefJsCluster(5, "X", "2.15", scenario);
  if (theirs !== undefined) t.diagnostic(`nats-server: ${show(theirs)}`);
  check(mine, "tsnats");
  if (theirs !== undefined) check(theirs, "2.15");
});
