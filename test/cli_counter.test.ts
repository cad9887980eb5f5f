// tsnats CLI: `counter` (ADR-49 distributed counters) on a stream with allow_msg_counter, and
// on one sourcing it (the sources metadata), against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const home = new CliHome();
after(() => home.cleanup());

async function createStream(nc: NatsConnection, config: Record<string, unknown>): Promise<void> {
  const r = (await nc.request(`$JS.API.STREAM.CREATE.${config.name as string}`, JSON.stringify(config), { timeout: 10_000 })).json<Record<string, any>>();
  assert.equal(r.error, undefined, JSON.stringify(r.error));
}

for (const line of ["tsnats", "2.15"] as const) {
  describe(`counter on ${line === "tsnats" ? "tsnats" : "nats-server 2.15"}`, () => {
    let srv: ReferenceServer | undefined;
    let url = "";
    let nc: NatsConnection;
    before(async () => {
      if (line === "2.15" && !referenceBinary("2.15")) return;
      srv = await startNatsServer(["-js", "-sd", path.join(home.dir, `js-${line}`)], undefined, line);
      url = `nats://127.0.0.1:${srv.port}`;
      nc = await connect({ servers: url });
      await createStream(nc, { name: "CTR", subjects: ["ctr.>"], allow_msg_counter: true, allow_direct: true });
      await createStream(nc, { name: "PLAIN", subjects: ["plain.>"] });
    });
    after(async () => {
      await nc?.close();
      await srv?.stop();
    });
    const cli = (args: string[]) => home.exec(args, { server: url });

    test("increment, decrement, get, view, list", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      let r = await cli(["counter", "increment", "ctr.hits", "5"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "5\n");
      r = await cli(["counter", "incr", "ctr.hits", "123456789012345678901234567890"]);
      assert.equal(r.stdout, "123456789012345678901234567895\n", "beyond 64 bits");
      r = await cli(["counter", "decrement", "ctr.hits", "123456789012345678901234567890"]);
      assert.equal(r.stdout, "5\n");
      r = await cli(["counter", "dec", "ctr.other", "2"]);
      assert.equal(r.stdout, "-2\n");
      r = await cli(["counter", "get", "ctr.hits"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "5\n");
      r = await cli(["counter", "view", "ctr.hits", "--stream", "CTR"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Counter ctr\.hits/);
      assert.match(r.stdout, /Value: 5/);
      assert.match(r.stdout, /Increment: -123456789012345678901234567890/);
      assert.match(r.stdout, /No source information found/);
      r = await cli(["counter", "list", "--stream", "CTR"]);
      assert.equal(r.stdout, "ctr.hits\nctr.other\n");
      r = await cli(["counter", "ls", "ctr.other", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["ctr.other"]);
    });

    test("a sourced counter shows its sources", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      await createStream(nc, { name: "AGG", subjects: [], allow_msg_counter: true, allow_direct: true, sources: [{ name: "CTR" }] });
      let r = await home.exec(["counter", "view", "ctr.hits", "--stream", "AGG"], { server: url });
      const deadline = Date.now() + 10_000;
      while (!/Sources/.test(r.stdout) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 200));
        r = await home.exec(["counter", "view", "ctr.hits", "--stream", "AGG"], { server: url });
      }
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Value: 5/);
      assert.match(r.stdout, /Sources:/);
      assert.match(r.stdout, /CTR ctr\.hits: 5/);
    });

    test("errors: not a counter stream, bad values, unknown counters", async (t) => {
      if (!srv) return t.skip("nats-server 2.15 not available");
      let r = await cli(["counter", "incr", "plain.x", "1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /"PLAIN" is not a valid counter stream/);
      r = await cli(["counter", "incr", "ctr.x", "1.5"]);
      assert.match(r.stderr, /invalid value/);
      r = await cli(["counter", "get", "ctr.never"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no counter found for ctr\.never/);
      r = await cli(["counter", "get", "nowhere.x"]);
      assert.match(r.stderr, /no stream holds subject "nowhere\.x"/);
      r = await cli(["counter", "list"]);
      assert.match(r.stderr, /no stream or subject specified/);
      r = await cli(["counter", "list", "nomatch.>", "--stream", "CTR"]);
      assert.match(r.stderr, /no counters found/);
    });
  });
}
