// A durable push consumer is bound to one deliver subject at a time: ten connections that
// create/subscribe it at the same moment, each with its own deliver subject, end with one
// binding and nine refusals, as with nats-server 2.15 (which is run side by side).
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { connect as connectV2, consumerOpts, type NatsConnection as V2Connection } from "nats";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

interface Target {
  name: string;
  url: string;
}

/** Ten connections at once create durable `D` with their own deliver subject; their answers. */
async function tenRawCreates(url: string, stream: string): Promise<Array<Record<string, unknown>>> {
  const conns: NatsConnection[] = [];
  for (let i = 0; i < 10; i++) conns.push(await connect({ servers: url }));
  try {
    const setup = conns[0];
    await setup.request(`$JS.API.STREAM.CREATE.${stream}`, JSON.stringify({ name: stream, subjects: [`${stream}.>`] }));
    // Each subscribes its deliver subject first (as clients do), then all create at once.
    const inboxes = conns.map((nc) => {
      const inbox = createInbox();
      nc.subscribe(inbox, { callback: () => undefined });
      return inbox;
    });
    await Promise.all(conns.map((nc) => nc.flush()));
    const replies = await Promise.all(
      conns.map((nc, i) =>
        nc.request(
          `$JS.API.CONSUMER.CREATE.${stream}.D`,
          JSON.stringify({ stream_name: stream, config: { durable_name: "D", deliver_subject: inboxes[i], ack_policy: "explicit" } }),
          { timeout: 5000 },
        ),
      ),
    );
    return replies.map((m) => m.json<Record<string, unknown>>());
  } finally {
    for (const nc of conns) await nc.close();
  }
}

/** Ten nats v2 clients subscribe the same durable push consumer at once; how many get it. */
async function tenClientSubscribes(url: string, stream: string): Promise<{ ok: number; errors: string[] }> {
  const conns: V2Connection[] = [];
  for (let i = 0; i < 10; i++) conns.push(await connectV2({ servers: url }));
  try {
    await conns[0].jetstreamManager().then((jsm) => jsm.streams.add({ name: stream, subjects: [`${stream}.>`] }));
    const results = await Promise.allSettled(
      conns.map((nc) => {
        const opts = consumerOpts();
        opts.durable("D");
        opts.deliverTo(createInbox());
        opts.ackExplicit();
        return nc.jetstream().subscribe(`${stream}.>`, opts);
      }),
    );
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => String((r.reason as Error).message));
    return { ok: results.length - errors.length, errors };
  } finally {
    for (const nc of conns) await nc.close();
  }
}

describe("one binding per durable push consumer", () => {
  let ours: TestServer;
  let ref: ReferenceServer | undefined;
  const targets: Target[] = [];
  before(async () => {
    ours = await startTestServer({ jetstream: true });
    targets.push({ name: "tsnats", url: ours.url });
    if (referenceMissing() === false) {
      ref = await startNatsServer(["-js"], undefined, "2.15");
      targets.push({ name: "nats-server 2.15", url: `127.0.0.1:${ref.port}` });
    }
  });
  after(async () => {
    await ours?.close();
    await ref?.stop();
  });

  it("ten simultaneous creates with different deliver subjects: one wins, nine get 10013", async () => {
    for (const t of targets) {
      const replies = await tenRawCreates(t.url, "BIND");
      const ok = replies.filter((r) => r.error === undefined);
      const errors = replies.filter((r) => r.error !== undefined).map((r) => r.error);
      assert.equal(ok.length, 1, `${t.name}: ${JSON.stringify(replies.map((r) => r.error ?? "ok"))}`);
      for (const e of errors) assert.deepEqual(e, { code: 400, err_code: 10013, description: "consumer name already in use" }, t.name);
    }
  });

  it("ten nats v2 clients subscribing the same durable at once: one subscribes, nine fail", async () => {
    for (const t of targets) {
      const r = await tenClientSubscribes(t.url, "BIND2");
      assert.equal(r.ok, 1, `${t.name}: ${JSON.stringify(r.errors)}`);
      assert.equal(r.errors.length, 9, t.name);
    }
  });
});
