// Stream info in a JetStream cluster lists `alternates` as nats-server does: the stream and the
// streams mirroring it (read replicas a client may use instead), with the cluster of each;
// nothing when a stream has no mirror. Asked through another server than the one holding it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { requestJson } from "./helpers/jetstream.js";

/** The alternates of stream "src" once `done` holds for them (asked again for up to 20 s). */
async function alternatesUntil(nc: NatsConnection, done: (alts: unknown) => boolean): Promise<unknown> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const alts = (await requestJson(nc, "$JS.API.STREAM.INFO.src", "")).alternates;
    if (done(alts) || Date.now() > deadline) return alts;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("stream info alternates: the stream and its mirrors in a cluster", { timeout: 120_000 }, async () => {
  const c = await JsTestCluster.start(3, "ALTS");
  const ncs: NatsConnection[] = [];
  try {
    await c.metaLeader();
    for (const m of c.members) ncs.push(await connect({ servers: m.url, timeout: 20_000 }));
    const [jsm0, jsm1] = await Promise.all(ncs.slice(0, 2).map((nc) => jetstreamManager(nc, { timeout: 20_000 })));
    await jsm0.streams.add({ name: "src", subjects: ["alt.a", "alt.b"] });
    await jsm0.streams.add({ name: "lonely", subjects: ["lonely"] });
    assert.equal((await jsm1.streams.info("src")).alternates, undefined, "no mirror yet: no alternates");
    await jsm1.streams.add({ name: "mirror", mirror: { name: "src" } });
    await jsm1.streams.add({ name: "other", mirror: { name: "lonely" } });

    // The server holding "src" learns of the mirror when it applies the meta entry, which may
    // come after the mirror's creation was answered: ask until it did.
    const expected = [
      { name: "src", cluster: "ALTS" },
      { name: "mirror", cluster: "ALTS" },
    ];
    for (const nc of ncs) assert.deepEqual(await alternatesUntil(nc, (a) => a !== undefined), expected);
    // The mirror's own info: only streams mirroring it count, so none.
    assert.equal((await jsm0.streams.info("mirror")).alternates, undefined);
    // What nats.js does with it: find the stream by subject, then read its alternates.
    const name = await jsm1.streams.find("alt.a");
    assert.equal((await jsm1.streams.info(name)).alternates?.length, 2);

    await jsm0.streams.delete("mirror");
    assert.equal(await alternatesUntil(ncs[1], (a) => a === undefined), undefined, "mirror deleted: no alternates");
  } finally {
    for (const nc of ncs) await nc.close();
    await c.stop();
  }
});
