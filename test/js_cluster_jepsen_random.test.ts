// Random fault schedules against replicated JetStream (issue #12): the Jepsen-style checker of
// js_cluster_jepsen.test.ts with the faults drawn from a seed. Three tsnats processes, each in
// its own network namespace and under the power-loss layer (helpers/power_loss_process.ts);
// an R3 stream J written by three publishers (unique ids, Nats-Msg-Id, retried until
// answered) and read by two durable pull consumers acking every message; an R3 KV-like
// stream KV_CAS written by compare-and-set clients. Meanwhile a seeded schedule of faults,
// one after another (helpers/jepsen_faults.ts): kill -9 of a server, SIGSTOP/SIGCONT, a link
// cut, a server isolated, a leader stepdown, a rescale R3 -> R1 -> R3, a bit flip or a
// truncation of a stopped server's files, a power loss that forgets unsynced writes. Then all
// is healed, the consumers catch up, every server is stopped and each replica's files are read
// (helpers/jepsen_checks.ts): no acknowledged message lost, none duplicated, the same order on
// every replica, acknowledged publishes in real-time order, every acknowledged message
// delivered at least once to each consumer, compare-and-set histories linearizable (a write
// refused with "wrong last sequence" was not applied, and was rightly refused).
//
// The checks do not depend on timing, the schedule does (what a fault hits depends on when it
// lands): so by default no schedule runs. JEPSEN_SEEDS=1-20 (or 3,7,12) runs those seeds, each
// in a fresh cluster, about a minute each; run them with --test-timeout above 100 s per seed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { NetnsLab } from "./helpers/netns.js";
import { NetnsJsCluster, retry } from "./helpers/netns_js_cluster.js";
import { Workload, STREAM, CAS_STREAM, keyOfCasPayload } from "./helpers/jepsen_workload.js";
import { FaultRunner, planSchedule, describeFault } from "./helpers/jepsen_faults.js";
import { checkReplicas, checkRealTimeOrder, checkCas, checkDelivered } from "./helpers/jepsen_checks.js";
import { readReplica } from "./helpers/replica_files.js";
import { Walk } from "./helpers/seeded_walk.js";

