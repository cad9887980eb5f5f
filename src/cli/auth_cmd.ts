// `tsnats auth`: decentralized authentication, natscli's `nats auth` and nsc's workflows in
// one: operators, accounts (limits, JetStream, signing keys, revocations) and users
// (permissions, limits, expiry, .creds) kept in nsc's store layout (nsc_store.ts); pushing,
// looking up and listing account JWTs on a full resolver over $SYS.REQ.CLAIMS.*; `describe`
// for any JWT; `auth nkey` for keys (nkey_cmd.ts).
import fs from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { decode, encodeAccount, encodeOperator, encodeUser, type Account, type Operator, type User } from "@nats-io/jwt";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import { App, collect, isSet } from "./app.js";
import type { Session } from "./connection.js";
import { NscStore, type Claims } from "./nsc_store.js";
import { registerAccountSharing, type AccountEditor } from "./auth_account_share.js";
import { findSigningKey, registerAccountKeys } from "./auth_account_keys.js";
import { registerOperatorBackup } from "./auth_operator_backup.js";
import { registerNkeyCommands } from "./nkey_cmd.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm } from "./prompt.js";
import { CliError, println, type CliIO } from "./runtime.js";
import { sysRequest } from "./server_cmd.js";
import { fmtBytes, fmtTime, parseBytes, parseDurationMs, parseInteger } from "./units.js";

const nowSecs = (): number => Math.floor(Date.now() / 1000);
const expiryFrom = (d: string | undefined): number | undefined => (d ? nowSecs() + Math.round(parseDurationMs(d, "--expiry") / 1000) : undefined);

/** Default account limits as nsc writes them: everything unlimited, JetStream off. */
function defaultAccountLimits(): Record<string, number | boolean> {
  return { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, mem_storage: 0, disk_storage: 0 };
}

interface AccountFlags {
  bearer?: boolean;
  connections?: string;
  expiry?: string;
  exports?: string;
  imports?: string;
  jetstream?: boolean;
  jsConsumers?: string;
  jsDisk?: string;
  jsDiskStream?: string;
  jsMaxPending?: string;
  jsMemory?: string;
  jsMemoryStream?: string;
  jsStreamSizeRequired?: boolean;
  jsStreams?: string;
  leafnodes?: string;
  payload?: string;
  subscriptions?: string;
  tags?: string[];
  noTags?: string[];
  operator?: string;
  key?: string;
  description?: string;
  json?: boolean;
}

function accountFlags(cmd: Command): Command {
  return cmd
    .option("--bearer", "Allows bearer tokens")
    .option("--no-bearer", "Disallows bearer tokens")
    .option("--connections <n>", "Maximum allowed connections")
    .option("--expiry <duration>", "How long this account should be valid for as a duration")
    .option("--exports <n>", "Maximum allowed exports")
    .option("--imports <n>", "Maximum allowed imports")
    .option("--jetstream", "Enables JetStream")
    .option("--no-jetstream", "Disables JetStream")
    .option("--js-consumers <n>", "Sets the maximum Consumers any Stream in the account can have")
    .option("--js-disk <bytes>", "Sets a Disk Storage quota")
    .option("--js-disk-stream <bytes>", "Sets the maximum size a Disk Storage stream may be")
    .option("--js-max-pending <n>", "Default Max Ack Pending for Tier 0 limits")
    .option("--js-memory <bytes>", "Sets a Memory Storage quota")
    .option("--js-memory-stream <bytes>", "Sets the maximum size a Memory Storage stream may be")
    .option("--js-stream-size-required", "Requires Streams to have a maximum size declared")
    .option("--js-streams <n>", "Sets the maximum Streams the account can have")
    .option("--leafnodes <n>", "Maximum allowed Leafnode connections")
    .option("--payload <bytes>", "Maximum allowed payload")
    .option("--subscriptions <n>", "Maximum allowed subscriptions")
    .option("--tags <tag>", "Tags to assign to this Account (repeatable)", collect)
    .option("--description <text>", "A description for the account")
    .option("--operator <name>", "Operator to act on")
    .option("--key <public key>", "The operator signing key to sign with (default: the operator's identity key)")
    .option("-j, --json", "Produce JSON output");
}

