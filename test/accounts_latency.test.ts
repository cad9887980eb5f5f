// Service latency tracking (`latency: { sampling, subject }` on a service export): the
// io.nats.server.metric.v1.service_latency events the exporting account receives for a
// measured request (200), one nobody took (503), one without a reply (400) and header-driven
// sampling, with the shapes nats-server 2.15 publishes.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { startConfigServer } from "./helpers/config_server.js";
import { waitUntil, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const CONF = `
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [
      {service: "svc.all", latency: {sampling: 100, subject: "lat.all"}}
      {service: "svc.hdr", latency: {sampling: headers, subject: "lat.hdr"}}
    ]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {service: {account: A, subject: "svc.all"}, share: true}
      {service: {account: A, subject: "svc.hdr"}}
    ]
  }
}
`;

type Json = Record<string, unknown>;

/** The events one server publishes for the scenario, reduced to what must not vary between runs. */
async function scenario(port: number): Promise<Json[]> {
  const a = await connect({ port, user: "a", pass: "a" });
  const b = await connect({ port, user: "b", pass: "b" });
  const events: Json[] = [];
  try {
    a.subscribe("lat.*", { callback: (_e, m) => void events.push({ on: m.subject, ...m.json<Json>() }) });
    const responder = a.subscribe("svc.*", { callback: (_e, m) => void m.respond("ok") });
    await a.flush();
    await b.request("svc.all", "x", { timeout: 2000 });
    // Header-driven: sampled with a Traceparent whose flags say so, not without one.
    const h = natsHeaders();
    h.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    await b.request("svc.hdr", "x", { timeout: 2000, headers: h });
    await b.request("svc.hdr", "x", { timeout: 2000 });
    await waitUntil(() => events.length >= 2, 5000, "two latency events");
    responder.unsubscribe();
    await a.flush();
    // Nobody takes it now: 503 (the requester gets no responders).
    await b.request("svc.all", "x", { timeout: 2000 }).catch(() => undefined);
    // No reply subject: 400.
    b.publish("svc.all", "x");
    await b.flush();
    await waitUntil(() => events.length >= 4, 5000, "four latency events");
    return events.map(shape);
  } finally {
    await a.close();
    await b.close();
  }
}

/** Keys and fixed values of an event (times, ids and durations vary). */
function shape(e: Json): Json {
  const keys = (o: unknown): string[] => (o === undefined ? [] : Object.keys(o as Json).sort());
  const requestor = e.requestor as Json | undefined;
  const responder = e.responder as Json | undefined;
  return {
    on: e.on,
    type: e.type,
    status: e.status,
    description: e.description,
    keys: keys(e),
    requestorKeys: keys(requestor),
    requestorAcc: requestor?.acc,
    responderKeys: keys(responder),
    responderAcc: responder?.acc,
    header: e.header,
  };
}

describe("service latency tracking", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startConfigServer(CONF);
  });
  after(async () => {
    await srv.close();
  });

  it("reports measured requests to the exporting account", async () => {
    const events = await scenario(srv.port);
    assert.deepEqual(
      events.map((e) => [e.on, e.status, e.requestorAcc, e.responderAcc]),
      [
        ["lat.all", 200, "B", "A"],
        ["lat.hdr", 200, "B", "A"],
        ["lat.all", 503, "B", undefined],
        ["lat.all", 400, "B", undefined],
      ],
    );
    assert.equal(events[0].type, "io.nats.server.metric.v1.service_latency");
    // `share: true` shows the requester's details; without it only account and RTT.
    assert.ok((events[0].requestorKeys as string[]).includes("user"));
    assert.deepEqual(events[1].requestorKeys, ["acc", "rtt"]);
    assert.deepEqual(events[1].header, { Traceparent: ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"] });
  });

  it("publishes the same events as nats-server 2.15", async (t) => {
    if (referenceBinary("2.15") === undefined) {
      t.skip("nats-server 2.15 is not available");
      return;
    }
    let ns: ReferenceServer | undefined;
    try {
      ns = await startNatsServer([], CONF, "2.15");
      const theirs = await scenario(ns.port);
      const ours = await scenario(srv.port);
      // nats-server's detailed client info has fields tsnats has no equivalent for yet.
      const drop = (e: Json): Json => ({
        ...e,
        requestorKeys: (e.requestorKeys as string[]).filter((k) => !["name_tag", "cluster", "tags", "issuer_key", "jwt"].includes(k)),
        responderKeys: (e.responderKeys as string[]).filter((k) => !["name_tag", "cluster", "tags", "issuer_key", "jwt"].includes(k)),
      });
      assert.deepEqual(ours.map(drop), theirs.map(drop));
    } finally {
      await ns?.stop();
    }
  });
});

