// The official JavaScript clients against tsnats: @nats-io/transport-node (v3) and nats (v2).
// The same scenarios run with both: pub/sub, request/reply, queues, drain, headers, no
// responders, reconnect after a restart on the same port, 1 MB payloads, 100k messages in order.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as v3 from "@nats-io/transport-node";
import * as v2 from "nats";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";

// The slice of the client API these tests use; both libraries provide it.
interface Headers {
  get(k: string): string;
  values(k: string): string[];
  set(k: string, v: string): void;
  append(k: string, v: string): void;
}
interface Msg {
  subject: string;
  reply?: string;
  data: Uint8Array;
  headers?: Headers;
  respond(data?: Uint8Array | string, opts?: { headers?: Headers }): boolean;
  string(): string;
}
interface Sub extends AsyncIterable<Msg> {
  unsubscribe(max?: number): void;
  getProcessed(): number;
}
interface Conn {
  publish(subject: string, data?: Uint8Array | string, opts?: { reply?: string; headers?: Headers }): void;
  subscribe(subject: string, opts?: { queue?: string; max?: number; callback?: (err: Error | null, msg: Msg) => void }): Sub;
  request(subject: string, data?: Uint8Array | string, opts?: { timeout: number; headers?: Headers }): Promise<Msg>;
  flush(): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
  closed(): Promise<void | Error>;
  isClosed(): boolean;
  status(): AsyncIterable<{ type: string }>;
}
interface ClientLib {
  name: string;
  connect(opts: Record<string, unknown>): Promise<Conn>;
  headers(): Headers;
  isNoResponders(err: unknown): boolean;
}

const libs: ClientLib[] = [
  {
    name: "@nats-io/transport-node",
    connect: async (o) => (await v3.connect(o)) as unknown as Conn,
    headers: () => v3.headers() as unknown as Headers,
    isNoResponders: (err) =>
      err instanceof v3.errors.NoRespondersError || (err instanceof v3.errors.RequestError && err.isNoResponders()),
  },
  {
    name: "nats v2",
    connect: async (o) => (await v2.connect(o)) as unknown as Conn,
    headers: () => v2.headers() as unknown as Headers,
    isNoResponders: (err) => (err as { code?: string }).code === v2.ErrorCode.NoResponders,
  },
];

const text = new TextEncoder();
const str = (d: Uint8Array): string => new TextDecoder().decode(d);

