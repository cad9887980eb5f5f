// Start-up warm-up of the message path, right after "Server is ready".
//
// V8 compiles a function to optimized code only after it has run some thousands of times with
// type feedback, on a compiler thread, and the code cache made at build time (start/code_cache.ts)
// holds bytecode only. So the first messages of a fresh server paid for it: the 200 round
// trips that conns1000 times through just-opened idle connections ran the publish path
// interpreted, with ~20 optimizing compilations and 3 deoptimizations (paths seen for the first
// time) among them (--trace-opt/--trace-deopt with timestamps beside the latency samples: the
// slow samples were the first one and those at a compilation), and reqlat's measured phase
// still saw ~20 compilations after its 1000 warm-up requests.
//
// The warm-up sends request/reply traffic between connections nobody can see: real Client
// objects over real loopback sockets of a private listener (the classes, shapes and paths of
// clients' traffic, so the type feedback is the one real traffic makes: CONNECT, PING, PONG,
// subscriptions, requests to many subjects answered on reply subjects under a wildcard inbox,
// bursts of 1 KiB messages, a new responder connection every few slices for a connection's
// first-publish paths, the old one hung up by its peer; the messages reach the clients as a
// socket's reads do, through the shared read buffer), bound to an account of their own that the server does not know (no
// routes, imports, JetStream or monitoring ever see its subjects), never registered with the
// server (no cid taken, not in /connz, no connect or disconnect event, no log line). The
// server-wide message counters are put back after each slice, within the same event-loop
// turn, so /varz never shows them. It runs in slices of about a millisecond once warm, so a
// client connecting meanwhile waits for no more than a slice. Skipped under options its
// traffic would break (payload, subscription or pending limits below what it sends) and with
// protocol tracing (it would be traced); TSNATS_NO_WARMUP=1 turns it off.
//
// Measured (alternated runs, loaded machine, so p99 only roughly): conns1000 round-trip p99
// without/with it 3687/904, 1143/292, 3441/349 us (nats-server 2.15 in the same rounds: 2233,
// 343, 328), p50 193-198 vs 144-168 us; compilations among the 200 round trips ~20 -> 1-2 and
// deoptimizations 3 -> 1. Its cost: about 100 ms of CPU after "Server is ready", and 5 MB more
// idle RSS (bench/startup.mjs: 60.6 -> 65.8 MB, the optimized code and what its traffic left
// in the heap); time to ready unchanged.
import net from "node:net";
import { Account } from "./account.js";
import { Client } from "./client.js";
import type { CpuGate } from "./cpu_gate.js";
import type { Server } from "./server.js";
import { sharedReadBuffer } from "./shared_reads.js";
import { serveTcpHandles, TcpConnection, type TcpConnectionOwner } from "./tcp_connection.js";

/** Request/reply rounds in all; enough for the publish path's functions to be optimized. */
const ROUNDS = 1500;
/** Rounds per slice of the event loop. */
const SLICE = 50;
/** Request subjects (and reply subjects) the traffic cycles through. */
const SUBJECTS = 97;
/** A new responder connection every this many slices. */
const RESPONDER_SLICES = 12;

/**
 * A crowd of clients connecting comes first: this many connections within CROWD_QUIET_MS...
 */
const CROWD_SIZE = 8;
/** ...put the next slice off until none arrived for this long... */
const CROWD_QUIET_MS = 50;
/** ...but the warm-up is put off this long at most in all (a steady stream of new connections). */
const CROWD_MAX_DEFERRAL_MS = 5000;

/** The payload of the bursts. */
const BIG = 1024;
/** The size of the pieces a burst is handed over in: no divisor of a message's length. */
const BURST_PIECE = 1500;

/** Can the warm-up's traffic pass this server's limits without an error, a log line or a slow consumer? */
export function warmUpApplies(o: { maxPayload: number; maxSubscriptions: number; maxControlLine: number; maxPending: number }): boolean {
  return o.maxPayload >= BIG && (o.maxSubscriptions <= 0 || o.maxSubscriptions > SUBJECTS + 1) && o.maxControlLine >= 256 && o.maxPending >= 1024 * 1024;
}

/** What the Go client, the most common, sends. */
const CONNECT = JSON.stringify({ verbose: false, pedantic: false, tls_required: false, name: "warm-up", lang: "go", version: "1.22.1", protocol: 1, echo: true, headers: true, no_responders: true });
const PONG = Buffer.from("PONG\r\n");

function pub(subject: string, reply: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`PUB ${subject} ${reply}${reply ? " " : ""}${payload.length}\r\n`), payload, Buffer.from("\r\n")]);
}

/**
 * Loopback connections to a private listener: the accepted connections become the warm-up's
 * clients, served from their TCP handle as the client listener serves them (tcp_connection.ts),
 * so the code warmed up is the code real clients run.
 */
