// --trace: every API request the CLI makes (JetStream, KV/Object Store through JetStream,
// $SYS services) and its answer, logged on stderr the way natscli's --trace logs them:
// ">>> subject" and the request body, then "<<< subject" and the response body (or the
// error). The connection's request method is wrapped, so requests nats.js' JetStream manager
// makes are traced with the CLI's own.
import type { NatsConnection, Payload, RequestOptions, Msg } from "@nats-io/transport-node";
import { logf, type CliIO } from "./runtime.js";

const dec = new TextDecoder();

function payloadText(p: Payload | undefined): string {
  if (p === undefined || p === null) return "";
  return typeof p === "string" ? p : dec.decode(p);
}

/** Log a request going out (">>> subject", then its headers and body). */
export function traceOut(io: CliIO, subject: string, body: string, headers?: { keys(): string[]; values(k: string): string[] }): void {
  logf(io, `>>> ${subject}`);
  for (const k of headers?.keys() ?? []) for (const v of headers!.values(k)) logf(io, `>>> Header: ${k}: ${v}`);
  logf(io, body);
}

/** Log an answer ("<<< subject" and the body) or a failure ("<<< subject: error"). */
export function traceIn(io: CliIO, subject: string, body: string | Error): void {
  if (body instanceof Error) logf(io, `<<< ${subject}: ${body.message}\n`);
  else logf(io, `<<< ${subject}\n${body}\n`);
}

/** Wrap `nc.request` so every request/response pair is logged. */
export function traceRequests(nc: NatsConnection, io: CliIO): void {
  const request = nc.request.bind(nc);
  nc.request = async (subject: string, payload?: Payload, opts?: RequestOptions): Promise<Msg> => {
    traceOut(io, subject, payloadText(payload), opts?.headers);
    try {
      const m = await request(subject, payload, opts);
      traceIn(io, subject, dec.decode(m.data));
      return m;
    } catch (err) {
      traceIn(io, subject, err as Error);
      throw err;
    }
  };
}
