// Server options: the one typed shape that the config file, the command line and the
// embedding API all produce. Field names follow nats-server's config keys where one exists.

export interface UserConfig {
  user?: string;
  password?: string;
  nkey?: string;
  account?: string;
  permissions?: unknown;
  /** allowed_connection_types (e.g. STANDARD, WEBSOCKET). */
  allowedConnectionTypes?: string[];
}

/** How a service export answers: one message, a stream of messages, or chunks ended by an empty message. */
export type ResponseType = "Singleton" | "Streamed" | "Chunked";

/**
 * `exports: [...]` entry of an account: a stream (its messages may flow to importers) or a
 * service (importers may send it requests). `where` locates the entry's accounts block for
 * errors found once every account is known ("file:line:col").
 */
export interface ExportConfig {
  stream?: string;
  service?: string;
  /** Accounts allowed to import; absent = public; empty = an activation token is required (JWT). */
  accounts?: string[];
  responseType?: ResponseType;
  /** How long a requester's reply stays mapped (default 2 minutes). */
  responseThresholdMs?: number;
  /** Service latency tracking; sampling 1..100 percent, or 0 = when the request carries trace headers. */
  latency?: { sampling: number; subject: string };
  /** The subject token (1-based) that must name the importing account. */
  accountTokenPosition?: number;
  allowTrace?: boolean;
  where?: string;
}

/** `imports: [...]` entry: a stream or a service of another account, optionally renamed locally. */
export interface ImportConfig {
  stream?: { account: string; subject: string };
  service?: { account: string; subject: string };
  /** Local subject (services) or subject mapping (streams). */
  to?: string;
  /** Streams only: a literal prefix put before the exported subject. */
  prefix?: string;
  /** Services: share the requester's details with the exporter (latency tracking, request info). */
  share?: boolean;
  allowTrace?: boolean;
  where?: string;
}

/** One weighted destination of a subject mapping (weights are percent). */
export interface MappingDestination {
  subject: string;
  weight: number;
  /** Applies only in this cluster (kept for when clustering exists). */
  cluster?: string;
}

/** `mappings { src: dest }` or `src: [{destination, weight}]`: published subjects rewritten before routing. */
export interface MappingConfig {
  subject: string;
  destinations: MappingDestination[];
  where?: string;
}

/** `limits {}` of a config account (0 or absent = server default / unlimited). */
export interface AccountLimitsConfig {
  maxConnections?: number;
  maxSubscriptions?: number;
  maxPayload?: number;
  maxLeafNodes?: number;
}

/**
 * An account's JetStream limits (nats-server's JetStreamAccountLimits, its JSON names);
 * -1 = unlimited. `max_consumers` applies per stream, as in nats-server.
 */
export interface AccountJetStreamLimits {
  max_memory: number;
  max_storage: number;
  max_streams: number;
  max_consumers: number;
  max_ack_pending: number;
  memory_max_stream_bytes: number;
  storage_max_stream_bytes: number;
  max_bytes_required: boolean;
}

/** nats-server's "no limit" set for an account that enables JetStream without limits. */
export function unlimitedJetStream(): AccountJetStreamLimits {
  return {
    max_memory: -1,
    max_storage: -1,
    max_streams: -1,
    max_consumers: -1,
    max_ack_pending: -1,
    memory_max_stream_bytes: -1,
    storage_max_stream_bytes: -1,
    max_bytes_required: false,
  };
}

export interface AccountConfig {
  name: string;
  users: UserConfig[];
  /** `jetstream: enabled` (true), `disabled` (false) or limits (config mode has one, untiered, set). */
  jetstream?: boolean | AccountJetStreamLimits;
  imports?: ImportConfig[];
  exports?: ExportConfig[];
  nkey?: string;
  mappings?: MappingConfig[];
  limits?: AccountLimitsConfig;
  defaultPermissions?: unknown;
  /** `msg_trace`: where sampled `traceparent` messages are traced, and the percentage sampled. */
  traceDest?: string;
  traceSampling?: number;
}

/** Where operator mode finds account JWTs (`resolver`). Durations in ms. */
export type ResolverConfig =
  | { type: "memory" }
  | { type: "url"; url: string }
  | { type: "full"; dir: string; allowDelete: boolean; hardDelete: boolean; intervalMs: number; limit: number; timeoutMs: number }
  | { type: "cache"; dir: string; ttlMs: number; limit: number; timeoutMs: number };

