// Consumers with fewer replicas than their stream, side by side with a cluster of three
// nats-server 2.15 servers (both run as processes from the same configuration files):
// - on a limits stream, R1/R2 durables and ephemerals keep their count; an update of
//   num_replicas scales them; the stream's scale-down gives every consumer with more replicas
//   than the stream the stream's count (in its config too), and a scale-up leaves them there
//   (those asking for 0 follow the stream both ways);
// - on interest and work-queue streams every consumer has the stream's replicas: fewer are
//   refused, an ephemeral asking for none gets the stream's, and a retention change from limits
//   scales the consumers up; every server drops a message once the consumers acked it.
// What is compared: each answer's error or config.num_replicas and number of servers in its
// `cluster` (leader and replicas: where they are placed is each implementation's choice), and
// each server's copy of the interest and work-queue streams at the end (/jsz).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { clusterApi, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { consume, sleep } from "./helpers/js_cluster_consumer_groups.js";
import { startRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

interface Answer extends Record<string, unknown> {
  error?: { code: number; err_code: number; description: string };
  config?: { num_replicas?: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current?: boolean }> };
  [k: string]: unknown;
}

function shape(a: Answer): string {
  if (a.error !== undefined) return `${a.error.code} ${a.error.err_code} ${a.error.description}`;
  const servers = (a.cluster?.leader ? 1 : 0) + (a.cluster?.replicas?.length ?? 0);
  return `r=${a.config?.num_replicas} servers=${servers}`;
}

/** A consumer's info once its group has a leader and `servers` members (or what it is after 30 s). */
async function settled(nc: NatsConnection, stream: string, name: string, servers: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const a = await clusterApi<Answer>(nc, `$JS.API.CONSUMER.INFO.${stream}.${name}`);
    const s = shape(a);
    const ready = a.error === undefined && a.cluster?.leader !== undefined && a.cluster.leader !== "" && (a.cluster.replicas ?? []).every((r) => r.current === true);
    if ((ready && s.endsWith(`servers=${servers}`)) || Date.now() > deadline) return s;
    await sleep(250);
  }
}

/** Each server's copy of the streams (messages, first sequence) and its consumers, by /jsz. */
async function copies(cluster: RefJsCluster, streams: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [i, s] of cluster.servers.entries()) {
    const j = (await (await fetch(`${s.monitorUrl}/jsz?accounts=true&streams=true&consumers=true`)).json()) as {
      account_details?: Array<{ stream_detail?: Array<{ name: string; state: { messages: number; first_seq: number }; consumer_detail?: Array<{ name: string }> }> }>;
    };
    for (const acc of j.account_details ?? []) {
      for (const sd of acc.stream_detail ?? []) {
        if (!streams.includes(sd.name)) continue;
        const cs = (sd.consumer_detail ?? []).map((c) => c.name).sort();
        out.push(`N${i + 1} ${sd.name} msgs=${sd.state.messages} first=${sd.state.first_seq} consumers=${cs.join(",")}`);
      }
    }
  }
  return out.sort();
}

const createStream = (nc: NatsConnection, cfg: { name: string } & Record<string, unknown>): Promise<Answer> => createStreamWhenPlaced<Answer>(nc, cfg);

/** A stream update, once a scale before it is over (its info shows no `desired`: a scale-down removes its servers one at a time). */
async function scaleStream(nc: NatsConnection, name: string, change: Record<string, unknown>): Promise<string> {
  const deadline = Date.now() + 30_000;
  let si = await clusterApi<Answer>(nc, `$JS.API.STREAM.INFO.${name}`);
  while ((si.cluster as { desired?: unknown } | undefined)?.desired !== undefined && Date.now() < deadline) {
    await sleep(250);
    si = await clusterApi<Answer>(nc, `$JS.API.STREAM.INFO.${name}`);
  }
  const a = await clusterApi<Answer>(nc, `$JS.API.STREAM.UPDATE.${name}`, { ...(si.config as object), ...change });
  return a.error === undefined ? "ok" : shape(a);
}

const LONG = 600_000_000_000; // ephemerals outlive the scenario (inactive_threshold, ns)

