// Stream features of nats-server 2.11/2.12 as 2.15 behaves: per-message TTL (Nats-TTL and
// its errors), subject delete markers (ADR-43), Direct Get batches and multi_last (ADR-31), counters (ADR-49), atomic batches (ADR-50)
// and message schedules (ADR-51, with cron and time zones). The same requests go to tsnats
// and nats-server 2.15 and must get the same answers; timed behaviour (expiry, markers,
// schedules firing) runs as the same scenario on both and the resulting stream contents are
// compared. Everything stored must survive a restart: TTL timers, schedules, counters, and
// an atomic batch whose commit a kill -9 cut in half is finished (or not started) on restart.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { differences, referenceMissing, startSideBySide, type SideBySide, type Step } from "./helpers/side_by_side.js";
import { JetStreamService } from "../src/jetstream/jetstream.js";
import type { Stream } from "../src/jetstream/stream.js";
import { nextFire } from "../src/jetstream/schedules.js";
import { nextCronTime, parseCron } from "../src/jetstream/cron.js";
import { requestJson } from "./helpers/jetstream.js";

const req = requestJson;

/** The stream's messages as "seq subject payload | headers" lines (times masked). */
async function contents(nc: NatsConnection, stream: string): Promise<string[]> {
  const info = await req(nc, `$JS.API.STREAM.INFO.${stream}`);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const g = await req(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    if (g.message === undefined) continue;
    const hdrs = g.message.hdrs ? Buffer.from(g.message.hdrs, "base64").toString().replace(/\r\n/g, "|").replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<T>") : "";
    out.push(`${seq} ${g.message.subject} ${Buffer.from(g.message.data ?? "", "base64").toString()} ${hdrs}`);
  }
  return out;
}

