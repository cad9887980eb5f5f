// A stream's directory copied inside the store (`cp -r jetstream/$G/streams/S .../streams/S2`):
// the copy holds S's config. Restored, it ran a second copy of S beside the first (both took
// the publishes to S's subjects and both stored them), and in a cluster a second member of S's
// group on the same server, over the same RAFT directory. nats-server 2.15 leaves such a copy
// alone at start with a warning (its meta.inf checksum is keyed by the directory's name:
// "checksums do not match"); tsnats does the same with a line of its own. Checked on one server
// side by side with nats-server 2.15 (processes, the same steps), and in a cluster of three
// tsnats servers: the copy's files are never touched, the stream runs once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { referenceBinary, startNatsServer, type ReferenceLine, type ReferenceServer } from "./helpers/nats_server.js";
import { JsTestCluster, managerOn, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

/** Every file under a directory with a hash of its bytes: what a server wrote there shows. */
function filesOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16);
  }
  return out;
}

async function streamNames(nc: NatsConnection): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  return names.sort();
}

/** What one server shows after the copy: its streams, S's messages and consumer, the copy's files. */
interface Seen {
  namesAfterRestart: string[];
  messages: number;
  ackSeq: number;
  messagesAfterPublish: number;
  consumer: string;
  copyUntouched: boolean;
  warning: string | undefined;
}

async function singleServer(line: ReferenceLine | "tsnats"): Promise<Seen> {
  const sd = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-dircopy-"));
  let srv: ReferenceServer | undefined;
  let nc: NatsConnection | undefined;
  try {
    srv = await startNatsServer(["-js", "-sd", sd], undefined, line);
    nc = await connect({ port: srv.port });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "S", subjects: ["s.>"] });
    await jsm.consumers.add("S", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 1; i <= 3; i++) await js.publish("s.x", `m${i}`);
    await nc.close();
    await srv.stop();
    srv = undefined;

    const streams = path.join(sd, "jetstream", "$G", "streams");
    fs.cpSync(path.join(streams, "S"), path.join(streams, "S2"), { recursive: true });
    const copied = filesOf(path.join(streams, "S2"));

    srv = await startNatsServer(["-js", "-sd", sd], undefined, line);
    nc = await connect({ port: srv.port });
    const namesAfterRestart = await streamNames(nc);
    const jsm2 = await jetstreamManager(nc);
    const messages = (await jsm2.streams.info("S")).state.messages;
    const ack = await jetstream(nc).publish("s.x", "m4");
    const messagesAfterPublish = (await jsm2.streams.info("S")).state.messages;
    const ci = await jsm2.consumers.info("S", "D");
    await nc.close();
    nc = undefined;
    const log = srv.log();
    await srv.stop();
    srv = undefined;
    return {
      namesAfterRestart,
      messages,
      ackSeq: ack.seq,
      messagesAfterPublish,
      consumer: `${ci.name} pending ${ci.num_pending}`,
      copyUntouched: JSON.stringify(filesOf(path.join(streams, "S2"))) === JSON.stringify(copied),
      warning: log.split("\n").find((l) => l.includes("[WRN]") && l.includes(path.join(streams, "S2"))),
    };
  } finally {
    await nc?.close().catch(() => {});
    await srv?.stop();
    fs.rmSync(sd, { recursive: true, force: true });
  }
}

test("one server: a copy of a stream's directory under another name is not restored (a warning names it), the stream runs once, as nats-server 2.15", async (t) => {
  const lines: Array<ReferenceLine | "tsnats"> = ["tsnats"];
  if (referenceBinary("2.15") !== undefined) lines.push("2.15");
  else t.diagnostic("nats-server 2.15 not available: tsnats only");
  for (const line of lines) {
    const { warning, ...rest } = await singleServer(line);
    assert.deepEqual(
      rest,
      { namesAfterRestart: ["S"], messages: 3, ackSeq: 4, messagesAfterPublish: 4, consumer: "D pending 4", copyUntouched: true },
      `${line}: S alone, its messages and consumer as they were, the copy's files untouched`,
    );
    assert.ok(warning !== undefined, `${line}: a warning line names the copy's directory`);
    t.diagnostic(`${line}: ${warning}`);
  }
});

test("cluster of three: a member restarted with a copy of an R3 stream's directory runs one member of its group; the copy's files are untouched", async () => {
  const c = await JsTestCluster.start(3);
  const ncs: NatsConnection[] = [];
  try {
    await c.metaAllCurrent();
    const { nc, jsm } = await managerOn(c.members[0].url, ncs);
    await jsm.streams.add({ name: "S", subjects: ["s.>"], num_replicas: 3 });
    const js = jetstream(nc, { timeout: 20_000 });
    for (let i = 1; i <= 3; i++) await js.publish("s.x", `m${i}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "S")?.store.state().lastSeq === 3), 20_000, "every server holds the 3 messages");

    // The copy is made on a follower (the leader's stop would only move the leadership).
    const leader = (await jsm.streams.info("S")).cluster?.leader ?? "";
    const member = c.members.find((m) => m.name !== leader)!.name;
    await c.stopMember(member);
    const streams = path.join(c.member(member).storeDir, "jetstream", "$G", "streams");
    fs.cpSync(path.join(streams, "S"), path.join(streams, "S2"), { recursive: true });
    const copied = filesOf(path.join(streams, "S2"));
    await c.startMember(member);
    await c.fullMesh();

    for (let i = 4; i <= 8; i++) await js.publish("s.x", `m${i}`);
    await waitUntil(() => c.members.every((m) => streamOn(c, m.name, "S")?.store.state().lastSeq === 8), 30_000, "every server holds the 8 messages");
    const account = c.js(member).accounts.get("$G");
    assert.deepEqual([...(account?.streams.keys() ?? [])].sort(), ["S"], `${member} runs S alone`);
    assert.deepEqual(filesOf(path.join(streams, "S2")), copied, "the copy's files are untouched");
    const si = await jsm.streams.info("S");
    assert.equal(si.state.messages, 8);
    assert.deepEqual(
      (si.cluster?.replicas ?? []).map((r) => r.name).sort(),
      c.members.map((m) => m.name).filter((n) => n !== si.cluster?.leader).sort(),
      "the group's two followers, once each",
    );
  } finally {
    for (const nc of ncs) await nc.close().catch(() => {});
    await c.stop();
  }
});
