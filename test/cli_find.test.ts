// tsnats CLI: stream find, consumer find (natscli's filters and the expression language),
// stream gaps, kv upgrade, against tsnats and nats-server 2.15; stream and consumer cluster
// balance on a three-server nats-server 2.15 JetStream cluster.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { CliHome } from "./helpers/cli.js";
import { acceptsStream, jetStreamTargets } from "./helpers/cli_targets.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

/** Poll an async condition (no fixed sleeps). */
async function eventually(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (s: string): string[] => s.split("\n").filter((l) => l !== "");

for (const t of servers) {
  describe(`find, gaps and kv upgrade on ${t.name}`, () => {
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const cli = (args: string[]) => home.exec(args, { server: t.url });
    let sources = false;
    before(async () => {
      nc = await connect({ servers: t.url });
      jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "FIND_A", subjects: ["find.a.>"] });
      await jsm.streams.add({ name: "FIND_B", subjects: ["find.b"], description: "empty one" });
      const js = jetstream(nc);
      for (let i = 0; i < 3; i++) await js.publish(`find.a.${i}`, "x");
      sources = await acceptsStream(t.url, { name: "PROBE_SRC", sources: [{ name: "FIND_A" }] });
      if (sources) {
        await jsm.streams.add({ name: "FIND_C", sources: [{ name: "FIND_A" }] } as never);
        await eventually(async () => (await jsm.streams.info("FIND_C")).state.messages === 3, "FIND_C to source FIND_A");
      }
    });
    after(() => nc.close());

    const find = async (...args: string[]): Promise<string[]> => {
      const r = await cli(["stream", "find", "--names", ...args]);
      assert.equal(r.code, 0, r.stderr);
      return lines(r.stdout).filter((n) => n.startsWith("FIND_"));
    };

    test("stream find with natscli's filters, --invert and the expression language", async () => {
      const withC = (names: string[]): string[] => names.filter((n) => sources || n !== "FIND_C");
      assert.deepEqual(await find("--empty"), ["FIND_B"]);
      assert.deepEqual(await find("--empty", "--invert"), withC(["FIND_A", "FIND_C"]));
      assert.deepEqual(await find("--subject", "find.a.>"), ["FIND_A"]);
      assert.deepEqual(await find("--subject", "find.>"), ["FIND_A", "FIND_B"]);
      assert.deepEqual(await find("--subject", "find.b", "--invert"), ["FIND_A"]);
      if (sources) {
        assert.deepEqual(await find("--sourced"), ["FIND_C"]);
        assert.deepEqual(await find("--sourced", "--invert"), ["FIND_A", "FIND_B"]);
      }
      assert.deepEqual(await find("--mirrored"), []);
      assert.deepEqual(await find("--created", "1h"), []);
      assert.deepEqual(await find("--created", "1h", "--invert"), withC(["FIND_A", "FIND_B", "FIND_C"]));
      // Idle: no message for an hour (an empty stream has none at all).
      assert.deepEqual(await find("--idle", "1h"), ["FIND_B"]);
      assert.deepEqual(await find("--replicas", "1"), withC(["FIND_A", "FIND_B", "FIND_C"]));

      await jsm.consumers.add("FIND_A", { durable_name: "C1", ack_policy: AckPolicy.Explicit });
      assert.deepEqual(await find("--consumers", "0"), withC(["FIND_B", "FIND_C"]));
      assert.deepEqual(await find("--consumers", "1", "--invert"), ["FIND_A"]);
      await jsm.consumers.delete("FIND_A", "C1");

      // Server and leader filters follow what the server reports about placement.
      // (natscli filters what STREAM.LIST reports, as tsnats does.)
      const infos: StreamInfo[] = [];
      for await (const si of jsm.streams.list()) if (si.config.name === "FIND_A" || si.config.name === "FIND_B") infos.push(si);
      infos.sort((a, b) => a.config.name.localeCompare(b.config.name));
      const placed = infos.filter((i) => i.cluster?.leader).map((i) => i.config.name);
      assert.deepEqual((await find("--server-name", ".*")).filter((n) => n !== "FIND_C"), placed);
      if (placed.length > 0) assert.deepEqual((await find("--leader", infos[0].cluster!.leader!)).filter((n) => n !== "FIND_C"), placed);

      assert.deepEqual(await find("--expression", "state.messages > 2"), withC(["FIND_A", "FIND_C"]));
      assert.deepEqual(await find("--expression", "Info.State.Msgs == 0"), ["FIND_B"]);
      assert.deepEqual(await find("--expression", '"find.b" in config.subjects'), ["FIND_B"]);
      assert.deepEqual(await find("--expression", 'config.name in ["FIND_A", "FIND_B"] and not (state.messages > 0)'), ["FIND_B"]);
      assert.deepEqual(await find("--expression", 'config.description matches "^empty" || Info.Config.Name == "FIND_A"'), ["FIND_A", "FIND_B"]);

      let r = await cli(["stream", "find", "--expression", "state.messages"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /did not return a boolean/);
      r = await cli(["stream", "find", "--expression", "state.messages <"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid expression/);
      r = await cli(["stream", "find", "--cluster", "("]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--cluster: invalid regular expression/);
      r = await cli(["stream", "find", "--subject", "find.a.>", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["FIND_A"]);
      r = await cli(["stream", "find", "--subject", "find.a.>"]);
      assert.match(r.stdout, /│ FIND_A .* │ 3 /);
      r = await cli(["stream", "find", "--subject", "nothing.here"]);
      assert.match(r.stdout, /No matching streams/);
    });

    test("stream find --api-level matches the level a stream's features need", async (tc) => {
      if (!(await acceptsStream(t.url, { name: "PROBE_TTL", subjects: ["probe.ttl"], allow_msg_ttl: true }))) return tc.skip("the server has no per-message TTLs (nats-server 2.11)");
      await jsm.streams.add({ name: "FIND_TTL", subjects: ["find.ttl"], allow_msg_ttl: true } as never);
      const level = Number((await jsm.streams.info("FIND_TTL")).config.metadata?.["_nats.req.level"] ?? 0);
      assert.deepEqual(await find("--api-level", "1"), level >= 1 ? ["FIND_TTL"] : []);
      assert.ok(!(await find("--api-level", "1", "--invert")).includes("FIND_TTL") || level < 1);
      await jsm.streams.delete("FIND_TTL");
    });

    test("consumer find: pull/push, pending, ack pending, bound, idle, expression", async () => {
      await jsm.consumers.add("FIND_A", { durable_name: "PULL1", ack_policy: AckPolicy.Explicit });
      await jsm.consumers.add("FIND_A", { durable_name: "PUSH1", ack_policy: AckPolicy.None, deliver_subject: "find.push.deliver" });
      const cfind = async (...args: string[]): Promise<string[]> => {
        const r = await cli(["consumer", "find", "FIND_A", ...args]);
        assert.equal(r.code, 0, r.stderr);
        return lines(r.stdout);
      };
      assert.deepEqual(await cfind(), ["PULL1", "PUSH1"]);
      assert.deepEqual(await cfind("--pull"), ["PULL1"]);
      assert.deepEqual(await cfind("--push"), ["PUSH1"]);
      assert.deepEqual(await cfind("--pull", "--invert"), ["PUSH1"]);
      let r = await cli(["consumer", "find", "FIND_A", "--pull", "--push"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot match pull and push concurrently/);
      r = await cli(["consumer", "find", "FIND_A", "--ack-pending", "0"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--ack-pending must be greater than zero/);

      // Two delivered, unacknowledged messages on PULL1.
      const c = await jetstream(nc).consumers.get("FIND_A", "PULL1");
      const batch = await c.fetch({ max_messages: 2, expires: 2000 });
      for await (const _m of batch) void _m;
      assert.deepEqual(await cfind("--ack-pending", "5"), ["PULL1"]);
      assert.deepEqual(await cfind("--ack-pending", "2"), []);
      assert.deepEqual(await cfind("--pending", "10"), ["PULL1", "PUSH1"]);
      assert.deepEqual(await cfind("--pending", "2"), ["PULL1"]);
      // Idle: nothing delivered within the hour (PUSH1 never delivered anything).
      assert.deepEqual(await cfind("--idle", "1h"), ["PUSH1"]);
      assert.deepEqual(await cfind("--idle", "1h", "--invert"), ["PULL1"]);
      assert.deepEqual(await cfind("--created", "1h"), []);
      assert.deepEqual(await cfind("--expression", 'config.ack_policy == "explicit"'), ["PULL1"]);
      assert.deepEqual(await cfind("--expression", "Info.NumAckPending == 2"), ["PULL1"]);

      assert.deepEqual(await cfind("--bound"), []);
      const sub = nc.subscribe("find.push.deliver");
      await nc.flush();
      await eventually(async () => (await jsm.consumers.info("FIND_A", "PUSH1")).push_bound === true, "PUSH1 to be bound");
      assert.deepEqual(await cfind("--bound"), ["PUSH1"]);
      sub.unsubscribe();
      r = await cli(["consumer", "find", "FIND_A", "--push", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["PUSH1"]);
      await jsm.consumers.delete("FIND_A", "PULL1");
      await jsm.consumers.delete("FIND_A", "PUSH1");
    });

    test("stream gaps lists interior deletes, from the deleted list or by reading the stream", async () => {
      await jsm.streams.add({ name: "GAPS", subjects: ["gaps.>"] });
      const js = jetstream(nc);
      for (let i = 1; i <= 20; i++) await js.publish("gaps.x", String(i));
      let r = await cli(["stream", "gaps", "GAPS", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "No deleted messages in GAPS\n");
      for (const seq of [3, 4, 5, 10, 17]) await jsm.streams.deleteMessage("GAPS", seq);
      r = await cli(["stream", "gaps", "GAPS"]);
      assert.equal(r.code, 1, "asks first; not on a terminal");
      assert.match(r.stderr, /--force/);
      r = await cli(["stream", "gaps", "GAPS", "-f", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const want = [
        [3, 5],
        [10, 10],
        [17, 17],
      ];
      assert.deepEqual(JSON.parse(r.stdout), want);
      r = await cli(["stream", "gaps", "GAPS", "-f", "--json", "--walk"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), want);
      r = await cli(["stream", "gaps", "GAPS", "-f"]);
      assert.match(r.stdout, /3 gaps found in Stream GAPS/);
      assert.match(r.stdout, /│ First Message │ Last Message │/);
      assert.match(r.stdout, /│ 3 +│ 5 +│/);
      r = await cli(["stream", "gaps", "NOPE", "-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /stream "NOPE" not found/);
    });

    test("kv upgrade sets rollups and discard new on an old-format bucket", async () => {
      let r = await cli(["kv", "add", "OLDKV"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["kv", "upgrade", "OLDKV"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /already using the correct configuration/);
      // An early tech-preview bucket: no rollups, discard old.
      const si = await jsm.streams.info("KV_OLDKV");
      await jsm.streams.update("KV_OLDKV", { ...si.config, allow_rollup_hdrs: false, discard: "old" } as never);
      r = await cli(["kv", "upgrade", "OLDKV"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Bucket OLDKV has been upgraded/);
      const after = await jsm.streams.info("KV_OLDKV");
      assert.equal(after.config.allow_rollup_hdrs, true);
      assert.equal(after.config.discard, "new");
      r = await cli(["kv", "upgrade", "MISSING"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bucket "MISSING" not found/);
    });

    test("stream cluster balance on a single server", async () => {
      const level = ((await nc.request("$JS.API.INFO", "", { timeout: 2000 })).json<{ api?: { level?: number } }>().api?.level ?? 0);
      const r = await cli(["stream", "cluster", "balance"]);
      if (level < 1) {
        assert.equal(r.code, 1);
        assert.match(r.stderr, /needs nats-server 2\.11 or newer/);
      } else {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Balanced 0 streams\./);
      }
    });
  });
}

describe("leader balancing on a nats-server 2.15 JetStream cluster", () => {
  const members: ReferenceServer[] = [];
  let dir = "";
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let url = "";
  before(async () => {
    if (!referenceBinary("2.15")) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-balance-"));
    // A JetStream cluster needs its routes configured on every server: all three list all.
    const ports = [await freePort(), await freePort(), await freePort()];
    const routes = ports.map((p) => `nats://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      const n = `n${i + 1}`;
      members.push(await startNatsServer(["-n", n, "-js", "-sd", path.join(dir, n), "--cluster_name", "bal", "--cluster", `nats://127.0.0.1:${ports[i]}`, "--routes", routes], undefined, "2.15"));
    }
    url = members.map((m) => `nats://127.0.0.1:${m.port}`).join(",");
    nc = await connect({ servers: url });
    // The meta leader is elected after start: no account info check here.
    jsm = await jetstreamManager(nc, { checkAPI: false });
  });
  after(async () => {
    await nc?.close();
    for (const m of members) await m.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("streams and consumers led by one server are spread over the three", async (tc) => {
    if (members.length === 0) return tc.skip("nats-server 2.15 not available");
    // The meta leader is elected after the mesh forms: retry the first create until it is.
    await eventually(async () => {
      try {
        await jsm.streams.add({ name: "BAL0", subjects: ["bal.0"], num_replicas: 3 });
        return true;
      } catch {
        return false;
      }
    }, "a JetStream meta leader", 20_000);
    for (let i = 1; i < 6; i++) await jsm.streams.add({ name: `BAL${i}`, subjects: [`bal.${i}`], num_replicas: 3 });
    for (let i = 0; i < 3; i++) await jsm.consumers.add("BAL0", { durable_name: `D${i}`, ack_policy: AckPolicy.Explicit });
    const leaderOf = async (name: string, consumer?: string): Promise<string | undefined> =>
      (consumer ? await jsm.consumers.info(name, consumer) : await jsm.streams.info(name)).cluster?.leader;
    // Put every leader on n1.
    const toN1 = async (subject: string, current: () => Promise<string | undefined>): Promise<void> => {
      await eventually(async () => {
        const l = await current().catch(() => undefined);
        if (l === "n1") return true;
        if (l) await nc.request(subject, JSON.stringify({ placement: { preferred: "n1" } }), { timeout: 5000 }).catch(() => undefined);
        return false;
      }, `${subject} to move to n1`, 20_000);
    };
    for (let i = 0; i < 6; i++) await toN1(`$JS.API.STREAM.LEADER.STEPDOWN.BAL${i}`, () => leaderOf(`BAL${i}`));
    for (let i = 0; i < 3; i++) await toN1(`$JS.API.CONSUMER.LEADER.STEPDOWN.BAL0.D${i}`, () => leaderOf("BAL0", `D${i}`));

    let r = await home.exec(["stream", "find", "--leader", "n1", "--names"], { server: url });
    assert.deepEqual(lines(r.stdout), ["BAL0", "BAL1", "BAL2", "BAL3", "BAL4", "BAL5"]);
    r = await home.exec(["stream", "find", "--cluster", "^bal$", "--server-name", "n[23]", "--names"], { server: url });
    assert.equal(lines(r.stdout).length, 6, "every R3 stream has replicas on n2 and n3");

    r = await home.exec(["stream", "cluster", "balance"], { server: url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Balanced 4 streams\./);
    assert.match(r.stderr, /Requesting leader 'n1' step down for stream 'BAL\d'\. New preferred leader is n[23]\./);
    const count = async (): Promise<Record<string, number>> => {
      const c: Record<string, number> = {};
      for (let i = 0; i < 6; i++) {
        const l = await leaderOf(`BAL${i}`).catch(() => undefined);
        if (l) c[l] = (c[l] ?? 0) + 1;
      }
      return c;
    };
    await eventually(async () => {
      const c = await count();
      return c.n1 === 2 && c.n2 === 2 && c.n3 === 2;
    }, "two stream leaders per server", 20_000);

    r = await home.exec(["consumer", "cluster", "balance", "BAL0"], { server: url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Balanced 2 consumers\./);
    await eventually(async () => {
      const ls = await Promise.all([0, 1, 2].map((i) => leaderOf("BAL0", `D${i}`).catch(() => undefined)));
      return new Set(ls).size === 3 && !ls.includes(undefined);
    }, "one consumer leader per server", 20_000);
    // Balanced already: nothing to move.
    r = await home.exec(["stream", "cluster", "balance", "--expression", 'config.name startsWith "BAL"'], { server: url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Balanced 0 streams\./);
  });
});
