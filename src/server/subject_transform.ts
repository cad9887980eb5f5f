// Subject transforms (ADR-30, ADR-36): map a subject matching `src` to a destination built
// from literal tokens and mapping functions over the source's wildcard tokens. One engine
// for stream `subject_transform`, `republish`, source/mirror transforms and account
// `mappings`.
//
// Destination tokens (function names match as nats-server's do: only the first letter of
// each word may change case, `{{ Wildcard ( 1 ) }}` is fine, `{{WILDCARD(1)}}` is not):
//   literal            copied as is (`>` last: whatever the source's `>` matched)
//   $N                 legacy form of {{wildcard(N)}}
//   {{wildcard(N)}}    the N-th `*` of the source
//   {{partition(P,N...)}}  FNV-1a of the referenced tokens (all of the subject with no N) mod P
//   {{random(P)}}      a random number below P
//   {{split(N,d)}}     the token split at every `d` (empty pieces dropped)
//   {{splitFromLeft(N,p)}} / {{splitFromRight(N,p)}}  split in two p characters from one end
//   {{sliceFromLeft(N,s)}} / {{sliceFromRight(N,s)}}  cut into pieces of s characters
//   {{left(N,l)}} / {{right(N,l)}}  the first / last l characters
//
// Errors carry nats-server's texts (clients and operators see them in API errors and at
// config load), and the checks run in nats-server's order, including its leniencies: a
// transform that does not use every wildcard is fine except for imports (strict), and `$x`
// that is not a number is a literal.
import { isValidLiteralSubject, subjectMatches } from "../protocol/subject.js";

const INVALID_DEST = "invalid mapping destination";

/** nats-server's error texts for transforms. */
export const TransformErr = {
  badSubject: "invalid subject",
  noMatch: "no matching transforms available",
  invalidTransform: `${INVALID_DEST}: invalid transform`,
  notUsingAllWildcards: `${INVALID_DEST}: not using all of the token wildcard(s)`,
  unknownFunction: `${INVALID_DEST}: unknown function`,
  indexOutOfRange: `${INVALID_DEST}: wildcard index out of range`,
  notEnoughArgs: `${INVALID_DEST}: not enough arguments passed to the function`,
  invalidArg: `${INVALID_DEST}: function argument is invalid or in the wrong format`,
  tooManyArgs: `${INVALID_DEST}: too many arguments passed to the function`,
  notSupportedForImport: `${INVALID_DEST}: the only mapping function allowed for import transforms is {{Wildcard()}}`,
} as const;

/** A transform that cannot be built; `message` is nats-server's text ("<reason> in <token>"). */
export class SubjectTransformError extends Error {
  constructor(
    readonly reason: string,
    readonly token = "",
  ) {
    super(token === "" ? reason : `${reason} in ${token}`);
    this.name = "SubjectTransformError";
  }

  /** One of the "invalid mapping destination" family (as opposed to a bad subject). */
  get isMappingDestination(): boolean {
    return this.reason.startsWith(INVALID_DEST);
  }
}

type FnKind =
  | "wildcard"
  | "partition"
  | "splitFromLeft"
  | "splitFromRight"
  | "sliceFromLeft"
  | "sliceFromRight"
  | "right"
  | "left"
  | "split"
  | "random";

/** A destination token: a literal, or a function over source token positions. */
interface DestToken {
  kind: FnKind | "literal";
  text: string;
  /** Positions in the subject's tokens the function reads (not wildcard ordinals). */
  positions: number[];
  /** Partition/random bucket count, or the split/slice/left/right length. */
  num: number;
  /** split's delimiter. */
  delim: string;
}

