// Which failed attempts to connect a route, gateway or leaf node are logged as errors (the
// others at debug level), as nats-server decides it: the first attempt always, then every
// `connect_error_reports`-th one while the endpoint was never reached (default 3600, about an
// hour at one attempt a second), every `reconnect_error_reports`-th one after it was (default 1).
import type { ServerOptions } from "../config/options.js";

export const DEFAULT_CONNECT_ERROR_REPORTS = 3600;
export const DEFAULT_RECONNECT_ERROR_REPORTS = 1;

export type ConnectReportOptions = Pick<ServerOptions, "connectErrorReports" | "reconnectErrorReports">;

export function shouldReportConnectError(options: ConnectReportOptions, firstConnect: boolean, attempts: number): boolean {
  if (attempts === 1) return true;
  // 0 (or unset) means the default, as nats-server's option defaults do.
  const every = firstConnect
    ? options.connectErrorReports || DEFAULT_CONNECT_ERROR_REPORTS
    : options.reconnectErrorReports || DEFAULT_RECONNECT_ERROR_REPORTS;
  return attempts % every === 0;
}
