// Reliable sourcing from work-queue and interest streams (nats-server 2.14 AckFlowControl,
// ADR-60): a copy of such an origin reads through a durable consumer the origin keeps for it
// (JS_SRC_* / JS_MIRROR_*, ack policy flow_control), acknowledged by the copy's flow control
// replies only once it stored what they confirm; a source or mirror may instead name a
// durable the user created (`consumer: {name, deliver_subject}`), which the copy resets to
// its ack floor. Compared side by side with nats-server 2.15 (consumer configs and states,
// what is left in the origin, the copies' contents and headers, errors, clean-up), then
// across a graceful restart and a SIGKILL in the middle of sourcing: every message once,
// nothing lost, the origin drained.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { referenceMissing, startSideBySide, stableValue, type SideBySide } from "./helpers/side_by_side.js";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { JS_API_LEVEL } from "../src/jetstream/api_level.js";
import { TSNATS_SERVER_BIN, freePort, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

type Json = Record<string, any>;

async function api(nc: NatsConnection, subject: string, body?: unknown): Promise<Json> {
  const m = await nc.request(subject, body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body), { timeout: 5000 });
  return m.json<Json>();
}

async function ok(nc: NatsConnection, subject: string, body?: unknown): Promise<Json> {
  const r = await api(nc, subject, body);
  assert.equal(r.error, undefined, `${subject}: ${JSON.stringify(r.error)}`);
  return r;
}