// In nats-server's order of recognition (split after its longer cousins).
const FUNCTIONS: ReadonlyArray<[FnKind, RegExp]> = [
  ["wildcard", /\{\{\s*[wW]ildcard\s*\((.*)\)\s*\}\}/],
  ["partition", /\{\{\s*[pP]artition\s*\((.*)\)\s*\}\}/],
  ["splitFromLeft", /\{\{\s*[sS]plit[fF]rom[lL]eft\s*\((.*)\)\s*\}\}/],
  ["splitFromRight", /\{\{\s*[sS]plit[fF]rom[rR]ight\s*\((.*)\)\s*\}\}/],
  ["sliceFromLeft", /\{\{\s*[sS]lice[fF]rom[lL]eft\s*\((.*)\)\s*\}\}/],
  ["sliceFromRight", /\{\{\s*[sS]lice[fF]rom[rR]ight\s*\((.*)\)\s*\}\}/],
  ["right", /\{\{\s*[rR]ight\s*\((.*)\)\s*\}\}/],
  ["left", /\{\{\s*[lL]eft\s*\((.*)\)\s*\}\}/],
  ["split", /\{\{\s*[sS]plit\s*\((.*)\)\s*\}\}/],
  ["random", /\{\{\s*[rR]andom\s*\((.*)\)\s*\}\}/],
];
const ARG_SEPARATOR = /,\s*/;
const INT32_MAX = 2 ** 31 - 1;

/** Go's strconv.Atoi on a trimmed argument; undefined when it is not an integer. */
function atoi(s: string): number | undefined {
  const t = trimSpaces(s);
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** strconv.ParseInt(s, 10, 32). */
function atoi32(s: string): number | undefined {
  const n = atoi(s);
  return n !== undefined && n >= -INT32_MAX - 1 && n <= INT32_MAX ? n : undefined;
}

function trimSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) === 32) a++;
  while (b > a && s.charCodeAt(b - 1) === 32) b--;
  return s.slice(a, b);
}

function looksLikeFunction(t: string): boolean {
  return t.length > 4 && t.startsWith("{{") && t.endsWith("}}");
}

/** A parsed destination token before wildcard ordinals become subject positions. */
interface RawToken {
  kind: FnKind | "literal";
  /** Wildcard ordinals (1-based) the function refers to. */
  refs: number[];
  num: number;
  delim: string;
}

const LITERAL: RawToken = { kind: "literal", refs: [], num: -1, delim: "" };

/** Recognise a destination token; throws SubjectTransformError for a malformed function. */
function parseToken(t: string): RawToken {
  if (t.length > 1 && t.charCodeAt(0) === 36 /* $ */) {
    const n = atoi(t.slice(1));
    // Other things use tokens that start with `$`: not a number means a literal.
    return n === undefined ? LITERAL : { kind: "wildcard", refs: [n], num: -1, delim: "" };
  }
  if (!looksLikeFunction(t)) return LITERAL;
  for (const [kind, re] of FUNCTIONS) {
    const m = re.exec(t);
    if (m === null) continue;
    const args = m[1]!.split(ARG_SEPARATOR);
    const bad = (reason: string): never => {
      throw new SubjectTransformError(reason, t);
    };
    switch (kind) {
      case "wildcard": {
        if (args.length === 1 && args[0] === "") bad(TransformErr.notEnoughArgs);
        if (args.length > 1) bad(TransformErr.tooManyArgs);
        const n = atoi(args[0]!);
        if (n === undefined) bad(TransformErr.invalidArg);
        return { kind, refs: [n!], num: -1, delim: "" };
      }
      case "partition": {
        const buckets = atoi(args[0]!);
        if (buckets === undefined || buckets > INT32_MAX) bad(TransformErr.invalidArg);
        const refs: number[] = [];
        for (const a of args.slice(1)) {
          const n = atoi(a);
          if (n === undefined) bad(TransformErr.invalidArg);
          refs.push(n!);
        }
        return { kind, refs, num: buckets!, delim: "" };
      }
      case "split": {
        if (args.length < 2) bad(TransformErr.notEnoughArgs);
        if (args.length > 2) bad(TransformErr.tooManyArgs);
        const n = atoi(args[0]!);
        if (n === undefined) bad(TransformErr.invalidArg);
        const delim = args[1]!;
        if (delim.includes(" ") || delim.includes(".")) bad(TransformErr.invalidArg);
        return { kind, refs: [n!], num: -1, delim };
      }
      case "random": {
        if (args.length !== 1) bad(TransformErr.notEnoughArgs);
        const n = atoi(args[0]!);
        if (n === undefined || n > INT32_MAX) bad(TransformErr.invalidArg);
        return { kind, refs: [], num: n!, delim: "" };
      }
      default: {
        // (token index, integer): the split/slice/left/right family.
        if (args.length < 2) bad(TransformErr.notEnoughArgs);
        if (args.length > 2) bad(TransformErr.tooManyArgs);
        const n = atoi(args[0]!);
        const len = atoi32(args[1]!);
        if (n === undefined || len === undefined) bad(TransformErr.invalidArg);
        return { kind, refs: [n!], num: len!, delim: "" };
      }
    }
  }
  throw new SubjectTransformError(TransformErr.unknownFunction, t);
}