async function scenario(cluster: RefJsCluster): Promise<{ answers: string[]; own: string[]; copies: string[] }> {
  const nc = await connect({ servers: cluster.urls });
  const answers: string[] = [];
  const own: string[] = [];
  const note = (what: string, s: string): void => {
    answers.push(`${what}: ${s}`);
  };
  try {
    const create = async (stream: string, name: string, cfg: Record<string, unknown>): Promise<void> =>
      note(`create ${stream}.${name}`, shape(await clusterApi<Answer>(nc, `$JS.API.CONSUMER.CREATE.${stream}.${name}`, { stream_name: stream, config: { ack_policy: "explicit", ...cfg } })));
    // `alone`: checked on tsnats only (nats-server's answer varies from run to run).
    const infos = async (stream: string, want: Record<string, number>, alone = false): Promise<void> => {
      for (const [name, servers] of Object.entries(want)) {
        const line = `  info ${stream}.${name} on ${servers}: ${await settled(nc, stream, name, servers)}`;
        (alone ? own : answers).push(line);
      }
    };

    // A limits stream: consumers keep the count they ask for; updates scale them.
    note("create L", shape(await createStream(nc, { name: "L", subjects: ["l.>"], num_replicas: 3 })));
    await create("L", "D1", { durable_name: "D1", num_replicas: 1 });
    await create("L", "D2", { durable_name: "D2", num_replicas: 2 });
    await create("L", "D3", { durable_name: "D3", num_replicas: 3, deliver_subject: "push.d3" });
    await create("L", "A0", { durable_name: "A0" });
    await create("L", "E0", { name: "E0", inactive_threshold: LONG });
    await create("L", "E2", { name: "E2", num_replicas: 2, inactive_threshold: LONG });
    await create("L", "M0", { durable_name: "M0", mem_storage: true });
    await infos("L", { D1: 1, D2: 2, D3: 3, A0: 3, E0: 1, E2: 2, M0: 3 });
    // An update scales a consumer (two of their own: nats-server's count after a stream's scale-down
    // is its group's size then, which for one scaled up just before depends on where it placed it).
    await create("L", "U1", { durable_name: "U1", num_replicas: 1 });
    await create("L", "U2", { durable_name: "U2", num_replicas: 2 });
    for (const [name, r] of [["U1", 2], ["U2", 1]] as const) {
      const a = await clusterApi<Answer>(nc, `$JS.API.CONSUMER.CREATE.L.${name}`, { stream_name: "L", config: { durable_name: name, ack_policy: "explicit", num_replicas: r } });
      note(`update L.${name} to ${r}`, a.error === undefined ? `r=${a.config?.num_replicas}` : shape(a));
    }
    await infos("L", { U1: 2, U2: 1 });
    for (const name of ["U1", "U2"]) note(`delete L.${name}`, (await clusterApi(nc, `$JS.API.CONSUMER.DELETE.L.${name}`)).error === undefined ? "ok" : "error");
    // Scaled down, then up: consumers with more replicas than the stream get its count, and keep it.
    note("L to R2", await scaleStream(nc, "L", { num_replicas: 2 }));
    await infos("L", { D1: 1, D2: 2, D3: 2, A0: 2, E0: 1, E2: 2, M0: 2 });
    note("L to R1", await scaleStream(nc, "L", { num_replicas: 1 }));
    await infos("L", { D1: 1, A0: 1, E0: 1, M0: 1 });
    // (nats-server 2.15.1 leaves an R2 consumer's num_replicas at 2 on the R1 stream in some runs,
    // at 1 in others: its count is rewritten from its group's size, which the scale-down to R2 may
    // still be changing. D3 is one too: R3 made R2 by the stream's scale-down.)
    await infos("L", { D2: 1, E2: 1, D3: 1 }, true);
    note("L to R3", await scaleStream(nc, "L", { num_replicas: 3 }));
    await infos("L", { D1: 1, A0: 3, E0: 1, M0: 3 });
    await infos("L", { D2: 1, E2: 1, D3: 1 }, true);

    // Interest and work-queue streams: every consumer has the stream's replicas.
    for (const [name, retention] of [["I", "interest"], ["W", "workqueue"]] as const) {
      const s = name.toLowerCase();
      note(`create ${name}`, shape(await createStream(nc, { name, subjects: [`${s}.>`], num_replicas: 3, retention })));
      await create(name, "D1", { durable_name: "D1", num_replicas: 1 });
      await create(name, "D2", { durable_name: "D2", num_replicas: 2 });
      await create(name, "E1", { name: "E1", num_replicas: 1 });
      await create(name, "E0", { name: "E0", inactive_threshold: LONG, filter_subject: `${s}.e` });
      await create(name, "P0", { name: "P0", inactive_threshold: LONG, filter_subject: `${s}.p`, deliver_subject: `push.${s}` });
      await create(name, "DD", { durable_name: "DD", filter_subject: `${s}.d` });
      await infos(name, { E0: 3, P0: 3, DD: 3 });
    }
    // A limits stream becoming an interest stream: its consumers get the stream's replicas.
    note("create R", shape(await createStream(nc, { name: "R", subjects: ["r.>"], num_replicas: 3 })));
    await create("R", "D1", { durable_name: "D1", num_replicas: 1 });
    await create("R", "D2", { durable_name: "D2", num_replicas: 2 });
    await create("R", "E0", { name: "E0", inactive_threshold: LONG });
    await infos("R", { D1: 1, D2: 2, E0: 1 });
    note("R to interest", await scaleStream(nc, "R", { retention: "interest" }));
    await infos("R", { D1: 3, D2: 3, E0: 3 });
    // An R1 interest stream scaled up: its consumers with it.
    note("create I1", shape(await createStream(nc, { name: "I1", subjects: ["i1.>"], num_replicas: 1, retention: "interest" })));
    await create("I1", "D1", { durable_name: "D1", num_replicas: 1, filter_subject: "i1.d" });
    await create("I1", "E0", { name: "E0", inactive_threshold: LONG, filter_subject: "i1.e" });
    note("I1 to R3", await scaleStream(nc, "I1", { num_replicas: 3 }));
    await infos("I1", { D1: 3, E0: 3 });

    // Messages: each server drops them once the consumers that need them acked them.
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++) {
      for (const s of ["i", "w"]) for (const k of ["e", "d"]) await js.publish(`${s}.${k}`, `${s}${k}${i}`);
      await js.publish("r.x", `r${i}`);
    }
    for (const s of ["I", "W"]) {
      await consume(nc, s, "E0", 10);
      await consume(nc, s, "DD", 10);
    }
    await consume(nc, "R", "D1", 10);
    await consume(nc, "R", "D2", 5);
    await consume(nc, "R", "E0", 10);
    // R: five messages still wanted by D2 on every server; the others empty.
    const want = (line: string): boolean => (line.includes(" R ") ? line.includes("msgs=5 first=6") : line.includes("msgs=0 first=21"));
    let seen: string[] = [];
    await waitUntil(
      async () => {
        seen = await copies(cluster, ["I", "W", "R"]);
        return seen.length === 9 && seen.every(want);
      },
      60_000,
      "every server's copies cleared",
    ).catch(() => undefined);
    return { answers, own, copies: seen };
  } finally {
    await nc.close();
  }
}

