// A JSON reader that fails the way Go's encoding/json decoder does, so JetStream API errors
// carry nats-server's texts ("invalid character '}' after object key at offset 23",
// "unexpected EOF", "number 1.5 into ... of type int"). It keeps what JSON.parse loses and
// Go's messages need: each value's raw text (number literals are quoted verbatim) and the
// byte offset of a syntax error. Used for API requests only (small, not on a hot path).

export type GoNode =
  | { kind: "object"; raw: string; entries: Array<[string, GoNode]> }
  | { kind: "array"; raw: string; items: GoNode[] }
  | { kind: "string"; raw: string; value: string }
  | { kind: "number"; raw: string }
  | { kind: "bool"; raw: string; value: boolean }
  | { kind: "null"; raw: string };

/** A syntax error with Go's text (the offset suffix is nats-server's). */
export class GoJsonSyntaxError extends Error {}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Go's quoteChar: how a byte is shown in "invalid character ..." messages. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  const named: Record<number, string> = { 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0c: "\\f", 0x07: "\\a", 0x0b: "\\v", 0x00: "\\x00" };
  if (named[c] !== undefined) return `'${named[c]}'`;
  return `'\\x${c.toString(16).padStart(2, "0")}'`;
}

class Reader {
  private i = 0;
  /**
   * `decoder`: nats-server's json.Decoder loop (offsets appended, "unexpected EOF");
   * otherwise json.Unmarshal of one value (no offsets, "unexpected end of JSON input").
   */
  constructor(
    private readonly b: Buffer,
    private readonly decoder: boolean,
  ) {}

  private fail(msg: string, at: number): never {
    throw new GoJsonSyntaxError(this.decoder ? `${msg} at offset ${at + 1}` : msg);
  }

  private eof(): never {
    throw new GoJsonSyntaxError(this.decoder ? "unexpected EOF" : "unexpected end of JSON input");
  }

  /** json.Unmarshal: exactly one value, then only whitespace. */
  only(): GoNode {
    const v = this.next();
    if (v === undefined) this.eof();
    this.skipWs();
    if (this.i < this.b.length) this.fail(`invalid character ${quoteChar(this.b[this.i])} after top-level value`, this.i);
    return v;
  }

  private skipWs(): void {
    while (this.i < this.b.length && WS.has(this.b[this.i])) this.i++;
  }

  /** Next top-level value, or undefined at the end of input. */
  next(): GoNode | undefined {
    this.skipWs();
    if (this.i >= this.b.length) return undefined;
    return this.value();
  }