/** nats-server's subjectInfo: valid (non-empty tokens, nothing after `>`), tokens, `*` count, has `>`. */
function subjectInfo(s: string): { valid: boolean; tokens: string[]; pwcs: number; fwc: boolean } {
  if (s === "") return { valid: false, tokens: [], pwcs: 0, fwc: false };
  const tokens = s.split(".");
  let pwcs = 0;
  let fwc = false;
  for (const t of tokens) {
    if (t.length === 0 || fwc) return { valid: false, tokens: [], pwcs: 0, fwc: false };
    if (t === ">") fwc = true;
    else if (t === "*") pwcs++;
  }
  return { valid: true, tokens, pwcs, fwc };
}

export class SubjectTransform {
  private constructor(
    readonly src: string,
    readonly dest: string,
    private readonly srcTokens: string[],
    private readonly destTokens: DestToken[],
    /** src and dest both "everything": the identity. */
    private readonly identity: boolean,
  ) {}

  /**
   * Build a transform (nats-server's NewSubjectTransform). An empty `dest` means "no
   * transform" (undefined); an empty `src` is ">". `strict` is for imports: the transform
   * must be reversible (only wildcard functions, every wildcard used).
   * Throws SubjectTransformError.
   */
  static create(src: string, dest: string, strict = false): SubjectTransform | undefined {
    if (dest === "") return undefined;
    if (src === "") src = ">";
    const s = subjectInfo(src);
    const d = subjectInfo(dest);
    if (!s.valid || !d.valid || d.pwcs > 0 || s.fwc !== d.fwc) throw new SubjectTransformError(TransformErr.badSubject);
    const out: DestToken[] = [];
    if (s.pwcs > 0 || s.fwc) {
      // Wildcard ordinal (1-based) -> position in the subject's tokens.
      const positions: number[] = [];
      s.tokens.forEach((t, i) => {
        if (t === "*") positions.push(i);
      });
      let used = 0;
      for (const t of d.tokens) {
        const raw = parseToken(t);
        if (strict && raw.kind !== "literal" && raw.kind !== "wildcard") {
          throw new SubjectTransformError(TransformErr.notSupportedForImport, t);
        }
        used += raw.refs.length;
        const pos: number[] = [];
        for (const ref of raw.refs) {
          if (ref > s.pwcs) throw new SubjectTransformError(TransformErr.indexOutOfRange, `${t}: [${ref}]`);
          // Ordinals below 1 read the subject's first token, as in nats-server.
          pos.push(positions[ref - 1] ?? 0);
        }
        out.push({ kind: raw.kind, text: t, positions: pos, num: raw.num, delim: raw.delim });
      }
      if (strict && used < s.pwcs) throw new SubjectTransformError(TransformErr.notUsingAllWildcards, dest);
    } else {
      // No wildcards to refer to: only literals, random and (whole-subject) partition.
      for (const t of d.tokens) {
        const raw = parseToken(t);
        if (raw.kind === "literal" || raw.kind === "random" || raw.kind === "partition") {
          out.push({ kind: raw.kind, text: t, positions: [], num: raw.num, delim: "" });
        } else {
          throw new SubjectTransformError(TransformErr.indexOutOfRange, t);
        }
      }
    }
    const identity = src === ">" && dest === ">";
    return new SubjectTransform(src, dest, s.tokens, out, identity);
  }

