// /varz: the server's configuration and running totals, with nats-server 2.9's field set.
import { featureFlagsReported, mergedFeatureFlags } from "../server/feature_flags.js";
import type { Monitor } from "./monitor.js";
import { compareStrings, goTime, uptime } from "./format.js";
import { msToNs } from "../server/time.js";
import { jetStreamSummary } from "./jetstream-stats.js";
import { clusterOf, gatewaysOf, leafNodesOf } from "../server/service_lookup.js";

export function buildVarz(m: Monitor): Record<string, unknown> {
  const s = m.server;
  const o = s.options;
  const info = s.info();
  const now = new Date();
  const clients = s.clientTraffic();
  const v: Record<string, unknown> = {
    server_id: s.id,
    server_name: s.name,
    version: info.version,
    proto: info.proto,
    go: info.go,
    host: o.host,
    port: s.port,
  };
  if (s.auth.required) v.auth_required = true;
  if (o.tls !== undefined) {
    if (!o.allowNonTls) v.tls_required = true;
    if (o.tls.verify || o.tls.verifyAndMap) v.tls_verify = true;
  }
  const cluster = clusterOf(s);
  if (s.connectUrls !== undefined && s.connectUrls.length > 0) v.connect_urls = s.connectUrls;
  else if (o.clientAdvertise) v.connect_urls = [o.clientAdvertise];
  if (s.wsConnectUrls !== undefined && s.wsConnectUrls.length > 0) v.ws_connect_urls = s.wsConnectUrls;
  v.max_connections = o.maxConnections;
  if (o.maxSubscriptions > 0) v.max_subscriptions = o.maxSubscriptions;
  Object.assign(v, {
    ping_interval: msToNs(o.pingIntervalMs),
    ping_max: o.maxPingsOut,
    http_host: o.httpHost,
    http_port: m.httpPort || Math.max(0, o.httpPort),
    http_base_path: o.httpBasePath,
    https_port: m.httpsPort || Math.max(0, o.httpsPort),
    auth_timeout: o.authTimeoutMs / 1000,
    max_control_line: o.maxControlLine,
    max_payload: o.maxPayload,
    max_pending: o.maxPending,
    cluster: cluster === undefined ? {} : clusterVarz(cluster),
    gateway: gatewayVarz(s),
    leaf: leafVarz(s),
    mqtt: {},
    websocket: websocketVarz(m),
    jetstream: o.jetstream.enabled ? jetStreamSummary(s, true) : {},
    tls_timeout: o.tls?.timeout ?? 2,
    write_deadline: msToNs(o.writeDeadlineMs),
    start: goTime(s.start),
    now: goTime(now),
    uptime: uptime(now.getTime() - s.start.getTime()),
    mem: m.process.rss(),
    cores: m.process.cores(),
    gomaxprocs: m.process.cores(),
    cpu: m.process.cpuPercent(),
    connections: s.clients.size,
    total_connections: s.totalConnections,
    routes: cluster?.all.size ?? 0,
    remotes: cluster?.numPeers ?? 0,
    leafnodes: leafNodesOf(s)?.all.size ?? 0,
    in_msgs: s.inMsgs,
    out_msgs: s.outMsgs,
    in_bytes: s.inBytes,
    out_bytes: s.outBytes,
    in_client_msgs: clients.inMsgs,
    in_client_bytes: clients.inBytes,
    out_client_msgs: clients.outMsgs,
    out_client_bytes: clients.outBytes,
    slow_consumers: s.slowConsumers + s.remoteSlowConsumers.routes + s.remoteSlowConsumers.gateways + s.remoteSlowConsumers.leafs,
    stale_connections: s.staleConnectionsTotal,
    stalled_clients: s.stalledClients,
    subscriptions: m.totalSubscriptions(),
    http_req_stats: Object.fromEntries([...m.httpReqStats.entries()].sort(([a], [b]) => compareStrings(a, b))),
    config_load_time: goTime(s.configLoadTime),
    config_digest: s.options.configDigest ?? "",
  });
  if (o.serverTags.length > 0) v.tags = o.serverTags;
  if (featureFlagsReported()) v.feature_flags = mergedFeatureFlags(s.options.featureFlags);
  if (s.systemAccount !== undefined) v.system_account = s.systemAccount.name;
  v.slow_consumer_stats = { clients: s.slowConsumers, ...s.remoteSlowConsumers };
  v.stale_connection_stats = { ...s.staleConnections };
  // nats-server limits concurrent disk I/O and counts the waits for a slot; tsnats hands every
  // file operation to libuv's pool with no such limit, so nothing ever waits here.
  v.disk_io_wait_stats = { waiters: 0, waits: 0, wait_time: 0, max_wait_time: 0 };
  return v;
}

