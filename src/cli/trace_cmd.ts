// `tsnats trace SUBJECT [payload]`: natscli's message tracing (ADR-41, servers 2.11+). The
// message goes out with `Nats-Trace-Dest: <inbox>` (and `Nats-Trace-Only: true` unless
// --deliver); every server it passes sends a trace event there. The events are stitched
// into one tree by their hop ids (an egress's `hop`, the next server's `Nats-Trace-Hop`
// request header) and drawn with natscli's arrows.
import { createInbox, headers, type Msg } from "@nats-io/transport-node";
import type { App } from "./app.js";
import { collect } from "./app.js";
import { Columns } from "./output.js";
import { CliError, println, type CliIO } from "./runtime.js";
import { parseHeaders } from "./template.js";

type Json = Record<string, any>;

const CLIENT = 0;
const ROUTER = 1;
const GATEWAY = 2;
const LEAF = 4;
const JETSTREAM = 5;

const KIND_NAMES: Record<number, string> = { 0: "Client", 1: "Router", 2: "Gateway", 3: "System", 4: "Leafnode", 5: "JetStream", 6: "Account" };
const ARROWS: Record<number, string> = { [CLIENT]: "--C", [JETSTREAM]: "--J", [ROUTER]: "-->", [GATEWAY]: "==>", [LEAF]: "~~>" };
const ID_PREFIX: Record<number, string> = { [CLIENT]: "cid", [ROUTER]: "rid", [GATEWAY]: "gid", [LEAF]: "lid" };

const kindName = (k: number): string => KIND_NAMES[k] ?? `Unknown(${k})`;
const cidString = (k: number, cid: number | undefined): string => `${ID_PREFIX[k] ?? "id"}:${cid ?? 0}`;
const pairs = (...kv: string[]): string[] => {
  const out: string[] = [];
  for (let i = 0; i + 1 < kv.length; i += 2) out.push(`${kv[i]}:${JSON.stringify(kv[i + 1])}`);
  return out;
};

/** An RFC 3339 time with up to nanoseconds, in microseconds since the epoch (NaN if none). */
function micros(at: string | undefined): number {
  if (!at) return NaN;
  const frac = /\.(\d+)/.exec(at)?.[1] ?? "";
  const whole = Date.parse(at.replace(/\.\d+/, ""));
  return whole * 1000 + Number((frac + "000000").slice(0, 6));
}

interface TraceEvent extends Json {
  server: Json;
  request?: { header?: Record<string, string[]> };
  hops?: number;
  events: Json[];
}

const ingressOf = (e: TraceEvent): Json | undefined => e.events.find((x) => x.type === "in");
const egressesOf = (e: TraceEvent): Json[] => e.events.filter((x) => x.type === "eg");
const hopOf = (e: TraceEvent): string => {
  const h = e.request?.header ?? {};
  const key = Object.keys(h).find((k) => k.toLowerCase() === "nats-trace-hop");
  return key ? (h[key]?.[0] ?? "") : "";
};

/** Have the events of every hop below `e` arrived? */
function complete(e: TraceEvent, byHop: Map<string, TraceEvent>): boolean {
  if (!e.hops) return true;
  for (const eg of egressesOf(e)) {
    if (!eg.hop) continue;
    const next = byHop.get(eg.hop);
    if (!next || !complete(next, byHop)) return false;
  }
  return true;
}

class TraceRenderer {
  readonly egressCount = new Map<string, number>();

  constructor(
    private readonly io: CliIO,
    private readonly timestamps: boolean,
    private readonly byHop: Map<string, TraceEvent>,
  ) {}

  private ts(line: string, origin: number, at: string | undefined): string {
    if (!this.timestamps) return line;
    const t = micros(at);
    const d = Number.isFinite(t) && Number.isFinite(origin) ? t - origin : 0;
    return `[${d < 0 ? "Skew" : d < 1000 ? `${d}µs` : d < 1_000_000 ? `${(d / 1000).toFixed(3)}ms` : `${(d / 1e6).toFixed(3)}s`}] ${line}`;
  }

  render(e: TraceEvent, origin: number, indent: number): void {
    const out = (line: string): void => println(this.io, " ".repeat(indent * 4) + line);
    const ingress = ingressOf(e);
    if (ingress) {
      if (ingress.error && !e.server?.id) out(`  !!! Ingress Error: ${ingress.error}`);
      else {
        const parts = [ingress.name ? `${kindName(ingress.kind)} ${JSON.stringify(ingress.name)} ${cidString(ingress.kind, ingress.cid)}` : `${kindName(ingress.kind)} ${cidString(ingress.kind, ingress.cid)}`];
        if (e.server.cluster && (ingress.kind === GATEWAY || ingress.kind === CLIENT)) parts.push(...pairs("cluster", e.server.cluster));
        parts.push(...pairs("server", e.server.name ?? "", "version", e.server.ver ?? ""));
        out(this.ts(parts.join(" "), origin, ingress.ts));
        if (ingress.error) out(this.ts(`--X Error: ${ingress.error}`, origin, ingress.ts));
      }
    }
    for (const ev of e.events) {
      if (ev.type === "sm") out(this.ts(`    Mapping subject:${JSON.stringify(ev.to)}`, origin, ev.ts));
      else if (ev.type === "si") out(this.ts(`    Service Import from:${JSON.stringify(ev.from)} to:${JSON.stringify(ev.to)} account:${JSON.stringify(ev.acc)}`, origin, ev.ts));
      else if (ev.type === "se") out(this.ts(`    Stream Export subject:${JSON.stringify(ev.to)} account:${JSON.stringify(ev.acc)}`, origin, ev.ts));
    }
    const js = e.events.find((x) => x.type === "js");
    if (js) {
      if (js.error && !js.stream) out(`!!! Expected JetStream event: ${js.error}`);
      else {
        out(this.ts(`${ARROWS[JETSTREAM]} JetStream action:${JSON.stringify(js.nointerest ? "no interest" : "stored")} stream:${JSON.stringify(js.stream)} subject:${JSON.stringify(js.subject ?? "")}`, origin, js.ts));
        if (js.error) out(this.ts(`--X Error: ${js.error}`, origin, js.ts));
        this.count(JETSTREAM);
      }
    }
    const egresses = egressesOf(e);
    if (egresses.length === 0 && ingress?.kind === CLIENT && !ingress.error) out("--X No active interest");
    for (const eg of egresses) {
      const parts = [ARROWS[eg.kind] ?? "", eg.name ? `${kindName(eg.kind)} ${JSON.stringify(eg.name)} ${cidString(eg.kind, eg.cid)}` : `${kindName(eg.kind)} ${cidString(eg.kind, eg.cid)}`];
      if (eg.acc) parts.push(...pairs("account", eg.acc));
      if (eg.sub) parts.push(...pairs("subject", eg.sub));
      if (eg.queue) parts.push(...pairs("queue", eg.queue));
      out(this.ts(parts.join(" "), origin, eg.ts));
      if (eg.error) out(this.ts(`  --X Error: ${eg.error}`, origin, eg.ts));
      this.count(eg.kind);
      if (eg.kind !== CLIENT && eg.hop) {
        const next = this.byHop.get(eg.hop);
        if (next) this.render(next, eg.ts ? micros(eg.ts) : origin, indent + 1);
        else println(this.io, `${" ".repeat((indent + 1) * 4)}!!! No trace received from ${eg.name || "the next server"} (hop ${eg.hop})`);
      }
    }
  }