test("consumers with fewer replicas than their stream, as nats-server 2.15 places and scales them", { timeout: 600_000 }, async (t) => {
  const ours = await startRefJsCluster(3, "R", { line: "tsnats" });
  assert.ok(ours !== undefined);
  let mine: Awaited<ReturnType<typeof scenario>>;
  try {
    mine = await scenario(ours);
  } finally {
    await ours.stop();
  }
  t.diagnostic(`tsnats: ${mine.answers.join(" | ")}`);
  const expected = [
    ...["N1", "N2", "N3"].flatMap((n) => [`${n} I msgs=0 first=21 consumers=DD,E0,P0`, `${n} R msgs=5 first=6 consumers=D1,D2,E0`, `${n} W msgs=0 first=21 consumers=DD,E0,P0`]),
  ].sort();
  assert.deepEqual(mine.copies, expected);
  // Every consumer settled on as many servers as nats-server places it on.
  for (const line of [...mine.answers, ...mine.own]) {
    const m = /^ {2}info \S+ on (\d): (.*)$/.exec(line);
    if (m !== null) assert.match(m[2], new RegExp(`^r=\\d servers=${m[1]}$`), line);
  }
  if (referenceBinary("2.15") === undefined) return;
  const ref = await startRefJsCluster(3, "R");
  assert.ok(ref !== undefined);
  let theirs: Awaited<ReturnType<typeof scenario>>;
  try {
    theirs = await scenario(ref);
  } finally {
    await ref.stop();
  }
  t.diagnostic(`nats-server: ${theirs.answers.join(" | ")}`);
  assert.deepEqual(mine.answers, theirs.answers);
  assert.deepEqual(mine.copies, theirs.copies);
});