/** `authorization { auth_callout {...} }`: users are authorized by a service (ADR-26). */
export interface AuthCalloutConfig {
  /** Account public key that signs the authorization responses. */
  issuer: string;
  /** The account the service runs in (the request is published there). */
  account: string;
  /** Users that bypass the callout (the service's own connections). */
  authUsers: string[];
  /** Curve public key the requests are encrypted for. */
  xkey?: string;
  /** Accounts the service may place users in (empty: any configured account). */
  allowedAccounts: string[];
}

export interface JetStreamOptions {
  enabled: boolean;
  storeDir: string;
  maxMemoryStore: number; // bytes, -1 = unlimited (dynamic)
  maxFileStore: number; // bytes, -1 = unlimited (dynamic)
  /**
   * jetstream sync_interval. Unset (the default): a PubAck is sent once its message is
   * fsynced (group commit); "always": the same, and consumer state and metadata fsynced on
   * every write; a number (ms): nats-server's lazy mode, everything fsynced that often and
   * PubAcks sent before (acknowledged messages can be lost on power failure).
   */
  syncInterval?: "always" | number;
  domain?: string;
  uniqueTag?: string;
  /**
   * Ingest limits per stream (`max_buffered_msgs`, `max_buffered_size`): what a stream takes
   * in within one event-loop turn before answering 429 (nats-server: its ingest queue).
   * Unset: nats-server's defaults, 100 000 messages and 128 MiB.
   */
  maxBufferedMsgs?: number;
  maxBufferedSize?: number;
  /** Encryption at rest of file streams (`cipher`, `key`, `prev_encryption_key`). */
  encryption?: { cipher: "chachapoly" | "aes"; key: string; prevKey?: string };
  /** Server-wide bounds of streams and consumers (`limits {}`); unset fields: no bound / the default. */
  limits?: JetStreamServerLimits;
  /** `strict` (default true): API requests with unknown fields are refused; false: the fields are ignored (logged). */
  strict?: boolean;
  /** `extension_hint`: "will_extend" or "no_extend" (whether a leaf node may extend this JetStream domain). */
  extensionHint?: "will_extend" | "no_extend";
  /** `max_outstanding_catchup`: bytes of stream catch-up a server has in flight at once (unset: 64 MiB). */
  maxOutstandingCatchup?: number;
}

/** nats-server's JetStream `limits {}` block: bounds every account's streams and consumers. */
export interface JetStreamServerLimits {
  /** Consumers' max_ack_pending may not exceed it; unset ones get it when lower than 1000. */
  maxAckPending?: number;
  /** Replicated streams (and consumers) a server may hold, besides the meta group. */
  maxHaAssets?: number;
  /** Pull consumers' max_batch may not exceed it; unset ones get it. */
  maxRequestBatch?: number;
  /** Streams' duplicate_window may not exceed it (ms); unset ones get it when lower than 2m. */
  duplicateWindowMs?: number;
  /** Consumers a stream with unlimited max_consumers may have (nats-server 2.15: 1000). */
  defaultMaxConsumers?: number;
  /** Atomic batch publishing (`batch {}`). */
  batch?: { maxInflightPerStream?: number; maxInflightTotal?: number; maxMsgs?: number; timeoutMs?: number };
}

export interface TlsOptions {
  cert?: string;
  key?: string;
  ca?: string;
  verify?: boolean;
  /**
   * `insecure`: do not check the certificate of the server this one connects to (solicited
   * routes, gateways and leaf node remotes), as nats-server's InsecureSkipVerify; accepted
   * connections are not affected.
   */
  insecure?: boolean;
  timeout?: number; // seconds
  handshakeFirst?: boolean;
  /**
   * handshake_first "auto" or a duration: how long to wait for the client's TLS handshake
   * before sending INFO and going on the usual way (INFO first); unset = no fallback.
   */
  handshakeFirstFallbackMs?: number;
  /** verify_and_map: the client certificate names the user (implies verify). */
  verifyAndMap?: boolean;
  /** pinned_certs: lower-case hex sha256 of the SubjectPublicKeyInfo of accepted client certificates. */
  pinnedCerts?: string[];
  /** min_version ("1.2" or "1.3"); TLS 1.2 when unset. */
  minVersion?: "1.2" | "1.3";
  /** cipher_suites in Go's names; Go's secure defaults when unset. */
  cipherSuites?: string[];
  allowInsecureCipherSuites?: boolean;
  /** curve_preferences in Go's names; Go's defaults when unset. */
  curvePreferences?: string[];
  /** connection_rate_limit: TLS client connections accepted per second; unset = no limit. */
  rateLimit?: number;
}

