// The traffic scripts/code_cache.mjs sends to its throwaway server before it stops it, so that
// the code cache written at the server's exit holds the bytecode of the paths clients use, not
// only of start-up: V8 compiles a function the first time it runs, and a function compiled
// before the cache is written starts compiled in every later start. Without it the first
// requests of every server ran V8's lazy compilation (callgrind: most of the instructions of a
// fresh server's first request/reply).
//
// Plain NATS protocol over TCP (no client library: the build must not depend on one), shaped
// like the official clients' traffic: CONNECT with headers and no_responders, request/reply
// through an _INBOX wildcard, many short-lived connections, JetStream publish/fetch/ack, KV put
// and get, and the monitoring endpoints. Everything it creates lives in the build's temporary
// store and dies with that server.
import http from "node:http";
import net from "node:net";

const CRLF = "\r\n";

/** One raw NATS connection: protocol lines in, messages out to waiting callers. */
class RawConnection {
  constructor(socket, name) {
    this.socket = socket;
    this.name = name;
    this.buffer = Buffer.alloc(0);
    this.pongs = [];
    this.pingsReceived = 0;
    this.handlers = new Map(); // sid -> (msg) => void
    this.errors = [];
    this.info = undefined;
    this.infoWaiter = undefined;
    this.closed = false;
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", (err) => this.errors.push(err.message));
    socket.on("close", () => {
      this.closed = true;
      for (const resolve of this.pongs.splice(0)) resolve(false);
    });
  }

  static async open(port, name, lang = "go") {
    const socket = net.connect({ host: "127.0.0.1", port });
    const conn = new RawConnection(socket, name);
    await new Promise((resolve, reject) => {
      conn.infoWaiter = resolve;
      socket.once("error", reject);
    });
    const connect = {
      verbose: false,
      pedantic: false,
      tls_required: false,
      name,
      lang,
      version: lang === "go" ? "1.37.0" : "2.29.3",
      protocol: 1,
      echo: true,
      headers: true,
      no_responders: true,
    };
    conn.write(`CONNECT ${JSON.stringify(connect)}${CRLF}`);
    if (!(await conn.flush())) throw new Error(`${name}: no PONG after CONNECT (${conn.errors.join("; ")})`);
    return conn;
  }

  write(text) {
    this.socket.write(text);
  }

  /** PING, resolved true by its PONG (false if the connection closed first). */
  flush() {
    return new Promise((resolve) => {
      if (this.closed) return resolve(false);
      this.pongs.push(resolve);
      this.write(`PING${CRLF}`);
    });
  }

  subscribe(subject, sid, onMessage, queue) {
    this.handlers.set(String(sid), onMessage);
    this.write(queue ? `SUB ${subject} ${queue} ${sid}${CRLF}` : `SUB ${subject} ${sid}${CRLF}`);
  }

  unsubscribe(sid, max) {
    if (max === undefined) this.handlers.delete(String(sid));
    this.write(max === undefined ? `UNSUB ${sid}${CRLF}` : `UNSUB ${sid} ${max}${CRLF}`);
  }

  publish(subject, payload, reply, headers) {
    const body = Buffer.from(payload);
    const replyPart = reply ? ` ${reply}` : "";
    if (headers) {
      let head = "NATS/1.0\r\n";
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      head += CRLF;
      const h = Buffer.byteLength(head);
      this.socket.write(Buffer.concat([Buffer.from(`HPUB ${subject}${replyPart} ${h} ${h + body.length}${CRLF}${head}`), body, Buffer.from(CRLF)]));
    } else {
      this.socket.write(Buffer.concat([Buffer.from(`PUB ${subject}${replyPart} ${body.length}${CRLF}`), body, Buffer.from(CRLF)]));
    }
  }

  close() {
    this.socket.end();
  }

  onData(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const eol = this.buffer.indexOf(CRLF);
      if (eol < 0) return;
      const line = this.buffer.subarray(0, eol).toString("latin1");
      const op = line.slice(0, line.indexOf(" ") >>> 0).toUpperCase();
      if (op === "MSG" || op === "HMSG") {
        const parts = line.split(" ");
        const total = Number(parts[parts.length - 1]);
        if (this.buffer.length < eol + 2 + total + 2) return;
        const start = eol + 2;
        const headerBytes = op === "HMSG" ? Number(parts[parts.length - 2]) : 0;
        const reply = parts.length === (op === "HMSG" ? 6 : 5) ? parts[3] : undefined;
        const msg = {
          subject: parts[1],
          reply,
          headers: this.buffer.subarray(start, start + headerBytes).toString("latin1"),
          data: Buffer.from(this.buffer.subarray(start + headerBytes, start + total)),
        };
        this.buffer = this.buffer.subarray(start + total + 2);
        this.handlers.get(parts[2])?.(msg);
        continue;
      }
      this.buffer = this.buffer.subarray(eol + 2);
      if (op === "PING") {
        this.pingsReceived++;
        this.write(`PONG${CRLF}`);
      }
      else if (op === "PONG") this.pongs.shift()?.(true);
      else if (op === "INFO") {
        this.info = JSON.parse(line.slice(5));
        this.infoWaiter?.();
        this.infoWaiter = undefined;
      } else if (op === "-ERR") this.errors.push(line);
    }
  }
}

