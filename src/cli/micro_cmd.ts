// `tsnats service` (alias `micro`): discover and query NATS micro services ($SRV.PING/INFO/
// STATS), send requests to their endpoints, and run a demo echo service; natscli's
// `nats service` commands on @nats-io/services.
import { Svcm, type ServiceInfo, type ServiceStats } from "@nats-io/services";
import { headers as newHeaders } from "@nats-io/transport-node";
import { App, collect, collectPairs } from "./app.js";
import type { Session } from "./connection.js";
import { readStdin, translate } from "./core_cmd.js";
import { Columns, printJson, printMessage, printPayload, printTable } from "./output.js";
import { aborted, CliError, logf, println, type CliIO } from "./runtime.js";
import { expandTemplate, parseHeaders } from "./template.js";
import { fmtDuration, fmtNanos, fmtNum, parseInteger } from "./units.js";

async function collectAll<T>(p: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const x of await p) out.push(x);
  } catch (err) {
    if (!/no responders|503/i.test((err as Error).message)) throw err;
  }
  return out;
}

function client(s: Session): Promise<ReturnType<Svcm["client"]>> {
  return s.nc().then((nc) => new Svcm(nc as never).client({ maxWait: Math.min(s.timeoutMs, 2000), strategy: "stall" as never, stall: 300 } as never));
}

function notFound(name?: string): CliError {
  return new CliError(name ? `no service "${name}" answered` : "no services answered", "services announce themselves on $SRV.PING; is one running? (tsnats service serve NAME)");
}

