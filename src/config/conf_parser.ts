// Parser for the nats-server configuration file format.
//
// The result is a plain object tree (maps, arrays, strings, numbers, booleans, Dates).
// Source positions are not stored in the tree itself: they live in a side table keyed by
// the containing object, so callers that want to report "file:line:col" for a key can ask
// `entryMeta(container, key)` while everyone else just walks plain objects.
//
// Behaviour follows nats-server 2.9 (checked against the real binary):
//  - `key: value`, `key = value`, `key value`; keys may be quoted; keys end at whitespace,
//    ':' or '='.
//  - values: `{...}` maps, `[...]` arrays, "double" (escapes \t \n \r \" \\ \xHH),
//    'single' (raw), `(` block strings `)`, `$variables`, and bare tokens.
//  - bare tokens end at whitespace, newline, ',', ';', '}', ']' (so `127.0.0.1:4222`,
//    `nats://h:1`, `a#b` are one token); escapes are processed in them too.
//  - bare tokens become booleans (true/false/yes/no/on/off, any case), integers,
//    integers with size suffixes (k=1000, kb/ki/kib=1024, ... up to e/eb), floats,
//    ISO8601 Zulu datetimes, otherwise strings. Quoted values are always strings.
//  - `#` and `//` comments (only at the start of a token, so `a#b` is a string).
//  - `include path` merges another file (path relative to the including file) into the
//    current map; the included file is parsed on its own and does not see the
//    including file's variables.
//  - `$name` looks the name up in the enclosing maps (innermost first, only keys defined
//    before the reference), then in the environment, whose value is parsed as a config
//    value. `$name` inside quoted strings is not expanded.
//  - the whole file may be wrapped in `{ }`; stray `}` at the top level are ignored.

import { readFileSync } from "node:fs";
import { dirname, join as joinPath, resolve as resolvePath, isAbsolute } from "node:path";

export type ConfValue = string | number | boolean | Date | ConfValue[] | ConfMap;
export interface ConfMap {
  [key: string]: ConfValue;
}

export type ValueKind = "string" | "int" | "float" | "bool" | "date" | "map" | "array";

export interface Position {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
}

/** Side information about one entry (a map key or an array index). */
export interface EntryMeta extends Position {
  /** What the parser produced for the value (distinguishes int from float). */
  kind: ValueKind;
  /** Where the value itself starts (for map entries `line/column` point at the key). */
  valueLine: number;
  valueColumn: number;
  /** The value was written in quotes (or came from a quoted variable). */
  quoted: boolean;
  /** True once some `$name` reference resolved to this entry. */
  usedAsVariable: boolean;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  /**
   * `message` is the text shown: "file:line:col: reason" by default. nats-server names no
   * position for syntax errors ("Parse error on line N: '...'"), variables and includes.
   */
  constructor(file: string, line: number, column: number, reason: string, message = `${file}:${line}:${column}: ${reason}`) {
    super(message);
    this.name = "ConfigError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

/**
 * Several errors in one file (nats-server reports every top-level key that fails, with the
 * warnings first). Located at the first error, so callers that want one position get one.
 */
export class ConfigErrors extends ConfigError {
  readonly errors: ConfigError[];
  readonly warnings: string[];
  constructor(errors: ConfigError[], warnings: string[]) {
    const first = errors[0];
    super(first.file, first.line, first.column, first.reason);
    this.name = "ConfigErrors";
    this.errors = errors;
    this.warnings = warnings;
    this.message = [...warnings, ...errors.map((e) => e.message)].join("\n");
  }
}

const META = new WeakMap<object, Map<string | number, EntryMeta>>();

/** Position and kind of `container[key]` as parsed, if the parser produced it. */
export function entryMeta(container: object, key: string | number): EntryMeta | undefined {
  return META.get(container)?.get(key);
}

function setMeta(container: object, key: string | number, meta: EntryMeta): void {
  let m = META.get(container);
  if (!m) {
    m = new Map();
    META.set(container, m);
  }
  m.set(key, meta);
}

/** Build a ConfigError located at `container[key]` (falls back to `fallback` or `file`). */
export function errorAt(container: object, key: string | number, reason: string, fallback?: Position | string): ConfigError {
  const m = entryMeta(container, key);
  if (m) return new ConfigError(m.file, m.line, m.column, reason);
  if (fallback && typeof fallback === "object") return new ConfigError(fallback.file, fallback.line, fallback.column, reason);
  return new ConfigError(typeof fallback === "string" ? fallback : "<config>", 0, 0, reason);
}

export function kindOf(v: ConfValue): ValueKind {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (v instanceof Date) return "date";
  if (Array.isArray(v)) return "array";
  return "map";
}

export interface ParseOptions {
  /** Environment used for `$VAR` fallback (default: process.env). */
  env?: Record<string, string | undefined>;
}

/** Parse configuration text. `fileName` is used for messages and to resolve includes. */
export function parseConfigString(text: string, fileName = "<config>", opts: ParseOptions = {}): ConfMap {
  const ctx: SharedCtx = { env: opts.env ?? process.env, includeStack: [], envStack: [] };
  if (fileName !== "<config>") ctx.includeStack.push(resolvePath(fileName));
  return new Parser(text, fileName, ctx).parseDocument();
}

/** Read and parse a configuration file. */
export function parseConfigFile(path: string, opts: ParseOptions = {}): ConfMap {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(path, 0, 0, `error opening config file: ${(e as Error).message}`, openError(path, e));
  }
  return parseConfigString(text, path, opts);
}

// ---------------------------------------------------------------------------------------
// Durations (Go's time.ParseDuration), returned in milliseconds.

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // micro sign
  "\u03bcs": 1e3, // greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parse a Go duration ("1h2m3.5s", "500ms", "-1.5h", "0") into milliseconds (may be
 * fractional for sub-millisecond units). A number is taken as seconds.
 * Throws an Error with Go's message (`time: invalid duration "x"`) on bad input.
 */
