// The logging surface the server core needs; `Logger` (logger.ts) implements it.
export interface Log {
  readonly debugEnabled: boolean;
  readonly traceEnabled: boolean;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  fatal(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
}