/** Poll an API answer until `cond` holds for it (15 s at most unless told). */
async function waitFor(nc: NatsConnection, subject: string, cond: (r: Json) => boolean, what: string, timeoutMs = 15_000): Promise<Json> {
  let last: Json = {};
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    last = await api(nc, subject);
    if (cond(last)) return last;
    if (Date.now() > deadline) {
      const shown = last.config !== undefined ? { state: last.state, mirror: last.mirror, sources: last.sources } : last;
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(shown).slice(0, 1000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const messagesIs = (n: number) => (r: Json) => r.state?.messages === n;

/** A stream's messages as [subject, data, headers] (headers with the origin identity masked). */
async function contents(nc: NatsConnection, stream: string): Promise<string[][]> {
  const st = (await ok(nc, `$JS.API.STREAM.INFO.${stream}`)).state;
  const out: string[][] = [];
  for (let seq = st.first_seq; seq > 0 && seq <= st.last_seq; seq++) {
    const r = await api(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    if (r.error !== undefined) continue;
    const hdrs = Buffer.from(r.message.hdrs ?? "", "base64").toString().replace(/ [A-Za-z0-9]{8}\r\n/g, " <identity>\r\n");
    out.push([r.message.subject, Buffer.from(r.message.data ?? "", "base64").toString(), hdrs]);
  }
  return out;
}

/** Consumer infos without clocks and the copy's random deliver subject. */
function consumerView(infos: Json[]): unknown {
  return stableValue(
    infos
      .map((c) => ({ name: c.name, config: { ...c.config, deliver_subject: c.config.deliver_subject?.startsWith("$JS.") ? "<copy>" : c.config.deliver_subject }, delivered: c.delivered, ack_floor: c.ack_floor, num_ack_pending: c.num_ack_pending, num_pending: c.num_pending, push_bound: c.push_bound }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
  );
}

/** Source infos in a stable order (nats-server lists them in map order). */
function sourcesView(sources: Json[] | undefined): unknown {
  return stableValue((sources ?? []).map((s) => ({ ...s, active: undefined })).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)));
}

/** A work-queue origin sourced and then drained as the copy stores; the managed durable goes with the copy. */
async function workQueueScenario(nc: NatsConnection): Promise<unknown[]> {
  const seen: unknown[] = [];
  await ok(nc, "$JS.API.STREAM.CREATE.WQ", { name: "WQ", subjects: ["wq.>"], retention: "workqueue" });
  for (let i = 1; i <= 5; i++) await ok(nc, `wq.${i}`, `m${i}`);
  await ok(nc, "$JS.API.STREAM.CREATE.COPY", { name: "COPY", sources: [{ name: "WQ" }] });
  await waitFor(nc, "$JS.API.STREAM.INFO.COPY", messagesIs(5), "COPY holding the first 5");
  // Removed from the origin once the copy stored them (the idle heartbeat asks for the acks).
  await waitFor(nc, "$JS.API.STREAM.INFO.WQ", messagesIs(0), "WQ drained");
  seen.push(consumerView((await ok(nc, "$JS.API.CONSUMER.LIST.WQ")).consumers));
  for (let i = 6; i <= 8; i++) await ok(nc, `wq.${i}`, `m${i}`);
  await waitFor(nc, "$JS.API.STREAM.INFO.COPY", messagesIs(8), "COPY holding all 8");
  await waitFor(nc, "$JS.API.STREAM.INFO.WQ", messagesIs(0), "WQ drained again");
  seen.push(await contents(nc, "COPY"));
  seen.push(sourcesView((await ok(nc, "$JS.API.STREAM.INFO.COPY")).sources));
  seen.push(stableValue((await ok(nc, "$JS.API.STREAM.INFO.WQ")).state));
  // Other consumers of the work queue still may not overlap each other, but may overlap the copy's.
  seen.push(stableValue((await api(nc, "$JS.API.CONSUMER.CREATE.WQ.W1", { stream_name: "WQ", config: { durable_name: "W1", ack_policy: "explicit", filter_subject: "wq.1" } })).error ?? "created"));
  // Deleting the copy deletes the durable the origin kept for it.
  await ok(nc, "$JS.API.STREAM.DELETE.COPY");
  await waitFor(nc, "$JS.API.CONSUMER.NAMES.WQ", (r) => r.consumers?.length === 1, "the copy's durable deleted");
  seen.push((await ok(nc, "$JS.API.CONSUMER.NAMES.WQ")).consumers);
  return seen;
}

/** An interest origin: the copy's durable is interest like any other consumer; promotion deletes it. */
async function interestScenario(nc: NatsConnection): Promise<unknown[]> {
  const seen: unknown[] = [];
  await ok(nc, "$JS.API.STREAM.CREATE.IN", { name: "IN", subjects: ["in.>"], retention: "interest" });
  await ok(nc, "$JS.API.CONSUMER.CREATE.IN.OTHER", { stream_name: "IN", config: { durable_name: "OTHER", ack_policy: "explicit" } });
  for (let i = 1; i <= 4; i++) await ok(nc, `in.${i}`, `i${i}`);
  await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "IN" } });
  await ok(nc, "$JS.API.STREAM.CREATE.IN2", { name: "IN2", subjects: ["in2"], retention: "interest" });
  await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["own"], sources: [{ name: "IN", filter_subject: "in.2" }, { name: "IN2" }] });
  await waitFor(nc, "$JS.API.STREAM.INFO.M", (r) => r.state?.last_seq === 4, "M at 4");
  // An interest stream keeps a message only for the consumers it has when it arrives.
  await waitFor(nc, "$JS.API.CONSUMER.NAMES.IN2", (r) => r.consumers?.length === 1, "the copy's durable on IN2");
  await ok(nc, "in2", "x");
  await waitFor(nc, "$JS.API.STREAM.INFO.S", messagesIs(2), "S holding 2");
  // Everything is stored by the copies; OTHER still has all four to do.
  const settled = (c: Json): boolean => c.name.startsWith("JS_") && c.num_ack_pending === 0 && c.num_pending === 0 && c.delivered.stream_seq > 0 && c.ack_floor.stream_seq === c.delivered.stream_seq;
  await waitFor(nc, "$JS.API.CONSUMER.LIST.IN", (r) => (r.consumers ?? []).filter(settled).length === 2, "the copies' durables acked");
  await waitFor(nc, "$JS.API.STREAM.INFO.IN2", messagesIs(0), "IN2 drained");
  seen.push(consumerView((await ok(nc, "$JS.API.CONSUMER.LIST.IN")).consumers));
  seen.push(stableValue((await ok(nc, "$JS.API.STREAM.INFO.IN")).state));
  for (let i = 1; i <= 4; i++) {
    const m = await nc.request("$JS.API.CONSUMER.MSG.NEXT.IN.OTHER", JSON.stringify({ batch: 1 }), { timeout: 5000, noMux: true });
    await m.respond("+ACK");
  }
  await waitFor(nc, "$JS.API.STREAM.INFO.IN", messagesIs(0), "IN empty once every interest acked");
  seen.push(await contents(nc, "M"));
  seen.push((await contents(nc, "S")).sort());
  // Removing a source deletes its durable; promoting the mirror deletes the mirror's.
  await ok(nc, "$JS.API.STREAM.UPDATE.S", { name: "S", subjects: ["own"], sources: [{ name: "IN", filter_subject: "in.2" }] });
  await ok(nc, "$JS.API.STREAM.UPDATE.M", { name: "M", subjects: ["m"] });
  await waitFor(nc, "$JS.API.CONSUMER.NAMES.IN2", (r) => r.consumers?.length === 0, "the IN2 durable deleted");
  await waitFor(nc, "$JS.API.CONSUMER.NAMES.IN", (r) => r.consumers?.length === 2, "the mirror's durable deleted");
  seen.push(consumerView((await ok(nc, "$JS.API.CONSUMER.LIST.IN")).consumers));
  return seen;
}

