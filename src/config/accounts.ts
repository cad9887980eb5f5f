// The parts of an account block that describe how accounts share subjects: `exports`,
// `imports`, `mappings` (also at the top level, for the global account) and `limits`.
//
// Only the shape of each entry is checked here, with nats-server's wording and position.
// What needs every account to be known (does the imported account exist, does it export the
// subject to us, does an import form a cycle) is checked when the accounts are built
// (src/server/account_setup.ts); those errors carry `where`, the position of the `accounts`
// block, as nats-server reports them.
import { entryMeta, parseDuration, type ConfMap, type ConfValue } from "./conf_parser.js";
import { isValidLiteralSubject, isValidSubject } from "../protocol/subject.js";
import { goType, kindOfEntry, lowerKeys, type Reader } from "./reader.js";
import type {
  AccountLimitsConfig,
  ExportConfig,
  ImportConfig,
  MappingConfig,
  MappingDestination,
  ResponseType,
} from "./options.js";

/** "file:line:col" of `m[key]`, for errors raised later about what it declares. */
export function positionOf(r: Reader, m: object, key: string | number): string {
  const meta = entryMeta(m, key);
  return meta ? `${meta.file}:${meta.line}:${meta.column}` : (r.file ?? "<config>");
}

function stringOf(r: Reader, m: ConfMap, key: string, what: string): string {
  const k = kindOfEntry(m, key);
  if (k !== "string") throw r.err(m, key, `Expected ${what} to be string, got ${goType(k)}`);
  return m[key] as string;
}

// ---------------------------------------------------------------------------------------
// message tracing

/**
 * `msg_trace` (or `trace_dest`): a destination subject, or `{ dest, sampling }` with sampling
 * an integer or "N%" in 1..100. Where messages carrying a sampled `traceparent` are traced
 * (ADR-41). A destination without sampling traces all of them; sampling without a
 * destination is ignored with a warning. nats-server's texts.
 */
