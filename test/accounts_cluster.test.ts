// Imports across a cluster: the exporter's client on one server, the importer's on another.
// A stream import's shadow subscription is interest of the exporting account that routes
// carry; a service request crosses to the responder's server and its `_R_` reply comes back
// the same way. Run on two tsnats servers, and on tsnats routed to nats-server 2.15.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { optionsFromText } from "./helpers/config_server.js";
import { connectTo, startRefMember, startTsMember, stopAll, waitForMesh, type Member } from "./helpers/cluster.js";
import { referenceBinary } from "./helpers/nats_server.js";

const ACCOUNTS = `
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "ev.>"}, {service: "svc.>"}] }
  B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: "ev.>"}, prefix: "froma"}, {service: {account: A, subject: "svc.>"}}] }
}
`;

/** Publish until the subscriber (another account, maybe another server) has the message. */
async function streamAcross(pub: NatsConnection, sub: NatsConnection): Promise<string> {
  const got: string[] = [];
  const s = sub.subscribe("froma.ev.>", { callback: (_e, m) => void got.push(`${m.subject} ${m.string()}`) });
  await sub.flush();
  for (let i = 0; i < 200 && got.length === 0; i++) {
    pub.publish("ev.x", "hello");
    await pub.flush();
    await new Promise((r) => setTimeout(r, 25));
  }
  s.unsubscribe();
  return got[0] ?? "nothing";
}

/** Request until the responder (another account, maybe another server) answers. */
async function serviceAcross(requester: NatsConnection, responder: NatsConnection): Promise<string> {
  const s = responder.subscribe("svc.>", { callback: (_e, m) => void m.respond(`re:${m.subject}`) });
  await responder.flush();
  try {
    for (let i = 0; i < 200; i++) {
      try {
        return (await requester.request("svc.q", "x", { timeout: 500 })).string();
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    return "no answer";
  } finally {
    s.unsubscribe();
  }
}

async function scenario(m1: Member, m2: Member): Promise<string[]> {
  const a1 = await connectTo(m1, { user: "a", pass: "a" });
  const b2 = await connectTo(m2, { user: "b", pass: "b" });
  const a2 = await connectTo(m2, { user: "a", pass: "a" });
  const b1 = await connectTo(m1, { user: "b", pass: "b" });
  try {
    return [
      await streamAcross(a1, b2), // exporter's publisher on 1, importer's subscriber on 2
      await streamAcross(a2, b1),
      await serviceAcross(b1, a2), // importer's requester on 1, exporter's responder on 2
      await serviceAcross(b2, a1),
    ];
  } finally {
    for (const nc of [a1, b2, a2, b1]) await nc.close();
  }
}

const expected = ["froma.ev.x hello", "froma.ev.x hello", "re:svc.q", "re:svc.q"];

describe("imports across a cluster", () => {
  it("carries stream and service imports between two tsnats servers", async () => {
    const accounts = optionsFromText(ACCOUNTS).accounts;
    const s1 = await startTsMember("s1", "XA", [], { accounts });
    let s2: Member | undefined;
    try {
      s2 = await startTsMember("s2", "XA", [s1.routeUrl], { accounts });
      await waitForMesh([s1, s2]);
      assert.deepEqual(await scenario(s1, s2), expected);
    } finally {
      await stopAll([s1, s2]);
    }
  });

  it("carries them between tsnats and nats-server 2.15", async (t) => {
    if (referenceBinary("2.15") === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    const accounts = optionsFromText(ACCOUNTS).accounts;
    const s1 = await startTsMember("ts", "XB", [], { accounts });
    let s2: Member | undefined;
    try {
      s2 = await startRefMember("2.15", "ref", "XB", [s1.routeUrl], ACCOUNTS);
      await waitForMesh([s1, s2]);
      assert.deepEqual(await scenario(s1, s2), expected);
    } finally {
      await stopAll([s1, s2]);
    }
  });
});
