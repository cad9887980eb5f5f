// `tsnats auth account imports|exports|mappings`: editing what an account JWT shares and
// maps (natscli's commands, flags and tables). Each change re-signs the account JWT in the
// nsc store; `auth account push` then hands it to the servers' resolver.
//   exports  {name, subject, type: stream|service, account_token_position, advertise, ...}
//   imports  {name, subject (the exporter's), account (exporter's key), local_subject, type, share, allow_trace}
//   mappings {"source": [{subject, weight, cluster?}]}
import fs from "node:fs";
import type { Command } from "commander";
import { App } from "./app.js";
import type { NscStore } from "./nsc_store.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm, askInput, askSelect } from "./prompt.js";
import { CliError, println } from "./runtime.js";
import { parseInteger } from "./units.js";

type Json = Record<string, any>;

/** Re-sign account `acc` of operator `op` after `edit` changed a copy of its nats claims. */
export type AccountEditor = (s: NscStore, op: string, acc: string, edit: (nats: Json) => void) => Promise<void>;

interface Target {
  operator?: string;
}

const SUBJECT = /^[^\s.]+(\.[^\s.]+)*$/;

function checkSubject(subject: string, what: string): void {
  if (!SUBJECT.test(subject)) throw new CliError(`invalid ${what} "${subject}"`, "subjects are dot-separated tokens without spaces");
}

function renderExport(e: Json): string {
  const cols = new Columns(`Export info for ${e.name} exporting ${e.subject}`);
  cols.title("Configuration");
  cols.field("Name", e.name);
  if (e.description) cols.field("Description", e.description);
  cols.field("Kind", e.type === "service" ? "Service" : "Stream");
  if (e.info_url) cols.field("Info", e.info_url);
  cols.field("Subject", e.subject);
  cols.field("Activation Required", e.token_req === true);
  cols.field("Account Token Position", e.account_token_position ?? 0);
  cols.field("Advertised", e.advertise === true);
  cols.title("Revocations");
  const revs = Object.entries((e.revocations ?? {}) as Record<string, number>);
  if (revs.length === 0) cols.line("No revocations found");
  for (const [k, t] of revs) cols.field(new Date(t * 1000).toISOString(), k);
  return cols.render();
}

function renderImport(i: Json, source: string): string {
  const cols = new Columns(`Import info for import "${i.name}" importing "${i.local_subject || i.subject}"`);
  cols.title("Configuration");
  cols.field("Name", i.name);
  cols.field("From Account", source);
  cols.field("Local Subject", i.local_subject || i.subject);
  cols.field("Kind", i.type === "service" ? "Service" : "Stream");
  cols.field("Remote Subject", i.subject);
  if (i.type !== "service") cols.field("Allows Tracing", i.allow_trace === true);
  cols.field("Sharing Connection Info", i.share === true);
  if (i.token) cols.field("Activation Token", true);
  return cols.render();
}

function renderMappings(mappings: Record<string, Json[]>): string {
  const cols = new Columns("Subject mappings");
  for (const source of Object.keys(mappings).sort()) {
    cols.title(source);
    let total = 0;
    for (const m of mappings[source]) {
      cols.field(m.subject, `${m.weight ?? 100}%${m.cluster ? ` in cluster ${m.cluster}` : ""}`);
      total += m.weight ?? 100;
    }
    cols.field("Total weight", `${total}%`);
  }
  return cols.render();
}

