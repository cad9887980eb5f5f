// The operator/account/user store, in nsc's on-disk layout so nsc and tsnats share it:
//   $XDG_DATA_HOME/nats/nsc/stores/<operator>/.nsc                        store info
//   $XDG_DATA_HOME/nats/nsc/stores/<operator>/<operator>.jwt
//   $XDG_DATA_HOME/nats/nsc/stores/<operator>/accounts/<acc>/<acc>.jwt
//   $XDG_DATA_HOME/nats/nsc/stores/<operator>/accounts/<acc>/users/<user>.jwt
//   $XDG_DATA_HOME/nats/nsc/keys/keys/<K>/<AB>/<public key>.nk             seeds (0600)
//   $XDG_DATA_HOME/nats/nsc/keys/creds/<operator>/<acc>/<user>.creds
//   $XDG_CONFIG_HOME/nats/nsc/nsc.json                                     selected operator/account
// ($NKEYS_PATH moves the keys directory, as in nsc.)
import fs from "node:fs";
import path from "node:path";
import { decode, fmtCreds, type ClaimsData } from "@nats-io/jwt";
import type { KeyPair } from "@nats-io/nkeys";
import { keyPairFromSeed } from "./nkey_cmd.js";
import { CliError, homeDir, type CliIO } from "./runtime.js";

export type Claims = ClaimsData<Record<string, any>>;

interface NscConfig {
  store_root?: string;
  operator?: string;
  account?: string;
  [k: string]: unknown;
}

