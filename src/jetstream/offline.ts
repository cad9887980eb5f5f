// Offline assets (ADR-44): a stream or consumer stored by a newer server, whose config needs
// a higher API level than this one (`_nats.req.level` in its metadata) or has fields this
// server does not know, is not run. As nats-server 2.12+ does on a single server, it stays
// registered so the API can say why: STREAM.INFO / UPDATE and CONSUMER.CREATE answer "stream
// is offline: <reason>" (after half a second, as nats-server delays it), STREAM.LIST lists it
// under `offline` and `missing`, STREAM.NAMES names it, its subjects still count against
// overlapping streams, and it can be deleted. A stream with such a consumer is stopped as a
// whole ("stopped - unsupported consumer"), its unsupported consumers listed the same way.
// Nothing of it is touched on disk until it is deleted, so a newer server finds it intact.
import fs from "node:fs";
import { CONSUMER_CONFIG_SHAPE, STREAM_CONFIG_SHAPE, strictDecodeError } from "./json.js";
import { isDeepStrictEqual } from "node:util";
import { dynamicMetadata, JS_API_LEVEL, REQUIRED_LEVEL_KEY, supportsRequiredLevel } from "./api_level.js";
import { nowNs, parseRfc3339, rfc3339 } from "../server/time.js";

/** How long nats-server waits before it answers a request about an offline asset. */
export const OFFLINE_ERROR_DELAY_MS = 500;

/**
 * Why a stored config cannot run here (nats-server's texts), or undefined when it can. Type
 * errors other than unknown fields make the config unreadable: `undefined` and the caller's
 * own decoding fails on it, as nats-server skips such a stream.
 */
export function offlineReason(config: unknown, kind: "stream" | "consumer"): string | undefined {
  if (config === null || typeof config !== "object") return undefined;
  const strictErr =
    kind === "stream" ? strictDecodeError(config, STREAM_CONFIG_SHAPE, "StreamConfig") : strictDecodeError(config, CONSUMER_CONFIG_SHAPE, "ConsumerConfig");
  const metadata = (config as { metadata?: unknown }).metadata;
  const md = metadata !== null && typeof metadata === "object" ? (metadata as Record<string, string>) : undefined;
  const supported = supportsRequiredLevel(md);
  if (supported && strictErr === undefined) return undefined;
  if (!supported) {
    if (strictErr !== undefined) return `unsupported - config error: ${strictErr.replace(/^json: /, "")}`;
    return `unsupported - required API level: ${md?.[REQUIRED_LEVEL_KEY] ?? ""}, current API level: ${JS_API_LEVEL}`;
  }
  // A supported level but a field this server does not know.
  if (strictErr!.startsWith("json: unknown field ")) return `decoding error: ${strictErr}`;
  return undefined;
}

/** A consumer of an offline stream that this server cannot run. */
export interface OfflineConsumer {
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly created: bigint;
  readonly reason: string;
}

/** A stream this server keeps registered but does not run. */
export class OfflineStream {
  readonly consumers = new Map<string, OfflineConsumer>();
  readonly created: bigint;

  constructor(
    readonly name: string,
    /** The stored config, as stored (it may hold fields this server does not know). */
    readonly config: Record<string, unknown>,
    created: string | undefined,
    readonly reason: string,
    readonly dir: string,
  ) {
    this.created = parseRfc3339(created ?? "") ?? nowNs();
  }

  get subjects(): string[] {
    const s = this.config.subjects;
    return Array.isArray(s) ? s.filter((x): x is string => typeof x === "string") : [];
  }

  get replicas(): number {
    const r = this.config.num_replicas;
    return typeof r === "number" ? r : 1;
  }

  /** Does a create request ask for this stream's config? (nats-server compares without metadata) */
  sameConfig(cfg: object): boolean {
    for (const [k, v] of Object.entries(cfg)) {
      if (k === "metadata") continue;
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(v ?? null)), JSON.parse(JSON.stringify(this.config[k] ?? null)))) return false;
    }
    return true;
  }

  /** What nats-server answers about the closed stream: its config as this server reads it, no state. */
  closedInfoJson(): Record<string, unknown> {
    const config: Record<string, unknown> = {};
    const known = new Set(Object.keys(STREAM_CONFIG_SHAPE));
    for (const [k, v] of Object.entries(this.config)) if (known.has(k)) config[k] = v;
    const md = this.config.metadata;
    config.metadata = dynamicMetadata(md !== null && typeof md === "object" ? (md as Record<string, string>) : undefined);
    const zero = "0001-01-01T00:00:00Z";
    return {
      config,
      created: rfc3339(this.created),
      state: { messages: 0, bytes: 0, first_seq: 0, first_ts: zero, last_seq: 0, last_ts: zero, consumer_count: 0 },
      ts: rfc3339(nowNs()),
    };
  }

  /** Remove the stream's files. */
  delete(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
