// tsnats CLI: `pub --schedule-*` (ADR-51 message schedules) and `pub --atomic` (ADR-50 atomic
// batches), against tsnats and nats-server 2.15 started alike: the headers the stream
// stores, the scheduled message firing, the batch stored whole, and natscli's refusals.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { goDuration, scheduleHeaders } from "../src/cli/pub_jetstream.js";

const home = new CliHome();
after(() => home.cleanup());

async function api(nc: NatsConnection, subject: string, body: unknown = ""): Promise<Record<string, any>> {
  return (await nc.request(`$JS.API.${subject}`, typeof body === "string" ? body : JSON.stringify(body), { timeout: 10_000 })).json<Record<string, any>>();
}

async function eventually(cond: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("schedule headers: one kind of schedule, a target, Go durations", () => {
  assert.equal(goDuration(1000), "1s");
  assert.equal(goDuration(90_000), "1m30s");
  assert.equal(goDuration(3_600_000), "1h0m0s");
  assert.equal(goDuration(250), "250ms");
  const now = Date.parse("2026-01-02T03:04:05Z");
  assert.deepEqual(scheduleHeaders({ scheduleDest: "out", scheduleAfter: "10s", scheduleTtl: "1m", scheduleSource: "src" }, now), {
    "Nats-Schedule-Target": "out",
    "Nats-Schedule": "@at 2026-01-02T03:04:15Z",
    "Nats-Schedule-TTL": "1m0s",
    "Nats-Schedule-Source": "src",
  });
  assert.equal(scheduleHeaders({ scheduleDest: "out", scheduleAt: "2026-01-02T04:00:00+01:00" })["Nats-Schedule"], "@at 2026-01-02T03:00:00Z");
  assert.equal(scheduleHeaders({ scheduleDest: "out", scheduleCron: "0 */5 * * * *" })["Nats-Schedule"], "0 */5 * * * *");
  assert.throws(() => scheduleHeaders({ scheduleEvery: "1s" }), /schedule destination is required/);
  assert.throws(() => scheduleHeaders({ scheduleDest: "o", scheduleEvery: "1s", scheduleAfter: "1s" }), /--schedule-every may not be used/);
  assert.throws(() => scheduleHeaders({ scheduleDest: "o", scheduleAt: "tomorrow" }), /invalid --schedule-at/);
  assert.throws(() => scheduleHeaders({ scheduleDest: "o", scheduleCron: "* * * * * *", scheduleEvery: "1s" }), /may not be used with --schedule-cron/);
});

for (const line of ["tsnats", "2.15"] as const) {
  describe(`pub --schedule-* and --atomic on ${line === "tsnats" ? "tsnats" : "nats-server 2.15"}`, () => {
    let srv: ReferenceServer | undefined;
    let url = "";
    let nc: NatsConnection;
    before(async () => {
      if (line === "2.15" && !referenceBinary("2.15")) return;
      srv = await startNatsServer(["-js", "-sd", path.join(home.dir, `js-${line}`)], undefined, line);
      url = `nats://127.0.0.1:${srv.port}`;
      nc = await connect({ servers: url });
      for (const cfg of [
        { name: "SCHED", subjects: ["sched.>"], allow_msg_schedules: true, allow_msg_ttl: true },
        { name: "BATCH", subjects: ["batch.>"], allow_atomic: true },
        { name: "PLAIN", subjects: ["plain.>"] },
      ]) {
        const r = await api(nc, `STREAM.CREATE.${cfg.name}`, cfg);
        assert.equal(r.error, undefined, JSON.stringify(r.error));
      }
    });
    after(async () => {
      await nc?.close();
      await srv?.stop();
    });
    const cli = (args: string[]) => home.exec(args, { server: url });

    test("a scheduled message is stored with its headers and fires to its target", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      const r = await cli(["pub", "sched.once", "hello", "--schedule-after", "1s", "--schedule-dest", "sched.fired"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Stored|Published/);
      await eventually(async () => {
        const m = await api(nc, "STREAM.MSG.GET.SCHED", { last_by_subj: "sched.fired" });
        return m.message !== undefined && Buffer.from(m.message.data, "base64").toString() === "hello";
      }, "the scheduled message on sched.fired");
      const every = await cli(["pub", "sched.tick", "tick", "--schedule-every", "1s", "--schedule-dest", "sched.ticks", "--schedule-ttl", "1m"]);
      assert.equal(every.code, 0, every.stderr);
      const stored = await api(nc, "STREAM.MSG.GET.SCHED", { last_by_subj: "sched.tick" });
      const hdrs = Buffer.from(stored.message.hdrs, "base64").toString();
      assert.match(hdrs, /Nats-Schedule: @every 1s\r\n/);
      assert.match(hdrs, /Nats-Schedule-Target: sched\.ticks\r\n/);
      assert.match(hdrs, /Nats-Schedule-TTL: 1m0s\r\n/);

      const bad = await cli(["pub", "sched.x", "x", "--schedule-every", "1s"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /schedule destination is required/);
      const plain = await cli(["pub", "plain.x", "x", "--schedule-after", "1s", "--schedule-dest", "plain.y"]);
      assert.equal(plain.code, 1, "a stream without allow_msg_schedules refuses the message");
    });

    test("an atomic batch is stored whole; streams without allow_atomic are refused", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      const r = await cli(["pub", "batch.a", "m{{Count}}", "--count", "3", "--atomic"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Adding 2 bytes to batch on subject "batch\.a"/);
      assert.match(r.stderr, /Wrote batch ID: \S+ Messages: 3 Sequence: 3/);
      const info = await api(nc, "STREAM.INFO.BATCH");
      assert.equal(info.state.messages, 3);
      const last = await api(nc, "STREAM.MSG.GET.BATCH", { seq: 3 });
      assert.equal(Buffer.from(last.message.data, "base64").toString(), "m3");

      const lines = await home.exec(["pub", "batch.b", "--atomic", "--send-on", "newline"], { server: url, stdin: "x\ny\n" });
      assert.equal(lines.code, 0, lines.stderr);
      assert.match(lines.stderr, /Messages: 2 Sequence: 5/);

      const refused = await cli(["pub", "plain.a", "x", "--atomic"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /atomic publishing is not allowed for stream PLAIN with subject plain\.a/);
      const none = await cli(["pub", "nowhere.a", "x", "--atomic"]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no stream matches subject nowhere\.a/);
    });
  });
}
