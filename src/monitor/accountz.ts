// /accountz (accounts and one account's detail) and /accstatz (per-account traffic).
import type { Account } from "../server/account.js";
import type { Monitor } from "./monitor.js";
import { OptionError, type AccountzOptions, type AccstatzOptions } from "./endpoint-options.js";
import { compareStrings, goTime } from "./format.js";
import { sublistStats } from "./subsz.js";
import { jetStreamAccount } from "./jetstream-stats.js";

export function buildAccountz(m: Monitor, opts: AccountzOptions): Record<string, unknown> {
  const s = m.server;
  const out: Record<string, unknown> = { server_id: s.id, now: goTime(new Date()) };
  if (s.systemAccount !== undefined) out.system_account = s.systemAccount.name;
  if (opts.account === "") {
    out.accounts = [...s.accounts.keys()].sort(compareStrings);
    return out;
  }
  const acc = s.accounts.get(opts.account);
  if (acc === undefined) throw new OptionError(`Account ${opts.account} does not exist`);
  out.account_detail = accountDetail(m, acc);
  return out;
}

/** What /accountz?acc= and $SYS.REQ.ACCOUNT.<acc>.INFO say about one account. */
export function accountDetail(m: Monitor, acc: Account): Record<string, unknown> {
  const s = m.server;
  const d: Record<string, unknown> = {
    account_name: acc.name,
    update_time: goTime(acc.created),
    expired: false,
    complete: true,
    jetstream_enabled: jetStreamAccount(s, acc.name) !== undefined,
    leafnode_connections: 0,
    client_connections: acc.clients.size,
    subscriptions: acc.sublist.count,
  };
  if (s.systemAccount === acc) d.is_system = true;
  d.sublist_stats = sublistStats([acc]);
  return d;
}

/** One account's connection and traffic counts (accstatz, STATZ, CONNS events). */
export function accountStat(acc: Account): Record<string, unknown> {
  return {
    acc: acc.name,
    conns: acc.clients.size,
    leafnodes: 0,
    total_conns: acc.clients.size,
    sent: { msgs: acc.outMsgs, bytes: acc.outBytes },
    received: { msgs: acc.inMsgs, bytes: acc.inBytes },
    slow_consumers: acc.slowConsumers,
  };
}

export function buildAccstatz(m: Monitor, opts: AccstatzOptions): Record<string, unknown> {
  const s = m.server;
  let accounts: Account[];
  if (opts.accounts.length > 0) {
    accounts = opts.accounts.map((n) => s.accounts.get(n)).filter((a): a is Account => a !== undefined);
  } else {
    accounts = [...s.accounts.values()];
  }
  accounts.sort((a, b) => compareStrings(a.name, b.name));
  // Without include_unused, only accounts that have connections are listed.
  const stats = accounts.filter((a) => opts.includeUnused || a.clients.size > 0).map(accountStat);
  return { server_id: s.id, now: goTime(new Date()), account_statz: stats };
}
