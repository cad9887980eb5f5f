// Protocol fuzzing over real sockets: random bytes, random op soup and mutated valid sessions
// (seeded, so a failure replays), sent whole or in random pieces. The server must never crash,
// must answer only well-formed protocol, must close every connection it sends a fatal -ERR to,
// must reject garbage that cannot start an op, must not leak clients, and a healthy client must
// keep working throughout.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startTestServer, waitUntil } from "./helpers/server.js";
import { RawConn } from "./helpers/raw.js";
import { prng, ProtoFuzzer } from "./helpers/fuzz.js";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);
// A fixed number of cases (not "as many as fit in N ms"): every run, loaded machine or not,
// replays exactly the same cases for a seed.
const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const CONCURRENCY = 12;

const FATAL = [
  "Unknown Protocol Operation",
  "Maximum Payload Violation",
  "maximum control line exceeded",
  "Authorization Violation",
  "invalid client protocol",
  "no responders requires headers support",
];
const NON_FATAL = ["Invalid Subject", "Invalid Publish Subject", "maximum subscriptions exceeded"];
const OP_START = new Set("PpHhSsUuCcIi+-".split("").map((c) => c.charCodeAt(0)));

/** Checks that the server's output is well-formed protocol; returns the -ERR texts. */
function checkOutput(out: string, ctx: string): string[] {
  const errs: string[] = [];
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf("\r\n", pos);
    assert.ok(nl >= 0, `${ctx}: unterminated output line ${JSON.stringify(out.slice(pos, pos + 80))}`);
    const line = out.slice(pos, nl);
    pos = nl + 2;
    if (line === "+OK" || line === "PONG" || line === "PING") continue;
    if (line.startsWith("INFO {")) continue;
    const e = /^-ERR '(.*)'$/.exec(line);
    if (e) {
      assert.ok(FATAL.includes(e[1]) || NON_FATAL.includes(e[1]), `${ctx}: unexpected -ERR ${line}`);
      errs.push(e[1]);
      continue;
    }
    // Subjects may hold odd bytes (a CR, say): nats-server routes them too, so only spaces delimit.
    const m = /^(MSG|HMSG) ([^ ]+) ([^ ]+)(?: ([^ ]+))? (\d+)(?: (\d+))?$/.exec(line);
    assert.ok(m, `${ctx}: unexpected line ${JSON.stringify(line)}`);
    const size = Number(m[1] === "HMSG" ? (m[6] ?? m[5]) : m[5]);
    assert.ok(out.length >= pos + size + 2, `${ctx}: truncated payload`);
    assert.equal(out.slice(pos + size, pos + size + 2), "\r\n", `${ctx}: payload not followed by CRLF`);
    pos += size + 2;
  }
  return errs;
}

describe("core fuzz", () => {
  it("survives random and mutated protocol input", { timeout: 300_000 }, async (t) => {
    const srv = await startTestServer({ maxPayload: 4096, maxSubscriptions: 50 });
    const server = srv.server;
    const healthy = await connect({ servers: srv.url, name: "healthy" });
    const healthyPub = await connect({ servers: srv.url, name: "healthy-pub" });
    try {
      healthy.subscribe("healthy.svc", {
        callback: (_e, m) => {
          m.respond(m.data);
        },
      });
      let streamed = 0;
      let streamOrderOk = true;
      healthy.subscribe("healthy.stream", {
        callback: (_e, m) => {
          if (Number(m.string()) !== streamed) streamOrderOk = false;
          streamed++;
        },
      });
      await healthy.flush();
      const baseline = server.clients.size;
      const gen = new ProtoFuzzer(prng(SEED));
      const started = Date.now();
      const stats = { cases: 0, closed: 0, errs: 0, openQuiet: 0 };
      let published = 0;

      const runCase = async (index: number, kind: string, data: Buffer, cuts: number[] | undefined): Promise<void> => {
        const ctx = `case ${index} (${kind}, seed ${SEED}) ${JSON.stringify(data.toString("latin1").slice(0, 200))}`;
        const c = await RawConn.connect(srv.port);
        try {
          if (cuts === undefined) c.send(data);
          else await c.sendInPieces(data, cuts);
          let out = await c.settle(40, 1500);
          const errs = checkOutput(out, ctx);
          if (errs.some((e) => FATAL.includes(e)) && !c.closed) out = await c.waitClosed(30_000);
          if (data.length > 0 && !OP_START.has(data[0])) {
            // A loaded machine may answer after the quiet period: wait for the close itself.
            if (!c.closed) out = await c.waitClosed(30_000);
            assert.ok(c.closed, `${ctx}: garbage must close the connection`);
            assert.ok(out.startsWith("-ERR 'Unknown Protocol Operation'\r\n"), `${ctx}: garbage gets -ERR, got ${JSON.stringify(out)}`);
          }
          stats.cases++;
          if (c.closed) stats.closed++;
          else if (errs.length > 0) stats.errs++;
          else stats.openQuiet++;
        } finally {
          c.close();
        }
      };

      let index = 0;
      const worker = async (): Promise<void> => {
        while (index < CASES) {
          const i = index++;
          const { kind, data } = gen.next();
          let cuts: number[] | undefined;
          if (gen.rnd() < 0.3 && data.length > 1) cuts = [1 + gen.int(data.length - 1), 1 + gen.int(data.length - 1)].sort((a, b) => a - b);
          await runCase(i, kind, data, cuts);
          if (i % 50 === 0) {
            // The healthy client keeps working throughout.
            const payload = `check-${i}`;
            const r = await healthyPub.request("healthy.svc", payload, { timeout: 30_000 });
            assert.equal(r.string(), payload);
            for (let k = 0; k < 20; k++) healthyPub.publish("healthy.stream", String(published++));
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await healthyPub.flush();
      await waitUntil(() => streamed === published, 30_000, "healthy stream complete");
      assert.ok(streamOrderOk, "healthy stream in order");
      assert.equal(stats.cases, CASES, `every case ran: ${JSON.stringify(stats)}`);
      assert.ok(stats.closed > 0 && stats.openQuiet > 0, `mix of outcomes: ${JSON.stringify(stats)}`);
      t.diagnostic(`fuzz: ${JSON.stringify(stats)} in ${Date.now() - started} ms, seed ${SEED}`);
      // No leaked connections: every fuzz connection is gone.
      await waitUntil(() => server.clients.size === baseline, 30_000, `clients back to ${baseline} (now ${server.clients.size})`);
      assert.equal(server.isShuttingDown, false);
      const r = await healthyPub.request("healthy.svc", "final", { timeout: 30_000 });
      assert.equal(r.string(), "final");
    } finally {
      await healthy.close();
      await healthyPub.close();
      await srv.close();
    }
  });
});
