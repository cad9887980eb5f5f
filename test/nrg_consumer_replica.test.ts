// How a tsnats member of a nats-server consumer's RAFT group applies its committed entries
// (src/cluster/nrg_consumer_replica.ts), driven with nats-server-encoded consumer entries:
// deliveries and redeliveries, explicit acks moving the ack floor as nats-server's consumer store
// does, AckAll, AckNone, a reset of the starting sequence, a replay of old deliveries ignored,
// and the compaction snapshot (nats-server's consumer state encoding) giving back the same state.
// The live half is test/nrg_peer_stream.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NrgConsumerReplica } from "../src/cluster/nrg_consumer_replica.js";
import type { NrgMetaConsumer } from "../src/cluster/nrg_meta_state.js";
import { NrgEntryType } from "../src/cluster/nrg_wire.js";
import { encodeNrgConsumerEntry, type NrgConsumerEntry } from "../src/jetstream/nrg_entries.js";

const T = 1_700_000_000_000_000_000n;

function replicaWith(config: Record<string, unknown>): { r: NrgConsumerReplica; send: (...entries: NrgConsumerEntry[]) => void } {
  const consumer: NrgMetaConsumer = { created: "", name: "c", stream: "S", config, group: { name: "C-R3F-x", peers: [], store: "file" } };
  const r = new NrgConsumerReplica(() => consumer);
  let index = 0;
  const send = (...entries: NrgConsumerEntry[]): void => r.apply(++index, { leader: "LEADER01", term: 1, commit: index, prevTerm: 1, prevIndex: index - 1, entries: entries.map((e) => ({ type: NrgEntryType.Normal, data: encodeNrgConsumerEntry(e) })), leaderTerm: 0 });
  return { r, send };
}

const delivered = (dseq: number, sseq: number, dc = 1): NrgConsumerEntry => ({ op: "delivered", deliverySequence: dseq, streamSequence: sseq, deliveryCount: dc, timestamp: T + BigInt(dseq) * 1_000_000_000n });
const ack = (dseq: number, sseq: number): NrgConsumerEntry => ({ op: "ack", deliverySequence: dseq, streamSequence: sseq });

test("explicit acks move the ack floor as nats-server's consumer store does; a redelivery keeps its first delivery sequence; the compaction snapshot gives back the same state", () => {
  const { r, send } = replicaWith({ ack_policy: "explicit", max_deliver: -1 });
  for (let i = 1; i <= 5; i++) send(delivered(i, i));
  send(ack(1, 1), ack(2, 2));
  assert.deepEqual(r.json().ack_floor, { consumer_seq: 2, stream_seq: 2 });
  send(ack(4, 4));
  assert.deepEqual(r.json().ack_floor, { consumer_seq: 2, stream_seq: 2 }, "a gap below: the floor stays");
  send(ack(3, 3));
  assert.deepEqual(r.json().ack_floor, { consumer_seq: 4, stream_seq: 4 }, "up to the next pending (5)");
  // Redelivered as delivery 6: still pending under its first delivery sequence, counted once.
  send(delivered(6, 5, 2));
  assert.deepEqual(r.state().pending.map((p) => [p.streamSequence, p.deliverySequence]), [[5, 5]]);
  assert.deepEqual(r.state().redelivered, [{ streamSequence: 5, count: 1 }]);
  // A replayed old delivery changes nothing.
  send(delivered(2, 2));
  assert.equal(r.json().num_ack_pending, 1);
  const before = r.state();
  const copy = replicaWith({ ack_policy: "explicit" }).r;
  copy.install(r.snapshot(), 10);
  assert.deepEqual(copy.state(), before);
  send(ack(6, 5));
  assert.deepEqual(r.json(), { delivered: { consumer_seq: 6, stream_seq: 5 }, ack_floor: { consumer_seq: 6, stream_seq: 5 }, num_ack_pending: 0, num_redelivered: 0, counters: r.json().counters });
  // An older snapshot than what is held is not taken.
  r.install(copy.snapshot(), 11);
  assert.deepEqual(r.json().ack_floor, { consumer_seq: 6, stream_seq: 5 });
});

test("AckAll acknowledges everything below; AckNone moves the floor with deliveries; a reset starts over at its sequence", () => {
  const all = replicaWith({ ack_policy: "all" });
  for (let i = 1; i <= 4; i++) all.send(delivered(i, i * 2));
  all.send(ack(3, 6));
  assert.deepEqual(all.r.json().ack_floor, { consumer_seq: 3, stream_seq: 6 });
  assert.deepEqual(all.r.state().pending.map((p) => p.streamSequence), [8]);
  all.send({ op: "resetSequence", streamSequence: 20, reply: "" });
  assert.deepEqual(all.r.state(), { ackFloor: { consumer: 0, stream: 19 }, delivered: { consumer: 0, stream: 19 }, pending: [], redelivered: [] });
  all.send({ op: "skip", streamSequence: 30 });
  assert.deepEqual(all.r.json().delivered, { consumer_seq: 0, stream_seq: 29 });

  const none = replicaWith({ ack_policy: "none" });
  none.send(delivered(1, 3), delivered(2, 7));
  assert.deepEqual(none.r.state(), { ackFloor: { consumer: 2, stream: 7 }, delivered: { consumer: 2, stream: 7 }, pending: [], redelivered: [] });
});