  private value(): GoNode {
    this.skipWs();
    if (this.i >= this.b.length) this.eof();
    const c = this.b[this.i];
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x22) {
      const start = this.i;
      const value = this.string();
      return { kind: "string", raw: this.b.toString("utf8", start, this.i), value };
    }
    if (c === 0x74) return this.literal("true", { kind: "bool", raw: "true", value: true });
    if (c === 0x66) return this.literal("false", { kind: "bool", raw: "false", value: false });
    if (c === 0x6e) return this.literal("null", { kind: "null", raw: "null" });
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    this.fail(`invalid character ${quoteChar(c)} looking for beginning of value`, this.i);
  }

  private literal(word: string, node: GoNode): GoNode {
    for (let k = 1; k < word.length; k++) {
      const at = this.i + k;
      if (at >= this.b.length) this.eof();
      if (this.b[at] !== word.charCodeAt(k)) this.fail(`invalid character ${quoteChar(this.b[at])} in literal ${word} (expecting '${word[k]}')`, at);
    }
    this.i += word.length;
    return node;
  }

  private digitAt(at: number): boolean {
    const c = this.b[at];
    return c !== undefined && c >= 0x30 && c <= 0x39;
  }

  private number(): GoNode {
    const start = this.i;
    const need = (): void => {
      if (this.i >= this.b.length) this.eof();
      if (!this.digitAt(this.i)) this.fail(`invalid character ${quoteChar(this.b[this.i])} in numeric literal`, this.i);
    };
    if (this.b[this.i] === 0x2d) {
      this.i++;
      need();
    }
    // A leading zero ends the integer part ("01" is 0 followed by an unexpected 1).
    if (this.b[this.i] === 0x30) this.i++;
    else while (this.digitAt(this.i)) this.i++;
    if (this.b[this.i] === 0x2e) {
      this.i++;
      need();
      while (this.digitAt(this.i)) this.i++;
    }
    if (this.b[this.i] === 0x65 || this.b[this.i] === 0x45) {
      this.i++;
      if (this.b[this.i] === 0x2b || this.b[this.i] === 0x2d) this.i++;
      need();
      while (this.digitAt(this.i)) this.i++;
    }
    // The number may be the last thing in the input only at the top level; the caller checks.
    return { kind: "number", raw: this.b.toString("latin1", start, this.i) };
  }

  private string(): string {
    const b = this.b;
    this.i++; // opening quote
    let out = "";
    let runStart = this.i;
    for (;;) {
      if (this.i >= b.length) this.eof();
      const c = b[this.i];
      if (c === 0x22) {
        out += b.toString("utf8", runStart, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail(`invalid character ${quoteChar(c)} in string literal`, this.i);
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += b.toString("utf8", runStart, this.i);
      const esc = this.i;
      if (esc + 1 >= b.length) this.eof();
      const e = b[esc + 1];
      const simple: Record<number, string> = { 0x22: '"', 0x5c: "\\", 0x2f: "/", 0x62: "\b", 0x66: "\f", 0x6e: "\n", 0x72: "\r", 0x74: "\t" };
      if (simple[e] !== undefined) {
        out += simple[e];
        this.i = esc + 2;
      } else if (e === 0x75) {
        if (esc + 6 > b.length) this.eof();
        const hex = b.toString("latin1", esc + 2, esc + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`invalid escape sequence \`${b.toString("utf8", esc, esc + 6)}\` in string`, esc + 5);
        out += String.fromCharCode(parseInt(hex, 16));
        this.i = esc + 6;
      } else {
        this.fail(`invalid escape sequence \`${b.toString("utf8", esc, esc + 2)}\` in string`, esc + 1);
      }
      runStart = this.i;
    }
  }

  private object(): GoNode {
    const start = this.i;
    this.i++;
    const entries: Array<[string, GoNode]> = [];
    this.skipWs();
    if (this.i >= this.b.length) this.eof();
    if (this.b[this.i] === 0x7d) {
      this.i++;
      return { kind: "object", raw: this.b.toString("utf8", start, this.i), entries };
    }
    for (;;) {
      this.skipWs();
      if (this.i >= this.b.length) this.eof();
      if (this.b[this.i] !== 0x22) this.fail(`invalid character ${quoteChar(this.b[this.i])} looking for beginning of object key string`, this.i);
      const key = this.string();
      this.skipWs();
      if (this.i >= this.b.length) this.eof();
      if (this.b[this.i] !== 0x3a) this.fail(`invalid character ${quoteChar(this.b[this.i])} after object key`, this.i);
      this.i++;
      entries.push([key, this.value()]);
      this.skipWs();
      if (this.i >= this.b.length) this.eof();
      const c = this.b[this.i];
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return { kind: "object", raw: this.b.toString("utf8", start, this.i), entries };
      }
      this.fail(`invalid character ${quoteChar(c)} after object key:value pair`, this.i);
    }
  }

  private array(): GoNode {
    const start = this.i;
    this.i++;
    const items: GoNode[] = [];
    this.skipWs();
    if (this.i >= this.b.length) this.eof();
    if (this.b[this.i] === 0x5d) {
      this.i++;
      return { kind: "array", raw: this.b.toString("utf8", start, this.i), items };
    }
    for (;;) {
      items.push(this.value());
      this.skipWs();
      if (this.i >= this.b.length) this.eof();
      const c = this.b[this.i];
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x5d) {
        this.i++;
        return { kind: "array", raw: this.b.toString("utf8", start, this.i), items };
      }
      this.fail(`invalid character ${quoteChar(c)} after array element`, this.i);
    }
  }
}

/**
 * The values of a request body in order, read as nats-server's decoder loop does (one
 * value after another until the input ends). Throws GoJsonSyntaxError on the first problem.
 */
export function readGoJsonValues(body: Buffer): GoNode[] {
  const r = new Reader(body, true);
  const out: GoNode[] = [];
  for (;;) {
    const v = r.next();
    if (v === undefined) return out;
    out.push(v);
  }
}

/** The one value of `body`, read as json.Unmarshal reads it. Throws GoJsonSyntaxError. */
export function readGoJsonValue(body: Buffer): GoNode {
  return new Reader(body, false).only();
}

/** Go's json.Unmarshal syntax error for `text`, when there is one. */
export function goJsonSyntaxError(text: string): string | undefined {
  try {
    readGoJsonValue(Buffer.from(text));
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) return err.message;
  }
  return undefined;
}

/** How Go's encoding/json names a decoded value's kind in its errors ("cannot unmarshal <kind> into ..."). */
export function goJsonKind(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return v === null || typeof v === "object" ? "object" : typeof v;
}

/** A node as a plain JavaScript value (numbers through Number()). */
export function plainValue(n: GoNode): unknown {
  switch (n.kind) {
    case "object":
      return Object.fromEntries(n.entries.map(([k, v]) => [k, plainValue(v)]));
    case "array":
      return n.items.map(plainValue);
    case "string":
    case "bool":
      return n.value;
    case "number":
      return Number(n.raw);
    case "null":
      return null;
  }
}
