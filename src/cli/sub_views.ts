// The live views of `tsnats sub`: --report-subjects / --report-subscriptions (a table of the
// busiest subjects, or subscriptions, by message count) and --graph (a chart of each
// subscribed pattern's message rate). Both redraw every second; the report is also printed
// once more when the subscription ends (--count, --wait), so a script gets the final figures.
import { graphArea, plot, Series } from "./graph.js";
import { renderTable } from "./output.js";
import { CliError, type CliIO } from "./runtime.js";
import { CLEAR } from "./screen.js";
import { fmtBytes, fmtNum } from "./units.js";

/** Message and byte counts per subject (or per subscription pattern). */
export class SubjectReport {
  private readonly counts = new Map<string, { msgs: number; bytes: number }>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: CliIO,
    private readonly top: number,
  ) {
    if (top < 1) throw new CliError("subject count must be at least one", "give --report-top 1 or more");
  }

  add(subject: string, bytes: number): void {
    const c = this.counts.get(subject);
    if (c) {
      c.msgs++;
      c.bytes += bytes;
    } else this.counts.set(subject, { msgs: 1, bytes });
  }

  render(): string {
    const rows = [...this.counts].sort(([a, x], [b, y]) => y.msgs - x.msgs || a.localeCompare(b)).slice(0, this.top);
    let msgs = 0;
    let bytes = 0;
    for (const [, c] of rows) {
      msgs += c.msgs;
      bytes += c.bytes;
    }
    const title = this.top === 1 ? "Top Subject Report" : `Top ${this.top} Active Subjects Report`;
    return renderTable(["Subject", "Message Count", "Bytes"], rows.map(([s, c]) => [s, fmtNum(c.msgs), fmtBytes(c.bytes)]), title, ["Totals", fmtNum(msgs), fmtBytes(bytes)]);
  }

  private draw(): void {
    this.io.stdout.write((this.io.stdout.isTTY ? CLEAR : "") + this.render() + "\n");
  }

  start(): void {
    this.timer = setInterval(() => this.draw(), 1000);
  }

  /** Stop redrawing and print the final figures. */
  stop(): void {
    clearInterval(this.timer);
    this.draw();
  }
}

/** Per-second message rates of up to four subscription patterns, charted. */
export class SubGraph {
  private readonly series = new Map<string, Series>();
  private readonly pending = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: CliIO,
    private readonly subjects: string[],
  ) {
    if (subjects.length > 4) throw new CliError("maximum 4 subject patterns may be graphed");
    const { width } = graphArea(io);
    for (const s of subjects) {
      this.series.set(s, new Series(width));
      this.pending.set(s, 0);
    }
  }

  /** A message arrived on the subscription for `pattern`. */
  add(pattern: string): void {
    this.pending.set(pattern, (this.pending.get(pattern) ?? 0) + 1);
  }

  private draw(): void {
    let area: { width: number; height: number };
    try {
      area = graphArea(this.io);
    } catch {
      return; // the terminal became too small: skip this frame
    }
    const h = Math.floor(area.height / (this.subjects.length + 1)) - 1;
    const out: string[] = [];
    for (const s of this.subjects) {
      const series = this.series.get(s)!;
      series.resize(area.width);
      series.push(this.pending.get(s) ?? 0);
      this.pending.set(s, 0);
      out.push(plot(series, `${s} / second`, h), "");
    }
    this.io.stdout.write(CLEAR + out.join("\n") + "\n");
  }

  start(): void {
    this.timer = setInterval(() => this.draw(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.io.stdout.write(CLEAR);
  }
}
