// The flow_control ack policy (2.14, what sourcing uses): a push consumer with flow control
// whose deliveries are acknowledged by the flow control replies (the receiver names its last
// stream/consumer sequence), not by acks. Run against tsnats and nats-server 2.15 alike.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, headers } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { requestJson } from "./helpers/jetstream.js";

type Json = Record<string, unknown>;

const api = requestJson;

/** Deliver 20 messages through a flow_control-acked consumer with max_ack_pending 5. */
async function run(url: string): Promise<{ got: number[]; ackFloor: number; pending: number; fcRequests: number }> {
  const nc = await connect({ servers: url });
  try {
    await api(nc, "$JS.API.STREAM.CREATE.FCA", { name: "FCA", subjects: ["fca.*"] });
    for (let i = 1; i <= 20; i++) nc.publish("fca.x", String(i));
    await nc.flush();
    const deliver = createInbox();
    const got: number[] = [];
    let lastStream = 0;
    let lastConsumer = 0;
    let fcRequests = 0;
    nc.subscribe(deliver, {
      callback: (_e, m) => {
        const code = m.headers?.code ?? 0;
        if (code === 100 && m.reply) {
          // A flow control request: answer with what has arrived, as a sourcing stream does.
          fcRequests++;
          const h = headers();
          h.set("Nats-Last-Stream", String(lastStream));
          h.set("Nats-Last-Consumer", String(lastConsumer));
          nc.publish(m.reply, "", { headers: h });
          return;
        }
        if (code !== 0) return;
        got.push(Number(m.string()));
        const t = (m.reply ?? "").split(".");
        lastStream = Number(t[t.length - 4]);
        lastConsumer = Number(t[t.length - 3]);
      },
    });
    await nc.flush();
    const created = await api(nc, "$JS.API.CONSUMER.CREATE.FCA.src", {
      stream_name: "FCA",
      config: { name: "src", deliver_subject: deliver, ack_policy: "flow_control", flow_control: true, idle_heartbeat: 1_000_000_000, max_ack_pending: 5 },
    });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    await waitUntil(() => got.length >= 20, 15_000, "all 20 messages");
    // The last deliveries are acknowledged by the flow control request the next heartbeat brings.
    let info: Json = {};
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      info = await api(nc, "$JS.API.CONSUMER.INFO.FCA.src");
      if ((info.ack_floor as Json).stream_seq === 20) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { got, ackFloor: (info.ack_floor as Json).stream_seq as number, pending: info.num_ack_pending as number, fcRequests };
  } finally {
    await nc.close();
  }
}

describe("flow_control ack policy", () => {
  let ours: TestServer;
  let ref: ReferenceServer | undefined;
  before(async () => {
    ours = await startTestServer({ jetstream: true });
    if (referenceMissing() === false) ref = await startNatsServer(["-js"], undefined, "2.15");
  });
  after(async () => {
    await ours?.close();
    await ref?.stop();
  });

  it("flow control replies acknowledge, max_ack_pending is released by them", async () => {
    const targets = [ours.url, ...(ref ? [`127.0.0.1:${ref.port}`] : [])];
    for (const url of targets) {
      const r = await run(url);
      assert.deepEqual(r.got, Array.from({ length: 20 }, (_, i) => i + 1), url);
      assert.equal(r.ackFloor, 20, url);
      assert.equal(r.pending, 0, url);
      assert.ok(r.fcRequests >= 3, `${url}: ${r.fcRequests} flow control requests`);
    }
  });
});

/**
 * A push consumer with flow control whose receiver does not answer: delivery stops once the
 * window (2 MB at first) is out, heartbeats say which request it stalls on, and answering it
 * lets the rest through.
 */
async function stallAndResume(url: string): Promise<{ beforeAnswer: number; stalledHeader: boolean; total: number }> {
  const nc = await connect({ servers: url });
  try {
    await api(nc, "$JS.API.STREAM.CREATE.FCW", { name: "FCW", subjects: ["fcw"] });
    const data = new Uint8Array(1024);
    for (let i = 1; i <= 5000; i++) nc.publish("fcw", data);
    await nc.flush();
    const deliver = createInbox();
    let got = 0;
    let pendingFc: string | undefined;
    let stalledHeader = false;
    let answering = false;
    nc.subscribe(deliver, {
      callback: (_e, m) => {
        const code = m.headers?.code ?? 0;
        if (code === 100 && m.reply) {
          if (answering) nc.publish(m.reply, "");
          else pendingFc = m.reply;
          return;
        }
        if (code === 100) {
          const stalled = m.headers?.get("Nats-Consumer-Stalled") ?? "";
          if (stalled !== "") {
            stalledHeader = true;
            if (answering) nc.publish(stalled, "");
          }
          return;
        }
        got++;
      },
    });
    await nc.flush();
    await api(nc, "$JS.API.CONSUMER.CREATE.FCW.w", { stream_name: "FCW", config: { name: "w", deliver_subject: deliver, flow_control: true, idle_heartbeat: 500_000_000 } });
    // Delivery comes to a halt without answers: the count stops growing.
    let last = -1;
    while (got !== last) {
      last = got;
      await new Promise((r) => setTimeout(r, 700));
    }
    await waitUntil(() => stalledHeader, 5000, "a heartbeat naming the stalled request");
    const beforeAnswer = got;
    answering = true;
    if (pendingFc !== undefined) nc.publish(pendingFc, "");
    await waitUntil(() => got >= 5000, 15_000, "the rest after answering");
    return { beforeAnswer, stalledHeader, total: got };
  } finally {
    await nc.close();
  }
}

describe("flow control windows", () => {
  let ours: TestServer;
  let ref: ReferenceServer | undefined;
  before(async () => {
    ours = await startTestServer({ jetstream: true });
    if (referenceMissing() === false) ref = await startNatsServer(["-js"], undefined, "2.15");
  });
  after(async () => {
    await ours?.close();
    await ref?.stop();
  });

  it("an unanswered receiver stops delivery at the first 2 MB window; answering resumes it", async () => {
    const targets = [ours.url, ...(ref ? [`127.0.0.1:${ref.port}`] : [])];
    for (const url of targets) {
      const r = await stallAndResume(url);
      // 2 MB of ~1.1 KB deliveries: about 1900 before the halt.
      assert.ok(r.beforeAnswer > 1500 && r.beforeAnswer < 2500, `${url}: stalled after ${r.beforeAnswer}`);
      assert.equal(r.stalledHeader, true, url);
      assert.equal(r.total, 5000, url);
    }
  });
});
