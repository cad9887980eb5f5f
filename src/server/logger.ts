// Logger with nats-server's line format:
//   [<pid>] 2026/11/21 23:57:42.123456 [INF] message
// (the timestamp is local time with microseconds and can be turned off with logtime).
// Output goes to stderr, or to a file (-l / log_file) with optional size-based rotation
// (logfile_size_limit: the full file is renamed to <file>.<YYYY.MM.DD.HH.MM.SS.nnnnnnnnn>
// and a fresh one is opened) and reopen() for SIGUSR1 after an external logrotate.
//
// Writes are synchronous (fs.writeSync on the file fd or on fd 2, retrying on EAGAIN when
// stderr is a non-blocking pipe): process.stderr.write can still be queued when the
// process exits, and a logger must not lose the lines printed just before a fatal exit.

import * as fs from "node:fs";
import * as path from "node:path";
import type { ServerOptions } from "../config/options.js";
import type { Log } from "./log.js";

export type LogLevel = "INF" | "DBG" | "TRC" | "WRN" | "ERR" | "FTL";

export interface LoggerOptions {
  debug?: boolean;
  trace?: boolean;
  /** Also trace system-account traffic (-VV / trace_verbose). */
  traceVerbose?: boolean;
  /** Prefix lines with a timestamp (default true). */
  logtime?: boolean;
  /** Timestamps in UTC instead of local time (logtime_utc). */
  logtimeUtc?: boolean;
  /** Keep this many log files, the current one included, when rotating (0 = all). */
  logMaxFiles?: number;
  /** Log to this file instead of stderr. */
  logFile?: string;
  /** Rotate the log file once it reaches this many bytes (0 = never). */
  logSizeLimit?: number;
  /** Pid shown in the prefix (default: process.pid). */
  pid?: number;
  /** Custom destination for complete lines (ignored when logFile is set). */
  sink?: (line: string) => void;
  /** Clock in milliseconds since the epoch, possibly fractional (for tests). */
  now?: () => number;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `buf` to `fd` synchronously, waiting out EAGAIN on non-blocking pipes. */
function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  let spins = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
      spins = 0;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EAGAIN" || ++spins > 10_000) throw e;
      Atomics.wait(sleepCell, 0, 0, 1); // the reader is slow: wait 1ms and retry
    }
  }
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

/** Wall clock with microsecond resolution, in (fractional) milliseconds. */
function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** "2026/11/21 23:57:42.123456" in local time (or UTC). */
export function formatLogTime(ms: number, utc = false): string {
  const totalMicros = Math.round(ms * 1000);
  const d = new Date(Math.floor(totalMicros / 1000));
  const micros = ((totalMicros % 1_000_000) + 1_000_000) % 1_000_000;
  if (utc) {
    return (
      `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1, 2)}/${pad(d.getUTCDate(), 2)} ` +
      `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(micros, 6)}`
    );
  }
  return (
    `${d.getFullYear()}/${pad(d.getMonth() + 1, 2)}/${pad(d.getDate(), 2)} ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(micros, 6)}`
  );
}

/** A rotated log file's suffix (formatRotateStamp's shape). */
const ROTATE_STAMP = /^\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{1,9}$/;

/**
 * "2026.11.21.23.57.42.123456000" (local time; nine fraction digits like nats-server,
 * microsecond precision), the suffix of rotated log files.
 */
export function formatRotateStamp(ms: number): string {
  const totalMicros = Math.round(ms * 1000);
  const d = new Date(Math.floor(totalMicros / 1000));
  const micros = ((totalMicros % 1_000_000) + 1_000_000) % 1_000_000;
  return (
    `${d.getFullYear()}.${pad(d.getMonth() + 1, 2)}.${pad(d.getDate(), 2)}.` +
    `${pad(d.getHours(), 2)}.${pad(d.getMinutes(), 2)}.${pad(d.getSeconds(), 2)}.${pad(micros * 1000, 9)}`
  );
}

export class Logger implements Log {
  debugEnabled: boolean;
  /** Check before building trace messages: `if (log.traceEnabled) log.trace(...)`. */
  traceEnabled: boolean;
  traceVerbose: boolean;
  logtime: boolean;
  logtimeUtc: boolean;

  private readonly pid: number;
  private readonly maxFiles: number;
  private readonly now: () => number;
  private readonly sink?: (line: string) => void;
  private readonly file?: string;
  private readonly sizeLimit: number;
  private fd: number | undefined;
  private size = 0;
  private rotating = false;
  private closed = false;

  constructor(o: LoggerOptions = {}) {
    this.debugEnabled = o.debug ?? false;
    this.traceVerbose = o.traceVerbose ?? false;
    this.traceEnabled = (o.trace ?? false) || this.traceVerbose;
    this.logtime = o.logtime ?? true;
    this.logtimeUtc = o.logtimeUtc ?? false;
    this.maxFiles = o.logMaxFiles ?? 0;
    this.pid = o.pid ?? process.pid;
    this.now = o.now ?? preciseNow;
    this.sink = o.sink;
    this.sizeLimit = o.logSizeLimit ?? 0;
    if (o.logFile !== undefined && o.logFile !== "") {
      this.file = o.logFile;
      this.openFile();
    }
  }

