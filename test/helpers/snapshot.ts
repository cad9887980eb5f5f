// Shared test helper: the client side of stream backups, as the nats CLI does it over the
// JetStream API (no client library has it): take a snapshot (acknowledging every chunk),
// restore one (chunks, then an empty message), and dump a stream for comparisons.
import type { NatsConnection } from "@nats-io/transport-node";

type Json = Record<string, any>;

export interface Snapshot {
  /** The SNAPSHOT API answer (config and state). */
  resp: Json;
  /** The archive as received (S2-compressed). */
  data: Buffer;
  /** Status of the final message, e.g. "204". */
  status: string;
  chunks: number;
  /** Reply subjects of the chunks. */
  replies: string[];
}

export async function takeSnapshot(nc: NatsConnection, stream: string, opts: Json = {}, ack = true): Promise<Snapshot> {
  const inbox = `backup.${stream}.${Math.random().toString(36).slice(2)}`;
  const parts: Buffer[] = [];
  const replies: string[] = [];
  let status = "";
  const done = new Promise<void>((resolve) => {
    const sub = nc.subscribe(inbox, {
      callback: (_err, m) => {
        if (m.data.length === 0) {
          status = `${m.headers?.code ?? ""}${m.headers?.description ? ` ${m.headers.description}` : ""}`;
          sub.unsubscribe();
          resolve();
          return;
        }
        parts.push(Buffer.from(m.data));
        replies.push(m.reply ?? "");
        if (ack && m.reply) m.respond();
      },
    });
  });
  await nc.flush();
  const r = await nc.request(`$JS.API.STREAM.SNAPSHOT.${stream}`, JSON.stringify({ deliver_subject: inbox, ...opts }), { timeout: 10_000 });
  const resp = r.json<Json>();
  if (resp.error !== undefined) return { resp, data: Buffer.alloc(0), status: "", chunks: 0, replies };
  await done;
  return { resp, data: Buffer.concat(parts), status, chunks: parts.length, replies };
}

/**
 * Restore `data` as stream `config.name`; returns the final answer (stream info or error).
 * `firstChunkWaitMs`: for how long the first chunk is sent again while it finds no responder
 * (nats-server 2.15 clusters answer a restore before the chunk subject's interest reaches every
 * server; 0, the default, asks a server to take the chunks at once). A chunk that found no
 * responder was not delivered, so sending it again loses and doubles nothing.
 */
export async function restoreSnapshot(nc: NatsConnection, config: Json, data: Buffer, chunkSize = 64 * 1024, state: Json = {}, firstChunkWaitMs = 0): Promise<Json> {
  const r = (await nc.request(`$JS.API.STREAM.RESTORE.${config.name}`, JSON.stringify({ config, state }), { timeout: 10_000 })).json<Json>();
  if (r.error !== undefined) return r;
  return await sendBackup(nc, r.deliver_subject as string, data, chunkSize, firstChunkWaitMs);
}

/** The chunks of a restore sent to the subject its first answer named, then the empty end: the final answer. */
export async function sendBackup(nc: NatsConnection, deliverSubject: string, data: Buffer, chunkSize = 64 * 1024, firstChunkWaitMs = 0): Promise<Json> {
  const deadline = Date.now() + firstChunkWaitMs;
  for (let at = 0; at < data.length; at += chunkSize) {
    let m;
    for (;;) {
      try {
        m = await nc.request(deliverSubject, data.subarray(at, at + chunkSize), { timeout: 10_000 });
        break;
      } catch (err) {
        if (at > 0 || Date.now() > deadline || !/no responders/i.test((err as Error).message)) throw err;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    if (m.data.length > 0) return m.json<Json>();
  }
  return (await nc.request(deliverSubject, new Uint8Array(0), { timeout: 30_000 })).json<Json>();
}

export interface StreamDump {
  state: Json;
  consumers: Json[];
  messages: Array<[number, string, string | null, string | null, string]>;
}

/** State, consumers (delivery and ack state) and every message of a stream. */
export async function dumpStream(nc: NatsConnection, stream: string): Promise<StreamDump> {
  const req = async (subject: string, body: unknown = {}): Promise<Json> => (await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json<Json>();
  const info = await req(`$JS.API.STREAM.INFO.${stream}`);
  const st = info.state as Json;
  const state = {
    messages: st.messages,
    bytes: st.bytes,
    first_seq: st.first_seq,
    last_seq: st.last_seq,
    first_ts: st.first_ts,
    last_ts: st.last_ts,
    num_deleted: st.num_deleted ?? 0,
    num_subjects: st.num_subjects ?? 0,
    consumer_count: st.consumer_count,
  };
  const names = ((await req(`$JS.API.CONSUMER.NAMES.${stream}`)).consumers ?? []) as string[];
  const consumers: Json[] = [];
  for (const name of names.sort()) {
    const c = await req(`$JS.API.CONSUMER.INFO.${stream}.${name}`);
    consumers.push({
      name: c.name,
      durable_name: c.config.durable_name,
      ack_policy: c.config.ack_policy,
      filter_subject: c.config.filter_subject,
      delivered: { consumer_seq: c.delivered.consumer_seq, stream_seq: c.delivered.stream_seq },
      ack_floor: { consumer_seq: c.ack_floor.consumer_seq, stream_seq: c.ack_floor.stream_seq },
      num_ack_pending: c.num_ack_pending,
      num_redelivered: c.num_redelivered,
      num_pending: c.num_pending,
    });
  }
  const messages: StreamDump["messages"] = [];
  for (let seq = st.first_seq; seq > 0 && seq <= st.last_seq; seq++) {
    const g = await req(`$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    if (g.error !== undefined) continue;
    const m = g.message as Json;
    messages.push([m.seq, m.subject, m.hdrs ?? null, m.data ?? null, m.time]);
  }
  return { state, consumers, messages };
}
