// `tsnats auth account keys`: an account's signing keys. `add ACCOUNT ROLE` makes a scoped
// key (natscli's): users it signs carry no permissions of their own, the servers apply the
// key's template ({kind: "user_scope", key, role, template, description} in the account
// JWT). `add ACCOUNT` alone adds a plain key (nsc's `add signing-key`).
import type { Command } from "commander";
import { createAccount } from "@nats-io/nkeys";
import { App, collect } from "./app.js";
import type { AccountEditor } from "./auth_account_share.js";
import type { NscStore } from "./nsc_store.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm, askSelect } from "./prompt.js";
import { CliError, println } from "./runtime.js";
import { fmtBytes, parseBytes, parseInteger } from "./units.js";

type Json = Record<string, any>;
type SigningKey = string | Json;

const CONNECTION_TYPES: Record<string, string> = { nats: "STANDARD", ws: "WEBSOCKET", leaf: "LEAFNODE", wsleaf: "LEAFNODE_WS", mqtt: "MQTT" };

const keyOf = (k: SigningKey): string => (typeof k === "string" ? k : k.key);

/** A signing key of the account by public key or role; undefined when there is none. */
export function findSigningKey(accountClaims: Json, keyOrRole: string): SigningKey | undefined {
  const list = (accountClaims.nats?.signing_keys ?? []) as SigningKey[];
  return list.find((k) => keyOf(k) === keyOrRole) ?? list.find((k) => typeof k !== "string" && k.role === keyOrRole);
}

function renderScope(k: Json): string {
  const t = (k.template ?? {}) as Json;
  const cols = new Columns(`Scoped Signing Key ${k.key}`);
  cols.title("Config");
  if (k.description) cols.field("Description", k.description);
  cols.field("Key", k.key);
  cols.field("Role", k.role);
  cols.title("Limits");
  cols.field("Max Subscriptions", (t.subs ?? -1) < 0 ? "unlimited" : t.subs);
  cols.field("Max Payload", (t.payload ?? -1) < 0 ? "unlimited" : fmtBytes(t.payload));
  cols.field("Max Data", (t.data ?? -1) < 0 ? "unlimited" : fmtBytes(t.data));
  cols.field("Bearer Token", t.bearer_token === true);
  if (t.locale) cols.field("Locale", t.locale);
  if (t.allowed_connection_types?.length) cols.field("Connection Types", t.allowed_connection_types.join(", "));
  cols.title("Permissions");
  const perm = (label: string, v?: string[]): void => void (v?.length ? cols.field(label, v.join(", ")) : undefined);
  perm("Publish Allow", t.pub?.allow);
  perm("Publish Deny", t.pub?.deny);
  perm("Subscribe Allow", t.sub?.allow);
  perm("Subscribe Deny", t.sub?.deny);
  if (!t.pub?.allow?.length && !t.pub?.deny?.length && !t.sub?.allow?.length && !t.sub?.deny?.length) cols.line("No permissions set: all subjects allowed");
  return cols.render();
}

interface AddOptions {
  operator?: string;
  description?: string;
  subscriptions: string;
  payload?: string;
  bearer?: boolean;
  locale?: string;
  connection?: string[];
  pubAllow?: string[];
  pubDeny?: string[];
  subAllow?: string[];
  subDeny?: string[];
  json?: boolean;
}

