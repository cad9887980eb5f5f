// `tsnats server passwd|mappings|config reload|account info|account purge`: natscli's
// operator helpers. passwd hashes with bcrypt (bcryptjs) for `password:` in a server config;
// mappings tests a subject transform with the server's own engine (nothing is sent);
// config reload is $SYS.REQ.SERVER.<id>.RELOAD; account info reads ACCOUNTZ of one account;
// account purge is $JS.API.ACCOUNT.PURGE.<account>.
import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import type { Command } from "commander";
import { SubjectTransform } from "../server/subject_transform.js";
import type { App } from "./app.js";
import { Columns, printJson } from "./output.js";
import { askConfirm, askInput, askPassword } from "./prompt.js";
import { CliError, println } from "./runtime.js";
import { sysRequest } from "./server_cmd.js";
import { fetchVarz } from "./server_graph.js";
import { fmtAgo, fmtTime, parseInteger } from "./units.js";

type Json = Record<string, any>;

/** A random passphrase of `n` characters from an unambiguous alphabet. */
function randomPassword(n: number): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.";
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
}

function renderAccount(a: Json): string {
  const cols = new Columns(`Account information for account ${a.account_name}`);
  cols.title("Details");
  cols.field("Complete", a.complete === true);
  cols.field("Expired", a.expired === true);
  cols.field("System Account", a.is_system === true);
  if (a.update_time) cols.field("Updated", `${fmtTime(a.update_time)} (${fmtAgo(a.update_time)} ago)`);
  cols.field("JetStream", a.jetstream_enabled === true);
  if (a.issuer_key) cols.field("Issuer", a.issuer_key);
  if (a.name_tag) cols.field("Tag", a.name_tag);
  if (a.tags?.length) cols.field("Tags", a.tags.join(", "));
  const mappings = Object.entries((a.mappings ?? {}) as Record<string, Json[]>);
  if (mappings.length) {
    cols.title("Mappings");
    for (const [subj, list] of mappings) {
      cols.line(`  ${subj}`);
      for (const m of list) cols.field("    Destination", [m.mapping ?? m.subject, m.cluster ? `in cluster ${m.cluster}` : "", (m.weight ?? 100) !== 100 ? `with weight ${m.weight}` : ""].filter(Boolean).join(" "));
    }
  }
  const imports = (a.imports ?? []) as Json[];
  if (imports.length) {
    cols.title("Imports");
    for (const i of imports) {
      const local = i.to || i.subject;
      const from = i.subject && i.subject !== local ? ` from subject ${i.subject}` : "";
      cols.field("Subject", `${local}${from}${i.account ? `${from ? " in" : " from"} account ${i.account}` : ""}`);
      cols.field("Type", i.type ?? "");
      if (i.name) cols.field("Name", i.name);
      if (i.invalid) cols.field("Invalid", true);
      cols.line();
    }
  }
  const exports = (a.exports ?? []) as Json[];
  if (exports.length) {
    cols.title("Exports");
    for (const e of exports) {
      cols.field("Subject", e.subject);
      cols.field("Type", e.type ?? "");
      cols.field("Tokens Required", e.token_req === true);
      if (e.response_type) cols.field("Response Type", e.response_type);
      if (e.name) cols.field("Name", e.name);
      if (e.description) cols.field("Description", e.description);
      if (e.account_token_position > 0) cols.field("Account Token Pos", e.account_token_position);
      cols.line();
    }
  }
  const revoked = Object.entries((a.revoked_user ?? {}) as Record<string, string>);
  if (revoked.length) {
    cols.title("Revoked Users");
    for (const [k, t] of revoked) cols.field(k, `${fmtTime(t)} (${fmtAgo(t)} ago)`);
  }
  return cols.render();
}