/** Route permissions: `import` limits what this server asks peers for, `export` what peers may ask of it. */
export interface RoutePermissions {
  import?: unknown;
  export?: unknown;
}

/** `cluster {}`: routes between the servers of one cluster (see src/cluster/). */
export interface ClusterOptions {
  /** The cluster name every route must agree on; generated (and adopted from peers) when unset. */
  name?: string;
  host: string;
  /** Route listen port; -1 = random. */
  port: number;
  /** host:port announced to peers instead of the listen address. */
  advertise?: string;
  /** Do not tell clients about peers' URLs (connect_urls). */
  noAdvertise: boolean;
  /** Explicit route URLs (nats-route://[user:pass@]host:port). */
  routes: string[];
  /** Attempts for implicit (gossiped) routes; explicit routes retry forever. */
  connectRetries: number;
  /** Exponential back-off between connect attempts. */
  connectBackoff: boolean;
  /** Route connections per peer (v2 routes); -1 = one connection, as servers before 2.10. */
  poolSize: number;
  /** Accounts with a dedicated route to each peer. */
  pinnedAccounts: string[];
  /** Route compression mode as configured (normalised: off, accept, s2_auto, s2_fast, s2_better, s2_best). */
  compression: string;
  /** s2_auto's RTT thresholds (ms); undefined = nats-server's defaults (10, 50, 100). */
  compressionRttMs?: readonly number[];
  username?: string;
  password?: string;
  authTimeoutMs?: number;
  tls?: TlsOptions;
  permissions?: RoutePermissions;
  pingIntervalMs?: number;
  maxPingsOut?: number;
  /** write_deadline of routes (the server's when unset). */
  writeDeadlineMs?: number;
  writeTimeout?: WriteTimeoutPolicy;
  /**
   * tsnats only (`nrg_follow: true`): follow a nats-server JetStream cluster's meta group
   * read-only (src/cluster/nrg_meta_follower.ts), shown in /jsz as `nrg_meta_follow`.
   */
  nrgFollow?: boolean;
  /**
   * tsnats only, experimental (`nrg_peer: true`, JetStream on): be a voting, never campaigning
   * member of a nats-server JetStream cluster's meta group (src/cluster/nrg_meta_peer.ts),
   * shown in /jsz as `nrg_meta_peer`. tsnats's own JetStream does not run then.
   */
  nrgPeer?: boolean;
  /**
   * tsnats only, experimental (`nrg_peer_streams: true`, with nrg_peer): also announce JetStream
   * config and stats in STATSZ, so nats-server places streams on this server, and hold a replica
   * of each stream placed on it (src/cluster/nrg_stream_peer.ts).
   */
  nrgPeerStreams?: boolean;
  /**
   * tsnats only, experimental (`nrg_peer_campaign: true`, with nrg_peer_streams): campaign in the
   * stream groups placed on this server, lead in nats-server's RAFT dialect, and hand the
   * leadership to a nats-server member once its first entry is committed (src/cluster/nrg_campaign.ts).
   */
  nrgPeerCampaign?: boolean;
  /**
   * tsnats only, experimental (`nrg_peer_lead: true`, with nrg_peer_campaign): elected in a
   * stream group whose features it runs, stay its leader and run the stream leader's half
   * (publishes checked, proposed and acknowledged; src/cluster/nrg_stream_leader.ts).
   */
  nrgPeerLead?: boolean;
  /**
   * tsnats only, experimental (`nrg_peer_meta_lead: true`, with nrg_peer_lead): campaign in the
   * nats-server cluster's meta group too, and once elected stay its leader and run the meta
   * leader's half (placement, stream and consumer assignments; src/cluster/nrg_meta_leader.ts).
   */
  nrgPeerMetaLead?: boolean;
}

