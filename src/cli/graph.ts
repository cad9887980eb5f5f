// Terminal charts for `stream graph`, `consumer graph`, `server graph` and `sub --graph`,
// drawn by the asciichart library: one column per second, as wide as the terminal, each with
// its caption beneath (natscli draws the same charts with its asciigraph copy).
import asciichart from "asciichart";
import { CliError, type CliIO } from "./runtime.js";
import { terminalSize } from "./screen.js";

/** The drawing area for graphs; graphs need a terminal (and a usable size). */
export function graphArea(io: CliIO, minHeight = 20): { width: number; height: number } {
  const size = terminalSize(io);
  if (!size) throw new CliError("can only graph data on an interactive terminal", "run it in a terminal; for numbers in scripts use the info commands with --json");
  if (size.width < 20 || size.height < minHeight) throw new CliError("please increase terminal dimensions");
  // Room for the value labels on the left and the heading and captions.
  return { width: size.width > 15 ? size.width - 12 : size.width, height: size.height > 10 ? size.height - 6 : size.height };
}

/** The last `width` values of a measurement, oldest first (zeros before the first ones). */
export class Series {
  private values: number[];

  constructor(private width: number) {
    this.values = new Array<number>(width).fill(0);
  }

  push(v: number): void {
    this.values.push(Number.isFinite(v) ? v : 0);
    if (this.values.length > this.width) this.values = this.values.slice(this.values.length - this.width);
  }

  resize(width: number): void {
    this.width = width;
    if (this.values.length > width) this.values = this.values.slice(this.values.length - width);
  }

  get data(): readonly number[] {
    return this.values;
  }
}

/** A per-second rate from two readings of a counter. */
export class Rate {
  private last?: { value: number; at: number };

  /** The rate since the previous reading (0 for the first). */
  next(value: number, at = Date.now()): number {
    const prev = this.last;
    this.last = { value, at };
    if (!prev || at <= prev.at) return 0;
    return Math.max(0, ((value - prev.value) * 1000) / (at - prev.at));
  }
}

const fmtValue = (decimals: number) => (x: number): string => (decimals === 0 ? Math.round(x).toLocaleString("en-US") : x.toFixed(decimals)).padStart(10);

/** A chart of `series` with `caption` centred beneath it. */
export function plot(series: Series, caption: string, height: number, decimals = 0): string {
  const data = series.data;
  const top = Math.max(...data);
  const chart = asciichart.plot([...data], { height: Math.max(1, height), min: 0, ...(top <= 0 ? { max: 1 } : {}), format: fmtValue(decimals) });
  const lineWidth = chart.split("\n")[0]?.length ?? caption.length;
  return `${chart}\n${" ".repeat(Math.max(0, Math.floor((lineWidth - caption.length) / 2)))}${caption}`;
}
