// Consumer settings that live in the stored config survive a restart: a pause deadline
// keeps the consumer paused (and it resumes, with its advisory, when the deadline passes),
// priority groups and filter_subjects keep working, metadata and reset positions are kept.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { startServer, type EmbeddedServer } from "../src/index.js";
import { waitUntil } from "./helpers/server.js";
import { requestJson } from "./helpers/jetstream.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-consumer-restart-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Json = Record<string, unknown>;

const api = requestJson;

/** A pull request's replies, until a status or `n` messages arrive. */
async function pull(nc: NatsConnection, stream: string, consumer: string, body: Json, n: number): Promise<Msg[]> {
  const inbox = createInbox();
  const got: Msg[] = [];
  await new Promise<void>((resolve) => {
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        got.push(m);
        if (got.length >= n || (m.headers?.code ?? 0) >= 400) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), { reply: inbox });
  });
  return got;
}

describe("consumer settings across a restart", () => {
  it("pause, priority groups, filter_subjects, metadata and reset come back", async () => {
    const storeDir = path.join(tmp, "store");
    // Far enough ahead that a loaded machine still restarts the server before it (then waited out).
    const resumeAt = new Date(Date.now() + 15_000).toISOString();
    let s: EmbeddedServer = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir } });
    let nc = await connect({ servers: s.url });
    try {
      await api(nc, "$JS.API.STREAM.CREATE.R", { name: "R", subjects: ["r.*"] });
      for (const x of ["a", "b", "c", "a"]) nc.publish(`r.${x}`, x);
      await nc.flush();
      const cc = (name: string, config: Json) => api(nc, `$JS.API.CONSUMER.CREATE.R.${name}`, { stream_name: "R", config: { durable_name: name, ack_policy: "explicit", ...config } });
      assert.equal((await cc("paused", { pause_until: resumeAt })).paused, true);
      await cc("pinned", { priority_policy: "pinned_client", priority_groups: ["G"], priority_timeout: 60_000_000_000 });
      await cc("multi", { filter_subjects: ["r.a", "r.c"], metadata: { team: "x" } });
      await cc("moved", {});
      const reset = await api(nc, "$JS.API.CONSUMER.RESET.R.moved", { seq: 3 });
      assert.equal(reset.reset_seq, 3);
    } finally {
      await nc.close();
      await s.close();
    }

    s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir } });
    nc = await connect({ servers: s.url });
    try {
      // Still paused: a pull gets nothing before its expiry, the info says why.
      const info = await api(nc, "$JS.API.CONSUMER.INFO.R.paused");
      assert.equal(info.paused, true);
      assert.ok((info.pause_remaining as number) > 0);
      assert.equal((info.config as Json).pause_until, resumeAt.replace(/\.(\d*[1-9])?0*Z$/, (_m, f: string | undefined) => (f ? `.${f}Z` : "Z")));
      const early = await pull(nc, "R", "paused", { batch: 1, expires: 300_000_000 }, 1);
      assert.equal(early[0].headers?.code, 408);
      // The deadline passes after the restart: an advisory says so and delivery resumes.
      const advisories: Json[] = [];
      nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.R.paused", { callback: (_e, m) => void advisories.push(m.json<Json>()) });
      await nc.flush();
      await waitUntil(() => advisories.length > 0, 60_000, "the resume advisory");
      assert.equal(advisories[0].paused, false);
      const got = await pull(nc, "R", "paused", { batch: 1, expires: 2_000_000_000 }, 1);
      assert.equal(got[0].string(), "a");

      // The pinned group still pins, and other ids are refused.
      const first = await pull(nc, "R", "pinned", { batch: 1, expires: 2_000_000_000, group: "G" }, 1);
      const pin = first[0].headers?.get("Nats-Pin-Id") ?? "";
      assert.ok(pin.length > 0);
      const wrong = await pull(nc, "R", "pinned", { batch: 1, expires: 2_000_000_000, group: "G", id: "other" }, 1);
      assert.equal(wrong[0].headers?.code, 423);
      const again = await pull(nc, "R", "pinned", { batch: 1, expires: 2_000_000_000, group: "G", id: pin }, 1);
      assert.equal(again[0].string(), "b");

      // filter_subjects and metadata are kept; the union of the filters is counted once each.
      const multi = await api(nc, "$JS.API.CONSUMER.INFO.R.multi");
      assert.deepEqual((multi.config as Json).filter_subjects, ["r.a", "r.c"]);
      assert.equal(((multi.config as Json).metadata as Json).team, "x");
      assert.equal(multi.num_pending, 3);
      const msgs = await pull(nc, "R", "multi", { batch: 3, expires: 2_000_000_000 }, 3);
      assert.deepEqual(
        msgs.map((m) => m.string()),
        ["a", "c", "a"],
      );

      // The reset position is where delivery goes on.
      const moved = await pull(nc, "R", "moved", { batch: 1, expires: 2_000_000_000 }, 1);
      assert.equal(moved[0].string(), "c");
    } finally {
      await nc.close();
      await s.close();
    }
  });
});
