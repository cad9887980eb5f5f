// `tsnats server graph SERVER [--jetstream]`: charts of one server's VARZ, polled every
// second over $SYS.REQ (CPU, memory, connections, subscriptions, message and byte rates; or
// with --jetstream its JetStream usage and API rate), as natscli draws them.
import type { Command } from "commander";
import type { App } from "./app.js";
import type { Session } from "./connection.js";
import { graphArea, plot, Rate, Series } from "./graph.js";
import { CliError } from "./runtime.js";
import { refreshLoop } from "./screen.js";
import { sysRequest } from "./server_cmd.js";

type Varz = Record<string, any>;

/** One server's VARZ, by ID ($SYS.REQ.SERVER.<id>.VARZ) or by exact name (a filtered PING). */
export async function fetchVarz(s: Session, server: string): Promise<Varz> {
  const byId = /^N[A-Z2-7]{55}$/.test(server);
  let res: Awaited<ReturnType<typeof sysRequest<Varz>>>;
  try {
    res = byId
      ? await sysRequest<Varz>(s, `$SYS.REQ.SERVER.${server}.VARZ`, {}, 1)
      : await sysRequest<Varz>(s, "$SYS.REQ.SERVER.PING.VARZ", { server_name: server, exact: true }, 1);
  } catch (err) {
    // Silence (not a 503) means the system account answers but no server has that name.
    if (err instanceof CliError && / within /.test(err.message)) throw new CliError(`no server "${server}" answered`, "give a server name or ID from `tsnats server list`; system account users only");
    throw err;
  }
  const r = res.find((x) => x.data && (byId ? x.server.id === server : x.server.name === server));
  if (!r?.data) throw new CliError(`no VARZ from server "${server}"`, "give a server name or ID from `tsnats server list`");
  return r.data;
}

export function registerServerGraph(app: App, srv: Command): void {
  const io = app.io;
  srv
    .command("graph <server>")
    .description("Show graphs for a single server (ID or name; on a terminal, until Ctrl-C)")
    .option("-j, --jetstream", "Draw JetStream statistics")
    .action(
      app.action<{ jetstream?: boolean }>(async ({ session, opts }, server: string) => {
        const graphs = 6;
        let area = graphArea(io, graphs * 5 + 2);
        const first = await fetchVarz(session, server);
        const series = Array.from({ length: graphs }, () => new Series(area.width));
        const rates = [new Rate(), new Rate()];
        const jsOf = (v: Varz): Varz => v.jetstream ?? {};
        if (opts.jetstream) rates[0].next(jsOf(first).stats?.api?.total ?? 0);
        else {
          rates[0].next((first.in_msgs ?? 0) + (first.out_msgs ?? 0));
          rates[1].next((first.in_bytes ?? 0) + (first.out_bytes ?? 0));
        }
        await refreshLoop(io, 1000, async () => {
          area = graphArea(io, graphs * 5 + 2);
          for (const s of series) s.resize(area.width);
          const v = await fetchVarz(session, server);
          const h = Math.floor(area.height / graphs) - 2;
          const cpu = (v.cpu ?? 0) / Math.max(1, v.cores ?? 1);
          const cpuCaption = `CPU % Used (normalized for ${v.cores ?? 1} cores)`;
          let plots: string[];
          let heading: string;
          if (opts.jetstream) {
            const js = jsOf(v);
            const gb = 1024 * 1024 * 1024;
            series[0].push(cpu);
            series[1].push(js.stats?.ha_assets ?? 0);
            series[2].push(rates[0].next(js.stats?.api?.total ?? 0));
            series[3].push(js.meta?.pending ?? 0);
            series[4].push((js.stats?.storage ?? 0) / gb);
            series[5].push((js.stats?.memory ?? 0) / gb);
            heading = `JetStream Statistics for ${server}`;
            plots = [
              plot(series[0], cpuCaption, h, 1),
              plot(series[1], "HA Assets", h),
              plot(series[2], "API Requests / second", h, 1),
              plot(series[3], "Pending API Requests", h),
              plot(series[4], "File Storage in GB", h, 2),
              plot(series[5], "Memory Storage in GB", h, 2),
            ];
          } else {
            series[0].push(cpu);
            series[1].push((v.mem ?? 0) / 1024 / 1024);
            series[2].push(v.connections ?? 0);
            series[3].push(v.subscriptions ?? 0);
            series[4].push(rates[0].next((v.in_msgs ?? 0) + (v.out_msgs ?? 0)));
            series[5].push(rates[1].next((v.in_bytes ?? 0) + (v.out_bytes ?? 0)));
            heading = `Server Statistics for ${server}`;
            plots = [
              plot(series[0], cpuCaption, h, 1),
              plot(series[1], "Memory Used in MB", h),
              plot(series[2], "Connections", h),
              plot(series[3], "Subscriptions", h),
              plot(series[4], "Messages In+Out / second", h, 1),
              plot(series[5], "Bytes In+Out / second", h),
            ];
          }
          return [heading, "", ...plots.flatMap((p) => [p, ""])].join("\n");
        });
      }),
    );
}