  private count(kind: number): void {
    const k = kindName(kind);
    this.egressCount.set(k, (this.egressCount.get(k) ?? 0) + 1);
  }
}

export function registerTrace(app: App): void {
  const io = app.io;
  app.program
    .command("trace <subject> [payload]")
    .description("Trace message delivery within an NATS network (servers 2.11+)")
    .option("--deliver", "Deliver the message to the final destination")
    .option("-T, --timestamp", "Show event timestamps")
    .option("-H, --header <K:V>", "Adds headers to the trace message using K:V format (repeatable)", collect)
    .action(
      app.action<{ deliver?: boolean; timestamp?: boolean; header?: string[] }>(async ({ session, opts }, subject: string, payload?: string) => {
        const nc = await session.nc();
        const version = nc.info?.version ?? "0.0.0";
        const [maj, min] = version.split(".").map((x) => parseInt(x, 10));
        if (maj < 2 || (maj === 2 && min < 11)) throw new CliError("tracing messages require NATS Server 2.11");
        const hdrs = parseHeaders(opts.header, { count: 1 });
        const h = hdrs ?? headers();
        const inbox = createInbox(session.effective.ctx.inbox_prefix || undefined);
        h.set("Nats-Trace-Dest", inbox);
        if (!opts.deliver) h.set("Nats-Trace-Only", "true");

        let origin: TraceEvent | undefined;
        const byHop = new Map<string, TraceEvent>();
        const problems: string[] = [];
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        let idle: NodeJS.Timeout | undefined;
        const sub = nc.subscribe(inbox, {
          callback: (_err, m: Msg) => {
            if (session.flags.trace) io.stderr.write(`>>> ${m.string()}\n`);
            let e: TraceEvent;
            try {
              e = m.json<TraceEvent>();
            } catch {
              problems.push("an undecodable trace event");
              return;
            }
            const ingress = ingressOf(e);
            if (!ingress) problems.push(`missing ingress in trace event from ${e.server?.name}`);
            else if (ingress.kind === CLIENT && !origin) origin = e;
            else if (ingress.kind === CLIENT) problems.push(`duplicate ingress from client on ${e.server?.name}`);
            else {
              const hop = hopOf(e);
              if (!hop) problems.push(`event from ${e.server?.name} has no hop header`);
              else byHop.set(hop, e);
            }
            clearTimeout(idle);
            if (origin && complete(origin, byHop)) done();
            else idle = setTimeout(done, session.timeoutMs);
          },
        });
        await nc.flush();
        const deliver = opts.deliver ? "with delivery to the final destination" : "";
        println(io, `Tracing message route to subject ${subject} ${deliver}`.trimEnd() + "\n");
        nc.publish(subject, payload ?? "", { headers: h });
        idle = setTimeout(done, session.timeoutMs);
        await finished;
        clearTimeout(idle);
        sub.unsubscribe();
        if (!origin) throw new CliError("no trace received", `is ${subject} valid and the server 2.11 or newer? (${problems.join("; ") || "timeout"})`);
        const renderer = new TraceRenderer(io, opts.timestamp === true, byHop);
        const start = ingressOf(origin)?.ts ?? origin.server.time;
        renderer.render(origin, micros(start), 0);
        println(io, "");
        println(io, `Legend: Client: ${ARROWS[CLIENT]} Router: ${ARROWS[ROUTER]} Gateway: ${ARROWS[GATEWAY]} Leafnode: ${ARROWS[LEAF]} JetStream: ${ARROWS[JETSTREAM]} Error: --X`);
        println(io, "");
        if (renderer.egressCount.size > 0) {
          const cols = new Columns("Egress Count:");
          for (const [k, v] of [...renderer.egressCount].sort(([a], [b]) => a.localeCompare(b))) cols.field(k, v);
          cols.print(io);
        }
        const streams = renderer.egressCount.get("JetStream") ?? 0;
        if (streams > 1) println(io, `WARNING: The message was received by ${streams} streams`);
        for (const p of problems) io.stderr.write(`warning: ${p}\n`);
      }),
    );
}