  /**
   * nats-server's ValidateMapping, used for stream (and source/mirror) transforms: the
   * destination must be a valid subject of known functions, then buildable from `src`.
   */
  static validateMapping(src: string, dest: string): void {
    if (dest === "") return;
    let afterFwc = false;
    for (const t of dest.split(".")) {
      if (t.length === 0 || afterFwc) throw new SubjectTransformError(TransformErr.invalidTransform, t);
      if (looksLikeFunction(t)) {
        if (!FUNCTIONS.some(([, re]) => re.test(t))) {
          throw new SubjectTransformError(TransformErr.unknownFunction, t);
        }
        continue;
      }
      if (t === ">") afterFwc = true;
      else if (/[\t\n\f\r ]/.test(t)) throw new SubjectTransformError(TransformErr.invalidTransform);
    }
    SubjectTransform.create(src, dest);
  }

  /** Like create, but undefined instead of an error (or of "no transform"). */
  static parse(src: string, dest: string): SubjectTransform | undefined {
    try {
      return SubjectTransform.create(src, dest);
    } catch {
      return undefined;
    }
  }

  /**
   * nats-server's strict transforms (imports): the destination only references source
   * wildcards and references every one of them, so the transform can be reversed.
   */
  get isStrict(): boolean {
    try {
      SubjectTransform.create(this.src, this.dest, true);
      return true;
    } catch {
      return false;
    }
  }

  /** Does the transform apply to this literal subject? */
  matches(subject: string): boolean {
    return this.src === ">" || subjectMatches(this.src, subject);
  }

  /**
   * nats-server's Match: the transformed subject, or a SubjectTransformError ("invalid
   * subject" for a subject with wildcards, "no matching transforms" when src does not match).
   */
  match(subject: string): string {
    if (this.identity) return subject;
    if (!isValidLiteralSubject(subject)) throw new SubjectTransformError(TransformErr.badSubject);
    if (!this.matches(subject)) throw new SubjectTransformError(TransformErr.noMatch);
    return this.transformTokens(subject.split("."));
  }

  /** The destination for a subject the source matches; undefined when it does not match. */
  apply(subject: string): string | undefined {
    if (this.identity) return subject;
    if (!this.matches(subject)) return undefined;
    return this.transformTokens(subject.split("."));
  }

  /** Transform a subject already known to match. */
  transformSubject(subject: string): string {
    return this.transformTokens(subject.split("."));
  }

  private transformTokens(tokens: string[]): string {
    const dest = this.destTokens;
    let out = "";
    const last = dest.length - 1;
    for (let i = 0; i <= last; i++) {
      const d = dest[i]!;
      if (d.kind === "literal") {
        if (d.text === ">") break; // the tail is appended below
        out += d.text;
      } else {
        out += applyFunction(d, tokens);
      }
      if (i < last) out += ".";
    }
    if (dest[last]?.text === ">") {
      out += tokens.slice(this.srcTokens.length - 1).join(".");
    }
    return out;
  }

