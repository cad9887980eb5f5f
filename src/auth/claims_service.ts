// The account-claims protocol of the system account (operator mode), as nats-server speaks it:
//   $SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE, $SYS.ACCOUNT.<id>.CLAIMS.UPDATE   a new JWT for an account
//   $SYS.REQ.CLAIMS.UPDATE                   a new JWT (the account is its subject)
//   $SYS.REQ.ACCOUNT.<id>.CLAIMS.LOOKUP      the JWT held for an account (empty: not here)
//   $SYS.REQ.CLAIMS.LIST                     the accounts held
//   $SYS.REQ.CLAIMS.DELETE                   operator-signed deletion of accounts
//   $SYS.REQ.CLAIMS.PACK                     exchange of every JWT between servers (full)
// With the MEMORY and URL resolvers only pushes are handled: an update applies to an account
// in use and is not stored. The NATS-based resolvers (full, cache) store what they accept and
// apply it when the account is in use; answers carry nats-server's texts and shapes
// (`{server, data: {account, code: 200, message}}` or `{server, error: {account, code: 500,
// description}}`).
import { nuid } from "@nats-io/nuid";
import type { Server, ServerService } from "../server/server.js";
import type { Account } from "../server/account.js";
import type { Subscription } from "../server/sublist.js";
import type { SystemAccountService } from "../monitor/system-account.js";
import { decodeAccountClaims, validateAccountClaims, ValidationResults, type AccountClaims } from "./claims.js";
import { decodeJwt } from "./jwt.js";
import { isPublicKey } from "./nkey_keys.js";
import { DirResolver } from "./dir_resolver.js";
import type { JwtAccounts } from "./jwt_accounts.js";
import { disableAccount, releaseAccountClaims } from "./account_jwt.js";

type Json = Record<string, unknown>;
type Handler = (subject: string, reply: string, body: Buffer) => void;

/** Blocking validation problems (time checks aside), as nats-server's claimValidate words them. */
function claimValidationError(claims: AccountClaims): string | undefined {
  const vr = new ValidationResults();
  validateAccountClaims(claims, vr);
  return vr.isBlocking(false) ? `validation errors: [${vr.errors().join(" ")}]` : undefined;
}

export class ClaimsService implements ServerService {
  readonly name = "claims";
  private readonly subs: Subscription[] = [];
  private packTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<() => void>();
  private stopping = false;

  constructor(
    private readonly server: Server,
    private readonly sys: Account,
    private readonly system: SystemAccountService,
  ) {}

  private get accounts(): JwtAccounts {
    return this.server.jwtAccounts as JwtAccounts;
  }

