// The sublist caches match results per published subject; subscribing or unsubscribing must
// drop exactly the cached results it changes. A literal subscription changes only its own
// subject's result, a wildcard one every subject it matches: checked through real clients,
// publishing before and after each change so the cache is warm when it changes.
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { startTestServer, waitUntil, type TestServer } from "./helpers/server.js";

describe("core: sublist cache invalidation", () => {
  let srv: TestServer;
  let pub: NatsConnection;
  let subConn: NatsConnection;
  before(async () => {
    srv = await startTestServer();
    pub = await connect({ servers: srv.url });
    subConn = await connect({ servers: srv.url });
  });
  after(async () => {
    await pub.close();
    await subConn.close();
    await srv.close();
  });

  /** Count deliveries per subscription name. */
  const got = new Map<string, number>();
  function track(name: string, subject: string, queue?: string): Subscription {
    got.set(name, 0);
    return subConn.subscribe(subject, { queue, callback: () => {
        got.set(name, (got.get(name) ?? 0) + 1);
      },
    });
  }
  /** Publish `subjects` once each and wait until `expected` deliveries arrived in total. */
  async function round(subjects: string[], expected: Record<string, number>): Promise<void> {
    for (const k of got.keys()) got.set(k, 0);
    await subConn.flush();
    for (const s of subjects) pub.publish(s, "x");
    await pub.flush();
    const want = Object.values(expected).reduce((a, b) => a + b, 0);
    await waitUntil(() => [...got.values()].reduce((a, b) => a + b, 0) >= want, 5000, `${want} deliveries`);
    // One more round trip through both connections: nothing further may arrive.
    await pub.flush();
    await subConn.flush();
    assert.deepEqual(Object.fromEntries([...got].filter(([, n]) => n > 0)), expected);
  }

  it("literal and wildcard subscriptions come and go while results are cached", async () => {
    const star = track("star", "c.*");
    await round(["c.a", "c.b", "c.a"], { star: 3 });
    // A literal subscription on a cached subject: that subject's result changes, c.b's does not.
    const lit = track("lit", "c.a");
    await round(["c.a", "c.b"], { star: 2, lit: 1 });
    // A second literal on another subject, and a queue group on the first.
    const litB = track("litB", "c.b");
    const q = track("q", "c.a", "workers");
    await round(["c.a", "c.b", "c.c"], { star: 3, lit: 1, litB: 1, q: 1 });
    // Unsubscribing a literal drops only its own result.
    lit.unsubscribe();
    await round(["c.a", "c.b"], { star: 2, litB: 1, q: 1 });
    q.unsubscribe();
    await round(["c.a", "c.b"], { star: 2, litB: 1 });
    // A wildcard going away drops every result it was part of.
    star.unsubscribe();
    await round(["c.a", "c.b", "c.c"], { litB: 1 });
    // And a new wildcard joins results cached without it.
    const full = track("full", "c.>");
    await round(["c.a", "c.b", "c.c.d"], { litB: 1, full: 3 });
    litB.unsubscribe();
    full.unsubscribe();
    await round(["c.a"], {});
  });

  it("a level's literal tokens are found as they grow past a few and shrink back, on every level", async () => {
    // Up to four literal tokens of a level are compared in place, more are looked up by a cut
    // token: both ways must find the same subscriptions, at the first, a middle and the last
    // token, for subjects that share a prefix with a sibling ("ab" next to "abc").
    const names = ["ab", "abc", "b", "ba", "c", "d"];
    const subs = names.map((n) => track(`last.${n}`, `few.x.${n}`));
    const mids = names.map((n) => track(`mid.${n}`, `few.${n}.y`));
    const firsts = names.slice(0, 2).map((n) => track(`first.${n}`, `${n}.few`));
    const all = (ns: string[]): Record<string, number> => Object.fromEntries(ns.flatMap((n) => [[`last.${n}`, 1], [`mid.${n}`, 1]]));
    const published = (ns: string[]): string[] => ns.flatMap((n) => [`few.x.${n}`, `few.${n}.y`]).concat(["few.x.a", "few.a.y", "few.x.abcd", "few.abcd.y"]);
    await round(published(names).concat(["ab.few", "abc.few", "a.few"]), { ...all(names), "first.ab": 1, "first.abc": 1 });
    // Six literals on the level: two go, four are left (in place again), then two more.
    for (const i of [5, 4]) {
      subs[i].unsubscribe();
      mids[i].unsubscribe();
    }
    await round(published(names), all(names.slice(0, 4)));
    for (const i of [0, 2]) {
      subs[i].unsubscribe();
      mids[i].unsubscribe();
    }
    await round(published(names), all(["abc", "ba"]));
    firsts[1].unsubscribe();
    await round(["ab.few", "abc.few"], { "first.ab": 1 });
    for (const i of [1, 3]) {
      subs[i].unsubscribe();
      mids[i].unsubscribe();
    }
    firsts[0].unsubscribe();
    await round(published(names), {});
  });

  it("reply subjects, matched afresh every time, follow the subscriptions of their trie node", async () => {
    // `_INBOX.<id>.<token>` subjects skip the cache; a match that finds one node's plain
    // subscriptions alone keeps its result on that node, which must change with them.
    const a = track("a", "_INBOX.r.*");
    await round(["_INBOX.r.1", "_INBOX.r.2"], { a: 2 });
    const b = track("b", "_INBOX.r.*");
    await round(["_INBOX.r.3"], { a: 1, b: 1 });
    const all = track("all", "_INBOX.>");
    await round(["_INBOX.r.4"], { a: 1, b: 1, all: 1 });
    b.unsubscribe();
    await round(["_INBOX.r.5"], { a: 1, all: 1 });
    all.unsubscribe();
    await round(["_INBOX.r.6", "_INBOX.r.7"], { a: 2 });
    const lit = track("lit", "_INBOX.r.8");
    await round(["_INBOX.r.8", "_INBOX.r.9"], { a: 2, lit: 1 });
    a.unsubscribe();
    await round(["_INBOX.r.8", "_INBOX.r.9"], { lit: 1 });
    lit.unsubscribe();
    await round(["_INBOX.r.8"], {});
  });

  it("a closed connection's subscriptions leave the cached results", async () => {
    const clientsBefore = srv.server.clients.size;
    const other = await connect({ servers: srv.url });
    let n = 0;
    other.subscribe("gone.a", { callback: () => void n++ });
    other.subscribe("gone.*", { callback: () => void n++ });
    await other.flush();
    const watcher = track("watch", "gone.a");
    await round(["gone.a"], { watch: 1 });
    assert.equal(n, 2);
    await other.close();
    await waitUntil(() => srv.server.clients.size === clientsBefore, 5000, "the connection to close");
    await round(["gone.a", "gone.a"], { watch: 2 });
    watcher.unsubscribe();
  });
});
