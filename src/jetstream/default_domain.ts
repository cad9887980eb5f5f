// `default_js_domain { ACCOUNT: domain }`, nats-server's backwards-compatibility option for
// leaf node set-ups where JetStream lives in another domain:
//  - an account without JetStream on this server gets mappings that send what its clients
//    publish to the plain API (`$JS.API.STREAM.>`, `$KV.>`, ...) to that domain's API
//    (`$JS.<domain>.API.STREAM.>`, ...), so unmodified clients reach the domain over leaf nodes;
//  - an account whose default domain is "" keeps `$JS.API.>` open across its leaf connections
//    (pre-domain set-ups), and then the system account does not extend JetStream over leaf nodes
//    (leafnodes.ts applies both).
// The domain prefix table is the one a server with a domain uses the other way round (jetstream.ts).
import type { Account } from "../server/account.js";
import type { ServerOptions } from "../config/options.js";
import type { Log } from "../server/log.js";
import { isValidSubject } from "../protocol/subject.js";
import { isPublicKey } from "../auth/nkey_keys.js";

/** Subjects of a domain's JetStream API, each with the local subject it stands for. */
export function jsDomainMappingTable(domain: string): Array<[domainSubject: string, localSubject: string]> {
  const pre = `$JS.${domain}.API`;
  return [
    [`${pre}.INFO`, "$JS.API.INFO"],
    ...["STREAM", "CONSUMER", "DIRECT", "META", "SERVER", "ACCOUNT"].map((t): [string, string] => [`${pre}.${t}.>`, `$JS.API.${t}.>`]),
    [`${pre}.$KV.>`, "$KV.>"],
    [`${pre}.$OBJ.>`, "$OBJ.>"],
  ];
}

function hasDefaults(o: Pick<ServerOptions, "defaultJsDomain">): o is { defaultJsDomain: Record<string, string> } {
  return o.defaultJsDomain !== undefined && Object.keys(o.defaultJsDomain).length > 0;
}

/** The accounts whose default domain is "" (their `$JS.API` may cross leaf connections). */
export function emptyDefaultDomain(o: Pick<ServerOptions, "defaultJsDomain">, account: string): boolean {
  return hasDefaults(o) && Object.hasOwn(o.defaultJsDomain, account) && o.defaultJsDomain[account] === "";
}

/** Some account maps to the empty domain: the system account then never extends JetStream over a leaf. */
export function anyEmptyDefaultDomain(o: Pick<ServerOptions, "defaultJsDomain">): boolean {
  return hasDefaults(o) && Object.values(o.defaultJsDomain).includes("");
}

/** nats-server's start-up checks of `default_js_domain`, with its wording. */
export function validateDefaultJsDomain(o: ServerOptions): void {
  if (!hasDefaults(o)) return;
  const domains = o.defaultJsDomain;
  const operatorMode = o.operatorJwts.length > 0 || o.trustedKeys.length > 0;
  for (const [acc, domain] of Object.entries(domains)) {
    if (operatorMode) {
      if (!isPublicKey(acc, "A")) {
        throw new Error(`default_js_domain contains account name ${JSON.stringify(acc)}, which is not a valid public account nkey`);
      }
      continue;
    }
    if (acc === "$G") continue;
    const configured = o.accounts.find((a) => a.name === acc);
    if (configured === undefined) throw new Error(`in non operator mode, \`default_js_domain\` references non existing account ${JSON.stringify(acc)}`);
    if (configured.jetstream !== undefined && configured.jetstream !== false && domain !== "") {
      throw new Error(`default_js_domain contains account name ${JSON.stringify(acc)} with enabled JetStream`);
    }
  }
  const sys = o.systemAccount ?? "$SYS";
  for (const [acc, domain] of Object.entries(domains)) {
    if (acc === sys) throw new Error(`system account ${JSON.stringify(acc)} can not be in default_js_domain`);
    if (domain !== "" && !isValidSubject(`$JS.${domain}.API.>`)) {
      throw new Error(`default_js_domain contains account ${JSON.stringify(acc)} with invalid domain name ${JSON.stringify(domain)}`);
    }
  }
}

/**
 * Give an account the mappings of its default domain (once its JetStream limits are known):
 * skipped, with a warning, when the account has JetStream here. Mappings the account defines
 * itself win.
 */
export function applyDefaultJsDomain(acc: Account, o: Pick<ServerOptions, "defaultJsDomain">, log: Log): void {
  if (!hasDefaults(o) || !Object.hasOwn(o.defaultJsDomain, acc.name)) return;
  const domain = o.defaultJsDomain[acc.name];
  if (acc.jetStreamLimits !== undefined) {
    log.warn(`Skipping Default Domain ${JSON.stringify(domain)}, set for JetStream enabled account ${JSON.stringify(acc.name)}`);
    return;
  }
  if (domain === "") return;
  for (const [domainSubject, localSubject] of jsDomainMappingTable(domain)) {
    if (acc.mappings?.entries.some((m) => m.src === localSubject)) continue;
    log.info(`Adding default domain mapping ${JSON.stringify(localSubject)} -> ${JSON.stringify(domainSubject)} to account ${JSON.stringify(acc.name)}`);
    acc.addMapping(localSubject, [{ subject: domainSubject, weight: 100 }]);
  }
}

/** Go's %v of a map[string]string (keys sorted), for reload errors. */
export function goMapText(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return `map[${keys.map((k) => `${k}:${(m as Record<string, string>)[k]}`).join(" ")}]`;
}
