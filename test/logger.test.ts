// Logger (src/server/logger.ts): nats-server's line format, levels, logtime, file output,
// size-based rotation, reopen, and that lines survive an immediate process.exit.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { Logger, formatLogTime, formatRotateStamp } from "../src/server/logger.js";
import type { Log } from "../src/server/log.js";
import { defaultOptions } from "../src/config/options.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tsnats-logger-test-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// 2026/11/21 23:57:42.123 local time, plus 456 microseconds
const FIXED = new Date(2026, 10, 21, 23, 57, 42, 123).getTime() + 0.456;

function capture(opts: ConstructorParameters<typeof Logger>[0] = {}): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = new Logger({ pid: 1234, now: () => FIXED, sink: (l) => lines.push(l), ...opts });
  return { log, lines };
}

describe("Logger: format and levels", () => {
  it("writes nats-server's line format", () => {
    const { log, lines } = capture();
    log.info("Starting tsnats-server");
    log.warn("careful");
    log.error("broken");
    log.fatal("dead");
    log.notice("notice is info");
    assert.deepEqual(lines, [
      "[1234] 2026/11/21 23:57:42.123456 [INF] Starting tsnats-server\n",
      "[1234] 2026/11/21 23:57:42.123456 [WRN] careful\n",
      "[1234] 2026/11/21 23:57:42.123456 [ERR] broken\n",
      "[1234] 2026/11/21 23:57:42.123456 [FTL] dead\n",
      "[1234] 2026/11/21 23:57:42.123456 [INF] notice is info\n",
    ]);
  });

  it("drops the timestamp with logtime=false", () => {
    const { log, lines } = capture({ logtime: false });
    log.info("x");
    assert.deepEqual(lines, ["[1234] [INF] x\n"]);
  });

  it("suppresses debug and trace unless enabled, with cheap boolean checks", () => {
    const quiet = capture();
    quiet.log.debug("d");
    quiet.log.trace("t");
    assert.deepEqual(quiet.lines, []);
    assert.equal(quiet.log.debugEnabled, false);
    assert.equal(quiet.log.traceEnabled, false);

    const loud = capture({ debug: true, trace: true, logtime: false });
    loud.log.debug("d");
    loud.log.trace("<<- [PING]");
    assert.deepEqual(loud.lines, ["[1234] [DBG] d\n", "[1234] [TRC] <<- [PING]\n"]);

    const verbose = capture({ traceVerbose: true });
    assert.equal(verbose.log.traceEnabled, true);
    assert.equal(verbose.log.traceVerbose, true);
  });

  it("changes levels at runtime", () => {
    const { log, lines } = capture({ logtime: false });
    log.setOptions({ debug: true, trace: true, logtime: true });
    assert.equal(log.traceEnabled, true);
    log.debug("d");
    log.setOptions({ trace: false, logtime: false });
    assert.equal(log.traceEnabled, false);
    log.trace("t");
    assert.deepEqual(lines, ["[1234] 2026/11/21 23:57:42.123456 [DBG] d\n"]);
  });

  it("is built from ServerOptions and satisfies the Log interface", () => {
    const o = defaultOptions();
    o.debug = true;
    o.logtime = false;
    const lines: string[] = [];
    const log: Log = Logger.fromOptions(o, { sink: (l) => lines.push(l), pid: 7 });
    log.debug("from options");
    assert.deepEqual(lines, ["[7] [DBG] from options\n"]);
    assert.equal(log.debugEnabled, true);
    assert.equal(log.traceEnabled, false);
  });

  it("formats timestamps with microseconds and rotation stamps with nine digits", () => {
    assert.equal(formatLogTime(new Date(2024, 0, 2, 3, 4, 5, 6).getTime()), "2024/01/02 03:04:05.006000");
    assert.equal(formatLogTime(FIXED), "2026/11/21 23:57:42.123456");
    assert.equal(formatRotateStamp(FIXED), "2026.11.21.23.57.42.123456000");
  });

  it("writes UTC timestamps with logtime_utc", () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    assert.equal(formatLogTime(at, true), "2026/01/02 03:04:05.006000");
    const lines: string[] = [];
    const log = Logger.fromOptions({ ...defaultOptions(), logtimeUtc: true }, { pid: 1, now: () => at, sink: (l) => lines.push(l) });
    log.info("x");
    assert.deepEqual(lines, ["[1] 2026/01/02 03:04:05.006000 [INF] x\n"]);
  });
});

