// The logging surface the server core needs; `Logger` (logger.ts) implements it.
import type { ServerOptions } from "../config/options.js";

export interface Log {
  readonly debugEnabled: boolean;
  readonly traceEnabled: boolean;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  fatal(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  /** Apply reloaded logging options (debug, trace...); loggers that can't change ignore it. */
  setOptions?(o: Pick<ServerOptions, "debug" | "trace" | "traceVerbose" | "logtime">): void;
}
