// Raw JetStream API requests for the calls where nats.js would get in the way: it refuses
// settings (metadata, compression, priority groups, ...) when the server's advertised version
// predates them, while the CLI should send what the user asked and let the server decide,
// as natscli does. Used for stream/consumer create and update and a few newer APIs.
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import type { Session } from "./connection.js";
import { explainApiError } from "./stream_cmd.js";
import { CliError } from "./runtime.js";

/** Send `body` to $JS.API.<subject>; returns the response, or throws the API error explained. */
export async function jsRequest<T>(s: Session, subject: string, body: unknown, what: { stream?: string; consumer?: string } = {}): Promise<T> {
  const nc = await s.nc();
  let text: string;
  try {
    const m = await nc.request(`${s.jsApiPrefix()}.${subject}`, body === undefined ? "" : JSON.stringify(body), { timeout: s.timeoutMs });
    text = new TextDecoder().decode(m.data);
  } catch (err) {
    const msg = (err as Error).message;
    if (/no responders|503/i.test(msg)) throw new CliError("JetStream is not available: no responders", "start the server with JetStream (-js), enable it for this account, or check --js-domain");
    throw explainApiError(err, what);
  }
  let doc: T & { type?: string; error?: { code: number; err_code?: number; description?: string } };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CliError(`unexpected JetStream API response: ${text.slice(0, 200)}`);
  }
  if (doc.error) {
    const e = Object.assign(new Error(doc.error.description ?? `error ${doc.error.code}`), { api_error: doc.error });
    throw explainApiError(e, what);
  }
  delete doc.type;
  return doc;
}

/** Create (or update) a stream with exactly this configuration. */
export function putStream(s: Session, cfg: Record<string, unknown>, update: boolean): Promise<StreamInfo> {
  const name = String(cfg.name ?? "");
  if (!/^[^.*>\s]+$/.test(name)) throw new CliError(`invalid stream name "${name}"`, "names may not contain spaces, '.', '*' or '>'");
  return jsRequest<StreamInfo>(s, `STREAM.${update ? "UPDATE" : "CREATE"}.${name}`, cfg, { stream: name });
}

/** Create (or update) a consumer with the 2.9+ API: CONSUMER.CREATE.<stream>[.<name>]. */
export function putConsumer(s: Session, stream: string, cfg: Record<string, unknown>, update: boolean): Promise<ConsumerInfo> {
  const name = (cfg.durable_name ?? cfg.name) as string | undefined;
  const subject = name ? `CONSUMER.CREATE.${stream}.${name}` : `CONSUMER.CREATE.${stream}`;
  // No action on create: the server creates, or accepts an identical existing consumer.
  return jsRequest<ConsumerInfo>(s, subject, { stream_name: stream, config: cfg, ...(update ? { action: "update" } : {}) }, { stream, consumer: name });
}
