// `tsnats context`: saved connection settings, natscli-compatible (see context_store.ts).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { App, jsonFlag } from "./app.js";
import { connectionOptions, dial, expandPath, overridingEnv, type GlobalFlags } from "./connection.js";
import { ContextStore, emptyContext, type ContextSettings } from "./context_store.js";
import { Columns, printJson, printTable } from "./output.js";
import { askConfirm } from "./prompt.js";
import { CliError, println, type CliIO } from "./runtime.js";

/** The connection flags a context records, applied over `base` (natscli's context add). */
function applyFlags(io: CliIO, base: ContextSettings & Record<string, unknown>, g: GlobalFlags): ContextSettings & Record<string, unknown> {
  const env = io.env;
  const pick = (flag: string | undefined, envName?: string): string | undefined => {
    if (flag !== undefined && flag !== "") return flag;
    const v = envName ? env[envName] : undefined;
    return v !== undefined && v !== "" ? v : undefined;
  };
  const out = { ...base };
  const set = (k: keyof ContextSettings, v: string | undefined): void => {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  };
  set("url", pick(g.server, "NATS_URL"));
  const user = pick(g.user, "NATS_USER");
  const password = pick(g.password, "NATS_PASSWORD");
  if (user !== undefined && password === undefined) {
    // "--user" alone is a token, as natscli records it.
    set("token", user);
  } else {
    set("user", user);
    set("password", password);
  }
  set("token", pick(g.token, "NATS_TOKEN"));
  set("creds", pick(g.creds, "NATS_CREDS"));
  set("nkey", pick(g.nkey, "NATS_NKEY"));
  set("user_jwt", pick(g.jwt, "NATS_JWT"));
  set("user_seed", pick(g.seed, "NATS_SEED"));
  set("cert", pick(g.tlscert, "NATS_CERT"));
  set("key", pick(g.tlskey, "NATS_KEY"));
  set("ca", pick(g.tlsca, "NATS_CA"));
  if (g.tlsfirst || g.tlsFirst) out.tls_first = true;
  set("socks_proxy", pick(g.socksProxy, "NATS_SOCKS_PROXY"));
  set("jetstream_api_prefix", pick(g.jsApiPrefix));
  set("jetstream_event_prefix", pick(g.jsEventPrefix));
  set("jetstream_domain", pick(g.jsDomain ?? g.domain));
  set("inbox_prefix", pick(g.inboxPrefix));
  set("color_scheme", pick(g.colors, "NATS_COLOR"));
  return out;
}

/** --embed: credential files become data: URIs inside the context. */
function embedFiles(io: CliIO, ctx: ContextSettings): void {
  for (const k of ["creds", "nkey", "cert", "key", "ca", "user_jwt", "user_seed"] as const) {
    const v = ctx[k];
    if (!v || v.startsWith("data:") || v.startsWith("env://") || v.startsWith("op://") || v.startsWith("nsc://")) continue;
    const file = expandPath(io, v.startsWith("file://") ? v.slice(7) : v);
    if (!fs.existsSync(file)) {
      if (k === "user_jwt" || k === "user_seed") continue; // literal values
      throw new CliError(`cannot embed ${k}: ${file} does not exist`);
    }
    ctx[k] = `data:;base64,${fs.readFileSync(file).toString("base64")}`;
  }
}

function fileState(io: CliIO, v: string): string {
  if (v.startsWith("data:")) return "embedded";
  if (v.startsWith("env://")) return "runtime environment";
  if (v.startsWith("op://")) return "1Password";
  if (v.startsWith("nsc://")) return "nsc";
  const file = expandPath(io, v.startsWith("file://") ? v.slice(7) : v);
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return "OK";
  } catch {
    return "ERROR";
  }
}