const PUBLISH_CHECKS: Step[] = [
  {"s": "$JS.API.STREAM.CREATE.T", "b": {"name": "T", "subjects": ["t"], "max_msg_size": 100}},
  {"s": "t", "b": "x", "h": {"Nats-TTL": "5"}},
  {"s": "t", "b": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "h": {"Nats-TTL": "5"}},
  {"s": "t", "b": "x", "h": {"Nats-TTL": "abc"}},
  {"s": "t", "b": "x", "h": {"Nats-TTL": "500ms"}},
  {"s": "t", "b": "x", "h": {"Nats-TTL": "0"}},
  {"s": "t", "b": "x", "h": {"Nats-Incr": "1"}},
  {"s": "t", "b": "x", "h": {"Nats-Incr": "x1"}},
  {"s": "t", "b": "", "h": {"Nats-Incr": "1"}},
  {"s": "t", "b": "x", "h": {"Nats-Schedule": "@at 2030-01-01T00:00:00Z"}},
  {"s": "t", "b": "x", "h": {"Nats-Schedule": "bogus"}},
  {"s": "t", "b": "x", "h": {"Nats-Batch-Id": "b1"}},
  {"s": "t", "b": "x", "h": {"Nats-Batch-Id": "b1", "Nats-Batch-Sequence": "1"}},
  {"s": "t", "b": "x", "h": {"Nats-Expected-Last-Subject-Sequence-Subject": "foo"}},
  {"s": "t", "b": "x", "h": {"Nats-Stream-Source": "foo"}},
  {"s": "t", "b": "x", "h": {"Nats-Scheduler": "foo"}},
  {"s": "t", "b": "x", "h": {"Nats-Schedule-Next": "purge"}},
  {"s": "t", "b": "x", "h": {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "foo"}},
  {"s": "t", "b": "x", "h": {"Nats-Marker-Reason": "MaxAge"}},
  {"s": "t", "b": "x", "h": {"Nats-Required-Api-Level": "99"}},
  {"s": "$JS.API.STREAM.CREATE.TT", "b": {"name": "TT", "subjects": ["tt.*"], "allow_msg_ttl": true}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "1"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "0"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "00"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "0s"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "1.5s"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "999ms"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": ""}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "+5"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "1h"}},
  {"s": "tt.a", "b": "x", "h": {"Nats-TTL": "Never"}},
  {"s": "$JS.API.STREAM.MSG.GET.TT", "b": {"seq": 5}},
];

const BATCHES: Step[] = [
  {"s": "$JS.API.STREAM.CREATE.B", "b": {"name": "B", "subjects": ["b.*"], "allow_atomic": true}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x1", "Nats-Batch-Sequence": "1"}},
  {"s": "b.b", "b": "2", "h": {"Nats-Batch-Id": "x1", "Nats-Batch-Sequence": "2"}},
  {"s": "b.c", "b": "3", "h": {"Nats-Batch-Id": "x1", "Nats-Batch-Sequence": "3", "Nats-Batch-Commit": "1"}},
  {"s": "$JS.API.STREAM.MSG.GET.B", "b": {"seq": 3}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x2", "Nats-Batch-Sequence": "1"}},
  {"s": "b.b", "b": "2", "h": {"Nats-Batch-Id": "x2", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "eob"}},
  {"s": "$JS.API.STREAM.MSG.GET.B", "b": {"seq": 4}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x3", "Nats-Batch-Sequence": "2"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x3"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x3", "Nats-Batch-Sequence": "abc"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x3", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "yes"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x4", "Nats-Batch-Sequence": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x4", "Nats-Batch-Sequence": "3"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x4", "Nats-Batch-Sequence": "4", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x5", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "eob"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x6", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x7", "Nats-Batch-Sequence": "1", "Nats-Expected-Last-Msg-Id": "z"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x7", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x8", "Nats-Batch-Sequence": "1", "Nats-Msg-Id": "m1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x8", "Nats-Batch-Sequence": "2", "Nats-Msg-Id": "m1", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x9", "Nats-Batch-Sequence": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x9", "Nats-Batch-Sequence": "2", "Nats-Expected-Last-Sequence": "7", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x10", "Nats-Batch-Sequence": "1", "Nats-Expected-Last-Sequence": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x10", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Nats-Batch-Sequence": "1"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x11", "Nats-Batch-Sequence": "1001"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x12", "Nats-Batch-Sequence": "1", "Nats-Required-Api-Level": "99"}},
  {"s": "b.a", "b": "1", "h": {"Nats-Batch-Id": "x12", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1", "Nats-Required-Api-Level": "0"}},
  {"s": "$JS.API.STREAM.INFO.B"},
  {"s": "$JS.API.STREAM.MSG.GET.B", "b": {"seq": 5}},
];

const COUNTERS: Step[] = [
  {"s": "$JS.API.STREAM.CREATE.C", "b": {"name": "C", "subjects": ["c.*"], "allow_msg_counter": true}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "+41"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "-100"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "123456789012345678901234567890"}},
  {"s": "c.a", "b": "x", "h": {"Nats-Incr": "1"}},
  {"s": "c.a", "b": ""},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1.5"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1", "Nats-Expected-Last-Sequence": "4"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1", "Nats-Rollup": "sub"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1", "Nats-Msg-Id": "d"}},
  {"s": "c.a", "b": "", "h": {"Nats-Incr": "1", "Nats-Msg-Id": "d"}},
  {"s": "c.b", "b": "", "h": {"Nats-Incr": "0"}},
  {"s": "$JS.API.STREAM.MSG.GET.C", "b": {"last_by_subj": "c.a"}},
  {"s": "$JS.API.STREAM.CREATE.CB", "b": {"name": "CB", "subjects": ["cb.*"], "allow_msg_counter": true, "allow_atomic": true}},
  {"s": "cb.a", "b": "", "h": {"Nats-Incr": "5", "Nats-Batch-Id": "z", "Nats-Batch-Sequence": "1"}},
  {"s": "cb.a", "b": "", "h": {"Nats-Incr": "5", "Nats-Batch-Id": "z", "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}},
  {"s": "$JS.API.STREAM.MSG.GET.CB", "b": {"seq": 2}},
];

const SCHEDULE_CHECKS: Step[] = [
  {"s": "$JS.API.STREAM.CREATE.S", "b": {"name": "S", "subjects": ["s.*"], "allow_msg_schedules": true, "allow_msg_ttl": true}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@at 2030-01-01T00:00:00Z", "Nats-Schedule-Target": "s.tgt"}},
  {"s": "$JS.API.STREAM.MSG.GET.S", "b": {"seq": 1}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@at bogus", "Nats-Schedule-Target": "s.tgt"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 500ms", "Nats-Schedule-Target": "s.tgt"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.tgt"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.sched"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "other"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.*"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Source": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Source": "other"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Schedule-TTL": "abc"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Rollup": "all"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Rollup": "all"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 12 * * *", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Time-Zone": "Europe/Amsterdam"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 12 * * *", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Time-Zone": "Mars/Olympus"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 12 * * *", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Time-Zone": ""}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.t", "Nats-Schedule-Time-Zone": "UTC"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 12 * *", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "61 0 12 * * *", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "@hourly", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 0 30 2 *", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "*/5 * * * * mon-fri", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.sched", "b": "x", "h": {"Nats-Schedule": "0 0 0 ? JAN sun", "Nats-Schedule-Target": "s.t"}},
  {"s": "s.x", "b": "x", "h": {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.sched"}},
  {"s": "s.x", "b": "x", "h": {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.x"}},
  {"s": "s.x", "b": "x", "h": {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.other"}},
  {"s": "s.y", "b": "y"},
  {"s": "s.x", "b": "x", "h": {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.y"}},
  {"s": "s.x", "b": "x", "h": {"Nats-Schedule-Next": "2030-01-01T00:00:00Z", "Nats-Scheduler": "s.sched"}},
  {"s": "$JS.API.STREAM.INFO.S", "b": {"subjects_filter": ">"}},
];

const DIRECT_GET: Step[] = [
  {"s": "$JS.API.STREAM.CREATE.D", "b": {"name": "D", "subjects": ["d.*"], "allow_direct": true}},
  {"s": "d.a", "b": "1"},
  {"s": "d.b", "b": "2", "h": {"X": "y"}},
  {"s": "d.a", "b": "3"},
  {"s": "d.c", "b": "4"},
  {"s": "d.b", "b": "5"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 2}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1, "batch": 3}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1, "batch": 10, "next_by_subj": "d.a"}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1, "batch": 2, "max_bytes": 5}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.*"]}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.a", "d.b"], "up_to_seq": 3}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.*"], "batch": 1}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.x"]}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.*"], "up_to_time": "2000-01-01T00:00:00Z"}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"multi_last": ["d.*"], "up_to_seq": 2, "up_to_time": "2000-01-01T00:00:00Z"}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1, "no_hdr": true}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"last_by_subj": "d.a", "batch": 2}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"next_by_subj": "d.a", "multi_last": ["d.*"]}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": "x"}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1, "bogus": true}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": "{}", "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": "notjson", "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": "", "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 99}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 99, "batch": 2}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D.d.a", "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D.d.a", "b": {"seq": 1}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D.d.a", "b": {"no_hdr": true}, "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D.d.zz", "expect": "msgs"},
  {"s": "$JS.API.DIRECT.GET.D", "b": {"seq": 1}, "h": {"Nats-Required-Api-Level": "99"}, "expect": "msgs"},
];

// Not in the kill -9 test's child process (it imports this file and kills itself with SIGKILL:
// a reference server it started would outlive it).
describe("2.11/2.12 stream features side by side with nats-server 2.15", { skip: process.env.TSNATS_BATCH_CRASH_CHILD !== undefined || referenceMissing() }, () => {
  let sides: SideBySide;
  before(async () => {
    sides = await startSideBySide();
  });
  after(async () => {
    await sides.close();
  });

  for (const [what, steps] of [
    ["publish checks: TTL values, counters, schedules and batches on streams without them, header order", PUBLISH_CHECKS],
    ["atomic batches: staging acks, commits (1 and eob), gaps, limits, unsupported headers, duplicates, API level", BATCHES],
    ["counters: increments of any size, refused payloads and headers, batches of increments", COUNTERS],
    ["schedules: patterns (@at, @every, cron, predefined), time zones, targets, sources, TTL, rollup, scheduler purge", SCHEDULE_CHECKS],
    ["direct get: single, batches with Nats-Num-Pending and 204 EOB, multi_last with up_to_seq/up_to_time, statuses", DIRECT_GET],
  ] as const) {
    it(what, async () => {
      assert.deepEqual(differences([...steps], await sides.run([...steps])), []);
    });
  }

  /** Run the same timed scenario on both servers and compare what the stream holds after it. */
  async function sameOutcome(scenario: (nc: NatsConnection) => Promise<string[]>): Promise<void> {
    const [ref, ours] = await Promise.all([scenario(sides.ncRef), scenario(sides.ncOurs)]);
    assert.deepEqual(ours, ref);
  }

  it("subject delete markers: the last message of a subject is replaced by a marker that expires in turn", async () => {
    await sameOutcome(async (nc) => {
      await req(nc, "$JS.API.STREAM.CREATE.SDM", { name: "SDM", subjects: ["sdm.*"], allow_msg_ttl: true, subject_delete_marker_ttl: 2e9 });
      await req(nc, "sdm.a", "x", { "Nats-TTL": "1" }); // raised to the marker TTL (2 s)
      await req(nc, "sdm.b", "x", { "Nats-TTL": "1" });
      await req(nc, "sdm.b", "y"); // not the last of its subject: no marker
      await req(nc, "sdm.c", "x", { "Nats-TTL": "1", "Nats-Marker-Reason": "Remove" }); // a marker itself
      await req(nc, "sdm.d", "x", { "Nats-TTL": "1", "KV-Operation": "PURGE" }); // a KV purge counts as one
      const before = await contents(nc, "SDM");
      // The marker for sdm.a appears after 2 s (sequence 6) and leaves 2 s later.
      // (nats-server may show the marker a moment before it has removed the others: wait for both.)
      const marked = await pollUntil(nc, "SDM", (c) => c.some((l) => l.includes("Nats-Marker-Reason: MaxAge")) && c.length === 2);
      const gone = await pollUntil(nc, "SDM", (c) => !c.some((l) => l.includes("Nats-Marker-Reason: MaxAge")));
      return [...before, "--", ...marked, "--", ...gone];
    });
  });

  it("max_age with delete markers, and markers for TTL'd messages in a KV-like stream", async () => {
    await sameOutcome(async (nc) => {
      await req(nc, "$JS.API.STREAM.CREATE.MA", { name: "MA", subjects: ["ma.*"], max_age: 1e9, subject_delete_marker_ttl: 1e9, max_msgs_per_subject: 5 });
      await req(nc, "ma.a", "x");
      await req(nc, "ma.a", "y");
      const marked = await pollUntil(nc, "MA", (c) => c.length === 1 && c[0]!.includes("MaxAge"));
      const empty = await pollUntil(nc, "MA", (c) => c.length === 0);
      const info = await req(nc, "$JS.API.STREAM.INFO.MA");
      return [...marked, "--", ...empty, `first ${info.state.first_seq} last ${info.state.last_seq}`];
    });
  });

  it("schedules fire: @at once (then purged), @every from a source, with the schedule's TTL", async () => {
    await sameOutcome(async (nc) => {
      await req(nc, "$JS.API.STREAM.CREATE.SCH", { name: "SCH", subjects: ["sch.*"], allow_msg_schedules: true, allow_msg_ttl: true });
      const at = new Date(Date.now() + 1500).toISOString().replace(/\.\d+Z/, "Z");
      await req(nc, "sch.src", "src-payload", { "X-A": "1" });
      await req(nc, "sch.once", "once", { "Nats-Schedule": `@at ${at}`, "Nats-Schedule-Target": "sch.t1", "Nats-Msg-Id": "q", "Nats-Schedule-TTL": "5s" });
      await req(nc, "sch.rep", "rep", { "Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "sch.t2", "Nats-Schedule-Source": "sch.src" });
      const c = await pollUntil(nc, "SCH", (lines) => lines.filter((l) => l.includes(" sch.t2 ")).length >= 2 && lines.some((l) => l.includes(" sch.t1 ")));
      // Both servers fired at least twice; the repeats beyond that depend on the machine's pace.
      const t2 = c.filter((l) => l.includes(" sch.t2 "));
      return [...c.filter((l) => !l.includes(" sch.t2 ")).map((l) => l.replace(/^\d+ /, "")), t2[0]!.replace(/^\d+ /, "")];
    });
  });
});

/** Poll a stream's contents until `cond` holds (10 s at most). */
async function pollUntil(nc: NatsConnection, stream: string, cond: (c: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await contents(nc, stream);
    if (cond(c)) return c;
    if (Date.now() > deadline) throw new Error(`${stream}: condition not reached; contents ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("schedules: pattern arithmetic", () => {
  it("cron in a time zone, across DST, @every catch-up, and patterns with no match", () => {
    const at = (iso: string): number => Date.parse(iso);
    const c = parseCron("0 30 9 * * mon-fri")!;
    // Friday 2026-03-27 10:00 in Amsterdam (UTC+1, DST starts Sunday 03-29): next is Monday 09:30 CEST = 07:30 UTC.
    assert.equal(new Date(nextCronTime(c, at("2026-03-27T09:00:00Z"), "Europe/Amsterdam")!).toISOString(), "2026-03-30T07:30:00.000Z");
    assert.equal(new Date(nextCronTime(c, at("2026-03-27T07:00:00Z"), "Europe/Amsterdam")!).toISOString(), "2026-03-27T08:30:00.000Z");
    assert.equal(new Date(nextCronTime(parseCron("*/15 * * * * *")!, at("2026-01-01T00:00:07Z"))!).toISOString(), "2026-01-01T00:00:15.000Z");
    // Day of month and day of week: either matches unless one is a star.
    assert.equal(new Date(nextCronTime(parseCron("0 0 0 13 * fri")!, at("2026-02-01T00:00:00Z"))!).toISOString(), "2026-02-06T00:00:00.000Z");
    assert.equal(nextCronTime(parseCron("0 0 0 30 2 *")!, at("2026-01-01T00:00:00Z")), undefined);
    assert.equal(nextFire("@every 0.5s", undefined, Date.now()), undefined);
    const past = nextFire("@every 10s", undefined, Date.now() - 3_600_000)!;
    assert.ok(past.repeat && past.at >= Date.now() && past.at <= Date.now() + 11_000, "a missed repeat fires once, from now");
    assert.equal(nextFire("@at 2030-01-01T00:00:00Z", "UTC", Date.now()), undefined, "no time zone for @at");
  });
});

const CHILD = process.env.TSNATS_BATCH_CRASH_CHILD;

/**
 * The child process of the kill -9 test: a server on `dir` with stream B, a staged batch of
 * five, and then either no commit ("before") or a commit during which the process kills
 * itself after the second message reached the store's file ("during").
 */
async function runCrashChild(dir: string, mode: string): Promise<void> {
  setTimeout(() => process.exit(3), 30_000).unref();
  const s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir: dir } });
  const nc = await connect({ servers: s.url });
  await req(nc, "$JS.API.STREAM.CREATE.B", { name: "B", subjects: ["b.*"], allow_atomic: true });
  await req(nc, "b.x", "before");
  const js = s.server.services.find((x): x is JetStreamService => x instanceof JetStreamService)!;
  const stream = js.accounts.get("$G")!.streams.get("B") as Stream;
  let stored = 0;
  const commit = stream.commitPrepared.bind(stream);
  stream.commitPrepared = (p, ack) => {
    const r = commit(p, ack);
    // the store writes a turn's appends at the turn's end: flush so both reach the file first
    if (++stored === 2) {
      stream.store.flush();
      process.kill(process.pid, "SIGKILL");
    }
    return r;
  };
  for (let i = 1; i <= 5; i++) {
    const last = i === 5;
    if (last && mode === "before") break;
    const h: Record<string, string> = { "Nats-Batch-Id": "crash", "Nats-Batch-Sequence": String(i) };
    if (last) h["Nats-Batch-Commit"] = "1";
    if (mode === "lost") h["Nats-Msg-Id"] = `m${i}`;
    if (last) nc.publish(`b.m${i}`, `p${i}`, { headers: toHeaders(h) });
    else await req(nc, `b.m${i}`, `p${i}`, h);
  }
  await nc.flush();
  if (mode === "before") process.kill(process.pid, "SIGKILL");
  await new Promise((r) => setTimeout(r, 10_000));
}

function toHeaders(h: Record<string, string>): ReturnType<typeof natsHeaders> {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

if (CHILD !== undefined) {
  const [dir, mode] = CHILD.split("|");
  await runCrashChild(dir!, mode!);
}

describe("what is stored survives a restart", { skip: CHILD !== undefined }, () => {
  async function withServer<T>(dir: string, fn: (nc: NatsConnection, s: EmbeddedServer) => Promise<T>): Promise<T> {
    const s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir: dir } });
    const nc = await connect({ servers: s.url });
    try {
      return await fn(nc, s);
    } finally {
      await nc.close();
      await s.close();
    }
  }
  const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-212-"));

  it("TTL timers: a message expires on time after a restart, a 'never' one stays", async () => {
    const dir = tmp();
    try {
      const storedAt = Date.now();
      await withServer(dir, async (nc) => {
        await req(nc, "$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.*"], allow_msg_ttl: true, max_age: 60e9 });
        assert.equal((await req(nc, "t.a", "x", { "Nats-TTL": "3s" })).seq, 1);
        assert.equal((await req(nc, "t.b", "y", { "Nats-TTL": "never" })).seq, 2);
      });
      await withServer(dir, async (nc) => {
        const present = await req(nc, "$JS.API.STREAM.MSG.GET.T", { seq: 1 });
        if (Date.now() - storedAt < 2500) assert.equal(present.message?.seq, 1, "not expired before its time");
        const deadline = Date.now() + 8000;
        let gone = false;
        while (!gone && Date.now() < deadline) {
          gone = (await req(nc, "$JS.API.STREAM.MSG.GET.T", { seq: 1 })).error?.err_code === 10037;
          if (!gone) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(gone, "expired after the restart");
        assert.ok(Date.now() - storedAt >= 2900, "not before its TTL");
        assert.equal((await req(nc, "$JS.API.STREAM.MSG.GET.T", { seq: 2 })).message?.seq, 2);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("schedules: a pending @at schedule fires after a restart, counters carry on", async () => {
    const dir = tmp();
    try {
      await withServer(dir, async (nc) => {
        await req(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"], allow_msg_schedules: true });
        const at = new Date(Date.now() + 2000).toISOString().replace(/\.\d+Z/, "Z");
        assert.equal((await req(nc, "s.sched", "later", { "Nats-Schedule": `@at ${at}`, "Nats-Schedule-Target": "s.out" })).seq, 1);
        await req(nc, "$JS.API.STREAM.CREATE.C", { name: "C", subjects: ["c.*"], allow_msg_counter: true });
        assert.equal((await req(nc, "c.n", "", { "Nats-Incr": "40" })).val, "40");
      });
      await withServer(dir, async (nc) => {
        assert.equal((await req(nc, "c.n", "", { "Nats-Incr": "2" })).val, "42");
        const c = await pollUntil(nc, "S", (lines) => lines.some((l) => l.includes(" s.out ")));
        assert.deepEqual(c, ["2 s.out later NATS/1.0|Nats-Scheduler: s.sched|Nats-Schedule-Next: purge||"]);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // "lost": kill -9 during the commit, then the staging file loses its tail (the commit), as a
  // power cut can take what was written and not fsynced: the part stored is removed.
  for (const mode of ["during", "before", "lost"] as const) {
    it(`atomic batch and kill -9 ${mode === "lost" ? "during its commit, staged commit lost" : `${mode} its commit`}: all or nothing after the restart`, async () => {
      const dir = tmp();
      try {
        const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
          env: { ...process.env, TSNATS_BATCH_CRASH_CHILD: `${dir}|${mode}` },
          stdio: "ignore",
        });
        const code = await new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (c, sig) => resolve(sig ?? c)));
        assert.equal(code, "SIGKILL");
        const batches = path.join(dir, "jetstream", "$G", "streams", "B", "batches");
        if (mode === "lost") {
          const [file] = fs.readdirSync(batches);
          const size = fs.statSync(path.join(batches, file!)).size;
          fs.truncateSync(path.join(batches, file!), size - 5);
        }
        await withServer(dir, async (nc) => {
          const c = await contents(nc, "B");
          if (mode === "lost") {
            assert.deepEqual(c, ["1 b.x before "], "the part of the batch stored is removed");
            // ...and its message ids are no duplicates
            const ack = await req(nc, "b.m1", "again", { "Nats-Msg-Id": "m1" });
            assert.deepEqual([ack.seq, ack.duplicate], [2, undefined]);
          } else if (mode === "before") {
            assert.deepEqual(c, ["1 b.x before "], "an uncommitted batch is not stored");
          } else {
            assert.deepEqual(
              c.map((l) => l.split(" ").slice(0, 3).join(" ")),
              ["1 b.x before", "2 b.m1 p1", "3 b.m2 p2", "4 b.m3 p3", "5 b.m4 p4", "6 b.m5 p5"],
              "the batch was completed",
            );
            assert.match(c[5]!, /Nats-Batch-Commit: 1/);
          }
          assert.equal(fs.existsSync(batches), false, "staging files are gone");
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("ingest limit (max_buffered_msgs)", { skip: CHILD !== undefined }, () => {
  /** Publish `n` messages in one flush; the replies that are 429s, as "<status> <description> | <json>". */
  async function burst(url: string, n: number): Promise<string[]> {
    const nc = await connect({ servers: url });
    try {
      await req(nc, "$JS.API.STREAM.CREATE.IN", { name: "IN", subjects: ["in.*"] });
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) => nc.request(`in.${i % 3}`, "x", { timeout: 5000 }).then((m) => (m.headers ? `${m.headers.code} ${m.headers.description} | ${m.string()}` : m.string()))),
      );
      return replies.filter((r) => r.startsWith("429"));
    } finally {
      await nc.close();
    }
  }

  it("answers 429 Too Many Requests with JSStreamTooManyRequests once a stream's ingest is full, as nats-server 2.15", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ingest-"));
    try {
      const s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir: dir, maxBufferedMsgs: 5 } });
      try {
        const refused = await burst(s.url, 200);
        assert.ok(refused.length > 0, "some messages of the burst were refused");
        assert.equal(refused[0], '429 Too Many Requests | {"error":{"code":429,"err_code":10167,"description":"too many requests"},"stream":"IN","seq":0}');
      } finally {
        await s.close();
      }
      const { referenceBinary, startNatsServer } = await import("./helpers/nats_server.js");
      if (referenceBinary("2.15") === undefined) return t.skip("nats-server 2.15 not available for the reply format");
      const ref = await startNatsServer(["-js", "-sd", path.join(dir, "ref")], "jetstream { max_buffered_msgs: 1 }\n", "2.15");
      try {
        const refused = await burst(`127.0.0.1:${ref.port}`, 2000);
        if (refused.length === 0) return t.skip("nats-server kept up with the burst: no 429 to compare");
        assert.equal(refused[0], '429 Too Many Requests | {"error":{"code":429,"err_code":10167,"description":"too many requests"},"stream":"IN","seq":0}');
      } finally {
        await ref.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