/** Apply account flags to an Account claim body (limits, JetStream, bearer, tags). */
function applyAccountFlags(nats: Partial<Account> & Record<string, any>, o: AccountFlags, cmd: Command): void {
  const l = (nats.limits ??= defaultAccountLimits() as never) as Record<string, any>;
  const int = (v: string | undefined, key: string, what: string): void => {
    if (v !== undefined) l[key] = parseInteger(v, what);
  };
  const bytes = (v: string | undefined, key: string, what: string): void => {
    if (v !== undefined) l[key] = parseBytes(v, what);
  };
  int(o.connections, "conn", "--connections");
  int(o.exports, "exports", "--exports");
  int(o.imports, "imports", "--imports");
  int(o.leafnodes, "leaf", "--leafnodes");
  int(o.subscriptions, "subs", "--subscriptions");
  bytes(o.payload, "payload", "--payload");
  if (isSet(cmd, "jetstream")) {
    if (o.jetstream) {
      if (!l.mem_storage) l.mem_storage = -1;
      if (!l.disk_storage) l.disk_storage = -1;
      l.streams ??= -1;
      l.consumer ??= -1;
    } else {
      l.mem_storage = 0;
      l.disk_storage = 0;
    }
  }
  bytes(o.jsMemory, "mem_storage", "--js-memory");
  bytes(o.jsDisk, "disk_storage", "--js-disk");
  bytes(o.jsMemoryStream, "mem_max_stream_bytes", "--js-memory-stream");
  bytes(o.jsDiskStream, "disk_max_stream_bytes", "--js-disk-stream");
  int(o.jsStreams, "streams", "--js-streams");
  int(o.jsConsumers, "consumer", "--js-consumers");
  int(o.jsMaxPending, "max_ack_pending", "--js-max-pending");
  if (o.jsStreamSizeRequired) l.max_bytes_required = true;
  if (isSet(cmd, "bearer")) l.disallow_bearer = o.bearer !== true;
  if (o.tags) nats.tags = [...new Set([...(nats.tags ?? []), ...o.tags])];
  if (o.description !== undefined) nats.description = o.description;
}

interface UserFlags {
  bearer?: boolean;
  data?: string;
  locale?: string;
  payload?: string;
  pubAllow?: string[];
  pubDeny?: string[];
  subAllow?: string[];
  subDeny?: string[];
  subscriptions?: string;
  tags?: string[];
  expiry?: string;
  operator?: string;
  key?: string;
  credential?: string;
  force?: boolean;
  json?: boolean;
}

function userFlags(cmd: Command): Command {
  return cmd
    .option("--bearer", "Enables the use of bearer tokens")
    .option("--data <bytes>", "Maximum message data size to allow")
    .option("--locale <locale>", "Sets the locale for the user connection")
    .option("--payload <bytes>", "Maximum payload size to allow")
    .option("--pub-allow <subject>", "Allow publishing to a subject (repeatable)", collect)
    .option("--pub-deny <subject>", "Deny publishing to a subject (repeatable)", collect)
    .option("--sub-allow <subject>", "Allow subscribing to a subject (repeatable)", collect)
    .option("--sub-deny <subject>", "Deny subscribing to a subject (repeatable)", collect)
    .option("--subscriptions <n>", "Maximum subscription count to allow")
    .option("--tags <tag>", "Tags to assign to this User (repeatable)", collect)
    .option("--expiry <duration>", "How long the user's JWT is valid for")
    .option("--operator <name>", "Operator holding the Account")
    .option("--key <key>", "The account signing key (public key, or role of a scoped key) to sign with (default: the account's identity key)")
    .option("--credential <file>", "Writes credentials to a file")
    .option("-j, --json", "Produce JSON output");
}

function applyUserFlags(nats: Partial<User> & Record<string, any>, o: UserFlags): void {
  const add = (kind: "pub" | "sub", field: "allow" | "deny", v?: string[]): void => {
    if (!v) return;
    nats[kind] ??= {};
    nats[kind][field] = [...new Set([...(nats[kind][field] ?? []), ...v])];
  };
  add("pub", "allow", o.pubAllow);
  add("pub", "deny", o.pubDeny);
  add("sub", "allow", o.subAllow);
  add("sub", "deny", o.subDeny);
  if (o.data !== undefined) nats.data = parseBytes(o.data, "--data");
  if (o.payload !== undefined) nats.payload = parseBytes(o.payload, "--payload");
  if (o.subscriptions !== undefined) nats.subs = parseInteger(o.subscriptions, "--subscriptions");
  if (o.locale) nats.locale = o.locale;
  if (o.bearer) nats.bearer_token = true;
  if (o.tags) nats.tags = [...new Set([...(nats.tags ?? []), ...o.tags])];
}

/** The signer for an account JWT: the operator's identity key or one of its signing keys. */
function operatorSigner(store: NscStore, op: string, key?: string): ReturnType<NscStore["requireKey"]> {
  const oc = store.operator(op).claims;
  if (key) {
    const sks = ((oc.nats.signing_keys ?? []) as (string | { key: string })[]).map((k) => (typeof k === "string" ? k : k.key));
    if (key !== oc.sub && !sks.includes(key)) throw new CliError(`${key} is not a key of operator ${op}`, "list its signing keys with `tsnats auth operator keys ls`");
    return store.requireKey(key, `operator ${op} signing key`);
  }
  return store.requireKey(oc.sub, `operator ${op}`);
}

async function signAccount(store: NscStore, op: string, name: string, accPub: string, nats: Record<string, any>, expires: number | undefined, key?: string): Promise<string> {
  const signer = operatorSigner(store, op, key);
  return encodeAccount(name, accPub, nats as Partial<Account>, { signer, ...(expires ? { exp: expires } : {}) });
}