/** Durable sourcing: the user's consumer, reset by the copy; the wrong ack policy is an error of the source. */
async function userDurableScenario(nc: NatsConnection): Promise<unknown[]> {
  const seen: unknown[] = [];
  await ok(nc, "$JS.API.STREAM.CREATE.UO", { name: "UO", subjects: ["uo.>"], retention: "workqueue" });
  await ok(nc, "$JS.API.STREAM.CREATE.L", { name: "L", subjects: ["l.>"] });
  for (let i = 1; i <= 4; i++) {
    await ok(nc, `uo.${i}`, `u${i}`);
    await ok(nc, `l.${i}`, `l${i}`);
  }
  const fc = { ack_policy: "flow_control", flow_control: true, idle_heartbeat: 1_000_000_000 };
  await ok(nc, "$JS.API.CONSUMER.CREATE.UO.FEED", { stream_name: "UO", config: { durable_name: "FEED", deliver_subject: "feed.uo", filter_subject: "uo.>", ...fc } });
  await ok(nc, "$JS.API.CONSUMER.CREATE.L.FROM2", { stream_name: "L", config: { durable_name: "FROM2", deliver_subject: "feed.l", deliver_policy: "by_start_sequence", opt_start_seq: 2, ...fc } });
  await ok(nc, "$JS.API.CONSUMER.CREATE.L.EXPL", { stream_name: "L", config: { durable_name: "EXPL", deliver_subject: "feed.ex", ack_policy: "explicit" } });
  await ok(nc, "$JS.API.STREAM.CREATE.C", {
    name: "C",
    sources: [
      { name: "UO", consumer: { name: "FEED", deliver_subject: "feed.uo" } },
      { name: "L", consumer: { name: "FROM2", deliver_subject: "feed.l" } },
      { name: "L", consumer: { name: "EXPL", deliver_subject: "feed.ex" } },
    ],
  });
  await ok(nc, "$JS.API.STREAM.CREATE.ME", { name: "ME", mirror: { name: "L", consumer: { name: "EXPL", deliver_subject: "feed.ex" } } });
  await waitFor(nc, "$JS.API.STREAM.INFO.C", messagesIs(7), "C holding 4 + 3");
  await waitFor(nc, "$JS.API.STREAM.INFO.UO", messagesIs(0), "UO drained");
  await waitFor(nc, "$JS.API.STREAM.INFO.C", (r) => (r.sources ?? []).some((s: Json) => s.error !== undefined), "the explicit-ack source failing");
  await waitFor(nc, "$JS.API.STREAM.INFO.ME", (r) => r.mirror?.error !== undefined, "the explicit-ack mirror failing");
  // The copy confirms what it stored on the next flow control or heartbeat: wait for it.
  await waitFor(nc, "$JS.API.CONSUMER.INFO.L.FROM2", (r) => r.ack_floor?.stream_seq === 4 && r.num_ack_pending === 0, "FROM2 acked");
  await waitFor(nc, "$JS.API.CONSUMER.INFO.UO.FEED", (r) => r.ack_floor?.stream_seq === 4 && r.num_ack_pending === 0, "FEED acked");
  const c = await ok(nc, "$JS.API.STREAM.INFO.C");
  seen.push(sourcesView(c.sources));
  seen.push(stableValue((await ok(nc, "$JS.API.STREAM.INFO.ME")).mirror, false));
  seen.push((await contents(nc, "C")).sort());
  seen.push(consumerView([(await ok(nc, "$JS.API.CONSUMER.INFO.UO.FEED")), (await ok(nc, "$JS.API.CONSUMER.INFO.L.FROM2"))]));
  // A durable the user named stays when the copy goes.
  await ok(nc, "$JS.API.STREAM.DELETE.C");
  seen.push((await ok(nc, "$JS.API.CONSUMER.NAMES.UO")).consumers);
  return seen;
}

