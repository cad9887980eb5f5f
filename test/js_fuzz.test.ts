// Random and mutated JSON sent to the JetStream API: every request gets a reply (or, for
// subjects nats-server ignores, none), no handler throws, stored data is untouched and the
// server keeps serving.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { prng } from "./helpers/fuzz.js";
import type { Log } from "../src/server/log.js";

const errors: string[] = [];
const log: Log = {
  debugEnabled: false,
  traceEnabled: false,
  info() {},
  warn() {},
  debug() {},
  trace() {},
  error(m: string) {
    // A handler that threw is a bug; other errors (bad client input) are expected.
    if (/Internal subscription|internal error|Uncaught/.test(m)) errors.push(m);
  },
  fatal(m: string) {
    errors.push(m);
  },
};

let srv: TestServer;
let nc: NatsConnection;

before(async () => {
  srv = await startTestServer({ jetstream: true, log });
  nc = await connect({ servers: srv.url });
});
after(async () => {
  await nc?.close();
  await srv?.close();
});

const SUBJECTS = [
  "$JS.API.INFO",
  "$JS.API.STREAM.CREATE.FZ",
  "$JS.API.STREAM.UPDATE.FZ",
  "$JS.API.STREAM.INFO.FZ",
  "$JS.API.STREAM.NAMES",
  "$JS.API.STREAM.LIST",
  "$JS.API.STREAM.PURGE.FZ",
  "$JS.API.STREAM.MSG.GET.FZ",
  "$JS.API.STREAM.MSG.DELETE.FZ",
  "$JS.API.DIRECT.GET.FZ",
  "$JS.API.CONSUMER.CREATE.FZ",
  "$JS.API.CONSUMER.CREATE.FZ.C1",
  "$JS.API.CONSUMER.CREATE.FZ.C1.fz.a",
  "$JS.API.CONSUMER.DURABLE.CREATE.FZ.D1",
  "$JS.API.CONSUMER.INFO.FZ.C1",
  "$JS.API.CONSUMER.NAMES.FZ",
  "$JS.API.CONSUMER.LIST.FZ",
  "$JS.API.CONSUMER.MSG.NEXT.FZ.C1",
  "$JS.API.CONSUMER.DELETE.FZ.C1",
  "$JS.API.STREAM.CREATE.FZ2",
  "$JS.API.STREAM.DELETE.FZ2",
];

const SEEDS: unknown[] = [
  { name: "FZ", subjects: ["fz.>"], storage: "file", retention: "limits", max_msgs: 100 },
  { name: "FZ2", subjects: ["fz2.*"], storage: "memory", discard: "new", max_bytes: 1024 },
  { stream_name: "FZ", config: { durable_name: "C1", ack_policy: "explicit", filter_subject: "fz.a" } },
  { stream_name: "FZ", config: { deliver_subject: "push.fz", ack_policy: "none" } },
  { batch: 5, expires: 100_000_000, no_wait: true },
  { seq: 1 },
  { last_by_subj: "fz.a" },
  { filter: "fz.b", keep: 1 },
  { offset: 0, subject: "fz.>" },
];

const WEIRD: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 63, -(2 ** 53), "", "x".repeat(300), [], [1, "a"], {}, { a: { b: {} } }, "fz.>", "*", ">"];

function mutate(v: unknown, rnd: () => number, depth = 0): unknown {
  if (depth > 3 || rnd() < 0.15) return WEIRD[Math.floor(rnd() * WEIRD.length)];
  if (Array.isArray(v)) return v.map((x) => mutate(x, rnd, depth + 1));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const r = rnd();
      if (r < 0.1) continue; // drop the field
      out[r < 0.15 ? `${k}_x` : k] = r < 0.6 ? x : mutate(x, rnd, depth + 1);
    }
    return out;
  }
  return rnd() < 0.5 ? v : WEIRD[Math.floor(rnd() * WEIRD.length)];
}

function payload(rnd: () => number): Uint8Array {
  const r = rnd();
  if (r < 0.05) return new Uint8Array(0);
  if (r < 0.1) return Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
  const json = JSON.stringify(mutate(SEEDS[Math.floor(rnd() * SEEDS.length)], rnd));
  if (r < 0.2) return new TextEncoder().encode(json.slice(0, Math.floor(rnd() * json.length)));
  return new TextEncoder().encode(json);
}

test("fuzzed JetStream API requests never break the server", { timeout: 300_000 }, async () => {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
  for (let i = 0; i < 20; i++) await js.publish("keep.x", `m${i}`);

  const rnd = prng(Number(process.env.FUZZ_SEED ?? 7));
  // A fixed number of cases, whatever the machine's load: a seed always replays the same run.
  const cases = Number(process.env.FUZZ_CASES ?? 1500);
  let answered = 0;
  let sent = 0;
  for (let i = 0; i < cases; i++) {
    sent++;
    const subject = SUBJECTS[Math.floor(rnd() * SUBJECTS.length)];
    // A pull request may rightly stay unanswered, so it gets a short wait; every other request
    // gets a generous one, so a slow answer on a loaded machine is not counted as silence.
    const timeout = subject.includes("MSG.NEXT") ? 300 : 20_000;
    try {
      const m = await nc.request(subject, payload(rnd), { timeout });
      if (!subject.includes("MSG.NEXT") && !subject.includes("DIRECT.GET") && m.data.length > 0) {
        // JSON API answers are JSON objects.
        const body = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
        assert.equal(typeof body, "object");
      }
      answered++;
    } catch (err) {
      // Pull requests may legitimately wait past the timeout; nothing else should be silent.
      const msg = (err as Error).message;
      assert.ok(/TIMEOUT|timeout|no responders/i.test(msg), `${subject}: ${msg}`);
    }
  }
  assert.ok(answered > sent / 2, `only ${answered} of ${sent} requests answered`);
  assert.deepEqual(errors, [], "no JetStream handler threw");

  // The untouched stream is intact and the server still serves JetStream.
  const info = await jsm.streams.info("KEEP");
  assert.equal(info.state.messages, 20);
  const ack = await js.publish("keep.x", "after");
  assert.equal(ack.seq, 21);
});