export function registerAccountSharing(app: App, acct: Command, store: () => NscStore, editAccount: AccountEditor): void {
  const io = app.io;
  const where = (opts: Target, account?: string): { s: NscStore; o: string; a: string; claims: Json } => {
    const s = store();
    const o = s.operatorName(opts.operator);
    const a = s.accountName(o, account);
    return { s, o, a, claims: s.account(o, a).claims as Json };
  };
  const localOf = (i: Json): string => i.local_subject || i.to || i.subject;
  const sourceName = (s: NscStore, o: string, key: string): string => {
    const name = s.accountByKey(o, key);
    return name ? `${name} (${key})` : key;
  };

  // ---- exports
  const exps = acct.command("exports").aliases(["e", "exp", "export"]).description("Manage account Exports");
  exps
    .command("add <name> <subject> [account]")
    .aliases(["new", "a", "n"])
    .description("Adds an Export")
    .option("--operator <name>", "Operator hosting the account")
    .option("--description <text>", "Friendly description")
    .option("--url <url>", "Sets a URL for further information")
    .option("--token-position <n>", "The position to use for the Account name")
    .option("--advertise", "Advertise the Export")
    .option("--service", "Sets the Export to be a Service rather than a Stream")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { description?: string; url?: string; tokenPosition?: string; advertise?: boolean; service?: boolean; json?: boolean }>(async ({ opts }, name: string, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        checkSubject(subject, "export subject");
        if (opts.url !== undefined && !URL.canParse(opts.url)) throw new CliError(`--url: "${opts.url}" is not a URL`);
        const e: Json = { name, subject, type: opts.service ? "service" : "stream" };
        if (opts.tokenPosition !== undefined) e.account_token_position = parseInteger(opts.tokenPosition, "--token-position", 0);
        if (opts.advertise) e.advertise = true;
        if (opts.description) e.description = opts.description;
        if (opts.url) e.info_url = opts.url;
        if (((claims.nats.exports ?? []) as Json[]).some((x) => x.subject === subject && x.type === e.type)) throw new CliError(`subject "${subject}" is already exported as a ${e.type}`, `change it with \`tsnats auth account exports edit ${subject}\``);
        await editAccount(s, o, a, (nats) => (nats.exports = [...(nats.exports ?? []), e]));
        if (opts.json) return printJson(io, e);
        io.stdout.write(renderExport(e));
      }),
    );
  exps
    .command("info [subject] [account]")
    .aliases(["i", "show", "view"])
    .description("Show information for an Export")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, subject?: string, account?: string) => {
        const { claims } = where(opts, account);
        const list = (claims.nats.exports ?? []) as Json[];
        if (list.length === 0) throw new CliError("no exports defined");
        subject ??= await askSelect(io, "Select an Export", list.map((e) => e.subject).sort(), undefined, "give the export's subject");
        const e = list.find((x) => x.subject === subject);
        if (!e) throw new CliError("unknown export", "list them with `tsnats auth account exports ls`");
        if (opts.json) return printJson(io, e);
        io.stdout.write(renderExport(e));
      }),
    );
  exps
    .command("edit <subject> [account]")
    .alias("update")
    .description("Edits an Export")
    .option("--operator <name>", "Operator hosting the account")
    .option("--description <text>", "Friendly description")
    .option("--url <url>", "Sets a URL for further information")
    .option("--token-position <n>", "The position to use for the Account name")
    .option("--advertise", "Advertise the Export")
    .option("--no-advertise", "Do not advertise the Export")
    .action(
      app.action<Target & { description?: string; url?: string; tokenPosition?: string; advertise?: boolean }>(async ({ opts }, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        if (!((claims.nats.exports ?? []) as Json[]).some((x) => x.subject === subject)) throw new CliError(`export for subject "${subject}" not found`);
        if (opts.url !== undefined && !URL.canParse(opts.url)) throw new CliError(`--url: "${opts.url}" is not a URL`);
        let edited: Json = {};
        await editAccount(s, o, a, (nats) => {
          const e = (nats.exports as Json[]).find((x) => x.subject === subject)!;
          if (opts.url !== undefined) e.info_url = opts.url;
          if (opts.description !== undefined) e.description = opts.description;
          if (opts.tokenPosition !== undefined) e.account_token_position = parseInteger(opts.tokenPosition, "--token-position", 1);
          if (opts.advertise !== undefined) e.advertise = opts.advertise;
          edited = e;
        });
        io.stdout.write(renderExport(edited));
      }),
    );
  exps
    .command("ls [account]")
    .alias("list")
    .description("List Exports")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, account?: string) => {
        const { a, claims } = where(opts, account);
        const list = [...((claims.nats.exports ?? []) as Json[])].sort((x, y) => String(x.subject).localeCompare(y.subject));
        if (opts.json) return printJson(io, list);
        if (list.length === 0) return void println(io, "No Exports defined");
        printTable(
          io,
          ["Name", "Kind", "Subject", "Activation Required", "Advertised", "Token Position", "Revocations"],
          list.map((e) => [e.name, e.type === "service" ? "Service" : "Stream", e.subject, String(e.token_req === true), String(e.advertise === true), e.account_token_position ?? 0, Object.keys(e.revocations ?? {}).length]),
          `Exports for account ${a}`,
        );
      }),
    );
  exps
    .command("rm <subject> [account]")
    .description("Removes an Export")
    .option("--operator <name>", "Operator hosting the account")
    .option("-f, --force", "Removes without prompting")
    .action(
      app.action<Target & { force?: boolean }>(async ({ opts }, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        const e = ((claims.nats.exports ?? []) as Json[]).find((x) => x.subject === subject);
        if (!e) throw new CliError(`subject "${subject}" is not exported`);
        if (!opts.force && !(await askConfirm(io, `Really remove the ${subject} Export`, false))) return;
        await editAccount(s, o, a, (nats) => {
          nats.exports = (nats.exports as Json[]).filter((x) => x.subject !== subject);
          if (nats.exports.length === 0) delete nats.exports;
        });
        println(io, `Removing ${e.type === "service" ? "Service" : "Stream"} Export for subject "${subject}"`);
      }),
    );

  // ---- imports
  const imps = acct.command("imports").aliases(["imp", "import"]).description("Manage account Imports");
  imps
    .command("add <name> <subject> [account]")
    .aliases(["new", "a", "n"])
    .description("Adds an Import")
    .option("--source <account>", "The account (public key, or name in the store) to import from")
    .option("--local <subject>", "The local Subject to use for the import")
    .option("--share", "Shares connection information with the exporter")
    .option("--traceable", "Enable tracing messages across Stream imports")
    .option("--service", "Sets the import to be a Service rather than a Stream")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { source?: string; local?: string; share?: boolean; traceable?: boolean; service?: boolean; json?: boolean }>(async ({ opts }, name: string, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        checkSubject(subject, "import subject");
        if (opts.local !== undefined) checkSubject(opts.local, "--local subject");
        const others = s.accounts(o).filter((x) => x !== a);
        const source = opts.source ?? (await askSelect(io, "Select the Source account", others, undefined, "give --source ACCOUNT"));
        const sourceKey = /^A[A-Z2-7]{55}$/.test(source) ? source : s.hasAccount(o, source) ? (s.account(o, source).claims.sub as string) : undefined;
        if (!sourceKey) throw new CliError(`could not select source account: unknown account "${source}"`, "give an account name of the store or an account public key");
        if (sourceKey === claims.sub) throw new CliError("an account cannot import from itself");
        const i: Json = { name, subject, account: sourceKey, local_subject: opts.local ?? subject, type: opts.service ? "service" : "stream" };
        if (opts.share) i.share = true;
        if (opts.traceable && !opts.service) i.allow_trace = true;
        const local = i.local_subject as string;
        if (((claims.nats.imports ?? []) as Json[]).some((x) => localOf(x) === local)) throw new CliError(`local subject "${local}" is already imported`, "give another with --local");
        await editAccount(s, o, a, (nats) => (nats.imports = [...(nats.imports ?? []), i]));
        if (opts.json) return printJson(io, i);
        io.stdout.write(renderImport(i, sourceName(s, o, sourceKey)));
      }),
    );
  imps
    .command("info [subject] [account]")
    .aliases(["i", "show", "view"])
    .description("Show information for an Import (by local subject)")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, subject?: string, account?: string) => {
        const { s, o, claims } = where(opts, account);
        const list = (claims.nats.imports ?? []) as Json[];
        if (list.length === 0) throw new CliError("no imports defined");
        subject ??= await askSelect(io, "Select an Import", list.map(localOf).sort(), undefined, "give the import's local subject");
        const i = list.find((x) => localOf(x) === subject);
        if (!i) throw new CliError("unknown import", "list them with `tsnats auth account imports ls`");
        if (opts.json) return printJson(io, i);
        io.stdout.write(renderImport(i, sourceName(s, o, i.account)));
      }),
    );
  imps
    .command("edit <subject> [account]")
    .alias("update")
    .description("Edits an Import (by local subject)")
    .option("--local <subject>", "The local Subject to use for the import")
    .option("--share", "Shares connection information with the exporter")
    .option("--no-share", "Stops sharing connection information")
    .option("--traceable", "Enable tracing messages across Stream imports")
    .option("--no-traceable", "Disable tracing messages across Stream imports")
    .option("--operator <name>", "Operator hosting the account")
    .action(
      app.action<Target & { local?: string; share?: boolean; traceable?: boolean }>(async ({ opts }, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        const found = ((claims.nats.imports ?? []) as Json[]).find((x) => localOf(x) === subject);
        if (!found) throw new CliError(`import for local subject "${subject}" not found`);
        if (opts.traceable !== undefined && found.type === "service") throw new CliError("service imports cannot allow tracing");
        if (opts.local !== undefined) checkSubject(opts.local, "--local subject");
        let edited: Json = {};
        await editAccount(s, o, a, (nats) => {
          const i = (nats.imports as Json[]).find((x) => localOf(x) === subject)!;
          if (opts.traceable !== undefined) i.allow_trace = opts.traceable;
          if (opts.share !== undefined) i.share = opts.share;
          if (opts.local !== undefined) {
            i.local_subject = opts.local;
            delete i.to;
          }
          edited = i;
        });
        io.stdout.write(renderImport(edited, sourceName(s, o, edited.account)));
      }),
    );
  imps
    .command("ls [account]")
    .alias("list")
    .description("List Imports")
    .option("--operator <name>", "Operator hosting the account")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        const list = [...((claims.nats.imports ?? []) as Json[])].sort((x, y) => String(x.subject).localeCompare(y.subject));
        if (opts.json) return printJson(io, list);
        if (list.length === 0) return void println(io, "No Imports defined");
        printTable(
          io,
          ["Name", "Kind", "Source", "Local Subject", "Remote Subject", "Allows Tracing", "Sharing Connection Info"],
          list.map((i) => [i.name, i.type === "service" ? "Service" : "Stream", s.accountByKey(o, i.account) ?? i.account, localOf(i), i.subject, i.type === "service" ? "" : String(i.allow_trace === true), String(i.share === true)]),
          `Imports for account ${a}`,
        );
      }),
    );
  imps
    .command("rm <subject> [account]")
    .description("Removes an Import (by local subject)")
    .option("--operator <name>", "Operator hosting the account")
    .option("-f, --force", "Removes without prompting")
    .action(
      app.action<Target & { force?: boolean }>(async ({ opts }, subject: string, account?: string) => {
        const { s, o, a, claims } = where(opts, account);
        const i = ((claims.nats.imports ?? []) as Json[]).find((x) => localOf(x) === subject);
        if (!i) throw new CliError(`subject "${subject}" is not imported`);
        if (!opts.force && !(await askConfirm(io, `Really remove the ${subject} import`, false))) return;
        await editAccount(s, o, a, (nats) => {
          nats.imports = (nats.imports as Json[]).filter((x) => localOf(x) !== subject);
          if (nats.imports.length === 0) delete nats.imports;
        });
        println(io, `Removing ${i.type === "service" ? "service" : "stream"} Import for local subject "${subject}" imported from Account "${i.account}"`);
      }),
    );

  // ---- mappings
  const maps = acct.command("mappings").aliases(["m", "mapping", "map"]).description("Manage account level subject mapping and partitioning");
  maps
    .command("add [account] [source] [target] [weight] [cluster]")
    .aliases(["new", "a"])
    .description("Add a new mapping (weights of one source add up to at most 100%)")
    .option("--operator <name>", "Operator to act on")
    .option("--config <file>", "JSON file of mappings to add ({\"source\": [{\"subject\": ..., \"weight\": ...}]})")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { config?: string; json?: boolean }>(async ({ opts }, account?: string, source?: string, target?: string, weightArg?: string, cluster?: string) => {
        const { s, o, a, claims } = where(opts, account);
        let added: Record<string, Json[]>;
        if (opts.config) {
          let doc: unknown;
          try {
            doc = JSON.parse(fs.readFileSync(opts.config, "utf8"));
          } catch (err) {
            throw new CliError(`--config: ${(err as Error).message}`);
          }
          if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new CliError("--config: expected an object of source subject to a list of mappings");
          added = doc as Record<string, Json[]>;
        } else {
          source ??= await askInput(io, "Source subject", { required: true, instead: "give the account, source and target subjects as arguments" });
          target ??= await askInput(io, "Target subject", { required: true, instead: "give the target subject as an argument" });
          const current = ((claims.nats.mappings ?? {}) as Record<string, Json[]>)[source] ?? [];
          if (current.some((m) => m.subject === target)) throw new CliError(`mapping ${source} -> ${target} already exists`);
          const m: Json = { subject: target, weight: weightArg === undefined ? 100 : parseInteger(weightArg, "weight", 0) };
          if (cluster) m.cluster = cluster;
          added = { [source]: [...current, m] };
        }
        for (const [src, list] of Object.entries(added)) {
          checkSubject(src, "source subject");
          if (!Array.isArray(list) || list.length === 0) throw new CliError(`mappings of ${src}: expected a list of {subject, weight}`);
          let total = 0;
          for (const m of list) {
            if (typeof m?.subject !== "string") throw new CliError(`mappings of ${src}: every mapping needs a subject`);
            checkSubject(m.subject, "target subject");
            const w = m.weight ?? 100;
            if (!Number.isInteger(w) || w < 0 || w > 100) throw new CliError(`mapping ${src} -> ${m.subject}: weight must be 0 to 100`);
            total += w;
          }
          if (total > 100) throw new CliError(`mappings of ${src}: weights add up to ${total}%, more than 100%`);
        }
        await editAccount(s, o, a, (nats) => (nats.mappings = { ...(nats.mappings ?? {}), ...added }));
        if (opts.json) return printJson(io, added);
        io.stdout.write(renderMappings(added));
      }),
    );
  maps
    .command("ls [account]")
    .alias("list")
    .description("List mappings")
    .option("--operator <name>", "Operator to act on")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, account?: string) => {
        const { a, claims } = where(opts, account);
        const mappings = (claims.nats.mappings ?? {}) as Record<string, Json[]>;
        if (opts.json) return printJson(io, mappings);
        if (Object.keys(mappings).length === 0) return void println(io, "No mappings defined");
        const rows = Object.keys(mappings)
          .sort()
          .flatMap((src) => mappings[src].map((m) => [src, m.subject, m.weight ?? 100, m.cluster ?? ""]));
        printTable(io, ["Source Subject", "Target Subject", "Weight", "Cluster"], rows, `Subject mappings for account ${a}`);
      }),
    );
  maps
    .command("info [account] [source]")
    .aliases(["i", "show", "view"])
    .description("Show information about a mapping")
    .option("--operator <name>", "Operator to act on")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<Target & { json?: boolean }>(async ({ opts }, account?: string, source?: string) => {
        const { claims } = where(opts, account);
        const mappings = (claims.nats.mappings ?? {}) as Record<string, Json[]>;
        if (Object.keys(mappings).length === 0) return void println(io, "No mappings defined");
        source ??= await askSelect(io, "Select a mapping to inspect", Object.keys(mappings).sort(), undefined, "give the source subject");
        if (!mappings[source]) throw new CliError(`no mapping for source subject "${source}"`, "list them with `tsnats auth account mappings ls`");
        const one = { [source]: mappings[source] };
        if (opts.json) return printJson(io, one);
        io.stdout.write(renderMappings(one));
      }),
    );
  maps
    .command("rm [account] [source]")
    .description("Remove a mapping")
    .option("--operator <name>", "Operator to act on")
    .action(
      app.action<Target>(async ({ opts }, account?: string, source?: string) => {
        const { s, o, a, claims } = where(opts, account);
        const mappings = (claims.nats.mappings ?? {}) as Record<string, Json[]>;
        if (Object.keys(mappings).length === 0) return void println(io, "No mappings defined");
        source ??= await askSelect(io, "Select a mapping to delete", Object.keys(mappings).sort(), undefined, "give the source subject");
        if (!mappings[source]) throw new CliError(`no mapping for source subject "${source}"`);
        await editAccount(s, o, a, (nats) => {
          delete nats.mappings[source!];
          if (Object.keys(nats.mappings).length === 0) delete nats.mappings;
        });
        println(io, `Deleted mapping {${source}}`);
      }),
    );
}
