// Decides which account a connecting client belongs to, from its CONNECT credentials.
// Covers the single user/password, token and users-list forms of nats-server's
// `authorization` block and the users of `accounts`; the security issue extends it.
import { timingSafeEqual } from "node:crypto";
import type { Account } from "../server/account.js";
import type { Client } from "../server/client.js";
import type { ServerOptions, UserConfig } from "../config/options.js";

export interface AuthResult {
  account: Account;
  user: string | undefined;
  /** The user's permissions block as configured (or its default); enforced per client. */
  permissions?: unknown;
}

interface UserEntry {
  user: UserConfig;
  account: string;
  permissions: unknown;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Authenticator {
  readonly required: boolean;
  private readonly users = new Map<string, UserEntry>();

  constructor(
    private readonly options: ServerOptions,
    private readonly lookupAccount: (name: string) => Account,
    private readonly globalAccount: Account,
  ) {
    for (const u of options.users) {
      if (u.user !== undefined) {
        const permissions = u.permissions ?? options.defaultPermissions;
        this.users.set(u.user, { user: u, account: u.account ?? "$G", permissions });
      }
    }
    for (const acc of options.accounts) {
      for (const u of acc.users) {
        if (u.user !== undefined) {
          this.users.set(u.user, { user: u, account: acc.name, permissions: u.permissions ?? acc.defaultPermissions });
        }
      }
    }
    // Users configured by nkey alone are not verifiable yet (no nonce signing): they still make
    // authentication required, so such a server refuses everyone rather than admitting everyone.
    const nkeyUsers =
      options.users.some((u) => u.nkey !== undefined) || options.accounts.some((a) => a.users.some((u) => u.nkey !== undefined));
    this.required =
      options.username !== undefined || options.authorization !== undefined || this.users.size > 0 || nkeyUsers;
  }

  authenticate(client: Client): AuthResult | undefined {
    const o = this.options;
    const c = client.opts;
    if (!this.required) return { account: this.globalAccount, user: undefined };
    if (o.authorization !== undefined) {
      if (c.authToken !== undefined && sameSecret(c.authToken, o.authorization)) {
        return { account: this.globalAccount, user: undefined };
      }
    }
    if (o.username !== undefined && c.user === o.username) {
      if (sameSecret(c.pass ?? "", o.password ?? "")) return { account: this.globalAccount, user: c.user };
      return undefined;
    }
    if (c.user === undefined && c.authToken === undefined && o.noAuthUser !== undefined) {
      const entry = this.users.get(o.noAuthUser);
      if (entry !== undefined) {
        return { account: this.lookupAccount(entry.account), user: o.noAuthUser, permissions: entry.permissions };
      }
    }
    if (c.user !== undefined) {
      const entry = this.users.get(c.user);
      if (entry !== undefined && sameSecret(c.pass ?? "", entry.user.password ?? "")) {
        return { account: this.lookupAccount(entry.account), user: c.user, permissions: entry.permissions };
      }
    }
    return undefined;
  }
}
