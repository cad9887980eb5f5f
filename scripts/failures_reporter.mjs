// A node:test reporter that prints, once every test has ended, the failed tests with their
// file and suite path and the first lines of each error. The TAP reporter already reports a
// failure where it happens; in a 35-minute run that is thousands of lines before the end,
// and CI shows only the end of the output. Used beside the TAP reporter by `npm test`
// (scripts/run_tests.mjs), which reads the failed files from $TEST_FAILURES_FILE to run them again.
import { writeFileSync } from "node:fs";
import path from "node:path";

const ERROR_LINES = 6;

function firstLines(error) {
  if (!error) return [];
  const cause = error.cause ?? error;
  const text = cause instanceof Error ? (cause.stack ?? String(cause)) : String(cause?.message ?? cause);
  return text.split("\n").slice(0, ERROR_LINES);
}

export default async function* failuresReporter(source) {
  // Per file, the names of the tests being reported, by nesting depth: a failure's
  // ancestors are the tests started above it in the same file.
  const open = new Map();
  const failures = [];
  for await (const event of source) {
    const { type, data } = event;
    if (type === "test:start") {
      const stack = open.get(data.file) ?? [];
      stack.length = data.nesting;
      stack.push(data.name);
      open.set(data.file, stack);
    } else if (type === "test:fail") {
      const stack = open.get(data.file) ?? [];
      const ancestors = stack.slice(0, data.nesting);
      const hasFailedChild = failures.some(
        (f) => f.file === data.file && f.nesting > data.nesting && f.ancestors[data.nesting] === data.name,
      );
      // A suite fails because a test in it failed: listing it again says nothing new.
      if (hasFailedChild && data.details?.error?.failureType === "subtestsFailed") continue;
      failures.push({ file: data.file, nesting: data.nesting, ancestors, name: data.name, error: data.details?.error });
    }
  }
  const lines = failures.length === 0 ? [] : ["", `# ${failures.length} failed test(s):`];
  for (const f of failures) {
    const file = f.file ? path.basename(f.file) : "(no file)";
    lines.push(`#   FAILED ${[file, ...f.ancestors, f.name].join(" > ")}`);
    for (const line of firstLines(f.error)) lines.push(`#       ${line}`);
  }
  if (process.env.TEST_FAILURES_FILE) {
    const files = [...new Set(failures.map((f) => f.file).filter((f) => f !== undefined))];
    writeFileSync(process.env.TEST_FAILURES_FILE, JSON.stringify({ files, lines }));
  }
  if (lines.length > 0) yield lines.join("\n") + "\n";
}