/** The `cluster` block of /varz (nats-server's ClusterOptsVarz, empty fields left out). */
function clusterVarz(c: NonNullable<ReturnType<typeof clusterOf>>): Record<string, unknown> {
  const o = c.options;
  const out: Record<string, unknown> = { name: c.clusterName, addr: o.host, cluster_port: c.port };
  out.auth_timeout = (o.authTimeoutMs ?? 2000) / 1000;
  if (o.routes.length > 0) out.urls = o.routes.map((r) => (URL.canParse(r) ? new URL(r).host : r));
  out.tls_timeout = o.tls?.timeout ?? 2;
  if (o.tls !== undefined) {
    out.tls_required = true;
    out.tls_verify = true;
  }
  if (o.poolSize > 0) out.pool_size = o.poolSize;
  if (o.writeDeadlineMs !== undefined) out.write_deadline = msToNs(o.writeDeadlineMs);
  if (o.writeTimeout !== undefined && o.writeTimeout !== "default") out.write_timeout = o.writeTimeout;
  return out;
}

/** The `gateway` block of /varz (nats-server's GatewayOptsVarz, empty fields left out). */
function gatewayVarz(s: Parameters<typeof gatewaysOf>[0]): Record<string, unknown> {
  const gw = gatewaysOf(s);
  if (gw === undefined) return {};
  const o = gw.options;
  const out: Record<string, unknown> = { name: gw.gatewayName, host: o.host, port: gw.port };
  out.auth_timeout = (o.authTimeoutMs ?? 2000) / 1000;
  out.tls_timeout = o.tls?.timeout ?? 2;
  if (o.tls !== undefined) {
    out.tls_required = true;
    out.tls_verify = true;
  }
  if (o.advertise) out.advertise = o.advertise;
  if (o.connectRetries > 0) out.connect_retries = o.connectRetries;
  // The configured remotes, with the URLs known for them now (gossip adds some).
  out.gateways = o.gateways.map((rg) => {
    const e: Record<string, unknown> = { name: rg.name };
    if (rg.tls?.timeout !== undefined) e.tls_timeout = rg.tls.timeout;
    const urls = rg.name === gw.gatewayName ? gw.ownConfiguredUrls : (gw.remotes.get(rg.name)?.hosts() ?? []);
    if (urls.length > 0) e.urls = urls;
    return e;
  });
  if (o.rejectUnknown) out.reject_unknown = true;
  if (o.writeDeadlineMs !== undefined) out.write_deadline = msToNs(o.writeDeadlineMs);
  if (o.writeTimeout !== "default") out.write_timeout = o.writeTimeout;
  return out;
}

/** The `websocket` block: the listener's settings, with nats-server's omitempty fields. */
function websocketVarz(m: Monitor): Record<string, unknown> {
  const o = m.server.options.websocket;
  const ws = m.server.websocket;
  if (o === undefined || ws === undefined) return {};
  const v: Record<string, unknown> = { host: ws.host, port: ws.port };
  if (o.advertise) v.advertise = o.advertise;
  if (o.noAuthUser) v.no_auth_user = o.noAuthUser;
  if (o.jwtCookie) v.jwt_cookie = o.jwtCookie;
  if (o.handshakeTimeoutMs > 0) v.handshake_timeout = msToNs(o.handshakeTimeoutMs);
  if (o.authTimeoutMs) v.auth_timeout = o.authTimeoutMs / 1000;
  if (o.noTls) v.no_tls = true;
  if (o.tls?.verifyAndMap) v.tls_map = true;
  if (o.tls?.pinnedCerts !== undefined) v.tls_pinned_certs = [...o.tls.pinnedCerts].sort();
  if (o.sameOrigin) v.same_origin = true;
  if (o.allowedOrigins.length > 0) v.allowed_origins = o.allowedOrigins;
  if (o.compression) v.compression = true;
  const notAfter = ws.certificateNotAfter;
  if (notAfter !== undefined) v.tls_cert_not_after = goTime(notAfter);
  return v;
}

/** The `leaf` block of /varz (nats-server's LeafNodeOptsVarz; empty without a leafnode listener). */
function leafVarz(s: Parameters<typeof leafNodesOf>[0]): Record<string, unknown> {
  const l = leafNodesOf(s);
  if (l === undefined || l.port === 0) return {};
  const t = l.options.tls;
  const out: Record<string, unknown> = { host: l.options.host, port: l.port, auth_timeout: (l.options.authTimeoutMs ?? 2000) / 1000, tls_timeout: t?.timeout ?? 2 };
  if (t !== undefined) {
    out.tls_required = true;
    if (t.verify === true) out.tls_verify = true;
  }
  if (l.options.writeDeadlineMs !== undefined) out.write_deadline = msToNs(l.options.writeDeadlineMs);
  if (l.options.writeTimeout !== undefined && l.options.writeTimeout !== "default") out.write_timeout = l.options.writeTimeout;
  return out;
}