async function showContext(io: CliIO, store: ContextStore, name: string, json: boolean, tryConnect: boolean, _flags: GlobalFlags): Promise<number> {
  const ctx = store.load(name);
  if (json) {
    printJson(io, ctx);
    return 0;
  }
  let errors = 0;
  const file = (label: string, v: string): void => {
    if (!v) return;
    const st = fileState(io, v);
    if (st === "ERROR") errors++;
    cols.field(label, st === "embedded" ? "embedded data" : `${v} (${st})`);
  };
  const cols = new Columns(`NATS Configuration Context "${name}"`);
  cols.fieldIf(ctx.description, "Description", ctx.description);
  cols.fieldIf(ctx.url, "Server URLs", ctx.url);
  cols.fieldIf(ctx.socks_proxy, "SOCKS5 Proxy", ctx.socks_proxy);
  cols.fieldIf(ctx.user, "Username", ctx.user);
  cols.fieldIf(ctx.password, "Password", "*".repeat(ctx.password.length));
  cols.fieldIf(ctx.token, "Token", ctx.token);
  file("Credentials", ctx.creds);
  cols.fieldIf(ctx.user_jwt, "User JWT", ctx.user_jwt.startsWith("data:") ? "embedded data" : ctx.user_jwt);
  cols.fieldIf(ctx.user_seed, "User Seed", ctx.user_seed.startsWith("data:") ? "embedded data" : "*****");
  file("NKey", ctx.nkey);
  file("Certificate", ctx.cert);
  file("Key", ctx.key);
  file("CA", ctx.ca);
  cols.fieldIf(ctx.tls_first, "TLS First", true);
  cols.fieldIf(ctx.jetstream_api_prefix, "JS API Prefix", ctx.jetstream_api_prefix);
  cols.fieldIf(ctx.jetstream_event_prefix, "JS Event Prefix", ctx.jetstream_event_prefix);
  cols.fieldIf(ctx.jetstream_domain, "JS Domain", ctx.jetstream_domain);
  cols.fieldIf(ctx.inbox_prefix, "Inbox Prefix", ctx.inbox_prefix);
  cols.field("Path", store.path(name));
  cols.fieldIf(ctx.color_scheme, "Color Scheme", ctx.color_scheme);
  if (tryConnect) {
    try {
      // The context alone, as natscli checks it: no flag or environment overrides.
      const eff = { contextName: name, ctx, timeoutMs: 5000, connectionName: `tsnats context check` };
      const nc = await dial(eff, { ...connectionOptions(io, eff), maxReconnectAttempts: 0 });
      await nc.close();
      cols.field("Connection", "OK");
    } catch (err) {
      errors++;
      cols.field("Connection", (err as Error).message);
    }
  }
  cols.print(io);
  println(io);
  const env = overridingEnv(io.env);
  if (env.length > 0) println(io, `WARNING: Shell environment overrides in place using ${env.join(", ")}`);
  return errors > 0 ? 1 : 0;
}

