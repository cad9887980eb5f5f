// The steps of the replicated mirror/source tests (js_cluster_sources, and the same steps on
// nats-server 2.15 in js_cluster_sources_vs_nats_server): an R3 origin, an R3 mirror and an R3
// source, leader changes of each while publishing, a purge, a work-queue origin; and what clients
// must see afterwards.
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { clusterApi as api, clusterPublish as publish } from "./cluster_retry.js";


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000, last?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last !== undefined ? ` (${last()})` : ""}`);
    await sleep(250);
  }
}

/** Every message of a stream as a client reads it: "seq subject data". */
async function read(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m !== null) out.push(`${m.seq} ${m.subject} ${m.string()}`);
    } catch {
      // a deleted sequence
    }
  }
  return out;
}

async function msgs(jsm: JetStreamManager, stream: string): Promise<number> {
  try {
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return -1;
  }
}

async function leader(nc: NatsConnection, stream: string): Promise<string> {
  return ((await api(nc, `$JS.API.STREAM.INFO.${stream}`)) as { cluster?: { leader?: string } }).cluster?.leader ?? "";
}

/** STREAM.LEADER.STEPDOWN until another member leads (an election may give it back to the same one). */
async function stepDown(nc: NatsConnection, stream: string): Promise<void> {
  const before = await leader(nc, stream);
  for (let attempt = 1; ; attempt++) {
    const a = await api(nc, `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`);
    assert.equal(a.success, true, JSON.stringify(a));
    try {
      await until(
        async () => {
          const now = await leader(nc, stream);
          return now !== "" && now !== before;
        },
        `a new leader of ${stream}`,
        15_000,
      );
      return;
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}

export async function sourcesScenario(urls: string[], eachMember?: (stream: string, expect: number) => Promise<void>, debug?: () => string): Promise<Record<string, unknown>> {
  const ncs: NatsConnection[] = [];
  try {
    for (const u of urls) ncs.push(await connect({ servers: u }));
    const nc = ncs[0];
    await until(async () => (await api(nc, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"], num_replicas: 3 })).error === undefined, "the origin");
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const created: Record<string, unknown> = {};
    for (const [name, cfg] of [
      ["M", { name: "M", mirror: { name: "O" }, num_replicas: 3 }],
      ["SRC", { name: "SRC", subjects: ["src.>"], sources: [{ name: "O" }], num_replicas: 3 }],
    ] as const) {
      const a = (await api(ncs[1], `$JS.API.STREAM.CREATE.${name}`, cfg)) as { config?: { num_replicas?: number }; error?: unknown };
      created[name] = a.error ?? a.config?.num_replicas;
    }
    for (let i = 1; i <= 30; i++) await publish(ncs[i % 3], `o.${i % 4}`, `a${i}`);
    await until(async () => (await msgs(jsm, "M")) === 30 && (await msgs(jsm, "SRC")) === 30, "30 copies");
    await eachMember?.("M", 30);
    await eachMember?.("SRC", 30);

    // The copies' leaders change (and the origin's): copying goes on from where it was.
    await stepDown(ncs[2], "M");
    await stepDown(ncs[2], "SRC");
    for (let i = 31; i <= 45; i++) await publish(ncs[i % 3], `o.${i % 4}`, `a${i}`);
    await stepDown(ncs[1], "O");
    for (let i = 46; i <= 60; i++) await publish(ncs[i % 3], `o.${i % 4}`, `a${i}`);
    await stepDown(ncs[0], "SRC");
    let counts = "";
    await until(
      async () => {
        const [m, src] = [await msgs(jsm, "M"), await msgs(jsm, "SRC")];
        counts = `M ${m}, SRC ${src}${debug !== undefined ? ` ${debug()}` : ""}`;
        return m === 60 && src === 60;
      },
      "60 copies",
      60_000,
      () => counts,
    );
    await eachMember?.("M", 60);
    await eachMember?.("SRC", 60);
    const origin = await read(jsm, "O");
    const mirror = await read(jsm, "M");
    const sourced = (await read(jsm, "SRC")).map((l) => l.split(" ").slice(1).join(" "));

    // A purge hides the headers that say how far the source got: a new leader still resumes there.
    await jsm.streams.purge("SRC");
    await stepDown(ncs[1], "SRC");
    for (let i = 61; i <= 70; i++) await publish(ncs[i % 3], `o.${i % 4}`, `a${i}`);
    let n = 0;
    await until(async () => (n = await msgs(jsm, "SRC")) === 10, "10 copies after the purge", 60_000, () => `${n} held`);
    // Nothing more comes (no duplicates of what was purged).
    await publish(nc, "o.0", "a71");
    await until(async () => (await msgs(jsm, "SRC")) === 11, "11 copies");
    await eachMember?.("SRC", 11);
    const afterPurge = (await read(jsm, "SRC")).map((l) => l.split(" ").slice(1).join(" "));
    const info = await jsm.streams.info("SRC");

    // A work-queue origin: its messages leave once the R3 copy confirmed them (flow control
    // answered after the copies are committed), across a leader change of the copy.
    await api(nc, "$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["w.>"], retention: "workqueue", num_replicas: 3 });
    await api(ncs[2], "$JS.API.STREAM.CREATE.WS", { name: "WS", subjects: ["ws.>"], sources: [{ name: "W" }], num_replicas: 3 });
    for (let i = 1; i <= 10; i++) await publish(ncs[i % 3], "w.x", `w${i}`);
    await until(async () => (await msgs(jsm, "WS")) === 10, "10 work-queue copies");
    await stepDown(ncs[0], "WS");
    for (let i = 11; i <= 20; i++) await publish(ncs[i % 3], "w.x", `w${i}`);
    let work = "";
    await until(
      async () => {
        const [ws, w] = [await msgs(jsm, "WS"), await msgs(jsm, "W")];
        work = `WS ${ws}, W ${w}${debug !== undefined ? ` ${debug()}` : ""}`;
        return ws === 20 && w === 0;
      },
      "20 work-queue copies, the origin emptied",
      60_000,
      () => work,
    );
    await eachMember?.("WS", 20);
    const workCopies = (await read(jsm, "WS")).map((l) => l.split(" ").slice(2).join(" "));
    for (const s of ["M", "SRC", "O", "WS", "W"]) await jsm.streams.delete(s);
    return {
      created,
      mirrorIsOrigin: JSON.stringify(mirror) === JSON.stringify(origin),
      sourcedInOrder: JSON.stringify(sourced) === JSON.stringify(origin.map((l) => l.split(" ").slice(1).join(" "))),
      sourcedCount: sourced.length,
      afterPurge,
      workCopies,
      sourceInfo: info.sources?.map((s) => ({ name: s.name, lag: s.lag, seq: (s as unknown as { seq?: number }).seq })),
    };
  } finally {
    for (const n of ncs) await n.close();
  }
}


/** What clients see on a cluster that copies right (tsnats and nats-server 2.15 alike). */
export function assertSourcesOutcome(r: Record<string, unknown>): void {
  assert.deepEqual(r.created, { M: 3, SRC: 3 });
  assert.equal(r.mirrorIsOrigin, true, "the mirror is the origin, sequence for sequence");
  assert.equal(r.sourcedInOrder, true, "the source copied every origin message once, in order");
  assert.equal(r.sourcedCount, 60);
  assert.deepEqual(
    r.afterPurge,
    Array.from({ length: 11 }, (_, i) => (i === 10 ? "o.0 a71" : `o.${(61 + i) % 4} a${61 + i}`)),
  );
  assert.deepEqual(
    r.workCopies,
    Array.from({ length: 20 }, (_, i) => `w${i + 1}`),
  );
  assert.deepEqual(r.sourceInfo, [{ name: "O", lag: 0, seq: 71 }]);
}
