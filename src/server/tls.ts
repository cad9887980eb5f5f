// TLS for client connections and HTTPS monitoring, built from `tls {}` / `--tls*`.
//
// As in nats-server, INFO goes out in plain text and the client then starts the TLS handshake
// on the same connection; with `handshake_first` the handshake comes first and INFO follows
// over TLS. Each accepted socket is wrapped in a server-side TLSSocket that shares one
// SecureContext; a reload builds a new context, which only new connections pick up.
import { createHash, X509Certificate } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import type tls from "node:tls";
import type net from "node:net";
import type { TlsOptions } from "../config/options.js";
import type { Client } from "./client.js";
import type { Log } from "./log.js";
import { opensslCiphers, opensslCurves, opensslSuiteName } from "./tls_suites.js";
import { certificateNames } from "../auth/cert_names.js";

/**
 * node:tls, loaded with the first TLS context: a server without TLS never needs it, and an ES
 * module import of it also builds Node's root certificate list (tls.rootCertificates) at once.
 */
const requireBuiltin = createRequire(import.meta.url);
let tlsModule: typeof tls | undefined;
function nodeTls(): typeof tls {
  return (tlsModule ??= requireBuiltin("node:tls") as typeof tls);
}

/** nats-server's default TLS handshake timeout. */
const DEFAULT_TIMEOUT_SECONDS = 2;

/** What /connz shows of a TLS connection, and the client certificate (verify_and_map). */
/** What watching a handshake needs of the connection being accepted. */
export interface TlsPeer {
  readonly closed: boolean;
  logPrefix(): string;
  close(reason: "TLS Handshake Failure", abort: boolean): void;
}

export interface TlsConnectionState {
  version: string;
  cipherSuite: string;
  peerCertificate: X509Certificate | undefined;
}

/** Kept aside rather than on Client, so the client hot path carries nothing for TLS. */
const connectionStates = new WeakMap<Client, TlsConnectionState>();

/** The TLS state of a client's connection, once its handshake completed. */
export function tlsStateOf(c: Client): TlsConnectionState | undefined {
  return connectionStates.get(c);
}

export class ServerTls {
  /** Requested client certificates are required and must chain to `ca_file`. */
  readonly verify: boolean;
  /** verify_and_map: the certificate names the user. */
  readonly verifyAndMap: boolean;
  readonly handshakeFirst: boolean;
  /** How long to wait for a TLS-first client before sending INFO the usual way; 0 = never fall back. */
  readonly handshakeFirstFallbackMs: number;
  readonly timeoutMs: number;
  /** pinned_certs: sha256 of accepted client certificates' public keys (hex); undefined = any. */
  readonly pinnedCerts: ReadonlySet<string> | undefined;

  private constructor(
    readonly context: tls.SecureContext,
    o: TlsOptions,
    /** When the server certificate expires (/varz tls_cert_not_after). */
    readonly certificateNotAfter: Date | undefined,
  ) {
    this.verify = o.verify === true || o.verifyAndMap === true;
    this.verifyAndMap = o.verifyAndMap === true;
    this.handshakeFirst = o.handshakeFirst === true;
    this.handshakeFirstFallbackMs = o.handshakeFirst === true ? (o.handshakeFirstFallbackMs ?? 0) : 0;
    this.timeoutMs = Math.round((o.timeout !== undefined && o.timeout > 0 ? o.timeout : DEFAULT_TIMEOUT_SECONDS) * 1000);
    this.pinnedCerts = o.pinnedCerts !== undefined ? new Set(o.pinnedCerts) : undefined;
  }

  /**
   * Build from options; undefined without a `tls` block or `--tls*` flags. Throws on a missing
   * or unreadable certificate/key, so a bad config stops start-up or fails a reload before
   * anything changes. (nats-server 2.9 starts with a certificate-less `tls {}` and then fails
   * every handshake; refusing is clearer, and never serves plain text where TLS was asked for.)
   * Without `ca_file`, client certificates are checked against the system roots, as in Go.
   */
  static fromOptions(o: TlsOptions | undefined): ServerTls | undefined {
    if (o === undefined) return undefined;
    if (o.cert === undefined || o.key === undefined) throw new Error("TLS Server certificate must be present and valid");
    let context: tls.SecureContext;
    let notAfter: Date | undefined;
    let leaf: X509Certificate;
    const suites = opensslCiphers(o.cipherSuites);
    checkAvailable(o);
    try {
      const cert = fs.readFileSync(o.cert);
      leaf = new X509Certificate(cert);
      notAfter = new Date(leaf.validTo);
      context = nodeTls().createSecureContext({
        cert,
        key: fs.readFileSync(o.key),
        // No trust store unless clients' certificates are checked: Node would otherwise
        // build its root certificate store for the first context (~25 ms of a start-up),
        // for nothing a server that asks for no certificate uses (and, as nats-server, the
        // chain sent is the certificate file's, never completed from a store).
        ca: verifiesClients(o) ? (o.ca !== undefined ? fs.readFileSync(o.ca) : undefined) : NO_TRUST_STORE,
        // Go's choices: TLS 1.2 at least, its suites and curves unless configured.
        minVersion: o.minVersion === "1.3" || !suites.tls12 ? "TLSv1.3" : "TLSv1.2",
        ciphers: suites.ciphers,
        ecdhCurve: opensslCurves(o.curvePreferences, curveAvailable),
      });
    } catch (err) {
      throw new Error(`error loading TLS certificate/key pair: ${(err as Error).message}`);
    }
    // nats-server staples OCSP responses for a certificate that asks for it; tsnats cannot, and
    // serving such a certificate without a staple would fail every client that honours it.
    if (certificateNames(leaf.raw).mustStaple) {
      throw new Error(`OCSP stapling is not supported by tsnats: certificate ${o.cert} requires it (TLS feature status_request)`);
    }
    return new ServerTls(context, o, notAfter);
  }