describe("Logger: files", () => {
  it("appends lines to the log file synchronously", () => {
    const file = join(dir, "a.log");
    writeFileSync(file, "existing\n");
    const log = new Logger({ logFile: file, pid: 9, logtime: false });
    log.info("one");
    // readable immediately: nothing is buffered
    assert.equal(readFileSync(file, "utf8"), "existing\n[9] [INF] one\n");
    log.warn("two");
    log.close();
    assert.equal(readFileSync(file, "utf8"), "existing\n[9] [INF] one\n[9] [WRN] two\n");
    const fresh = join(dir, "fresh.log");
    new Logger({ logFile: fresh }).close();
    assert.equal(statSync(fresh).mode & 0o007, 0, "new log files are not world readable (0640)");
  });

  it("rotates when the size limit is reached, keeping every line", () => {
    const sub = join(dir, "rot");
    mkdirSync(sub);
    const file = join(sub, "n.log");
    const log = new Logger({ logFile: file, logSizeLimit: 200, pid: 5 });
    const total = 30;
    for (let i = 0; i < total; i++) log.info(`message number ${String(i).padStart(3, "0")}`);
    log.close();
    const names = readdirSync(sub).sort();
    const backups = names.filter((n) => n !== "n.log");
    assert.ok(backups.length >= 5, `expected several backups, got ${names.join(", ")}`);
    for (const b of backups) assert.match(b, /^n\.log\.\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{9}$/);
    // every message is somewhere, exactly once
    const all = names.map((n) => readFileSync(join(sub, n), "utf8")).join("");
    for (let i = 0; i < total; i++) {
      const needle = `[INF] message number ${String(i).padStart(3, "0")}\n`;
      assert.equal(all.split(needle).length - 1, 1, needle);
    }
    // each fresh file starts by naming its predecessor
    const current = readFileSync(file, "utf8");
    assert.match(current.split("\n")[0], /\[INF\] Rotated log, backup saved as ".*n\.log\.\d{4}(\.\d+){6}"$/);
    // rotated files stop right after crossing the limit
    for (const b of backups) {
      const size = statSync(join(sub, b)).size;
      assert.ok(size >= 200 && size < 200 + 120, `${b} has ${size} bytes`);
    }
  });

  it("keeps log_max_num files, the current one included, purging the oldest backups", () => {
    const sub = join(dir, "purge");
    mkdirSync(sub);
    const file = join(sub, "p.log");
    writeFileSync(join(sub, "p.log.unrelated"), "kept\n");
    const log = new Logger({ logFile: file, logSizeLimit: 200, logMaxFiles: 3, pid: 5 });
    for (let i = 0; i < 30; i++) log.info(`message number ${String(i).padStart(3, "0")}`);
    log.close();
    const names = readdirSync(sub).sort();
    const backups = names.filter((n) => /^p\.log\.\d{4}(\.\d+){6}$/.test(n));
    assert.equal(backups.length, 2, names.join(", "));
    assert.ok(names.includes("p.log.unrelated"), "only rotated files are purged");
    // the newest messages are still there, and the purge is logged as nats-server logs it
    const kept = [file, ...backups.map((b) => join(sub, b))].map((f) => readFileSync(f, "utf8")).join("");
    assert.ok(kept.includes("[INF] message number 029\n"));
    assert.match(kept, /\[INF\] Purged log file "p\.log\.\d{4}(\.\d+){6}"\n/);
  });

  it("reopens the file after an external rotation (SIGUSR1)", () => {
    const file = join(dir, "re.log");
    const log = new Logger({ logFile: file, pid: 3, logtime: false });
    log.info("before");
    renameSync(file, `${file}.1`);
    log.info("still to the old inode");
    log.reopen();
    log.info("after");
    log.close();
    assert.equal(readFileSync(`${file}.1`, "utf8"), "[3] [INF] before\n[3] [INF] still to the old inode\n");
    assert.equal(readFileSync(file, "utf8"), "[3] [INF] File log re-opened\n[3] [INF] after\n");
  });

  it("reopen is a no-op when logging to stderr", () => {
    const { log, lines } = capture();
    log.reopen();
    assert.deepEqual(lines, []);
  });
});

describe("Logger: nothing lost at exit", () => {
  const loggerUrl = new URL("../src/server/logger.js", import.meta.url).href;

  it("stderr lines written right before process.exit arrive", () => {
    const script = `
      import { Logger } from ${JSON.stringify(loggerUrl)};
      const log = new Logger({ logtime: false, pid: 1 });
      for (let i = 0; i < 2000; i++) log.info("line " + i + " " + "x".repeat(100));
      log.fatal("bye");
      process.exit(1);
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 1);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2001);
    assert.equal(lines[1999], `[1] [INF] line 1999 ${"x".repeat(100)}`);
    assert.equal(lines[2000], "[1] [FTL] bye");
  });

  it("waits out a full non-blocking stderr pipe instead of dropping lines", () => {
    // touching process.stderr first makes Node switch the pipe to non-blocking mode, and the
    // reader only starts after half a second: plain writeSync calls would fail with EAGAIN
    const script = join(dir, "slow-reader.mjs");
    writeFileSync(
      script,
      `import { Logger } from ${JSON.stringify(loggerUrl)};
process.stderr.write("start\\n");
const log = new Logger({ logtime: false, pid: 1 });
for (let i = 0; i < 2000; i++) log.info("line " + i + " " + "y".repeat(200));
process.exit(0);
`,
    );
    const r = spawnSync("sh", ["-c", `"${process.execPath}" "${script}" 2>&1 >/dev/null | (sleep 0.5; cat)`], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "start");
    assert.equal(lines.length, 2001);
    assert.equal(lines[2000], `[1] [INF] line 1999 ${"y".repeat(200)}`);
  });

  it("file lines written right before process.exit arrive", () => {
    const file = join(dir, "exit.log");
    const script = `
      import { Logger } from ${JSON.stringify(loggerUrl)};
      const log = new Logger({ logFile: ${JSON.stringify(file)}, logtime: false, pid: 2 });
      log.error("last words");
      process.exit(2);
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(readFileSync(file, "utf8"), "[2] [ERR] last words\n");
  });
});