class Loopback {
  private readonly accepted: Array<net.Socket | TcpConnection> = [];
  private readonly peers: net.Socket[] = [];
  private readonly listener = net.createServer((s) => this.accepted.push(s));

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(0, "127.0.0.1", resolve);
    });
    serveTcpHandles(this.listener, UNCOUNTED, () => false, (conn) => this.accepted.push(conn));
  }

  /** A new accepted connection and its peer (which reads and drops what the server side writes). */
  async socket(): Promise<{ conn: net.Socket | TcpConnection; peer: net.Socket }> {
    const port = (this.listener.address() as net.AddressInfo).port;
    const peer = net.connect(port, "127.0.0.1");
    peer.on("error", () => {});
    peer.resume();
    this.peers.push(peer);
    while (this.accepted.length === 0) await new Promise((r) => setImmediate(r));
    return { conn: this.accepted.shift() as net.Socket | TcpConnection, peer };
  }

  /** Closes the listener and every connection but `kept`'s two ends. */
  close(kept?: { conn: net.Socket | TcpConnection; peer: net.Socket }): void {
    for (const p of this.peers) if (p !== kept?.peer) p.destroy();
    for (const s of this.accepted) s.destroy();
    this.listener.close();
  }
}

/**
 * Hand `bytes` to a warm-up client the way a socket's read reaches a real one: copied into the
 * shared read buffer and delivered from there by its TcpConnection (shared_reads.ts), not by
 * calling onData. The read path is then optimized with feedback for all of its branches: with
 * onData called directly, only real reads reached it, and the view cache's miss (a read of a
 * length not seen before, which in steady request/reply comes long after the first reads) had
 * none, so the first one in a measured run threw away the optimized read handler, with
 * everything inlined into it, and compiled it again (reqlat: once per run, mid-way).
 */
function feed(c: Client, conn: net.Socket | TcpConnection, bytes: Buffer): void {
  const shared = sharedReadBuffer();
  if (!(conn instanceof TcpConnection) || bytes.length > shared.length) {
    c.onData(bytes);
    return;
  }
  bytes.copy(shared, 0);
  conn.read(bytes.length);
}

/** The warm-up's connections are nobody's to wait for. */
const UNCOUNTED: TcpConnectionOwner = { tcpConnectionClosed: () => undefined };

/**
 * Puts the warm-up off while a crowd of clients is connecting. A crowd connecting at once
 * (clients reconnecting to a restarted server, the conns benchmarks) would otherwise share the
 * main thread with the warm-up's ~100 ms of work just when each of them waits for its INFO and
 * PONG: with 1000 clients connecting as soon as the server answered, the warm-up was a fifth of
 * the server's CPU during their set-up. It runs once they are in (an idle crowd leaves the
 * server time enough), or after CROWD_MAX_DEFERRAL_MS whatever happens. A few clients
 * connecting do not hold it up: their first requests are what it prepares for.
 */
class CrowdWait {
  /** Connections counted at the start of the current window. */
  private seen: number;
  private windowStart = Date.now();
  /** Time spent waiting so far (ms). */
  private deferred = 0;

  constructor(private readonly server: Server) {
    this.seen = server.totalConnections;
  }

  async passed(stop: () => boolean): Promise<void> {
    if (this.server.totalConnections - this.seen >= CROWD_SIZE) {
      while (this.server.totalConnections !== this.seen && this.deferred < CROWD_MAX_DEFERRAL_MS && !stop()) {
        this.seen = this.server.totalConnections;
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, CROWD_QUIET_MS));
        this.deferred += Date.now() - t0;
      }
    }
    const now = Date.now();
    if (now - this.windowStart >= CROWD_QUIET_MS) {
      this.seen = this.server.totalConnections;
      this.windowStart = now;
    }
  }
}

/**
 * Warms the publish, routing and delivery path up; resolves when done or `stop()` says so, with
 * what closes the connection it keeps (see below). Each slice waits for `gate` (contended CPU,
 * cpu_gate.ts) when there is one. Never throws.
 *
 * One of its connections stays open, idle, with both ends unreferenced (it never keeps the
 * process alive), until that close is called at shutdown. Optimized code holds the hidden
 * classes (maps) it was compiled for weakly, and so do the transitions that make them: once
 * the warm-up's last connection closed, the collection after the warm-up freed the maps of its
 * TCP handles, connections, direct writers and write requests, and with them the code compiled
 * for them ("weak objects" deoptimizations of writeOutDirect, DirectWriter's write/usable/queued,
 * fastPub, decodeSubject...). Real clients connecting later got new maps of the same shape, and
 * the first messages through them compiled that code again: conns1000's 200 round trips ran
 * 3-8 optimizing compilations (5-12 ms each on a compiler thread, on a 2-core machine beside
 * the load generator) and 4-10 deoptimizations; with the connection kept, 0-3 and none
 * (--trace-opt/--trace-deopt timestamped beside the round trips, 5 runs each).
 */