function writePrivate(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function validName(kind: string, name: string): void {
  if (name.trim() === "" || /[/\\]/.test(name) || name === "." || name === "..") throw new CliError(`invalid ${kind} name "${name}"`, "names may not be empty or contain / or \\");
}

export class NscStore {
  readonly configFile: string;
  readonly storeRoot: string;
  readonly keysDir: string;
  private config: NscConfig;

  constructor(env: CliIO["env"]) {
    const home = homeDir(env);
    const configHome = env.XDG_CONFIG_HOME || path.join(home, ".config");
    const dataHome = env.XDG_DATA_HOME || path.join(home, ".local", "share");
    this.configFile = path.join(configHome, "nats", "nsc", "nsc.json");
    try {
      this.config = JSON.parse(fs.readFileSync(this.configFile, "utf8")) as NscConfig;
    } catch {
      this.config = {};
    }
    this.storeRoot = this.config.store_root || path.join(dataHome, "nats", "nsc", "stores");
    this.keysDir = env.NKEYS_PATH || path.join(dataHome, "nats", "nsc", "keys");
  }

  private saveConfig(): void {
    fs.mkdirSync(path.dirname(this.configFile), { recursive: true, mode: 0o700 });
    const doc = { store_root: this.storeRoot, ...this.config };
    fs.writeFileSync(this.configFile, JSON.stringify(doc, null, 2), { mode: 0o600 });
  }

  get selectedOperator(): string {
    return this.config.operator ?? "";
  }
  get selectedAccount(): string {
    return this.config.account ?? "";
  }
  select(operator: string, account?: string): void {
    this.config.operator = operator;
    if (account !== undefined) this.config.account = account;
    this.saveConfig();
  }

  /** The operator to act on: the flag, the selected one, or the only one. */
  operatorName(given?: string): string {
    if (given) {
      if (!this.hasOperator(given)) throw new CliError(`unknown operator "${given}"`, "list them with `tsnats auth operator ls`");
      return given;
    }
    if (this.selectedOperator && this.hasOperator(this.selectedOperator)) return this.selectedOperator;
    const ops = this.operators();
    if (ops.length === 1) return ops[0];
    if (ops.length === 0) throw new CliError("no operators in the store", "create one with `tsnats auth operator add NAME`");
    throw new CliError("several operators exist and none is selected", "give --operator NAME or `tsnats auth operator select NAME`");
  }

  /** The account to act on: the argument, the selected one, or the only non-system one. */
  accountName(op: string, given?: string): string {
    if (given) {
      if (!this.hasAccount(op, given)) throw new CliError(`unknown account "${given}" in operator ${op}`, `list them with \`tsnats auth account ls\``);
      return given;
    }
    if (this.selectedAccount && this.hasAccount(op, this.selectedAccount)) return this.selectedAccount;
    const accs = this.accounts(op).filter((a) => a !== "SYS");
    if (accs.length === 1) return accs[0];
    if (accs.length === 0) throw new CliError(`operator ${op} has no accounts`, "create one with `tsnats auth account add NAME`");
    throw new CliError("several accounts exist and none is selected", "give the account name");
  }

  operatorDir(op: string): string {
    return path.join(this.storeRoot, op);
  }

  operators(): string[] {
    try {
      return fs
        .readdirSync(this.storeRoot, { withFileTypes: true })
        .filter((e) => e.isDirectory() && fs.existsSync(path.join(this.storeRoot, e.name, ".nsc")))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }

  hasOperator(op: string): boolean {
    return fs.existsSync(path.join(this.operatorDir(op), ".nsc"));
  }

  /** Create the store directory of a new operator and write its JWT. */
  createOperator(op: string, jwt: string): void {
    validName("operator", op);
    if (this.hasOperator(op)) throw new CliError(`operator "${op}" already exists in ${this.storeRoot}`);
    const dir = this.operatorDir(op);
    fs.mkdirSync(path.join(dir, "accounts"), { recursive: true, mode: 0o700 });
    writePrivate(path.join(dir, ".nsc"), JSON.stringify({ name: op, kind: "operator", version: "1", managed: false }));
    this.writeOperator(op, jwt);
  }

  writeOperator(op: string, jwt: string): void {
    writePrivate(path.join(this.operatorDir(op), `${op}.jwt`), jwt);
  }

  readJwt(file: string, what: string): { jwt: string; claims: Claims } {
    let jwt: string;
    try {
      jwt = fs.readFileSync(file, "utf8").trim();
    } catch {
      throw new CliError(`${what} not found (${file})`);
    }
    return { jwt, claims: decode<Record<string, any>>(jwt) };
  }

  operator(op: string): { jwt: string; claims: Claims } {
    return this.readJwt(path.join(this.operatorDir(op), `${op}.jwt`), `operator ${op}`);
  }

  accountDir(op: string, acc: string): string {
    return path.join(this.operatorDir(op), "accounts", acc);
  }

  accounts(op: string): string[] {
    try {
      return fs
        .readdirSync(path.join(this.operatorDir(op), "accounts"), { withFileTypes: true })
        .filter((e) => e.isDirectory() && fs.existsSync(path.join(this.accountDir(op, e.name), `${e.name}.jwt`)))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }

  hasAccount(op: string, acc: string): boolean {
    return fs.existsSync(path.join(this.accountDir(op, acc), `${acc}.jwt`));
  }

  account(op: string, acc: string): { jwt: string; claims: Claims } {
    return this.readJwt(path.join(this.accountDir(op, acc), `${acc}.jwt`), `account ${acc}`);
  }

  writeAccount(op: string, acc: string, jwt: string): void {
    validName("account", acc);
    writePrivate(path.join(this.accountDir(op, acc), `${acc}.jwt`), jwt);
  }

  /** Account name for a public key (the store is small; a scan is fine). */
  accountByKey(op: string, pub: string): string | undefined {
    return this.accounts(op).find((a) => this.account(op, a).claims.sub === pub);
  }

  users(op: string, acc: string): string[] {
    try {
      return fs
        .readdirSync(path.join(this.accountDir(op, acc), "users"))
        .filter((f) => f.endsWith(".jwt"))
        .map((f) => f.slice(0, -4))
        .sort();
    } catch {
      return [];
    }
  }

  hasUser(op: string, acc: string, user: string): boolean {
    return fs.existsSync(path.join(this.accountDir(op, acc), "users", `${user}.jwt`));
  }

  user(op: string, acc: string, user: string): { jwt: string; claims: Claims } {
    return this.readJwt(path.join(this.accountDir(op, acc), "users", `${user}.jwt`), `user ${user} in account ${acc}`);
  }

  writeUser(op: string, acc: string, user: string, jwt: string): void {
    validName("user", user);
    writePrivate(path.join(this.accountDir(op, acc), "users", `${user}.jwt`), jwt);
  }

  removeUser(op: string, acc: string, user: string): void {
    fs.rmSync(path.join(this.accountDir(op, acc), "users", `${user}.jwt`), { force: true });
    fs.rmSync(this.credsPath(op, acc, user), { force: true });
  }

  keyPath(pub: string): string {
    return path.join(this.keysDir, "keys", pub[0], pub.slice(1, 3), `${pub}.nk`);
  }

  storeKey(kp: KeyPair): void {
    writePrivate(this.keyPath(kp.getPublicKey()), new TextDecoder().decode(kp.getSeed()));
  }

  /** The key pair of a public key, when its seed is in the key store. */
  keyPair(pub: string): KeyPair | undefined {
    try {
      return keyPairFromSeed(fs.readFileSync(this.keyPath(pub), "utf8").trim());
    } catch {
      return undefined;
    }
  }

  requireKey(pub: string, what: string): KeyPair {
    const kp = this.keyPair(pub);
    if (!kp) throw new CliError(`the seed of ${what} (${pub}) is not in the key store ${this.keysDir}`, "import it, or act from the machine that holds it");
    return kp;
  }

  credsPath(op: string, acc: string, user: string): string {
    return path.join(this.keysDir, "creds", op, acc, `${user}.creds`);
  }

  /** A .creds file for a user JWT and its seed; written to the key store and `extra` if given. */
  writeCreds(op: string, acc: string, user: string, jwt: string, userKey: KeyPair, extra?: string): string {
    const creds = fmtCreds(jwt, userKey);
    writePrivate(this.credsPath(op, acc, user), creds);
    if (extra) writePrivate(extra, creds);
    return this.credsPath(op, acc, user);
  }
}