export function defaultClusterOptions(): ClusterOptions {
  return {
    host: "0.0.0.0",
    port: 0,
    noAdvertise: false,
    routes: [],
    connectRetries: 0,
    connectBackoff: false,
    poolSize: 3,
    pinnedAccounts: [],
    compression: "accept",
  };
}

/** `websocket {}`: the WebSocket listener (nats-server's WebsocketOpts). */
export interface WebSocketOptions {
  host: string;
  /** -1 = random; the block is off without a port. */
  port: number;
  advertise?: string;
  /** Allow a listener without TLS (nats-server requires TLS unless this is set). */
  noTls: boolean;
  tls?: TlsOptions;
  /** The Origin header must match the request's host. */
  sameOrigin: boolean;
  /** Origins (scheme://host[:port]) accepted; empty = any (unless sameOrigin). */
  allowedOrigins: string[];
  /** Offer per-message deflate to clients that ask for it. */
  compression: boolean;
  /** Time allowed for the TLS handshake and the HTTP upgrade request; 0 = no limit. */
  handshakeTimeoutMs: number;
  /** Cookies of the upgrade request used for credentials the CONNECT leaves empty. */
  jwtCookie?: string;
  userCookie?: string;
  passCookie?: string;
  tokenCookie?: string;
  /** `authorization {}` of the block: replaces the server's single user/token for WebSocket clients. */
  username?: string;
  password?: string;
  token?: string;
  authTimeoutMs?: number;
  noAuthUser?: string;
  /** Extra headers of the 101 response (e.g. Strict-Transport-Security). */
  headers: Record<string, string>;
  /** Overrides ping_interval for WebSocket clients. */
  pingIntervalMs?: number;
}

/** A user a leaf node may log in as (`leafnodes { authorization { users: [...] } }`). */
export interface LeafUser {
  user: string;
  password: string;
  account?: string;
}

/** One `leafnodes { remotes: [...] }` entry: a hub this server connects to as a leaf node. */
export interface LeafRemoteOptions {
  urls: string[];
  /** The local account bound to this connection ($G by default). */
  account?: string;
  /** A .creds file: the user JWT and the seed that signs the hub's nonce. */
  credentials?: string;
  /** The remote is a hub of ours (we act as its hub's hub: rarely used). */
  hub: boolean;
  denyImports: string[];
  denyExports: string[];
  /** Do not pass interest of other leaf nodes to this remote. */
  isolate: boolean;
  /** S2 compression mode (nats-server's default: s2_auto) and s2_auto's thresholds (ms). */
  compression: string;
  compressionRttMs?: readonly number[];
  /** Over WebSocket (ws:// and wss:// URLs): ask for per-message deflate, and not to mask our frames. */
  wsCompression?: boolean;
  wsNoMasking?: boolean;
  /** TLS to the hub (also started when the hub requires it, or the URL's scheme is tls://). */
  tls?: TlsOptions;
}

/** `leafnodes {}`: accept leaf nodes and/or connect to hubs as one. */
export interface LeafNodeOptions {
  host: string;
  /** Listen port; 0 = do not accept leaf nodes, -1 = random. */
  port: number;
  advertise?: string;
  noAdvertise: boolean;
  username?: string;
  password?: string;
  /** The account a leaf node logging in with `username` is bound to. */
  account?: string;
  users: LeafUser[];
  authTimeoutMs?: number;
  remotes: LeafRemoteOptions[];
  /** Delay between attempts to reach a remote. */
  reconnectMs: number;
  /** S2 compression mode (nats-server's default: s2_auto) and s2_auto's thresholds (ms). */
  compression: string;
  compressionRttMs?: readonly number[];
  /** Interest from other leaf nodes is not passed on to leaf nodes. */
  isolateLeafnodeInterest: boolean;
  /** TLS of the leafnode listener (INFO goes first in plain text, unless handshake_first). */
  tls?: TlsOptions;
  /** write_deadline of leaf connections (the server's when unset). */
  writeDeadlineMs?: number;
  writeTimeout?: WriteTimeoutPolicy;
}

export function defaultLeafNodeOptions(): LeafNodeOptions {
  return { host: "0.0.0.0", port: 0, noAdvertise: false, users: [], remotes: [], reconnectMs: 1000, compression: "s2_auto", isolateLeafnodeInterest: false };
}

