// Subject transforms as nats-server 2.9 accepts them for a stream's `republish`
// (src -> dest): the destination is made of literal tokens, `$N` / `{{wildcard(N)}}`
// references to the N-th `*` of the source, `{{partition(n, N...)}}` (FNV-1a of the
// referenced tokens modulo n), the split/slice functions, and a trailing `>` that carries
// over whatever the source's trailing `>` matched.
//
// Validity follows what nats-server 2.9.10 answers (checked side by side): no `*` in the
// destination, `>` on both sides or on neither, references within the source's wildcards,
// and at least as many mapping tokens as the source has `*`s.
import { isValidSubject, subjectMatches } from "../protocol/subject.js";

type DestToken =
  | { kind: "literal"; text: string }
  | { kind: "wildcard"; index: number }
  | { kind: "partition"; buckets: number; indexes: number[] }
  | { kind: "splitFromLeft" | "splitFromRight" | "sliceFromLeft" | "sliceFromRight"; index: number; arg: number }
  | { kind: "split"; index: number; delim: string }
  | { kind: "rest" };

export class SubjectTransform {
  private constructor(
    readonly src: string,
    private readonly srcTokens: string[],
    private readonly dest: DestToken[],
  ) {}

  /** Parse and check a transform; undefined when nats-server would call it "not valid". */
  static parse(src: string, dest: string): SubjectTransform | undefined {
    if (!isValidSubject(src)) return undefined;
    const srcTokens = src.split(".");
    const wildcards = srcTokens.filter((t) => t === "*").length;
    const srcRest = srcTokens[srcTokens.length - 1] === ">";
    if (dest === "") return undefined;
    const raw = dest.split(".");
    const out: DestToken[] = [];
    let mappings = 0;
    for (let i = 0; i < raw.length; i++) {
      const t = raw[i];
      if (t === "") return undefined;
      if (t === "*") return undefined;
      if (t === ">") {
        if (i !== raw.length - 1 || !srcRest) return undefined;
        out.push({ kind: "rest" });
        continue;
      }
      const tok = parseMappingToken(t);
      if (tok === null) return undefined; // malformed function token
      if (tok === undefined) {
        if (/[\s*>]/.test(t) || t.includes("{{") || t.includes("}}")) return undefined;
        out.push({ kind: "literal", text: t });
        continue;
      }
      mappings++;
      // References beyond the source's wildcards cannot be filled (a source without
      // wildcards is not checked: nats-server accepts it and fails per message).
      if (wildcards > 0 && refsOf(tok).some((n) => n > wildcards)) return undefined;
      out.push(tok);
    }
    if (srcRest && out[out.length - 1]?.kind !== "rest") return undefined;
    if (wildcards > 0 && mappings < wildcards) return undefined;
    return new SubjectTransform(src, srcTokens, out);
  }

  /**
   * nats-server's strict transforms (imports): the destination only references source
   * wildcards, and references every one of them, so the transform can be reversed.
   */
  get isStrict(): boolean {
    const wildcards = this.srcTokens.filter((t) => t === "*").length;
    const used = new Set<number>();
    for (const d of this.dest) {
      if (d.kind === "wildcard") used.add(d.index);
      else if (d.kind !== "literal" && d.kind !== "rest") return false;
    }
    return used.size === wildcards;
  }

  /**
   * The strict transform's way back: destination subjects (wildcards included, as in a
   * subscription) to the source subjects they come from. Undefined if not strict.
   */
  reverse(): SubjectTransform | undefined {
    if (!this.isStrict) return undefined;
    const revSrc: string[] = [];
    const refOrder: number[] = []; // k-th wildcard of the reversed source -> source wildcard index
    for (const d of this.dest) {
      if (d.kind === "literal") revSrc.push(d.text);
      else if (d.kind === "rest") revSrc.push(">");
      else if (d.kind === "wildcard") {
        revSrc.push("*");
        refOrder.push(d.index);
      }
    }
    let n = 0;
    const revDest = this.srcTokens.map((t) => {
      if (t !== "*") return t;
      n++;
      return `$${refOrder.indexOf(n) + 1}`;
    });
    return SubjectTransform.parse(revSrc.join("."), revDest.join("."));
  }

  /** Does the transform apply to this (literal) subject? */
  matches(subject: string): boolean {
    return subjectMatches(this.src, subject);
  }

