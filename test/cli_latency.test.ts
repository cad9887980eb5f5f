// tsnats CLI: `latency --server-b` between two connections of one server (tsnats and
// nats-server 2.15) and across a route of two tsnats servers; the report's figures, the
// histogram files, and validation.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";
import { freePort, referenceBinary, startNatsServer } from "./helpers/nats_server.js";

const home = new CliHome();
after(() => home.cleanup());

function checkReport(stderr: string, msgs: number): void {
  assert.match(stderr, /Pub Server RTT : [\d.]+(µs|ms)/);
  assert.match(stderr, /Message Payload: 16B/);
  assert.match(stderr, /Target Msgs\/Sec: 500/);
  for (const p of ["10", "50", "75", "90", "99", "99.9", "100"]) assert.match(stderr, new RegExp(`\\d ${p.replace(".", "\\.")}: +[\\d.]+(µs|ms|s)\\n`));
  assert.match(stderr, /Actual Msgs\/Sec: \d+/);
  assert.match(stderr, /Minimum Latency: [\d.]+(µs|ms)/);
  assert.match(stderr, /Median Latency : [\d.]+(µs|ms)/);
  assert.doesNotMatch(stderr, /Received \d+ of/, `all ${msgs} messages arrive`);
}

describe("tsnats latency", () => {
  for (const line of ["tsnats", "2.15"] as const) {
    test(`two connections to one ${line === "tsnats" ? "tsnats" : "nats-server 2.15"} server`, async (t) => {
      if (line === "2.15" && !referenceBinary("2.15")) return t.skip("nats-server 2.15 not available");
      const srv = await startNatsServer([], undefined, line);
      try {
        const url = `nats://127.0.0.1:${srv.port}`;
        const hist = path.join(home.dir, `hist-${line}`);
        const r = await home.exec(["latency", "--server-b", url, "--size", "16", "--rate", "500", "--duration", "1s", "--histogram", hist], { server: url });
        assert.equal(r.code, 0, r.stderr);
        checkReport(r.stderr, 500);
        assert.equal(fs.readFileSync(`${hist}.raw`, "utf8").trim().split("\n").length, 500);
        assert.match(fs.readFileSync(`${hist}.histogram`, "utf8"), /^Value +Percentile +TotalCount/);
      } finally {
        await srv.stop();
      }
    });
  }

  test("across a route between two tsnats servers", async () => {
    const [c1, c2] = await Promise.all([freePort(), freePort()]);
    const a = await startNatsServer(["-n", "la", "--cluster_name", "lat", "--cluster", `nats://127.0.0.1:${c1}`, "--routes", `nats://127.0.0.1:${c2}`], undefined, "tsnats");
    const b = await startNatsServer(["-n", "lb", "--cluster_name", "lat", "--cluster", `nats://127.0.0.1:${c2}`, "--routes", `nats://127.0.0.1:${c1}`], undefined, "tsnats");
    try {
      const r = await home.exec(["latency", "--server-b", `nats://127.0.0.1:${b.port}`, "--size", "16", "--rate", "500", "--duration", "1s"], { server: `nats://127.0.0.1:${a.port}` });
      assert.equal(r.code, 0, r.stderr);
      checkReport(r.stderr, 500);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("validation", async () => {
    let r = await home.exec(["latency", "--size", "4", "--server-b", "nats://127.0.0.1:1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /message Payload Size must be at least 8 bytes/);
    r = await home.exec(["latency"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /required option '--server-b <url>' not specified/);
    const srv = await startNatsServer([], undefined, "tsnats");
    try {
      r = await home.exec(["latency", "--server-b", "nats://127.0.0.1:1", "--timeout", "1s"], { server: `nats://127.0.0.1:${srv.port}` });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /second connection failed/);
    } finally {
      await srv.stop();
    }
  });
});