/** One `gateway { gateways: [...] }` entry: a remote cluster this server connects to. */
export interface RemoteGatewayOptions {
  name: string;
  /** nats://[user:pass@]host:port URLs of servers of that cluster. */
  urls: string[];
  /** TLS for connections to this gateway (else the block's `tls`). */
  tls?: TlsOptions;
}

/** What a server-to-server connection does when a write stalls past its deadline (nats-server's write_timeout). */
export type WriteTimeoutPolicy = "default" | "close" | "retry";

/** `gateway {}`: connections between clusters of a super-cluster (see src/cluster/gateways.ts). */
export interface GatewayOptions {
  /** This cluster's gateway name (every server of the cluster uses the same; it is the cluster name). */
  name: string;
  host: string;
  /** Gateway listen port; -1 = random. */
  port: number;
  /** host:port announced to other clusters instead of the listen address. */
  advertise?: string;
  /** Remote clusters to connect to (others are learnt from gossip unless rejectUnknown). */
  gateways: RemoteGatewayOptions[];
  /** Attempts for implicit (gossiped) gateways; explicit ones retry forever. */
  connectRetries: number;
  /** Exponential back-off between connect attempts. */
  connectBackoff: boolean;
  username?: string;
  password?: string;
  authTimeoutMs?: number;
  tls?: TlsOptions;
  /** Refuse gateways of clusters that are not configured here (reject_unknown_cluster). */
  rejectUnknown: boolean;
  /** write_deadline of gateway connections (the server's when unset). */
  writeDeadlineMs?: number;
  writeTimeout: WriteTimeoutPolicy;
  /**
   * Embedding and tests only (not a config key): delay before configured gateways are
   * solicited, so the cluster can form first (nats-server: 1s).
   */
  solicitDelayMs?: number;
  /**
   * Embedding and tests only (nats-server's GatewayDoNotForceInterestOnlyMode): false keeps
   * accounts in optimistic mode on inbound gateways until too many subjects without interest.
   */
  forceInterestOnly?: boolean;
  /** Embedding and tests only: subjects without interest before an account switches to interest-only (nats-server: 1000). */
  maxNoInterestBeforeSwitch?: number;
}

export function defaultGatewayOptions(): GatewayOptions {
  return { name: "", host: "0.0.0.0", port: 0, gateways: [], connectRetries: 0, connectBackoff: false, rejectUnknown: false, writeTimeout: "default" };
}

export interface ServerOptions {
  host: string;
  port: number; // -1 = random
  serverName?: string;
  /** `server_tags`: lower-cased, trimmed, without duplicates (nats-server's tag list); used by JetStream placement. */
  serverTags: string[];
  clientAdvertise?: string;

  /** Monitoring HTTP port; 0 = off, -1 = random. */
  httpHost: string;
  httpPort: number;
  httpsPort: number;
  httpBasePath: string;

  maxPayload: number;
  maxControlLine: number;
  maxConnections: number;
  maxSubscriptions: number; // 0 = unlimited
  maxPending: number;
  writeDeadlineMs: number;
  pingIntervalMs: number;
  maxPingsOut: number;
  /** Keep the full ping_interval before the first PING (nats-server: disable_short_first_ping). */
  disableShortFirstPing: boolean;
  authTimeoutMs: number;
  lameDuckDurationMs: number;
  lameDuckGracePeriodMs: number;
  noHeaderSupport: boolean;
  disableSublistCache: boolean;

  // Authentication (the security issue builds on these)
  username?: string;
  password?: string;
  authorization?: string; // token
  users: UserConfig[];
  accounts: AccountConfig[];
  systemAccount?: string;
  /** `feature_flags { name: bool }` (nats-server 2.14+): as configured, unknown names included. */
  featureFlags?: Record<string, boolean>;
  noSystemAccount: boolean;
  noAuthUser?: string;
  /** `authorization { permissions {...} }`: default permissions for users without their own. */
  defaultPermissions?: unknown;
  /** Top-level `mappings {}`: subject mappings of the global account. */
  mappings: MappingConfig[];
  /**
   * `default_js_domain { ACCOUNT: domain }`: accounts without JetStream here send the plain
   * JetStream API to that domain (over leaf nodes); "" lets `$JS.API` cross leaf connections.
   */
  defaultJsDomain?: Record<string, string>;
  authCallout?: AuthCalloutConfig;

