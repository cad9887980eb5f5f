// What the benchmark scripts of this directory share: ports, the Go load generator
// bench/clusterbench (official client, built in GOPATH mode on Debian's nats.go like
// ../shared/bench's natsbench), its RESULT lines, medians.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const cache = process.env.BENCH_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "nats-bench");
/** Path of the built load generator. */
export const GEN = path.join(cache, "clusterbench");
/** Where Debian's golang-github-nats-io-go-nats-dev puts nats.go. */
export const GOPATH = "/usr/share/gocode";

/** Build bench/clusterbench into GEN (throws when Go or nats.go is missing). */
export function buildClusterbench(stdio = "inherit") {
  fs.mkdirSync(cache, { recursive: true });
  execFileSync("go", ["build", "-o", GEN, "."], {
    cwd: path.join(HERE, "clusterbench"),
    env: { ...process.env, GO111MODULE: "off", GOPATH, GOFLAGS: "" },
    stdio,
  });
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

export async function waitPort(port) {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, "127.0.0.1");
      c.once("connect", () => (c.destroy(), r(true)));
      c.once("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} never opened`);
}

/** The key=value pairs of a RESULT line (numbers as numbers). */
export function parseResult(line) {
  const out = {};
  for (const m of line.matchAll(/(\w+)=(\S+)/g)) out[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2]);
  return out;
}

export const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

/** `fn` until it succeeds (a cluster still electing), `tries` times at most, `ms` apart. */
export async function retry(fn, tries = 100, ms = 200) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}

/**
 * The checkouts a comparison runs (each with its own dist/), from the arguments that are not
 * options or their values: this one when none is given, "ref" (nats-server 2.15) first with --ref.
 */
export function checkoutRoots(args) {
  const roots = args.filter((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1].startsWith("--")));
  if (roots.length === 0) roots.push(path.resolve(HERE, ".."));
  if (args.includes("--ref")) roots.unshift("ref");
  return roots;
}

/** CPU time a process used so far (user + system, from /proc: 10 ms ticks), in ms; NaN once gone. */
export function processCpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** A process's resident set now (VmRSS), in MB; NaN once gone. */
export function processRssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
