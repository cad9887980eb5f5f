// What V8's optimizing compiler did in a tsnats server, from its `--trace-opt --trace-deopt`
// output (js_r3.mjs with BENCH_STDOUT=<dir> BENCH_NODE_ARGS="--trace-opt --trace-deopt"): per
// function how often TurboFan compiled it, the compile time V8 reports (wall time of the
// compiler's phases: inflated on a loaded machine, compare counts first), how often its optimized
// code was thrown away and why. `--marks <dir>/<impl>-<scenario>.marks.json` keeps only what was
// written while that scenario ran.
//
//   node bench/trace_opt.mjs <dir>/ts-n0.out [--marks <dir>/ts-kv.marks.json] [--top 40]
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const file = args[0];
if (file === undefined || file.startsWith("--")) throw new Error("usage: trace_opt.mjs <server>.out [--marks <scenario>.marks.json] [--top N]");
const TOP = Number(opt("--top", 40));
let text = fs.readFileSync(file, "latin1");
const marksFile = opt("--marks", "");
if (marksFile !== "") {
  const server = /-(\w+)\.out$/.exec(path.basename(file))?.[1];
  const range = JSON.parse(fs.readFileSync(marksFile, "utf8"))[server];
  if (range === undefined) throw new Error(`${marksFile} has no range for ${server}`);
  text = text.slice(range[0], range[1]);
}

const fns = new Map();
const of = (name) => {
  let f = fns.get(name);
  if (f === undefined) fns.set(name, (f = { compiles: 0, ms: 0, deopts: 0, reasons: new Map() }));
  return f;
};
let compiles = 0;
let ms = 0;
let deopts = 0;
for (const m of text.matchAll(/\[completed compiling 0x\w+ <JSFunction (\S*) \(sfi[^)]*\)> \(target TURBOFAN\) - took ([\d.]+), ([\d.]+), ([\d.]+) ms\]/g)) {
  const f = of(m[1] || "(anonymous)");
  const t = Number(m[2]) + Number(m[3]) + Number(m[4]);
  f.compiles++;
  f.ms += t;
  compiles++;
  ms += t;
}
for (const m of text.matchAll(/\[bailout \(kind: ([^,]*), reason: ([^)]*)\): begin\. deoptimizing 0x\w+ <JSFunction (\S*) \(sfi[^)]*\)>, [^,]*, opt id \d+, bytecode offset (\d+)/g)) {
  const f = of(m[3] || "(anonymous)");
  const why = `${m[2]} @${m[4]}`;
  f.deopts++;
  f.reasons.set(why, (f.reasons.get(why) ?? 0) + 1);
  deopts++;
}
console.log(`${file}${marksFile ? ` (${path.basename(marksFile)})` : ""}: ${compiles} TurboFan compiles, ${ms.toFixed(0)} ms, ${deopts} deoptimizations`);
const rows = [...fns].sort((a, b) => b[1].ms - a[1].ms || b[1].deopts - a[1].deopts).slice(0, TOP);
for (const [name, f] of rows) {
  const why = [...f.reasons].map(([r, n]) => `${n}x ${r}`).join("; ");
  console.log(`${f.ms.toFixed(1).padStart(8)} ms ${String(f.compiles).padStart(3)} compiles ${String(f.deopts).padStart(3)} deopts  ${name}${why ? `  (${why})` : ""}`);
}
