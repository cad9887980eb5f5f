#!/usr/bin/env node
// Side-by-side figures for issue 8: mirror/source throughput, snapshot and restore MB/s,
// compressed and encrypted publish rates, and memory while a large stream is backed up and
// restored. Runs the same load against nats-server (A) and tsnats (B), one after the other,
// each on a fresh store; prints one RESULT line per figure and a ratio table (B/A).
//
//   node bench/copies_and_backups.mjs [--rounds 2] [--msgs 200000] [--size 128] [--big-mb 1024]
//   A = $(../shared/tools/nats-server-ref.sh)   B = node dist/src/bin/tsnats-server.js
//
// The publish rates of encrypted streams with the Go load generator: ../shared/bench/compare.sh
// with `-c` configs (see bench/README.md). Needs `npm run build` first.
import { spawn, execSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const ROUNDS = Number(arg("rounds", 2));
const MSGS = Number(arg("msgs", 200_000));
const SIZE = Number(arg("size", 128));
const BIG_MB = Number(arg("big-mb", 1024));
const ONLY = arg("only", "copies,backup,compressed,encrypted,big").split(",");
const refBin = execSync(path.join(root, "..", "shared", "tools", "nats-server-ref.sh")).toString().trim();
const servers = {
  A: (conf) => [refBin, ["-c", conf]],
  // TSNATS_NODE_ARGS: extra node flags for tsnats, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  B: (conf) => [process.execPath, [...(process.env.TSNATS_NODE_ARGS ?? "").split(" ").filter(Boolean), path.join(root, "dist/src/bin/tsnats-server.js"), "-c", conf]],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function freePort() {
  return new Promise((res) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}
function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function start(side, extra = "") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench8-"));
  const port = await freePort();
  const conf = path.join(dir, "s.conf");
  fs.writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8MB\njetstream { store_dir: "${dir}/js"\n ${extra} }\n`);
  const [cmd, args] = servers[side](conf);
  const proc = spawn(cmd, args, { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      const nc = await connect({ servers: `127.0.0.1:${port}` });
      const api = async (s, b) => (await nc.request(s, b === undefined ? "" : JSON.stringify(b), { timeout: 60_000 })).json();
      return {
        nc,
        api,
        pid: proc.pid,
        async stop() {
          await nc.close().catch(() => {});
          proc.kill("SIGTERM");
          await new Promise((r) => proc.once("exit", r));
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch {
      if (i > 200) throw new Error(`${side} did not start`);
      await sleep(50);
    }
  }
}

async function publish(s, subject, n, size, random = false) {
  const js = jetstream(s.nc);
  const payload = Buffer.alloc(size, 97);
  let pending = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    let p = payload;
    if (random) {
      p = Buffer.allocUnsafe(size);
      for (let k = 0; k < size; k += 4) p.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, Math.min(k, size - 4));
    }
    pending.push(js.publish(subject, p));
    if (pending.length >= 256) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function waitCount(s, stream, n) {
  for (;;) {
    const i = await s.api(`$JS.API.STREAM.INFO.${stream}`);
    if (i.state?.messages >= n) return;
    await sleep(10);
  }
}

async function snapshot(s, stream, onChunk) {
  const inbox = `bench.snap.${Math.random().toString(36).slice(2)}`;
  let bytes = 0;
  const done = new Promise((res) => {
    const sub = s.nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (m.data.length === 0) {
          sub.unsubscribe();
          res();
          return;
        }
        bytes += m.data.length;
        onChunk?.(m.data);
        m.respond();
      },
    });
  });
  await s.nc.flush();
  const t0 = process.hrtime.bigint();
  const resp = await s.api(`$JS.API.STREAM.SNAPSHOT.${stream}`, { deliver_subject: inbox });
  await done;
  return { resp, bytes, secs: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function restore(s, config, file) {
  const r = await s.api(`$JS.API.STREAM.RESTORE.${config.name}`, { config, state: {} });
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(128 * 1024);
  const t0 = process.hrtime.bigint();
  let inflight = [];
  for (let pos = 0; ; ) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    pos += n;
    inflight.push(s.nc.request(r.deliver_subject, Buffer.from(buf.subarray(0, n)), { timeout: 60_000 }));
    if (inflight.length >= 8) {
      await inflight.shift();
    }
  }
  await Promise.all(inflight);
  fs.closeSync(fd);
  const fin = (await s.nc.request(r.deliver_subject, new Uint8Array(0), { timeout: 300_000 })).json();
  if (fin.error) throw new Error(JSON.stringify(fin.error));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const results = [];
function result(side, name, value, unit) {
  results.push({ side, name, value });
  console.log(`RESULT side=${side} scenario=${name} ${unit}=${typeof value === "number" ? value.toFixed(1) : value}`);
}

for (let round = 1; round <= ROUNDS; round++) {
  for (const side of ["A", "B"]) {
    if (ONLY.includes("copies")) {
      const s = await start(side);
      await s.api("$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
      await publish(s, "o.x", MSGS, SIZE);
      for (const [kind, cfg] of [
        ["mirror", { name: "M", mirror: { name: "O" } }],
        ["source", { name: "S", sources: [{ name: "O" }] }],
      ]) {
        const t0 = process.hrtime.bigint();
        await s.api(`$JS.API.STREAM.CREATE.${cfg.name}`, cfg);
        await waitCount(s, cfg.name, MSGS);
        result(side, `${kind}-copy`, MSGS / (Number(process.hrtime.bigint() - t0) / 1e9), "msgs_per_sec");
      }
      await s.stop();
    }
    if (ONLY.includes("backup")) {
      const s = await start(side);
      await s.api("$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
      await publish(s, "o.x", Math.floor(MSGS / 4), 1024, true);
      const file = path.join(os.tmpdir(), `bench8-snap-${process.pid}`);
      const fd = fs.openSync(file, "w");
      const snap = await snapshot(s, "O", (c) => fs.writeSync(fd, c));
      fs.closeSync(fd);
      const mb = snap.resp.state.bytes / 1e6;
      result(side, "snapshot", mb / snap.secs, "mb_per_sec");
      await s.api("$JS.API.STREAM.DELETE.O");
      result(side, "restore", mb / (await restore(s, snap.resp.config, file)), "mb_per_sec");
      fs.rmSync(file, { force: true });
      await s.stop();
    }
    if (ONLY.includes("compressed")) {
      const s = await start(side);
      await s.api("$JS.API.STREAM.CREATE.Z", { name: "Z", subjects: ["z"], compression: "s2" });
      result(side, "publish-compressed-1k", Math.floor(MSGS / 2) / (await publish(s, "z", Math.floor(MSGS / 2), 1024)), "msgs_per_sec");
      await s.stop();
    }
    if (ONLY.includes("encrypted")) {
      const s = await start(side, 'cipher: chachapoly\n key: "bench-key"\n');
      await s.api("$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e"] });
      result(side, "publish-encrypted-128", MSGS / (await publish(s, "e", MSGS, SIZE)), "msgs_per_sec");
      await s.stop();
    }
  }
}

// Memory while a large stream is backed up and restored (once per server).
if (ONLY.includes("big") && BIG_MB > 0) {
  for (const side of ["A", "B"]) {
    const s = await start(side);
    await s.api("$JS.API.STREAM.CREATE.BIG", { name: "BIG", subjects: ["big"] });
    const n = Math.floor((BIG_MB * 1024 * 1024) / 8192);
    await publish(s, "big", n, 8192, true);
    await sleep(1000);
    const base = rssKb(s.pid);
    let peak = base;
    const iv = setInterval(() => (peak = Math.max(peak, rssKb(s.pid))), 50);
    const file = path.join(os.tmpdir(), `bench8-big-${process.pid}`);
    const fd = fs.openSync(file, "w");
    const snap = await snapshot(s, "BIG", (c) => fs.writeSync(fd, c));
    fs.closeSync(fd);
    const snapPeak = peak;
    result(side, "big-snapshot-mb", snap.resp.state.bytes / 1e6 / snap.secs, "mb_per_sec");
    result(side, "big-snapshot-rss-rise", (snapPeak - base) / 1024, "mb");
    await s.api("$JS.API.STREAM.DELETE.BIG");
    await sleep(1000);
    const base2 = rssKb(s.pid);
    peak = base2;
    const secs = await restore(s, snap.resp.config, file);
    result(side, "big-restore-mb", snap.resp.state.bytes / 1e6 / secs, "mb_per_sec");
    result(side, "big-restore-rss-rise", (peak - base2) / 1024, "mb");
    clearInterval(iv);
    fs.rmSync(file, { force: true });
    await s.stop();
  }
}

// Medians and ratios.
const names = [...new Set(results.map((r) => r.name))];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`\n${"scenario".padEnd(26)} ${"A nats-server".padStart(14)} ${"B tsnats".padStart(14)} ${"B/A".padStart(7)}`);
for (const n of names) {
  const a = median(results.filter((r) => r.name === n && r.side === "A").map((r) => r.value));
  const b = median(results.filter((r) => r.name === n && r.side === "B").map((r) => r.value));
  console.log(`${n.padEnd(26)} ${a.toFixed(1).padStart(14)} ${b.toFixed(1).padStart(14)} ${(b / a).toFixed(2).padStart(7)}`);
}
process.exit(0);
