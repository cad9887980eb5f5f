// Progress bars (cli-progress) on stderr, drawn only when stderr is a terminal so pipes,
// logs and tests get clean output.
import cliProgress from "cli-progress";
import { fmtBytes } from "./units.js";
import type { CliIO } from "./runtime.js";

export interface Progress {
  update(value: number): void;
  increment(by?: number): void;
  setTotal(total: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, increment() {}, setTotal() {}, stop() {} };

/**
 * A bar counting `total` units; with `bytes` the values are shown as sizes. Returns a
 * no-op when stderr is not a terminal or `enabled` is false.
 */
export function newProgress(io: CliIO, total: number, label: string, opts: { bytes?: boolean; enabled?: boolean } = {}): Progress {
  if (opts.enabled === false || !io.stderr.isTTY) return NONE;
  const fmt = opts.bytes
    ? `${label} {bar} {percentage}% | {valueHuman} / {totalHuman} | {speed}/s | ETA {eta_formatted}`
    : `${label} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}`;
  const bar = new cliProgress.SingleBar(
    {
      format: fmt,
      stream: io.stderr as NodeJS.WritableStream,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let current = 0;
  const payload = (): Record<string, string> => {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    return { valueHuman: fmtBytes(current), totalHuman: fmtBytes(total), speed: fmtBytes(Math.round(current / secs)) };
  };
  bar.start(total, 0, opts.bytes ? payload() : {});
  return {
    update(value: number) {
      current = value;
      bar.update(value, opts.bytes ? payload() : undefined);
    },
    increment(by = 1) {
      current += by;
      bar.update(current, opts.bytes ? payload() : undefined);
    },
    setTotal(t: number) {
      total = t;
      bar.setTotal(t);
    },
    stop() {
      bar.stop();
    },
  };
}