/**
 * Where single-replica consumers of an R3 stream live, and how they are reached, on both:
 * each is placed on one of the stream's servers (at random: some off the stream's leader, which
 * a client never needs to know), its info shows that server as its leader and nothing else; its
 * info, pull requests and acks are answered through every server of the cluster; stream info
 * counts every consumer wherever it lives; a replicated consumer scaled down to one replica
 * stays with its group's leader. What is compared: the shapes of the answers, and facts about
 * each placement (never which server was picked).
 */
async function placementScenario(cluster: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: cluster.urls });
  const each = await Promise.all(cluster.urls.map((u) => connect({ servers: u, reconnect: false })));
  const out: string[] = [];
  try {
    out.push(`create P: ${shape(await createStream(nc, { name: "P", subjects: ["p.>"], num_replicas: 3 }))}`);
    const js = jetstream(nc);
    for (let i = 1; i <= 6; i++) await js.publish("p.x", `p${i}`);
    const si = await clusterApi<Answer>(nc, "$JS.API.STREAM.INFO.P");
    const streamServers = [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)];
    const hosts = new Map<string, string>();
    const kinds: Array<[string, Record<string, unknown>]> = [];
    for (let i = 0; i < 4; i++) {
      kinds.push([`D${i}`, { durable_name: `D${i}`, num_replicas: 1 }]);
      kinds.push([`E${i}`, { name: `E${i}`, inactive_threshold: LONG }]);
      kinds.push([`H${i}`, { durable_name: `H${i}`, num_replicas: 1, deliver_subject: `push.p${i}` }]);
      kinds.push([`M${i}`, { durable_name: `M${i}`, num_replicas: 1, mem_storage: true }]);
    }
    for (const [name, cfg] of kinds) {
      const a = await clusterApi<Answer>(nc, `$JS.API.CONSUMER.CREATE.P.${name}`, { stream_name: "P", config: { ack_policy: "explicit", ...cfg } });
      const keys = Object.keys(a.cluster ?? {}).sort().join(",");
      hosts.set(name, a.cluster?.leader ?? "");
      out.push(`create P.${name}: ${shape(a)} cluster=${keys} on a stream server: ${streamServers.includes(a.cluster?.leader ?? "")}`);
    }
    // 16 placed at random on 3 servers: all on the stream's leader once in 43 million runs.
    out.push(`some off the stream's leader: ${[...hosts.values()].some((h) => h !== streamServers[0])}`);
    // (nats-server's stream leader counts a consumer once it applied its assignment: asked again for a while.)
    let count = await clusterApi<Answer>(nc, "$JS.API.STREAM.INFO.P");
    for (let i = 0; i < 50 && (count.state as { consumer_count?: number } | undefined)?.consumer_count !== 16; i++) {
      await new Promise((r) => setTimeout(r, 100));
      count = await clusterApi<Answer>(nc, "$JS.API.STREAM.INFO.P");
    }
    out.push(`stream info consumers: ${(count.state as { consumer_count?: number } | undefined)?.consumer_count}`);
    const names = await clusterApi<Answer & { consumers?: string[]; total?: number }>(nc, "$JS.API.CONSUMER.NAMES.P");
    out.push(`names: ${names.total} ${(names.consumers ?? []).length}`);
    // A pull durable reached through each server: info, a pull request and its ack.
    const host = hosts.get("D0") ?? "";
    const through: string[] = [];
    for (const [i, c] of each.entries()) {
      const a = await clusterApi<Answer>(c, "$JS.API.CONSUMER.INFO.P.D0");
      through.push(`info P.D0 through ${`N${i + 1}` === host ? "its server" : "another"}: ${shape(a)} leader is its server: ${a.cluster?.leader === host}`);
    }
    out.push(...through.sort());
    const via = each[cluster.urls.findIndex((_u, i) => `N${i + 1}` !== host)];
    const inbox = createInbox();
    const sub = via.subscribe(inbox, { max: 1 });
    via.publish("$JS.API.CONSUMER.MSG.NEXT.P.D0", JSON.stringify({ batch: 1, expires: 10_000_000_000 }), { reply: inbox });
    let ackReply = "";
    for await (const m of sub) {
      out.push(`next P.D0 through another: ${m.string()}`);
      ackReply = m.reply ?? "";
    }
    const acked = await via.request(ackReply, "+ACK", { timeout: 5000 });
    out.push(`ack answered: ${JSON.stringify(acked.string())}`);
    const after = await clusterApi<Answer & { ack_floor?: { stream_seq: number } }>(via, "$JS.API.CONSUMER.INFO.P.D0");
    out.push(`ack floor: ${after.ack_floor?.stream_seq}`);
    // A push consumer placed anywhere delivers to a subscriber on any server.
    const push = via.subscribe("push.p0", { max: 1 });
    for await (const m of push) out.push(`push P.H0 through another: ${m.string()}`);
    // R3 -> R1: the consumer stays where its group's leader is (made one that is not the stream's leader).
    const k = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K3", { stream_name: "P", config: { durable_name: "K3", ack_policy: "explicit" } });
    out.push(`create P.K3: ${shape(k)}`);
    await settled(nc, "P", "K3", 3);
    const target = streamServers[1];
    let led = "";
    const deadline = Date.now() + 60_000;
    while (led !== target && Date.now() < deadline) {
      await clusterApi(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.P.K3", { placement: { preferred: target } });
      await settled(nc, "P", "K3", 3);
      led = (await clusterApi<Answer>(nc, "$JS.API.CONSUMER.INFO.P.K3")).cluster?.leader ?? "";
    }
    out.push(`K3 led off the stream's leader: ${led === target}`);
    const down = await clusterApi<Answer>(nc, "$JS.API.CONSUMER.CREATE.P.K3", { stream_name: "P", config: { durable_name: "K3", ack_policy: "explicit", num_replicas: 1 } });
    out.push(`K3 to R1: ${down.error === undefined ? `r=${down.config?.num_replicas}` : shape(down)}`);
    const kept = await settled(nc, "P", "K3", 1);
    const where = (await clusterApi<Answer>(nc, "$JS.API.CONSUMER.INFO.P.K3")).cluster?.leader;
    out.push(`  info P.K3 on 1: ${kept} kept by its leader: ${where === target}`);
    return out;
  } finally {
    await nc.close();
    for (const c of each) await c.close();
  }
}

test("single-replica consumers placed on any of the stream's servers, reached through every server, as nats-server 2.15 does", { timeout: 600_000 }, async (t) => {
  const ours = await startRefJsCluster(3, "P", { line: "tsnats" });
  assert.ok(ours !== undefined);
  let mine: string[];
  try {
    mine = await placementScenario(ours);
  } finally {
    await ours.stop();
  }
  t.diagnostic(`tsnats: ${mine.join(" | ")}`);
  for (const line of mine) assert.doesNotMatch(line, /: false$|on a stream server: false/, line);
  if (referenceBinary("2.15") === undefined) return;
  const ref = await startRefJsCluster(3, "P");
  assert.ok(ref !== undefined);
  let theirs: string[];
  try {
    theirs = await placementScenario(ref);
  } finally {
    await ref.stop();
  }
  t.diagnostic(`nats-server: ${theirs.join(" | ")}`);
  assert.deepEqual(mine, theirs);
});
