// How tsnats shows things: natscli-style "Label: value" blocks (Columns), rounded tables,
// and indented JSON for --json. Colour is never used, so output is the same in a terminal,
// a pipe or a test.
import Table from "cli-table3";
import { println, type CliIO } from "./runtime.js";

type Row = { kind: "row"; label: string; value: string } | { kind: "title"; text: string } | { kind: "line"; text: string };

/** A heading, then groups of right-aligned "Label: value" rows (natscli's info layout). */
export class Columns {
  private readonly rows: Row[] = [];

  constructor(private readonly heading = "") {}

  title(text: string): this {
    this.rows.push({ kind: "title", text });
    return this;
  }

  /** A row; undefined values are skipped so optional fields need no if. */
  field(label: string, value: string | number | boolean | undefined): this {
    if (value === undefined) return this;
    this.rows.push({ kind: "row", label, value: String(value) });
    return this;
  }

  /** A row only when `cond` holds. */
  fieldIf(cond: unknown, label: string, value: string | number | boolean | undefined): this {
    return cond ? this.field(label, value) : this;
  }

  line(text = ""): this {
    this.rows.push({ kind: "line", text });
    return this;
  }

  render(): string {
    const out: string[] = [];
    if (this.heading) out.push(this.heading, "");
    // Labels are right-aligned to the longest one in the whole block, as natscli does.
    let longest = 0;
    for (const r of this.rows) if (r.kind === "row") longest = Math.max(longest, r.label.length);
    let prev: Row["kind"] | undefined;
    this.rows.forEach((r) => {
      if (r.kind === "title") {
        if (prev !== undefined && out[out.length - 1] !== "") out.push("");
        out.push(`${r.text}:`, "");
      } else if (r.kind === "row") {
        out.push(`${" ".repeat(longest - r.label.length + 2)}${r.label}: ${r.value}`);
      } else {
        out.push(r.text);
      }
      prev = r.kind;
    });
    return out.join("\n") + "\n";
  }

  print(io: CliIO): void {
    io.stdout.write(this.render());
  }
}

const ROUNDED = {
  top: "─",
  "top-mid": "┬",
  "top-left": "╭",
  "top-right": "╮",
  bottom: "─",
  "bottom-mid": "┴",
  "bottom-left": "╰",
  "bottom-right": "╯",
  left: "│",
  "left-mid": "├",
  mid: "─",
  "mid-mid": "┼",
  right: "│",
  "right-mid": "┤",
  middle: "│",
};

/** A rounded table with an optional title row, like natscli's list and report tables. */
export function renderTable(headers: string[], rows: (string | number)[][], title?: string, footer?: (string | number)[]): string {
  const draw = (head: string[]): string[] => {
    const t = new Table({ head, chars: ROUNDED, style: { head: [], border: [], compact: true } });
    for (const r of rows) t.push(r.map((c) => String(c)));
    if (footer) t.push(footer.map((c) => String(c)));
    return t.toString().split("\n");
  };
  // Compact mode draws: top, header, header separator, rows..., bottom.
  let lines = draw(headers);
  if (title && title.length + 2 > lines[0].length - 2 && headers.length > 0) {
    // Widen the last column so the title fits.
    const extra = title.length + 2 - (lines[0].length - 2);
    lines = draw([...headers.slice(0, -1), headers[headers.length - 1] + " ".repeat(extra)]);
  }
  const top = lines[0];
  if (footer) {
    const sep = "├" + top.slice(1, -1).replaceAll("┬", "┼") + "┤";
    lines.splice(lines.length - 2, 0, sep);
  }
  if (title) {
    const inner = top.length - 2;
    const pad = Math.max(0, inner - title.length);
    const left = Math.floor(pad / 2);
    lines[0] = "├" + top.slice(1, -1) + "┤";
    lines.unshift("╭" + "─".repeat(inner) + "╮", "│" + " ".repeat(left) + title + " ".repeat(pad - left) + "│");
  }
  return lines.join("\n") + "\n";
}

export function printTable(io: CliIO, headers: string[], rows: (string | number)[][], title?: string, footer?: (string | number)[]): void {
  io.stdout.write(renderTable(headers, rows, title, footer));
}

/** Indented JSON, the format of every --json output. */
export function printJson(io: CliIO, value: unknown): void {
  println(io, JSON.stringify(value, null, 2));
}

/** Text (a message payload) printed as is, with a trailing newline added only when missing. */
export function printPayload(io: CliIO, data: Uint8Array): void {
  io.stdout.write(data);
  if (data.length === 0 || data[data.length - 1] !== 0x0a) io.stdout.write("\n");
}

/** Headers in "Key: value" lines, the way natscli prints them above a message body. */
export function printHeaders(io: CliIO, hdrs: { keys(): string[]; values(k: string): string[] } | undefined): boolean {
  if (!hdrs) return false;
  const keys = hdrs.keys();
  if (keys.length === 0) return false;
  for (const k of keys) for (const v of hdrs.values(k)) println(io, `${k}: ${v}`);
  return true;
}

/** A message as natscli shows it: headers, a blank line, the body ("nil body" when empty), a blank line. */
export function printMessage(io: CliIO, hdrs: Parameters<typeof printHeaders>[1], data: Uint8Array, headersOnly = false): void {
  if (printHeaders(io, hdrs)) println(io);
  if (headersOnly) return;
  if (data.length === 0) println(io, "nil body");
  else printPayload(io, data);
  println(io);
}

/** JetStream delivery metadata from an ack reply subject ($JS.ACK.<stream>.<consumer>...). */
export interface JsDelivery {
  stream: string;
  consumer: string;
  delivered: number;
  streamSeq: number;
  consumerSeq: number;
  timestampNs: bigint;
  pending: number;
}

export function parseJsAck(reply: string | undefined): JsDelivery | undefined {
  if (!reply || !reply.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  // v1: $JS.ACK.stream.consumer.delivered.sseq.cseq.ts.pending (9 tokens);
  // v2: $JS.ACK.domain.accounthash.stream.consumer.delivered.sseq.cseq.ts.pending.token (12).
  const o = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (o < 0) return undefined;
  return {
    stream: t[o],
    consumer: t[o + 1],
    delivered: Number(t[o + 2]),
    streamSeq: Number(t[o + 3]),
    consumerSeq: Number(t[o + 4]),
    timestampNs: BigInt(t[o + 5]),
    pending: Number(t[o + 6]),
  };
}
