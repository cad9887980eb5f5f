// Crash test: a child process stores messages and prints each sequence once flush() has
// returned (interval mode: the appends are with the kernel) or once syncPending() resolved
// (acks and always modes), and prints removals once removeMsg returned. We SIGKILL it mid-stream, reopen the store here and
// check that every printed message is present with the right content and every printed
// removal is absent. Several kill/restart rounds run on the same directory.
//
// The same compiled file is the child when TSNATS_CRASH_CHILD is set.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileStore } from "../src/storage/filestore.js";
import { silentLogger } from "../src/storage/store.js";
import { CapturedLog } from "./helpers/captured_log.js";

const subjectFor = (seq: number): string => `crash.${seq % 7}`;
const payloadFor = (seq: number): Buffer => {
  const head = `seq-${seq}-`;
  return Buffer.from(head + "abcdefghijklmnopqrstuvwxyz0123456789".repeat(1 + (seq % 9)).slice(0, (seq * 13) % 300));
};
const headerFor = (seq: number): Buffer | undefined => (seq % 5 === 0 ? Buffer.from(`NATS/1.0\r\nN: ${seq}\r\n\r\n`) : undefined);

async function runChild(dir: string, mode: string): Promise<void> {
  setTimeout(() => process.exit(3), 60_000).unref(); // never outlive the test
  const s = new FileStore({
    dir,
    config: { name: "CRASH", maxMsgsPerSubject: 100_000 },
    blockSize: 32 * 1024,
    sync: mode === "always" ? "always" : mode === "acks" ? "acks" : 120_000,
    logger: silentLogger,
  });
  const cs = s.createConsumer("C", { durable_name: "C" });
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const out = (line: string): void => {
    // synchronous, so a line is only visible once the operation before it returned;
    // stdout is a non-blocking pipe: wait while it is full
    const buf = Buffer.from(line + "\n");
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(1, buf, off, buf.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        Atomics.wait(pause, 0, 0, 1);
      }
    }
  };
  out("READY");
  for (;;) {
    const batch: number[] = [];
    const removed: number[] = [];
    for (let k = 0; k < 50; k++) {
      const seq = s.state().lastSeq + 1;
      const r = s.storeMsg(subjectFor(seq), headerFor(seq), payloadFor(seq));
      if (r.seq !== seq) throw new Error(`expected seq ${seq}, got ${r.seq}`);
      if (mode !== "interval") batch.push(seq);
      else {
        s.flush();
        out(`S ${seq}`);
      }
      if (seq % 10 === 0 && seq > 5 && s.removeMsg(seq - 5)) {
        if (mode !== "interval") removed.push(seq - 5);
        else out(`D ${seq - 5}`);
      }
    }
    if (mode !== "interval") {
      await s.syncPending();
      for (const q of batch) out(`S ${q}`);
      for (const q of removed) out(`D ${q}`);
    }
    const st = cs.state();
    st.delivered = { consumer_seq: st.delivered.consumer_seq + 1, stream_seq: s.state().lastSeq };
    cs.update(st);
    await new Promise((r) => setImmediate(r));
  }
}

/** Spawn the child, SIGKILL it after it printed `after` store lines; returns printed stores/removals. */
function killRound(dir: string, mode: string, after: number): Promise<{ stored: number[]; removed: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, TSNATS_CRASH_CHILD: dir, TSNATS_CRASH_MODE: mode },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const stored: number[] = [];
    const removed: number[] = [];
    let buf = "";
    let killed = false;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("S ")) stored.push(Number(line.slice(2)));
        else if (line.startsWith("D ")) removed.push(Number(line.slice(2)));
      }
      if (!killed && stored.length >= after) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      // lines already in the pipe were printed before the kill: read them all
      if (signal !== "SIGKILL") return reject(new Error(`child exited with ${code}/${signal}`));
      resolve({ stored, removed });
    });
  });
}

const childDir = process.env.TSNATS_CRASH_CHILD;
if (childDir) {
  await runChild(childDir, process.env.TSNATS_CRASH_MODE ?? "interval");
} else {
  describe("filestore: SIGKILL crash", () => {
    for (const mode of ["interval", "acks", "always"]) {
      it(`every acknowledged message survives SIGKILL (sync ${mode})`, { timeout: 120_000 }, async () => {
        const dir = fs.mkdtempSync(join(tmpdir(), `tsnats-crash-${mode}-`));
        try {
          const stored = new Set<number>();
          const removed = new Set<number>();
          // removals the child may have done without printing them before the kill
          const maybeRemoved = new Set<number>();
          const rounds = [700, 2500, 1500, 4000];
          for (const after of rounds) {
            const r = await killRound(dir, mode, after);
            assert.ok(r.stored.length >= after);
            for (const q of r.stored) stored.add(q);
            for (const q of r.removed) removed.add(q);
            const roundMax = Math.max(...r.stored);
            // the child removes seq-5 right after storing seq (seq % 10 == 0); in always mode
            // the D lines of a batch follow its S lines, batches are 50 messages
            const window = mode !== "interval" ? 60 : 5;
            for (let q = roundMax - window - 10; q <= roundMax + 60; q++) {
              if (q % 10 === 5 && !removed.has(q)) maybeRemoved.add(q);
            }

            const log = new CapturedLog();
            const s = new FileStore({ dir, blockSize: 32 * 1024, logger: log });
            const errors = log.lines.filter((l) => l.startsWith("ERR"));
            assert.deepEqual(errors, [], errors.join("\n"));
            const st = s.state();
            const maxStored = Math.max(...stored);
            assert.ok(st.lastSeq >= maxStored, `lastSeq ${st.lastSeq} < acked ${maxStored}`);
            for (const q of stored) {
              const m = s.loadMsg(q);
              if (removed.has(q)) {
                assert.equal(m, null, `removed seq ${q} came back`);
                continue;
              }
              if (m === null && maybeRemoved.has(q)) continue;
              assert.ok(m, `acked seq ${q} lost (round after ${after}, lastSeq ${st.lastSeq})`);
              assert.equal(m.subject, subjectFor(q));
              assert.deepEqual(m.data, payloadFor(q));
              assert.deepEqual(m.hdr, headerFor(q));
            }
            // anything else present (written but not yet acked) must be intact too
            for (let m = s.loadNextMsg(">", 0); m; m = s.loadNextMsg(">", m.seq + 1)) {
              assert.deepEqual(m.data, payloadFor(m.seq), `seq ${m.seq} corrupt`);
            }
            const cst = s.openConsumer("C").state();
            assert.ok(cst.delivered.stream_seq <= st.lastSeq);
            s.stop();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
}
