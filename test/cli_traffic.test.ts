// tsnats CLI: `traffic` sorts what it sees into natscli's kinds and shows per-second tables,
// against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { TrafficCounter } from "../src/cli/traffic_cmd.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

test("subjects are sorted into natscli's kinds", () => {
  assert.equal(TrafficCounter.kindOf("$NRG.AE.abc", undefined), "raftAppend");
  assert.equal(TrafficCounter.kindOf("$NRG.V.abc", "r"), "raftVote");
  assert.equal(TrafficCounter.kindOf("$JSC.ARU.x", undefined), "jsaUpdate");
  assert.equal(TrafficCounter.kindOf("$JSC.SYNC.x", undefined), "streamSync");
  assert.equal(TrafficCounter.kindOf("$JS.API.INFO", "_INBOX.1"), "jsApi");
  assert.equal(TrafficCounter.kindOf("$JS.ACK.S.C.1.1.1.1.0", undefined), "jsAck");
  assert.equal(TrafficCounter.kindOf("$SYS.REQ.SERVER.PING", "_INBOX.2"), "system");
  assert.equal(TrafficCounter.kindOf("svc.echo", "_INBOX.3"), "requests");
  assert.equal(TrafficCounter.kindOf("orders.new", undefined), "msgs");
});

for (const t of servers) {
  describe(`traffic on ${t.name}`, () => {
    test("per-second tables of the traffic seen", async () => {
      const nc = await connect({ servers: t.url });
      try {
        const running = home.run(["traffic", "--frames", "2"], { server: t.url });
        let stop = false;
        // Traffic of two kinds until the command has drawn its tables.
        const pump = (async () => {
          while (!stop) {
            nc.publish("orders.new", "x".repeat(100));
            nc.publish("svc.echo", "q", { reply: "_INBOX.none" });
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        const r = await running.done;
        stop = true;
        await pump;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /General Traffic/);
        assert.match(r.stdout, /Requests.*JS API.*JS ACK.*System.*Rest.*Total Bytes.*Total Messages/);
        // Some second saw both requests and plain messages.
        const rows = r.stdout.split("\n").filter((l) => /^│ [\d,]+ /.test(l));
        assert.ok(rows.some((l) => /^│ [1-9][\d,]* +│ \d+ +│ \d+ +│ \d+ +│ [1-9]/.test(l)), r.stdout);
      } finally {
        await nc.close();
      }
    });
  });
}