/** Re-sign an account with edited claims (same expiry; the operator's identity key signs). */
const editAccount: AccountEditor = async (store, op, acc, edit) => {
  const { claims } = store.account(op, acc);
  const nats = structuredClone(claims.nats) as Record<string, any>;
  delete nats.type;
  delete nats.version;
  edit(nats);
  store.writeAccount(op, acc, await signAccount(store, op, acc, claims.sub, nats, claims.exp));
};

async function signUser(store: NscStore, op: string, acc: string, name: string, userPub: string, nats: Record<string, any>, expires: number | undefined, key?: string): Promise<string> {
  const ac = store.account(op, acc).claims;
  const accKp = store.requireKey(ac.sub, `account ${acc}`);
  if (key && key !== ac.sub) {
    // A public key or, for scoped keys, a role.
    const sk = findSigningKey(ac as Record<string, any>, key);
    if (!sk) throw new CliError(`${key} is not a signing key of account ${acc}`, "list them with `tsnats auth account keys ls`");
    const scoped = typeof sk !== "string";
    const signer = store.requireKey(scoped ? sk.key : sk, `account ${acc} signing key`);
    const { issuer_account: _i, tags, ...rest } = nats;
    // Servers refuse users of a scoped key that set permissions or limits of their own.
    if (scoped && Object.keys(rest).length > 0) throw new CliError(`scoped users require no permissions or limits set (the key's role "${sk.role}" sets them)`, "drop the permission and limit flags, or sign with an unscoped key");
    return encodeUser(name, userPub, accKp, (scoped ? (tags ? { tags } : {}) : { ...rest, ...(tags ? { tags } : {}) }) as Partial<User>, { signer, scopedUser: scoped, ...(expires ? { exp: expires } : {}) });
  }
  const { issuer_account: _i, ...rest } = nats;
  return encodeUser(name, userPub, accKp, rest as Partial<User>, expires ? { exp: expires } : {});
}

/** A readable view of any JWT's claims. */
export function renderClaims(c: Claims, title: string): string {
  const cols = new Columns(title);
  cols.field("Name", c.name);
  cols.field("Subject", c.sub);
  cols.field("Issuer", c.iss);
  cols.field("Type", String(c.type ?? c.nats?.type ?? ""));
  cols.field("Issued", fmtTime(new Date(c.iat * 1000)));
  cols.field("Expires", c.exp ? fmtTime(new Date(c.exp * 1000)) : "never");
  if (c.nbf) cols.field("Not Before", fmtTime(new Date(c.nbf * 1000)));
  const n = c.nats ?? {};
  if (n.issuer_account) cols.field("Issuer Account", n.issuer_account);
  if (n.description) cols.field("Description", n.description);
  if (n.tags?.length) cols.field("Tags", n.tags.join(", "));
  if (n.system_account) cols.field("System Account", n.system_account);
  if (n.operator_service_urls?.length) cols.field("Service URLs", n.operator_service_urls.join(", "));
  if (n.account_server_url) cols.field("Account Server", n.account_server_url);
  const sks = (n.signing_keys ?? []) as (string | { key: string; role?: string })[];
  sks.forEach((k, i) => cols.field(i === 0 ? "Signing Keys" : "", typeof k === "string" ? k : `${k.key}${k.role ? ` (scoped: ${k.role})` : ""}`));
  if (n.limits) {
    const l = n.limits;
    cols.title("Limits");
    const lim = (label: string, v: number | undefined, f: (x: number) => string = String): void => {
      if (v !== undefined) cols.field(label, v < 0 ? "unlimited" : f(v));
    };
    lim("Connections", l.conn);
    lim("Leaf Nodes", l.leaf);
    lim("Subscriptions", l.subs);
    lim("Data", l.data, fmtBytes);
    lim("Payload", l.payload, fmtBytes);
    lim("Imports", l.imports);
    lim("Exports", l.exports);
    if (l.disallow_bearer !== undefined) cols.field("Bearer Tokens Allowed", !l.disallow_bearer);
    const js = (l.mem_storage ?? 0) !== 0 || (l.disk_storage ?? 0) !== 0;
    if (l.mem_storage !== undefined || l.disk_storage !== undefined) {
      cols.title("JetStream");
      cols.field("Enabled", js);
      if (js) {
        lim("Memory Storage", l.mem_storage, fmtBytes);
        lim("Disk Storage", l.disk_storage, fmtBytes);
        lim("Streams", l.streams);
        lim("Consumers", l.consumer);
        lim("Max Ack Pending", l.max_ack_pending);
        if (l.max_bytes_required) cols.field("Max Bytes Required", true);
      }
    }
  }
  if (n.pub || n.sub) {
    cols.title("Permissions");
    if (n.pub?.allow?.length) cols.field("Publish Allow", n.pub.allow.join(", "));
    if (n.pub?.deny?.length) cols.field("Publish Deny", n.pub.deny.join(", "));
    if (n.sub?.allow?.length) cols.field("Subscribe Allow", n.sub.allow.join(", "));
    if (n.sub?.deny?.length) cols.field("Subscribe Deny", n.sub.deny.join(", "));
    if (n.bearer_token) cols.field("Bearer Token", true);
    if (n.subs !== undefined) cols.field("Max Subscriptions", n.subs < 0 ? "unlimited" : n.subs);
    if (n.payload !== undefined) cols.field("Max Payload", n.payload < 0 ? "unlimited" : fmtBytes(n.payload));
  }
  const exps = (n.exports ?? []) as { name: string; subject: string; type: string }[];
  const imps = (n.imports ?? []) as { name: string; subject: string; local_subject?: string; type: string; account: string }[];
  const maps = Object.entries((n.mappings ?? {}) as Record<string, { subject: string; weight?: number }[]>);
  if (exps.length) {
    cols.title("Exports");
    for (const e of exps) cols.field(e.subject, `${e.type === "service" ? "Service" : "Stream"} "${e.name}"`);
  }
  if (imps.length) {
    cols.title("Imports");
    for (const i of imps) cols.field(i.local_subject || i.subject, `${i.type === "service" ? "Service" : "Stream"} "${i.name}": ${i.subject} from ${i.account}`);
  }
  if (maps.length) {
    cols.title("Subject Mappings");
    for (const [src, list] of maps) cols.field(src, list.map((m) => `${m.subject} (${m.weight ?? 100}%)`).join(", "));
  }
  const revs = Object.entries((n.revocations ?? {}) as Record<string, number>);
  if (revs.length) {
    cols.title("Revocations");
    for (const [k, t] of revs) cols.field(k, `before ${fmtTime(new Date(t * 1000))}`);
  }
  return cols.render();
}

