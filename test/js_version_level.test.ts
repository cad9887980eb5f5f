// The nats-server version and JetStream API level tsnats reports, where clients and
// operators read them: INFO (`version`, `api_lvl`), $JS.API.INFO, /varz and /jsz (server
// totals and per-account detail), compared with nats-server 2.15 when both report the same
// level (the reference's answers are then expected field for field).
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { RawConn } from "./helpers/raw.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { JS_API_LEVEL } from "../src/jetstream/api_level.js";
import { NATS_FEATURE_VERSION } from "../src/server/version.js";

type J = Record<string, any>;

let ts: TestServer;
let tsNoJs: TestServer;
let ref: ReferenceServer | undefined;
let refNoJs: ReferenceServer | undefined;
let refMon = "";
let refNoJsMon = "";
const refLevel = 5; // nats-server 2.15's JSApiLevel

async function info(port: number): Promise<J> {
  const c = await RawConn.connect(port);
  try {
    return c.info;
  } finally {
    c.close();
  }
}

async function getJson(url: string): Promise<J> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return (await r.json()) as J;
}

async function jsApiInfo(port: number): Promise<J> {
  const c = await RawConn.connect(port);
  try {
    c.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB _r 1\r\nPUB $JS.API.INFO _r 0\r\n\r\nPING\r\n");
    const text = await c.waitFor(/MSG _r 1 \d+\r\n.*\r\n/);
    const line = /MSG _r 1 \d+\r\n(.*)\r\n/.exec(text)![1]!;
    return JSON.parse(line) as J;
  } finally {
    c.close();
  }
}

before(async () => {
  ts = await startTestServer({ jetstream: true, httpPort: -1, httpHost: "127.0.0.1" });
  tsNoJs = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1" });
  if (referenceBinary("2.15") !== undefined) {
    ref = await startNatsServer(["-js", "-m", "-1", "-sd", `${ts.dir}/ref`], undefined, "2.15");
    refMon = ref.monitorUrl as string;
    refNoJs = await startNatsServer(["-m", "-1"], undefined, "2.15");
    refNoJsMon = refNoJs.monitorUrl as string;
  }
});

after(async () => {
  await ref?.stop();
  await refNoJs?.stop();
  await ts?.close();
  await tsNoJs?.close();
});

test("INFO states the version and, from 2.11, api_lvl (with or without JetStream)", async (t) => {
  for (const srv of [ts, tsNoJs]) {
    const i = await info(srv.port);
    assert.equal(i.version, NATS_FEATURE_VERSION);
    if (JS_API_LEVEL > 0) assert.equal(i.api_lvl, JS_API_LEVEL);
    else assert.equal("api_lvl" in i, false);
  }
  if (ref === undefined || refNoJs === undefined) return t.skip("nats-server 2.15 not available");
  if (JS_API_LEVEL !== refLevel) return t.skip(`reported level ${JS_API_LEVEL} is not 2.15's`);
  for (const [r, s] of [
    [ref, ts],
    [refNoJs, tsNoJs],
  ] as const) {
    const a = await info(r.port);
    const b = await info(s.port);
    assert.equal(b.api_lvl, a.api_lvl);
    assert.equal(b.version, a.version);
  }
});

test("$JS.API.INFO api.level, /jsz and /varz api stats: the server's level in its totals, 0 per account", async (t) => {
  const ai = await jsApiInfo(ts.port);
  assert.equal(ai.api.level, JS_API_LEVEL);
  const jsz = await getJson(`${ts.monitorUrl}/jsz?accounts=1`);
  const varz = await getJson(`${ts.monitorUrl}/varz`);
  const off = await getJson(`${tsNoJs.monitorUrl}/jsz`);
  const keys = (o: J): string[] => Object.keys(o);
  if (JS_API_LEVEL > 0) {
    assert.deepEqual(keys(jsz.api), ["level", "total", "errors"]);
    assert.equal(jsz.api.level, JS_API_LEVEL);
    assert.equal(jsz.account_details[0].api.level, 0);
    assert.equal(varz.jetstream.stats.api.level, JS_API_LEVEL);
    assert.equal(off.api.level, 0);
  } else {
    assert.deepEqual(keys(jsz.api), ["total", "errors"]);
  }
  if (ref === undefined || refNoJs === undefined) return t.skip("nats-server 2.15 not available");
  if (JS_API_LEVEL !== refLevel) return t.skip(`reported level ${JS_API_LEVEL} is not 2.15's`);
  const rai = await jsApiInfo(ref.port);
  assert.equal(ai.api.level, rai.api.level);
  const rjsz = await getJson(`${refMon}/jsz?accounts=1`);
  const rvarz = await getJson(`${refMon}/varz`);
  const roff = await getJson(`${refNoJsMon}/jsz`);
  assert.deepEqual(keys(jsz.api), keys(rjsz.api));
  assert.equal(jsz.api.level, rjsz.api.level);
  assert.equal(jsz.account_details[0].api.level, rjsz.account_details[0].api.level);
  assert.equal(varz.jetstream.stats.api.level, rvarz.jetstream.stats.api.level);
  assert.deepEqual(off.api, roff.api);
});
