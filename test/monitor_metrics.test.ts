// /metrics: Prometheus text format, checked line by line against the exposition grammar and
// parsed by parse-prometheus-text-format; values follow real traffic.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { connect } from "@nats-io/transport-node";
import { startTestServer, type TestServer } from "./helpers/server.js";

interface ParsedSample {
  value: string;
  labels?: Record<string, string>;
}
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: ParsedSample[];
}
const require = createRequire(import.meta.url);
const parsePrometheusTextFormat = require("parse-prometheus-text-format") as (text: string) => ParsedFamily[];

let srv: TestServer;

before(async () => {
  srv = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", serverName: "prom \"quoted\" name" });
});

after(async () => {
  await srv?.close();
});

async function scrape(): Promise<{ text: string; families: Map<string, ParsedFamily> }> {
  const r = await fetch(`${srv.monitorUrl as string}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  checkGrammar(text);
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  return { text, families };
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})(?:,[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})*\\}`;
const VALUE = "(?:[-+]?(?:\\d+\\.?\\d*(?:[eE][-+]?\\d+)?|\\.\\d+(?:[eE][-+]?\\d+)?)|NaN|[-+]Inf)";
const SAMPLE_RE = new RegExp(`^(${NAME})(${LABELS})? ${VALUE}$`);
const HELP_RE = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE_RE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Strict checks of text format 0.0.4: grammar of every line, one TYPE per family before its samples, no interleaving. */
function checkGrammar(text: string): void {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  const typed = new Map<string, string>();
  const finished = new Set<string>();
  let current = "";
  for (const line of lines) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(HELP_RE))) {
      assert.ok(!typed.has(m[1]), `HELP for ${m[1]} comes before its TYPE`);
      continue;
    }
    if ((m = line.match(TYPE_RE))) {
      assert.ok(!typed.has(m[1]), `duplicate TYPE for ${m[1]}`);
      typed.set(m[1], m[2]);
      if (current) finished.add(current);
      current = m[1];
      continue;
    }
    m = line.match(SAMPLE_RE);
    assert.ok(m, `invalid sample line: ${JSON.stringify(line)}`);
    assert.equal(m[1], current, `sample ${m[1]} outside its family block`);
    assert.ok(!finished.has(m[1]), `family ${m[1]} interleaved`);
  }
}

function value(f: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const fam = f.get(name);
  assert.ok(fam, `metric ${name} present`);
  const s = fam.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  assert.ok(s, `sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(s.value);
}

test("server, connection and account metrics follow traffic", async () => {
  const first = await scrape();
  assert.equal(first.families.get("nats_server_in_msgs_total")?.type, "COUNTER");
  assert.equal(first.families.get("nats_server_connections")?.type, "GAUGE");
  const info = first.families.get("nats_server_info")?.metrics[0];
  assert.equal(info?.labels?.server_name, 'prom "quoted" name', "label values escaped and parsed back");
  assert.equal(info?.labels?.server_id, srv.server.id);
  assert.equal(value(first.families, "nats_jetstream_enabled"), 0);

  const nc = await connect({ servers: srv.url, name: "metric-client" });
  try {
    const sub = nc.subscribe("m.>");
    for (let i = 0; i < 7; i++) nc.publish("m.x", "abc");
    await nc.flush();
    let n = 0;
    for await (const _m of sub) if (++n === 7) break;
    const { families } = await scrape();
    assert.equal(value(families, "nats_server_in_msgs_total") - value(first.families, "nats_server_in_msgs_total"), 7);
    assert.equal(value(families, "nats_server_in_bytes_total") - value(first.families, "nats_server_in_bytes_total"), 21);
    assert.equal(value(families, "nats_server_out_msgs_total") - value(first.families, "nats_server_out_msgs_total"), 7);
    assert.equal(value(families, "nats_server_connections"), 1);
    const cid = String([...srv.server.clients.keys()][0]);
    assert.equal(value(families, "nats_connection_in_msgs_total", { cid, name: "metric-client", account: "$G" }), 7);
    assert.equal(value(families, "nats_connection_out_msgs_total", { cid }), 7);
    assert.equal(value(families, "nats_connection_subscriptions", { cid }), 1);
    assert.equal(value(families, "nats_account_connections", { account: "$G" }), 1);
    assert.ok(value(families, "nats_account_in_msgs_total", { account: "$G" }) >= 7);
    assert.ok(value(families, "nats_server_http_requests_total", { path: "/metrics" }) >= 1);
    assert.ok(value(families, "nats_server_mem_bytes") > 0);
    assert.ok(value(families, "nats_server_uptime_seconds") >= 0);
  } finally {
    await nc.close();
  }
});

test("JetStream metrics when JetStream is configured", async () => {
  const js = await startTestServer({ httpPort: -1, httpHost: "127.0.0.1", jetstream: { maxMemoryStore: 1 << 20 } });
  try {
    const r = await fetch(`${js.monitorUrl as string}/metrics`);
    const text = await r.text();
    checkGrammar(text);
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    assert.equal(value(families, "nats_jetstream_max_memory_bytes"), 1 << 20);
    assert.ok(value(families, "nats_jetstream_max_storage_bytes") > 0);
    assert.equal(typeof value(families, "nats_jetstream_streams"), "number");
    assert.ok(families.has("nats_stream_messages"));
    assert.ok(families.has("nats_consumer_num_pending"));
  } finally {
    await js.close();
  }
});