export function registerAccountKeys(app: App, acct: Command, store: () => NscStore, editAccount: AccountEditor): void {
  const io = app.io;
  const where = (operator: string | undefined, account?: string): { s: NscStore; o: string; a: string; claims: Json } => {
    const s = store();
    const o = s.operatorName(operator);
    const a = s.accountName(o, account);
    return { s, o, a, claims: s.account(o, a).claims as Json };
  };
  const pick = async (claims: Json, keyOrRole: string | undefined, what: string): Promise<SigningKey> => {
    const list = (claims.nats.signing_keys ?? []) as SigningKey[];
    if (list.length === 0) throw new CliError("no signing keys defined", "add one with `tsnats auth account keys add ACCOUNT ROLE`");
    keyOrRole ??= await askSelect(io, what, list.map((k) => (typeof k === "string" ? k : k.role)), undefined, "give the key or its role");
    const k = findSigningKey(claims, keyOrRole);
    if (!k) throw new CliError(`no signing key or role "${keyOrRole}"`, "list them with `tsnats auth account keys ls`");
    return k;
  };

  const keys = acct.command("keys").aliases(["sk", "s"]).description("Manage Account Signing Keys (scoped ones with a role)");
  keys
    .command("add [account] [role]")
    .aliases(["new", "create", "a", "n"])
    .description("Adds a signing key; with a role, a scoped key whose users get these limits and permissions")
    .option("--operator <name>", "Operator to act on")
    .option("--description <text>", "Description for the signing key")
    .option("--subscriptions <n>", "Maximum allowed subscriptions", "-1")
    .option("--payload <bytes>", "Maximum allowed payload")
    .option("--bearer", "Allows bearer tokens")
    .option("--locale <locale>", "Locale for the client")
    .option("--connection <type>", "Allowed connection types: nats, ws, leaf, wsleaf, mqtt (repeatable)", collect)
    .option("--pub-allow <subject>", "Sets subjects where publishing is allowed (repeatable)", collect)
    .option("--pub-deny <subject>", "Sets subjects where publishing is denied (repeatable)", collect)
    .option("--sub-allow <subject>", "Sets subjects where subscribing is allowed (repeatable)", collect)
    .option("--sub-deny <subject>", "Sets subjects where subscribing is denied (repeatable)", collect)
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<AddOptions>(async ({ opts }, account?: string, role?: string) => {
        const { s, o, a, claims } = where(opts.operator, account);
        const scoped = role !== undefined;
        const scopeFlags = opts.description !== undefined || opts.payload !== undefined || opts.bearer || opts.locale !== undefined || opts.connection || opts.pubAllow || opts.pubDeny || opts.subAllow || opts.subDeny || opts.subscriptions !== "-1";
        if (!scoped && scopeFlags) throw new CliError("limits and permissions need a scoped key", "give a role: `tsnats auth account keys add ACCOUNT ROLE ...`");
        if (scoped && ((claims.nats.signing_keys ?? []) as SigningKey[]).some((k) => typeof k !== "string" && k.role === role)) throw new CliError(`role "${role}" already has a signing key`);
        const kp = createAccount();
        const key = kp.getPublicKey();
        let entry: SigningKey = key;
        if (scoped) {
          const template: Json = { subs: parseInteger(opts.subscriptions, "--subscriptions", -1), data: -1, payload: opts.payload !== undefined ? parseBytes(opts.payload, "--payload") : -1 };
          const perms = (allow?: string[], deny?: string[]): Json | undefined => (allow || deny ? { ...(allow ? { allow } : {}), ...(deny ? { deny } : {}) } : undefined);
          const pub = perms(opts.pubAllow, opts.pubDeny);
          const sub = perms(opts.subAllow, opts.subDeny);
          if (pub) template.pub = pub;
          if (sub) template.sub = sub;
          if (opts.bearer) template.bearer_token = true;
          if (opts.locale) template.locale = opts.locale;
          if (opts.connection) {
            template.allowed_connection_types = opts.connection.map((c) => {
              const t = CONNECTION_TYPES[c];
              if (!t) throw new CliError(`--connection: unknown type "${c}"`, `one of ${Object.keys(CONNECTION_TYPES).join(", ")}`);
              return t;
            });
          }
          entry = { kind: "user_scope", key, role, template, ...(opts.description ? { description: opts.description } : {}) };
        }
        s.storeKey(kp);
        await editAccount(s, o, a, (nats) => (nats.signing_keys = [...(nats.signing_keys ?? []), entry]));
        if (opts.json) return printJson(io, entry);
        if (typeof entry === "string") return void println(io, key);
        io.stdout.write(renderScope(entry));
      }),
    );
  keys
    .command("info [account] [key]")
    .aliases(["i", "show", "view"])
    .description("Show information for a signing key (by public key or role)")
    .option("--operator <name>", "Operator to act on")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ operator?: string; json?: boolean }>(async ({ opts }, account?: string, keyOrRole?: string) => {
        const { claims } = where(opts.operator, account);
        const k = await pick(claims, keyOrRole, "Select a signing key");
        if (opts.json) return printJson(io, k);
        if (typeof k === "string") {
          new Columns(`Signing Key ${k}`).field("Key", k).field("Scoped", false).print(io);
          return;
        }
        io.stdout.write(renderScope(k));
      }),
    );
  keys
    .command("ls [account]")
    .alias("list")
    .description("List signing keys")
    .option("--operator <name>", "Operator to act on")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ operator?: string; json?: boolean }>(async ({ opts }, account?: string) => {
        const { claims } = where(opts.operator, account);
        const list = (claims.nats.signing_keys ?? []) as SigningKey[];
        if (opts.json) return printJson(io, list);
        if (list.length === 0) return void println(io, "No Signing Keys defined");
        const scoped = list.filter((k): k is Json => typeof k !== "string");
        for (const k of list.filter((k): k is string => typeof k === "string")) println(io, k);
        if (scoped.length === 0) return;
        const count = (p?: Json): number => (p?.allow?.length ?? 0) + (p?.deny?.length ?? 0);
        printTable(
          io,
          ["Role", "Key", "Description", "Max Subscriptions", "Pub Perms", "Sub Perms"],
          scoped.map((k) => [k.role, k.key, k.description ?? "", k.template?.subs ?? -1, count(k.template?.pub), count(k.template?.sub)]),
          "Scoped Signing Keys",
        );
      }),
    );
  keys
    .command("rm [account]")
    .description("Remove a signing key (users it signed stop working)")
    .option("--key <key>", "The key (or role) to remove")
    .option("--operator <name>", "Operator to act on")
    .option("-f, --force", "Removes without prompting")
    .action(
      app.action<{ key?: string; operator?: string; force?: boolean }>(async ({ opts }, account?: string) => {
        const { s, o, a, claims } = where(opts.operator, account);
        const k = await pick(claims, opts.key, "Select a signing key to remove");
        const key = keyOf(k);
        const label = typeof k === "string" ? `Signing Key ${key}` : `Scoped Signing Key ${key} with role ${k.role}`;
        if (!opts.force && !(await askConfirm(io, `Really remove the ${label}`, false))) return;
        await editAccount(s, o, a, (nats) => {
          nats.signing_keys = (nats.signing_keys as SigningKey[]).filter((x) => keyOf(x) !== key);
          if (nats.signing_keys.length === 0) delete nats.signing_keys;
        });
        println(io, `key "${key}" removed`);
      }),
    );
}