/** A JWT from an argument that is either a token or a file holding one (.jwt or .creds). */
function readToken(arg: string): string {
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(arg.trim())) return arg.trim();
  let text: string;
  try {
    text = fs.readFileSync(arg, "utf8");
  } catch {
    throw new CliError(`"${arg}" is neither a JWT nor a readable file`);
  }
  const m = /-----BEGIN NATS [A-Z ]*JWT-----\s*\n([^\n]+)\n/.exec(text);
  const tok = (m ? m[1] : text).trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(tok)) throw new CliError(`${arg} holds no JWT`);
  return tok;
}

/** The session to talk to the resolver: the given credentials, or the store's system user. */
function resolverSession(s: Session, store: NscStore, op: string, io: CliIO): void {
  const c = s.effective.ctx;
  if (c.creds || c.user || c.nkey || c.user_jwt || c.token) return;
  const sysPub = store.operator(op).claims.nats.system_account as string | undefined;
  const sysName = sysPub ? store.accountByKey(op, sysPub) : undefined;
  const sysUser = sysName ? store.users(op, sysName)[0] : undefined;
  if (!sysName || !sysUser || !fs.existsSync(store.credsPath(op, sysName, sysUser))) {
    throw new CliError("talking to the resolver needs a user of the system account", "give --creds for a system account user");
  }
  c.creds = store.credsPath(op, sysName, sysUser);
  io.stderr.write(`Using system account user ${sysName}/${sysUser}\n`);
}

