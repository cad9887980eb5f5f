// jetstream { limits {} }, strict, max_outstanding_catchup and extension_hint: the same config
// file run by tsnats and by nats-server 2.15, the same requests, the same answers; /varz and
// /jsz show the limits as nats-server does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { differences, referenceMissing, sendStep, type Observed, type Step } from "./helpers/side_by_side.js";
import { loadConfigFile } from "../src/config/load.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const LIMITS_CONF = `
jetstream {
  strict: true
  max_outstanding_catchup: 32MB
  limits {
    max_ack_pending: 100
    max_request_batch: 50
    duplicate_window: 30s
    max_ha_assets: 2
    default_max_consumers: 3
    batch { max_inflight_per_stream: 3, max_inflight_total: 5, max_msgs: 10, timeout: 5s }
  }
}
`;

const consumer = (stream: string, name: string, extra: Record<string, unknown> = {}): Step => ({
  s: `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
  b: { stream_name: stream, config: { durable_name: name, ack_policy: "explicit", ...extra } },
  note: `consumer ${name} ${JSON.stringify(extra)}`,
});

const STEPS: Step[] = [
  { s: "$JS.API.STREAM.CREATE.S", b: { name: "S", subjects: ["s.>"], storage: "memory" }, note: "default duplicate window: the server's limit" },
  { s: "$JS.API.STREAM.CREATE.S2", b: { name: "S2", subjects: ["s2.>"], storage: "memory", duplicate_window: 60e9 }, note: "duplicate window over the limit" },
  { s: "$JS.API.STREAM.CREATE.S3", b: { name: "S3", subjects: ["s3.>"], storage: "memory", duplicate_window: 10e9 } },
  { s: "$JS.API.STREAM.UPDATE.S3", b: { name: "S3", subjects: ["s3.>"], storage: "memory", duplicate_window: 60e9 }, note: "update over the limit" },
  { s: "$JS.API.STREAM.CREATE.P", b: { name: "P", subjects: ["p.>"], storage: "memory", duplicate_window: 1e9, pedantic: true }, note: "pedantic, window set" },
  { s: "$JS.API.STREAM.CREATE.P2", b: { name: "P2", subjects: ["p2.>"], storage: "memory", pedantic: true }, note: "pedantic, default window above the limit" },
  consumer("S", "C1"),
  consumer("S", "C2", { max_ack_pending: 200 }),
  consumer("S", "C3", { max_ack_pending: -1 }),
  consumer("S", "C4", { max_batch: 100 }),
  consumer("S", "C5", { max_batch: 20 }),
  consumer("S", "C6", { max_ack_pending: 50 }),
  { ...consumer("S", "C1", { max_ack_pending: 500 }), note: "update over the limit" },
  { s: "$JS.API.CONSUMER.CREATE.S3.PUSH", b: { stream_name: "S3", config: { durable_name: "PUSH", deliver_subject: "dd", ack_policy: "explicit" } }, note: "push: no max_batch" },
  { s: "$JS.API.CONSUMER.CREATE.S3.NONE", b: { stream_name: "S3", config: { durable_name: "NONE", ack_policy: "none" } }, note: "ack none" },
  { s: "$JS.API.CONSUMER.CREATE.S3.PED", b: { stream_name: "S3", config: { durable_name: "PED", ack_policy: "explicit", max_ack_pending: 10 }, pedantic: true }, note: "pedantic without max_batch" },
  { s: "$JS.API.CONSUMER.MSG.NEXT.S.C1", b: { batch: 80, expires: 500e6 }, expect: "msgs", n: 1, waitMs: 1000, note: "a pull over the consumer's max_batch" },
  consumer("S3", "D1"),
  consumer("S3", "D2"),
  consumer("S3", "D3"),
  { s: "$JS.API.CONSUMER.CREATE.S3", b: { stream_name: "S3", config: { ack_policy: "explicit" } }, volatile: true, note: "an ephemeral past default_max_consumers" },
  { s: "$JS.API.STREAM.CREATE.M5", b: { name: "M5", subjects: ["m5.>"], storage: "memory", max_consumers: 5 }, setup: true },
  consumer("M5", "E1"),
  consumer("M5", "E2"),
  consumer("M5", "E3"),
  { ...consumer("M5", "E4"), note: "a stream's own max_consumers above the default" },
  { s: "$JS.API.STREAM.INFO.S", b: { bogus: 1 }, note: "strict: an unknown field" },
  { s: "$JS.API.INFO", ignore: ["api"] },
  // Atomic batches: limits { batch { max_msgs: 10 } }.
  { s: "$JS.API.STREAM.CREATE.AB", b: { name: "AB", subjects: ["ab.>"], storage: "memory", allow_atomic: true }, setup: true },
  ...Array.from({ length: 10 }, (_, i): Step => ({ s: "ab.x", b: `m${i}`, h: { "Nats-Batch-Id": "b1", "Nats-Batch-Sequence": String(i + 1) }, expect: "none", note: `batch message ${i + 1}` })),
  { s: "ab.x", b: "m11", h: { "Nats-Batch-Id": "b1", "Nats-Batch-Sequence": "11", "Nats-Batch-Commit": "1" }, note: "the 11th message of a batch of at most 10" },
  { s: "ab.x", b: "one", h: { "Nats-Batch-Id": "b2", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1" }, note: "a batch within the limit" },
];

function start(line: "2.15" | "tsnats", conf: string): Promise<ReferenceServer> {
  return startNatsServer(["-js", "-m", "-1"], conf, line);
}

async function runSteps(steps: Step[], ...ncs: NatsConnection[]): Promise<Array<[Observed, Observed]>> {
  const all = await Promise.all(
    ncs.map(async (nc) => {
      const seen: Observed[] = [];
      for (const s of steps) seen.push(await sendStep(nc, s));
      return seen;
    }),
  );
  return steps.map((_, i) => [all[0][i], all[1][i]]);
}

test("jetstream limits {}: stream and consumer defaults, bounds and errors as nats-server 2.15", { skip: referenceMissing(), timeout: 120_000 }, async () => {
  const ref = await start("2.15", LIMITS_CONF);
  const ours = await start("tsnats", LIMITS_CONF);
  const ncs = [await connect({ servers: `127.0.0.1:${ref.port}` }), await connect({ servers: `127.0.0.1:${ours.port}` })];
  try {
    const pairs = await runSteps(STEPS, ...ncs);
    assert.deepEqual(differences(STEPS, pairs), []);
    // The answers themselves, so that agreeing with nats-server also means what the limits say.
    const json = (i: number): Record<string, any> => (pairs[i][1] as { json: Record<string, any> }).json;
    assert.equal(json(0).config.duplicate_window, 30e9);
    assert.equal(json(1).error.err_code, 10052);
    assert.equal(json(6).config.max_ack_pending, 100);
    assert.equal(json(6).config.max_batch, 50);
    assert.equal(json(7).error.err_code, 10121);
    assert.equal(json(9).error.err_code, 10125);
    assert.equal(json(20).error.err_code, 10026);
    assert.equal(json(26).error.err_code, 10025);
    assert.equal(json(39).error.err_code, 10199, "batch too large");
    assert.equal(json(40).seq, 1, "a batch within the limit is stored");

    // /varz and /jsz: the limits block, strict.
    for (const [srv, who] of [
      [ref, "2.15"],
      [ours, "tsnats"],
    ] as const) {
      const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as { jetstream: { config: Record<string, unknown>; limits: Record<string, unknown> } };
      assert.deepEqual(
        varz.jetstream.limits,
        {
          max_request_batch: 50,
          max_ack_pending: 100,
          max_ha_assets: 2,
          max_duplicate_window: 30e9,
          max_batch_inflight_per_stream: 3,
          max_batch_inflight_total: 5,
          max_batch_size: 10,
          max_batch_timeout: 5e9,
          default_max_consumers: 3,
        },
        who,
      );
      assert.equal(varz.jetstream.config.strict, true, who);
      const jsz = (await (await fetch(`${srv.monitorUrl}/jsz`)).json()) as { limits: Record<string, unknown>; total: number };
      assert.deepEqual(jsz.limits, varz.jetstream.limits, who);
      assert.equal(jsz.total, 1, who);
    }
  } finally {
    for (const nc of ncs) await nc.close();
    await ref.stop();
    await ours.stop();
  }
});

test("jetstream strict: false: a request with an unknown field is served, its known fields used", { skip: referenceMissing(), timeout: 60_000 }, async () => {
  const conf = "jetstream { strict: false }\n";
  const ref = await start("2.15", conf);
  const ours = await start("tsnats", conf);
  const ncs = [await connect({ servers: `127.0.0.1:${ref.port}` }), await connect({ servers: `127.0.0.1:${ours.port}` })];
  const steps: Step[] = [
    { s: "$JS.API.STREAM.CREATE.L", b: { name: "L", subjects: ["l.>"], storage: "memory", bogus: true, max_msgs: 5 } },
    { s: "$JS.API.STREAM.INFO.L", b: { bogus: 1 } },
    { s: "$JS.API.CONSUMER.CREATE.L.C", b: { stream_name: "L", config: { durable_name: "C", ack_policy: "explicit", future_field: "x" } } },
    { s: "$JS.API.STREAM.CREATE.L2", b: { name: "L2", subjects: ["l2.>"], storage: "memory", max_msgs: "five" }, note: "a wrong type is still an error" },
  ];
  try {
    const pairs = await runSteps(steps, ...ncs);
    assert.deepEqual(differences(steps, pairs), []);
    const ourCreate = (pairs[0][1] as { json: { config: { max_msgs: number } } }).json;
    assert.equal(ourCreate.config.max_msgs, 5);
    const varz = (await (await fetch(`${ours.monitorUrl}/varz`)).json()) as { jetstream: { config: Record<string, unknown>; limits: Record<string, unknown> } };
    assert.equal(varz.jetstream.config.strict, undefined);
    assert.deepEqual(varz.jetstream.limits, { default_max_consumers: 1000 });
  } finally {
    for (const nc of ncs) await nc.close();
    await ref.stop();
    await ours.stop();
  }
});

test("jetstream limits, extension_hint and max_outstanding_catchup are read, bad values stop start-up with file and line", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-jslimits-"));
  const file = path.join(dir, "s.conf");
  try {
    fs.writeFileSync(file, LIMITS_CONF + "\n");
    const o = loadConfigFile(file).jetstream;
    assert.deepEqual(o.limits, {
      maxAckPending: 100,
      maxRequestBatch: 50,
      duplicateWindowMs: 30_000,
      maxHaAssets: 2,
      defaultMaxConsumers: 3,
      batch: { maxInflightPerStream: 3, maxInflightTotal: 5, maxMsgs: 10, timeoutMs: 5000 },
    });
    assert.equal(o.maxOutstandingCatchup, 32 * 1024 * 1024);
    assert.equal(o.strict, true);
    fs.writeFileSync(file, "jetstream {\n  extension_hint: will_extend\n}\n");
    assert.equal(loadConfigFile(file).jetstream.extensionHint, "will_extend");
    for (const [text, why] of [
      ["jetstream {\n  extension_hint: sometimes\n}\n", "s.conf:2:3: expected 'no_extend' for string value, got 'sometimes'"],
      ["jetstream {\n  limits { max_ack_pending: \"x\" }\n}\n", "s.conf:2:12"],
      ["jetstream {\n  limits {\n    wat: 1\n  }\n}\n", 's.conf:3:5: unknown field "wat"'],
      ["jetstream {\n  limits { batch { max_msgs: 1, nope: 2 } }\n}\n", 'unknown field "nope"'],
      ["jetstream {\n  max_outstanding_catchup: -1\n}\n", "s.conf:2:3: jetstream max catchup cannot be negative"],
    ] as const) {
      fs.writeFileSync(file, text);
      assert.throws(() => loadConfigFile(file), (e: Error) => e.message.includes(why), `${text} -> ${why}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("jetstream limits { max_ha_assets }: a cluster places no more replicated streams on a server than that, as nats-server 2.15", { skip: referenceMissing(), timeout: 180_000 }, async () => {
  const answers: Record<string, Array<Record<string, any>>> = {};
  for (const line of ["2.15", "tsnats"] as const) {
    const c = await startRefJsCluster(3, "HA", { jetstream: "limits { max_ha_assets: 1 }", line });
    assert.ok(c !== undefined);
    const nc = await connect({ servers: c.urls[0] });
    try {
      const create = async (name: string, replicas: number): Promise<Record<string, any>> =>
        (await nc.request(`$JS.API.STREAM.CREATE.${name}`, JSON.stringify({ name, subjects: [`${name}.>`], num_replicas: replicas }), { timeout: 10_000 })).json();
      // The first R3 stream once the cluster has elected its meta leader and heard from everyone.
      const deadline = Date.now() + 60_000;
      let first: Record<string, any> = {};
      for (;;) {
        first = await create("A", 3).catch((e: Error) => ({ error: { description: e.message } }));
        if (first.error === undefined || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(first.error, undefined, `${line}: ${JSON.stringify(first.error)}`);
      answers[line] = [await create("B", 3), await create("C", 1)];
      const varz = (await (await fetch(`${c.servers[0].monitorUrl}/varz`)).json()) as { jetstream: { stats: { ha_assets: number } } };
      assert.equal(varz.jetstream.stats.ha_assets, 2, `${line}: the meta group and A's group`);
    } finally {
      await nc.close();
      await c.stop();
    }
  }
  const strip = (a: Record<string, any>): unknown => (a.error !== undefined ? a.error : { created: a.config?.name });
  assert.deepEqual(answers.tsnats.map(strip), answers["2.15"].map(strip));
  assert.ok(answers.tsnats[0].error !== undefined, "a second R3 stream has no room");
});
