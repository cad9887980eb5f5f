// tsnats CLI: every bench kind runs to completion with exact message counts, and the report,
// --json and --csv formats, against tsnats and nats-server 2.15 (small counts: correctness,
// not speed; speed is compared with ../shared/bench separately, see README).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

for (const t of servers) {
  describe(`bench on ${t.name}`, () => {
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const cli = (args: string[]) => home.exec([...args, "--no-progress"], { server: t.url });
    before(async () => {
      nc = await connect({ servers: t.url });
      jsm = await jetstreamManager(nc);
    });
    after(() => nc.close());

    test("pub and sub with two clients each, text and JSON reports", async () => {
      const sub = home.run(["bench", "sub", "bench.core", "--msgs", "4000", "--clients", "2", "--json", "--no-progress"], { server: t.url });
      await waitUntil(() => sub.stderr.text.includes("Waiting for"), 10_000, "subscribers ready");
      const pub = await cli(["bench", "pub", "bench.core", "--msgs", "4000", "--clients", "2", "--size", "64"]);
      assert.equal(pub.code, 0, pub.stderr);
      assert.match(pub.stdout, /\[1\] [\d,]+ msgs\/sec ~ .*\/sec \(2,000 msgs\)/);
      assert.match(pub.stdout, /NATS Core NATS publisher aggregated stats: [\d,]+ msgs\/sec/);
      assert.match(pub.stdout, /message rates min [\d,]+ \| avg/);
      const s = await sub.done;
      assert.equal(s.code, 0, s.stderr);
      const doc = JSON.parse(s.stdout);
      assert.equal(doc.type, "sub");
      assert.equal(doc.clients, 2);
      assert.equal(doc.msgs, 8000, "each subscriber receives every message");
      assert.equal(doc.msg_size, 64);
      assert.ok(doc.msgs_per_sec > 0);
    });

    test("service request/serve with latency percentiles and CSV", async () => {
      const serve = home.run(["bench", "service", "serve", "bench.svc", "--msgs", "500", "--no-progress"], { server: t.url });
      await waitUntil(() => serve.stderr.text.includes("Waiting for"), 10_000, "service ready");
      const csv = path.join(home.dir, `req-${t.tsnats ? "ts" : "ref"}.csv`);
      const r = await cli(["bench", "service", "request", "bench.svc", "--msgs", "500", "--size", "16", "--csv", csv]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Core NATS service requester stats: [\d,]+ msgs\/sec .* P50: [\d.,]+us ~ P90: .* P99: .* P99\.9: [\d.,]+us/);
      const lines = fs.readFileSync(csv, "utf8").trim().split("\n");
      assert.match(lines[0], /^#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs,MinLatencyMicroSecs/);
      assert.match(lines[1], /^\w+,P0,500,8000,\d+,/);
      assert.equal((await serve.done).code, 0);
      const none = await cli(["bench", "request", "bench.nobody", "--msgs", "1", "--timeout", "1s"]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /start a service first/);
    });

    test("js pub sync/async, js fetch/consume/ordered", async () => {
      let r = await cli(["bench", "js", "pub", "async", "bench.js", "--msgs", "3000"]);
      assert.equal(r.code, 1, "no stream without --create");
      assert.match(r.stderr, /--create/);
      r = await cli(["bench", "js", "pub", "async", "bench.js", "--msgs", "3000", "--create", "--storage", "memory", "--batch", "100"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /JetStream asynchronous publisher stats/);
      r = await cli(["bench", "js", "pub", "sync", "bench.js", "--msgs", "200", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(JSON.parse(r.stdout).latency_us.p99 > 0);
      assert.equal((await jsm.streams.info("benchstream")).state.messages, 3200);
      r = await cli(["bench", "js", "fetch", "--msgs", "3200", "--batch", "500", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).msgs, 3200);
      const ci = await jsm.consumers.info("benchstream", "nats-bench");
      assert.equal(ci.num_ack_pending, 0);
      assert.equal(ci.ack_floor.stream_seq, 3200);
      r = await cli(["bench", "js", "fetch", "--msgs", "10", "--timeout", "1s"]);
      assert.equal(r.code, 1, "a drained consumer is an error");
      assert.match(r.stderr, /ran dry/);
      r = await cli(["bench", "js", "ordered", "--msgs", "3200", "--clients", "2", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).msgs, 6400);
      r = await cli(["bench", "js", "consume", "--consumer", "other", "--msgs", "3200", "--acks", "all"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /JetStream durable consumer \(callback\) stats/);
      r = await cli(["bench", "js", "pub", "async", "bench.js", "--msgs", "100", "--dedup", "--purge"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.streams.info("benchstream")).state.messages, 100);
    });

    test("js pub atomic, js get sync and batch", async () => {
      let r = await cli(["bench", "js", "pub", "atomic", "bench.atomic", "--stream", "benchatomic", "--create", "--storage", "memory", "--msgs", "1050", "--batch", "100", "--clients", "2", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).msgs, 1050);
      const si = await jsm.streams.info("benchatomic");
      assert.equal(si.state.messages, 1050);
      assert.equal((si.config as { allow_atomic?: boolean }).allow_atomic, true);
      // Batches above the server's limit of 1000 are refused by the server.
      r = await cli(["bench", "js", "pub", "batch", "bench.atomic", "--stream", "benchatomic", "--msgs", "1001", "--batch", "1001"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /atomic batch publish failed/);
      assert.equal((await jsm.streams.info("benchatomic")).state.messages, 1050, "a refused batch stores nothing");

      // --persistasync and random multi-subjects.
      r = await cli(["bench", "js", "pub", "async", "bench.rnd", "--stream", "benchrnd", "--create", "--persistasync", "--multisubject", "--multisubjectmax", "5", "--multisubjectrandomize", "--msgs", "500", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const rnd = await jsm.streams.info("benchrnd", { subjects_filter: ">" });
      assert.equal(rnd.state.messages, 500);
      assert.equal((rnd.config as { persist_mode?: string }).persist_mode, "async");
      assert.ok(Object.keys(rnd.state.subjects ?? {}).every((sub) => /^bench\.rnd\.0\.[0-4]$/.test(sub)), JSON.stringify(rnd.state.subjects));
      r = await cli(["bench", "js", "get", "sync", "--stream", "benchatomic", "--msgs", "300", "--clients", "2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /JetStream synchronous getter aggregated stats/);
      r = await cli(["bench", "js", "get", "sync", "--stream", "benchatomic", "--msgs", "2000", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).msgs, 2000, "wraps around the stream");
      r = await cli(["bench", "js", "get", "batch", "--stream", "benchatomic", "--msgs", "2500", "--batch", "400", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).msgs, 2500);
      r = await cli(["bench", "js", "get", "batch", "--stream", "benchatomic", "--msgs", "10", "--filter", "nothing.here", "--timeout", "2s"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /nothing in stream benchatomic matches nothing\.here/);
      r = await cli(["bench", "js", "get", "sync", "--stream", "nostream", "--msgs", "10"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not found/);
    });

    test("kv put and get", async () => {
      let r = await cli(["bench", "kv", "get", "--msgs", "10"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bench kv put/);
      r = await cli(["bench", "kv", "put", "--msgs", "300", "--clients", "3", "--size", "32"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /KV putter aggregated stats/);
      r = await cli(["bench", "kv", "get", "--msgs", "300", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.msgs, 300);
      assert.equal(doc.msg_size, 32);
      assert.equal((await jsm.streams.info("KV_benchbucket")).state.messages, 300);
    });
  });
}
