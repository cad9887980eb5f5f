// `tsnats counter get|view|increment|decrement|list`: distributed counters (ADR-49, servers
// 2.12+) on a stream with allow_msg_counter and allow_direct. An increment is a publish with
// `Nats-Incr: <signed integer>` whose PubAck carries the new total (`val`); reading is a
// direct get of the subject's last message (`{"val":"<n>"}`, its increment header and, for
// sourced counters, `Nats-Counter-Sources`). Values are arbitrary-precision integers.
import { headers } from "@nats-io/transport-node";
import type { App } from "./app.js";
import type { Session } from "./connection.js";
import { Columns, printJson } from "./output.js";
import { CliError, println } from "./runtime.js";

type Json = Record<string, any>;

/** The counter stream: --stream, or the stream holding the subject; checked to be one. */
async function counterStream(s: Session, subject: string | undefined, stream: string | undefined): Promise<string> {
  const jsm = await s.jsm();
  let name = stream;
  if (!name) {
    if (!subject) throw new CliError("no stream or subject specified");
    name = await jsm.streams.find(subject).catch(() => {
      throw new CliError(`no stream holds subject "${subject}"`, "give --stream NAME");
    });
  }
  const info = await jsm.streams.info(name).catch((err: Error) => {
    throw new CliError(`stream "${name}": ${err.message}`);
  });
  const cfg = info.config as unknown as Json;
  if (!(cfg.allow_msg_counter && cfg.allow_direct)) throw new CliError(`"${name}" is not a valid counter stream`, "a counter stream has allow_msg_counter and allow_direct set");
  return name;
}

/** The subject's last message by direct get, or undefined when the counter has none. */
async function lastOf(s: Session, stream: string, subject: string): Promise<{ value: bigint; incr: string; sources: Json } | undefined> {
  const jsm = await s.jsm();
  const m = await jsm.direct.getMessage(stream, { last_by_subj: subject }).catch((err: Error) => {
    if (/no message found|not found/i.test(err.message)) return null;
    throw new CliError(`reading counter ${subject}: ${err.message}`);
  });
  if (!m) return undefined;
  let value: bigint;
  try {
    value = BigInt((m.json<{ val?: string }>().val ?? "0").trim());
  } catch {
    throw new CliError(`the last message of ${subject} is not a counter value`);
  }
  let sources: Json = {};
  const raw = m.header?.get("Nats-Counter-Sources");
  if (raw) {
    try {
      sources = JSON.parse(raw) as Json;
    } catch {
      sources = {};
    }
  }
  return { value, incr: m.header?.get("Nats-Incr") ?? "", sources };
}

function parseValue(text: string): bigint {
  if (!/^[+-]?\d+$/.test(text.trim())) throw new CliError("invalid value");
  return BigInt(text.trim());
}

export function registerCounter(app: App): void {
  const io = app.io;
  const ctr = app.program.command("counter").alias("ctr").description("Access distributed Counters (streams with allow_msg_counter, servers 2.12+)");

  ctr
    .command("get <subject>")
    .alias("g")
    .description("Gets the current value for a counter")
    .option("--stream <stream>", "The stream name to fetch the value from")
    .action(
      app.action<{ stream?: string }>(async ({ session, opts }, subject: string) => {
        const stream = await counterStream(session, subject, opts.stream);
        const last = await lastOf(session, stream, subject);
        if (!last) throw new CliError(`no counter found for ${subject}`);
        println(io, last.value.toString());
      }),
    );

  ctr
    .command("view <subject>")
    .alias("v")
    .description("View the full counter metadata")
    .option("--stream <stream>", "The stream name to fetch the value from")
    .action(
      app.action<{ stream?: string }>(async ({ session, opts }, subject: string) => {
        const stream = await counterStream(session, subject, opts.stream);
        const last = await lastOf(session, stream, subject);
        if (!last) throw new CliError(`no counter found for ${subject}`);
        const cols = new Columns(`Counter ${subject}`);
        cols.field("Value", last.value.toString());
        cols.field("Increment", last.incr);
        cols.field("Subject", subject);
        const sources = Object.entries(last.sources);
        if (sources.length === 0) cols.line("No source information found");
        else {
          cols.title("Sources");
          for (const [src, subjects] of sources) {
            for (const [subj, v] of Object.entries(subjects as Record<string, string>)) cols.field(`${src} ${subj}`, String(v));
          }
        }
        cols.print(io);
      }),
    );

  for (const [name, aliases, sign] of [
    ["increment", ["incr", "inc", "i"], 1n],
    ["decrement", ["decr", "dec", "d"], -1n],
  ] as const) {
    ctr
      .command(`${name} <subject> <value>`)
      .aliases([...aliases])
      .description(`${sign > 0 ? "Increment" : "Decrement"} the value of a counter`)
      .option("--stream <stream>", "The stream holding the counter")
      .action(
        app.action<{ stream?: string }>(async ({ session, opts }, subject: string, valueText: string) => {
          const delta = parseValue(valueText) * sign;
          await counterStream(session, subject, opts.stream);
          const nc = await session.nc();
          const h = headers();
          h.set("Nats-Incr", delta.toString());
          const m = await nc.request(subject, new Uint8Array(0), { headers: h, timeout: session.timeoutMs }).catch((err: Error) => {
            throw new CliError(`increment failed: ${err.message}`);
          });
          const ack = m.json<Json>();
          if (ack.error) throw new CliError(`increment failed: ${ack.error.description} (${ack.error.err_code})`);
          println(io, String(ack.val ?? ""));
        }),
      );
  }

  ctr
    .command("list [subject]")
    .aliases(["l", "ls"])
    .description("List Counters in a stream")
    .option("--stream <stream>", "The stream name to list counters of")
    .option("--json", "Produce JSON output")
    .action(
      app.action<{ stream?: string; json?: boolean }>(async ({ session, opts }, subject?: string) => {
        if (!opts.stream && !subject) throw new CliError("no stream or subject specified");
        const stream = await counterStream(session, subject, opts.stream);
        const jsm = await session.jsm();
        const info = await jsm.streams.info(stream, { subjects_filter: subject ?? ">" });
        const subjects = Object.keys(info.state.subjects ?? {}).sort();
        if (subjects.length === 0) throw new CliError("no counters found");
        if (opts.json) return printJson(io, subjects);
        for (const s of subjects) println(io, s);
      }),
    );
}