describe("sourcing work-queue and interest origins side by side with nats-server 2.15", { skip: referenceMissing() }, () => {
  let sbs: SideBySide;
  before(async () => {
    sbs = await startSideBySide();
  });
  after(async () => sbs?.close());
  for (const [what, scenario] of [
    ["a work-queue origin is drained as the copy stores, through the durable it keeps for the copy", workQueueScenario],
    ["an interest origin keeps messages for the copies' durables; removing sources and promoting delete them", interestScenario],
    ["durable sourcing through the user's consumers; other ack policies are refused", userDurableScenario],
  ] as const) {
    it(what, async () => {
      const [theirs, ours] = await Promise.all([scenario(sbs.ncRef), scenario(sbs.ncOurs)]);
      assert.deepEqual(ours, theirs);
    });
  }
});

describe("sourcing an interest origin twice", () => {
  // nats-server 2.15 deletes the remaining source's durable too when one of two sources of
  // the same origin is removed (the remaining one's consumer name changes), and that source
  // then stops; tsnats moves it to its new name and deletes the old durable after.
  it("removing one of two sources of an origin keeps the other one copying, through one durable", async () => {
    const srv = await startTestServer({ jetstream: true });
    const nc = await connect({ servers: srv.url });
    try {
      await ok(nc, "$JS.API.STREAM.CREATE.IN", { name: "IN", subjects: ["in.>"], retention: "interest" });
      await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "IN", filter_subject: "in.a" }, { name: "IN", filter_subject: "in.b" }] });
      await waitFor(nc, "$JS.API.CONSUMER.NAMES.IN", (r) => r.consumers?.length === 2, "two durables");
      await ok(nc, "in.a", "a1");
      await ok(nc, "in.b", "b1");
      await waitFor(nc, "$JS.API.STREAM.INFO.S", messagesIs(2), "S holding 2");
      const before = (await ok(nc, "$JS.API.CONSUMER.NAMES.IN")).consumers as string[];
      await ok(nc, "$JS.API.STREAM.UPDATE.S", { name: "S", sources: [{ name: "IN", filter_subject: "in.a" }] });
      const after = await waitFor(nc, "$JS.API.CONSUMER.NAMES.IN", (r) => r.consumers?.length === 1 && !before.includes(r.consumers[0]), "one durable of the new name");
      await ok(nc, "in.a", "a2");
      await ok(nc, "in.b", "b2");
      await waitFor(nc, "$JS.API.STREAM.INFO.S", messagesIs(3), "S holding 3");
      await waitFor(nc, "$JS.API.STREAM.INFO.IN", messagesIs(0), "IN drained");
      assert.deepEqual((await contents(nc, "S")).map((m) => m[1]), ["a1", "b1", "a2"]);
      assert.deepEqual((await ok(nc, "$JS.API.CONSUMER.NAMES.IN")).consumers, after.consumers);
    } finally {
      await nc.close();
      await srv.close();
    }
  });
});

