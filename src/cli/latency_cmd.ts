// `tsnats latency --server-b URL`: natscli's latency test between two servers (or two
// connections to one). Messages carry their send time (nanoseconds, little endian, in the
// first 8 bytes) from a publisher on the first connection to a subscriber on the second, at
// --rate messages per second for --duration; the report gives percentiles of the one-way
// latencies (both ends run in this process, so they share a clock).
import { randomFillSync } from "node:crypto";
import fs from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import type { App } from "./app.js";
import { connectionOptions, dial } from "./connection.js";
import { CliError, logf, sleep } from "./runtime.js";
import { parseDurationMs, parseInteger } from "./units.js";

/** natscli's sizes: 8B, 1.5K, 12M. */
function byteSize(n: number): string {
  const sizes = ["B", "K", "M", "G", "T"];
  if (n < 10) return `${n}${sizes[0]}`;
  const e = Math.min(sizes.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  const val = Math.floor((n / 1024 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)}${sizes[e]}`;
}

/** A duration in nanoseconds as natscli prints latencies: Go's form, to the microsecond (234µs, 4.567ms, 1.234567s). */
function fmtDur(ns: number): string {
  const us = Math.trunc(ns / 1000);
  const trim = (whole: number, frac: number, digits: number): string => (frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(digits, "0").replace(/0+$/, "")}`);
  if (us < 1000) return `${us}µs`;
  if (us < 1_000_000) return `${trim(Math.trunc(us / 1000), us % 1000, 3)}ms`;
  const secs = Math.trunc(us / 1_000_000);
  const rest = trim(secs % 60, us % 1_000_000, 6);
  return secs < 60 ? `${rest}s` : `${Math.trunc(secs / 60)}m${rest}s`;
}

const nowNs = (): bigint => process.hrtime.bigint();

async function rtt(nc: NatsConnection): Promise<number> {
  const t0 = process.hrtime.bigint();
  await nc.flush();
  return Number(process.hrtime.bigint() - t0);
}

