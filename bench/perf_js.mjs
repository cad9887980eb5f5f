// Where tsnats servers' CPU went, from a `perf record -g` of them (js_r3.mjs's BENCH_PERF, with
// BENCH_NODE_ARGS=--perf-basic-prof so that V8 names its compiled JavaScript). Per process: its
// threads' shares (main thread, TurboFan compiling in the background, the rest: GC, libuv), then
// the main thread's samples by module and by function. A sample is charged to the innermost
// JavaScript frame of its stack, builtins and runtime calls included (V8's inline caches, Buffer
// built-ins, GC started by an allocation), so a function's figure is what calling it cost; the
// bundle's line numbers are mapped back to the modules esbuild put there. The tier marks are V8's:
// `*` optimized (TurboFan), `^` baseline (Sparkplug), `~` interpreted.
//
//   node bench/perf_js.mjs <perf.data> [--top 40] [--bundle dist/src/bundle/server_main.cjs]
import { execFileSync } from "node:child_process";
import fs from "node:fs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const data = args[0];
if (data === undefined || data.startsWith("--")) throw new Error("usage: perf_js.mjs <perf.data> [--top N] [--bundle FILE]");
const TOP = Number(opt("--top", 40));
const bundle = opt("--bundle", new URL("../dist/src/bundle/server_main.cjs", import.meta.url).pathname);

// esbuild starts each module's code with a "// dist/src/<path>.js" line.
const marks = [];
fs.readFileSync(bundle, "latin1")
  .split("\n")
  .forEach((l, i) => {
    const m = /^\/\/ dist\/src\/(\S+\.js)$/.exec(l);
    if (m) marks.push([i + 1, m[1]]);
  });
function moduleAt(line) {
  let lo = 0;
  let hi = marks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid][0] <= line) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? "?" : marks[lo - 1][1];
}

const text = execFileSync("perf", ["script", "-i", data, "-F", "pid,tid,ip,sym"], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] });
const procs = new Map();
const bump = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
let head;
let stack = [];
function flush() {
  if (head === undefined || stack.length === 0) return;
  const [pid, tid] = head;
  let p = procs.get(pid);
  if (p === undefined) procs.set(pid, (p = { n: 0, threads: new Map(), main: 0, byModule: new Map(), byFunction: new Map() }));
  p.n++;
  if (pid !== tid) {
    bump(p.threads, stack[0].includes("compiler::") || stack.some((s) => s.includes("OptimizingCompileDispatcher")) ? "TurboFan" : "other threads");
    return;
  }
  bump(p.threads, "main");
  p.main++;
  const js = stack.find((s) => s.startsWith("JS:"));
  if (js === undefined) {
    bump(p.byModule, "(no JavaScript frame)");
    bump(p.byFunction, `native ${stack[0].slice(0, 70)}`);
    return;
  }
  const m = /^JS:(\S)(\S*) (.*?):(\d+):\d+$/.exec(js);
  if (m === null) {
    bump(p.byModule, "(other)");
    bump(p.byFunction, js.slice(0, 90));
    return;
  }
  const mod = m[3].endsWith("server_main.cjs") ? moduleAt(Number(m[4])) : m[3];
  bump(p.byModule, mod);
  bump(p.byFunction, `${m[1]}${m[2] || "(anonymous)"} [${mod}]`);
}
for (const line of text.split("\n")) {
  if (line.startsWith("\t")) {
    const sym = line.trim().split(" ").slice(1).join(" ");
    stack.push(sym);
  } else {
    flush();
    stack = [];
    const ids = line.trim().split(/\s+/)[0];
    head = ids ? ids.split("/") : undefined;
  }
}
flush();

const total = [...procs.values()].reduce((a, p) => a + p.n, 0);
const pct = (v, of) => `${((100 * v) / of).toFixed(1).padStart(5)}%`;
for (const [pid, p] of [...procs].sort((a, b) => b[1].n - a[1].n)) {
  console.log(`== pid ${pid}: ${pct(p.n, total)} of all samples; ${[...p.threads].map(([k, v]) => `${k} ${pct(v, p.n).trim()}`).join(", ")}`);
  console.log("  main thread by module:");
  for (const [k, v] of [...p.byModule].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`    ${pct(v, p.main)} ${k}`);
  console.log("  main thread by function:");
  for (const [k, v] of [...p.byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${pct(v, p.main)} ${k}`);
}