export function registerAuth(app: App): void {
  const io = app.io;
  const store = (): NscStore => new NscStore(io.env);
  const auth = app.program.command("auth").description("NATS Decentralized Authentication (operators, accounts, users, keys; nsc's store layout)");
  registerNkeyCommands(app, auth);
  registerNkeyCommands(app, app.program);

  // ---- operators
  const op = auth.command("operator").aliases(["o", "op"]).description("Manage NATS Operators");
  op.command("add <name>")
    .description("Adds a new Operator, with a system account SYS and its user sys")
    .option("--service <url>", "URLs for the Operator services (repeatable)", collect)
    .option("--account-server <url>", "URL for the account server")
    .option("--signing-key", "Creates a signing key for this Operator")
    .option("--no-system-account", "Do not create the SYS system account")
    .option("--tags <tag>", "Tags to assign to this Operator (repeatable)", collect)
    .action(
      app.action<{ service?: string[]; accountServer?: string; signingKey?: boolean; systemAccount: boolean; tags?: string[] }>(async ({ opts }, name: string) => {
        const s = store();
        const okp = createOperator();
        s.storeKey(okp);
        const nats: Partial<Operator> = {};
        if (opts.service) nats.operator_service_urls = opts.service;
        if (opts.accountServer) nats.account_server_url = opts.accountServer;
        if (opts.tags) nats.tags = opts.tags;
        if (opts.signingKey) {
          const sk = createOperator();
          s.storeKey(sk);
          nats.signing_keys = [sk.getPublicKey()];
        }
        let sys: ReturnType<typeof createAccount> | undefined;
        if (opts.systemAccount) {
          sys = createAccount();
          s.storeKey(sys);
          nats.system_account = sys.getPublicKey();
        }
        s.createOperator(name, await encodeOperator(name, okp, nats));
        if (sys) {
          const accJwt = await encodeAccount("SYS", sys, { limits: defaultAccountLimits() as never }, { signer: okp });
          s.writeAccount(name, "SYS", accJwt);
          const ukp = createUser();
          s.storeKey(ukp);
          const ujwt = await encodeUser("sys", ukp, sys, {});
          s.writeUser(name, "SYS", "sys", ujwt);
          s.writeCreds(name, "SYS", "sys", ujwt, ukp);
        }
        if (!s.selectedOperator || !s.hasOperator(s.selectedOperator)) s.select(name, "");
        io.stdout.write(renderClaims(s.operator(name).claims, `Operator ${name}`));
      }),
    );
  op.command("info [name]")
    .aliases(["i", "show", "view"])
    .description("Show Operator information")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ opts }, name?: string) => {
        const s = store();
        const n = s.operatorName(name);
        const { claims } = s.operator(n);
        if (opts.json) return printJson(io, claims);
        io.stdout.write(renderClaims(claims, `Operator ${n}`));
        println(io, `\n  Accounts: ${s.accounts(n).join(", ") || "none"}`);
      }),
    );
  op.command("ls")
    .alias("list")
    .description("List Operators")
    .option("--names", "Show just the Operator names")
    .action(
      app.action<{ names?: boolean }>(async ({ opts }) => {
        const s = store();
        const ops = s.operators();
        if (opts.names) return void ops.forEach((o) => println(io, o));
        if (ops.length === 0) return void println(io, "No Operators found");
        printTable(io, ["Name", "Subject", "Accounts", "Selected"], ops.map((o) => [o, s.operator(o).claims.sub, s.accounts(o).length, o === s.selectedOperator ? "*" : ""]), "Operators");
      }),
    );
  op.command("select <name>")
    .description("Selects the default operator")
    .action(
      app.action(async (_c, name: string) => {
        const s = store();
        s.operatorName(name);
        s.select(name, "");
        println(io, `Selected operator ${name}`);
      }),
    );
  op.command("edit [name]")
    .alias("update")
    .description("Edit an Operator")
    .option("--service <url>", "URLs for the Operator services (repeatable)", collect)
    .option("--account-server <url>", "URL for the Account Server")
    .option("--system-account <account>", "Account (name or public key) to use as the system account")
    .option("--tags <tag>", "Tags to add to this Operator (repeatable)", collect)
    .action(
      app.action<{ service?: string[]; accountServer?: string; systemAccount?: string; tags?: string[] }>(async ({ opts }, name?: string) => {
        const s = store();
        const n = s.operatorName(name);
        const { claims } = s.operator(n);
        const nats = { ...claims.nats } as Record<string, any>;
        delete nats.type;
        delete nats.version;
        if (opts.service) nats.operator_service_urls = opts.service;
        if (opts.accountServer) nats.account_server_url = opts.accountServer;
        if (opts.tags) nats.tags = [...new Set([...(nats.tags ?? []), ...opts.tags])];
        if (opts.systemAccount) nats.system_account = s.hasAccount(n, opts.systemAccount) ? s.account(n, opts.systemAccount).claims.sub : opts.systemAccount;
        s.writeOperator(n, await encodeOperator(n, s.requireKey(claims.sub, `operator ${n}`), nats));
        io.stdout.write(renderClaims(s.operator(n).claims, `Operator ${n}`));
      }),
    );
  const opKeys = op.command("keys").aliases(["sk", "s"]).description("Manage Operator Signing Keys");
  opKeys.command("ls [name]").alias("list").description("List Signing Keys").action(
    app.action(async (_c, name?: string) => {
      const s = store();
      const n = s.operatorName(name);
      for (const k of (s.operator(n).claims.nats.signing_keys ?? []) as (string | { key: string })[]) println(io, typeof k === "string" ? k : k.key);
    }),
  );
  opKeys.command("add [name]").aliases(["new", "create"]).description("Adds a new Signing Key").action(
    app.action(async (_c, name?: string) => {
      const s = store();
      const n = s.operatorName(name);
      const { claims } = s.operator(n);
      const sk = createOperator();
      s.storeKey(sk);
      const nats = { ...claims.nats } as Record<string, any>;
      delete nats.type;
      delete nats.version;
      nats.signing_keys = [...(nats.signing_keys ?? []), sk.getPublicKey()];
      s.writeOperator(n, await encodeOperator(n, s.requireKey(claims.sub, `operator ${n}`), nats));
      println(io, sk.getPublicKey());
    }),
  );
  opKeys.command("rm [name] [key]").alias("delete").description("Removes a Signing Key").option("-f, --force", "Remove without prompting").action(
    app.action<{ force?: boolean }>(async ({ opts }, name?: string, key?: string) => {
      const s = store();
      const n = s.operatorName(name);
      const { claims } = s.operator(n);
      const nats = { ...claims.nats } as Record<string, any>;
      const before = (nats.signing_keys ?? []) as (string | { key: string })[];
      const after = before.filter((k) => (typeof k === "string" ? k : k.key) !== key);
      if (!key || after.length === before.length) throw new CliError(`${key ?? "(none)"} is not a signing key of operator ${n}`);
      if (!opts.force && !(await askConfirm(io, `Remove signing key ${key}`, false))) return;
      delete nats.type;
      delete nats.version;
      nats.signing_keys = after;
      s.writeOperator(n, await encodeOperator(n, s.requireKey(claims.sub, `operator ${n}`), nats));
    }),
  );

  registerOperatorBackup(app, op, store, (s, name) => {
    io.stdout.write(renderClaims(s.operator(name).claims, `Operator ${name}`));
    println(io, `\n  Accounts: ${s.accounts(name).join(", ") || "none"}`);
  });

  // ---- accounts
  const acct = auth.command("account").aliases(["a", "acct", "act"]).description("Manage NATS Accounts");
  accountFlags(acct.command("add <account>").aliases(["create", "new"]).description("Adds a new Account")).option("--defaults", "Accept default values without prompting").action(
    app.action<AccountFlags>(async ({ opts, cmd }, name: string) => {
      const s = store();
      const o = s.operatorName(opts.operator);
      if (s.hasAccount(o, name)) throw new CliError(`account "${name}" already exists in operator ${o}`, `change it with \`tsnats auth account edit ${name}\``);
      const akp = createAccount();
      s.storeKey(akp);
      const nats: Record<string, any> = { limits: defaultAccountLimits() };
      applyAccountFlags(nats, opts, cmd);
      s.writeAccount(o, name, await signAccount(s, o, name, akp.getPublicKey(), nats, expiryFrom(opts.expiry), opts.key));
      if (!s.selectedAccount) s.select(o, name);
      const { claims } = s.account(o, name);
      if (opts.json) return printJson(io, claims);
      io.stdout.write(renderClaims(claims, `Account ${name}`));
    }),
  );
  accountFlags(acct.command("edit [account]").alias("update").description("Edit Account settings")).action(
    app.action<AccountFlags>(async ({ opts, cmd }, name?: string) => {
      const s = store();
      const o = s.operatorName(opts.operator);
      const a = s.accountName(o, name);
      const { claims } = s.account(o, a);
      const nats = structuredClone(claims.nats) as Record<string, any>;
      delete nats.type;
      delete nats.version;
      applyAccountFlags(nats, opts, cmd);
      s.writeAccount(o, a, await signAccount(s, o, a, claims.sub, nats, expiryFrom(opts.expiry) ?? claims.exp, opts.key));
      const out = s.account(o, a).claims;
      if (opts.json) return printJson(io, out);
      io.stdout.write(renderClaims(out, `Account ${a}`));
    }),
  );
  acct.command("info [account]")
    .aliases(["i", "show", "view"])
    .description("Show Account information")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ operator?: string; json?: boolean }>(async ({ opts }, name?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, name);
        const { claims } = s.account(o, a);
        if (opts.json) return printJson(io, claims);
        io.stdout.write(renderClaims(claims, `Account ${a}`));
        println(io, `\n  Users: ${s.users(o, a).join(", ") || "none"}`);
      }),
    );
  acct.command("ls [operator]")
    .alias("list")
    .description("List Accounts (of the store; --resolver lists those a full resolver holds)")
    .option("--names", "Show just the Account names")
    .option("--resolver", "List the account public keys known to the server's resolver ($SYS.REQ.CLAIMS.LIST)")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ names?: boolean; resolver?: boolean; json?: boolean }>(async ({ session, opts }, opName?: string) => {
        const s = store();
        if (opts.resolver) {
          const o = s.operators().length ? s.operatorName(opName) : undefined;
          if (o) resolverSession(session, s, o, io);
          const res = await sysRequest<string[]>(session, "$SYS.REQ.CLAIMS.LIST", undefined);
          const keys = [...new Set(res.flatMap((r) => (Array.isArray(r.data) ? r.data : [])))].sort();
          if (opts.json) return printJson(io, keys);
          printTable(io, ["Account", "Name in store"], keys.map((k) => [k, (o && s.accountByKey(o, k)) || ""]), `${keys.length} Accounts in the resolver`);
          return;
        }
        const o = s.operatorName(opName);
        const accs = s.accounts(o);
        if (opts.json) return printJson(io, accs);
        if (opts.names) return void accs.forEach((a) => println(io, a));
        if (accs.length === 0) return void println(io, "No Accounts found");
        printTable(io, ["Name", "Subject", "Users", "JetStream", "System"], accs.map((a) => {
          const c = s.account(o, a).claims;
          const l = (c.nats.limits ?? {}) as Record<string, number>;
          return [a, c.sub, s.users(o, a).length, (l.mem_storage ?? 0) !== 0 || (l.disk_storage ?? 0) !== 0 ? "yes" : "no", s.operator(o).claims.nats.system_account === c.sub ? "yes" : ""];
        }), `Accounts of operator ${o}`);
      }),
    );
  acct.command("push [account]")
    .description("Push the Account JWT to the server's resolver ($SYS.REQ.CLAIMS.UPDATE)")
    .option("--operator <name>", "Operator to act on")
    .option("--show", "Show the Account JWT before pushing")
    .option("--all", "Push every account of the operator")
    .action(
      app.action<{ operator?: string; show?: boolean; all?: boolean }>(async ({ session, opts }, name?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const names = opts.all ? s.accounts(o) : [s.accountName(o, name)];
        resolverSession(session, s, o, io);
        let failed = 0;
        for (const a of names) {
          const { jwt } = s.account(o, a);
          if (opts.show) println(io, jwt);
          const res = await sysRequest<{ code?: number; message?: string; account?: string }>(session, "$SYS.REQ.CLAIMS.UPDATE", jwt);
          for (const r of res) {
            if (r.error) {
              failed++;
              println(io, `${a}: ${r.server.name}: ${r.error.description ?? r.error.code}`);
            } else println(io, `${a}: ${r.server.name}: ${r.data?.message ?? "ok"}`);
          }
        }
        if (failed > 0) throw new CliError(`${failed} server(s) refused the account JWT`);
      }),
    );
  acct.command("query <account> [output]")
    .alias("pull")
    .description("Pull the Account JWT from the server's resolver and view it")
    .option("--operator <name>", "Operator to act on")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ operator?: string; json?: boolean }>(async ({ session, opts }, name: string, output?: string) => {
        const s = store();
        const o = s.operators().length ? s.operatorName(opts.operator) : undefined;
        const pub = /^A[A-Z2-7]{55}$/.test(name) ? name : o && s.hasAccount(o, name) ? s.account(o, name).claims.sub : undefined;
        if (!pub) throw new CliError(`unknown account "${name}"`, "give its name in the store or its public key");
        if (o) resolverSession(session, s, o, io);
        const nc = await session.nc();
        const m = await nc.request(`$SYS.REQ.ACCOUNT.${pub}.CLAIMS.LOOKUP`, "", { timeout: session.timeoutMs }).catch((err: Error) => {
          throw new CliError(`lookup failed: ${err.message}`, "is the server in operator mode with a resolver? Use a system account user");
        });
        const jwt = new TextDecoder().decode(m.data).trim();
        if (jwt === "") throw new CliError(`the resolver has no JWT for ${pub}`, `push it with \`tsnats auth account push ${name}\``);
        if (output) fs.writeFileSync(output, jwt);
        const claims = decode<Record<string, any>>(jwt) as Claims;
        if (opts.json) return printJson(io, claims);
        io.stdout.write(renderClaims(claims, `Account ${claims.name} (from the resolver)`));
      }),
    );
  registerAccountKeys(app, acct, store, editAccount);
  registerAccountSharing(app, acct, store, editAccount);

  // ---- users
  const user = auth.command("user").aliases(["u", "usr", "users"]).description("Manage Account Users");
  userFlags(user.command("add <name> [account]").aliases(["create", "new"]).description("Adds a new User (and its .creds in the key store)"))
    .option("-f, --force", "Overwrite existing files")
    .option("--defaults", "Accept default values without prompting")
    .action(
      app.action<UserFlags>(async ({ opts }, name: string, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        if (s.hasUser(o, a, name) && !opts.force) throw new CliError(`user "${name}" already exists in account ${a}`, "pass --force to replace it");
        const ukp = createUser();
        s.storeKey(ukp);
        const nats: Record<string, any> = {};
        applyUserFlags(nats, opts);
        const jwt = await signUser(s, o, a, name, ukp.getPublicKey(), nats, expiryFrom(opts.expiry), opts.key);
        s.writeUser(o, a, name, jwt);
        const creds = s.writeCreds(o, a, name, jwt, ukp, opts.credential);
        const { claims } = s.user(o, a, name);
        if (opts.json) return printJson(io, claims);
        io.stdout.write(renderClaims(claims, `User ${name} in account ${a}`));
        println(io, `\n  Credentials: ${opts.credential ?? creds}`);
      }),
    );
  userFlags(user.command("edit <name> [account]").alias("update").description("Edits User settings")).action(
    app.action<UserFlags>(async ({ opts }, name: string, account?: string) => {
      const s = store();
      const o = s.operatorName(opts.operator);
      const a = s.accountName(o, account);
      const { claims } = s.user(o, a, name);
      const nats = structuredClone(claims.nats) as Record<string, any>;
      delete nats.type;
      delete nats.version;
      applyUserFlags(nats, opts);
      const jwt = await signUser(s, o, a, name, claims.sub, nats, expiryFrom(opts.expiry) ?? claims.exp, opts.key ?? (claims.nats.issuer_account ? claims.iss : undefined));
      s.writeUser(o, a, name, jwt);
      const ukp = s.keyPair(claims.sub);
      if (ukp) s.writeCreds(o, a, name, jwt, ukp, opts.credential);
      const out = s.user(o, a, name).claims;
      if (opts.json) return printJson(io, out);
      io.stdout.write(renderClaims(out, `User ${name} in account ${a}`));
    }),
  );
  user.command("info <name> [account]")
    .aliases(["i", "show", "view"])
    .description("Show User information")
    .option("--operator <name>", "Operator holding the Account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ operator?: string; json?: boolean }>(async ({ opts }, name: string, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        const { claims } = s.user(o, a, name);
        if (opts.json) return printJson(io, claims);
        io.stdout.write(renderClaims(claims, `User ${name} in account ${a}`));
      }),
    );
  user.command("ls [account]")
    .alias("list")
    .description("List users")
    .option("--operator <name>", "Operator holding the Account")
    .option("--names", "Show just the user names")
    .action(
      app.action<{ operator?: string; names?: boolean }>(async ({ opts }, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        const users = s.users(o, a);
        if (opts.names) return void users.forEach((u) => println(io, u));
        if (users.length === 0) return void println(io, "No Users found");
        printTable(io, ["Name", "Subject", "Expires"], users.map((u) => {
          const c = s.user(o, a, u).claims;
          return [u, c.sub, c.exp ? fmtTime(new Date(c.exp * 1000)) : "never"];
        }), `Users in account ${a}`);
      }),
    );
  user.command("rm <name> [account]")
    .description("Removes a user")
    .option("--operator <name>", "Operator holding the Account")
    .option("--revoke", "Also revokes the user before deleting it")
    .option("-f, --force", "Removes without prompting")
    .action(
      app.action<{ operator?: string; revoke?: boolean; force?: boolean }>(async ({ opts }, name: string, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        const { claims } = s.user(o, a, name);
        if (!opts.force && !(await askConfirm(io, `Really remove user ${name} from account ${a}`, false))) return;
        if (opts.revoke) await revokeUser(s, o, a, claims.sub);
        s.removeUser(o, a, name);
        println(io, `Removed user ${name}${opts.revoke ? " and revoked its JWTs (push the account to apply)" : ""}`);
      }),
    );
  user.command("revoke <name> [account]")
    .description("Revokes every JWT of a user issued until now (push the account to apply)")
    .option("--operator <name>", "Operator holding the Account")
    .action(
      app.action<{ operator?: string }>(async ({ opts }, name: string, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        await revokeUser(s, o, a, s.user(o, a, name).claims.sub);
        println(io, `Revoked user ${name} in account ${a}; push the account to apply: tsnats auth account push ${a}`);
      }),
    );
  user.command("credential <file> <name> [account]")
    .aliases(["cred", "creds"])
    .description("Creates a credential file for a user")
    .option("--expire <duration>", "Duration till expiry (issues a new JWT)")
    .option("--operator <name>", "Operator holding the Account")
    .option("-f, --force", "Overwrite existing files")
    .action(
      app.action<{ expire?: string; operator?: string; force?: boolean }>(async ({ opts }, file: string, name: string, account?: string) => {
        const s = store();
        const o = s.operatorName(opts.operator);
        const a = s.accountName(o, account);
        if (fs.existsSync(file) && !opts.force) throw new CliError(`${file} already exists`, "pass --force to overwrite it");
        let { jwt, claims } = s.user(o, a, name);
        const ukp = s.requireKey(claims.sub, `user ${name}`);
        if (opts.expire) {
          const nats = structuredClone(claims.nats) as Record<string, any>;
          delete nats.type;
          delete nats.version;
          jwt = await signUser(s, o, a, name, claims.sub, nats, expiryFrom(opts.expire), claims.nats.issuer_account ? claims.iss : undefined);
          claims = decode<Record<string, any>>(jwt) as Claims;
        }
        const creds = (await import("@nats-io/jwt")).fmtCreds(jwt, ukp);
        fs.writeFileSync(file, creds, { mode: 0o600 });
        println(io, `Wrote credentials for ${name} to ${file}${claims.exp ? `, valid until ${fmtTime(new Date(claims.exp * 1000))}` : ""}`);
      }),
    );

  // ---- describe
  const describe = (parent: Command): void => {
    parent
      .command("describe <jwt>")
      .description("Describe any JWT: a token, a .jwt file or a .creds file")
      .option("-j, --json", "Produce JSON output (the decoded claims)")
      .action(
        app.action<{ json?: boolean }>(async ({ opts }, arg: string) => {
          const tok = readToken(arg);
          let claims: Claims;
          try {
            claims = decode<Record<string, any>>(tok) as Claims;
          } catch (err) {
            throw new CliError(`not a valid NATS JWT: ${(err as Error).message}`);
          }
          if (opts.json) return printJson(io, claims);
          const kind = String(claims.nats?.type ?? claims.type ?? "JWT");
          io.stdout.write(renderClaims(claims, `${kind.charAt(0).toUpperCase()}${kind.slice(1)} ${claims.name}`));
        }),
      );
  };
  describe(auth);
  describe(app.program);
  void Option;
}

async function revokeUser(s: NscStore, op: string, acc: string, userPub: string): Promise<void> {
  const { claims } = s.account(op, acc);
  const nats = structuredClone(claims.nats) as Record<string, any>;
  delete nats.type;
  delete nats.version;
  nats.revocations = { ...(nats.revocations ?? {}), [userPub]: nowSecs() };
  s.writeAccount(op, acc, await signAccount(s, op, acc, claims.sub, nats, claims.exp));
}
