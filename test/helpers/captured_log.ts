// Shared test helper: a server Log (also a storage Logger) that keeps every line, so tests can
// check the warnings and errors the store or server wrote.
import type { Log } from "../../src/index.js";

export class CapturedLog implements Log {
  readonly debugEnabled = false;
  readonly traceEnabled = false;
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push(`INF ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`WRN ${m}`);
  }
  error(m: string): void {
    this.lines.push(`ERR ${m}`);
  }
  fatal(m: string): void {
    this.lines.push(`FTL ${m}`);
  }
  debug(): void {}
  trace(): void {}
  has(level: string, re: RegExp): boolean {
    return this.lines.some((l) => l.startsWith(level) && re.test(l));
  }
}