/** Request/reply the way the official clients do it: one `_INBOX.<id>.*` subscription. */
class Requester {
  constructor(conn, id) {
    this.conn = conn;
    this.prefix = `_INBOX.${id}`;
    this.next = 0;
    this.waiting = new Map();
    conn.subscribe(`${this.prefix}.*`, "inbox", (msg) => {
      const token = msg.subject.slice(this.prefix.length + 1);
      this.waiting.get(token)?.(msg);
      this.waiting.delete(token);
    });
  }

  request(subject, payload, headers, timeoutMs = 5000) {
    const token = String(++this.next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new Error(`request ${subject}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(token, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      this.conn.publish(subject, payload, `${this.prefix}.${token}`, headers);
    });
  }

  /** A JetStream API call: a JSON body (or none), the JSON answer; an error answer throws. */
  api(subject, body) {
    return this.jsPublish(subject, body === undefined ? "" : JSON.stringify(body));
  }

  /** A publish to a stream's subject (the answer is the PubAck), or an API call's raw body. */
  async jsPublish(subject, payload, headers) {
    const msg = await this.request(subject, payload, headers);
    const answer = JSON.parse(msg.data.toString("utf8"));
    if (answer.error) throw new Error(`${subject}: ${JSON.stringify(answer.error)}`);
    return answer;
  }
}

function httpGet(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path}: timeout`)));
  });
}

function waitFor(predicate, what, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 5);
    };
    check();
  });
}

const ROUNDS = 3;

async function coreTraffic(port) {
  const responder = await RawConnection.open(port, "train-responder");
  responder.subscribe("train.req", 1, (msg) => responder.publish(msg.reply, msg.data));
  responder.subscribe("train.hreq", 2, (msg) => responder.publish(msg.reply, msg.data, undefined, { "X-Train": "1" }));
  let queued = 0;
  responder.subscribe("train.queue", 3, () => queued++, "workers");
  let plain = 0;
  responder.subscribe("train.>", 4, () => plain++);
  await responder.flush();

  const client = await RawConnection.open(port, "train-requester", "javascript");
  const requester = new Requester(client, "TRAINREQ");
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < 20; i++) await requester.request("train.req", "sixteen bytes!!!");
    for (let i = 0; i < 5; i++) await requester.request("train.hreq", "with headers", { "X-Id": String(i) });
    for (let i = 0; i < 50; i++) client.publish("train.queue", "x");
    for (let i = 0; i < 50; i++) client.publish(`train.pub.${i}`, Buffer.alloc(1024));
    await client.flush();
    // No responders: the 503 status the clients ask for with no_responders.
    await requester.request("nobody.listens", "?");
  }
  await waitFor(() => queued === 50 * ROUNDS, "queue deliveries");
  responder.unsubscribe(4);
  responder.unsubscribe(3, 1);
  await responder.flush();
  return { responder, client, requester };
}

/** Many idle connections with one subscription each, round trips through some, then closed. */
async function manyConnections(port, requester) {
  const conns = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const conn = await RawConnection.open(port, `train-idle${i}`);
      conn.subscribe(`train.conn.${i}`, 1, (msg) => conn.publish(msg.reply, msg.data));
      await conn.flush();
      return conn;
    }),
  );
  for (let i = 0; i < conns.length; i++) await requester.request(`train.conn.${i}`, "sixteen bytes!!!");
  for (const conn of conns) conn.close();
  await waitFor(() => conns.every((c) => c.closed), "idle connections to close");
}