  // Operator (JWT) mode
  /** Trusted operator JWTs (`operator`), as tokens read from their files. */
  operatorJwts: string[];
  /** Trusted operator public keys (`trusted_keys`), an alternative to operator JWTs. */
  trustedKeys: string[];
  resolver?: ResolverConfig;
  /** Account JWTs stored in the resolver at start (`resolver_preload`), by account public key. */
  resolverPreload: Record<string, string>;
  /** Only these accounts may log users in (`resolver_pinned_accounts`). */
  resolverPinnedAccounts?: string[];
  /** A bearer user JWT for clients that present none (`default_sentinel`). */
  defaultSentinel?: string;

  tls?: TlsOptions;
  /** allow_non_tls: with `tls`, clients may also connect without TLS (INFO says tls_available). */
  allowNonTls?: boolean;
  websocket?: WebSocketOptions;
  jetstream: JetStreamOptions;
  /** `cluster {}` / `-cluster`: undefined = not clustered. */
  cluster?: ClusterOptions;
  /** `leafnodes {}`: undefined = no leaf nodes. */
  leafnodes?: LeafNodeOptions;
  /** `gateway {}`: undefined = not part of a super-cluster. */
  gateway?: GatewayOptions;

  /** Log every Nth failed first connection attempt of a route, gateway or leaf node (0/unset: 3600). */
  connectErrorReports?: number;
  /** Log every Nth failed reconnection attempt (0/unset: every one). */
  reconnectErrorReports?: number;

  // Logging
  debug: boolean;
  trace: boolean;
  traceVerbose: boolean;
  logtime: boolean;
  /** Log timestamps in UTC (logtime_utc, --logtime_utc). */
  logtimeUtc?: boolean;
  /** Log files kept when rotating, the current one included (log_max_num; 0 = all). */
  logMaxFiles?: number;
  logFile?: string;
  logSizeLimit: number;
  syslog: boolean;
  /** Remote syslog address (udp://host:port), `-r` / `remote_syslog`. */
  remoteSyslog?: string;
  /** Truncate traced message payloads to this many bytes (0 or unset = unlimited). */
  maxTracedMsgLen?: number;
  /** Profiling HTTP port (`--profile` / `prof_port`); parsed only. */
  profPort?: number;
  pidFile?: string;
  portsFileDir?: string;

  /** Parsed but not served yet (mqtt). */
  unsupportedBlocks: Record<string, unknown>;

  /** The config file this came from, for reload. */
  configFile?: string;
  /** A hash of the config file's parsed contents (/varz config_digest). */
  configDigest?: string;
  /** Warnings collected while reading config (printed at start-up). */
  warnings: string[];
}

export const DEFAULT_PORT = 4222;

/** A websocket block with nothing set (off until it gets a port). */
export function defaultWebSocketOptions(): WebSocketOptions {
  return {
    host: "",
    port: 0,
    noTls: false,
    sameOrigin: false,
    allowedOrigins: [],
    compression: false,
    handshakeTimeoutMs: 0,
    headers: {},
  };
}

export function defaultOptions(): ServerOptions {
  return {
    host: "0.0.0.0",
    port: DEFAULT_PORT,
    serverTags: [],
    httpHost: "0.0.0.0",
    httpPort: 0,
    httpsPort: 0,
    httpBasePath: "",
    maxPayload: 1024 * 1024,
    maxControlLine: 4096,
    maxConnections: 64 * 1024,
    maxSubscriptions: 0,
    maxPending: 64 * 1024 * 1024,
    writeDeadlineMs: 10_000,
    pingIntervalMs: 120_000,
    maxPingsOut: 2,
    disableShortFirstPing: false,
    authTimeoutMs: 2_000,
    lameDuckDurationMs: 120_000,
    lameDuckGracePeriodMs: 10_000,
    noHeaderSupport: false,
    disableSublistCache: false,
    users: [],
    accounts: [],
    mappings: [],
    noSystemAccount: false,
    operatorJwts: [],
    trustedKeys: [],
    resolverPreload: {},
    jetstream: {
      enabled: false,
      storeDir: "",
      maxMemoryStore: -1,
      maxFileStore: -1,
    },
    debug: false,
    trace: false,
    traceVerbose: false,
    logtime: true,
    logSizeLimit: 0,
    syslog: false,
    unsupportedBlocks: {},
    warnings: [],
  };
}