export function registerContext(app: App): void {
  const io = app.io;
  const store = (): ContextStore => new ContextStore(io.env);
  const ctxCmd = app.program.command("context").alias("ctx").description("Manage nats configuration contexts");

  const add = ctxCmd
    .command("add <name>")
    .aliases(["create", "save"])
    .description("Update or create a context from the connection flags (--server, --user, --creds, ...)")
    .option("--description <text>", "Set a friendly description for this context")
    .option("--select", "Select the saved context as the default one")
    .option("--embed", "Embeds credential content in the body of the context");
  add.action(
    app.action<{ description?: string; select?: boolean; embed?: boolean }>(async ({ opts }, name: string) => {
      ContextStore.validateName(name);
      const s = store();
      const g = app.globals();
      const from = s.exists(name) ? name : typeof g.context === "string" && s.exists(g.context) ? g.context : undefined;
      let ctx = from ? s.load(from) : { ...emptyContext() };
      ctx = applyFlags(io, ctx, g);
      if (opts.description !== undefined) ctx.description = opts.description;
      if (opts.embed) embedFiles(io, ctx);
      s.save(name, ctx);
      if (opts.select) {
        s.select(name);
      }
      return showContext(io, s, name, false, false, g);
    }),
  );

  ctxCmd
    .command("copy <source> <name>")
    .alias("cp")
    .description("Copies an existing context")
    .option("--description <text>", "Set a friendly description for this context")
    .option("--select", "Select the saved context as the default one")
    .option("--embed", "Embeds credential content in the body of the context")
    .action(
      app.action<{ description?: string; select?: boolean; embed?: boolean }>(async ({ opts }, source: string, name: string) => {
        const s = store();
        if (!s.exists(source)) throw new CliError(`unknown context "${source}"`, "list the saved contexts with `tsnats context ls`");
        if (s.exists(name)) throw new CliError(`context "${name}" already exist`);
        let ctx = s.load(source);
        ctx = applyFlags(io, ctx, app.globals());
        if (opts.description !== undefined) ctx.description = opts.description;
        if (opts.embed) embedFiles(io, ctx);
        s.save(name, ctx);
        if (opts.select) s.select(name);
        return showContext(io, s, name, false, false, app.globals());
      }),
    );

  ctxCmd
    .command("edit <name>")
    .alias("vi")
    .description("Edit a context in your EDITOR (or apply connection flags given on the command line)")
    .action(
      app.action(async (_c, name: string) => {
        const s = store();
        if (!s.exists(name)) throw new CliError(`unknown context "${name}"`, "list the saved contexts with `tsnats context ls`");
        const g = app.globals();
        const flagged = applyFlags({ ...io, env: {} }, s.load(name), g);
        if (JSON.stringify(flagged) !== JSON.stringify(s.load(name))) {
          s.save(name, flagged);
          return showContext(io, s, name, false, false, g);
        }
        const editor = io.env.EDITOR || io.env.VISUAL;
        if (!editor) throw new CliError("no EDITOR set", "set EDITOR, or give the new values as flags: tsnats context edit NAME --server URL");
        const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-ctx-")), `${name}.json`);
        try {
          fs.writeFileSync(tmp, JSON.stringify(s.load(name), null, "  "), { mode: 0o600 });
          const r = spawnSync(editor, [tmp], { stdio: "inherit", shell: true, env: { ...io.env } as NodeJS.ProcessEnv });
          if (r.status !== 0) throw new CliError(`editor exited with status ${r.status}; context unchanged`);
          let doc: unknown;
          try {
            doc = JSON.parse(fs.readFileSync(tmp, "utf8"));
          } catch (err) {
            throw new CliError(`edited context is not valid JSON: ${(err as Error).message}; context unchanged`);
          }
          if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new CliError("edited context is not a JSON object; context unchanged");
          s.save(name, { ...emptyContext(), ...(doc as Record<string, unknown>) } as ContextSettings & Record<string, unknown>);
        } finally {
          fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
        }
        return showContext(io, s, name, false, false, g);
      }),
    );

  jsonFlag(ctxCmd.command("ls").aliases(["list", "l"]).description("List known contexts"))
    .option("--names", "List just the names of known contexts")
    .option("--completion", "Format the list for use by shell completion")
    .action(
      app.action<{ json?: boolean; names?: boolean; completion?: boolean }>(async ({ opts }) => {
        const s = store();
        const names = s.list();
        const current = s.selected();
        const loaded: { name: string; ctx: ContextSettings }[] = [];
        for (const n of names) {
          try {
            loaded.push({ name: n, ctx: s.load(n) });
          } catch (err) {
            if (!opts.completion) io.stderr.write(`Could not load context ${n}: ${(err as Error).message}\n`);
          }
        }
        if (opts.json) {
          printJson(io, loaded.map((l) => ({ name: l.name, ...l.ctx })));
        } else if (opts.names) {
          for (const l of loaded) println(io, l.name);
        } else if (opts.completion) {
          for (const l of loaded) println(io, `${l.name.replaceAll(":", "\\:")}${l.name === current ? "*" : ""}:${l.ctx.description}`);
        } else if (loaded.length === 0) {
          println(io, "No known contexts");
        } else {
          printTable(
            io,
            ["Name", "Description"],
            loaded.map((l) => [l.name === current ? `${l.name}*` : l.name, l.ctx.description]),
            "Known Contexts",
          );
        }
      }),
    );

  ctxCmd
    .command("rm <name>")
    .alias("remove")
    .description("Remove a context")
    .option("-f, --force", "Force remove without prompting")
    .action(
      app.action<{ force?: boolean }>(async ({ opts }, name: string) => {
        const s = store();
        if (!s.exists(name)) throw new CliError(`unknown context "${name}"`, "list the saved contexts with `tsnats context ls`");
        if (s.selected() === name && !opts.force) {
          throw new CliError("cannot remove the selected context, select another one or use the unselect command", "or pass --force");
        }
        if (!opts.force && !(await askConfirm(io, `Really delete context "${name}"`, false))) return;
        s.remove(name);
      }),
    );

  ctxCmd
    .command("select [name]")
    .aliases(["switch", "set"])
    .description("Select the default context")
    .action(
      app.action(async (_c, name?: string) => {
        const s = store();
        if (name === undefined) {
          const { askSelect } = await import("./prompt.js");
          name = await askSelect(io, "Select a Context", s.list(), s.selected() || undefined, "give the context name: tsnats context select NAME");
        }
        if (!s.exists(name)) throw new CliError(`unknown context "${name}"`, "list the saved contexts with `tsnats context ls`");
        s.select(name);
        return showContext(io, s, name, false, false, app.globals());
      }),
    );

  ctxCmd
    .command("unselect")
    .description("Ensures that no context is the default context")
    .action(
      app.action(async () => {
        store().select("");
      }),
    );

  jsonFlag(ctxCmd.command("info [name]").aliases(["show", "v", "view"]).description("Display information on the current or named context"))
    .option("--connect", "Attempts to connect to NATS using the context while validating")
    .action(
      app.action<{ json?: boolean; connect?: boolean }>(async ({ opts }, name?: string) => {
        const s = store();
        name ??= s.selected();
        if (name === "") throw new CliError("no default context and no name supplied", "select one with `tsnats context select NAME`");
        if (!s.exists(name)) throw new CliError(`unknown context "${name}"`, "list the saved contexts with `tsnats context ls`");
        return showContext(io, s, name, opts.json === true, opts.connect === true, app.globals());
      }),
    );

  ctxCmd
    .command("validate [name]")
    .description("Validate one or all contexts")
    .option("--connect", "Attempts to connect to NATS using the context while validating")
    .action(
      app.action<{ connect?: boolean }>(async ({ opts }, name?: string) => {
        const s = store();
        const names = name !== undefined ? [name] : s.list();
        let failed = 0;
        for (const n of names) {
          try {
            failed += await showContext(io, s, n, false, opts.connect === true, app.globals());
          } catch (err) {
            failed++;
            println(io, `Could not load ${n}: ${(err as Error).message}\n`);
          }
          println(io);
        }
        if (failed > 0) throw new CliError("validation failed");
      }),
    );

  ctxCmd
    .command("previous")
    .alias("-")
    .description("Switch to the previous context")
    .action(
      app.action(async () => {
        const s = store();
        const prev = s.previous();
        if (prev === "") throw new CliError("no previous context to switch to");
        if (!s.exists(prev)) throw new CliError(`the previous context "${prev}" no longer exists`);
        s.select(prev);
        return showContext(io, s, prev, false, false, app.globals());
      }),
    );
}