export async function warmUp(server: Server, stop: () => boolean, gate?: CpuGate): Promise<() => void> {
  const loopback = new Loopback();
  const account = new Account("$WARMUP");
  const clients = new Set<Client>();
  /** Each client's connection and the peer socket at its other end. */
  const ends = new Map<Client, { conn: net.Socket | TcpConnection; peer: net.Socket }>();
  const newClient = async (): Promise<Client> => {
    const end = await loopback.socket();
    const c = new Client(server, 0, end.conn, account);
    c.connectUnannounced(CONNECT);
    c.onData(PONG);
    clients.add(c);
    ends.set(c, end);
    return c;
  };
  let completed = false;
  let requester: Client | undefined;
  try {
    await loopback.listen();
    // The responder is a new connection every few slices: a connection's first subscription
    // and first publish take paths of their own, which would otherwise deoptimize the code
    // compiled for steady traffic the first time a real connection takes them.
    const inbox = "_INBOX.WARMUPWARMUPWARMUPWARMUP";
    const subs = Buffer.from(Array.from({ length: SUBJECTS }, (_, i) => `SUB w.r.${i} ${i + 1}\r\n`).join("") + `SUB w.big ${SUBJECTS + 1}\r\n`);
    requester = await newClient();
    const requesterEnd = ends.get(requester) as { conn: net.Socket | TcpConnection; peer: net.Socket };
    const requesterConn = requesterEnd.conn;
    requester.onData(Buffer.from(`SUB ${inbox}.* 1\r\n`));
    const small = Buffer.alloc(16, 0x61);
    const big = Buffer.alloc(BIG, 0x62);
    const reqs = Array.from({ length: SUBJECTS }, (_, i) => pub(`w.r.${i}`, `${inbox}.${i * 7919}`, small));
    const replies = Array.from({ length: SUBJECTS }, (_, i) => pub(`${inbox}.${i * 7919}`, "", small));
    // A stream's reads cut its messages anywhere: the burst goes in pieces that split control
    // lines and payloads (the parser's partial-line and split-payload paths).
    const whole = Buffer.concat(Array.from({ length: 8 }, () => pub("w.big", "", big)));
    const burst: Buffer[] = [];
    for (let at = 0; at < whole.length; at += BURST_PIECE) burst.push(whole.subarray(at, Math.min(at + BURST_PIECE, whole.length)));
    let responder: Client | undefined;
    const crowd = new CrowdWait(server);
    for (let done = 0, slice = 0; done < ROUNDS; slice++) {
      await crowd.passed(stop);
      await gate?.pass(stop);
      if (stop()) break;
      if (slice % RESPONDER_SLICES === 0) {
        const next = await newClient();
        if (stop()) break;
        if (responder !== undefined) {
          // Its peer hangs up, as a client does: the end-of-stream read closes it (the read
          // handler's branch for it is then warm too; the first real client leaving
          // deoptimized it).
          ends.get(responder)?.peer.end();
          ends.delete(responder);
        }
        responder = next;
        responder.onData(subs);
      }
      const answering = responder as Client;
      const answeringConn = (ends.get(answering) as { conn: net.Socket | TcpConnection }).conn;
      const inMsgs = server.inMsgs;
      const inBytes = server.inBytes;
      const outMsgs = server.outMsgs;
      const outBytes = server.outBytes;
      try {
        for (let i = 0; i < SLICE; i++, done++) {
          const k = done % SUBJECTS;
          feed(requester, requesterConn, reqs[k] as Buffer);
          feed(answering, answeringConn, replies[k] as Buffer);
        }
        for (const piece of burst) feed(requester, requesterConn, piece);
        // One read a slice comes from the requester's peer through the socket, so the handle's
        // read callback runs often enough to collect type feedback before the first responder
        // is hung up: without it, its end-of-stream branch had none, and the first real client
        // to disconnect deoptimized the optimized read path (with the parser and routing
        // inlined) under everyone else's traffic.
        requesterEnd.peer.write(PONG);
      } finally {
        server.inMsgs = inMsgs;
        server.inBytes = inBytes;
        server.outMsgs = outMsgs;
        server.outBytes = outBytes;
      }
      await new Promise((r) => setImmediate(r));
    }
    completed = !stop();
  } catch {
    // A warm-up that cannot run costs nothing but its effect.
  }
  const kept = completed && requester !== undefined ? requester : undefined;
  const keptEnd = kept !== undefined ? ends.get(kept) : undefined;
  for (const c of clients) if (c !== kept) c.close("Client Closed", true);
  loopback.close(keptEnd);
  if (kept === undefined || keptEnd === undefined) return () => undefined;
  keptEnd.peer.unref();
  keptEnd.conn.unref();
  return () => {
    kept.close("Client Closed", true);
    keptEnd.peer.destroy();
  };
}
