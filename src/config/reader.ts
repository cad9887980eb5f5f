// Typed access to a parsed configuration tree: values of the expected kind or a ConfigError
// at the offending key, with nats-server's wording. Shared by every config block reader.
import { ConfigError, entryMeta, errorAt, kindOf, parseDuration, type ConfMap, type ConfValue, type ValueKind } from "./conf_parser.js";

export function kindName(k: ValueKind): string {
  switch (k) {
    case "int":
      return "integer";
    case "bool":
      return "boolean";
    case "date":
      return "datetime";
    default:
      return k;
  }
}

/** Go's %T of a decoded config value, as nats-server prints it in type errors. */
export function goType(k: ValueKind): string {
  switch (k) {
    case "string":
      return "string";
    case "int":
      return "int64";
    case "float":
      return "float64";
    case "bool":
      return "bool";
    case "date":
      return "time.Time";
    case "array":
      return "[]interface {}";
    default:
      return "map[string]interface {}";
  }
}

export function kindOfEntry(m: ConfMap | ConfValue[], key: string | number): ValueKind {
  return entryMeta(m, key)?.kind ?? kindOf((m as Record<string | number, ConfValue>)[key]);
}

export function typeError(m: object, key: string | number, name: string, want: string, kind: ValueKind, fb: string | undefined): ConfigError {
  return errorAt(m, key, `invalid value for "${name}": expected ${want}, got ${kindName(kind)}`, fb);
}

/**
 * nats-server reads most values with a bare Go type assertion: a value of another type is
 * the recovered panic's text, at the key.
 */
export function conversionError(m: object, key: string | number, kind: ValueKind, want: "int64" | "string" | "bool" | "map[string]interface {}" | "[]interface {}", fb: string | undefined): ConfigError {
  return errorAt(m, key, `interface conversion: interface {} is ${goType(kind)}, not ${want}`, fb);
}

export class Reader {
  readonly warnings: string[];
  readonly file: string | undefined;
  readonly allowUnknown: boolean;
  constructor(warnings: string[], file: string | undefined, allowUnknown: boolean) {
    this.warnings = warnings;
    this.file = file;
    this.allowUnknown = allowUnknown;
  }

  err(m: object, key: string | number, reason: string): ConfigError {
    return errorAt(m, key, reason, this.file);
  }

  where(m: object, key: string | number): string {
    const meta = entryMeta(m, key);
    return meta ? `${meta.file}:${meta.line}:${meta.column}: ` : "";
  }

  warn(m: object, key: string | number, msg: string): void {
    this.warnings.push(this.where(m, key) + msg);
  }

  int(m: ConfMap, key: string, name = key): number {
    const k = kindOfEntry(m, key);
    if (k !== "int") throw conversionError(m, key, k, "int64", this.file);
    return m[key] as number;
  }

  str(m: ConfMap, key: string, name = key): string {
    const k = kindOfEntry(m, key);
    if (k !== "string") throw conversionError(m, key, k, "string", this.file);
    return m[key] as string;
  }

  bool(m: ConfMap, key: string, name = key): boolean {
    const k = kindOfEntry(m, key);
    if (k !== "bool") throw conversionError(m, key, k, "bool", this.file);
    return m[key] as boolean;
  }

  map(m: ConfMap, key: string, name = key): ConfMap {
    const k = kindOfEntry(m, key);
    if (k !== "map") throw conversionError(m, key, k, "map[string]interface {}", this.file);
    return m[key] as ConfMap;
  }

  /** Seconds as int or float (e.g. auth/tls timeouts), or a duration string. Returns ms. */
  seconds(m: ConfMap, key: string, name = key): number {
    const k = kindOfEntry(m, key);
    if (k === "int" || k === "float") return (m[key] as number) * 1000;
    if (k === "string") return this.durationString(m, key, name);
    throw typeError(m, key, name, "a number of seconds or a duration", k, this.file);
  }

  /**
   * A duration string; anything else is taken for seconds with a warning and must then be
   * an integer (as nats-server's parseDuration).
   */
  duration(m: ConfMap, key: string, name = key): number {
    const k = kindOfEntry(m, key);
    if (k === "string") return this.durationString(m, key, name);
    this.warn(m, key, `invalid use of field "${name}": ${name} should be converted to a duration`);
    if (k !== "int") throw conversionError(m, key, k, "int64", this.file);
    return (m[key] as number) * 1000;
  }

  /** A duration that must be a string (nats-server's time.ParseDuration(v.(string))). */
  durationString(m: ConfMap, key: string, name: string): number {
    this.str(m, key, name);
    try {
      return parseDuration(m[key] as string);
    } catch (e) {
      throw this.err(m, key, `error parsing ${name}: ${(e as Error).message}`);
    }
  }

  unknown(m: ConfMap, key: string, context?: string): void {
    const meta = entryMeta(m, key);
    if (meta?.usedAsVariable) return;
    const msg = context ? `${context}, unknown field ${JSON.stringify(key)}` : `unknown field ${JSON.stringify(key)}`;
    if (this.allowUnknown) this.warn(m, key, msg);
    else throw this.err(m, key, msg);
  }
}

/**
 * JetStream storage sizes: integers (units already applied by the parser) or strings
 * ending in K, M, G or T (powers of 1024), as nats-server's getStorageSize.
 */
export function readStorageSize(r: Reader, m: ConfMap, key: string, name: string): number {
  const k = kindOfEntry(m, key);
  if (k === "int") return m[key] as number;
  if (k !== "string") throw typeError(m, key, name, "a size", k, r.file);
  const s = m[key] as string;
  if (s === "") return 0;
  const mult: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  const unit = s[s.length - 1];
  if (!(unit in mult)) throw r.err(m, key, `${name} sizes defined as strings must end in K, M, G, T`);
  const num = s.slice(0, -1);
  if (!/^[+-]?\d+$/.test(num)) throw r.err(m, key, `${name} invalid size ${JSON.stringify(s)}`);
  return Number(num) * mult[unit];
}

export function lowerKeys(m: ConfMap): [string, string][] {
  return Object.keys(m).map((k) => [k, k.toLowerCase()]);
}
