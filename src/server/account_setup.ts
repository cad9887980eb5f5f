// Builds the accounts a configuration describes (config mode): limits, exports, imports and
// mappings, in nats-server's order (every account first, then exports, then stream imports,
// then service imports) and with its error texts, located at the `accounts` block
// ("file:line:col: Error adding service import "foo": service import not authorized").
//
// Run at start-up, on reload (the same Account objects are updated in place, so connected
// clients keep their account), and as a dry run by `validateOptions` (`-t`).
import { Account, unlimitedAccountLimits } from "./account.js";
import { AccountError } from "./exports.js";
import { unlimitedJetStream, type AccountConfig, type ExportConfig, type ImportConfig, type MappingConfig, type ServerOptions } from "../config/options.js";

/** nats-server's name for the account of users not placed in any account. */
export const GLOBAL_ACCOUNT = "$G";
export const DEFAULT_SYSTEM_ACCOUNT = "$SYS";

/** A configuration error about accounts, prefixed with where the accounts block is. */
export class AccountConfigError extends Error {}

function fail(where: string | undefined, msg: string): never {
  throw new AccountConfigError(where !== undefined ? `${where}: ${msg}` : msg);
}

function reason(err: unknown): string {
  if (err instanceof AccountError) return err.message;
  throw err;
}

export interface AccountRegistry {
  /** The account of that name, created when missing. */
  register(name: string): Account;
  lookup(name: string): Account | undefined;
}

/** A registry on a plain map, for dry runs. */
export function scratchRegistry(): AccountRegistry {
  const m = new Map<string, Account>();
  return {
    register: (name) => {
      let a = m.get(name);
      if (a === undefined) {
        a = new Account(name);
        m.set(name, a);
      }
      return a;
    },
    lookup: (name) => m.get(name),
  };
}

/** Check what only a built account model can tell (unknown accounts, authorization, cycles). */
export function checkAccountsConfig(options: ServerOptions): void {
  const reg = scratchRegistry();
  configureAccounts(options, reg);
  for (const name of [GLOBAL_ACCOUNT, ...options.accounts.map((a) => a.name)]) reg.lookup(name)?.close();
}

/**
 * Create or update every configured account and wire what they share. Imports and exports
 * of existing accounts are replaced, so a reload applies the new configuration.
 */
export function configureAccounts(options: ServerOptions, reg: AccountRegistry): void {
  const global = reg.register(GLOBAL_ACCOUNT);
  const configured: Array<[AccountConfig, Account]> = options.accounts.map((c) => [c, reg.register(c.name)]);
  for (const acc of [global, ...configured.map(([, a]) => a)]) {
    acc.clearImports();
    acc.clearExports();
    acc.clearMappings();
  }
  for (const [c, acc] of configured) {
    acc.nkey = c.nkey;
    acc.jetStreamLimits =
      c.jetstream === undefined || c.jetstream === false ? undefined : new Map([["", c.jetstream === true ? unlimitedJetStream() : { ...c.jetstream }]]);
    acc.limits = unlimitedAccountLimits();
    const l = c.limits;
    if (l?.maxConnections !== undefined) acc.limits.maxConnections = l.maxConnections;
    if (l?.maxSubscriptions !== undefined) acc.limits.maxSubscriptions = l.maxSubscriptions;
    if (l?.maxPayload !== undefined) acc.limits.maxPayload = l.maxPayload;
    if (l?.maxLeafNodes !== undefined) acc.limits.maxLeafNodes = l.maxLeafNodes;
    acc.traceDest = c.traceDest;
    acc.traceSampling = c.traceSampling ?? 0;
  }
  // Errors found here point at the accounts block; there is one, or nothing would be exported.
  for (const [c, acc] of configured) for (const e of c.exports ?? []) addExport(options, reg, acc, e);
  for (const [c, acc] of configured) for (const im of c.imports ?? []) if (im.stream !== undefined) addStreamImport(reg, acc, im);
  for (const [c, acc] of configured) for (const im of c.imports ?? []) if (im.service !== undefined) addServiceImport(reg, acc, im);
  for (const m of options.mappings) addMapping(global, m);
  for (const [c, acc] of configured) for (const m of c.mappings ?? []) addMapping(acc, m);
}