describe("sourcing work-queue origins across restarts", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ackfc-"));
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function spawnServer(storeDir: string): Promise<{ child: ChildProcess; url: string }> {
    const portsDir = path.join(tmp, "ports");
    fs.rmSync(portsDir, { recursive: true, force: true });
    fs.mkdirSync(portsDir, { recursive: true });
    const child = spawn(process.execPath, [TSNATS_SERVER_BIN, "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", portsDir], { stdio: "ignore" });
    children.push(child);
    let url = "";
    await waitUntil(
      () => {
        const f = fs.readdirSync(portsDir).find((n) => n.endsWith(".ports"));
        if (f === undefined) return false;
        try {
          url = (JSON.parse(fs.readFileSync(path.join(portsDir, f), "utf8")) as { nats: string[] }).nats[0];
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      "server ports file",
    );
    return { child, url };
  }

  async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r())));
  }

  /** The payloads a stream holds, in order. */
  async function payloads(nc: NatsConnection, stream: string): Promise<string[]> {
    return (await contents(nc, stream)).map((m) => m[1]);
  }

  it("every message reaches the copies once, through a restart and a SIGKILL while sourcing", { timeout: 180_000 }, async () => {
    const storeDir = path.join(tmp, "store");
    let srv = await spawnServer(storeDir);
    let nc = await connect({ servers: srv.url });
    await ok(nc, "$JS.API.STREAM.CREATE.WQ", { name: "WQ", subjects: ["wq.>"], retention: "workqueue" });
    await ok(nc, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "WQ" }] });
    await ok(nc, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "WQ" } });
    const sent: string[] = [];
    const publish = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const body = `p${sent.length + 1}`;
        await ok(nc, `wq.${sent.length % 5}`, body);
        sent.push(body);
      }
    };
    await publish(200);
    await waitFor(nc, "$JS.API.STREAM.INFO.S", messagesIs(200), "S holding 200");
    // A graceful restart with messages still being delivered.
    await publish(300);
    await nc.close();
    await stop(srv.child, "SIGTERM");
    srv = await spawnServer(storeDir);
    nc = await connect({ servers: srv.url });
    await publish(100);
    await waitFor(nc, "$JS.API.STREAM.INFO.S", messagesIs(sent.length), `S holding ${sent.length}`);
    await waitFor(nc, "$JS.API.STREAM.INFO.M", (r) => r.state?.last_seq === sent.length, `M at ${sent.length}`);
    await waitFor(nc, "$JS.API.STREAM.INFO.WQ", messagesIs(0), "WQ drained");
    // SIGKILL in the middle of a burst: every acknowledged publish must arrive, once; one
    // that was not acknowledged may or may not have been stored.
    const attempted = new Set(sent);
    const burst: Array<Promise<string | undefined>> = [];
    for (let i = 0; i < 2000; i++) {
      const body = `p${attempted.size + 1}`;
      attempted.add(body);
      burst.push(
        api(nc, `wq.${i % 5}`, body).then(
          (r) => (r.error === undefined ? body : undefined),
          () => undefined,
        ),
      );
      if (i === 1500) srv.child.kill("SIGKILL");
    }
    for (const b of await Promise.all(burst)) if (b !== undefined) sent.push(b);
    await nc.close().catch(() => undefined);
    await stop(srv.child, "SIGKILL");
    srv = await spawnServer(storeDir);
    nc = await connect({ servers: srv.url });
    try {
      await waitFor(nc, "$JS.API.STREAM.INFO.WQ", messagesIs(0), "WQ drained after the kill");
      const got = await payloads(nc, "S");
      assert.equal(new Set(got).size, got.length, "no message twice in the source copy");
      for (const b of sent) assert.ok(got.includes(b), `${b} reached the source copy`);
      for (const b of got) assert.ok(attempted.has(b), `${b} was published`);
      assert.deepEqual(await payloads(nc, "M"), got, "the mirror holds the same messages in origin order");
    } finally {
      await nc.close();
      await stop(srv.child, "SIGTERM");
    }
  });
});

