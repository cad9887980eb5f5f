// A purge replayed from the RAFT log after a restart takes only what it took the first time.
//
// A replicated stream's member remembers the last non-message entry it applied (a purge, a
// message delete) in `<group>/applied`, written without an fsync: after a power cut it may say
// less than the member's store holds (the store synced since: every 2 minutes, or by a clean
// stop). The replay then ran the purge again, on a store that already held the messages
// acknowledged after it: a plain purge took them all, a purge keeping 2 kept only the last 2, a
// purge of a subject up to sequence 15 took 11..14; the messages themselves were skipped on the
// replay (the store had their sequences), and the member was shown current with them gone. Each
// purge entry now carries the first sequence after every message proposed before it, and takes
// nothing at or beyond it (as nats-server's leader stamps a purge with its last sequence).
//
// Deterministic: a member stopped cleanly (its store synced), its `applied` file set back to
// what an unsynced write leaves after a power cut (nothing), then started again.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { JsTestCluster, copyOf, replicaLeader, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";

/** The purges checked: each on a stream of its own, between m1..m10 and m11..m20 (all on q.<stream>.a). */
const PURGES: Array<{ stream: string; opts: Parameters<JetStreamManager["streams"]["purge"]>[1]; kept: number[] }> = [
  { stream: "ALL", opts: undefined, kept: range(11, 20) },
  { stream: "KEEP", opts: { keep: 2 }, kept: range(9, 20) },
  // (Filtered: a purge of the whole stream up to a sequence beyond its last moves its last sequence there.)
  { stream: "UPTO", opts: { filter: "q.UPTO.a", seq: 15 }, kept: range(11, 20) },
];

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, k) => a + k);
}

test("a purge replayed after its member's `applied` record was lost takes nothing acknowledged after it", { timeout: 90_000 }, async () => {
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const js = jetstream(nc, { timeout: 20_000 });
    const expected = (p: (typeof PURGES)[number]): string[] => p.kept.map((i) => `${i}:m${i}`);
    // (A member that has not applied the stream's creation yet holds no copy: the PubAcks only
    // needed the other two; waited for as a copy still short.)
    const copy = (member: string, stream: string): string[] => (streamOn(c, member, stream) === undefined ? ["not created"] : copyOf(c, member, stream).map(([seq, , data]) => `${seq}:${data}`));
    for (const p of PURGES) {
      await jsm.streams.add({ name: p.stream, subjects: [`q.${p.stream}.*`], num_replicas: 3 });
      for (let i = 1; i <= 10; i++) await js.publish(`q.${p.stream}.a`, `m${i}`);
      await jsm.streams.purge(p.stream, p.opts);
      for (let i = 11; i <= 20; i++) assert.equal((await js.publish(`q.${p.stream}.a`, `m${i}`)).seq, i);
    }
    for (const p of PURGES) await waitUntil(() => c.members.every((m) => copy(m.name, p.stream).join() === expected(p).join()), 20_000, `every copy of ${p.stream} holds ${p.kept[0]}..20`);
    // A member (one that leads none of them when there is one) stopped cleanly: its stores
    // synced, its `applied` files written (not synced: a power cut could leave them empty, as here).
    const leaders = new Set(await Promise.all(PURGES.map((p) => replicaLeader(c, p.stream))));
    const member = c.members.find((m) => !leaders.has(m.name)) ?? c.members[2];
    const raftDir = c.js(member.name).cluster?.raftDir ?? "";
    const groups = PURGES.map((p) => path.join(raftDir, streamOn(c, member.name, p.stream)?.replica?.group ?? ""));
    await c.stopMember(member.name);
    for (const g of groups) {
      assert.ok(fs.existsSync(path.join(g, "applied")), `${g}/applied written`);
      fs.writeFileSync(path.join(g, "applied"), "");
    }
    await c.startMember(member.name);
    for (const p of PURGES) {
      await waitUntil(() => streamOn(c, member.name, p.stream)?.replica?.current === true, 20_000, `${member.name} current in ${p.stream}`);
      assert.deepEqual(copy(member.name, p.stream), expected(p), `${member.name}'s copy of ${p.stream} after the replay`);
    }
  } finally {
    await nc.close();
    await c.stop();
  }
});

test("a purge whose `applied` record outlived its effect on the store runs again on the replay", { timeout: 90_000 }, async () => {
  // The other way round: the record says the purge was applied, the store does not hold its
  // effect (the record reached the disk, the store's removal of the purged block did not:
  // nothing orders the two). The replay skipped the purge and the member held m1..m10 again,
  // beside m11..m20. Made here by putting back a member's stream files from before the purge,
  // its `applied` record as written after it.
  const c = await JsTestCluster.start(3);
  const nc = await connect({ servers: c.members.map((m) => m.url) });
  const saved = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-purge-before-"));
  try {
    await c.metaAllCurrent();
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const js = jetstream(nc, { timeout: 20_000 });
    const copy = (member: string): string[] => (streamOn(c, member, "AHEAD") === undefined ? ["not created"] : copyOf(c, member, "AHEAD").map(([seq, , data]) => `${seq}:${data}`));
    await jsm.streams.add({ name: "AHEAD", subjects: ["ahead"], num_replicas: 3 });
    for (let i = 1; i <= 10; i++) await js.publish("ahead", `m${i}`);
    const member = c.members.find((m) => m.name !== streamOn(c, m.name, "AHEAD")?.replica?.leader) ?? c.members[2];
    await waitUntil(() => copy(member.name).length === 10, 20_000, `${member.name} holds m1..m10`);
    const files = path.join(c.js(member.name).storeDir, "$G", "streams", "AHEAD");
    // (Kept outside the store: a stream directory there would be recovered as a stream.)
    const before = path.join(saved, "AHEAD");
    await c.stopMember(member.name);
    fs.cpSync(files, before, { recursive: true });
    await c.startMember(member.name);
    await jsm.streams.purge("AHEAD");
    for (let i = 11; i <= 20; i++) assert.equal((await js.publish("ahead", `m${i}`)).seq, i);
    const expected = range(11, 20).map((i) => `${i}:m${i}`);
    await waitUntil(() => c.members.every((m) => copy(m.name).join() === expected.join()), 20_000, "every copy holds m11..m20");
    await c.stopMember(member.name);
    fs.rmSync(files, { recursive: true, force: true });
    fs.cpSync(before, files, { recursive: true });
    await c.startMember(member.name);
    await waitUntil(() => streamOn(c, member.name, "AHEAD")?.replica?.current === true, 20_000, `${member.name} current in AHEAD`);
    assert.deepEqual(copy(member.name), expected, `${member.name}'s copy after the replay`);
  } finally {
    await nc.close();
    await c.stop();
    fs.rmSync(saved, { recursive: true, force: true });
  }
});
