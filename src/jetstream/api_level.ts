// JetStream API levels and asset versioning (ADR-44). The level tsnats reports follows the
// nats-server feature line it reports (NATS_FEATURE_VERSION), so a client never sees a
// level ahead of the version. Assets record in their metadata the level they need
// (`_nats.req.level`, stored); answers add the server's version and level (`_nats.ver`,
// `_nats.level`, never stored). A request may demand a minimum level with the
// `Nats-Required-Api-Level` header (412 / 10185 when the server is below it).
import { NATS_FEATURE_VERSION } from "../server/version.js";

export const REQUIRED_LEVEL_KEY = "_nats.req.level";
export const SERVER_VERSION_KEY = "_nats.ver";
export const SERVER_LEVEL_KEY = "_nats.level";
export const HDR_REQUIRED_API_LEVEL = "Nats-Required-Api-Level";

/** nats-server's JSApiLevel per release line (2.10 had none: 0). */
function apiLevelOf(version: string): number {
  const [major, minor] = version.split(".").map(Number);
  if (major !== 2 || minor === undefined || minor < 11) return 0;
  if (minor === 11) return 1;
  if (minor < 14) return 2;
  if (minor === 14) return 4;
  return 5;
}

export const JS_API_LEVEL = apiLevelOf(NATS_FEATURE_VERSION);

/**
 * The highest level of stored configs this code runs: its config shapes are nats-server
 * 2.15's. Only assets needing more are offline (ADR-44), whatever level is reported.
 */
export const SUPPORTED_API_LEVEL = Math.max(JS_API_LEVEL, 5);

/** The level a stream config needs (what nats-server records in `_nats.req.level`). */
export function streamRequiredLevel(cfg: {
  allow_msg_ttl?: boolean;
  subject_delete_marker_ttl?: number;
  allow_msg_counter?: boolean;
  allow_atomic?: boolean;
  allow_msg_schedules?: boolean;
  persist_mode?: string;
  allow_batched?: boolean;
}): number {
  let level = 0;
  if (cfg.allow_msg_ttl || (cfg.subject_delete_marker_ttl ?? 0) > 0) level = 1;
  if (cfg.allow_msg_counter || cfg.allow_atomic || cfg.allow_msg_schedules || cfg.persist_mode === "async") level = 2;
  if (cfg.allow_batched) level = 4;
  return level;
}

/** Metadata as stored: no dynamic keys, the required level set. */
export function staticMetadata(metadata: Record<string, string> | undefined, requiredLevel: number): Record<string, string> {
  const md: Record<string, string> = { ...(metadata ?? {}) };
  delete md[SERVER_VERSION_KEY];
  delete md[SERVER_LEVEL_KEY];
  md[REQUIRED_LEVEL_KEY] = String(requiredLevel);
  return md;
}

/**
 * For comparing a re-sent config with the stored one: the required level is taken from
 * the stored metadata (or dropped when it has none), as nats-server's copyStreamMetadata.
 */
export function withStoredLevel(metadata: Record<string, string> | undefined, stored: Record<string, string> | undefined): Record<string, string> | undefined {
  const md: Record<string, string> = { ...(metadata ?? {}) };
  delete md[SERVER_VERSION_KEY];
  delete md[SERVER_LEVEL_KEY];
  const level = stored?.[REQUIRED_LEVEL_KEY];
  if (level !== undefined) md[REQUIRED_LEVEL_KEY] = level;
  else delete md[REQUIRED_LEVEL_KEY];
  return Object.keys(md).length > 0 ? md : undefined;
}

/** Metadata in an answer: the stored keys plus this server's version and level. */
export function dynamicMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  return { ...(metadata ?? {}), [SERVER_VERSION_KEY]: NATS_FEATURE_VERSION, [SERVER_LEVEL_KEY]: String(JS_API_LEVEL) };
}

/** Metadata of an answer as it is stored (a LIST item built from another server's INFO answer). */
export function withoutDynamicMetadata(metadata: Record<string, string>): Record<string, string> {
  const md = { ...metadata };
  delete md[SERVER_VERSION_KEY];
  delete md[SERVER_LEVEL_KEY];
  return md;
}

/** Can this server run an asset that records `metadata`? (ADR-44: otherwise it is offline) */
export function supportsRequiredLevel(metadata: Record<string, string> | undefined): boolean {
  const l = metadata?.[REQUIRED_LEVEL_KEY];
  if (l === undefined || l === "") return true;
  const n = goAtoi(l);
  return n !== undefined && n <= SUPPORTED_API_LEVEL;
}

/** Does a `Nats-Required-Api-Level` value ask for more than this server has? (unparsable: yes) */
export function requiredLevelUnmet(value: string | undefined): boolean {
  if (value === undefined || value === "") return false;
  const n = goAtoi(value);
  return n === undefined || JS_API_LEVEL < n;
}

function goAtoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}