  /**
   * The reverse transform (dest -> src) for imports whose destination only uses wildcard
   * references; undefined when it cannot be built.
   */
  reverse(): SubjectTransform | undefined {
    const refs = this.destTokens.filter((d) => d.kind === "wildcard");
    try {
      if (refs.length === 0) return SubjectTransform.create(this.dest, this.src, true);
      // The destination's references become `*`s of the new source, in their order; the old
      // source's `*`s become references to them.
      const placeholders: string[] = [];
      const newSrc = this.dest
        .split(".")
        .map((t) => {
          const isRef = (t.length > 1 && t[0] === "$" && t.charCodeAt(1) >= 49 && t.charCodeAt(1) <= 57) || parseLooseWildcard(t);
          if (isRef) placeholders.push(t);
          return isRef ? "*" : t;
        })
        .join(".");
      const newDest = this.srcTokens.map((t) => (t === "*" ? placeholders.shift() : t));
      if (newDest.some((t) => t === undefined)) return undefined;
      return SubjectTransform.create(newSrc, newDest.join("."), true);
    } catch {
      return undefined;
    }
  }
}

/** A `{{wildcard(x)}}` token with one non-empty argument (reverse() turns it into `*`). */
function parseLooseWildcard(t: string): boolean {
  const m = FUNCTIONS[0]![1].exec(t);
  if (m === null) return false;
  const args = m[1]!.split(ARG_SEPARATOR);
  return args.length === 1 && args[0] !== "";
}

function applyFunction(d: DestToken, tokens: string[]): string {
  switch (d.kind) {
    case "partition": {
      let key: string;
      if (d.positions.length > 0) {
        key = "";
        for (const p of d.positions) key += tokens[p] ?? "";
      } else {
        key = tokens.join(".");
      }
      return d.num === 0 ? "0" : String(fnv1a32(key) % (d.num >>> 0));
    }
    case "random":
      return d.num === 0 ? "0" : String(Math.floor(Math.random() * 2 ** 31) % d.num);
    case "wildcard": {
      const p = d.positions[0];
      return p === undefined || p >= tokens.length ? "" : tokens[p]!;
    }
    default:
      break;
  }
  const v = tokens[d.positions[0]!] ?? "";
  const n = d.num;
  const len = v.length;
  switch (d.kind) {
    case "splitFromLeft":
      return n > 0 && n < len ? `${v.slice(0, n)}.${v.slice(n)}` : v;
    case "splitFromRight":
      return n > 0 && n < len ? `${v.slice(0, len - n)}.${v.slice(len - n)}` : v;
    case "sliceFromLeft": {
      if (!(n > 0 && n < len)) return v;
      // Pieces of n from the left; the last takes what is left.
      const pieces: string[] = [];
      for (let i = 0; i < len; i += n) pieces.push(v.slice(i, i + n));
      return pieces.join(".");
    }
    case "sliceFromRight": {
      if (!(n > 0 && n < len)) return v;
      // Pieces of n from the right; the first takes the remainder.
      const pieces: string[] = [];
      const rem = len % n;
      if (rem > 0) pieces.push(v.slice(0, rem));
      for (let i = rem; i < len; i += n) pieces.push(v.slice(i, i + n));
      return pieces.join(".");
    }
    case "left":
      return n > 0 && n < len ? v.slice(0, n) : v;
    case "right":
      return n > 0 && n < len ? v.slice(len - n) : v;
    case "split": {
      // Empty pieces are dropped; a separator goes before a non-empty piece unless it would
      // lead the token (nats-server's rule, which keeps one dot for a run of two or more
      // leading delimiters).
      const parts = d.delim === "" ? Array.from(v) : v.split(d.delim);
      let s = "";
      for (let j = 0; j < parts.length; j++) {
        const part = parts[j]!;
        s += part;
        const next = parts[j + 1];
        if (next !== undefined && next !== "" && !(j === 0 && part === "")) s += ".";
      }
      return s;
    }
    default:
      return v;
  }
}

/** 32-bit FNV-1a over the UTF-8 bytes of `s` (nats-server's partition hash). */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return fnv1a32Bytes(Buffer.from(s, "utf8"));
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function fnv1a32Bytes(b: Buffer): number {
  let h = 0x811c9dc5;
  for (const c of b) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