export function parseDuration(v: string | number): number {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`time: invalid duration "${v}"`);
    return v * 1000;
  }
  const orig = v;
  const quoted = JSON.stringify(orig);
  let s = v;
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration ${quoted}`);
  let totalNs = 0;
  while (s !== "") {
    const c = s[0];
    if (!(c === "." || (c >= "0" && c <= "9"))) throw new Error(`time: invalid duration ${quoted}`);
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const intPart = m[1];
    const fracPart = m[2];
    const hadDot = m[0].includes(".");
    if (intPart === "" && (fracPart === undefined || fracPart === "")) throw new Error(`time: invalid duration ${quoted}`);
    s = s.slice(m[0].length);
    let i = 0;
    while (i < s.length && s[i] !== "." && !(s[i] >= "0" && s[i] <= "9")) i++;
    const unit = s.slice(0, i);
    s = s.slice(i);
    if (unit === "") throw new Error(`time: missing unit in duration ${quoted}`);
    const mult = DURATION_UNITS[unit];
    if (mult === undefined) throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    const num = Number((intPart || "0") + (hadDot && fracPart ? "." + fracPart : ""));
    totalNs += num * mult;
    if (totalNs > 9223372036854775807) throw new Error(`time: invalid duration ${quoted}`);
  }
  const ms = totalNs / 1e6;
  return neg ? -ms : ms;
}

// ---------------------------------------------------------------------------------------
// Parser

interface SharedCtx {
  env: Record<string, string | undefined>;
  includeStack: string[]; // absolute paths of files being parsed (cycle detection)
  envStack: string[]; // env variables being expanded (cycle detection)
}

type Ctx = "top" | "map" | "array";

const SIZE_SUFFIXES: Record<string, number> = {
  k: 1e3,
  kb: 1024,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1024 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
  p: 1e15,
  pb: 1024 ** 5,
  pi: 1024 ** 5,
  pib: 1024 ** 5,
  e: 1e18,
  eb: 1024 ** 6,
  ei: 1024 ** 6,
  eib: 1024 ** 6,
};

const BOOLS: Record<string, boolean> = { true: true, yes: true, on: true, false: false, no: false, off: false };

const MAX_INCLUDE_DEPTH = 32;

/** nats-server's text for a syntax error: the line, not the column, and the reason quoted. */
function parseErrorText(line: number, reason: string): string {
  return `Parse error on line ${line}: '${reason}'`;
}

/** Go's os.Open error text ("open f: no such file or directory"), as nats-server shows it. */
function openError(path: string, e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === "ENOENT" ? "no such file or directory" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory" : err.message;
  return `${err.code === "EISDIR" ? "read" : "open"} ${path}: ${why}`;
}

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v";
}

function isBareTerminator(c: string): boolean {
  return c === "" || c === "\n" || isSpace(c) || c === "," || c === ";" || c === "}" || c === "]";
}

function describeChar(c: string): string {
  if (c === "") return "EOF";
  if (c === "\n") return "new line";
  return `'${c}'`;
}

class Parser {
  private readonly src: string;
  private pos = 0;
  private readonly file: string;
  private readonly dir: string;
  private readonly lineStarts: number[] = [0];
  private readonly scopes: ConfMap[] = [];
  private readonly shared: SharedCtx;
  /** When parsing an environment variable's value, errors are reported at the reference. */
  private readonly envRef?: { name: string; pos: Position };

  constructor(src: string, file: string, shared: SharedCtx, envRef?: { name: string; pos: Position }) {
    this.src = src.charCodeAt(0) === 0xfeff ? src.slice(1) : src;
    this.file = file;
    this.dir = file.startsWith("<") ? process.cwd() : dirname(resolvePath(file));
    this.shared = shared;
    this.envRef = envRef;
    for (let i = 0; i < this.src.length; i++) if (this.src.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  // -- position helpers -----------------------------------------------------------------

  private posAt(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    // nats-server's lexer counts columns from the previous new line: 0-based on a file's
    // first line, 1-based after it. Its errors say so, and so do ours.
    return { file: this.file, line: lo + 1, column: offset - this.lineStarts[lo] + (lo === 0 ? 0 : 1) };
  }

  private fail(reason: string, offset = this.pos): never {
    if (this.envRef) {
      const p = this.envRef.pos;
      const why = `variable reference for '${this.envRef.name}' on line ${p.line} could not be parsed: ${reason}`;
      throw new ConfigError(p.file, p.line, p.column, why, `variable reference for '${this.envRef.name}' on line ${p.line} could not be parsed: ${parseErrorText(this.posAt(offset).line, reason)}`);
    }
    const p = this.posAt(offset);
    throw new ConfigError(p.file, p.line, p.column, reason, parseErrorText(p.line, reason));
  }

  private peek(off = 0): string {
    const i = this.pos + off;
    return i < this.src.length ? this.src[i] : "";
  }

  private atComment(): boolean {
    const c = this.peek();
    return c === "#" || (c === "/" && this.peek(1) === "/");
  }

  private skipSpaces(): void {
    while (isSpace(this.peek())) this.pos++;
  }

  private skipToEol(): void {
    while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
  }

  /** Skip whitespace, newlines and comments. */
  private skipBlank(): void {
    for (;;) {
      const c = this.peek();
      if (isSpace(c) || c === "\n") this.pos++;
      else if (this.atComment()) this.skipToEol();
      else return;
    }
  }

  // -- document / maps --------------------------------------------------------------------

  parseDocument(): ConfMap {
    const root: ConfMap = {};
    this.scopes.push(root);
    this.parseBody(root, "top");
    this.scopes.pop();
    return root;
  }

  /** Parse `key value` entries into `map` until EOF (top) or the closing '}' (map). */
  private parseBody(map: ConfMap, ctx: "top" | "map"): void {
    for (;;) {
      this.skipBlank();
      const c = this.peek();
      if (c === "") {
        if (ctx === "map") this.fail("Unexpected EOF processing map.", this.src.length);
        return;
      }
      if (c === "}") {
        this.pos++;
        if (ctx === "map") return;
        continue; // nats-server ignores stray '}' (and a wrapping '{ }') at the top level
      }
      if (c === "{" && ctx === "top") {
        this.pos++;
        continue;
      }
      if (c === ":" || c === "=") this.fail(`Unexpected key separator '${c}'`);
      if (c === "," || c === ";") this.fail(`Unexpected ${c === "," ? "value terminator ','" : "value terminator ';'"}`);
      this.parseEntry(map, ctx);
    }
  }

  private parseEntry(map: ConfMap, ctx: "top" | "map"): void {
    const keyStart = this.pos;
    let key: string;
    let quotedKey = false;
    const c = this.peek();
    if (c === '"') {
      key = this.readDoubleQuoted();
      quotedKey = true;
    } else if (c === "'") {
      key = this.readSingleQuoted();
      quotedKey = true;
    } else {
      while (this.pos < this.src.length) {
        const ch = this.src[this.pos];
        if (ch === "\n" || isSpace(ch) || ch === ":" || ch === "=") break;
        this.pos++;
      }
      key = this.src.slice(keyStart, this.pos);
    }
    // A quoted key is where its text starts, after the quote (as nats-server reports it).
    const keyPos = this.posAt(quotedKey ? keyStart + 1 : keyStart);

    if (!quotedKey && key === "include" && (isSpace(this.peek()) || this.peek() === "\n" || this.peek() === "")) {
      this.parseInclude(map, ctx);
      return;
    }

    this.skipSpaces();
    const sep = this.peek();
    if (sep === ":" || sep === "=") {
      this.pos++;
      this.skipSpaces();
      const n = this.peek();
      // nats-server's lexer has taken the new line when it complains: the error is on the next line.
      if (n === "\n") this.fail(`Expected value but found ${describeChar(n)}`, this.pos + 1);
    } else {
      // whitespace-separated: the value may even be on a following line
      while (isSpace(this.peek()) || this.peek() === "\n") this.pos++;
      if (this.peek() === "") return; // a lone key at EOF is ignored, as nats-server does
    }

    const valueStart = this.pos;
    const { value, quoted, kind } = this.parseValue(ctx);
    const vp = this.posAt(valueStart);
    map[key] = value;
    setMeta(map, key, {
      ...keyPos,
      kind,
      valueLine: vp.line,
      valueColumn: vp.column,
      quoted,
      usedAsVariable: false,
    });
    this.valueEnd(ctx);
  }

  /** After a value: accept a terminator appropriate to the context. */
  private valueEnd(ctx: Ctx): void {
    this.skipSpaces();
    const c = this.peek();
    // nats-server's lexer reads EOF as a NUL rune where a map or array wants its terminator.
    if (c === "" && ctx !== "top") this.terminatorExpected(ctx, "\0");
    if (c === "" || c === "\n") {
      if (c === "\n") this.pos++;
      return;
    }
    if (this.atComment()) {
      this.skipToEol();
      return;
    }
    if (c === ",") {
      this.pos++;
      return;
    }
    if (c === ";" && ctx !== "array") {
      this.pos++;
      return;
    }
    if (c === "}" && ctx !== "array") return; // parseBody consumes it
    if (c === "]" && ctx === "array") return;
    this.terminatorExpected(ctx, c);
  }

  private terminatorExpected(ctx: Ctx, c: string): never {
    if (ctx === "top") this.fail(`Expected a top-level value to end with a new line, comment or EOF, but got '${c}' instead.`);
    if (ctx === "map") this.fail(`Expected a map value terminator "," or a map terminator "}", but got '${c}' instead.`);
    this.fail(`Expected an array value terminator "," or an array terminator "]", but got '${c}' instead.`);
  }

  // -- values ---------------------------------------------------------------------------

  private parseValue(ctx: Ctx): ParsedValue {
    const c = this.peek();
    switch (c) {
      case "":
        // `key:` at the end of the file: nats-server reads an empty string.
        return { value: "", quoted: false, kind: "string" };
      case "\n":
        this.fail(`Expected value but found ${describeChar(c)}`, this.pos + 1);
      case "{": {
        this.pos++;
        const m: ConfMap = {};
        this.scopes.push(m);
        this.parseBody(m, "map");
        this.scopes.pop();
        return { value: m, quoted: false, kind: "map" };
      }
      case "[":
        return { value: this.parseArray(), quoted: false, kind: "array" };
      case '"':
        return { value: this.readDoubleQuoted(), quoted: true, kind: "string" };
      case "'":
        return { value: this.readSingleQuoted(), quoted: true, kind: "string" };
      case "(":
        return { value: this.readBlock(), quoted: true, kind: "string" };
      case "$":
        return this.readVariable();
      default:
        if (c === "," || c === ";" || c === "}" || c === "]") {
          if (ctx === "array" && c === ",") this.fail("Unexpected array value terminator ','.");
          this.fail(`Expected value but found '${c}'`);
        }
        return this.readBare(ctx);
    }
  }

  private parseArray(): ConfValue[] {
    this.pos++; // '['
    const arr: ConfValue[] = [];
    for (;;) {
      this.skipBlank();
      const c = this.peek();
      if (c === "") this.terminatorExpected("array", "\0");
      if (c === "]") {
        this.pos++;
        return arr;
      }
      if (c === ",") this.fail("Unexpected array value terminator ','.");
      const start = this.pos;
      const { value, quoted, kind } = this.parseValue("array");
      const p = this.posAt(start);
      setMeta(arr, arr.length, { ...p, kind, valueLine: p.line, valueColumn: p.column, quoted, usedAsVariable: false });
      arr.push(value);
      this.valueEnd("array");
    }
  }

  /** A bare token: up to whitespace, newline, ',', ';', '}', ']'; escapes processed. */
  private readBare(ctx: Ctx): ParsedValue {
    const start = this.pos;
    let hasEscape = false;
    while (!isBareTerminator(this.peek()) || this.digitsThenBracket(start)) {
      if (this.peek() === "\\") {
        hasEscape = true;
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    if (this.pos > this.src.length) this.pos = this.src.length;
    const raw = this.src.slice(start, this.pos);
    if (hasEscape) return { value: this.unescape(raw, start), quoted: false, kind: "string" };
    const v = classifyBare(raw);
    if (typeof v === "string") this.fail(v, start);
    if ("endsAt" in v) {
      // nats-server's lexer ended the number there and wants the value's terminator.
      this.pos = start + v.endsAt;
      this.terminatorExpected(ctx, raw[v.endsAt]);
    }
    return v;
  }

  /**
   * nats-server's lexer does not end a number at ']': digits followed by ']' become a string
   * that goes on to the next terminator, so `[1]` is a string "1]" in an unclosed array.
   */
  private digitsThenBracket(start: number): boolean {
    return this.peek() === "]" && this.pos > start && /^[0-9]+$/.test(this.src.slice(start, this.pos));
  }

  private readDoubleQuoted(): string {
    const start = this.pos;
    this.pos++; // opening quote
    for (;;) {
      const c = this.peek();
      if (c === "") this.fail("Unexpected EOF.", this.src.length);
      if (c === "\\") {
        this.pos += 2;
        continue;
      }
      if (c === '"') break;
      this.pos++;
    }
    const raw = this.src.slice(start + 1, this.pos);
    this.pos++; // closing quote
    return this.unescape(raw, start + 1);
  }

  private readSingleQuoted(): string {
    const start = this.pos;
    const end = this.src.indexOf("'", start + 1);
    if (end < 0) this.fail("Unexpected EOF.", this.src.length);
    this.pos = end + 1;
    return this.src.slice(start + 1, end);
  }

  /** `(` ... `)` where the closing ')' is alone at the start of a line. */
  private readBlock(): string {
    const start = this.pos;
    let i = start + 1;
    for (;;) {
      const nl = this.src.indexOf("\n)", i);
      if (nl < 0) this.fail("Unexpected EOF processing block.", this.src.length);
      const after = this.src[nl + 2];
      if (after === undefined || after === "\n" || after === "\r") {
        this.pos = nl + 2;
        return this.src.slice(start + 1, nl + 1);
      }
      i = nl + 1;
    }
  }

  /** Process \t \n \r \" \\ \xHH escapes (hex escapes are bytes, decoded as UTF-8). */
  private unescape(raw: string, offset: number): string {
    if (!raw.includes("\\")) return raw;
    let out = "";
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) {
        out += Buffer.from(bytes).toString("utf8");
        bytes = [];
      }
    };
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i];
      if (ch !== "\\") {
        flush();
        out += ch;
        continue;
      }
      const e = raw[i + 1] ?? "";
      switch (e) {
        case "t":
          flush();
          out += "\t";
          break;
        case "n":
          flush();
          out += "\n";
          break;
        case "r":
          flush();
          out += "\r";
          break;
        case '"':
          flush();
          out += '"';
          break;
        case "\\":
          flush();
          out += "\\";
          break;
        case "x": {
          const hex = raw.slice(i + 2, i + 4);
          if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail(`Expected two hexadecimal digits after '\\x', but got '${hex}'`, offset + i);
          bytes.push(parseInt(hex, 16));
          i += 2;
          break;
        }
        default:
          this.fail(
            `Invalid escape character '${e === "\n" ? "\\n" : e}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\", \\\\.`,
            offset + i,
          );
      }
      i++;
    }
    flush();
    return out;
  }

  private readVariable(): ParsedValue {
    const start = this.pos;
    this.pos++; // '$'
    while (!isBareTerminator(this.peek())) this.pos++;
    const name = this.src.slice(start + 1, this.pos);
    const refPos = this.envRef ? this.envRef.pos : this.posAt(start);
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const scope = this.scopes[i];
      if (Object.prototype.hasOwnProperty.call(scope, name)) {
        const m = entryMeta(scope, name);
        if (m) m.usedAsVariable = true;
        return { value: scope[name], quoted: m?.quoted ?? false, kind: m?.kind ?? kindOf(scope[name]) };
      }
    }
    const envVal = this.shared.env[name];
    if (envVal !== undefined) {
      if (this.shared.envStack.includes(name)) {
        const why = `variable reference for '${name}' on line ${refPos.line} is recursive`;
        throw new ConfigError(refPos.file, refPos.line, refPos.column, why, why);
      }
      if (envVal === "") return { value: "", quoted: false, kind: "string" };
      this.shared.envStack.push(name);
      try {
        const p = new Parser(envVal, this.file, this.shared, this.envRef ?? { name, pos: refPos });
        p.skipSpaces();
        const v = p.parseValue("top");
        p.skipSpaces();
        if (p.peek() !== "") p.valueEnd("top");
        p.skipBlank();
        if (p.peek() !== "") p.fail(`Expected a top-level value to end with a new line, comment or EOF, but got '${p.peek()}' instead.`);
        return v;
      } finally {
        this.shared.envStack.pop();
      }
    }
    const why = `variable reference for '${name}' on line ${refPos.line} can not be found`;
    throw new ConfigError(refPos.file, refPos.line, refPos.column, why, why);
  }

  // -- include --------------------------------------------------------------------------

  private parseInclude(map: ConfMap, ctx: "top" | "map"): void {
    const at = this.pos - "include".length;
    this.skipSpaces();
    const c = this.peek();
    if (c === "\n" || c === "") this.fail(`Expected include value but found ${describeChar(c)}`, c === "\n" ? this.pos + 1 : this.pos);
    let path: string;
    if (c === '"') path = this.readDoubleQuoted();
    else if (c === "'") path = this.readSingleQuoted();
    else {
      const s = this.pos;
      while (!isBareTerminator(this.peek())) this.pos++;
      path = this.src.slice(s, this.pos);
    }
    const full = isAbsolute(path) ? path : resolvePath(this.dir, path);
    const where = this.posAt(at);
    const inc = (reason: string): never => {
      const why = `error parsing include file '${path}', ${reason}`;
      throw new ConfigError(where.file, where.line, where.column, why, why);
    };
    if (this.shared.includeStack.includes(full)) inc("include cycle detected");
    if (this.shared.includeStack.length >= MAX_INCLUDE_DEPTH) inc("too many nested includes");
    let text: string;
    try {
      text = readFileSync(full, "utf8");
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Named as nats-server opens it: joined to the including file's directory, cleaned.
      inc(openError(joinPath(dirname(this.file), path), err));
    }
    this.shared.includeStack.push(full);
    let sub: ConfMap;
    try {
      // Included files are parsed independently (they do not see our variables).
      sub = new Parser(text!, full, { ...this.shared, envStack: [] }).parseDocument();
    } catch (e) {
      // nats-server names the include and what went wrong in it, not where.
      if (e instanceof ConfigError) inc(e.message);
      throw e;
    } finally {
      this.shared.includeStack.pop();
    }
    for (const k of Object.keys(sub)) {
      map[k] = sub[k];
      const m = entryMeta(sub, k);
      if (m) setMeta(map, k, m);
    }
    this.valueEnd(ctx);
  }
}

