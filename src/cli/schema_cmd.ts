// `tsnats schema`: the NATS JSON schemas (JetStream API, advisories, metrics, server and
// micro messages) — show one, search their ids, validate a file or a service's answer
// against one — and the validation behind `stream add --validate`. natscli carries the
// schemas inside its binary; tsnats reads them from a directory laid out as jsm.go's
// `schemas/` (jetstream/api/v1/stream_configuration.json is io.nats.jetstream.api.v1.
// stream_configuration), named by TSNATS_SCHEMAS. Validation is done with the ajv library,
// YAML output with the yaml library.
import fs from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import YAML from "yaml";
import { App } from "./app.js";
import { printJson } from "./output.js";
import { readStdin } from "./core_cmd.js";
import { CliError, println, type CliIO } from "./runtime.js";

const SCHEMAS_ENV = "TSNATS_SCHEMAS";
const NO_SCHEMAS = `set ${SCHEMAS_ENV} to a directory of NATS JSON schemas laid out as nats-io/jsm.go's schemas/ (jetstream/api/v1/*.json, ...)`;

/** The NATS schemas found under one directory, by id. */
export class SchemaStore {
  private readonly files = new Map<string, string>();
  private ajv: Ajv | undefined;

  constructor(readonly dir: string) {
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const full = path.join(d, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.name.endsWith(".json")) this.files.set(SchemaStore.idOf(path.relative(dir, full)), full);
      }
    };
    walk(dir);
  }

  /** The store TSNATS_SCHEMAS names; a clear error when it is unset or holds no schemas. */
  static fromEnv(io: CliIO): SchemaStore {
    const dir = io.env[SCHEMAS_ENV];
    if (!dir) throw new CliError("no NATS JSON schemas available", NO_SCHEMAS);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`${SCHEMAS_ENV}=${dir} is not a directory`, NO_SCHEMAS);
    const store = new SchemaStore(dir);
    if (store.ids().length === 0) throw new CliError(`no JSON schemas under ${dir}`, NO_SCHEMAS);
    return store;
  }

  /** jetstream/api/v1/stream_configuration.json → io.nats.jetstream.api.v1.stream_configuration */
  static idOf(relative: string): string {
    return "io.nats." + relative.replace(/\.json$/, "").split(path.sep).join(".");
  }

  ids(): string[] {
    return [...this.files.keys()].sort();
  }

  /** The schema document's text; unknown ids are an error naming how to find them. */
  text(id: string): string {
    const file = this.files.get(id);
    if (!file) throw new CliError(`could not load schema "${id}": unknown schema`, "`tsnats schema search` lists the known ids");
    return fs.readFileSync(file, "utf8");
  }

  /** Validate `data` against schema `id`: the errors, empty when it is valid. */
  validate(id: string, data: unknown): string[] {
    if (!this.ajv) {
      this.ajv = new Ajv({ allErrors: true, strict: false });
      // RFC 3339 times, as the server writes them (ajv knows no formats without a plugin).
      this.ajv.addFormat("date-time", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
    }
    const schema = JSON.parse(this.text(id)) as Record<string, unknown>;
    const key = String(schema.$id ?? id);
    const check = this.ajv.getSchema(key) ?? this.ajv.compile(schema);
    if (check(data)) return [];
    return (check.errors ?? []).map(describeError);
  }
}

function describeError(e: ErrorObject): string {
  let msg = e.message ?? e.keyword;
  if (e.keyword === "additionalProperties") msg = `additionalProperties '${(e.params as { additionalProperty: string }).additionalProperty}' not allowed`;
  if (e.keyword === "enum") msg = `value must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  return e.instancePath ? `${e.instancePath}: ${msg}` : msg;
}

export function registerSchema(app: App): void {
  const io = app.io;
  const schema = app.program.command("schema").description(`Schema tools (the NATS JSON schemas, from the directory ${SCHEMAS_ENV} names)`);

  schema
    .command("search [pattern]")
    .aliases(["find", "list", "ls"])
    .description("Search schemas using a pattern (a regular expression)")
    .option("--json", "Produce JSON format output")
    .action(
      app.action<{ json?: boolean }>(async ({ opts }, pattern = ".") => {
        let re: RegExp;
        try {
          re = new RegExp(pattern);
        } catch (err) {
          throw new CliError(`search failed: invalid pattern "${pattern}": ${(err as Error).message}`);
        }
        const found = SchemaStore.fromEnv(io)
          .ids()
          .filter((id) => re.test(id));
        if (opts.json) return printJson(io, found);
        if (found.length === 0) return void println(io, `No schemas matched "${pattern}"`);
        println(io, `Matched Schemas:\n\n  ${found.join("\n  ")}`);
      }),
    );

  schema
    .command("info <schema>")
    .aliases(["show", "view"])
    .description("Display schema contents")
    .option("--yaml", "Produce YAML format output")
    .action(
      app.action<{ yaml?: boolean }>(async ({ opts }, id: string) => {
        const text = SchemaStore.fromEnv(io).text(id);
        if (opts.yaml) return void io.stdout.write(YAML.stringify(JSON.parse(text)));
        println(io, text.trimEnd());
      }),
    );

  schema
    .command("validate <schema> <file>")
    .alias("check")
    .description("Validates a JSON file against a schema (- reads stdin); exits 1 when it does not validate")
    .option("--json", "Produce JSON format output")
    .action(
      app.action<{ json?: boolean }>(async ({ opts }, id: string, file: string) => {
        const store = SchemaStore.fromEnv(io);
        const raw = file === "-" ? Buffer.from(await readStdin(io)).toString("utf8") : readFile(file);
        let data: unknown;
        try {
          data = JSON.parse(raw);
        } catch (err) {
          throw new CliError(`could not parse JSON data in "${file}": ${(err as Error).message}`);
        }
        const errs = store.validate(id, data);
        if (opts.json) printJson(io, errs);
        else if (errs.length === 0) println(io, `${file} validates against ${id}`);
        else println(io, `Validation errors in ${file}:\n\n  ${errs.join("\n  ")}`);
        return errs.length === 0 ? 0 : 1;
      }),
    );

  schema
    .command("request <subject> [body]")
    .alias("req")
    .description("Request and validate data from a NATS service (the answer's type names its schema)")
    .option("--schema <id>", "The schema identifier to validate against")
    .option("--show", "Show the received data")
    .action(
      app.action<{ schema?: string; show?: boolean }>(async ({ session, opts }, subject: string, body = "{}") => {
        const store = SchemaStore.fromEnv(io);
        const nc = await session.nc();
        const res = await nc.request(subject, body, { timeout: session.timeoutMs });
        let doc: Record<string, unknown>;
        try {
          doc = JSON.parse(new TextDecoder().decode(res.data)) as Record<string, unknown>;
        } catch {
          throw new CliError(`the answer on ${subject} is not JSON`);
        }
        if (opts.show) println(io, JSON.stringify(doc, null, 2) + "\n");
        const type = typeof doc.type === "string" ? doc.type : undefined;
        if (!type) throw new CliError("could not determine the message type", "the answer has no \"type\" field naming its schema");
        if (opts.schema && type !== opts.schema) throw new CliError(`invalid message type ${type}`);
        const errs = store.validate(type, doc);
        if (errs.length > 0) {
          println(io, `Message did not pass validation against ${type}\n`);
          for (const e of errs) println(io, `   ${e}`);
          return 1;
        }
        println(io, `Response is a valid ${type} message`);
      }),
    );
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`could not read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
