// Directories made while a server runs, under the in-process power-loss layer
// (test/helpers/power_loss.ts: a directory entry is durable once its parent directory was
// synced). The power goes out right after such a directory was made and something in it was
// acknowledged; what the disk held then is restarted, and nothing acknowledged may be missing:
//  - the log of a tsnats member of a nats-server RAFT group (src/cluster/nrg_peer_log.ts): its
//    directory and its first WAL file were made without a sync of their directory, so a cut took
//    every entry it had acknowledged with them, its term and vote too;
//  - an atomic batch's staging directory (<stream>/batches, src/jetstream/batch.ts): made with
//    the first batch of a stream. Staged messages are not fsynced (their file serves a kill -9), so only the
//    committed batch counts: all of it, or none of it when the cut came before its commit.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { setFileIO } from "../src/storage/file_io.js";
import { NrgPeerLog } from "../src/cluster/nrg_peer_log.js";
import { NrgPeer } from "../src/cluster/nrg_peer.js";
import { encodeNrgAppendEntry, NrgEntryType, type NrgAppendEntry } from "../src/cluster/nrg_wire.js";
import { PowerLossFS } from "./helpers/power_loss.js";
import { CapturedLog } from "./helpers/captured_log.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-powerloss-dirs-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirN = 0;

/** A live directory on the layer, and where the disk's image goes at the cut. */
function layer(): { live: string; image: string; plfs: PowerLossFS; restore: () => void } {
  const live = path.join(tmp, `live-${++dirN}`);
  const image = path.join(tmp, `image-${dirN}`);
  const plfs = new PowerLossFS(live);
  const prev = setFileIO(plfs);
  return { live, image, plfs, restore: () => void setFileIO(prev) };
}

const LEADER = "LEADER01";
const ME = "MEMBER03";

function ae(term: number, prevIndex: number, commit: number, data: string): NrgAppendEntry {
  return { leader: LEADER, term, commit, prevTerm: prevIndex === 0 ? 0 : term, prevIndex, entries: [{ type: NrgEntryType.Normal, data: Buffer.from(data) }], leaderTerm: 0 };
}

test("power loss right after a nats-server RAFT group member's log directory was made: every append it acknowledged, its term too, is there", () => {
  const { live, image, plfs, restore } = layer();
  // The group's directory and its parent are both new (a member's first start).
  const rel = path.join("jetstream", "$SYS", "_nrg_", "G1");
  let acked = 0;
  try {
    const peer = new NrgPeer(ME, new NrgPeerLog(path.join(live, rel)), () => "$NRG.CR.x");
    for (let i = 1; i <= 3; i++) {
      const a = ae(1, i - 1, i - 1, `entry-${i}`);
      const r = peer.receiveAppend(a, encodeNrgAppendEntry(a));
      assert.deepEqual(r?.response, { term: 1, index: i, peer: ME, success: true }, `append ${i} acknowledged`);
      acked = i;
    }
    plfs.cut(image);
    peer.log.close();
  } finally {
    restore();
  }
  assert.ok(fs.existsSync(path.join(image, rel)), "the member's directory survived the cut");
  const log = new NrgPeerLog(path.join(image, rel));
  try {
    assert.equal(log.lastIndex, acked, "every acknowledged append is in the log");
    assert.deepEqual([...log.entries()].map((e) => e.index), [1, 2, 3]);
    assert.equal(log.term, 1, "and the term it answered in");
  } finally {
    log.close();
  }
});

test("power loss right after a member's first WAL file was made, with no term or vote written yet: the appends it stored are there", () => {
  // Appends are fsynced; the WAL file's own entry in the directory was not, until a term or
  // vote was written (which synced the directory).
  const { live, image, plfs, restore } = layer();
  const dir = path.join(live, "G2");
  try {
    fs.mkdirSync(dir); // (made behind the layer's back: it takes it as durable)
    const log = new NrgPeerLog(dir);
    log.append(1, 1, Buffer.from("one"));
    log.append(1, 2, Buffer.from("two"));
    plfs.cut(image);
    log.close();
  } finally {
    restore();
  }
  const log = new NrgPeerLog(path.join(image, "G2"));
  try {
    assert.equal(log.lastIndex, 2, "both fsynced appends survived");
  } finally {
    log.close();
  }
});

async function publishBatch(nc: NatsConnection, id: string, n: number, cutAfterStaged?: () => void): Promise<string> {
  let answer = "";
  for (let i = 1; i <= n; i++) {
    const h = headers();
    h.set("Nats-Batch-Id", id);
    h.set("Nats-Batch-Sequence", String(i));
    if (i === n) h.set("Nats-Batch-Commit", "1");
    const r = await nc.request(`b.${i}`, `${id}-${i}`, { headers: h, timeout: 5000 });
    answer = r.string();
    if (i === 1 && cutAfterStaged !== undefined) {
      cutAfterStaged();
      return answer;
    }
  }
  return answer;
}

/** Run on the layer: 5 plain acknowledged messages, then a batch; the cut is made inside. */
async function batchScenario(cutAt: "committed" | "staged"): Promise<{ image: string; batchAck: string }> {
  const { live, image, plfs, restore } = layer();
  let s: EmbeddedServer | undefined;
  let nc: NatsConnection | undefined;
  let batchAck = "";
  try {
    s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir: live }, log: new CapturedLog() });
    nc = await connect({ servers: s.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "B", subjects: ["b.*"], allow_atomic: true });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish("b.plain", `plain-${i}`);
    assert.ok(!fs.existsSync(path.join(live, "jetstream", "$G", "streams", "B", "batches")), "no batch directory before the first batch");
    if (cutAt === "staged") {
      await publishBatch(nc, "first", 4, () => {
        assert.ok(fs.existsSync(path.join(live, "jetstream", "$G", "streams", "B", "batches")), "the batch directory was just made");
        plfs.cut(image);
      });
    } else {
      batchAck = await publishBatch(nc, "first", 4);
      plfs.cut(image);
    }
  } finally {
    await nc?.close().catch(() => {});
    await s?.close();
    restore();
  }
  return { image, batchAck };
}

async function streamAfterRestart(image: string): Promise<string[]> {
  const s2 = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir: image }, log: new CapturedLog() });
  try {
    const nc2 = await connect({ servers: s2.url });
    try {
      const jsm = await jetstreamManager(nc2);
      const info = await jsm.streams.info("B");
      const out: string[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage("B", { seq });
        out.push(m === null ? `${seq}:missing` : `${seq}:${m.subject}:${m.string()}`);
      }
      return out;
    } finally {
      await nc2.close();
    }
  } finally {
    await s2.close();
  }
}

const PLAIN = [0, 1, 2, 3, 4].map((i) => `${i + 1}:b.plain:plain-${i}`);

test("power loss right after a stream's first atomic batch made its staging directory and was committed: the batch and every message before it are there", async () => {
  const { image, batchAck } = await batchScenario("committed");
  const ack = JSON.parse(batchAck) as { seq: number; batch: string; count: number };
  assert.equal(ack.seq, 9);
  assert.equal(ack.count, 4);
  assert.deepEqual(await streamAfterRestart(image), [...PLAIN, "6:b.1:first-1", "7:b.2:first-2", "8:b.3:first-3", "9:b.4:first-4"]);
});

test("power loss right after a batch's first message was staged (its directory just made): the messages acknowledged before are there, none of the uncommitted batch", async () => {
  const { image } = await batchScenario("staged");
  assert.deepEqual(await streamAfterRestart(image), PLAIN);
});
