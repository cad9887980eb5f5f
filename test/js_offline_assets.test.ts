// Offline assets (ADR-44, nats-server 2.12+): a stored stream or consumer written by a newer
// server (a higher `_nats.req.level`, or a config field this server does not know) is kept
// but not run. The same streams are made on tsnats and nats-server 2.15, their stored
// configs edited the way a newer server would have written them, both restarted, and every
// API then compared: why each is offline, the half-second delay of those errors, listings
// with `offline` / `missing`, subjects still taken, deletes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { comparable, sendStep, type Step } from "./helpers/side_by_side.js";
import { natsMetaSum } from "./helpers/highwayhash.js";
import { crc32 } from "../src/storage/crc32.js";

const SETUP: Step[] = [
  ...["OK", "LVL", "UNK", "CONS"].flatMap((n): Step[] => [
    { s: `$JS.API.STREAM.CREATE.${n}`, b: { name: n, subjects: [`${n.toLowerCase()}.>`] } },
    { s: `${n.toLowerCase()}.a`, b: "x" },
  ]),
  { s: "$JS.API.CONSUMER.CREATE.CONS.C1", b: { stream_name: "CONS", config: { name: "C1", durable_name: "C1", ack_policy: "explicit" } } },
  { s: "$JS.API.CONSUMER.CREATE.CONS.C2", b: { stream_name: "CONS", config: { name: "C2", durable_name: "C2", ack_policy: "explicit" } } },
  { s: "$JS.API.CONSUMER.CREATE.OK.D1", b: { stream_name: "OK", config: { name: "D1", durable_name: "D1", ack_policy: "explicit" } } },
];

/** After the restart. `slow`: an error nats-server answers after its half-second pause. */
const PROBE: Array<Step & { slow?: boolean }> = [
  { s: "$JS.API.INFO" },
  { s: "$JS.API.STREAM.NAMES" },
  { s: "$JS.API.STREAM.NAMES", b: { subject: "lvl.x" } },
  { s: "$JS.API.STREAM.LIST" },
  { s: "$JS.API.STREAM.INFO.LVL", slow: true },
  { s: "$JS.API.STREAM.INFO.UNK", slow: true },
  { s: "$JS.API.STREAM.INFO.CONS", slow: true },
  { s: "$JS.API.STREAM.INFO.OK" },
  { s: "$JS.API.STREAM.UPDATE.LVL", b: { name: "LVL", subjects: ["lvl.>"] }, slow: true },
  { s: "$JS.API.STREAM.CREATE.LVL", b: { name: "LVL", subjects: ["lvl.>"] } },
  { s: "$JS.API.STREAM.CREATE.LVL", b: { name: "LVL", subjects: ["zz.>"] } },
  { s: "$JS.API.STREAM.CREATE.X", b: { name: "X", subjects: ["lvl.>"] } },
  { s: "$JS.API.STREAM.UPDATE.OK", b: { name: "OK", subjects: ["ok.>", "unk.x"] } },
  { s: "$JS.API.STREAM.PURGE.LVL" },
  { s: "$JS.API.STREAM.MSG.GET.LVL", b: { seq: 1 } },
  { s: "$JS.API.STREAM.MSG.DELETE.LVL", b: { seq: 1 } },
  { s: "$JS.API.STREAM.SNAPSHOT.UNK", b: { deliver_subject: "snap.x" } },
  { s: "$JS.API.DIRECT.GET.LVL", b: { seq: 1 } },
  { s: "lvl.a", b: "hello" },
  { s: "$JS.API.CONSUMER.NAMES.CONS" },
  { s: "$JS.API.CONSUMER.LIST.CONS" },
  { s: "$JS.API.CONSUMER.INFO.CONS.C1" },
  { s: "$JS.API.CONSUMER.INFO.CONS.C2", slow: true },
  { s: "$JS.API.CONSUMER.CREATE.CONS.C3", b: { stream_name: "CONS", config: { name: "C3", ack_policy: "explicit" } }, slow: true },
  { s: "$JS.API.CONSUMER.CREATE.LVL.C9", b: { stream_name: "LVL", config: { name: "C9", ack_policy: "explicit" } }, slow: true },
  { s: "$JS.API.CONSUMER.NAMES.LVL" },
  { s: "$JS.API.CONSUMER.MSG.NEXT.CONS.C2", b: { batch: 1, expires: 500_000_000 } },
  { s: "$JS.API.CONSUMER.PAUSE.CONS.C2", b: { pause_until: "2030-01-01T00:00:00Z" } },
  { s: "$JS.API.CONSUMER.LIST.OK" },
  { s: "$JS.API.CONSUMER.DELETE.CONS.C2" },
  { s: "$JS.API.CONSUMER.NAMES.CONS" },
  { s: "$JS.API.CONSUMER.DELETE.CONS.C1" },
  { s: "$JS.API.STREAM.INFO.CONS", slow: true },
  { s: "$JS.API.STREAM.DELETE.LVL" },
  { s: "$JS.API.STREAM.DELETE.UNK" },
  { s: "$JS.API.STREAM.CREATE.X", b: { name: "X", subjects: ["lvl.>"] } },
  { s: "$JS.API.STREAM.NAMES" },
  { s: "$JS.API.INFO" },
];

type Line = "2.15" | "tsnats";