interface ParsedValue {
  value: ConfValue;
  quoted: boolean;
  kind: ValueKind;
}

/**
 * Classify an unquoted token. Tokens that start like a number follow nats-server's
 * lexer: they must be an integer (optionally with a size suffix), a float, an IP-like
 * value (digits, dots, colons, dashes), a full Zulu datetime, or digits followed by
 * something that makes them a string (`12ab`, `1:2`, `1k2`); a float ends where letters
 * start (`1.5GB` is a float and a stray 'G'); other shapes are errors.
 */
function classifyBare(raw: string): ParsedValue | string | { endsAt: number } {
  const lower = raw.toLowerCase();
  if (Object.prototype.hasOwnProperty.call(BOOLS, lower)) return { value: BOOLS[lower], quoted: false, kind: "bool" };
  const c0 = raw[0];
  if (c0 === ".") return "Floats must start with a digit";
  const isDigit = (ch: string | undefined) => ch !== undefined && ch >= "0" && ch <= "9";
  if (c0 === "-") {
    if (/^-\d+$/.test(raw)) return { value: Number(raw), quoted: false, kind: "int" };
    if (/^-\d+\.\d+$/.test(raw)) return { value: Number(raw), quoted: false, kind: "float" };
    const sm = /^(-\d+)([a-zA-Z]+)$/.exec(raw);
    if (sm && SIZE_SUFFIXES[sm[2].toLowerCase()] !== undefined) {
      return { value: Number(sm[1]) * SIZE_SUFFIXES[sm[2].toLowerCase()], quoted: false, kind: "int" };
    }
    if (!isDigit(raw[1])) return `Expected a digit but got ${describeChar(raw[1] ?? "")}.`;
    return `Invalid number '${raw}'`;
  }
  if (!isDigit(c0)) return { value: raw, quoted: false, kind: "string" };
  const digits = /^\d+/.exec(raw)![0];
  const next = raw[digits.length];
  if (next === undefined) return { value: Number(raw), quoted: false, kind: "int" };
  if (next === "-") {
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(raw)) {
      const d = new Date(raw);
      if (!Number.isNaN(d.getTime())) return { value: d, quoted: false, kind: "date" };
    }
    return "All ISO8601 dates must be in full Zulu form.";
  }
  if (next === ".") {
    const fm = /^\d+\.(\d*)/.exec(raw)!;
    if (fm[1] === "") return `Floats must have a digit after the '.', but got ${describeChar(raw[fm[0].length] ?? "")} instead.`;
    const after = raw[fm[0].length];
    if (after === undefined) return { value: Number(raw), quoted: false, kind: "float" };
    if (after === "." && /^[0-9.:-]*$/.test(raw)) return { value: raw, quoted: false, kind: "string" };
    return { endsAt: fm[0].length };
  }
  if (/[a-zA-Z]/.test(next)) {
    const sm = /^(\d+)([a-zA-Z]+)$/.exec(raw);
    if (sm && SIZE_SUFFIXES[sm[2].toLowerCase()] !== undefined) {
      return { value: Number(sm[1]) * SIZE_SUFFIXES[sm[2].toLowerCase()], quoted: false, kind: "int" };
    }
  }
  // Anything else that starts with digits is a string (`1k2`, `1e3`, `12ab`), as nats-server reads it.
  return { value: raw, quoted: false, kind: "string" };
}
