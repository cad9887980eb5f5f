// `npm test`'s runner: every compiled test file under node:test (TAP on stdout, the failed tests
// listed at the end by failures_reporter.mjs), then the files that had a failure run once more,
// one at a time. Most tests start clusters of real servers, nats-server ones too, and compare
// timings-dependent outcomes; on a loaded machine one of ~1800 sometimes loses a race that is
// not a defect. A file that fails twice fails the run; one that passes the second time is
// named at the end as FLAKY, so it is seen and fixed, not hidden. Many failed files at once are
// a breakage, not a race: the run fails without a second try.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const MAX_RERUN_FILES = 8;
const testDir = path.resolve("dist/test");
const reporter = path.resolve("scripts/failures_reporter.mjs");
const scratch = mkdtempSync(path.join(tmpdir(), "tsnats-test-run-"));

function run(files, concurrency, label) {
  const failuresFile = path.join(scratch, `${label}.json`);
  const args = [
    "--test", `--test-concurrency=${concurrency}`, "--test-timeout=120000",
    "--test-reporter=tap", "--test-reporter-destination=stdout",
    `--test-reporter=${reporter}`, "--test-reporter-destination=stdout",
    ...files,
  ];
  const { status, signal } = spawnSync(process.execPath, args, {
    stdio: "inherit",
    env: { ...process.env, TEST_FAILURES_FILE: failuresFile },
  });
  let report = { files: [], lines: [] };
  try {
    report = JSON.parse(readFileSync(failuresFile, "utf8"));
  } catch {
    // No report: the runner itself died before the end. Nothing is run again.
  }
  return { ok: status === 0 && signal === null, failed: report.files, lines: report.lines };
}

function main() {
  // Files named on the command line (`node scripts/run_tests.mjs dist/test/a.test.js ...`), else all.
  const named = process.argv.slice(2).map((f) => path.resolve(f));
  const all = named.length > 0 ? named : readdirSync(testDir).filter((f) => f.endsWith(".test.js")).sort().map((f) => path.join(testDir, f));
  const first = run(all, 2, "first");
  if (first.ok) return 0;
  const names = first.failed.map((f) => path.basename(f));
  if (first.failed.length === 0 || first.failed.length > MAX_RERUN_FILES) {
    console.log(`# ${first.failed.length || "unknown"} file(s) failed: not run again (more than ${MAX_RERUN_FILES}, or none named)`);
    return 1;
  }
  console.log(`\n# running again, one at a time, the ${names.length} file(s) with a failure: ${names.join(", ")}`);
  const second = run(first.failed, 1, "second");
  if (!second.ok) {
    console.log(first.lines.join("\n"));
    console.log(`\n# FAILED twice: ${second.failed.map((f) => path.basename(f)).join(", ") || names.join(", ")}`);
    return 1;
  }
  // The first run's list again: the second run's output pushed it up, and the end is what is read.
  console.log(first.lines.join("\n"));
  console.log(`\n# FLAKY (failed, then passed when run again): ${names.join(", ")}`);
  return 0;
}

let code = 1;
try {
  code = main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);
