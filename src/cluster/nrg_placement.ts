// Which servers a tsnats meta leader places a stream's group on (nrg_meta_leader.ts), as
// nats-server 2.15's selectPeerGroup chooses them. Pure: candidates in, peers out.
//
// A candidate is left out for a `!jetstream` server tag, the first placement tag (in the order
// asked) it lacks or, excluded (`!tag`), has, too little room for max_bytes, more RAFT groups than the meta
// leader's `max_ha_assets` allows (any stream, replicated or not, as 2.15.1 checks), or a value of the meta leader's
// `unique_tag` prefix another chosen (or kept) server already has (none: left out too; naming
// the prefix in the placement's tags turns the check off). The rest go most room first (free
// room of the stream's storage kind; a tie to the server with fewer streams), and for a
// replicated stream the fewest replicated streams first, the order kept among equals. Too few:
// refused with nats-server's reasons in its order (`no suitable peers for placement, ...`).
import { jsError } from "../jetstream/errors.js";

export interface NrgCandidate {
  id: string;
  /** Its server tags, lower-cased. */
  tags: string[];
  /** Its free room of the stream's storage kind. */
  available: number;
  /** Streams assigned to it, and of those the replicated ones. */
  streams: number;
  replicated: number;
  /** The RAFT groups it runs, the meta group included, as its STATSZ last showed (undefined: not heard). */
  haAssets: number | undefined;
}

export interface NrgPlacementAsk {
  replicas: number;
  /** The placement's tags as asked (`!tag` excludes), compared lower-cased. */
  tags: string[];
  maxBytes: number;
  /** The meta leader's `jetstream { unique_tag }` prefix, "" for none. */
  uniqueTag: string;
  /** Peers kept (a scale-up's current ones), first in the result, their unique tags taken. */
  existing: string[];
  /** The existing peers' tags (for their unique tag values). */
  tagsOf(id: string): string[] | undefined;
  /** The meta leader's own `jetstream { limits { max_ha_assets } }`, 0 for none. */
  maxHaAssets: number;
}

/**
 * The peers for `ask` among `candidates` (in random order, as nats-server shuffles the meta
 * group's members), or a JSClusterNoPeersErrF refusal.
 */
export function selectPlacement(candidates: NrgCandidate[], ask: NrgPlacementAsk): string[] {
  if (ask.existing.length >= ask.replicas) return ask.existing.slice(0, ask.replicas);
  // Each tag as asked (named so in a refusal), compared lower-cased; "!tag" excludes.
  const checks = ask.tags.map((t) => {
    const exclude = t.startsWith("!");
    const shown = exclude ? t.slice(1) : t;
    return { shown, tag: shown.toLowerCase(), exclude };
  });
  let unique = ask.uniqueTag.toLowerCase();
  if (unique !== "" && checks.some((c) => c.tag.startsWith(unique))) unique = "";
  const taken = new Set<string>();
  const uniqueValue = (tags: string[]): string | undefined => tags.find((t) => t.startsWith(unique));
  if (unique !== "") {
    for (const id of ask.existing) {
      const v = uniqueValue(ask.tagsOf(id) ?? []);
      if (v !== undefined) taken.add(v);
    }
  }
  const why = { excludeTag: false, noStorage: false, uniqueTag: false, misc: false, missing: new Set<string>(), excluded: new Set<string>() };
  const chosen: NrgCandidate[] = [];
  for (const c of candidates) {
    if (ask.existing.includes(c.id)) continue;
    if (c.tags.includes("!jetstream")) {
      why.excludeTag = true;
      continue;
    }
    // Only the first tag the server fails counts, in the order asked.
    const failed = checks.find((t) => c.tags.includes(t.tag) === t.exclude);
    if (failed !== undefined) {
      (failed.exclude ? why.excluded : why.missing).add(failed.shown);
      continue;
    }
    if (ask.maxBytes > 0 && ask.maxBytes > c.available) {
      why.noStorage = true;
      continue;
    }
    // Its groups count the meta group too, hence more than the limit, not as many.
    if (ask.maxHaAssets > 0 && c.haAssets !== undefined && c.haAssets > ask.maxHaAssets) {
      why.misc = true;
      continue;
    }
    if (unique !== "") {
      const v = uniqueValue(c.tags);
      if (v === undefined || taken.has(v)) {
        why.uniqueTag = true;
        continue;
      }
      taken.add(v);
    }
    chosen.push(c);
  }
  const needed = ask.replicas - ask.existing.length;
  if (chosen.length < needed) {
    let err = "no suitable peers for placement";
    if (why.excludeTag) err += ", exclude tag set";
    if (why.noStorage) err += ", insufficient storage";
    if (why.uniqueTag) err += ", server tag not unique";
    if (why.misc) err += ", miscellaneous issue";
    if (why.missing.size > 0) err += `, tags not matched ['${[...why.missing].join("', '")}']`;
    if (why.excluded.size > 0) err += `, tags excluded ['${[...why.excluded].join("', '")}']`;
    throw jsError("JSClusterNoPeersErrF", { err });
  }
  chosen.sort((a, b) => (a.available === b.available ? a.streams - b.streams : b.available - a.available));
  // Array.prototype.sort is stable: equals keep the room order.
  if (ask.replicas > 1) chosen.sort((a, b) => a.replicated - b.replicated);
  return [...ask.existing, ...chosen.slice(0, needed).map((c) => c.id)];
}