  /** INFO fields, in nats-server's order (after `headers`). */
  infoFields(allowNonTls: boolean): Record<string, boolean> {
    const f: Record<string, boolean> = {};
    if (!allowNonTls) f.tls_required = true;
    if (this.verify) f.tls_verify = true;
    if (allowNonTls) f.tls_available = true;
    return f;
  }

  /** Wrap an accepted client socket; the handshake starts when the peer's ClientHello arrives. */
  wrapClient(socket: net.Socket): tls.TLSSocket {
    return new (nodeTls().TLSSocket)(socket, {
      isServer: true,
      secureContext: this.context,
      requestCert: this.verify,
      rejectUnauthorized: this.verify,
    });
  }

  /** Wrap an HTTPS monitoring connection: same certificate, but no client certificate asked for (as nats-server). */
  wrapMonitor(socket: net.Socket): tls.TLSSocket {
    return new (nodeTls().TLSSocket)(socket, { isServer: true, secureContext: this.context, requestCert: false, rejectUnauthorized: false });
  }

  /**
   * Enforce the handshake timeout and close a client whose handshake fails with nats-server's
   * reason ("TLS Handshake Failure"); on success remember version and cipher for /connz.
   */
  watchHandshake(client: Client, socket: tls.TLSSocket, log: Log): void {
    if (log.debugEnabled) log.debug(`${client.logPrefix()} - Starting TLS client connection handshake`);
    this.watchPeerHandshake(client, socket, log, "TLS handshake error", () => {
      this.recordState(client, socket);
      if (log.debugEnabled) log.debug(`${client.logPrefix()} - TLS handshake complete`);
    });
  }

  /**
   * The accepting side's handshake with any peer (client, route, gateway, leaf node): it must
   * finish within the timeout, with a certificate this side accepts (verify, pinned_certs),
   * else the peer is logged (`what`: the line's start) and closed; then `secured` runs.
   */
  watchPeerHandshake(peer: TlsPeer, socket: tls.TLSSocket, log: Log, what: string, secured: () => void): void {
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (peer.closed) return;
      log.error(`${peer.logPrefix()} - ${what}: ${shortOpensslMessage(why)}`);
      peer.close("TLS Handshake Failure", true);
    };
    const timer = setTimeout(() => fail("i/o timeout"), this.timeoutMs);
    timer.unref();
    // Prepended so these run before the peer's own error/close handlers, which would
    // record a plain read error instead.
    socket.prependListener("error", (err: Error) => fail(err.message));
    socket.prependListener("close", () => fail("EOF"));
    socket.prependListener("end", () => fail("EOF"));
    socket.once("secure", () => {
      if (done) return;
      const rejected = this.peerProblem(socket);
      if (rejected !== undefined) {
        fail(`client certificate not accepted: ${rejected}`);
        return;
      }
      done = true;
      clearTimeout(timer);
      secured();
    });
  }

  /**
   * Why a completed handshake's client certificate is refused (undefined: accepted). A bare
   * server TLSSocket accepts any certificate at the OpenSSL level and leaves the chain check
   * to its owner (tls.Server does it the same way), so it is checked here.
   */
  peerProblem(socket: tls.TLSSocket): string | undefined {
    const problem = this.verify ? clientCertificateProblem(socket) : undefined;
    if (problem !== undefined || this.pinnedCerts === undefined) return problem;
    return pinnedKeyOf(socket.getPeerX509Certificate(), this.pinnedCerts) === undefined ? "certificate not pinned" : undefined;
  }

  /** Remember the negotiated version, cipher and client certificate of a client's connection. */
  recordState(client: Client, socket: tls.TLSSocket): void {
    const cipher = socket.getCipher();
    connectionStates.set(client, {
      version: (socket.getProtocol() ?? "").replace(/^TLSv/, ""),
      cipherSuite: cipher.standardName ?? cipher.name,
      peerCertificate: socket.getPeerX509Certificate(),
    });
  }
}