for (const lib of libs) {
  describe(`core with ${lib.name}`, () => {
    let srv: TestServer;
    const open: Conn[] = [];
    const connect = async (extra: Record<string, unknown> = {}): Promise<Conn> => {
      const nc = await lib.connect({ servers: srv.url, ...extra });
      open.push(nc);
      return nc;
    };
    before(async () => {
      srv = await startTestServer();
    });
    after(async () => {
      await Promise.all(open.filter((c) => !c.isClosed()).map((c) => c.close()));
      await srv.close();
    });

    it("publishes and subscribes with wildcards, in order", async () => {
      const nc = await connect();
      const got: string[] = [];
      const sub = nc.subscribe("greet.*", { callback: (_e, m) => got.push(`${m.subject}:${m.string()}`) });
      const all = nc.subscribe("greet.>", { max: 2 });
      nc.publish("greet.a", "one");
      nc.publish("greet.b", text.encode("two"));
      nc.publish("greet.c.d", "three");
      nc.publish("greet.e", "");
      await nc.flush();
      await waitUntil(() => got.length === 3, 3000, "3 messages");
      assert.deepEqual(got, ["greet.a:one", "greet.b:two", "greet.e:"]);
      const viaIterator: string[] = [];
      for await (const m of all) viaIterator.push(m.subject);
      assert.deepEqual(viaIterator, ["greet.a", "greet.b"], "max:2 auto-unsubscribes");
      sub.unsubscribe();
    });

    it("request/reply, including many concurrent requests", async () => {
      const responder = await connect();
      responder.subscribe("svc.echo", { callback: (_e, m) => m.respond(`echo:${m.string()}`) });
      await responder.flush();
      const nc = await connect();
      const r = await nc.request("svc.echo", "hi", { timeout: 2000 });
      assert.equal(r.string(), "echo:hi");
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => nc.request("svc.echo", String(i), { timeout: 5000 })),
      );
      replies.forEach((m, i) => assert.equal(m.string(), `echo:${i}`));
    });

    it("queue subscribers share the messages, each delivered once", async () => {
      const members = await Promise.all([connect(), connect(), connect()]);
      const counts = [0, 0, 0];
      const seen = new Set<string>();
      members.forEach((nc, i) =>
        nc.subscribe("jobs", {
          queue: "workers",
          callback: (_e, m) => {
            counts[i]++;
            seen.add(m.string());
          },
        }),
      );
      await Promise.all(members.map((m) => m.flush()));
      const pub = await connect();
      for (let i = 0; i < 300; i++) pub.publish("jobs", String(i));
      await pub.flush();
      await waitUntil(() => counts.reduce((a, b) => a + b) >= 300, 5000, "300 jobs");
      await Promise.all(members.map((m) => m.flush()));
      assert.equal(counts.reduce((a, b) => a + b), 300);
      assert.equal(seen.size, 300);
      for (const c of counts) assert.ok(c > 0, `every member works: ${counts}`);
    });

    it("drain delivers what is in flight, then closes", async () => {
      const nc = await connect();
      let handled = 0;
      const sub = nc.subscribe("drain.me");
      const consumer = (async () => {
        for await (const _m of sub) {
          await new Promise((r) => setTimeout(r, 1));
          handled++;
        }
      })();
      await nc.flush();
      const pub = await connect();
      for (let i = 0; i < 50; i++) pub.publish("drain.me", String(i));
      await pub.flush();
      await waitUntil(() => sub.getProcessed() > 0, 3000, "first message");
      await nc.drain();
      await consumer;
      assert.equal(handled, 50);
      assert.equal(nc.isClosed(), true);
      await waitUntil(() => srv.server.globalAccount.sublist.all().every((s) => s.subject !== "drain.me"), 3000, "sub removed");
    });

    it("carries headers through publish and request/reply", async () => {
      const nc = await connect();
      const received: Msg[] = [];
      nc.subscribe("hdr.t", { callback: (_e, m) => received.push(m) });
      nc.subscribe("hdr.svc", {
        callback: (_e, m) => {
          const h = lib.headers();
          h.set("Reply-To-Id", m.headers?.get("Id") ?? "missing");
          m.respond("ok", { headers: h });
        },
      });
      await nc.flush();
      const h = lib.headers();
      h.set("Id", "42");
      h.append("Multi", "a");
      h.append("Multi", "b");
      nc.publish("hdr.t", "body", { headers: h });
      await nc.flush();
      await waitUntil(() => received.length === 1, 3000, "header message");
      assert.equal(received[0].headers?.get("Id"), "42");
      assert.deepEqual(received[0].headers?.values("Multi"), ["a", "b"]);
      assert.equal(received[0].string(), "body");
      const r = await nc.request("hdr.svc", "", { timeout: 2000, headers: h });
      assert.equal(r.headers?.get("Reply-To-Id"), "42");
      assert.equal(r.string(), "ok");
    });

    it("a request nobody listens to fails fast with no responders", async () => {
      const nc = await connect();
      const started = Date.now();
      await assert.rejects(nc.request("nobody.listens", "x", { timeout: 5000 }), (err: unknown) => {
        assert.ok(lib.isNoResponders(err), `no responders error, got ${String(err)}`);
        return true;
      });
      assert.ok(Date.now() - started < 2000, "answered by the server, not by the timeout");
    });

    it("moves 1 MB payloads intact", async () => {
      const nc = await connect();
      const big = randomBytes(1024 * 1024);
      nc.subscribe("big.echo", { callback: (_e, m) => m.respond(m.data) });
      let got: Uint8Array | undefined;
      nc.subscribe("big.t", { callback: (_e, m) => (got = m.data) });
      await nc.flush();
      nc.publish("big.t", big);
      await nc.flush();
      await waitUntil(() => got !== undefined, 5000, "1 MB message");
      assert.equal(Buffer.compare(Buffer.from(got as Uint8Array), big), 0);
      const r = await nc.request("big.echo", big, { timeout: 5000 });
      assert.equal(Buffer.compare(Buffer.from(r.data), big), 0);
    });

    it("delivers 100k small messages in order with none lost", async () => {
      const sub = await connect();
      const pub = await connect();
      const n = 100_000;
      let next = 0;
      let outOfOrder = 0;
      sub.subscribe("flood", {
        callback: (_e, m) => {
          if (Number(str(m.data)) !== next) outOfOrder++;
          next++;
        },
      });
      await sub.flush();
      for (let i = 0; i < n; i++) {
        pub.publish("flood", String(i));
        if (i % 10_000 === 9_999) await pub.flush();
      }
      await pub.flush();
      await waitUntil(() => next >= n, 30_000, "100k messages");
      await sub.flush();
      assert.equal(next, n);
      assert.equal(outOfOrder, 0);
    });

    it("reconnects after the server restarts on the same port and resumes subscriptions", async () => {
      const first = await startTestServer();
      const port = first.port;
      let second: TestServer | undefined;
      try {
        const nc = await lib.connect({ servers: first.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
        open.push(nc);
        const got: string[] = [];
        nc.subscribe("after.restart", { callback: (_e, m) => got.push(m.string()) });
        await nc.flush();
        let reconnected = false;
        void (async () => {
          for await (const s of nc.status()) if (s.type === "reconnect") reconnected = true;
        })();
        await first.close();
        second = await startTestServer({ port });
        await waitUntil(() => reconnected, 10_000, "reconnect");
        await nc.flush();
        const other = await lib.connect({ servers: second.url });
        other.publish("after.restart", "hello again");
        await other.flush();
        await other.close();
        await waitUntil(() => got.length === 1, 5000, "message after reconnect");
        assert.deepEqual(got, ["hello again"]);
        await nc.close();
      } finally {
        await second?.close();
      }
    });
  });
}