/** Rewrite the stored configs as a newer server would have left them. */
function editStore(line: Line, sd: string): void {
  const streams = path.join(sd, "jetstream", "$G", "streams");
  if (line === "2.15") {
    const edit = (dir: string, sumKey: string | undefined, f: (j: Record<string, unknown>) => void): void => {
      const p = path.join(dir, "meta.inf");
      const j = JSON.parse(fs.readFileSync(p, "utf8")) as Record<string, unknown>;
      f(j);
      const buf = Buffer.from(JSON.stringify(j));
      fs.writeFileSync(p, buf);
      if (sumKey !== undefined) fs.writeFileSync(path.join(dir, "meta.sum"), natsMetaSum(sumKey, buf));
    };
    edit(path.join(streams, "LVL"), "LVL", (j) => (j.metadata = { ...(j.metadata as object), "_nats.req.level": "99" }));
    edit(path.join(streams, "UNK"), "UNK", (j) => (j.new_field = 1));
    // nats-server does not check a consumer's meta.sum when it reads the config.
    edit(path.join(streams, "CONS", "obs", "C2"), undefined, (j) => (j.metadata = { ...(j.metadata as object), "_nats.req.level": "99" }));
    return;
  }
  // tsnats: meta.json {version, created, config, metadata, checksum}; the stream's JetStream
  // config is metadata.config, a consumer's config.config.
  const edit = (file: string, f: (doc: Record<string, unknown>) => void): void => {
    const doc = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    f(doc);
    const payload = { version: doc.version, created: doc.created, config: doc.config, metadata: doc.metadata };
    doc.checksum = crc32(Buffer.from(JSON.stringify(payload))).toString(16).padStart(8, "0");
    fs.writeFileSync(file, JSON.stringify(doc));
  };
  const streamCfg = (doc: Record<string, unknown>): Record<string, unknown> => (doc.metadata as { config: Record<string, unknown> }).config;
  edit(path.join(streams, "LVL", "meta.json"), (d) => {
    const c = streamCfg(d);
    c.metadata = { ...(c.metadata as object), "_nats.req.level": "99" };
  });
  edit(path.join(streams, "UNK", "meta.json"), (d) => (streamCfg(d).new_field = 1));
  edit(path.join(streams, "CONS", "obs", "C2", "meta.json"), (d) => {
    const c = (d.config as { config: Record<string, unknown> }).config;
    c.metadata = { ...(c.metadata as object), "_nats.req.level": "99" };
  });
}

/** One step's answer as comparable text. */
async function answer(nc: NatsConnection, step: Step): Promise<string> {
  return JSON.stringify(comparable(await sendStep(nc, step), step));
}

async function runSide(line: Line): Promise<{ answers: string[]; delays: number[] }> {
  const sd = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-offline-"));
  let srv: ReferenceServer | undefined;
  try {
    srv = await startNatsServer(["-js", "-sd", sd], undefined, line);
    let nc = await connect({ servers: `127.0.0.1:${srv.port}` });
    for (const step of SETUP) await answer(nc, step);
    await nc.close();
    await srv.stop();
    editStore(line, sd);
    srv = await startNatsServer(["-js", "-sd", sd], undefined, line);
    nc = await connect({ servers: `127.0.0.1:${srv.port}` });
    const answers: string[] = [];
    const delays: number[] = [];
    for (const step of PROBE) {
      const t0 = Date.now();
      // The API level is the reported version's: compared apart from its number.
      answers.push((await answer(nc, step)).replace(/current API level: \d+/g, "current API level: N"));
      delays.push(Date.now() - t0);
    }
    await nc.close();
    return { answers, delays };
  } finally {
    await srv?.stop();
    fs.rmSync(sd, { recursive: true, force: true });
  }
}

describe("offline assets (ADR-44) compared with nats-server 2.15", () => {
  it("streams and consumers from a newer server are kept offline, with nats-server's answers", { skip: referenceBinary("2.15") === undefined }, async () => {
    const [ref, ours] = await Promise.all([runSide("2.15"), runSide("tsnats")]);
    const diffs: string[] = [];
    for (const [i, step] of PROBE.entries()) {
      if (ref.answers[i] !== ours.answers[i]) {
        diffs.push(`#${i} ${step.s} ${step.b === undefined ? "" : JSON.stringify(step.b)}\n  nats-server: ${ref.answers[i]}\n  tsnats:      ${ours.answers[i]}`);
      }
      if (step.slow) {
        assert.ok(ref.delays[i]! >= 450, `nats-server delays #${i}`);
        assert.ok(ours.delays[i]! >= 450 && ours.delays[i]! < 1500, `tsnats delays #${i} by half a second (${ours.delays[i]} ms)`);
      }
    }
    assert.deepEqual(diffs, []);
    // What decides it, in both answers.
    assert.match(ours.answers[PROBE.findIndex((p) => p.s === "$JS.API.DIRECT.GET.LVL")]!, /"status":"503/);
    assert.match(ours.answers[4]!, /stream is offline: unsupported - required API level: 99, current API level: N/);
    assert.match(ours.answers[5]!, /stream is offline: decoding error: json: unknown field \\"new_field\\"/);
    assert.match(ours.answers[6]!, /stream is offline: stopped - unsupported consumer \\"C2\\"/);
  });
});
