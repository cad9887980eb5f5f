// Consumers of a replicated stream with a replica count of their own, through @nats-io/jetstream
// clients, the same steps on a tsnats cluster and on nats-server 2.15: an R2 durable and an R3
// ephemeral of an R3 stream are accepted (no 10036), their info shows their own replicas,
// CONSUMER.LEADER.STEPDOWN moves their leadership, and after the server leading them is killed
// consuming goes on from the ack floor: no acknowledged delivery comes again, none is lost.
// Also: an R1 durable scaled to R3 and back, an idle R3 ephemeral removed, mem_storage consumers
// kept in memory. On five servers: js_cluster_consumer_groups_move and _five.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, infoWithLeader, scenario, sleep, waitUntilHeld, type Info, type Observed } from "./helpers/js_cluster_consumer_groups.js";

test("R2 durable and R3 ephemeral of an R3 stream: own replicas, stepdown, leader killed, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Observed;
  try {
    await c.metaLeader();
    ours = await scenario(
      c.members.map((m) => m.url),
      (server) => c.stopMember(server),
      ["E3"],
    );
  } finally {
    await c.stop();
  }
  const rest = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  assert.deepEqual(ours.create, ["D2 ok r=2", "ephemeral ok r=3"]);
  assert.deepEqual(ours.replicas, { D2: 1, E3: 2 });
  assert.deepEqual(ours.stepdownMoved, { D2: true, E3: true });
  assert.deepEqual(ours.afterKill.E3?.seqs, rest);
  assert.equal(ours.afterKill.E3?.ackFloor, 20);
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Observed;
  try {
    theirs = await scenario(ref.urls, async (server) => {
      await ref.servers[Number(server.slice(1)) - 1].stop();
    }, ["E3"]);
  } finally {
    await ref.stop();
  }
  // What clients see is the same.
  assert.deepEqual(ours.create, theirs.create);
  assert.deepEqual(ours.replicas, theirs.replicas);
  assert.deepEqual(ours.stepdownMoved, theirs.stepdownMoved);
  assert.deepEqual(ours.afterKill.E3?.seqs, theirs.afterKill.E3?.seqs);
  assert.equal(ours.afterKill.E3?.ackFloor, theirs.afterKill.E3?.ackFloor);
});

interface Scaled {
  seqs: number[][];
  infos: string[];
}

/** An R1 durable scaled up to R3 and back down by updates, consuming between: where each consumes from. */
async function scaling(urls: string[], held?: (stream: string, name: string) => string[]): Promise<Scaled> {
  const nc = await connect({ servers: urls });
  const out: Scaled = { seqs: [], infos: [] };
  const describe = (a: Info): string =>
    a.error !== undefined ? `${a.error.err_code}` : `r=${a.config?.num_replicas} replicas=${a.cluster?.replicas?.length ?? 0} floor=${a.ack_floor?.stream_seq}`;
  try {
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.U", { name: "U", subjects: ["u.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 10; i++) await clusterPublish(nc, "u.x", `m${i}`);
    const cfg = { durable_name: "C", ack_policy: "explicit" };
    const created = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.U.C", { stream_name: "U", config: { ...cfg, num_replicas: 1 } });
    out.infos.push(describe(created));
    out.seqs.push(await consume(nc, "U", "C", 4));
    // The stream's leader moves: the R1 consumer stays where it was.
    const sd = await clusterApi<Info>(nc, "$JS.API.STREAM.LEADER.STEPDOWN.U", {});
    assert.equal(sd.error, undefined, JSON.stringify(sd.error));
    const up = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.U.C", { stream_name: "U", action: "update", config: { ...cfg, num_replicas: 3 } });
    assert.equal(up.error, undefined, JSON.stringify(up.error));
    const deadline = Date.now() + 60_000;
    let info = await infoWithLeader(nc, "U", "C");
    while ((info.cluster?.replicas?.length ?? 0) < 2 && Date.now() < deadline) {
      await sleep(100);
      info = await infoWithLeader(nc, "U", "C");
    }
    out.infos.push(describe(info));
    if (held !== undefined) await waitUntilHeld(() => held("U", "C"), 3, "every server holds the scaled-up consumer with its ack floor");
    out.seqs.push(await consume(nc, "U", "C", 3));
    const down = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.U.C", { stream_name: "U", action: "update", config: { ...cfg, num_replicas: 1 } });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    info = await infoWithLeader(nc, "U", "C");
    while ((info.cluster?.replicas?.length ?? 0) > 0 && Date.now() < deadline) {
      await sleep(100);
      info = await infoWithLeader(nc, "U", "C");
    }
    out.infos.push(describe(info));
    if (held !== undefined) await waitUntilHeld(() => held("U", "C"), 1, "one server holds the scaled-down consumer");
    out.seqs.push(await consume(nc, "U", "C", 3));
    out.infos.push(describe(await infoWithLeader(nc, "U", "C")));
  } finally {
    await nc.close();
  }
  return out;
}

