// Shared test helper: a raw TCP connection to a NATS server for protocol-level tests.
// It reads the server's INFO line, lets a test write arbitrary bytes (whole or in pieces)
// and collects everything the server answers, with waits on content, silence or close.
import net from "node:net";

export interface RawOptions {
  host?: string;
  /** Wait for and strip the initial INFO line (default true). */
  readInfo?: boolean;
  /** Fail if nothing arrives within this many ms while waiting for INFO. */
  timeoutMs?: number;
}

export type Until = string | RegExp | ((text: string) => boolean);

function matches(text: string, until: Until): boolean {
  if (typeof until === "string") return text.includes(until);
  if (until instanceof RegExp) return until.test(text);
  return until(text);
}

export class RawConn {
  /** Parsed JSON of the initial INFO (when readInfo). */
  info: Record<string, unknown> = {};
  /** The raw INFO line, including `INFO ` and CRLF. */
  infoLine = "";
  /** Bytes received after the initial INFO. */
  private chunks: Buffer[] = [];
  private received = 0;
  private lastDataAt = Date.now();
  closed = false;
  private waiters = new Set<() => void>();
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.received += d.length;
      this.lastDataAt = Date.now();
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  static async connect(port: number, opts: RawOptions = {}): Promise<RawConn> {
    const socket = net.connect(port, opts.host ?? "127.0.0.1");
    socket.setNoDelay(true);
    const conn = new RawConn(socket);
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      socket.once("error", onErr);
      socket.once("connect", () => {
        socket.removeListener("error", onErr);
        resolve();
      });
    });
    if (opts.readInfo !== false) {
      await conn.waitFor((t) => t.includes("\r\n") || conn.closed, opts.timeoutMs ?? 5000);
      const text = conn.text();
      const end = text.indexOf("\r\n");
      if (!text.startsWith("INFO ") || end < 0) throw new Error(`expected INFO, got ${JSON.stringify(text)}`);
      conn.infoLine = text.slice(0, end + 2);
      conn.info = JSON.parse(text.slice(5, end)) as Record<string, unknown>;
      conn.consume(end + 2);
    }
    return conn;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Everything received so far (after INFO), as latin1 so byte offsets equal string offsets. */
  text(): string {
    return this.buffer().toString("latin1");
  }

  buffer(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get byteCount(): number {
    return this.received;
  }

  /** Drop the first `n` received bytes. */
  consume(n: number): void {
    const b = this.buffer();
    this.chunks = [b.subarray(n)];
  }

  /** Return and forget all received text. */
  take(): string {
    const t = this.text();
    this.chunks = [];
    return t;
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Write `data` in pieces, awaiting each write's callback (and an event-loop turn) so reads stay separate. */
  async sendInPieces(data: string | Buffer, pieceLen: number | number[]): Promise<void> {
    const buf = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    const cuts: number[] = [];
    if (Array.isArray(pieceLen)) cuts.push(...pieceLen.filter((c) => c > 0 && c < buf.length));
    else for (let i = pieceLen; i < buf.length; i += pieceLen) cuts.push(i);
    let prev = 0;
    for (const c of [...cuts, buf.length]) {
      const piece = buf.subarray(prev, c);
      prev = c;
      await new Promise<void>((r) => this.socket.write(piece, () => r()));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Wait until the received text satisfies `until` (or the connection closed, if `orClose`). */
  waitFor(until: Until, timeoutMs = 3000, orClose = false): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const t = this.text();
        if (matches(t, until) || (orClose && this.closed)) {
          done();
          resolve(t);
          return true;
        }
        if (this.closed) {
          done();
          reject(new Error(`connection closed while waiting for ${String(until)}; received ${JSON.stringify(t.slice(-500))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${String(until)}; received ${JSON.stringify(this.text().slice(-500))}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      check();
    });
  }

  /** Wait for the server to close the connection; resolves with everything received. */
  waitClosed(timeoutMs = 3000): Promise<string> {
    return this.waitFor(() => this.closed, timeoutMs, true).catch((e: Error) => {
      throw new Error(`expected close: ${e.message}`);
    });
  }

  /**
   * Wait until the connection closes or no data has arrived for `quietMs`
   * (bounded by `maxMs`); returns the received text.
   */
  async settle(quietMs = 100, maxMs = 3000): Promise<string> {
    const deadline = Date.now() + maxMs;
    this.lastDataAt = Math.max(this.lastDataAt, Date.now());
    while (!this.closed && Date.now() < deadline) {
      const idle = Date.now() - this.lastDataAt;
      if (idle >= quietMs) break;
      await new Promise((r) => setTimeout(r, Math.min(quietMs - idle, 20)));
    }
    return this.text();
  }

  /** Send PING and wait for the PONG answering it: everything sent before is processed. */
  async ping(timeoutMs = 3000): Promise<string> {
    const before = (this.text().match(/PONG\r\n/g) ?? []).length;
    this.send("PING\r\n");
    return this.waitFor((t) => (t.match(/PONG\r\n/g) ?? []).length > before, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** CONNECT line with quiet defaults (verbose/pedantic off) merged with `extra`. */
export function connectLine(extra: Record<string, unknown> = {}): string {
  return `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...extra })}\r\n`;
}

/**
 * The INFO nats-server 2.15 sends after the PONG answering a protocol 1 client's first PING
 * after CONNECT (`connect_info`, naming the client's account).
 */
export const CONNECT_INFO = /INFO \{[^\r\n]*"connect_info":true[^\r\n]*\} \r\n/;

/** `text` without the connect_info INFO (its ids differ per server and connection). */
export function withoutConnectInfo(text: string): string {
  return text.replace(new RegExp(CONNECT_INFO.source, "g"), "");
}

/**
 * Connect, send CONNECT (quiet by default), PING and wait for PONG (and for the connect_info
 * INFO that follows it when the CONNECT says protocol 1), then forget what was received.
 */
export async function rawClient(port: number, connect: Record<string, unknown> = {}): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.send(connectLine(connect));
  await c.ping();
  if (typeof connect.protocol === "number" && connect.protocol >= 1) await c.waitFor(CONNECT_INFO);
  c.take();
  return c;
}

/**
 * One-shot transcript: connect, write `data`, collect the answer until the connection
 * closes or goes quiet. `info` is the parsed INFO.
 */
export async function transcript(
  port: number,
  data: string | Buffer,
  opts: { quietMs?: number; maxMs?: number } = {},
): Promise<{ out: string; closed: boolean; info: Record<string, unknown> }> {
  const c = await RawConn.connect(port);
  try {
    c.send(data);
    const out = await c.settle(opts.quietMs ?? 150, opts.maxMs ?? 3000);
    return { out, closed: c.closed, info: c.info };
  } finally {
    c.close();
  }
}

/**
 * `text` without the PING lines the server sent on its own (its first PING comes ~2 s after
 * CONNECT, later ones every ping_interval), so a test that runs long on a loaded machine can
 * compare the rest exactly. Payloads are skipped by their length, so a "PING" inside one stays.
 */
export function withoutServerPings(text: string): string {
  let out = "";
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\r\n", pos);
    if (nl < 0) break;
    const line = text.slice(pos, nl);
    let end = nl + 2;
    const parts = line.split(/[ \t]+/);
    const op = parts[0].toUpperCase();
    if (op === "MSG" || op === "HMSG") end += Number(parts[parts.length - 1]) + 2;
    if (op !== "PING") out += text.slice(pos, end);
    pos = end;
  }
  return out + text.slice(pos);
}

/** Parse MSG/HMSG frames out of received text (latin1). Other lines are returned as `line` entries. */
export interface Frame {
  op: string;
  args: string[];
  header?: string;
  payload?: string;
}

export function parseFrames(text: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\r\n", pos);
    if (nl < 0) break;
    const line = text.slice(pos, nl);
    const parts = line.split(/[ \t]+/);
    const op = parts[0].toUpperCase();
    if (op === "MSG" || op === "HMSG") {
      const args = parts.slice(1);
      const total = Number(args[args.length - 1]);
      const hlen = op === "HMSG" ? Number(args[args.length - 2]) : 0;
      const start = nl + 2;
      if (text.length < start + total + 2) break;
      const header = op === "HMSG" ? text.slice(start, start + hlen) : undefined;
      frames.push({ op, args, header, payload: text.slice(start + hlen, start + total) });
      pos = start + total + 2;
    } else {
      frames.push({ op, args: parts.slice(1) });
      pos = nl + 2;
    }
  }
  return { frames, rest: text.slice(pos) };
}
