// `tsnats errors ls|lookup|validate|edit`: natscli's documentation of the NATS (JetStream)
// error codes. The built-in list is the server's catalogue (src/jetstream/error_catalogue.ts,
// nats-server's errors.json); --errors FILE reads an errors.json instead (validate and edit
// work on such a file: edit opens one entry in $EDITOR).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JS_ERRORS } from "../jetstream/error_catalogue.js";
import type { App } from "./app.js";
import { Columns, printTable } from "./output.js";
import { askConfirm } from "./prompt.js";
import { CliError, println, type CliIO } from "./runtime.js";
import { parseInteger } from "./units.js";

/** One entry as nats-server's errors.json holds it. */
interface ErrorsData {
  constant: string;
  code: number;
  error_code: number;
  description: string;
  comment?: string;
  help?: string;
  url?: string;
  deprecates?: string;
}

function builtIn(): ErrorsData[] {
  return Object.entries(JS_ERRORS).map(([constant, e]) => ({ constant, code: e.code, error_code: e.err_code, description: e.description, comment: "", help: "", url: "", deprecates: "" }));
}

function load(file: string | undefined): ErrorsData[] {
  if (!file) return builtIn();
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new CliError(`${file}: expected a JSON list of errors`);
  return doc as ErrorsData[];
}

/** natscli's checks of one entry; empty when it is fine. */
export function validateError(e: ErrorsData): string[] {
  const out: string[] = [];
  const d = e.description ?? "";
  if (/^\{[^}]+\}$/.test(d) && !e.comment) out.push("token only descriptions requires a comment");
  if ((e.error_code ?? 0) < 1000) out.push("error codes may not be below 10000");
  if (!e.code) out.push("code is require");
  if (!e.constant) out.push("constant is required");
  if (!d) out.push("description is required");
  if ((d.match(/\{/g) ?? []).length !== (d.match(/\}/g) ?? []).length) out.push("unmatched number of { and }");
  if (d.includes("{") && !(e.constant ?? "").endsWith("F")) out.push("constants for errors with tokens must end in F like JSStreamMsgDeleteFailedF");
  return out;
}

function validateFile(io: CliIO, file: string): void {
  const errs = load(file);
  let failed = false;
  for (const e of errs) {
    const problems = validateError(e);
    if (problems.length > 0) {
      println(io, `${e.error_code} failed: ${problems.join(", ")}`);
      failed = true;
    }
  }
  if (failed) throw new CliError(`${file} is invalid`);
  println(io, `Validated ${errs.length} errors`);
}

export function registerErrors(app: App): void {
  const io = app.io;
  const cmd = app.program.command("errors").aliases(["err", "error"]).description("Error code documentation").option("--errors <file>", "The errors.json file to use as input");
  const file = (): string | undefined => (cmd.opts() as { errors?: string }).errors;

  cmd
    .command("ls [match] [sort]")
    .alias("list")
    .description("List all known error codes (match: a regular expression; sort: code, http, description)")
    .option("-R, --reverse", "Reverse sort")
    .action(
      app.action<{ reverse?: boolean }>(async ({ opts }, match?: string, sort = "code") => {
        if (!["code", "http", "description", "descr", "d"].includes(sort)) throw new CliError(`invalid sort "${sort}"`, "sort by code, http or description");
        let re: RegExp;
        try {
          re = new RegExp(match ? match.toLowerCase() : ".");
        } catch (err) {
          throw new CliError(`invalid regular expression: ${(err as Error).message}`);
        }
        const matched = load(file()).filter((e) => [e.description.toLowerCase(), String(e.code), String(e.error_code), (e.help ?? "").toLowerCase(), e.constant.toLowerCase(), (e.comment ?? "").toLowerCase()].some((f) => re.test(f)));
        if (matched.length === 0) throw new CliError(`no errors found matching regular expression ${re.source}`);
        const cmp = (a: ErrorsData, b: ErrorsData): number => (sort === "code" ? a.error_code - b.error_code : sort === "http" ? a.code - b.code || a.error_code - b.error_code : a.description.localeCompare(b.description));
        matched.sort((a, b) => (opts.reverse ? -cmp(a, b) : cmp(a, b)));
        printTable(io, ["NATS Code", "HTTP Error Code", "Description", "Comment", "Go Constant"], matched.map((e) => [e.error_code, e.code, e.description, e.comment ?? "", e.constant]), "NATS Errors");
      }),
    );

  cmd
    .command("lookup <code>")
    .aliases(["find", "get", "l", "view", "show"])
    .description("Looks up an error by its code")
    .action(
      app.action(async (_ctx, codeArg: string) => {
        const code = parseInteger(codeArg, "code", 0);
        const e = load(file()).find((x) => x.error_code === code);
        if (!e) throw new CliError(`no error matches code ${code}`);
        const cols = new Columns(`NATS Error Code: ${e.error_code}`);
        cols.field("Description", e.description);
        if (e.comment) cols.field("Comment", e.comment);
        cols.field("HTTP Code", e.code);
        cols.field("Go Index Constant", e.constant);
        if (e.url) cols.field("Help URL", e.url);
        cols.line();
        cols.line(e.help || "No further information available");
        cols.print(io);
      }),
    );

  cmd
    .command("validate [file]")
    .description("Validates the validity of the errors definition")
    .action(
      app.action(async (_ctx, given?: string) => {
        const f = given ?? file();
        if (!f) throw new CliError("errors file is required");
        validateFile(io, f);
      }),
    );

  cmd
    .command("edit <file> [code]")
    .aliases(["vi", "add", "new"])
    .description("Edit or add a error code using your EDITOR")
    .action(
      app.action(async (_ctx, target: string, codeArg?: string) => {
        const editor = io.env.EDITOR || io.env.VISUAL;
        if (!editor) throw new CliError("set EDITOR to the editor to use");
        const errs = load(target);
        const code = codeArg === undefined ? undefined : parseInteger(codeArg, "code", 0);
        const idx = code === undefined ? -1 : errs.findIndex((e) => e.error_code === code);
        const highest = Math.max(0, ...errs.map((e) => e.error_code));
        let entry: ErrorsData = idx >= 0 ? errs[idx] : { constant: "", code: 0, error_code: highest + 1, description: "", comment: "", help: "", url: "", deprecates: "" };
        const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-err-")), "error.json");
        try {
          for (;;) {
            fs.writeFileSync(tmp, JSON.stringify(entry, null, 2));
            const [bin, ...args] = editor.split(/\s+/);
            const r = spawnSync(bin, [...args, tmp], { stdio: "inherit" });
            if (r.error || r.status !== 0) throw new CliError(`${editor} failed${r.error ? `: ${r.error.message}` : ` with status ${r.status}`}`);
            try {
              entry = JSON.parse(fs.readFileSync(tmp, "utf8")) as ErrorsData;
            } catch (err) {
              throw new CliError(`the edited error is not JSON: ${(err as Error).message}`);
            }
            const problems = validateError(entry);
            if (problems.length === 0) break;
            println(io, `Invalid error specification: ${problems.join(", ")}`);
            if (!(await askConfirm(io, "Retry edit", true, "fix the entry and run edit again"))) throw new CliError("aborted");
          }
        } finally {
          fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
        }
        if (idx >= 0) errs[idx] = entry;
        else errs.push(entry);
        fs.writeFileSync(target, JSON.stringify(errs, null, 2), { mode: 0o600 });
        validateFile(io, target);
      }),
    );
}