/**
 * Does this block ask for client certificates? Only then does `ca_file` go into the accepting
 * context: OpenSSL builds the chain a server sends from its context's trust store, so a CA
 * there is sent along with the certificate, where nats-server (Go) sends only cert_file's
 * certificates. A client without that CA then fails with "self-signed certificate in
 * certificate chain" instead of nats-server's "unable to verify the first certificate" (the
 * nats.js node transport's tls test, `allow_non_tls` with a CA and no verify). With verify the
 * CA has to be in the store to check client certificates, and is sent as well.
 */
function verifiesClients(o: TlsOptions): boolean {
  return o.verify === true || o.verifyAndMap === true;
}

/**
 * The context of a connection this server opens (a leaf node to its hub): the certificate is
 * optional (presented when the other side asks), `ca_file` replaces the system roots the
 * other side's certificate is checked against.
 */
export function clientTlsContext(o: TlsOptions | undefined): tls.SecureContext {
  const suites = opensslCiphers(o?.cipherSuites);
  try {
    return nodeTls().createSecureContext({
      cert: o?.cert !== undefined ? fs.readFileSync(o.cert) : undefined,
      key: o?.key !== undefined ? fs.readFileSync(o.key) : undefined,
      ca: o?.ca !== undefined ? fs.readFileSync(o.ca) : undefined,
      minVersion: o?.minVersion === "1.3" || !suites.tls12 ? "TLSv1.3" : "TLSv1.2",
      ciphers: suites.ciphers,
      ecdhCurve: opensslCurves(o?.curvePreferences, curveAvailable),
    });
  } catch (err) {
    throw new Error(`error loading TLS certificate/key pair: ${(err as Error).message}`);
  }
}

/** The pinned key id (sha256 of the public key's SubjectPublicKeyInfo) of `cert`, if it is in `pinned`. */
export function pinnedKeyOf(cert: X509Certificate | undefined, pinned: ReadonlySet<string>): string | undefined {
  if (cert === undefined) return undefined;
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  const id = createHash("sha256").update(spki).digest("hex");
  return pinned.has(id) ? id : undefined;
}

/** `ca` of a context that checks no peer certificate: no store, not Node's root certificates. */
const NO_TRUST_STORE: string[] = [];

const curveCache = new Map<string, boolean>();

function curveAvailable(openssl: string): boolean {
  let ok = curveCache.get(openssl);
  if (ok === undefined) {
    try {
      nodeTls().createSecureContext({ ecdhCurve: openssl, ca: NO_TRUST_STORE });
      ok = true;
    } catch {
      ok = false;
    }
    curveCache.set(openssl, ok);
  }
  return ok;
}

/**
 * Configured suites and curves OpenSSL lacks (RC4 and 3DES suites, the post-quantum hybrid
 * curve on OpenSSL 3.0) stop start-up: offering less than configured would be silent.
 */
function checkAvailable(o: TlsOptions): void {
  for (const name of o.cipherSuites ?? []) {
    const own = opensslSuiteName(name);
    if (own === undefined) continue;
    try {
      nodeTls().createSecureContext({ ciphers: own, ca: NO_TRUST_STORE });
    } catch {
      throw new Error(`cipher suite ${name} is not available in this build's OpenSSL (${process.versions.openssl})`);
    }
  }
  for (const name of o.curvePreferences ?? []) {
    if (!curveAvailable(opensslCurves([name], curveAvailable))) {
      throw new Error(`curve preference ${name} is not available in this build's OpenSSL (${process.versions.openssl})`);
    }
  }
}

/** "80EC...:error:0A0000C7:SSL routines:fn:peer did not return a certificate:file:line:" -> the reason alone. */
function shortOpensslMessage(message: string): string {
  const m = /:SSL routines:[^:]*:([^:]+):/.exec(message);
  return m !== null ? m[1] : message.split("\n")[0];
}

/**
 * Why the peer's certificate is not acceptable, or undefined when it chains to the trusted CAs.
 * Reads the verification result OpenSSL recorded during the handshake (the same internal call
 * tls.Server makes); fails closed if that call is ever missing.
 */
export function clientCertificateProblem(socket: tls.TLSSocket): string | undefined {
  const peer = socket.getPeerCertificate();
  if (peer === null || Object.keys(peer).length === 0) return "no certificate";
  const handle = (socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (typeof handle?.verifyError !== "function") return "verification result unavailable";
  const err = handle.verifyError();
  return err ? (err.code ?? err.message) : undefined;
}