  static fromOptions(opts: ServerOptions, extra: Pick<LoggerOptions, "sink" | "pid" | "now"> = {}): Logger {
    return new Logger({
      debug: opts.debug,
      trace: opts.trace,
      traceVerbose: opts.traceVerbose,
      logtime: opts.logtime,
      logtimeUtc: opts.logtimeUtc,
      logMaxFiles: opts.logMaxFiles,
      logFile: opts.logFile,
      logSizeLimit: opts.logSizeLimit,
      ...extra,
    });
  }

  /** Change levels / timestamping at runtime (config reload). */
  setOptions(o: Pick<LoggerOptions, "debug" | "trace" | "traceVerbose" | "logtime">): void {
    if (o.debug !== undefined) this.debugEnabled = o.debug;
    if (o.traceVerbose !== undefined) this.traceVerbose = o.traceVerbose;
    if (o.trace !== undefined || o.traceVerbose !== undefined) {
      this.traceEnabled = (o.trace ?? this.traceEnabled) || this.traceVerbose;
    }
    if (o.logtime !== undefined) this.logtime = o.logtime;
  }

  /** The log file, when logging to one. */
  get logFile(): string | undefined {
    return this.file;
  }

  info(msg: string): void {
    this.log("INF", msg);
  }
  /** Alias of info (nats-server's Noticef). */
  notice(msg: string): void {
    this.log("INF", msg);
  }
  warn(msg: string): void {
    this.log("WRN", msg);
  }
  error(msg: string): void {
    this.log("ERR", msg);
  }
  /** Logs at FTL level; exiting is left to the caller. */
  fatal(msg: string): void {
    this.log("FTL", msg);
  }
  debug(msg: string): void {
    if (this.debugEnabled) this.log("DBG", msg);
  }
  trace(msg: string): void {
    if (this.traceEnabled) this.log("TRC", msg);
  }

  /** Format and write one line at `level` regardless of the debug/trace switches. */
  log(level: LogLevel, msg: string): void {
    const line = this.logtime
      ? `[${this.pid}] ${formatLogTime(this.now(), this.logtimeUtc)} [${level}] ${msg}\n`
      : `[${this.pid}] [${level}] ${msg}\n`;
    this.write(line);
  }

  /** Close and reopen the log file (SIGUSR1 / `--signal reopen`). No-op for stderr. */
  reopen(): void {
    if (this.file === undefined || this.closed) return;
    this.closeFd();
    this.openFile();
    this.info("File log re-opened");
  }

  close(): void {
    this.closed = true;
    this.closeFd();
  }

  // -------------------------------------------------------------------------------------

  private openFile(): void {
    const file = this.file!;
    this.fd = fs.openSync(file, "a", 0o640);
    try {
      this.size = fs.fstatSync(this.fd).size;
    } catch {
      this.size = 0;
    }
  }

  private closeFd(): void {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
  }

  private write(line: string): void {
    if (this.file !== undefined && this.fd !== undefined) {
      const buf = Buffer.from(line);
      try {
        writeAllSync(this.fd, buf);
        this.size += buf.length;
      } catch {
        this.writeStderr(line); // the file became unwritable: do not lose the line
        return;
      }
      if (this.sizeLimit > 0 && this.size >= this.sizeLimit && !this.rotating) this.rotate();
      return;
    }
    if (this.sink) this.sink(line);
    else this.writeStderr(line);
  }

  private writeStderr(line: string): void {
    try {
      writeAllSync(2, Buffer.from(line));
    } catch {
      // stderr is gone (closed pipe): nowhere left to report to
    }
  }

  /** Remove the oldest rotated files beyond log_max_num (the current file counts as one). */
  private purgeBackups(file: string): void {
    const dir = path.dirname(file);
    const base = path.basename(file);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      this.error(`Unable to read directory ${JSON.stringify(dir)} for log purge (${(e as Error).message}), will attempt next rotation`);
      return;
    }
    // Stamps sort as they were written: oldest first.
    const backups = names.filter((n) => n.startsWith(`${base}.`) && ROTATE_STAMP.test(n.slice(base.length + 1))).sort();
    for (const name of backups.slice(0, Math.max(0, backups.length - (this.maxFiles - 1)))) {
      try {
        fs.rmSync(path.join(dir, name));
      } catch (e) {
        this.error(`Unable to remove backup log file ${JSON.stringify(name)} (${(e as Error).message}), will attempt next rotation`);
        return;
      }
      this.info(`Purged log file ${JSON.stringify(name)}`);
    }
  }

  private rotate(): void {
    const file = this.file!;
    this.rotating = true;
    try {
      let stampMs = this.now();
      let backup = `${file}.${formatRotateStamp(stampMs)}`;
      while (fs.existsSync(backup)) {
        stampMs += 0.001; // next microsecond
        backup = `${file}.${formatRotateStamp(stampMs)}`;
      }
      this.closeFd();
      try {
        fs.renameSync(file, backup);
      } catch (e) {
        this.openFile();
        this.error(`Failed to rotate log file: ${(e as Error).message}`);
        return;
      }
      this.openFile();
      this.info(`Rotated log, backup saved as ${JSON.stringify(backup)}`);
      if (this.maxFiles > 0) this.purgeBackups(file);
    } finally {
      this.rotating = false;
    }
  }
}