export function readMsgTrace(r: Reader, parent: ConfMap, key: string): { dest?: string; sampling: number } {
  const out: { dest?: string; sampling: number } = { sampling: 0 };
  const dest = (m: ConfMap, k: string, name: string): void => {
    const kk = kindOfEntry(m, k);
    if (kk !== "string") throw r.err(m, k, `Field ${JSON.stringify(name)} should be a string, got ${goType(kk)}`);
    const v = m[k] as string;
    if (!isValidLiteralSubject(v)) throw r.err(m, k, `Trace destination ${JSON.stringify(v)} is not valid`);
    out.dest = v;
  };
  const sampling = (m: ConfMap, k: string, n: number): void => {
    if (n <= 0 || n > 100) throw r.err(m, k, `Ttrace destination sampling value ${n} is invalid, needs to be [1..100]`);
    out.sampling = n;
  };
  const kind = kindOfEntry(parent, key);
  if (kind === "string") dest(parent, key, key);
  else if (kind === "map") {
    const m = parent[key] as ConfMap;
    for (const k of Object.keys(m)) {
      switch (k.toLowerCase()) {
        case "dest":
          dest(m, k, k);
          break;
        case "sampling": {
          const sk = kindOfEntry(m, k);
          if (sk === "int") sampling(m, k, m[k] as number);
          else if (sk === "string") {
            const v = m[k] as string;
            const t = v.endsWith("%") ? v.slice(0, -1) : v;
            if (!/^[+-]?\d+$/.test(t)) throw r.err(m, k, `Invalid trace destination sampling value ${JSON.stringify(v)}`);
            sampling(m, k, Number(t));
          } else throw r.err(m, k, `Trace destination sampling field ${JSON.stringify(k)} should be an integer or a percentage, got ${goType(sk)}`);
          break;
        }
        default:
          if (!entryMeta(m, k)?.usedAsVariable) throw r.err(m, k, `Unknown field ${JSON.stringify(k)} parsing account message trace map/struct ${JSON.stringify(key)}`);
      }
    }
  } else throw r.err(parent, key, `Expected account message trace ${JSON.stringify(key)} to be a string or a map/struct, got ${goType(kind)}`);
  if (out.dest !== undefined && out.sampling === 0) out.sampling = 100;
  else if (out.sampling > 0 && out.dest === undefined) {
    r.warn(parent, key, "Trace destination sampling ignored since no destination was set");
    out.sampling = 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// exports

const RESPONSE_TYPES = new Map<string, ResponseType>([
  ["single", "Singleton"],
  ["singleton", "Singleton"],
  ["stream", "Streamed"],
  ["chunk", "Chunked"],
  ["chunked", "Chunked"],
]);

/** `latency: "subject"` or `latency: { sampling: 50 | "50%" | "headers", subject }`. */
function readLatency(r: Reader, m: ConfMap, key: string): { sampling: number; subject: string } {
  const k = kindOfEntry(m, key);
  if (k === "string") return { sampling: 100, subject: m[key] as string };
  if (k !== "map") throw r.err(m, key, `Expected latency entry to be a map/struct or string, got ${goType(k)}`);
  const lm = m[key] as ConfMap;
  let sampling = 100;
  let subject: string | undefined;
  for (const [orig, lk] of lowerKeys(lm)) {
    if (lk === "sampling") {
      const sk = kindOfEntry(lm, orig);
      const v = lm[orig];
      let headers = false;
      if (sk === "int") sampling = v as number;
      else if (sk === "string") {
        const s = (v as string).trim();
        if (s.toLowerCase() === "headers") {
          headers = true;
          sampling = 0;
        } else {
          const n = s.endsWith("%") ? s.slice(0, -1) : s;
          if (!/^[+-]?\d+$/.test(n)) throw r.err(lm, orig, `Failed to parse latency sample: strconv.Atoi: parsing ${JSON.stringify(n)}: invalid syntax`);
          sampling = Number(n);
        }
      } else throw r.err(lm, orig, `Expected latency sample to be a string or map/struct, got ${goType(sk)}`);
      if (!headers && (sampling < 1 || sampling > 100)) throw r.err(lm, orig, "bad sampling percentage, should be 1-100");
    } else if (lk === "subject") {
      const sk = kindOfEntry(lm, orig);
      if (sk !== "string") throw r.err(lm, orig, `Expected latency subject to be a string, got ${goType(sk)}`);
      subject = lm[orig] as string;
    }
  }
  if (subject === undefined) throw r.err(m, key, "Latency subject required, but missing");
  return { sampling, subject };
}

function readExport(r: Reader, arr: ConfValue[], i: number, where: string): ExportConfig | undefined {
  const k = kindOfEntry(arr, i);
  if (k !== "map") throw r.err(arr, i, `Export Items should be a map with type entry, got ${goType(k)}`);
  const m = arr[i] as ConfMap;
  const e: ExportConfig = { where };
  const keys = lowerKeys(m);
  const isStream = keys.some(([, lk]) => lk === "stream");
  for (const [orig, lk] of keys) {
    switch (lk) {
      case "stream":
        if (e.service !== undefined) throw r.err(m, orig, `Detected stream ${JSON.stringify(m[orig])} but already saw a service`);
        e.stream = stringOf(r, m, orig, "stream name");
        break;
      case "service":
        if (isStream) throw r.err(m, orig, `Detected service ${JSON.stringify(m[orig])} but already saw a stream`);
        e.service = stringOf(r, m, orig, "service name");
        break;
      case "response":
      case "response_type": {
        if (isStream) throw r.err(m, orig, "Detected response directive on non-service");
        if (e.responseType !== undefined) throw r.err(m, orig, "Duplicate response type definition");
        const s = stringOf(r, m, orig, "response type");
        const rt = RESPONSE_TYPES.get(s.toLowerCase());
        if (rt === undefined) throw r.err(m, orig, `Unknown response type: ${JSON.stringify(s)}`);
        e.responseType = rt;
        break;
      }
      case "threshold":
      case "response_threshold":
      case "response_max_time":
      case "response_time": {
        if (isStream) throw r.err(m, orig, "Detected response directive on non-service");
        if (e.responseThresholdMs !== undefined) throw r.err(m, orig, "Duplicate response threshold detected");
        const tk = kindOfEntry(m, orig);
        if (tk !== "string") throw r.err(m, orig, `Expected response threshold to be a parseable time duration, got ${goType(tk)}`);
        try {
          e.responseThresholdMs = parseDuration(m[orig] as string);
        } catch {
          throw r.err(m, orig, `Expected response threshold to be a parseable time duration, got ${JSON.stringify(m[orig])}`);
        }
        break;
      }
      case "accounts": {
        const ak = kindOfEntry(m, orig);
        if (ak !== "array") throw r.err(m, orig, `Expected accounts to be an array, got ${goType(ak)}`);
        const list = m[orig] as ConfValue[];
        e.accounts = list.map((_, j) => {
          if (kindOfEntry(list, j) !== "string") throw r.err(list, j, "Expected account name to be a string");
          return list[j] as string;
        });
        break;
      }
      case "latency":
        if (isStream) throw r.err(m, orig, "Detected latency directive on non-service");
        e.latency = readLatency(r, m, orig);
        break;
      case "account_token_position": {
        const tk = kindOfEntry(m, orig);
        if (tk !== "int" || (m[orig] as number) < 0) throw r.err(m, orig, `Expected account token position to be a positive integer, got ${goType(tk)}`);
        e.accountTokenPosition = m[orig] as number;
        break;
      }
      case "allow_trace":
        if (isStream) throw r.err(m, orig, "Detected allow_trace directive on non-service");
        e.allowTrace = r.bool(m, orig, lk);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  if (e.stream === undefined && e.service === undefined) {
    // nats-server skips such an entry without a word; say so at least.
    r.warn(arr, i, "export entry has neither a stream nor a service, ignored");
    return undefined;
  }
  return e;
}

export function readExports(r: Reader, m: ConfMap, key: string, where: string): ExportConfig[] {
  const k = kindOfEntry(m, key);
  if (k !== "array") throw r.err(m, key, `Exports should be an array, got ${goType(k)}`);
  const arr = m[key] as ConfValue[];
  const out: ExportConfig[] = [];
  for (let i = 0; i < arr.length; i++) {
    const e = readExport(r, arr, i, where);
    if (e !== undefined) out.push(e);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// imports

/** `{ account: NAME, subject: SUBJECT }` of a stream or service import. */
function readImportSource(r: Reader, m: ConfMap, key: string, kind: "Stream" | "Service"): { account: string; subject: string } {
  const k = kindOfEntry(m, key);
  if (k !== "map") throw r.err(m, key, `${kind} entry should be an account map, got ${goType(k)}`);
  const am = m[key] as ConfMap;
  let account = "";
  let subject = "";
  for (const [orig, lk] of lowerKeys(am)) {
    if (lk === "account") account = stringOf(r, am, orig, "account name");
    else if (lk === "subject") subject = stringOf(r, am, orig, "subject");
    else r.unknown(am, orig);
  }
  if (account === "" || subject === "") throw r.err(m, key, "Expect an account name and a subject");
  return { account, subject };
}

function readImport(r: Reader, arr: ConfValue[], i: number, where: string): ImportConfig | undefined {
  const k = kindOfEntry(arr, i);
  if (k !== "map") throw r.err(arr, i, `Import Items should be a map with type entry, got ${goType(k)}`);
  const m = arr[i] as ConfMap;
  const im: ImportConfig = { where };
  const keys = lowerKeys(m);
  const isStream = keys.some(([, lk]) => lk === "stream");
  for (const [orig, lk] of keys) {
    switch (lk) {
      case "stream":
        im.stream = readImportSource(r, m, orig, "Stream");
        break;
      case "service":
        if (isStream) throw r.err(m, orig, "Detected service but already saw a stream");
        im.service = readImportSource(r, m, orig, "Service");
        break;
      case "prefix":
        im.prefix = stringOf(r, m, orig, "prefix");
        break;
      case "to":
        im.to = stringOf(r, m, orig, "to");
        break;
      case "share":
        im.share = r.bool(m, orig, lk);
        break;
      case "allow_trace":
        if (!isStream) throw r.err(m, orig, "Detected allow_trace directive on a non-stream");
        im.allowTrace = r.bool(m, orig, lk);
        break;
      default:
        r.unknown(m, orig);
    }
  }
  if (im.stream !== undefined && im.prefix !== undefined && im.to !== undefined) {
    const toKey = keys.find(([, lk]) => lk === "to")![0];
    throw r.err(m, toKey, "Stream import can not have a 'prefix' and a 'to' property");
  }
  if (im.stream === undefined && im.service === undefined) {
    r.warn(arr, i, "import entry has neither a stream nor a service, ignored");
    return undefined;
  }
  return im;
}

export function readImports(r: Reader, m: ConfMap, key: string, where: string): ImportConfig[] {
  const k = kindOfEntry(m, key);
  if (k !== "array") throw r.err(m, key, `Imports should be an array, got ${goType(k)}`);
  const arr = m[key] as ConfValue[];
  const out: ImportConfig[] = [];
  for (let i = 0; i < arr.length; i++) {
    const im = readImport(r, arr, i, where);
    if (im === undefined) continue;
    if (im.service !== undefined) {
      // Two imports of the same account may not land on the same local subject.
      const local = im.to ?? im.service.subject;
      const dup = out.find((o) => o.service !== undefined && (o.to ?? o.service.subject) === local && o.service.account === im.service!.account);
      if (dup !== undefined) {
        throw r.err(
          arr,
          i,
          `Duplicate service import subject ${JSON.stringify(local)}, previously used in import for account ${JSON.stringify(dup.service!.account)}, subject ${JSON.stringify(dup.service!.subject)}`,
        );
      }
    }
    out.push(im);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// mappings

function readWeight(r: Reader, m: ConfMap, key: string): number {
  const k = kindOfEntry(m, key);
  let w: number;
  if (k === "string") {
    const s = (m[key] as string).replace(/%$/, "");
    if (!/^[+-]?\d+$/.test(s)) throw r.err(m, key, `Invalid weight ${JSON.stringify(s)} for mapping destination`);
    w = Number(s);
  } else if (k === "int") w = m[key] as number;
  else throw r.err(m, key, `Unknown entry type for weight of ${String(m[key])}\n`);
  if (w > 100 || w < 0) throw r.err(m, key, `Invalid weight ${w} for mapping destination`);
  return w;
}

function readMapDestination(r: Reader, container: object, key: string | number, v: ConfValue): MappingDestination {
  if (kindOfEntry(container as ConfMap, key) !== "map") throw r.err(container, key, "Expected an entry for the mapping destination");
  const m = v as ConfMap;
  let subject = "";
  let weight: number | undefined;
  let cluster: string | undefined;
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "dest":
      case "destination":
        subject = stringOf(r, m, orig, "destination");
        break;
      case "weight":
        weight = readWeight(r, m, orig);
        break;
      case "cluster":
        cluster = stringOf(r, m, orig, "cluster");
        break;
      default:
        throw r.err(m, orig, `Unknown field ${JSON.stringify(orig)} for mapping destination`);
    }
  }
  if (weight === undefined) throw r.err(container, key, `Missing weight for mapping destination ${JSON.stringify(subject)}`);
  const d: MappingDestination = { subject, weight };
  if (cluster !== undefined) d.cluster = cluster;
  return d;
}

/** `mappings { "src": "dest" | {destination, weight} | [{destination, weight, cluster}...] }` */
export function readMappings(r: Reader, parent: ConfMap, key: string): MappingConfig[] {
  const k = kindOfEntry(parent, key);
  if (k !== "map") throw r.err(parent, key, `Expected mappings to be a map, got ${goType(k)}`);
  const m = parent[key] as ConfMap;
  const out: MappingConfig[] = [];
  for (const subject of Object.keys(m)) {
    if (!isValidSubject(subject)) throw r.err(parent, key, `Subject ${JSON.stringify(subject)} is not a valid subject`);
    const where = positionOf(r, m, subject);
    const vk = kindOfEntry(m, subject);
    const v = m[subject];
    let destinations: MappingDestination[];
    if (vk === "string") destinations = [{ subject: v as string, weight: 100 }];
    else if (vk === "array") {
      const arr = v as ConfValue[];
      destinations = arr.map((d, i) => readMapDestination(r, arr, i, d));
    } else destinations = [readMapDestination(r, m, subject, v)];
    out.push({ subject, destinations, where });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// limits

export function readAccountLimits(r: Reader, parent: ConfMap, key: string): AccountLimitsConfig {
  const k = kindOfEntry(parent, key);
  if (k !== "map") throw r.err(parent, key, `Expected account limits to be a map/struct, got ${String(parent[key])}`);
  const m = parent[key] as ConfMap;
  const out: AccountLimitsConfig = {};
  for (const [orig, lk] of lowerKeys(m)) {
    switch (lk) {
      case "max_connections":
      case "max_conn":
        out.maxConnections = r.int(m, orig, lk);
        break;
      case "max_subscriptions":
      case "max_subs":
        out.maxSubscriptions = r.int(m, orig, lk);
        break;
      case "max_payload":
      case "max_pay":
        out.maxPayload = r.int(m, orig, lk);
        break;
      case "max_leafnodes":
      case "max_leafs":
        out.maxLeafNodes = r.int(m, orig, lk);
        break;
      default:
        if (!entryMeta(m, orig)?.usedAsVariable) throw r.err(m, orig, `Unknown field ${JSON.stringify(orig)} parsing account limits`);
    }
  }
  return out;
}