async function jetStreamTraffic(requester) {
  const client = requester.conn;
  await requester.api("$JS.API.INFO");
  for (const storage of ["file", "memory"]) {
    const stream = `TRAIN_${storage.toUpperCase()}`;
    const subject = `train.js.${storage}`;
    await requester.api(`$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [`${subject}.>`], storage, num_replicas: 1 });
    // Synchronous and windowed publishes, plain and with a message id.
    for (let i = 0; i < 10; i++) await requester.jsPublish(`${subject}.a`, `m${i}`);
    await Promise.all(Array.from({ length: 100 }, (_, i) => requester.jsPublish(`${subject}.b`, Buffer.alloc(16 + (i % 2) * 1000))));
    for (let i = 0; i < 5; i++) await requester.jsPublish(`${subject}.c`, "dedup", { "Nats-Msg-Id": `id-${i % 3}` });
    const total = (await requester.api(`$JS.API.STREAM.INFO.${stream}`)).state.messages;
    await requester.api(`$JS.API.STREAM.MSG.GET.${stream}`, { seq: 1 });

    // Durable pull consumer: fetch batches, ack each message.
    await requester.api(`$JS.API.CONSUMER.CREATE.${stream}.PULL`, {
      stream_name: stream,
      config: { durable_name: "PULL", ack_policy: "explicit", deliver_policy: "all" },
    });
    let received = 0;
    const pullInbox = `_INBOX.TRAINPULL.${storage}`;
    client.subscribe(pullInbox, `pull-${storage}`, (msg) => {
      if (!msg.reply) return; // a status (404/408)
      received++;
      client.publish(msg.reply, "+ACK");
    });
    while (received < total) {
      const before = received;
      client.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.PULL`, JSON.stringify({ batch: 50, expires: 1_000_000_000 }), pullInbox);
      await waitFor(() => received >= Math.min(total, before + 50), "pulled messages");
    }
    await client.flush();
    await requester.api(`$JS.API.CONSUMER.INFO.${stream}.PULL`);

    // Ordered push consumer (flow control and heartbeats, as the clients create it).
    let pushed = 0;
    const deliver = `_INBOX.TRAINPUSH.${storage}`;
    client.subscribe(deliver, `push-${storage}`, (msg) => {
      if (msg.data.length === 0 && msg.headers.startsWith("NATS/1.0 100")) {
        if (msg.reply) client.publish(msg.reply, "");
        return;
      }
      pushed++;
    });
    await requester.api(`$JS.API.CONSUMER.CREATE.${stream}`, {
      stream_name: stream,
      config: {
        deliver_subject: deliver,
        deliver_policy: "all",
        ack_policy: "none",
        max_deliver: 1,
        flow_control: true,
        idle_heartbeat: 5_000_000_000,
        mem_storage: true,
        num_replicas: 1,
      },
    });
    await waitFor(() => pushed >= total, "ordered consumer messages");
  }

  // KV: a bucket is a stream; put, get (direct), update, delete.
  await requester.api("$JS.API.STREAM.CREATE.KV_TRAIN", {
    name: "KV_TRAIN",
    subjects: ["$KV.TRAIN.>"],
    max_msgs_per_subject: 1,
    discard: "new",
    allow_rollup_hdrs: true,
    deny_delete: true,
    allow_direct: true,
    storage: "file",
    num_replicas: 1,
  });
  for (let i = 0; i < 10; i++) await requester.jsPublish(`$KV.TRAIN.key${i % 3}`, `value ${i}`);
  await requester.request("$JS.API.DIRECT.GET.KV_TRAIN.$KV.TRAIN.key1", "");
  await requester.request("$JS.API.DIRECT.GET.KV_TRAIN", JSON.stringify({ last_by_subj: "$KV.TRAIN.key2" }));
  await requester.request("$KV.TRAIN.key0", "", { "KV-Operation": "DEL" });
  await requester.api("$JS.API.STREAM.NAMES", {});

  // Error answers, purge and delete (clients and tools clear a stream before they use it).
  const missing = await requester.request("$JS.API.STREAM.INFO.TRAIN_MISSING", "");
  JSON.parse(missing.data.toString("utf8"));
  await requester.api("$JS.API.STREAM.CREATE.TRAIN_GONE", { name: "TRAIN_GONE", subjects: ["train.gone.>"], storage: "file", num_replicas: 1 });
  for (let i = 0; i < 5; i++) await requester.jsPublish("train.gone.x", `m${i}`);
  await requester.api("$JS.API.STREAM.PURGE.TRAIN_GONE", {});
  await requester.jsPublish("train.gone.x", "after purge");
  await requester.api("$JS.API.STREAM.DELETE.TRAIN_GONE");
}

async function monitoring(monitorPort) {
  for (const path of ["/varz", "/connz", "/connz?subs=1", "/subsz", "/jsz", "/healthz", "/accountz", "/routez"]) {
    await httpGet(monitorPort, path);
  }
}

/** Runs the traffic; resolves with undefined, or with what went wrong (the build goes on). */
export async function trainServer(port, monitorPort) {
  try {
    const core = await coreTraffic(port);
    await manyConnections(port, core.requester);
    await jetStreamTraffic(core.requester);
    if (monitorPort) await monitoring(monitorPort);
    // The server's first PING to a client (2 to 2.4 s after its CONNECT) and its PONG: in a
    // real server it falls among the first requests.
    await waitFor(() => core.responder.pingsReceived > 0, "the server's first PING", 5000);
    // Once more: code V8 compiled for the first connection's shapes, run again by others.
    await coreTraffic(port).then(({ responder, client }) => {
      responder.close();
      client.close();
    });
    core.responder.close();
    core.client.close();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