export function registerLatency(app: App): void {
  const io = app.io;
  app.program
    .command("latency")
    .alias("lat")
    .description("Perform latency tests between two NATS servers")
    .requiredOption("--server-b <url>", "The second server to subscribe on")
    .option("--size <bytes>", "Message size", "8")
    .option("--rate <n>", "Rate of messages per second", "1000")
    .option("--duration <duration>", "Test duration", "5s")
    .option("--histogram <file>", "Output file to store the histogram in (FILE.histogram and the raw FILE.raw)")
    .action(
      app.action<{ serverB: string; size: string; rate: string; duration: string; histogram?: string }>(async ({ session, opts }) => {
        const start = Date.now();
        const size = parseInteger(opts.size, "--size");
        if (size < 8) throw new CliError("message Payload Size must be at least 8 bytes");
        const rate = parseInteger(opts.rate, "--rate", 1);
        const durationMs = parseDurationMs(opts.duration, "--duration");
        const numPubs = Math.floor(durationMs / 1000) * rate;
        if (numPubs < 1) throw new CliError("--duration must be at least 1s");

        const c1 = await session.nc().catch((err: Error) => {
          throw new CliError(`first connection failed: ${err.message}`);
        });
        const c2 = await dial(session.effective, { ...connectionOptions(io, session.effective), servers: [opts.serverB], name: "tsnats latency B" }).catch((err: Error) => {
          throw new CliError(`second connection failed: ${err.message}`);
        });
        try {
          logf(io, "==============================");
          logf(io, `Pub Server RTT : ${fmtDur(await rtt(c1))}`);
          logf(io, `Sub Server RTT : ${fmtDur(await rtt(c2))}`);

          const durations: number[] = [];
          const subject = `_INBOX.latency.${Date.now()}.${process.pid}`;
          let received = 0;
          let allIn!: () => void;
          const done = new Promise<void>((r) => (allIn = r));
          const sub = c2.subscribe(subject, {
            callback: (_e, m) => {
              const sent = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).readBigUInt64LE(0);
              durations.push(Number(nowNs() - sent));
              if (++received >= numPubs) allIn();
            },
          });
          await c2.flush();
          // Interest may have to cross routes: probe until a message gets through.
          const probe = `${subject}.probe`;
          let seen = false;
          const probeSub = c2.subscribe(probe, {
            callback: () => {
              seen = true;
            },
          });
          await c2.flush();
          const deadline = Date.now() + 10_000;
          while (!seen) {
            if (Date.now() > deadline) throw new CliError("timed out waiting for the route between the two servers");
            c1.publish(probe, "");
            await c1.flush();
            await sleep(io, 10);
          }
          probeSub.unsubscribe();

          logf(io, `Message Payload: ${byteSize(size)}`);
          logf(io, `Target Duration: ${opts.duration}`);
          logf(io, `Target Msgs/Sec: ${rate}`);
          logf(io, `Target Band/Sec: ${byteSize(rate * size * 2)}`);
          logf(io, "==============================");

          const data = Buffer.alloc(size);
          randomFillSync(data);
          const pubStart = Date.now();
          // Pace in batches: sleep until the next batch is due rather than per message.
          const perMs = rate / 1000;
          for (let i = 0; i < numPubs && !io.signal.aborted; ) {
            const due = Math.min(numPubs, Math.floor((Date.now() - pubStart) * perMs) + 1);
            for (; i < due; i++) {
              data.writeBigUInt64LE(nowNs(), 0);
              c1.publish(subject, data);
            }
            if (i < numPubs) await sleep(io, Math.max(1, Math.ceil(pubStart + i / perMs - Date.now())));
          }
          const pubDur = Date.now() - pubStart;
          await Promise.race([done, sleep(io, Math.max(10_000, durationMs))]);
          const subDur = Date.now() - pubStart;
          sub.unsubscribe();
          if (durations.length === 0) throw new CliError("no messages were received");
          if (durations.length < numPubs) logf(io, `Received ${durations.length} of ${numPubs} messages`);

          if (opts.histogram) fs.writeFileSync(`${opts.histogram}.raw`, durations.map((d) => String(d)).join("\n") + "\n");
          const sorted = [...durations].sort((a, b) => a - b);
          const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
          logf(io, "HDR Percentiles:");
          const pcts = [10, 50, 75, 90, 99, 99.9, 99.99, 99.999, 99.9999, 99.99999, 100];
          for (const p of pcts) logf(io, `${`${p}:`.padEnd(10)}${fmtDur(q(p))}`);
          logf(io, "==============================");
          if (opts.histogram) {
            const lines = ["Value    Percentile    TotalCount    1/(1-Percentile)"];
            for (const p of [10, 25, ...pcts.slice(1)]) lines.push(`${(q(p) / 1e6).toFixed(3).padStart(8)}    ${(p / 100).toFixed(6)}    ${String(Math.ceil((p / 100) * sorted.length)).padStart(10)}    ${p === 100 ? "Infinity" : (1 / (1 - p / 100)).toFixed(2)}`);
            fs.writeFileSync(`${opts.histogram}.histogram`, lines.join("\n") + "\n");
          }
          const l = sorted.length;
          const median = l % 2 === 0 ? (sorted[l / 2 - 1] + sorted[l / 2]) / 2 : sorted[(l - 1) / 2];
          const actual = Math.round((numPubs * 1000) / Math.max(1, pubDur));
          logf(io, `Actual Msgs/Sec: ${actual}`);
          logf(io, `Actual Band/Sec: ${byteSize(actual * size * 2)}`);
          logf(io, `Minimum Latency: ${fmtDur(sorted[0])}`);
          logf(io, `Median Latency : ${fmtDur(median)}`);
          logf(io, `Maximum Latency: ${fmtDur(sorted[l - 1])}`);
          logf(io, `1st Sent Wall Time : ${fmtDur((pubStart - start) * 1e6)}`);
          logf(io, `Last Sent Wall Time: ${fmtDur(pubDur * 1e6)}`);
          logf(io, `Last Recv Wall Time: ${fmtDur(subDur * 1e6)}`);
        } finally {
          await c2.close();
        }
      }),
    );
}
