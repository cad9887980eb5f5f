// `tsnats traffic`: what crosses a subscription (all subjects by default) each second,
// sorted into natscli's kinds — RAFT ($NRG.*), JetStream cluster ($JSC.*), and general
// traffic (requests, JetStream API and acks, system messages, the rest) — as tables of the
// last 11 seconds, redrawn until Ctrl-C.
import type { Msg } from "@nats-io/transport-node";
import { App } from "./app.js";
import { renderTable } from "./output.js";
import { refreshLoop } from "./screen.js";
import { sleep } from "./runtime.js";
import { fmtBytes, fmtNum } from "./units.js";

type Kind = "raftVote" | "raftAppend" | "raftProp" | "raftRemovePeer" | "raftReply" | "jsaUpdate" | "streamInfo" | "consumerInfo" | "streamSync" | "clusterReply" | "jsAck" | "jsApi" | "requests" | "system" | "msgs";

/** Subject prefixes and the kind they count as, first match wins (natscli's order). */
const PREFIXES: [string, Kind][] = [
  ["$SYS.", "system"],
  ["$JSC.ARU.", "jsaUpdate"],
  ["$JSC.CI.", "consumerInfo"],
  ["$JSC.SI.", "streamInfo"],
  ["$JSC.ACK.", "clusterReply"],
  ["$JSC.R.", "clusterReply"],
  ["$JSC.SYNC", "streamSync"],
  ["$NRG.V.", "raftVote"],
  ["$NRG.AE.", "raftAppend"],
  ["$NRG.P.", "raftProp"],
  ["$NRG.RP.", "raftRemovePeer"],
  ["$NRG.R.", "raftReply"],
  ["$JS.ACK.", "jsAck"],
  ["$JS.API.", "jsApi"],
];

const RAFT: Kind[] = ["raftVote", "raftAppend", "raftReply", "raftRemovePeer", "raftProp"];
const CLUSTER: Kind[] = ["jsaUpdate", "streamInfo", "consumerInfo", "streamSync", "clusterReply"];
const GENERAL: Kind[] = ["requests", "jsApi", "jsAck", "system", "msgs"];

/** Counts by kind since the start, and the counts at the last frame (rates are the difference). */
export class TrafficCounter {
  private readonly total = new Map<Kind, number>();
  private readonly seen = new Map<Kind, number>();
  bytes = 0;
  private bytesSeen = 0;

  static kindOf(subject: string, reply: string | undefined): Kind {
    for (const [prefix, kind] of PREFIXES) if (subject.startsWith(prefix)) return kind;
    return reply ? "requests" : "msgs";
  }

  add(m: Msg): void {
    const k = TrafficCounter.kindOf(m.subject, m.reply);
    this.total.set(k, (this.total.get(k) ?? 0) + 1);
    this.bytes += m.data.length;
  }

  any(kinds: Kind[]): boolean {
    return kinds.some((k) => (this.total.get(k) ?? 0) > 0);
  }

  /** Per-kind counts since the last call, and their sum. */
  rates(kinds: Kind[]): number[] {
    const out = kinds.map((k) => {
      const now = this.total.get(k) ?? 0;
      const r = now - (this.seen.get(k) ?? 0);
      this.seen.set(k, now);
      return r;
    });
    return [...out, out.reduce((a, b) => a + b, 0)];
  }

  byteRate(): number {
    const r = this.bytes - this.bytesSeen;
    this.bytesSeen = this.bytes;
    return r;
  }
}

export function registerTraffic(app: App): void {
  const io = app.io;
  app.program
    .command("traffic [subjects]")
    .description("Monitor NATS network traffic (message rates by kind each second, until Ctrl-C)")
    .option("--frames <n>", "Stop after this many tables (default: until interrupted)")
    .action(
      app.action<{ frames?: string }>(async ({ session, opts }, subjects = ">") => {
        const nc = await session.nc();
        const counter = new TrafficCounter();
        const sub = nc.subscribe(subjects, { callback: (_e, m) => counter.add(m) });
        await nc.flush();
        const raftRows: string[][] = [];
        const clusterRows: string[][] = [];
        const genRows: string[][] = [];
        const keep = (rows: string[][], row: string[]): void => {
          rows.push(row);
          if (rows.length > 11) rows.shift();
        };
        try {
          // The first frame comes after a second of counting.
          await sleep(io, 1000);
          await refreshLoop(
            io,
            1000,
            () => {
              const out: string[] = [];
              if (counter.any(RAFT)) {
                keep(raftRows, counter.rates(RAFT).map(fmtNum));
                out.push(renderTable(["Vote", "Append", "Reply", "Remove Peer", "Proposal", "Total Messages"], raftRows, "Raft Traffic"));
              }
              if (counter.any(CLUSTER)) {
                keep(clusterRows, counter.rates(CLUSTER).map(fmtNum));
                out.push(renderTable(["JSA Update", "Stream Info", "Consumer Info", "Stream Sync", "Reply", "Total Messages"], clusterRows, "Cluster Traffic"));
              }
              const g = counter.rates(GENERAL);
              const bytes = counter.byteRate();
              keep(genRows, [...g.slice(0, 5).map(fmtNum), fmtBytes(bytes), fmtNum(g[5])]);
              out.push(renderTable(["Requests", "JS API", "JS ACK", "System", "Rest", "Total Bytes", "Total Messages"], genRows, "General Traffic"));
              return out.join("\n");
            },
            { maxFrames: opts.frames ? Number(opts.frames) : undefined },
          );
        } finally {
          sub.unsubscribe();
        }
      }),
    );
}