describe("sourcing work-queue origins between tsnats and nats-server 2.15 over a leaf node", { skip: referenceMissing(), timeout: 240_000 }, () => {
  // nats-server 2.15 is the hub (JetStream domain "hub"), tsnats the leaf node (domain
  // "leaf"): each side keeps a work queue the other copies through the domain's API prefix,
  // so the origin's durable and its flow control acks cross the leaf connection both ways.
  // Each side is restarted (gracefully, then killed) while messages are on their way.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ackfc-mixed-"));
  const running: ReferenceServer[] = [];
  after(async () => {
    for (const s of running) await s.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function start(kind: "hub" | "leaf", leafPort: number): Promise<{ srv: ReferenceServer; nc: NatsConnection }> {
    const store = path.join(tmp, kind);
    const conf =
      kind === "hub"
        ? `jetstream { store_dir: "${store}", domain: hub }\nleafnodes { listen: "127.0.0.1:${leafPort}" }\n`
        : `jetstream { store_dir: "${store}", domain: leaf }\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ], reconnect: "100ms" }\n`;
    const srv = await startNatsServer([], conf, kind === "hub" ? "2.15" : "tsnats");
    running.push(srv);
    const nc = await connect({ servers: `127.0.0.1:${srv.port}` });
    return { srv, nc };
  }

  async function stop(side: { srv: ReferenceServer; nc: NatsConnection }, signal: NodeJS.Signals): Promise<void> {
    await side.nc.close().catch(() => undefined);
    if (signal === "SIGKILL") {
      const exited = new Promise<void>((r) => (side.srv.proc.exitCode !== null || side.srv.proc.signalCode !== null ? r() : side.srv.proc.once("exit", () => r())));
      side.srv.proc.kill("SIGKILL");
      await exited;
    }
    await side.srv.stop();
    running.splice(running.indexOf(side.srv), 1);
  }

  /** Publish `n` messages into a work queue; returns the acknowledged payloads. */
  async function publish(nc: NatsConnection, prefix: string, from: number, n: number): Promise<string[]> {
    const acked: string[] = [];
    for (let i = from; i < from + n; i++) {
      const body = `${prefix}${i}`;
      await ok(nc, `${prefix}.${i % 3}`, body);
      acked.push(body);
    }
    return acked;
  }

  /** Wait until the leaf connection is up (a request through the other domain's API is answered). */
  async function linked(nc: NatsConnection, domain: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await api(nc, `$JS.${domain}.API.INFO`).catch(() => undefined);
      if (r !== undefined && r.error === undefined) return;
      if (Date.now() > deadline) throw new Error(`no answer from domain ${domain}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  it("each side copies the other's work queue once, through restarts and kills of either side", async () => {
    const leafPort = await freePort();
    let hub = await start("hub", leafPort);
    let leaf = await start("leaf", leafPort);
    await linked(leaf.nc, "hub");
    await linked(hub.nc, "leaf");
    await ok(hub.nc, "$JS.API.STREAM.CREATE.HWQ", { name: "HWQ", subjects: ["hwq.>"], retention: "workqueue" });
    await ok(leaf.nc, "$JS.API.STREAM.CREATE.LWQ", { name: "LWQ", subjects: ["lwq.>"], retention: "workqueue" });
    // tsnats copies the hub's queue, nats-server the leaf's.
    await ok(leaf.nc, "$JS.API.STREAM.CREATE.FROMHUB", { name: "FROMHUB", sources: [{ name: "HWQ", external: { api: "$JS.hub.API" } }] });
    await ok(hub.nc, "$JS.API.STREAM.CREATE.FROMLEAF", { name: "FROMLEAF", sources: [{ name: "LWQ", external: { api: "$JS.leaf.API" } }] });
    const hubSent = await publish(hub.nc, "hwq", 1, 50);
    const leafSent = await publish(leaf.nc, "lwq", 1, 50);
    await waitFor(leaf.nc, "$JS.API.STREAM.INFO.FROMHUB", messagesIs(50), "FROMHUB holding 50");
    await waitFor(hub.nc, "$JS.API.STREAM.INFO.FROMLEAF", messagesIs(50), "FROMLEAF holding 50");
    await waitFor(hub.nc, "$JS.API.STREAM.INFO.HWQ", messagesIs(0), "HWQ drained by tsnats");
    await waitFor(leaf.nc, "$JS.API.STREAM.INFO.LWQ", messagesIs(0), "LWQ drained by nats-server");
    // The origins' durables are the copies' managed ones, acknowledged by flow control. A
    // nats-server copy asks for them only from a server reporting API level 4 (2.14) or more;
    // from tsnats reporting less it falls back to an ephemeral consumer (no durable listed).
    const durableOrigins: Array<[NatsConnection, string]> = [[hub.nc, "HWQ"]];
    if (JS_API_LEVEL >= 4) durableOrigins.push([leaf.nc, "LWQ"]);
    else assert.deepEqual((await ok(leaf.nc, "$JS.API.CONSUMER.NAMES.LWQ")).consumers, []);
    for (const [nc, stream] of durableOrigins) {
      const cs = (await ok(nc, `$JS.API.CONSUMER.LIST.${stream}`)).consumers as Json[];
      assert.equal(cs.length, 1, `${stream}: one durable`);
      assert.match(cs[0].name, /^JS_SRC_/);
      assert.equal(cs[0].config.durable_name, cs[0].name);
      assert.equal(cs[0].config.ack_policy, "flow_control");
    }

    // The tsnats side goes away gracefully while both queues fill; then the hub is killed.
    hubSent.push(...(await publish(hub.nc, "hwq", 51, 100)));
    leafSent.push(...(await publish(leaf.nc, "lwq", 51, 100)));
    await stop(leaf, "SIGTERM");
    hubSent.push(...(await publish(hub.nc, "hwq", 151, 50)));
    leaf = await start("leaf", leafPort);
    await linked(leaf.nc, "hub");
    leafSent.push(...(await publish(leaf.nc, "lwq", 151, 50)));
    await stop(hub, "SIGKILL");
    leafSent.push(...(await publish(leaf.nc, "lwq", 201, 50)));
    hub = await start("hub", leafPort);
    await linked(hub.nc, "leaf");
    hubSent.push(...(await publish(hub.nc, "hwq", 201, 50)));
    // Then tsnats is killed in the middle of its own burst.
    const attempted: string[] = [];
    const burst: Array<Promise<string | undefined>> = [];
    for (let i = 251; i < 751; i++) {
      const body = `lwq${i}`;
      attempted.push(body);
      burst.push(api(leaf.nc, `lwq.${i % 3}`, body).then((r) => (r.error === undefined ? body : undefined), () => undefined));
      if (i === 500) leaf.srv.proc.kill("SIGKILL");
    }
    for (const b of await Promise.all(burst)) if (b !== undefined) leafSent.push(b);
    await stop(leaf, "SIGKILL");
    leaf = await start("leaf", leafPort);
    await linked(leaf.nc, "hub");
    await linked(hub.nc, "leaf");

    // A copy notices a lost consumer by its missing heartbeats (nats-server's health check
    // runs every 10 s, and backs off): give both ends time.
    await waitFor(hub.nc, "$JS.API.STREAM.INFO.HWQ", messagesIs(0), "HWQ drained at the end", 60_000);
    await waitFor(leaf.nc, "$JS.API.STREAM.INFO.LWQ", messagesIs(0), "LWQ drained at the end", 60_000);
    const fromHub = (await contents(leaf.nc, "FROMHUB")).map((m) => m[1]);
    const fromLeaf = (await contents(hub.nc, "FROMLEAF")).map((m) => m[1]);
    assert.deepEqual(fromHub, hubSent, "tsnats holds the hub's queue once, in order");
    assert.equal(new Set(fromLeaf).size, fromLeaf.length, "no message twice in nats-server's copy");
    for (const b of leafSent) assert.ok(fromLeaf.includes(b), `${b} reached nats-server's copy`);
    const published = new Set([...leafSent, ...attempted]);
    for (const b of fromLeaf) assert.ok(published.has(b), `${b} was published`);
    await stop(hub, "SIGTERM");
    await stop(leaf, "SIGTERM");
  });
});