/** "1-20", "3,7,12" or "1-5,9" -> the seeds; [] when unset. */
function parseSeeds(spec: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (spec ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new Error(`JEPSEN_SEEDS: cannot read "${part}" (want e.g. 1-20 or 3,7,12)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let s = a; s <= b; s++) out.push(s);
  }
  return out;
}

const seeds = parseSeeds(process.env.JEPSEN_SEEDS);
const skip = NetnsLab.unavailable() ?? (seeds.length === 0 ? "no random schedule by default: set JEPSEN_SEEDS=1-20 (or a list, 3,7,12) to run those seeds" : false);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Faults are scheduled for this long; then everything is healed and checked. */
const FAULT_PHASE_MS = 40_000;
/** After each fault the publishers must get this many more PubAcks... */
const PROGRESS_ACKS = 30;
/** ...within this long, or the run is stuck. */
const PROGRESS_MS = 30_000;
const CONSUMERS = ["D1", "D2"];

async function runSeed(seed: number): Promise<void> {
  const started = Date.now();
  const cluster = await NetnsJsCluster.start({ name: "JEPR", http: false, dirPrefix: `tsnats-jepr${seed}`, powerLoss: true });
  const applied: string[] = [];
  const failures: string[] = [];
  const workload = new Workload(cluster);
  try {
    const admin = await connect(cluster.clientOpts(seed % 3));
    cluster.conns.push(admin);
    const jsm = await retry("jsm", () => jetstreamManager(admin, { timeout: 5000 }));
    await retry("create J", () => jsm.streams.add({ name: STREAM, subjects: ["j.>"], num_replicas: 3, duplicate_window: 300_000_000_000 }), 60_000);
    await retry("create KV_CAS", () => jsm.streams.add({ name: CAS_STREAM, subjects: ["$KV.CAS.>"], num_replicas: 3, allow_direct: true, allow_rollup_hdrs: true, deny_delete: true }), 30_000);
    await retry("create D1", () => jsm.consumers.add(STREAM, { durable_name: "D1", ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000, max_ack_pending: 1000 }), 30_000);
    await retry("create D2", () => jsm.consumers.add(STREAM, { durable_name: "D2", ack_policy: AckPolicy.Explicit, ack_wait: 4_000_000_000, max_ack_pending: 100 }), 30_000);
    workload.start(CONSUMERS);

    const waitProgress = async (after: string): Promise<boolean> => {
      const target = workload.acked + PROGRESS_ACKS;
      const deadline = Date.now() + PROGRESS_MS;
      while (workload.acked < target) {
        if (Date.now() > deadline) {
          failures.push(`stuck: ${workload.acked} PubAcks, no ${PROGRESS_ACKS} more within ${PROGRESS_MS / 1000}s after "${after}"`);
          return false;
        }
        await sleep(50);
      }
      return true;
    };

    // The schedule: more faults than the phase has room for; those left when it ends are not applied.
    const schedule = planSchedule(seed, 20);
    console.log(`# seed ${seed}: schedule ${schedule.map(describeFault).join("; ")}`);
    const runner = new FaultRunner(cluster, admin, seed);
    const pace = new Walk(seed);
    if (await waitProgress("start")) {
      for (const f of schedule) {
        if (Date.now() - started > FAULT_PHASE_MS) break;
        // A fault the runner could not apply (an API call unanswered meanwhile) is reported, not fatal.
        const done = await runner.apply(f).catch((e: Error) => `${describeFault(f)}: not applied (${e.message})`);
        applied.push(done);
        console.log(`#   seed ${seed} fault ${applied.length}: ${done}`);
        if (!(await waitProgress(done))) break;
        await sleep(200 + pace.int(1500));
      }
    }

    // Heal, stop writing, let the replicas and consumers catch up.
    await runner.healAll().catch((e: Error) => failures.push(`a server did not come back: ${e.message}`));
    await workload.stopWriters();
    for (const name of [STREAM, CAS_STREAM]) {
      await retry(
        `${name}: three current replicas`,
        async () => {
          const si = await jsm.streams.info(name);
          const r = si.cluster?.replicas ?? [];
          if (si.config.num_replicas !== 3 || r.length !== 2 || !r.every((x) => x.current)) throw new Error(`R${si.config.num_replicas}, leader ${si.cluster?.leader}, replicas ${JSON.stringify(r.map((x) => [x.name, x.current, x.lag]))}`);
        },
        45_000,
      ).catch((e: Error) => failures.push(`not caught up after healing: ${e.message}`));
    }
    const ackedIds = [...workload.publishes.values()].filter((o) => o.seq !== undefined);
    const drainDeadline = Date.now() + 25_000;
    while (Date.now() < drainDeadline && !CONSUMERS.every((c) => ackedIds.every((o) => workload.delivered.get(c)?.has(o.id)))) await sleep(200);
    await workload.stopConsumers();
    const consumerInfo: string[] = [];
    for (const c of CONSUMERS) {
      const ci = await jsm.consumers.info(STREAM, c).catch(() => undefined);
      consumerInfo.push(`${c}: ${ci === undefined ? "no info" : `delivered ${ci.delivered.stream_seq}, ack floor ${ci.ack_floor.stream_seq}, pending ${ci.num_pending}, ack pending ${ci.num_ack_pending}, leader ${ci.cluster?.leader}`}`);
    }

    for (const c of cluster.conns) await c.close().catch(() => undefined);
    cluster.conns.length = 0;
    for (const s of cluster.servers) await s.stop();

    // The checks, on each replica's files.
    const jReplicas = cluster.dirs.map((d) => readReplica(d, STREAM));
    const casReplicas = cluster.dirs.map((d) => readReplica(d, CAS_STREAM));
    failures.push(...workload.clientErrors());
    failures.push(...checkReplicas(STREAM, jReplicas, workload.publishes.values()));
    failures.push(...checkReplicas(CAS_STREAM, casReplicas, workload.cas.values()));
    failures.push(...checkRealTimeOrder(STREAM, workload.publishes.values()));
    failures.push(...checkRealTimeOrder(CAS_STREAM, workload.cas.values()));
    failures.push(...checkCas(CAS_STREAM, casReplicas[0], keyOfCasPayload, workload.cas.values()));
    for (const c of CONSUMERS) failures.push(...checkDelivered(c, workload.publishes.values(), workload.delivered.get(c) ?? new Set()));

    const cas = [...workload.cas.values()];
    const summary =
      `${ackedIds.length} PubAcks on J (${jReplicas.map((r) => r.length).join("/")} stored), ${workload.unanswered} retried; ` +
      `CAS ${cas.filter((o) => o.seq !== undefined).length} ok, ${cas.filter((o) => o.refused === true).length} refused, ${cas.filter((o) => o.seq === undefined && o.refused !== true).length} unknown; ` +
      `${consumerInfo.join("; ")}; ${Math.round((Date.now() - started) / 1000)}s`;
    console.log(`# seed ${seed}: ${failures.length === 0 ? "PASS" : "FAIL"}: ${applied.length} faults applied: ${applied.join(" | ")}; ${summary}`);
    for (const f of failures) console.log(`#   seed ${seed} violation: ${f}`);
    if (failures.length > 0) {
      // the evidence: each server's store and log, kept for a look
      const keep = fs.mkdtempSync(path.join(os.tmpdir(), `jepsen-seed${seed}-`));
      cluster.servers.forEach((s, i) => {
        fs.cpSync(cluster.dirs[i], path.join(keep, `n${i}`), { recursive: true });
        fs.copyFileSync(s.logFile, path.join(keep, `n${i}.log`));
      });
      console.log(`#   seed ${seed}: stores and logs kept in ${keep}`);
    }
    assert.deepEqual(failures, [], `seed ${seed}: ${failures.length} violations`);
  } finally {
    await workload.stopWriters().catch(() => undefined);
    await workload.stopConsumers().catch(() => undefined);
    await cluster.stop();
  }
}

describe("replicated JetStream under random fault schedules (Jepsen-style)", { skip }, () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, { timeout: 180_000 }, async () => {
      await runSeed(seed);
    });
  }
});
