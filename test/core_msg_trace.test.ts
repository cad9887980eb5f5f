// Message tracing (ADR-41): Nats-Trace-Dest and Nats-Trace-Only, the trace events ("in",
// "eg", "js" with stream errors and no-interest) as nats-server 2.15 sends them, delivery
// (or not, trace-only) to subscribers and streams, and tracing switched off for what a
// stream stores. The same scenario runs against tsnats and nats-server 2.15 and the events
// must agree once clocks, connection ids and the server block are masked.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";

type Json = Record<string, any>;

function traceHeaders(extra: Record<string, string> = {}): ReturnType<typeof headers> {
  const h = headers();
  h.set("Nats-Trace-Dest", "trace.dest");
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return h;
}

/** Publishes traced messages on `url`; returns the trace events (masked) and what subscribers and the stream got. */
async function scenario(url: string): Promise<string[]> {
  const nc = await connect({ servers: url, name: "tracer" });
  const nc2 = await connect({ servers: url, name: "receiver" });
  const out: string[] = [];
  const traces: Json[] = [];
  try {
    nc.subscribe("trace.dest", {
      callback: (_e, m) => {
        traces.push(m.json<Json>());
      },
    });
    nc2.subscribe("foo", {
      callback: (_e, m) => {
        out.push(`foo got ${m.string()}`);
      },
    });
    nc2.subscribe("foo", {
      queue: "q",
      callback: (_e, m) => {
        out.push(`foo/q got ${m.string()}`);
      },
    });
    await nc2.flush();
    await nc.flush();
    nc.publish("foo", "delivered", { headers: traceHeaders() });
    nc.publish("foo", "trace-only", { headers: traceHeaders({ "Nats-Trace-Only": "true" }) });
    nc.publish("nobody.here", "x", { headers: traceHeaders() });
    nc.publish("foo", "no-trace", { headers: traceHeaders({ "Nats-Trace-Dest": "trace disabled" }) });
    await nc.request("$JS.API.STREAM.CREATE.T", JSON.stringify({ name: "T", subjects: ["js.*"] }));
    await nc.request("$JS.API.STREAM.CREATE.I", JSON.stringify({ name: "I", subjects: ["int.*"], retention: "interest" }));
    out.push(`ack ${(await nc.request("js.a", "stored", { timeout: 2000, headers: traceHeaders() })).string()}`);
    nc.publish("js.b", "only", { headers: traceHeaders({ "Nats-Trace-Only": "1", "Nats-Expected-Last-Sequence": "7" }) });
    nc.publish("js.c", "only", { headers: traceHeaders({ "Nats-Trace-Only": "on" }) });
    out.push(`ack ${(await nc.request("js.d", "x", { timeout: 2000, headers: traceHeaders({ "Nats-Expected-Stream": "NOPE" }) })).string()}`);
    out.push(`ack ${(await nc.request("int.a", "x", { timeout: 2000, headers: traceHeaders() })).string()}`);
    await nc.flush();
    await waitUntil(() => traces.length >= 8, 5000, "8 trace events");
    const info = (await nc.request("$JS.API.STREAM.INFO.T")).json<Json>();
    out.push(`stream T holds ${info.state.messages}`);
    const stored = (await nc.request("$JS.API.STREAM.MSG.GET.T", JSON.stringify({ seq: 1 }))).json<Json>();
    out.push(`stored headers ${Buffer.from(stored.message.hdrs, "base64").toString()}`);
    for (const t of traces) {
      assert.equal(typeof t.server.id, "string");
      const events = (t.events as Json[]).map(({ ts: _ts, cid: _cid, ...rest }) => rest);
      out.push(JSON.stringify({ request: t.request, events }));
    }
  } finally {
    await nc.close();
    await nc2.close();
  }
  return out;
}

describe("message tracing", () => {
  it("traces publishes, trace-only messages and JetStream ingest as nats-server 2.15 does", async (t) => {
    const ours = await startTestServer({ jetstream: true });
    let refDir: string | undefined;
    try {
      const mine = await scenario(ours.url);
      // What tsnats does on its own (kept even when the reference is missing).
      assert.ok(mine.includes("foo got delivered") && !mine.includes("foo got trace-only"), "trace-only messages are not delivered");
      assert.ok(mine.includes("stream T holds 1"), "trace-only messages are not stored");
      assert.ok(mine.some((l) => l.includes("Nats-Trace-Dest: trace disabled")), "tracing is off for the stored message");
      if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available");
      refDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-trace-ref-"));
      const ref = await startNatsServer(["-js", "-sd", refDir], undefined, "2.15");
      try {
        const theirs = await scenario(`127.0.0.1:${ref.port}`);
        assert.deepEqual(mine.sort(), theirs.sort());
      } finally {
        await ref.stop();
      }
    } finally {
      await ours.close();
      if (refDir) fs.rmSync(refDir, { recursive: true, force: true });
    }
  });

  it("follows an account mapping and a request with its reply", async () => {
    const srv = await startTestServer({ accounts: [{ name: "A", users: [{ user: "a", password: "a" }], mappings: [{ subject: "old.subject", destinations: [{ subject: "new.subject", weight: 100 }] }] }] });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: srv.url, user: "a", pass: "a" });
      const traces: Json[] = [];
      nc.subscribe("trace.dest", {
        callback: (_e, m) => {
          traces.push(m.json<Json>());
        },
      });
      nc.subscribe("new.subject", {
        callback: (_e, m) => {
          m.respond("pong");
        },
      });
      await nc.flush();
      const r = await nc.request("old.subject", "ping", { timeout: 2000, headers: traceHeaders() });
      assert.equal(r.string(), "pong");
      await waitUntil(() => traces.length >= 1, 5000, "a trace event");
      const types = (traces[0]!.events as Json[]).map((e) => e.type);
      assert.deepEqual(types, ["in", "sm", "eg"]);
      assert.equal(traces[0]!.events[0].subj, "old.subject");
      assert.equal(traces[0]!.events[1].to, "new.subject");
      assert.equal(traces[0]!.events[2].sub, "new.subject");
    } finally {
      await nc?.close();
      await srv.close();
    }
  });
});