export function registerMicro(app: App): void {
  const io: CliIO = app.io;
  const svc = app.program.command("service").alias("micro").description("Services discovery and management");

  svc.command("ls [service]")
    .aliases(["list", "l"])
    .description("List known Services")
    .option("-j, --json", "Show JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, name?: string) => {
        const infos = (await collectAll((await client(session)).info(name))) as ServiceInfo[];
        if (opts.json) return printJson(io, infos);
        if (infos.length === 0) throw notFound(name);
        infos.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
        printTable(
          io,
          ["Name", "Version", "ID", "Description"],
          infos.map((i) => [i.name, i.version, i.id, i.description ?? ""]),
          `${infos.length} Service${infos.length === 1 ? "" : "s"}`,
        );
      }),
    );

  svc.command("info <service> [id]")
    .alias("i")
    .description("Show Service information")
    .option("-e, --endpoint <regex>", "Filter shown endpoints using a regular expression")
    .option("-j, --json", "Show JSON output")
    .action(
      app.action<{ endpoint?: string; json?: boolean }>(async ({ session, opts }, name: string, id?: string) => {
        const infos = (await collectAll((await client(session)).info(name, id))) as ServiceInfo[];
        if (infos.length === 0) throw notFound(name);
        if (opts.json) return printJson(io, id ? infos[0] : infos);
        const re = opts.endpoint ? new RegExp(opts.endpoint) : undefined;
        for (const i of infos) {
          const cols = new Columns(`Service Information for ${i.name} ${i.version} (${i.id})`);
          cols.fieldIf(i.description, "Description", i.description);
          for (const [k, v] of Object.entries(i.metadata ?? {})) cols.field(k, v);
          cols.title("Endpoints");
          for (const e of i.endpoints.filter((e) => !re || re.test(e.name))) cols.field(e.name, `${e.subject}${e.queue_group ? ` (queue group ${e.queue_group})` : ""}`);
          cols.print(io);
          println(io);
        }
      }),
    );

  svc.command("stats <service> [id]")
    .description("Report Service statistics")
    .option("-j, --json", "Show JSON output")
    .action(
      app.action<{ json?: boolean }>(async ({ session, opts }, name: string, id?: string) => {
        const stats = (await collectAll((await client(session)).stats(name, id))) as ServiceStats[];
        if (stats.length === 0) throw notFound(name);
        if (opts.json) return printJson(io, stats);
        const rows: (string | number)[][] = [];
        let req = 0;
        let errs = 0;
        for (const s of stats)
          for (const e of s.endpoints ?? []) {
            req += e.num_requests;
            errs += e.num_errors;
            rows.push([s.id, e.name, fmtNum(e.num_requests), fmtNum(e.num_errors), fmtNanos(e.processing_time), fmtNanos(e.average_processing_time)]);
          }
        printTable(io, ["ID", "Endpoint", "Requests", "Errors", "Processing Time", "Average Time"], rows, `${name} Service Statistics`, ["", "", fmtNum(req), fmtNum(errs), "", ""]);
      }),
    );

  svc.command("ping [service]")
    .description("Sends a ping to all Services")
    .action(
      app.action(async ({ session }, name?: string) => {
        const start = performance.now();
        const pongs = await collectAll((await client(session)).ping(name));
        if (pongs.length === 0) throw notFound(name);
        for (const p of pongs) println(io, `${p.name} ${p.version} ${p.id} ${fmtDuration(performance.now() - start)}`);
      }),
    );

  svc.command("request <service> <endpoint> [payload]")
    .alias("req")
    .description("Send a request to a service endpoint (found through the service's info)")
    .option("-H, --header <K:V>", "Headers in K:V form (repeatable)", collect)
    .option("-r, --raw", "Show only the reply body")
    .option("--count <n>", "Send the request N times", "1")
    .option("--translate <command>", "Pipe each reply body through CMD before output")
    .option("--no-templates", "Disables template functions in the body")
    .option("--force-stdin", "Force reading payload from stdin")
    .action(
      app.action<{ header?: string[]; raw?: boolean; count: string; translate?: string; templates: boolean; forceStdin?: boolean }>(async ({ session, opts }, name: string, endpoint: string, payload?: string) => {
        const infos = (await collectAll((await client(session)).info(name))) as ServiceInfo[];
        const ep = infos.flatMap((i) => i.endpoints).find((e) => e.name === endpoint);
        if (!ep) throw new CliError(`service "${name}" has no endpoint "${endpoint}"`, `see its endpoints with \`tsnats service info ${name}\``);
        let body: string | Uint8Array = payload ?? "";
        if (payload === undefined && (opts.forceStdin || !io.stdin.isTTY)) body = await readStdin(io);
        const nc = await session.nc();
        const n = parseInteger(opts.count, "--count", 1);
        for (let i = 1; i <= n; i++) {
          const data = typeof body === "string" && opts.templates ? expandTemplate(body, { count: i }) : body;
          const m = await nc.request(ep.subject, data, { timeout: session.timeoutMs, headers: parseHeaders(opts.header, { count: i }) }).catch((err: Error) => {
            throw new CliError(`request to ${ep.subject} failed: ${err.message}`);
          });
          const out = opts.translate ? translate(m.data, opts.translate, m.subject) : m.data;
          if (m.headers?.get("Nats-Service-Error-Code")) io.stderr.write(`service error ${m.headers.get("Nats-Service-Error-Code")}: ${m.headers.get("Nats-Service-Error")}\n`);
          if (opts.raw) printPayload(io, out);
          else printMessage(io, m.headers, out);
        }
      }),
    );

  svc.command("serve <name>")
    .description("Runs a demo Service with an echo endpoint (and a --count limit for scripts)")
    .option("-H, --header <K:V>", "Headers to add to responses using K:V format (repeatable)", collectPairs)
    .option("--count <n>", "Stop after answering this many requests")
    .action(
      app.action<{ header?: Record<string, string>; count?: string }>(async ({ session, opts }, name: string) => {
        const nc = await session.nc();
        const limit = opts.count ? parseInteger(opts.count, "--count", 1) : 0;
        let n = 0;
        let finish!: () => void;
        const finished = new Promise<void>((r) => (finish = r));
        const service = await new Svcm(nc as never).add({ name, version: "1.0.0", description: "tsnats demo service" });
        service.addEndpoint("echo", {
          subject: `${name}.echo`,
          handler: (err, m) => {
            if (err) return;
            const h = newHeaders();
            for (const [k, v] of Object.entries(opts.header ?? {})) h.set(k, v);
            m.respond(m.data, { headers: h as never });
            if (limit > 0 && ++n >= limit) finish();
          },
        });
        await nc.flush();
        logf(io, `Service ${name} ${service.info().id} running with endpoint echo on ${name}.echo`);
        await Promise.race([finished, aborted(io)]);
        await service.stop();
      }),
    );
}