  async start(): Promise<void> {
    const jwt = this.server.jwtAccounts;
    if (jwt === undefined) return;
    const resolver = jwt.resolver;
    if (resolver instanceof DirResolver) this.startDir(resolver);
    else {
      for (const subject of ["$SYS.ACCOUNT.*.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"]) {
        this.subscribe(subject, (s, reply, body) => this.pushedUpdate(s, reply, body));
      }
    }
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.packTimer !== undefined) clearInterval(this.packTimer);
    this.packTimer = undefined;
    for (const sub of this.subs.splice(0)) this.sys.unsubscribeInternal(sub);
    for (const cancel of [...this.pending]) cancel();
  }

  // ---- plumbing ----

  private subscribe(subject: string, handler: Handler, queue?: string): void {
    const sub = this.sys.subscribeInternal(
      subject,
      (subj, reply, _hdr, payload) => {
        if (this.stopping) return;
        // The payload may alias a read buffer and the answer comes later: copy it now.
        const body = Buffer.from(payload);
        setImmediate(() => handler(subj, reply, body));
      },
      queue,
      "claims",
    );
    this.subs.push(sub);
  }

  private send(reply: string, body: Buffer | string): void {
    if (reply === "" || this.stopping) return;
    this.sys.publish(reply, "", undefined, typeof body === "string" ? Buffer.from(body) : body);
  }

  /** nats-server's respondToUpdate: logged (debug on success, error on failure) and answered. */
  private respond(reply: string, account: string, message: string, err?: string): void {
    const log = this.server.log;
    const who = account === "" ? "" : ` - ${account}`;
    if (err === undefined) {
      if (log.debugEnabled) log.debug(`${message}${who}`);
    } else log.error(`${message}${who} - ${err}`);
    if (reply === "") return;
    const out: Json = { server: this.system.serverInfo() };
    if (err === undefined) {
      const data: Json = {};
      if (account !== "") data.account = account;
      data.code = 200;
      if (message !== "") data.message = message;
      out.data = data;
    } else {
      const error: Json = {};
      if (account !== "") error.account = account;
      error.code = 500;
      error.description = `${message} - ${err}`;
      out.error = error;
    }
    this.send(reply, JSON.stringify(out));
  }

  /** The account key of `$SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE` or `$SYS.ACCOUNT.<id>.CLAIMS.UPDATE`. */
  private static accountOfUpdate(subject: string): string | undefined {
    const t = subject.split(".");
    if (t.length === 6) return t[3];
    if (t.length === 5) return t[2];
    return undefined;
  }

  // ---- MEMORY / URL: pushes apply to accounts in use ----

  private pushedUpdate(subject: string, reply: string, body: Buffer): void {
    const key = ClaimsService.accountOfUpdate(subject);
    if (key === undefined) return;
    if (body.length === 0) return this.respond(reply, key, "jwt update error", "request body is empty");
    const token = body.toString("utf8");
    let claims: AccountClaims;
    try {
      claims = decodeAccountClaims(token);
    } catch (err) {
      return this.respond(reply, key, "jwt update resulted in error", (err as Error).message);
    }
    if (claims.data.sub !== key) return this.respond(reply, key, "jwt update resulted in error", "subject does not match jwt content");
    try {
      if (!this.accounts.update(key, token)) return this.respond(reply, key, "jwt update skipped");
    } catch (err) {
      return this.respond(reply, key, "jwt update resulted in error", (err as Error).message);
    }
    this.respond(reply, key, "jwt updated");
  }

  // ---- full / cache ----

  private startDir(resolver: DirResolver): void {
    const primary = this.accounts.trusted.primary;
    if (primary === undefined) throw new Error("no operator key found");
    const full = resolver.type === "full";
    const store = resolver.store;
    store.onChanged = (key) => this.storedJwtChanged(key, resolver);
    store.onDeleted = (key) => this.accountDeleted(key);
    resolver.lookup = (name, timeoutMs) => this.lookupElsewhere(name, timeoutMs);
    const strictOp = (claims: AccountClaims): boolean => primary.strict && claims.data.iss === primary.subject;
    const what = full ? "jwt update" : "jwt update cache";

    for (const subject of ["$SYS.ACCOUNT.*.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"]) {
      this.subscribe(subject, (s, reply, body) => {
        const key = ClaimsService.accountOfUpdate(s);
        if (key === undefined) return;
        const token = body.toString("utf8");
        let claims: AccountClaims;
        try {
          claims = decodeAccountClaims(token);
        } catch (err) {
          return this.respond(reply, full ? "n/a" : key, `${what} resulted in error`, (err as Error).message);
        }
        if (full) {
          const bad = claimValidationError(claims);
          if (bad !== undefined) return this.respond(reply, claims.data.sub, "jwt validation failed", bad);
        }
        if (claims.data.sub !== key) return this.respond(reply, key, `${what} resulted in error`, "subject does not match jwt content");
        if (strictOp(claims)) return this.respond(reply, key, `${what} resulted in error`, "operator requires issuer to be a signing key");
        if (!full) {
          if (!this.server.accounts.has(key)) return this.respond(reply, key, "jwt update cache skipped");
          const bad = claimValidationError(claims);
          if (bad !== undefined) return this.respond(reply, claims.data.sub, "jwt update cache validation failed", bad);
        }
        try {
          store.save(key, token);
        } catch (err) {
          return this.respond(reply, key, `${what} resulted in error`, (err as Error).message);
        }
        this.respond(reply, key, full ? "jwt updated" : "jwt updated cache");
      });
    }

    this.subscribe("$SYS.REQ.CLAIMS.UPDATE", (_s, reply, body) => {
      const token = body.toString("utf8");
      let claims: AccountClaims;
      try {
        claims = decodeAccountClaims(token);
      } catch (err) {
        return this.respond(reply, "n/a", `${what} resulted in error`, (err as Error).message);
      }
      const key = claims.data.sub;
      if (strictOp(claims)) return this.respond(reply, key, `${what} resulted in error`, "operator requires issuer to be a signing key");
      if (!full && !this.server.accounts.has(key)) return this.respond(reply, key, "jwt update cache skipped");
      const bad = claimValidationError(claims);
      if (bad !== undefined) return this.respond(reply, key, full ? "jwt validation failed" : "jwt update cache validation failed", bad);
      try {
        store.save(key, token);
      } catch (err) {
        return this.respond(reply, key, `${what} resulted in error`, (err as Error).message);
      }
      this.respond(reply, key, full ? "jwt updated" : "jwt updated cache");
    });

    this.subscribe("$SYS.REQ.CLAIMS.LIST", (_s, reply) => {
      if (reply === "") return;
      const keys = store.keys();
      if (this.server.log.debugEnabled) this.server.log.debug(`list request responded with ${keys.length} account ids`);
      this.send(reply, JSON.stringify({ server: this.system.serverInfo(), data: keys }));
    });

    this.subscribe("$SYS.REQ.CLAIMS.DELETE", (_s, reply, body) => this.deleteRequest(reply, body, resolver, primary.keys));

    if (!full) {
      this.server.log.info(`Managing some jwt in exclusive directory ${store.dir}`);
      return;
    }

    this.subscribe("$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP", (s, reply) => {
      if (reply === "") return;
      const t = s.split(".");
      if (t.length !== 6) return;
      let jwt: string | undefined;
      try {
        jwt = store.load(t[3]);
      } catch (err) {
        this.server.log.error(`DirResolver - Error looking up account ${JSON.stringify(t[3])}: ${(err as Error).message}`);
        return;
      }
      // An empty answer tells the asking server this one does not have it.
      this.send(reply, jwt ?? "");
    });

    this.subscribe(
      "$SYS.REQ.CLAIMS.PACK",
      (_s, reply, theirHash) => {
        if (reply === "") return;
        if (store.hash().equals(theirHash)) return this.send(reply, "");
        for (const msg of store.pack(1)) this.send(reply, msg);
        this.send(reply, "");
      },
      "responder",
    );

    // Compare the store with the other servers' now and then; they answer with what differs.
    const packReplies = `$SYS._INBOX.${this.server.id}.${nuid.next()}`;
    this.subscribe(packReplies, (_s, _reply, msg) => {
      if (msg.length === 0) return;
      try {
        store.merge(msg.toString("utf8"));
      } catch (err) {
        this.server.log.error(`DirResolver - Merging resulted in error: ${(err as Error).message}`);
      }
    });
    this.packTimer = setInterval(() => {
      if (!this.stopping) this.sys.publish("$SYS.REQ.CLAIMS.PACK", packReplies, undefined, store.hash());
    }, resolver.syncIntervalMs);
    this.packTimer.unref();
    this.server.log.info(`Managing all jwt in exclusive directory ${store.dir}`);
  }

  /** A JWT in the store changed: an account in use takes it. */
  private storedJwtChanged(key: string, resolver: DirResolver): void {
    const acc = this.server.accounts.get(key);
    if (acc === undefined || acc.claims === undefined) return;
    let jwt: string | undefined;
    try {
      jwt = resolver.store.load(key);
    } catch (err) {
      this.server.log.error(`DirResolver - Update got error on load: ${(err as Error).message}`);
      return;
    }
    if (jwt === undefined) return;
    try {
      this.accounts.update(key, jwt);
    } catch (err) {
      this.server.log.error(`DirResolver - Update for account ${JSON.stringify(key)} resulted in error ${(err as Error).message}`);
    }
  }

  /** An account JWT was deleted: the account locks out new clients and closes its connections. */
  private accountDeleted(key: string): void {
    const acc = this.server.accounts.get(key);
    if (acc === undefined) return;
    if (this.server.log.debugEnabled) this.server.log.debug(`Disable account ${key} due to remove`);
    disableAccount(acc);
    releaseAccountClaims(acc);
    // Its JetStream goes too (the streams stay on disk), as nats-server's removal does.
    acc.jetStreamLimits = undefined;
    for (const l of this.server.events.accountClaims) l(acc);
  }

  /** `$SYS.REQ.CLAIMS.DELETE`: a generic JWT the operator signed, listing the accounts. */
  private deleteRequest(reply: string, body: Buffer, resolver: DirResolver, operatorKeys: ReadonlySet<string>): void {
    let subject = "";
    let ids: string[] = [];
    let err: string | undefined;
    try {
      const d = decodeJwt(body.toString("utf8"));
      subject = d.claims.sub;
      const list = d.claims.nats.accounts;
      const sysName = this.server.systemAccount?.name;
      if (!resolver.allowDelete) err = "delete must be enabled in server config";
      else if (subject !== d.claims.iss) err = "not self signed";
      else if (!operatorKeys.has(d.claims.iss)) err = "not trusted";
      else if (!Array.isArray(list)) err = "malformed request";
      else {
        for (const entry of list) {
          if (typeof entry !== "string" || !isPublicKey(entry, "A")) {
            err = "malformed request";
            break;
          }
          if (entry === sysName) {
            err = "not allowed to delete system account";
            break;
          }
        }
        if (err === undefined) ids = list as string[];
      }
    } catch (e) {
      err = (e as Error).message;
    }
    if (err !== undefined) return this.respond(reply, "", `delete accounts request by ${subject} failed`, err);
    const errors: string[] = [];
    let done = 0;
    for (const id of ids) {
      try {
        resolver.store.delete(id);
        done++;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length === 0) this.respond(reply, "", `deleted ${done} accounts`);
    else this.respond(reply, "", `deleted ${done} accounts, failed for ${errors.length}`, errors.join("\n"));
  }

  /** Ask the other servers for an account JWT: the first answer counts ("" = nobody has it). */
  private lookupElsewhere(name: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.stopping) return reject(new Error("eventing shut down"));
      const inbox = `$SYS._INBOX.${this.server.id}.${nuid.next()}`;
      let sub: Subscription | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        this.pending.delete(cancel);
        if (sub !== undefined) this.sys.unsubscribeInternal(sub);
      };
      const cancel = (): void => {
        finish();
        reject(new Error("fetching jwt failed due to shutdown"));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error("fetching jwt timed out"));
      }, timeoutMs);
      this.pending.add(cancel);
      sub = this.sys.subscribeInternal(
        inbox,
        (_s, _r, _h, payload) => {
          const jwt = payload.toString("utf8");
          finish();
          resolve(jwt);
        },
        undefined,
        "claims-lookup",
      );
      this.sys.publish(`$SYS.REQ.ACCOUNT.${name}.CLAIMS.LOOKUP`, inbox, undefined, Buffer.alloc(0));
    });
  }
}