export function registerServerAdmin(app: App, srv: Command): void {
  const io = app.io;

  srv
    .command("passwd")
    .aliases(["mkpasswd", "pass", "password"])
    .description("Creates encrypted passwords for use in NATS Server")
    .option("-p, --pass <password>", "The password to encrypt (also PASSWORD in the environment)")
    .option("-c, --cost <n>", "The cost to use in the bcrypt argument", "11")
    .option("-g, --generate", "Generates a secure passphrase and encrypt it")
    .action(
      app.action<{ pass?: string; cost: string; generate?: boolean }>(async ({ opts }) => {
        const cost = parseInteger(opts.cost, "--cost");
        // Go's bcrypt: MinCost 4, MaxCost 31.
        if (cost < 4 || cost > 31) throw new CliError("bcrypt cost should be between 4 and 31");
        let pass = opts.pass ?? io.env.PASSWORD ?? "";
        if (pass === "" && opts.generate) {
          pass = randomPassword(22);
          println(io, `Generated password: ${pass}`);
        } else if (pass === "") {
          pass = await askPassword(io, "Enter password", 10, "give --pass or PASSWORD, or --generate");
          const again = await askPassword(io, "Re-enter password", 10);
          if (pass !== again) throw new CliError("entered and re-entered passwords do not match");
        }
        if (pass.length < 10) throw new CliError("password should be at least 10 characters long");
        const hash = await bcrypt.hash(pass, cost);
        println(io, opts.generate ? `       bcrypt hash: ${hash}` : hash);
      }),
    );

  srv
    .command("mappings [source] [dest] [subject]")
    .alias("mapping")
    .description("Test subject mapping patterns (nothing is sent to a server)")
    .action(
      app.action(async (_ctx, source?: string, dest?: string, subject?: string) => {
        source ??= await askInput(io, "Source subject pattern", { required: true, instead: "give the source and destination patterns as arguments" });
        dest ??= await askInput(io, "Destination subject pattern", { required: true, instead: "give the destination pattern as an argument" });
        let transform: SubjectTransform | undefined;
        try {
          transform = SubjectTransform.create(source, dest);
        } catch (err) {
          throw new CliError((err as Error).message);
        }
        if (!transform) throw new CliError(`invalid mapping from "${source}" to "${dest}"`);
        const show = (subj: string): void => {
          try {
            println(io, transform!.match(subj));
          } catch (err) {
            println(io, `Error: ${(err as Error).message}`);
          }
          println(io, "");
        };
        if (subject !== undefined) return show(subject);
        println(io, "Enter subjects to test, empty subject terminates.\n");
        println(io, "NOTE: This only tests mappings, it does not add them to the server\n");
        for (;;) {
          const subj = await askInput(io, "Subject", { instead: "give the subject to transform as an argument" });
          if (subj === "") break;
          show(subj);
        }
      }),
    );

  const cfg = srv.command("config").description("Interact with server configuration");
  cfg
    .command("reload <id>")
    .description("Reloads the runtime configuration of a server (by ID)")
    .option("-f, --force", "Force reload without prompting")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ force?: boolean; json?: boolean }>(async ({ session, opts }, id: string) => {
        if (!/^N[A-Z2-7]{55}$/.test(id)) throw new CliError(`"${id}" is not a server ID`, "give the ID (N...) from `tsnats server list`");
        if (!opts.force) {
          const v = await fetchVarz(session, id);
          if (!(await askConfirm(io, `Really reload configuration for ${v.server_name} (${v.server_id}) on ${v.host}`, false))) return;
        }
        const res = await sysRequest<Json>(session, `$SYS.REQ.SERVER.${id}.RELOAD`, "", 1);
        const r = res[0];
        if (r.error) throw new CliError(`reload failed on ${r.server.name}: ${r.error.description ?? r.error.code}`);
        if (opts.json) return printJson(io, r.data);
        const v = await fetchVarz(session, id);
        println(io, `Configuration of ${v.server_name} reloaded at ${fmtTime(v.config_load_time)}`);
      }),
    );

  const account = srv.command("account").alias("acct").description("Interact with accounts");
  account
    .command("info <account>")
    .alias("i")
    .description("Shows information for an account")
    .option("--host <server>", "Request information from a specific server")
    .option("-j, --json", "Produce JSON output")
    .action(
      app.action<{ host?: string; json?: boolean }>(async ({ session, opts }, name: string) => {
        const body: Json = { account: name };
        if (opts.host) Object.assign(body, { server_name: opts.host, exact: true });
        const res = await sysRequest<Json>(session, "$SYS.REQ.SERVER.PING.ACCOUNTZ", body, 1);
        const r = res[0];
        if (r.error) throw new CliError(r.error.description ?? `error ${r.error.code}`);
        const detail = r.data?.account_detail as Json | undefined;
        if (!detail) throw new CliError(`no account information received for "${name}"`, "is the account known to the server?");
        if (opts.json) return printJson(io, detail);
        io.stdout.write(renderAccount(detail));
      }),
    );
  account
    .command("purge <account>")
    .description("Purge assets from JetStream clusters")
    .option("-f, --force", "Perform the operation without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ session, opts }, name: string) => {
        if (session.effective.ctx.jetstream_domain) throw new CliError("the --js-domain option cannot be used with account purge: JetStream domains do not apply to the system account, connect without a domain configured");
        if (!opts.force) {
          println(io, `This operation deletes all data from the ${name} account and cannot be reversed.\n`);
          if (!(await askConfirm(io, `Really purge account ${name}`, false))) return;
        }
        const nc = await session.nc();
        const m = await nc.request(`$JS.API.ACCOUNT.PURGE.${name}`, "", { timeout: session.timeoutMs }).catch((err: Error) => {
          throw new CliError(`purge failed: ${err.message}`, "use a system account user of a JetStream server");
        });
        const reply = m.json<Json>();
        if (reply.error) throw new CliError(`purge failed: ${reply.error.description} (${reply.error.err_code})`);
        if (reply.initiated !== true) throw new CliError("purge was not initiated");
        println(io, `Purge operation on account ${name} initiated`);
      }),
    );
}
