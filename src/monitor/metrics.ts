// /metrics: server, connection, account and JetStream figures in Prometheus text format.
// Metric names are documented in docs/metrics.md; keep the two in step.
import type { Monitor } from "./monitor.js";
import { compareStrings } from "./format.js";
import { ExpositionWriter, type Labels } from "./prometheus.js";
import type { StreamState } from "../storage/store.js";
import { jetStreamRunning, jetStreamTotals } from "./jetstream-stats.js";
import { NATS_FEATURE_VERSION, TSNATS_VERSION } from "../server/version.js";
import { clusterOf, gatewaysOf } from "../server/service_lookup.js";

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

export function buildMetrics(m: Monitor): string {
  const s = m.server;
  const w = new ExpositionWriter();
  const now = Date.now();

  // ---- server ----
  w.single("nats_server_info", "gauge", "Server identity; the value is always 1.", 1, {
    server_id: s.id,
    server_name: s.name,
    version: NATS_FEATURE_VERSION,
    tsnats_version: TSNATS_VERSION,
  });
  w.single("nats_server_start_time_seconds", "gauge", "Server start time, seconds since the Unix epoch.", s.start.getTime() / 1000);
  w.single("nats_server_uptime_seconds", "gauge", "Seconds since the server started.", (now - s.start.getTime()) / 1000);
  w.single("nats_server_config_load_time_seconds", "gauge", "When the configuration was last (re)loaded, seconds since the Unix epoch.", s.configLoadTime.getTime() / 1000);
  w.single("nats_server_connections", "gauge", "Client connections open now.", s.clients.size);
  w.single("nats_server_connections_accepted_total", "counter", "Client connections accepted since start.", s.totalConnections);
  w.single("nats_server_subscriptions", "gauge", "Subscriptions in all accounts.", m.totalSubscriptions());
  w.single("nats_server_in_msgs_total", "counter", "Messages received from clients.", s.inMsgs);
  w.single("nats_server_in_bytes_total", "counter", "Payload bytes received from clients.", s.inBytes);
  w.single("nats_server_out_msgs_total", "counter", "Messages delivered to clients.", s.outMsgs);
  w.single("nats_server_out_bytes_total", "counter", "Payload bytes delivered to clients.", s.outBytes);
  w.single("nats_server_slow_consumers_total", "counter", "Clients disconnected as slow consumers.", s.slowConsumers);
  w.single("nats_server_mem_bytes", "gauge", "Resident set size of the server process.", m.process.rss());
  w.single("nats_server_cpu_percent", "gauge", "CPU use of the server process in percent of one core.", m.process.cpuPercent());
  w.single("nats_server_cores", "gauge", "CPU cores available to the process.", m.process.cores());
  w.single("nats_server_max_connections", "gauge", "Configured connection limit.", s.options.maxConnections);
  w.single("nats_server_max_payload_bytes", "gauge", "Configured maximum message payload.", s.options.maxPayload);
  w.family(
    "nats_server_http_requests_total",
    "counter",
    "Monitoring HTTP requests served, per path.",
    [...m.httpReqStats.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([path, n]) => [{ path }, n]),
  );

  // ---- connections ----
  const conns = [...s.clients.values()].filter((c) => c.connectReceived);
  const connLabels = (c: (typeof conns)[number]): Labels => ({
    cid: c.cid,
    name: c.opts.name,
    account: c.account.name,
  });
  w.family("nats_connection_in_msgs_total", "counter", "Messages received from this connection.", conns.map((c) => [connLabels(c), c.inMsgs]));
  w.family("nats_connection_in_bytes_total", "counter", "Bytes received from this connection.", conns.map((c) => [connLabels(c), c.inBytes]));
  w.family("nats_connection_out_msgs_total", "counter", "Messages delivered to this connection.", conns.map((c) => [connLabels(c), c.outMsgs]));
  w.family("nats_connection_out_bytes_total", "counter", "Bytes delivered to this connection.", conns.map((c) => [connLabels(c), c.outBytes]));
  w.family("nats_connection_pending_bytes", "gauge", "Bytes queued for this connection and not yet written.", conns.map((c) => [connLabels(c), c.pendingBytes]));
  w.family("nats_connection_subscriptions", "gauge", "Subscriptions of this connection.", conns.map((c) => [connLabels(c), c.subs.size]));
  w.family("nats_connection_rtt_seconds", "gauge", "Last measured round trip time to the client.", conns.map((c) => [connLabels(c), c.rttMs / 1000]));
  w.family("nats_connection_uptime_seconds", "gauge", "Seconds since the connection was accepted.", conns.map((c) => [connLabels(c), (now - c.start.getTime()) / 1000]));

  // ---- routes ----
  const cluster = clusterOf(s);
  const routes = cluster === undefined ? [] : [...cluster.all];
  w.single("nats_server_routes", "gauge", "Route connections open now.", routes.length);
  w.single("nats_server_route_peers", "gauge", "Cluster peers this server has routes to.", cluster?.numPeers ?? 0);
  const routeLabels = (r: (typeof routes)[number]): Labels => ({ rid: r.cid, remote_name: r.remoteName, account: r.accName });
  w.family("nats_route_in_msgs_total", "counter", "Messages received from the peer.", routes.map((r) => [routeLabels(r), r.inMsgs]));
  w.family("nats_route_in_bytes_total", "counter", "Bytes received from the peer.", routes.map((r) => [routeLabels(r), r.inBytes]));
  w.family("nats_route_out_msgs_total", "counter", "Messages sent to the peer.", routes.map((r) => [routeLabels(r), r.outMsgs]));
  w.family("nats_route_out_bytes_total", "counter", "Bytes sent to the peer.", routes.map((r) => [routeLabels(r), r.outBytes]));
  w.family("nats_route_pending_bytes", "gauge", "Bytes queued for the peer and not yet written.", routes.map((r) => [routeLabels(r), r.pendingBytes]));
  w.family("nats_route_subscriptions", "gauge", "The peer's interest held on this route.", routes.map((r) => [routeLabels(r), r.subs.size]));
  w.family("nats_route_rtt_seconds", "gauge", "Last measured round trip time to the peer.", routes.map((r) => [routeLabels(r), r.rttMs / 1000]));

  // ---- gateways ----
  const gw = gatewaysOf(s);
  const gwConns = gw === undefined ? [] : [...gw.out.values(), ...gw.in.values()];
  w.single("nats_server_gateways_outbound", "gauge", "Outbound gateway connections (one per remote cluster).", gw?.out.size ?? 0);
  w.single("nats_server_gateways_inbound", "gauge", "Inbound gateway connections from servers of other clusters.", gw?.in.size ?? 0);
  const gwLabels = (c: (typeof gwConns)[number]): Labels => ({ gid: c.cid, gateway: c.name, remote_name: c.remoteName, direction: c.solicited ? "outbound" : "inbound" });
  w.family("nats_gateway_in_msgs_total", "counter", "Messages received from the remote cluster.", gwConns.map((c) => [gwLabels(c), c.inMsgs]));
  w.family("nats_gateway_in_bytes_total", "counter", "Bytes received from the remote cluster.", gwConns.map((c) => [gwLabels(c), c.inBytes]));
  w.family("nats_gateway_out_msgs_total", "counter", "Messages sent to the remote cluster.", gwConns.map((c) => [gwLabels(c), c.outMsgs]));
  w.family("nats_gateway_out_bytes_total", "counter", "Bytes sent to the remote cluster.", gwConns.map((c) => [gwLabels(c), c.outBytes]));
  w.family("nats_gateway_pending_bytes", "gauge", "Bytes queued for the remote and not yet written.", gwConns.map((c) => [gwLabels(c), c.pendingBytes]));
  w.family("nats_gateway_subscriptions", "gauge", "The remote cluster's interest held on this connection.", gwConns.map((c) => [gwLabels(c), c.subs.size]));
  w.family("nats_gateway_rtt_seconds", "gauge", "Last measured round trip time to the remote.", gwConns.map((c) => [gwLabels(c), c.rttMs / 1000]));

  // ---- accounts ----
  const accounts = [...s.accounts.values()].sort((a, b) => compareStrings(a.name, b.name));
  const accSamples = (f: (a: (typeof accounts)[number]) => number): Array<[Labels, number]> => accounts.map((a) => [{ account: a.name }, f(a)]);
  w.family("nats_account_connections", "gauge", "Client connections in the account.", accSamples((a) => a.clients.size));
  w.family("nats_account_subscriptions", "gauge", "Subscriptions in the account.", accSamples((a) => a.sublist.count));
  w.family("nats_account_in_msgs_total", "counter", "Messages published into the account.", accSamples((a) => a.inMsgs));
  w.family("nats_account_in_bytes_total", "counter", "Bytes published into the account.", accSamples((a) => a.inBytes));
  w.family("nats_account_out_msgs_total", "counter", "Messages delivered to clients of the account.", accSamples((a) => a.outMsgs));
  w.family("nats_account_out_bytes_total", "counter", "Bytes delivered to clients of the account.", accSamples((a) => a.outBytes));
  w.family("nats_account_slow_consumers_total", "counter", "Slow consumers disconnected in the account.", accSamples((a) => a.slowConsumers));

  // ---- JetStream ----
  w.single("nats_jetstream_enabled", "gauge", "1 when JetStream is configured and running.", jetStreamRunning(s) ? 1 : 0);
  if (s.options.jetstream.enabled) {
    const { limits, usage, accounts } = jetStreamTotals(s);
    w.single("nats_jetstream_max_memory_bytes", "gauge", "Memory JetStream may use.", limits.maxMemory);
    w.single("nats_jetstream_max_storage_bytes", "gauge", "File storage JetStream may use.", limits.maxStorage);
    w.single("nats_jetstream_memory_bytes", "gauge", "Memory used by memory-backed streams.", usage.memory);
    w.single("nats_jetstream_storage_bytes", "gauge", "Storage used by file-backed streams.", usage.storage);
    w.single("nats_jetstream_accounts", "gauge", "Accounts with JetStream enabled.", accounts.length);
    w.single("nats_jetstream_api_requests_total", "counter", "JetStream API requests served.", usage.apiTotal);
    w.single("nats_jetstream_api_errors_total", "counter", "JetStream API requests answered with an error.", usage.apiErrors);
    const streams: Array<{ labels: Labels; state: StreamState; consumers: number }> = [];
    const consumers: Array<{ labels: Labels; info: Record<string, unknown> }> = [];
    // Mirrors and sources: one sample per origin feeding a stream.
    const origins: Array<{ labels: Labels; info: Record<string, unknown> }> = [];
    for (const jsa of accounts) {
      const account = jsa.account.name;
      for (const st of jsa.streams.values()) {
        streams.push({ labels: { account, stream: st.name }, state: st.state(), consumers: st.publicConsumerCount() });
        for (const c of st.publicConsumers()) consumers.push({ labels: { account, stream: st.name, consumer: c.name }, info: c.infoJson() });
        const mirror = st.sourcing?.mirrorInfo();
        if (mirror !== undefined) origins.push({ labels: { account, stream: st.name, origin: String(mirror.name), kind: "mirror" }, info: mirror });
        for (const src of st.sourcing?.sourcesInfo() ?? []) origins.push({ labels: { account, stream: st.name, origin: String(src.name), kind: "source" }, info: src });
      }
    }
    w.single("nats_jetstream_streams", "gauge", "Streams in all accounts.", streams.length);
    w.single("nats_jetstream_consumers", "gauge", "Consumers in all accounts.", consumers.length);
    const sf = (f: (x: (typeof streams)[number]) => number): Array<[Labels, number]> => streams.map((x) => [x.labels, f(x)]);
    w.family("nats_stream_messages", "gauge", "Messages stored in the stream.", sf((x) => x.state.msgs));
    w.family("nats_stream_bytes", "gauge", "Bytes stored in the stream.", sf((x) => x.state.bytes));
    w.family("nats_stream_first_seq", "gauge", "Sequence of the stream's first message.", sf((x) => x.state.firstSeq));
    w.family("nats_stream_last_seq", "gauge", "Sequence of the stream's last message.", sf((x) => x.state.lastSeq));
    w.family("nats_stream_subjects", "gauge", "Distinct subjects in the stream.", sf((x) => x.state.numSubjects));
    w.family("nats_stream_consumers", "gauge", "Consumers of the stream.", sf((x) => x.consumers));
    const of = (f: (info: Record<string, unknown>) => number): Array<[Labels, number]> => origins.map((x) => [x.labels, f(x.info)]);
    w.family("nats_stream_source_lag", "gauge", "Messages the origin holds that the mirror or source has not copied yet.", of((i) => num(i.lag)));
    w.family(
      "nats_stream_source_active_seconds",
      "gauge",
      "Seconds since the mirror or source last heard from its origin (-1: never).",
      of((i) => (num(i.active) < 0 ? -1 : num(i.active) / 1e9)),
    );
    w.family("nats_stream_source_error", "gauge", "1 while the mirror or source reports an error.", of((i) => (i.error !== undefined ? 1 : 0)));
    const cf = (f: (info: Record<string, unknown>) => number): Array<[Labels, number]> => consumers.map((x) => [x.labels, f(x.info)]);
    const seq = (o: unknown, k: string): number => num((o as Record<string, unknown> | undefined)?.[k]);
    w.family("nats_consumer_num_pending", "gauge", "Messages the consumer has not delivered yet.", cf((i) => num(i.num_pending)));
    w.family("nats_consumer_num_ack_pending", "gauge", "Delivered messages awaiting acknowledgement.", cf((i) => num(i.num_ack_pending)));
    w.family("nats_consumer_num_redelivered", "gauge", "Messages delivered more than once.", cf((i) => num(i.num_redelivered)));
    w.family("nats_consumer_num_waiting", "gauge", "Pull requests waiting.", cf((i) => num(i.num_waiting)));
    w.family("nats_consumer_delivered_stream_seq", "gauge", "Stream sequence of the last delivered message.", cf((i) => seq(i.delivered, "stream_seq")));
    w.family("nats_consumer_ack_floor_stream_seq", "gauge", "Stream sequence below which all messages are acknowledged.", cf((i) => seq(i.ack_floor, "stream_seq")));
  }
  return w.toString();
}
