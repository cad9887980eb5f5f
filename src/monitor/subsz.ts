// /subsz (/subscriptionsz): sublist statistics summed over accounts, and optionally the
// subscriptions themselves, filtered by account and by a subject they would receive.
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import { isValidLiteralSubject, subjectMatches } from "../protocol/subject.js";
import type { Monitor } from "./monitor.js";
import { OptionError, type SubszOptions } from "./endpoint-options.js";
import { goTime } from "./format.js";
import { subDetail } from "./connz.js";

export interface SublistStats {
  num_subscriptions: number;
  num_cache: number;
  num_inserts: number;
  num_removes: number;
  num_matches: number;
  cache_hit_rate: number;
  max_fanout: number;
  avg_fanout: number;
}

/** Statistics of the sublists of `accounts`, added up. */
export function sublistStats(accounts: Iterable<Account>): SublistStats {
  let subs = 0;
  let cache = 0;
  let inserts = 0;
  let removes = 0;
  let matches = 0;
  let hits = 0;
  let maxFanout = 0;
  let fanoutTotal = 0;
  let cacheEntries = 0;
  for (const acc of accounts) {
    const sl = acc.sublist;
    subs += sl.count;
    cache += sl.cacheSize;
    inserts += sl.inserts;
    removes += sl.removes;
    matches += sl.matches;
    hits += sl.cacheHits;
    const f = sl.cacheFanout();
    if (f.max > maxFanout) maxFanout = f.max;
    fanoutTotal += f.total;
    cacheEntries += f.entries;
  }
  return {
    num_subscriptions: subs,
    num_cache: cache,
    num_inserts: inserts,
    num_removes: removes,
    num_matches: matches,
    cache_hit_rate: matches > 0 ? hits / matches : 0,
    max_fanout: maxFanout,
    avg_fanout: cacheEntries > 0 ? fanoutTotal / cacheEntries : 0,
  };
}

export function buildSubsz(m: Monitor, opts: SubszOptions): Record<string, unknown> {
  const s = m.server;
  let accounts: Account[];
  if (opts.account !== "") {
    // An account that does not exist has no subscriptions (nats-server answers so, not an error).
    const acc = s.accounts.get(opts.account);
    accounts = acc === undefined ? [] : [acc];
  } else {
    accounts = [...s.accounts.values()];
  }
  if (opts.test !== "" && !isValidLiteralSubject(opts.test)) {
    throw new OptionError(`invalid test subject, must be valid publish subject: ${opts.test}`);
  }
  const out: Record<string, unknown> = { server_id: s.id, now: goTime(new Date()), ...sublistStats(accounts) };
  let list: Array<{ sub: Subscription; account: Account }> = [];
  if (opts.subs) {
    for (const acc of accounts) {
      for (const sub of acc.sublist.all()) {
        if (opts.test !== "" && !subjectMatches(sub.subject, opts.test)) continue;
        list.push({ sub, account: acc });
      }
    }
  }
  // As nats-server 2.15: `total` counts every subscription that matched, the list holds the
  // page of them, and an empty list is left out (2.9 counted the page only).
  out.total = list.length;
  out.offset = opts.offset;
  out.limit = opts.limit;
  const page = list.slice(opts.offset, opts.offset + opts.limit);
  if (page.length > 0) out.subscriptions_list = page.map((e) => subDetail(e.sub, e.account.name, e.account.nameTag));
  return out;
}
