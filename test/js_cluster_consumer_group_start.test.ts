// How a replicated consumer's RAFT group starts (consumer_group.ts, RaftOptions.firstTerm),
// through @nats-io/jetstream clients on three tsnats servers: every member starts in the term
// the stream group's entry creating the consumer names (firstTermOf its index), its vote given to
// the first leader the entry names, which leads at once: the group's first entry (that leader's
// no-op) is of that term on every member, no election came first. The first leader stopped and
// started again does not lead that term again (it kept its term and vote): another member leads
// a later term, and consuming goes on from the ack floor. A consumer deleted and created again
// under the same name (the same group name) starts in a later term than its predecessor's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { JsTestCluster, streamOn } from "./helpers/js_cluster.js";
import { waitUntil } from "./helpers/server.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import type { ConsumerGroup } from "../src/jetstream/consumer_group.js";

const FIRST_TERM_STEP = 65536;

function groupOn(c: JsTestCluster, member: string, stream: string, name: string): ConsumerGroup | undefined {
  return streamOn(c, member, stream)?.replica?.consumerGroup(name);
}

/** The term of the group's first entry on every running member, once each has it (of a term after `after`). */
async function firstEntryTerms(c: JsTestCluster, stream: string, name: string, after = 0): Promise<number[]> {
  let terms: number[] = [];
  await waitUntil(
    () => {
      const running = c.members.filter((m) => m.srv !== undefined);
      terms = running.map((m) => groupOn(c, m.name, stream, name)?.node.entryAt(1)?.term ?? 0);
      return terms.every((t) => t > after);
    },
    30_000,
    `every member has ${name}'s first entry`,
  );
  return terms;
}

test("a new R3 durable's group is led from its start by the member its creation names, also after that member's restart", { timeout: 300_000 }, async () => {
  const c = await JsTestCluster.start(3);
  try {
    await c.metaLeader();
    const nc = await connect({ servers: c.members.map((m) => m.url) });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const s = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.F", { name: "F", subjects: ["f.>"], num_replicas: 3 });
      assert.equal(s.error, undefined, JSON.stringify(s.error));
      for (let i = 1; i <= 10; i++) await clusterPublish(nc, "f.x", `m${i}`);

      // Several creates: each group's first entry is of its own first term, on every member.
      const firstTerms: number[] = [];
      for (const name of ["A", "B", "C", "D"]) {
        const ci = await jsm.consumers.add("F", { durable_name: name, ack_policy: AckPolicy.Explicit, num_replicas: 3 });
        assert.notEqual(ci.cluster?.leader ?? "", "", `${name} is answered with its leader`);
        const terms = await firstEntryTerms(c, "F", name);
        assert.equal(new Set(terms).size, 1, `${name}: one first entry on every member (${terms.join(", ")})`);
        assert.equal(terms[0] % FIRST_TERM_STEP, 0, `${name}: its first entry is of the term its creation names (${terms[0]}), no election came first`);
        firstTerms.push(terms[0]);
      }
      assert.deepEqual([...firstTerms].sort((a, b) => a - b), firstTerms, "later creations, later first terms");

      // D's first leader stops: another member leads a later term; consuming goes on.
      const first = (await infoWithLeader(nc, "F", "D")).cluster?.leader ?? "";
      assert.notEqual(first, "");
      assert.deepEqual(await consume(nc, "F", "D", 3), [1, 2, 3]);
      await c.stopMember(first);
      const next = (await infoWithLeader(nc, "F", "D", first)).cluster?.leader ?? "";
      assert.notEqual(next, "");
      const t0 = firstTerms[3];
      await waitUntil(() => (groupOn(c, next, "F", "D")?.node.term ?? 0) > t0, 30_000, "the next leader's term is later than the first");
      assert.deepEqual(await consume(nc, "F", "D", 3), [4, 5, 6]);

      // Back, the first leader keeps its term and vote: it follows, in the later term.
      await c.startMember(first);
      await waitUntil(
        () => {
          const g = groupOn(c, first, "F", "D");
          return g !== undefined && g.leader !== "" && g.leader !== first && g.node.term > t0;
        },
        60_000,
        `${first} follows ${next}'s later term`,
      );
      assert.deepEqual(await consume(nc, "F", "D", 4), [7, 8, 9, 10]);

      // Deleted and created again (the same group name): a later first term than before.
      await jsm.consumers.delete("F", "A");
      await jsm.consumers.add("F", { durable_name: "A", ack_policy: AckPolicy.Explicit, num_replicas: 3 });
      const again = await firstEntryTerms(c, "F", "A", firstTerms[0]);
      assert.equal(new Set(again).size, 1, `A again: one first entry on every member (${again.join(", ")})`);
      assert.equal(again[0] % FIRST_TERM_STEP, 0, `A again starts in its own first term (${again[0]} after ${firstTerms[0]})`);
      assert.deepEqual(await consume(nc, "F", "A", 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await nc.close();
    }
  } finally {
    await c.stop();
  }
});
