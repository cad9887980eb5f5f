// tsnats CLI: stream and consumer commands, the docs' command lines end to end, prompts on a
// pseudo-terminal, backup/restore and mirrors/sources, against tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { CliHome, PYTHON3_MISSING } from "./helpers/cli.js";
import { acceptsStream, answers, jetStreamTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";

const servers = await jetStreamTargets();
const home = new CliHome();

after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

for (const t of servers) {
  describe(`stream and consumer commands on ${t.name}`, () => {
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const cli = (args: string[], stdin?: string) => home.exec(args, { server: t.url, stdin });
    before(async () => {
      nc = await connect({ servers: t.url });
      jsm = await jetstreamManager(nc);
    });
    after(() => nc.close());

    test("the docs' ORDERS walk-through: stream add, consumer add, pub, consumer next", async () => {
      let r = await cli(["str", "add", "ORDERS", "--subjects", "ORDERS.*", "--ack", "--max-msgs=-1", "--max-bytes=-1", "--max-age=1y", "--storage", "file", "--retention", "limits", "--max-msg-size=-1", "--discard=old", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Stream ORDERS was created/);
      assert.match(r.stdout, /Subjects: ORDERS\.\*/);
      assert.match(r.stdout, /Maximum Age: 1y0d0h0m0s/);
      const si = await jsm.streams.info("ORDERS");
      assert.equal(si.config.max_age, 365 * 24 * 3600 * 1e9);
      assert.equal(si.config.duplicate_window, 120e9);
      assert.equal(si.config.storage, "file");

      r = await cli(["con", "add", "ORDERS", "NEW", "--filter", "ORDERS.received", "--ack", "explicit", "--pull", "--deliver", "all", "--max-deliver=-1", "--sample", "100", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Information for Consumer ORDERS > NEW/);
      assert.match(r.stdout, /Filter Subject: ORDERS\.received/);
      r = await cli(["con", "add", "ORDERS", "MONITOR", "--filter", "", "--ack", "none", "--target", "monitor.ORDERS", "--deliver", "last", "--replay", "instant", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Delivery Subject: monitor\.ORDERS/);
      assert.match(r.stdout, /Deliver Policy: Last/);

      for (let i = 1; i <= 3; i++) assert.equal((await cli(["pub", "ORDERS.received", `order ${i}`])).code, 0);
      r = await cli(["con", "next", "ORDERS", "NEW"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /subj: ORDERS\.received \/ tries: 1 \/ cons seq: 1 \/ str seq: 1 \/ pending: 2/);
      assert.match(r.stdout, /order 1/);
      assert.match(r.stdout, /Acknowledged message/);
      r = await cli(["con", "next", "ORDERS", "NEW", "--nak", "--raw"]);
      assert.equal(r.stdout, "order 2\n");
      // The nak'd message comes back (tries 2), then the third; --count 2.
      r = await cli(["con", "next", "ORDERS", "NEW", "--count", "2"]);
      assert.match(r.stdout, /tries: 2 .* str seq: 2/);
      assert.match(r.stdout, /str seq: 3/);
      r = await cli(["con", "next", "ORDERS", "NEW", "--timeout", "500ms"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no message received/);
      const ci = await jsm.consumers.info("ORDERS", "NEW");
      assert.equal(ci.num_ack_pending, 0);
      assert.equal(ci.ack_floor.stream_seq, 3);
    });

    test("stream info/state/ls/subjects/get/view/report with --json", async () => {
      let r = await cli(["stream", "info", "ORDERS", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout);
      assert.equal(info.config.name, "ORDERS");
      assert.equal(info.state.messages, 3);
      r = await cli(["s", "state", "ORDERS"]);
      assert.match(r.stdout, /State for Stream ORDERS/);
      assert.match(r.stdout, /Messages: 3/);
      assert.doesNotMatch(r.stdout, /Retention/);
      r = await cli(["s", "ls", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["ORDERS"]);
      r = await cli(["s", "ls", "-n"]);
      assert.equal(r.stdout, "ORDERS\n");
      r = await cli(["s", "ls"]);
      assert.match(r.stdout, /│ ORDERS +│/);
      r = await cli(["s", "subjects", "ORDERS", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), { "ORDERS.received": 3 });

      nc.publish("ORDERS.shipped", "s1", { headers: (await import("@nats-io/transport-node")).headers() });
      await cli(["pub", "ORDERS.shipped", "s2", "-H", "Kind:ship"]);
      r = await cli(["s", "subjects", "ORDERS", "--names"]);
      assert.equal(r.stdout, "ORDERS.shipped\nORDERS.received\n", "fewest messages first");
      r = await cli(["s", "subjects", "ORDERS", "--names", "--reverse"]);
      assert.equal(r.stdout, "ORDERS.received\nORDERS.shipped\n");
      r = await cli(["s", "get", "ORDERS", "--last-for", "ORDERS.shipped", "--json"]);
      const m = JSON.parse(r.stdout);
      assert.equal(Buffer.from(m.data, "base64").toString(), "s2");
      assert.deepEqual(m.hdrs, { Kind: ["ship"] });
      r = await cli(["s", "get", "ORDERS", "1"]);
      assert.match(r.stdout, /Item: ORDERS#1 received .* on Subject ORDERS\.received/);
      assert.match(r.stdout, /order 1/);
      r = await cli(["s", "get", "ORDERS", "99"]);
      assert.equal(r.code, 1);
      r = await cli(["s", "view", "ORDERS", "2", "--subject", "ORDERS.received"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\[1\] Subject: ORDERS\.received/);
      assert.match(r.stdout, /\[2\] Subject: ORDERS\.received/);
      assert.doesNotMatch(r.stdout, /\[3\]/);
      r = await cli(["s", "report"]);
      assert.match(r.stdout, /Stream Report/);
      assert.match(r.stdout, /│ ORDERS +│ File/);
      r = await cli(["s", "report", "--json"]);
      assert.equal(JSON.parse(r.stdout)[0].msgs, 5);
      r = await cli(["s", "info", "NOPE"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /stream "NOPE" not found/);
      assert.match(r.stderr, /tsnats stream ls/);
      r = await cli(["s", "info"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not running on a terminal/);
      r = await cli(["s", "info", "--no-select"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /stream name is required/);

      // --translate runs the data through a command (NATS_SUBJECT in its environment).
      r = await cli(["s", "get", "ORDERS", "1", "--translate", "tr a-z A-Z"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ORDER 1/);
      r = await cli(["s", "get", "ORDERS", "1", "--json", "--translate", "tr a-z A-Z"]);
      assert.equal(Buffer.from(JSON.parse(r.stdout).data, "base64").toString(), "ORDER 1");
      r = await cli(["s", "view", "ORDERS", "1", "--raw", "--translate", 'sh -c \'printf "%s:" "$NATS_SUBJECT"; cat\'']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ORDERS\.received:order 1$/m);
      r = await cli(["s", "get", "ORDERS", "1", "--translate", "false"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /translate command "false" failed/);
    });

    test("stream edit, copy, purge, rmm, seal and rm", async () => {
      let r = await cli(["s", "edit", "ORDERS", "--max-msgs", "100", "--description", "orders", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.streams.info("ORDERS")).config.max_msgs, 100);
      r = await cli(["s", "edit", "ORDERS", "--max-msgs", "100", "-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no difference/);
      r = await cli(["s", "edit", "ORDERS", "--max-msgs", "50", "--dry-run"]);
      assert.match(r.stdout, /-  max_msgs: 100\n\+  max_msgs: 50/);
      r = await cli(["s", "edit", "ORDERS", "--max-msgs", "50"]);
      assert.equal(r.code, 1, "needs a terminal or --force");
      assert.match(r.stderr, /--force/);

      // --interactive: the configuration as YAML in $EDITOR (here a sed script), then the diff.
      const edit = (editor: string, extra: string[] = []) => home.exec(["s", "edit", "ORDERS", "-i", ...extra], { server: t.url, env: { EDITOR: editor } });
      r = await edit("sed -i -e 's/^max_msgs: 100$/max_msgs: 75/' -e 's/^description: orders$/description: edited/'", ["--dry-run"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /-  description: "orders"\n\+  description: "edited"/);
      assert.match(r.stdout, /-  max_msgs: 100\n\+  max_msgs: 75/);
      assert.equal((await jsm.streams.info("ORDERS")).config.max_msgs, 100, "--dry-run changes nothing");
      r = await edit("sed -i -e 's/^max_msgs: 100$/max_msgs: 75/'", ["-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.streams.info("ORDERS")).config.max_msgs, 75);
      r = await edit("sed -i -e 's/^max_msgs: 75$/max_msgs: 100/'", ["-f"]);
      assert.equal((await jsm.streams.info("ORDERS")).config.max_msgs, 100);
      r = await edit("sed -i -e 's/^max_msgs:.*/max_msgs: [broken/'", ["-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /could not parse the edited configuration/);
      r = await edit("false", ["-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /editor "false" failed: exit status 1/);
      r = await home.exec(["s", "edit", "ORDERS", "-i", "-f"], { server: t.url, env: { EDITOR: "", VISUAL: "" } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /set EDITOR environment variable/);

      r = await cli(["s", "cp", "ORDERS", "ORDERS2", "--subjects", "O2.*"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.streams.info("ORDERS2")).config.max_msgs, 100);
      await cli(["pub", "O2.a", "x", "--count", "5"]);
      r = await cli(["s", "purge", "ORDERS2", "--keep", "2", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Purged 3 messages from ORDERS2/);
      r = await cli(["s", "rmm", "ORDERS2", "5", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.streams.info("ORDERS2")).state.messages, 1);
      r = await cli(["s", "seal", "ORDERS2", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Sealed: true/);
      r = await cli(["s", "purge", "ORDERS2", "-f"]);
      assert.equal(r.code, 1, "a sealed stream refuses purges");
      r = await cli(["s", "rm", "ORDERS2", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["s", "rm", "ORDERS2", "-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not found/);
    });

    test("settings newer than the server's advertised version go to the server as given", async () => {
      // nats.js refuses metadata/compression before 2.10; the CLI lets the server decide (natscli does).
      let r = await cli(["s", "add", "META", "--subjects", "meta.>", "--metadata", "team=core", "--defaults", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).config.metadata.team, "core");
      r = await cli(["s", "edit", "META", "--metadata", "owner=ops", "-f", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        Object.fromEntries(Object.entries(JSON.parse(r.stdout).config.metadata as Record<string, string>).filter(([k]) => !k.startsWith("_nats"))),
        { team: "core", owner: "ops" },
      );
      r = await cli(["con", "add", "META", "MC", "--pull", "--metadata", "k=v", "--defaults", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).config.metadata.k, "v");
      r = await cli(["s", "add", "BAD NAME", "--subjects", "x", "--defaults"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid stream name/);
      await cli(["s", "rm", "META", "-f"]);
    });

    test("consumer info/ls/edit/copy/report/rm and validation", async () => {
      let r = await cli(["con", "ls", "ORDERS", "--json"]);
      assert.deepEqual(JSON.parse(r.stdout), ["MONITOR", "NEW"]);
      r = await cli(["con", "info", "ORDERS", "NEW", "--json"]);
      assert.equal(JSON.parse(r.stdout).config.durable_name, "NEW");
      r = await cli(["con", "info", "ORDERS", "NEW"]);
      assert.match(r.stdout, /Ack Policy: Explicit/);
      assert.match(r.stdout, /Unprocessed Messages: 0/);
      r = await cli(["con", "edit", "ORDERS", "NEW", "--max-deliver", "5", "--description", "new orders", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.consumers.info("ORDERS", "NEW")).config.max_deliver, 5);
      r = await cli(["con", "cp", "ORDERS", "NEW", "NEW2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.consumers.info("ORDERS", "NEW2")).config.max_deliver, 5);
      r = await cli(["con", "report", "ORDERS"]);
      assert.match(r.stdout, /Consumer report for ORDERS with 3 consumers/);
      r = await cli(["con", "report", "ORDERS", "--leaders"]);
      assert.match(r.stdout, /RAFT Leader Report|No consumer leader data reported/);
      r = await cli(["con", "add", "ORDERS", "BAD.NAME", "--pull", "--defaults"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /can not contain/);
      r = await cli(["con", "add", "ORDERS", "PULLHB", "--pull", "--heartbeat", "5s", "--defaults"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pull subscribers does not support idle heartbeats/);
      r = await cli(["con", "add", "ORDERS", "BACK", "--pull", "--backoff", "linear", "--backoff-steps", "3", "--backoff-min", "1s", "--backoff-max", "3s", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      const b = await jsm.consumers.info("ORDERS", "BACK");
      assert.deepEqual(b.config.backoff, [1e9, 2e9, 3e9]);
      assert.equal(b.config.max_deliver, 4);
      for (const c of ["NEW2", "BACK"]) assert.equal((await cli(["con", "rm", "ORDERS", c, "-f"])).code, 0);
      r = await cli(["con", "info", "ORDERS", "NEW2"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /consumer "NEW2" not found/);
      r = await cli(["con", "info", "ORDERS", "--no-select"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /stream and consumer names are required/);

      // edit --interactive: YAML in $EDITOR.
      r = await home.exec(["con", "edit", "ORDERS", "NEW", "-i", "-f"], { server: t.url, env: { EDITOR: "sed -i -e 's/^max_deliver: 5$/max_deliver: 7/'" } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jsm.consumers.info("ORDERS", "NEW")).config.max_deliver, 7);
      // A standalone server's consumer has no cluster leader: step-down asks for --force.
      r = await cli(["con", "cluster", "step-down", "ORDERS", "NEW"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has no current leader|failed/);
    });

    test("consumer pause and resume (nats-server 2.11+ API)", async (tc) => {
      if (!(await answers(t.url, "$JS.API.CONSUMER.PAUSE.ORDERS.NEW", "{}"))) {
        tc.skip(`${t.name} does not implement $JS.API.CONSUMER.PAUSE yet (consumer pause is being built by js-consumers)`);
        return;
      }
      let r = await cli(["con", "pause", "ORDERS", "NEW", "1h", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Paused ORDERS > NEW until/);
      r = await cli(["con", "info", "ORDERS", "NEW"]);
      assert.match(r.stdout, /Paused Until/);
      r = await cli(["con", "resume", "ORDERS", "NEW", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["con", "resume", "ORDERS", "NEW", "-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /is not paused/);
    });

    test("consumer reset and unpin", async (tc) => {
      if (!(await answers(t.url, "$JS.API.CONSUMER.RESET.ORDERS.NEW", "{}"))) {
        tc.skip(`${t.name} does not implement $JS.API.CONSUMER.RESET (nats-server 2.14+)`);
        return;
      }
      // A consumer of its own: NEW's state is checked by the backup test.
      assert.equal((await cli(["con", "add", "ORDERS", "RST", "--pull", "--filter", "ORDERS.received", "--defaults"])).code, 0);
      let r = await cli(["con", "next", "ORDERS", "RST", "--count", "2", "--raw"]);
      assert.equal(r.stdout, "order 1\norder 2\n");
      r = await cli(["con", "reset", "ORDERS", "RST", "--sequence", "1", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /was reset; the next message has stream sequence >= 1/);
      r = await cli(["con", "next", "ORDERS", "RST", "--raw"]);
      assert.equal(r.stdout, "order 1\n", "delivery starts over");
      await cli(["con", "rm", "ORDERS", "RST", "-f"]);
      r = await cli(["con", "add", "ORDERS", "PINNED", "--pull", "--pinned-groups", "g1", "--pinned-ttl", "1m", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["con", "unpin", "ORDERS", "PINNED", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Unpinned the client of group g1/);
      r = await cli(["con", "unpin", "ORDERS", "NEW", "-f"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has no priority groups/);
      await cli(["con", "rm", "ORDERS", "PINNED", "-f"]);
    });

    test("sub --stream/--all/--last-per-subject/-T reads a stream", async () => {
      const r = await cli(["sub", "ORDERS.received", "--all", "-T", "--raw"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "order 1\norder 2\norder 3\n");
      const lps = await cli(["sub", "--stream", "ORDERS", "--last-per-subject", "-T", "--raw"]);
      assert.equal(lps.stdout.trim().split("\n").sort().join(","), "order 3,s2");
      const pub = await cli(["pub", "ORDERS.received", "order 4", "-J"]);
      assert.equal(pub.code, 0, pub.stderr);
      assert.match(pub.stderr, /stream: ORDERS, sequence: 6/);
    });

    test("stream backup and restore in natscli's layout", async (tc) => {
      if (!(await answers(t.url, "$JS.API.STREAM.SNAPSHOT.ORDERS", JSON.stringify({ deliver_subject: "_INBOX.probe" })))) {
        tc.skip(`${t.name} does not implement $JS.API.STREAM.SNAPSHOT yet (snapshots are being built by sourcing)`);
        return;
      }
      const dir = path.join(home.dir, `backup-${t.tsnats ? "ts" : "ref"}`);
      const before = await jsm.streams.info("ORDERS");
      let r = await cli(["stream", "backup", "ORDERS", dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Received .* compressed data in \d+ chunks for stream ORDERS/);
      const meta = JSON.parse(fs.readFileSync(path.join(dir, "backup.json"), "utf8"));
      assert.equal(meta.config.name, "ORDERS");
      assert.equal(meta.state.messages, before.state.messages);
      assert.ok(fs.statSync(path.join(dir, "stream.tar.s2")).size > 0);
      r = await cli(["stream", "restore", dir]);
      assert.equal(r.code, 0, "restoring over the same state is a no-op: " + r.stderr);
      await cli(["s", "rm", "ORDERS", "-f"]);
      r = await cli(["stream", "restore", dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Restored stream "ORDERS"/);
      const after = await jsm.streams.info("ORDERS");
      assert.equal(after.state.messages, before.state.messages);
      assert.equal(after.state.last_seq, before.state.last_seq);
      const ci = await jsm.consumers.info("ORDERS", "NEW");
      assert.equal(ci.ack_floor.stream_seq, 3);
      // A different stream of the same name is not overwritten.
      await cli(["pub", "ORDERS.received", "after backup", "-J"]);
      r = await cli(["stream", "restore", dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /already exists/);
      r = await cli(["stream", "restore", path.join(home.dir, "nothing-here")]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /backup\.json is missing/);
    });

    test("the ARCHIVE/REPORT seed: sources, a mirror and the replication report", async (tc) => {
      if (!(await acceptsStream(t.url, { name: "PROBE_M", mirror: { name: "ORDERS" }, storage: "memory" }))) {
        tc.skip(`${t.name} does not support mirrors and sources yet (being built by sourcing)`);
        return;
      }
      let r = await cli(["s", "add", "RETURNS", "--subjects", "RETURNS.*", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      await cli(["pub", "RETURNS.x", "r1", "-J"]);
      r = await cli(["s", "add", "ARCHIVE", "--source", "ORDERS", "--source", "RETURNS", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Sources: ORDERS/);
      r = await cli(["s", "add", "REPORT", "--mirror", "ARCHIVE", "--defaults"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Mirror: ARCHIVE/);
      const want = (await jsm.streams.info("ORDERS")).state.messages + 1;
      await waitUntil(() => true);
      for (const name of ["ARCHIVE", "REPORT"]) {
        const deadline = Date.now() + 10_000;
        while ((await jsm.streams.info(name)).state.messages < want && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        assert.equal((await jsm.streams.info(name)).state.messages, want, name);
      }
      r = await cli(["s", "report"]);
      assert.match(r.stdout, /Replication Report/);
      assert.match(r.stdout, /│ ARCHIVE +│ Source +│ +│ ORDERS/);
      assert.match(r.stdout, /│ REPORT +│ Mirror +│ +│ ARCHIVE/);
      r = await cli(["s", "info", "REPORT"]);
      assert.match(r.stdout, /Mirror Information:/);
      assert.match(r.stdout, /Lag: 0/);
      // --dot: the replication topology for GraphViz; --leaders: who leads the streams.
      const dot = path.join(home.dir, `topology-${t.tsnats ? "ts" : "ref"}.dot`);
      r = await cli(["s", "report", "--dot", dot]);
      assert.equal(r.code, 0, r.stderr);
      const graph = fs.readFileSync(dot, "utf8");
      assert.match(graph, /^digraph \{/);
      assert.match(graph, /"ORDERS" -> "ARCHIVE" \[label="source"\];/);
      assert.match(graph, /"RETURNS" -> "ARCHIVE" \[label="source"\];/);
      assert.match(graph, /"ARCHIVE" -> "REPORT" \[label="mirror"\];/);
      r = await cli(["s", "report", "--leaders"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /RAFT Leader Report|No stream leader data reported/);
      r = await cli(["s", "report", "--cluster", "no-such-cluster"]);
      assert.match(r.stdout, /No Streams defined/);
      for (const s of ["REPORT", "ARCHIVE", "RETURNS"]) await cli(["s", "rm", s, "-f"]);
    });
  });
}

describe("stream add asks on a terminal", { skip: PYTHON3_MISSING ?? false }, () => {
  test("stream add ORDERS with prompts (pseudo-terminal)", async () => {
    const t = servers[0];
    const r = await home.pty(
      ["stream", "add", "PTYORDERS", "--server", t.url],
      [
        { expect: "Subjects", send: "PTYORDERS.*\r" },
        { expect: "Storage", send: "\u001b[B\r" }, // arrow down: memory
        { expect: "Replication", send: "\r" },
        { expect: "Retention Policy", send: "\r" },
        { expect: "Discard Policy", send: "\u001b[A\r" }, // arrow up: New
        { expect: "Stream Messages Limit", send: "1000\r" },
        { expect: "Per Subject Messages Limit", send: "10\r" },
        { expect: "Total Stream Size", send: "1MB\r" },
        { expect: "Message TTL", send: "1d\r" },
        { expect: "Max Message Size", send: "\r" },
        { expect: "Duplicate tracking time window", send: "30s\r" },
        { expect: "Allow message Roll-ups", send: "\r" },
        { expect: "Allow message deletion", send: "n\r" },
        { expect: "Allow purging subjects or the entire stream", send: "\r" },
      ],
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Stream PTYORDERS was created/);
    const nc = await connect({ servers: t.url });
    try {
      const cfg = (await (await jetstreamManager(nc)).streams.info("PTYORDERS")).config;
      assert.equal(cfg.storage, "memory");
      assert.equal(cfg.discard, "new");
      assert.equal(cfg.max_msgs, 1000);
      assert.equal(cfg.max_msgs_per_subject, 10);
      assert.equal(cfg.max_bytes, 1024 * 1024);
      assert.equal(cfg.max_age, 86400e9);
      assert.equal(cfg.duplicate_window, 30e9);
      assert.equal(cfg.deny_delete, true);
      assert.equal(cfg.deny_purge, false);
      assert.equal(cfg.allow_rollup_hdrs, false);
    } finally {
      await nc.close();
    }
  });

  test("consumer add with prompts (pseudo-terminal)", async () => {
    const t = servers[0];
    const r = await home.pty(
      ["consumer", "add", "PTYORDERS", "PULLER", "--server", t.url],
      [
        { expect: "Delivery target", send: "\r" },
        { expect: "Start policy", send: "new\r" },
        { expect: "Acknowledgment policy", send: "\r" },
        { expect: "Replay policy", send: "\r" },
        { expect: "Filter Stream by subjects", send: "PTYORDERS.a\r" },
        { expect: "Maximum Allowed Deliveries", send: "7\r" },
        { expect: "Maximum Acknowledgments Pending", send: "\r" },
        { expect: "Deliver headers only", send: "\r" },
        { expect: "Add a Retry Backoff Policy", send: "\r" },
      ],
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Information for Consumer PTYORDERS > PULLER/);
    assert.match(r.stdout, /Maximum Deliveries: 7/);
    assert.match(r.stdout, /Deliver Policy: New/);
  });
});