  /** The destination for a subject the source matches; undefined if it cannot be formed. */
  apply(subject: string): string | undefined {
    const tokens = subject.split(".");
    const wild: string[] = [];
    let restFrom = tokens.length;
    for (let i = 0; i < this.srcTokens.length; i++) {
      const s = this.srcTokens[i];
      if (s === "*") wild.push(tokens[i]);
      else if (s === ">") restFrom = i;
    }
    const ref = (n: number): string | undefined => (n >= 1 && n <= wild.length ? wild[n - 1] : undefined);
    const parts: string[] = [];
    for (const d of this.dest) {
      let piece: string | undefined;
      switch (d.kind) {
        case "literal":
          piece = d.text;
          break;
        case "rest":
          piece = tokens.slice(restFrom).join(".");
          break;
        case "wildcard":
          piece = ref(d.index);
          break;
        case "partition": {
          let key = "";
          for (const n of d.indexes) {
            const v = ref(n);
            if (v === undefined) return undefined;
            key += v;
          }
          piece = String(fnv1a32(key) % d.buckets);
          break;
        }
        case "split": {
          const v = ref(d.index);
          if (v === undefined) return undefined;
          piece = v
            .split(d.delim)
            .filter((x) => x !== "")
            .join(".");
          break;
        }
        default: {
          const v = ref(d.index);
          if (v === undefined) return undefined;
          piece = sliceOrSplit(d.kind, v, d.arg);
        }
      }
      if (piece === undefined || piece === "") return undefined;
      parts.push(piece);
    }
    const out = parts.join(".");
    return isValidSubject(out) ? out : undefined;
  }
}

function refsOf(t: DestToken): number[] {
  switch (t.kind) {
    case "wildcard":
    case "split":
    case "splitFromLeft":
    case "splitFromRight":
    case "sliceFromLeft":
    case "sliceFromRight":
      return [t.index];
    case "partition":
      return t.indexes;
    default:
      return [];
  }
}

const FUNCTIONS: Record<string, DestToken["kind"]> = {
  wildcard: "wildcard",
  partition: "partition",
  splitfromleft: "splitFromLeft",
  splitfromright: "splitFromRight",
  slicefromleft: "sliceFromLeft",
  slicefromright: "sliceFromRight",
  split: "split",
};

/**
 * A `$N` or `{{ fn(args) }}` token: the parsed mapping, undefined when the token is a
 * plain literal, null when it looks like a mapping but is malformed.
 */
function parseMappingToken(t: string): DestToken | undefined | null {
  const dollar = /^\$(\d+)$/.exec(t);
  if (dollar) return { kind: "wildcard", index: Number(dollar[1]) };
  if (!t.startsWith("{{") && !t.endsWith("}}")) return undefined;
  const m = /^\{\{\s*([A-Za-z]+)\s*\(([^()]*)\)\s*\}\}$/.exec(t);
  if (!m) return null;
  const kind = FUNCTIONS[m[1].toLowerCase()];
  if (kind === undefined) return null;
  const args = m[2].split(",").map((a) => a.trim());
  const ints = args.map((a) => (/^\d+$/.test(a) ? Number(a) : NaN));
  switch (kind) {
    case "wildcard":
      return args.length === 1 && !Number.isNaN(ints[0]) ? { kind, index: ints[0] } : null;
    case "partition":
      if (args.length < 2 || ints.some((n) => Number.isNaN(n)) || ints[0] <= 0) return null;
      // More than one referenced wildcard still counts as one mapping token.
      return { kind, buckets: ints[0], indexes: ints.slice(1) };
    case "split":
      if (args.length !== 2 || Number.isNaN(ints[0]) || args[1] === "") return null;
      return { kind, index: ints[0], delim: args[1] };
    default:
      if (args.length !== 2 || Number.isNaN(ints[0]) || Number.isNaN(ints[1]) || ints[1] <= 0) return null;
      return { kind, index: ints[0], arg: ints[1] } as DestToken;
  }
}

function sliceOrSplit(kind: string, v: string, n: number): string {
  switch (kind) {
    case "splitFromLeft":
      return n >= v.length ? v : `${v.slice(0, n)}.${v.slice(n)}`;
    case "splitFromRight":
      return n >= v.length ? v : `${v.slice(0, v.length - n)}.${v.slice(v.length - n)}`;
    case "sliceFromLeft": {
      const out: string[] = [];
      for (let i = 0; i < v.length; i += n) out.push(v.slice(i, i + n));
      return out.join(".");
    }
    default: {
      // sliceFromRight: the first slice takes the remainder.
      const out: string[] = [];
      let end = v.length;
      while (end > 0) {
        const start = Math.max(0, end - n);
        out.unshift(v.slice(start, end));
        end = start;
      }
      return out.join(".");
    }
  }
}

/** 32-bit FNV-1a over the UTF-8 bytes of `s` (nats-server's partition hash). */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(s, "utf8")) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
