// `tsnats events`: system events (connect, disconnect, auth errors, server advisories) and
// JetStream advisories and metrics, one readable line each (or the JSON with --json),
// like natscli's `nats events`.
import type { Msg } from "@nats-io/transport-node";
import { App, collect } from "./app.js";
import { aborted, CliError, println, type CliIO } from "./runtime.js";
import { DeliverPolicy } from "@nats-io/jetstream";
import { api } from "./stream_cmd.js";
import { fmtBytes, fmtNanos, parseDurationMs, parseInteger } from "./units.js";

type Ev = Record<string, any>;

function clock(ts: string | undefined): string {
  const d = ts ? new Date(ts) : new Date();
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function client(c: Ev | undefined): string {
  if (!c) return "";
  const who = [c.user ? `user: ${c.user}` : "", c.name ? `name: ${c.name}` : "", c.lang ? `lang: ${c.lang} ${c.ver ?? ""}`.trim() : "", c.host ? `host: ${c.host}` : ""].filter((x) => x);
  return `cid: ${c.id}${c.acc ? ` in account ${c.acc}` : ""}${who.length ? ` (${who.join(", ")})` : ""}`;
}

/** One line for an event; natscli shows similar short summaries per event type. */
export function describeEvent(subject: string, ev: Ev): string {
  const type = String(ev.type ?? "");
  const t = `[${clock(ev.timestamp ?? ev.now ?? ev.server?.time)}]`;
  switch (type) {
    case "io.nats.server.advisory.v1.client_connect":
      return `${t} [Connection] ${client(ev.client)} connected to ${ev.server?.name ?? ""}`;
    case "io.nats.server.advisory.v1.client_disconnect":
      return `${t} [Disconnection] ${client(ev.client)} from ${ev.server?.name ?? ""}: ${ev.reason ?? ""} (sent ${ev.sent?.msgs ?? 0} msgs, received ${ev.received?.msgs ?? 0} msgs)`;
    case "io.nats.server.advisory.v1.client_auth":
      return `${t} [Auth Error] ${client(ev.client)} on ${ev.server?.name ?? ""}: ${ev.reason ?? ""}`;
    case "io.nats.server.advisory.v1.account_connections":
      return `${t} [Account Connections] ${ev.acc}: ${ev.conns} connections, ${ev.leafnodes ?? 0} leafnodes, ${ev.num_subscriptions ?? 0} subscriptions`;
    case "io.nats.jetstream.advisory.v1.api_audit":
      return `${t} [JetStream API] ${ev.subject} from ${ev.client?.acc ?? "?"}${ev.response && /"error"/.test(ev.response) ? ` error: ${ev.response}` : ""}`;
    case "io.nats.jetstream.advisory.v1.stream_action":
      return `${t} [Stream ${ev.action}] ${ev.stream}`;
    case "io.nats.jetstream.advisory.v1.consumer_action":
      return `${t} [Consumer ${ev.action}] ${ev.stream} > ${ev.consumer}`;
    case "io.nats.jetstream.advisory.v1.max_deliver":
      return `${t} [Max Deliveries] ${ev.stream} > ${ev.consumer}: message ${ev.stream_seq} delivered ${ev.deliveries} times`;
    case "io.nats.jetstream.advisory.v1.nak":
      return `${t} [Nak] ${ev.stream} > ${ev.consumer}: message ${ev.stream_seq} (${ev.deliveries} deliveries)`;
    case "io.nats.jetstream.advisory.v1.terminated":
      return `${t} [Terminated] ${ev.stream} > ${ev.consumer}: message ${ev.stream_seq}${ev.reason ? `: ${ev.reason}` : ""}`;
    case "io.nats.jetstream.metric.v1.consumer_ack":
      return `${t} [Ack Sample] ${ev.stream} > ${ev.consumer}: message ${ev.stream_seq} acked after ${fmtNanos(ev.ack_time)} (${ev.deliveries} deliveries)`;
    case "io.nats.jetstream.advisory.v1.stream_leader_elected":
    case "io.nats.jetstream.advisory.v1.consumer_leader_elected":
      return `${t} [Leader Elected] ${ev.stream}${ev.consumer ? ` > ${ev.consumer}` : ""}: ${ev.leader}`;
    case "io.nats.jetstream.advisory.v1.stream_quorum_lost":
    case "io.nats.jetstream.advisory.v1.consumer_quorum_lost":
      return `${t} [Quorum Lost] ${ev.stream}${ev.consumer ? ` > ${ev.consumer}` : ""}`;
    case "io.nats.jetstream.advisory.v1.snapshot_create":
      return `${t} [Snapshot Started] ${ev.stream}: ${fmtBytes(ev.state?.bytes ?? 0)} in ${ev.state?.messages ?? 0} messages`;
    case "io.nats.jetstream.advisory.v1.snapshot_complete":
      return `${t} [Snapshot Completed] ${ev.stream}`;
    case "io.nats.jetstream.advisory.v1.restore_create":
      return `${t} [Restore Started] ${ev.stream}`;
    case "io.nats.jetstream.advisory.v1.restore_complete":
      return `${t} [Restore Completed] ${ev.stream}: ${fmtBytes(ev.bytes ?? 0)}`;
    case "io.nats.jetstream.advisory.v1.consumer_pause":
      return `${t} [Consumer ${ev.paused ? "Paused" : "Resumed"}] ${ev.stream} > ${ev.consumer}${ev.paused && ev.pause_until ? ` until ${ev.pause_until}` : ""}`;
    default: {
      const keys = Object.entries(ev)
        .filter(([k, v]) => !["type", "id", "timestamp", "server"].includes(k) && (typeof v !== "object" || v === null))
        .slice(0, 6)
        .map(([k, v]) => `${k}: ${v}`);
      return `${t} [${type || subject}] ${keys.join(", ")}`;
    }
  }
}

export function registerEvents(app: App): void {
  const io: CliIO = app.io;
  app.program
    .command("events")
    .aliases(["event", "e"])
    .description("Show Advisories and Events (system events need a system account user)")
    .option("-a, --all", "Show all events")
    .option("-j, --json", "Produce JSON output")
    .option("--short", "Short event format (type and subject)")
    .option("--filter <regex>", "Filter across the entire event using regular expressions", ".")
    .option("--js-metric", "Shows JetStream metric events")
    .option("--js-advisory", "Shows JetStream advisory events")
    .option("--srv-advisory", "Shows NATS Server advisories (default)", true)
    .option("--no-srv-advisory", "Hides NATS Server advisories")
    .option("--subjects <subject>", "Show Advisories and Metrics received on specific subjects (repeatable)", collect)
    .option("--stream <stream>", "Reads events from a Stream only")
    .option("--since <duration>", "When reading a Stream reads from a certain duration ago")
    .option("--count <n>", "Stop after this many events")
    .action(
      app.action<{ all?: boolean; json?: boolean; short?: boolean; filter: string; jsMetric?: boolean; jsAdvisory?: boolean; srvAdvisory: boolean; subjects?: string[]; count?: string; stream?: string; since?: string }>(async ({ session, opts }) => {
        const limit = opts.count ? parseInteger(opts.count, "--count", 1) : 0;
        let filter: RegExp;
        try {
          filter = new RegExp(opts.filter);
        } catch (err) {
          throw new CliError(`invalid --filter: ${(err as Error).message}`);
        }
        const ev = session.jsEventPrefix();
        const picked = opts.all || opts.jsAdvisory || opts.jsMetric || (opts.subjects?.length ?? 0) > 0;
        if (opts.stream && picked) throw new CliError("cannot specify both Stream and specific advisories or extra subjects");
        if (opts.since && !opts.stream) throw new CliError("--since reads a stream", "add --stream STREAM (a stream that stores events)");
        const subjects: [string, string][] = [];
        if (opts.all || opts.jsAdvisory) subjects.push([`${ev}.ADVISORY.>`, "JetStream Advisories"]);
        if (opts.all || opts.jsMetric) subjects.push([`${ev}.METRIC.>`, "JetStream Metrics"]);
        if (opts.all || opts.srvAdvisory) {
          subjects.push(["$SYS.ACCOUNT.*.CONNECT", "Client Connection events"], ["$SYS.ACCOUNT.*.DISCONNECT", "Client Disconnection events"], ["$SYS.SERVER.*.CLIENT.AUTH.ERR", "Authentication Errors events"]);
        }
        for (const s of opts.subjects ?? []) subjects.push([s, "events"]);
        if (subjects.length === 0 && !opts.stream) throw new CliError("nothing to listen for", "add --js-advisory, --js-metric, --all or --subjects SUBJECT");
        const nc = await session.nc();
        let seen = 0;
        let finish!: () => void;
        const finished = new Promise<void>((r) => (finish = r));
        const show = (m: Msg): void => {
          const text = new TextDecoder().decode(m.data);
          if (!filter.test(text)) return;
          if (opts.json) println(io, text);
          else {
            let doc: Ev;
            try {
              doc = JSON.parse(text) as Ev;
            } catch {
              return void println(io, `[${clock(undefined)}] [${m.subject}] ${text}`);
            }
            println(io, opts.short ? `[${clock(doc.timestamp)}] ${doc.type ?? "event"} on ${m.subject}` : describeEvent(m.subject, doc));
          }
          if (limit > 0 && ++seen >= limit) finish();
        };
        if (opts.stream) {
          // Events a stream stored (an ordered consumer from the start, or from --since ago).
          const js = await session.js();
          const start = opts.since ? new Date(Date.now() - parseDurationMs(opts.since, "--since")) : undefined;
          if (!opts.json) io.stderr.write(`Listening for Events in stream ${opts.stream}${start ? ` since ${start.toISOString()}` : ""}\n`);
          const c = await api(() => js.consumers.get(opts.stream!, start ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.toISOString() } : {}), { stream: opts.stream });
          const msgs = await c.consume();
          void (async () => {
            for await (const m of msgs) show(m as unknown as Msg);
          })().catch(() => undefined);
          await Promise.race([finished, aborted(io)]);
          await msgs.close().catch(() => undefined);
          return;
        }
        const subs = subjects.map(([s, label]) => {
          if (!opts.json) io.stderr.write(`Listening for ${label} on ${s}\n`);
          return nc.subscribe(s, { callback: (_e, m) => show(m) });
        });
        await nc.flush();
        await Promise.race([finished, aborted(io)]);
        for (const s of subs) s.unsubscribe();
      }),
    );
}