test("an R1 durable scaled up to R3 and down again by updates keeps its ack floor, as nats-server 2.15", { timeout: 600_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: Scaled;
  try {
    await c.metaLeader();
    ours = await scaling(
      c.members.map((m) => m.url),
      (stream, name) =>
        c.members.flatMap((m) => {
          const k = m.srv === undefined ? undefined : c.js(m.name).accounts.get("$G")?.streams.get(stream)?.consumers.get(name);
          return k === undefined ? [] : [`${m.name}:${(k.infoJson() as Info).ack_floor?.stream_seq}`];
        }),
    );
  } finally {
    await c.stop();
  }
  assert.deepEqual(ours.seqs, [
    [1, 2, 3, 4],
    [5, 6, 7],
    [8, 9, 10],
  ]);
  assert.deepEqual(ours.infos, ["r=1 replicas=0 floor=0", "r=3 replicas=2 floor=4", "r=1 replicas=0 floor=7", "r=1 replicas=0 floor=10"]);
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  let theirs: Scaled;
  try {
    theirs = await scaling(ref.urls);
  } finally {
    await ref.stop();
  }
  assert.deepEqual(ours, theirs);
});

/** A replicated ephemeral left idle: gone from the cluster after its inactive threshold. */
async function idleEphemeral(urls: string[]): Promise<{ created: string; gone: string }> {
  const nc = await connect({ servers: urls });
  try {
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.I", { name: "I", subjects: ["i.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    const e = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.I", { stream_name: "I", config: { ack_policy: "explicit", num_replicas: 3, inactive_threshold: 2_000_000_000 } });
    const created = e.error === undefined ? `ok r=${e.config?.num_replicas}` : `${e.error.err_code}`;
    let gone = "";
    const deadline = Date.now() + 60_000;
    while (gone === "" && Date.now() < deadline) {
      const a = await clusterApi<Info>(nc, `$JS.API.CONSUMER.INFO.I.${e.name}`);
      if (a.error !== undefined) gone = `${a.error.err_code}`;
      else await sleep(200);
    }
    return { created, gone };
  } finally {
    await nc.close();
  }
}

test("an idle R3 ephemeral is deleted by every server after its inactive threshold, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  let ours: { created: string; gone: string };
  try {
    await c.metaLeader();
    ours = await idleEphemeral(c.members.map((m) => m.url));
    const held = (): string[] => c.members.filter((m) => (c.js(m.name).accounts.get("$G")?.streams.get("I")?.consumers.size ?? 0) > 0).map((m) => m.name);
    await waitUntilHeld(held, 0, "no server keeps the idle ephemeral");
  } finally {
    await c.stop();
  }
  assert.deepEqual(ours, { created: "ok r=3", gone: "10014" });
  const ref = await startRefJsCluster(3);
  if (ref === undefined) return;
  try {
    assert.deepEqual(await idleEphemeral(ref.urls), ours);
  } finally {
    await ref.stop();
  }
});

/** The consumer directories under a server's store (obs/<name>), names only. */
function storedConsumers(storeDir: string): string[] {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === "obs") for (const c of fs.readdirSync(path.join(dir, e.name))) out.add(c);
      else walk(path.join(dir, e.name));
    }
  };
  walk(storeDir);
  return [...out].sort();
}

test("a replicated consumer with mem_storage keeps its state in memory on every server, scaled up from R1 too", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaLeader();
    const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.M", { name: "M", subjects: ["m.>"], num_replicas: 3 });
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    for (let i = 1; i <= 5; i++) await clusterPublish(nc, "m.x", `m${i}`);
    const made = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.M.MEM3", { stream_name: "M", config: { durable_name: "MEM3", ack_policy: "explicit", mem_storage: true } });
    assert.equal(made.error, undefined, JSON.stringify(made.error));
    const file = await clusterApi<Info>(nc, "$JS.API.CONSUMER.CREATE.M.FILE", { stream_name: "M", config: { durable_name: "FILE", ack_policy: "explicit" } });
    assert.equal(file.error, undefined, JSON.stringify(file.error));
    // R1 durables (each placed on any member), each scaled up right after the stream's leader
    // stepped down: the new leader knows where each lives (the placement is committed in the
    // stream's group before the create is answered, and a new leader decides about consumers
    // once it applied its group's earlier entries).
    const names = ["MEM1", "MEM1B", "MEM1C"];
    for (const name of names) {
      const cfg = { durable_name: name, ack_policy: "explicit", mem_storage: true };
      const r1 = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.M.${name}`, { stream_name: "M", config: { ...cfg, num_replicas: 1 } });
      assert.equal(r1.error, undefined, JSON.stringify(r1.error));
      assert.deepEqual(await consume(nc, "M", name, 2), [1, 2]);
      assert.equal((await clusterApi<Info>(nc, "$JS.API.STREAM.LEADER.STEPDOWN.M", {})).error, undefined);
      const up = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.M.${name}`, { stream_name: "M", action: "update", config: { ...cfg, num_replicas: 3 } });
      assert.equal(up.error, undefined, `${name}: ${JSON.stringify(up.error)}`);
    }
    const held = (name: string) => (): string[] =>
      c.members.flatMap((m) => {
        const k = c.js(m.name).accounts.get("$G")?.streams.get("M")?.consumers.get(name);
        return k === undefined ? [] : [`${m.name}:${(k.infoJson() as Info).ack_floor?.stream_seq}`];
      });
    for (const name of [...names, "MEM3"]) await waitUntilHeld(held(name), 3, `every server holds ${name}`);
    for (const name of names) assert.deepEqual(held(name)().map((h) => h.split(":")[1]), ["2", "2", "2"], name);
    for (const m of c.members) assert.deepEqual(storedConsumers(m.storeDir), ["FILE"], m.name);
    for (const name of names) assert.deepEqual(await consume(nc, "M", name, 3), [3, 4, 5], name);
  } finally {
    await nc.close();
    await c.stop();
  }
});