function approvedAccounts(reg: AccountRegistry, e: ExportConfig, kind: string): string[] | undefined {
  if (e.accounts === undefined) return undefined;
  for (const name of e.accounts) {
    if (reg.lookup(name) === undefined) fail(e.where, `${JSON.stringify(name)} account not defined for ${kind} export`);
  }
  return e.accounts;
}

function addExport(options: ServerOptions, reg: AccountRegistry, acc: Account, e: ExportConfig): void {
  if (e.stream !== undefined) {
    const approved = approvedAccounts(reg, e, "stream");
    try {
      acc.addStreamExport(e.stream, { approved, accountTokenPosition: e.accountTokenPosition });
    } catch (err) {
      fail(e.where, `Error adding stream export ${JSON.stringify(e.stream)}: ${reason(err)}`);
    }
    return;
  }
  const subject = e.service as string;
  const approved = approvedAccounts(reg, e, "service");
  let se;
  try {
    se = acc.addServiceExport(subject, {
      approved,
      accountTokenPosition: e.accountTokenPosition,
      responseType: e.responseType,
      responseThresholdMs: e.responseThresholdMs,
      allowTrace: e.allowTrace,
    });
  } catch (err) {
    fail(e.where, `Error adding service export ${JSON.stringify(subject)}: ${reason(err)}`);
  }
  if (e.latency === undefined) return;
  if (options.noSystemAccount) fail(e.where, `Error adding service latency sampling for ${JSON.stringify(subject)}: system account not setup`);
  try {
    if (acc.serviceExports.has(e.latency.subject) || acc.findServiceExport(e.latency.subject) !== undefined || /[*>\s]/.test(e.latency.subject)) {
      throw new AccountError("invalid publish subject");
    }
    se.trackLatency(e.latency);
  } catch (err) {
    fail(
      e.where,
      `Error adding service latency sampling for ${JSON.stringify(subject)} on subject ${JSON.stringify(e.latency.subject)}: ${reason(err)}`,
    );
  }
}

function addStreamImport(reg: AccountRegistry, acc: Account, im: ImportConfig): void {
  const src = im.stream as { account: string; subject: string };
  const exporter = reg.lookup(src.account);
  if (exporter === undefined) fail(im.where, `${JSON.stringify(src.account)} account not defined for stream import`);
  try {
    acc.addStreamImport(exporter, src.subject, { prefix: im.prefix, to: im.to, allowTrace: im.allowTrace });
  } catch (err) {
    fail(im.where, `Error adding stream import ${JSON.stringify(src.subject)}: ${reason(err)}`);
  }
}

function addServiceImport(reg: AccountRegistry, acc: Account, im: ImportConfig): void {
  const src = im.service as { account: string; subject: string };
  const exporter = reg.lookup(src.account);
  if (exporter === undefined) fail(im.where, `${JSON.stringify(src.account)} account not defined for service import`);
  try {
    acc.addServiceImport(exporter, src.subject, { to: im.to, share: im.share });
  } catch (err) {
    fail(im.where, `Error adding service import ${JSON.stringify(src.subject)}: ${reason(err)}`);
  }
}

function addMapping(acc: Account, m: MappingConfig): void {
  try {
    acc.addMapping(m.subject, m.destinations);
  } catch (err) {
    const single = m.destinations.length === 1 && m.destinations[0].weight === 100 && m.destinations[0].cluster === undefined;
    const what = single ? `${JSON.stringify(m.subject)} to ${JSON.stringify(m.destinations[0].subject)}` : JSON.stringify(m.subject);
    fail(m.where, `Error adding mapping for ${what} : ${reason(err)}`);
  }
}
