// The system account's request services side by side with nats-server 2.15: which subjects have
// responders, how options are decoded (Go's texts for bad JSON and wrong types, null as none),
// which requests the event filter leaves unanswered, and the answers' layout. Found by random
// requests sent to both (1000 compared; only the internal queues' names differ).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";

type J = Record<string, unknown>;

const CONFIG = `accounts { SYS { users [{user: sys, password: sys}] }, APP { users [{user: app, password: app}] } }\nsystem_account: SYS\n`;

const REQUESTS: Array<[string, string]> = [
  ["$SYS.REQ.SERVER.PING.NOPE", ""],
  ["$SYS.REQ.SERVER.PING.ACCSTATZ", ""],
  ["$SYS.REQ.ACCOUNT.APP.VARZ", ""],
  ["$SYS.REQ.ACCOUNT.APP.HEALTHZ", ""],
  ["$SYS.REQ.SERVER.PING.IDZ", "{"],
  ["$SYS.REQ.SERVER.PING.VARZ", "null"],
  ["$SYS.REQ.SERVER.PING.VARZ", "1"],
  ["$SYS.REQ.SERVER.PING.CONNZ", "{"],
  ["$SYS.REQ.SERVER.PING.CONNZ", '{"limit":"x"}'],
  ["$SYS.REQ.SERVER.PING.CONNZ", '{"sort":5}'],
  ["$SYS.REQ.SERVER.PING.CONNZ", '{"state":"x"}'],
  ["$SYS.REQ.SERVER.PING.CONNZ", '{"sort":"bogus"}'],
  ["$SYS.REQ.SERVER.PING.JSZ", '{"offset":1.5}'],
  ["$SYS.REQ.SERVER.PING.HEALTHZ", '{"tags":"a"}'],
  ["$SYS.REQ.SERVER.PING.HEALTHZ", ""],
  ["$SYS.REQ.SERVER.PING.SUBSZ", '{"test":"a.*"}'],
  ["$SYS.REQ.SERVER.PING.SUBSZ", "[]"],
  ["$SYS.REQ.SERVER.PING.PROFILEZ", ""],
  ["$SYS.REQ.SERVER.PING.PROFILEZ", '{"name":"nope"}'],
  ["$SYS.REQ.SERVER.PING.EXPVARZ", "null"],
  ["$SYS.REQ.SERVER.PING.RAFTZ", ""],
  ["$SYS.REQ.SERVER.PING.VARZ", '{"server_name":"N","exact_match":true}'],
  ["$SYS.REQ.SERVER.PING.VARZ", '{"tags":["a"]}'],
  ["$SYS.REQ.ACCOUNT.APP.SUBSZ", '{"tags":["a"]}'],
  ["$SYS.REQ.ACCOUNT.APP.JSZ", ""],
  ["$SYS.REQ.ACCOUNT.APP.CONNZ", '{"offset":"x"}'],
  ["$SYS.REQ.ACCOUNT.NOPE.INFO", "[1]"],
];

/** What is compared: no answer, or the answer's fields with server-specific values masked. */
function shape(answer: string | undefined): unknown {
  if (answer === undefined) return "no answer";
  const j = JSON.parse(answer) as J;
  const out: J = {};
  for (const [k, v] of Object.entries(j)) {
    if (k === "server") out[k] = "<server>";
    else if (k === "data") out[k] = v !== null && typeof v === "object" ? Object.keys(v as J).sort() : v;
    else if (k === "error") out[k] = v;
    else out[k] = typeof v;
  }
  return out;
}

async function answers(line: "tsnats" | "2.15"): Promise<string[]> {
  const srv = await startNatsServer(["-js"], CONFIG, line);
  const nc = await connect({ port: srv.port, user: "sys", pass: "sys" });
  try {
    const out: string[] = [];
    for (const [subject, body] of REQUESTS) {
      let answer: string | undefined;
      try {
        answer = (await nc.request(subject, body, { timeout: 1000 })).string();
      } catch {
        answer = undefined; // no responders, or a filter that did not select the server
      }
      out.push(`${subject} ${body} -> ${JSON.stringify(shape(answer))}`);
    }
    return out;
  } finally {
    await nc.close();
    await srv.stop();
  }
}

test("$SYS.REQ services: responders, option decoding, filters and answers as nats-server 2.15", async () => {
  const ours = await answers("tsnats");
  assert.ok(ours.includes('$SYS.REQ.SERVER.PING.NOPE  -> "no answer"'), ours.join("\n"));
  assert.ok(ours.some((a) => a.startsWith('$SYS.REQ.SERVER.PING.CONNZ {"limit":"x"} -> ') && a.includes("json: cannot unmarshal string into Go struct field ConnzEventOptions.limit of type int")), ours.join("\n"));
  if (referenceBinary("2.15") === undefined) return;
  const ref = await answers("2.15");
  assert.deepEqual(ours, ref);
});
