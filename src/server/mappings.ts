// Subject mappings of an account (`mappings {}`): a published subject is rewritten before it
// is routed, to one destination or to one of several chosen at random by weight. Each
// destination is a transform of the shared engine (subject_transform.ts), so wildcards,
// partition(), split and slice functions work as in streams.
//
// Weights are percentages. As in nats-server, when the destinations of a mapping do not add
// up to 100, the original subject takes the remainder (unless it is listed itself, which
// means the remainder is dropped); destinations are kept sorted with cumulative weights.
// Cluster-scoped destinations are kept apart and used when the server's cluster has that
// name; elsewhere the unscoped ones apply.
import { SubjectTransform } from "./subject_transform.js";
import { AccountError } from "./exports.js";
import { hasWildcard, isValidSubject, subjectMatches } from "../protocol/subject.js";
import { tokenizeWildcards } from "./imports.js";
import type { MappingDestination } from "../config/options.js";

interface Destination {
  readonly subject: string;
  readonly transform: SubjectTransform | undefined;
  /** Cumulative weight, 1..100. */
  weight: number;
}

export class SubjectMapping {
  readonly wildcard: boolean;
  constructor(
    readonly src: string,
    readonly destinations: Destination[],
    readonly clusterDestinations: ReadonlyMap<string, Destination[]>,
  ) {
    this.wildcard = hasWildcard(src);
  }

  /** The mapped subject of a subject this mapping's source matches ("" when dropped). */
  map(subject: string, cluster: (() => string | undefined) | undefined): string {
    // Cluster-scoped destinations apply in that cluster; elsewhere (or without one) the others do.
    const name = this.clusterDestinations.size > 0 ? cluster?.() : undefined;
    const dests = (name !== undefined ? this.clusterDestinations.get(name) : undefined) ?? this.destinations;
    let d: Destination | undefined;
    if (dests.length === 1 && dests[0].weight === 100) d = dests[0];
    else {
      const w = Math.floor(Math.random() * 100);
      d = dests.find((x) => w < x.weight);
    }
    if (d === undefined) return "";
    if (d.transform === undefined) return d.subject;
    return d.transform.apply(subject) ?? "";
  }

  /** `/accountz` shape: destinations with their cumulative weights. */
  toJson(): Array<{ subject: string; weight: number; cluster?: string }> {
    const out: Array<{ subject: string; weight: number; cluster?: string }> = this.destinations.map((d) => ({ subject: d.subject, weight: d.weight }));
    for (const [cluster, list] of this.clusterDestinations) for (const d of list) out.push({ subject: d.subject, weight: d.weight, cluster });
    return out;
  }
}

function destination(src: string, subject: string, weight: number): Destination {
  const tokens = subject.split(".");
  // A `*` destination, or a `>` the source has no `>` for, is no subject a message can get.
  if (!isValidSubject(subject) || tokens.includes("*") || (tokens.includes(">") && !src.endsWith(">"))) {
    throw new AccountError("invalid subject");
  }
  const refs = /\$\d|\{\{/.test(subject);
  // A `>` takes the tail the source's `>` matched ("$JS.hub.API.STREAM.>" -> "$JS.API.STREAM.>").
  if (!refs && !tokens.includes(">")) return { subject, transform: undefined, weight };
  if (refs && !hasWildcard(src)) {
    const bad = tokens.find((t) => /\$\d|\{\{/.test(t));
    throw new AccountError(`invalid mapping destination: wildcard index out of range in ${bad}`);
  }
  const tr = SubjectTransform.parse(src, subject);
  if (tr === undefined) throw new AccountError(`invalid mapping destination: ${JSON.stringify(subject)} does not fit ${JSON.stringify(src)}`);
  return { subject, transform: tr, weight };
}

/** Sorts by weight, adds the source for a remainder, and makes the weights cumulative. */
function finish(src: string, dests: Destination[], listed: Set<string>): Destination[] {
  const total = dests.reduce((n, d) => n + d.weight, 0);
  if (total !== 100 && !listed.has(src)) {
    dests.push(destination(src, hasWildcard(src) ? tokenizeWildcards(src) : src, dests.length === 0 ? 100 : 100 - total));
  }
  dests.sort((a, b) => a.weight - b.weight);
  let acc = 0;
  for (const d of dests) {
    d.weight += acc;
    acc = d.weight;
  }
  return dests;
}

/** Build a mapping with nats-server's checks and error texts. */
export function newSubjectMapping(src: string, dests: readonly MappingDestination[]): SubjectMapping {
  if (!isValidSubject(src)) throw new AccountError("invalid subject");
  const seen = new Set<string>();
  const totals = new Map<string, number>();
  const main: Destination[] = [];
  const scoped = new Map<string, Destination[]>();
  for (const d of dests) {
    if (seen.has(d.subject)) throw new AccountError(`duplicate entry for ${JSON.stringify(d.subject)}`);
    seen.add(d.subject);
    if (d.weight > 100) throw new AccountError("individual weights need to be <= 100");
    const cluster = d.cluster ?? "";
    const t = (totals.get(cluster) ?? 0) + d.weight;
    if (t > 100) throw new AccountError("total weight needs to be <= 100");
    totals.set(cluster, t);
    const dest = destination(src, d.subject, d.weight);
    if (cluster === "") main.push(dest);
    else {
      const list = scoped.get(cluster) ?? [];
      list.push(dest);
      scoped.set(cluster, list);
    }
  }
  const clusterDests = new Map<string, Destination[]>();
  for (const [c, list] of scoped) clusterDests.set(c, finish(src, list, seen));
  return new SubjectMapping(src, finish(src, main, seen), clusterDests);
}

/** An account's mappings, first match wins (in the order they were added). */
export class MappingTable {
  private readonly list: SubjectMapping[] = [];

  get size(): number {
    return this.list.length;
  }

  get entries(): readonly SubjectMapping[] {
    return this.list;
  }

  /** Add (or replace the mapping of the same source). */
  set(m: SubjectMapping): void {
    const i = this.list.findIndex((x) => x.src === m.src);
    if (i >= 0) this.list[i] = m;
    else this.list.push(m);
  }

  remove(src: string): boolean {
    const i = this.list.findIndex((x) => x.src === src);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /** The subject to route instead of `subject`, or `subject` itself when no mapping applies. */
  map(subject: string, cluster?: () => string | undefined): string {
    for (const m of this.list) {
      if (m.wildcard ? subjectMatches(m.src, subject) : m.src === subject) return m.map(subject, cluster);
    }
    return subject;
  }
}
