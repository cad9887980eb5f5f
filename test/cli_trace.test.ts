// tsnats CLI: `trace` (ADR-41 message tracing) on one server with a subscriber and a stream,
// and across a two-server route cluster, against tsnats and nats-server 2.15. A server that
// reports a version before 2.11 is refused, as natscli does (the trace-only header would be
// ignored and the message delivered).
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { CliHome } from "./helpers/cli.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const home = new CliHome();
after(() => home.cleanup());

const tracingServer = (nc: NatsConnection): boolean => {
  const [maj, min] = (nc.info?.version ?? "0.0").split(".").map(Number);
  return maj > 2 || (maj === 2 && min >= 11);
};

for (const line of ["tsnats", "2.15"] as const) {
  const label = line === "tsnats" ? "tsnats" : "nats-server 2.15";
  describe(`trace on ${label}`, () => {
    let srv: ReferenceServer | undefined;
    let url = "";
    let nc: NatsConnection;
    before(async () => {
      if (line === "2.15" && !referenceBinary("2.15")) return;
      srv = await startNatsServer(["-js", "-sd", path.join(home.dir, `js-${line}`), "-n", "tr1"], undefined, line);
      url = `nats://127.0.0.1:${srv.port}`;
      nc = await connect({ servers: url });
    });
    after(async () => {
      await nc?.close();
      await srv?.stop();
    });

    test("a subscriber, a stream, no interest, --deliver", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      if (!tracingServer(nc)) {
        const r = await home.exec(["trace", "tr.x"], { server: url });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /tracing messages require NATS Server 2\.11/);
        return;
      }
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "TRACED", subjects: ["tr.js.>"] });
      const got: string[] = [];
      const sub = nc.subscribe("tr.>", { callback: (_e, m) => void got.push(m.subject) });
      await nc.flush();

      let r = await home.exec(["trace", "tr.js.one", "payload", "-H", "X-Test:1"], { server: url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Tracing message route to subject tr\.js\.one\n\n/);
      assert.match(r.stdout, /^Client "tsnats CLI Version [^"]+" cid:\d+ server:"tr1" version:"2\.\d+\.\d+"$/m);
      assert.match(r.stdout, /^--J JetStream action:"stored" stream:"TRACED" subject:"tr\.js\.one"$/m);
      assert.match(r.stdout, /^--C Client (?:"[^"]*" )?cid:\d+ subject:"tr\.>"$/m);
      assert.match(r.stdout, /Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X/);
      assert.match(r.stdout, /Egress Count:\n\n +Client: 1\n +JetStream: 1/);
      // Trace only: nothing delivered, nothing stored.
      await nc.flush();
      assert.equal((await jsm.streams.info("TRACED")).state.messages, 0);

      r = await home.exec(["trace", "tr.plain", "-T"], { server: url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\[0µs\] Client /m);
      assert.match(r.stdout, /^\[(\d+µs|[\d.]+ms)\] --C Client /m);

      r = await home.exec(["trace", "nobody.listens"], { server: url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^--X No active interest$/m);

      assert.equal(got.length, 0, "trace-only messages are not delivered");
      r = await home.exec(["trace", "tr.js.two", "--deliver"], { server: url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /with delivery to the final destination/);
      await waitUntil(() => got.includes("tr.js.two"), 5000, "the delivered message");
      assert.equal((await jsm.streams.info("TRACED")).state.messages, 1);
      sub.unsubscribe();

      r = await home.exec(["trace", "tr.x", "-H", "nocolon"], { server: url });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid header "nocolon"/);
    });
  });
}

describe("trace across a route on nats-server 2.15", () => {
  test("the second server's event hangs under the route egress", async (t) => {
    if (!referenceBinary("2.15")) return t.skip("nats-server 2.15 not available");
    const [c1, c2] = await Promise.all([freePort(), freePort()]);
    const a = await startNatsServer(["-n", "ta", "--cluster_name", "trc", "--cluster", `nats://127.0.0.1:${c1}`, "--routes", `nats://127.0.0.1:${c2}`], undefined, "2.15");
    const b = await startNatsServer(["-n", "tb", "--cluster_name", "trc", "--cluster", `nats://127.0.0.1:${c2}`, "--routes", `nats://127.0.0.1:${c1}`], undefined, "2.15");
    const far = await connect({ servers: `nats://127.0.0.1:${b.port}` });
    try {
      far.subscribe("far.>");
      await far.flush();
      const url = `nats://127.0.0.1:${a.port}`;
      // Interest crosses the route in the background: trace until the far subscriber shows.
      let out = "";
      const deadline = Date.now() + 20_000;
      while (!/^ {4}Router "ta" rid:\d+ server:"tb"/m.test(out)) {
        if (Date.now() > deadline) assert.fail(`no trace through the route:\n${out}`);
        out = (await home.exec(["trace", "far.x"], { server: url })).stdout;
        if (!/Router "ta"/.test(out)) await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(out, /^Client "[^"]+" cid:\d+ cluster:"trc" server:"ta" version:"2\.15\.\d+"$/m);
      assert.match(out, /^--> Router "tb" rid:\d+$/m);
      assert.match(out, /^ {4}--C Client cid:\d+ subject:"far\.>"$/m);
      assert.match(out, /Router: 1/);
    } finally {
      await far.close();
      await a.stop();
      await b.stop();
    }
  });
});
