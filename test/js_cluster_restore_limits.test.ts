// STREAM.RESTORE in a JetStream cluster is checked against the account's limits over the whole
// cluster before it is placed, as a create is and as nats-server 2.15 does: a restore past
// max_streams is refused with 10027, one whose max_bytes (an R3's times its replicas, untiered)
// passes the account's storage with 10047, at once, and nothing is left assigned. Before, the
// restore skipped them (a third stream of a max_streams 2 account was restored, and a max_bytes
// past max_file). The same steps run on tsnats and nats-server 2.15 processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { clusterApi, type ClusterAnswer } from "./helpers/cluster_retry.js";
import { startOperatorCluster, type OperatorClusterKind } from "./helpers/operator_cluster.js";
import { takeSnapshot, restoreSnapshot } from "./helpers/snapshot.js";

const common =
  "accounts {\n" +
  "  L: { jetstream: { max_file: 20000, max_streams: 2 }, users: [{ user: l, password: l }] }\n" +
  "  SYS: { users: [{ user: sys, password: sys }] }\n" +
  "}\nsystem_account: SYS\n";

const gist = (a: ClusterAnswer & { type?: string }): string => (a.error !== undefined ? `${a.type} ${a.error.err_code} ${a.error.code} ${a.error.description}` : "ok");

/**
 * `firstPublishWaitMs`: how long the first message to S1 is sent again while it finds no
 * responder. tsnats gets 0 (the stream's server subscribes before it answers the create, on the
 * same route); nats-server 2.15 can answer before the stream's interest reached the client's
 * server (1 run of 11 failed on its side with "no responders" here, at load ~15).
 */
async function steps(port: number, firstPublishWaitMs: number): Promise<string[]> {
  const nc = await connect({ port, user: "l", pass: "l" });
  const out: string[] = [];
  try {
    const cfg = (name: string, more: Record<string, unknown> = {}): Record<string, unknown> => ({ name, subjects: [name.toLowerCase()], max_bytes: 5000, ...more });
    out.push(`create S1: ${gist(await clusterApi(nc, "$JS.API.STREAM.CREATE.S1", cfg("S1")))}`);
    // A message that found no responder was not stored: sending it again doubles nothing.
    const deadline = Date.now() + firstPublishWaitMs;
    for (;;) {
      try {
        await nc.request("s1", "hello", { timeout: 10_000 });
        break;
      } catch (err) {
        if (Date.now() > deadline || !/no responders/i.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (let i = 1; i < 3; i++) await nc.request("s1", "hello", { timeout: 10_000 });
    const snap = await takeSnapshot(nc, "S1");
    assert.equal(snap.resp.error, undefined, JSON.stringify(snap.resp.error));
    // nats-server 2.15 answers a restore before the chunk subject's interest reaches every server: its first chunk may be sent again.
    const restore = async (what: string, c: Record<string, unknown>): Promise<void> => {
      out.push(`restore ${what}: ${gist(await restoreSnapshot(nc, c, snap.data, 64 * 1024, {}, 10_000))}`);
    };
    await restore("S2, the second stream", cfg("S2"));
    await restore("S3, a third stream", cfg("S3"));
    out.push(`create S3: ${gist(await clusterApi(nc, "$JS.API.STREAM.CREATE.S3", cfg("S3")))}`);
    out.push(`delete S2: ${gist(await clusterApi(nc, "$JS.API.STREAM.DELETE.S2"))}`);
    await restore("S4 R1 max_bytes 16000 (21000 of 20000)", cfg("S4", { max_bytes: 16000 }));
    await restore("S5 R3 max_bytes 6000 (18000 + 5000 of 20000)", cfg("S5", { max_bytes: 6000, num_replicas: 3 }));
    out.push(`names: ${JSON.stringify((await clusterApi(nc, "$JS.API.STREAM.NAMES")).streams)}`);
    // A refused restore leaves its name free.
    out.push(`create S4 with room: ${gist(await clusterApi(nc, "$JS.API.STREAM.CREATE.S4", cfg("S4", { max_bytes: 1000 })))}`);
    await restore("S5 R3 max_bytes 4000, a third stream", cfg("S5", { max_bytes: 4000, num_replicas: 3 }));
    out.push(`delete S4: ${gist(await clusterApi(nc, "$JS.API.STREAM.DELETE.S4"))}`);
    await restore("S5 R3 max_bytes 4000 (12000 + 5000 of 20000)", cfg("S5", { max_bytes: 4000, num_replicas: 3 }));
    out.push(`names: ${JSON.stringify(((await clusterApi(nc, "$JS.API.STREAM.NAMES")).streams as string[]).sort())}`);
    return out;
  } finally {
    await nc.close();
  }
}

async function run(kind: OperatorClusterKind): Promise<string[] | undefined> {
  const servers = await startOperatorCluster(kind, common);
  if (servers === undefined) return undefined;
  try {
    return await steps(servers[1].port, kind === "2.15" ? 10_000 : 0);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

test("a restore in a cluster is checked against the account's limits over every server, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const ours = (await run("tsnats-process"))!;
  assert.deepEqual(ours, [
    "create S1: ok",
    "restore S2, the second stream: ok",
    "restore S3, a third stream: io.nats.jetstream.api.v1.stream_restore_response 10027 400 maximum number of streams reached",
    "create S3: io.nats.jetstream.api.v1.stream_create_response 10027 400 maximum number of streams reached",
    "delete S2: ok",
    "restore S4 R1 max_bytes 16000 (21000 of 20000): io.nats.jetstream.api.v1.stream_restore_response 10047 500 insufficient storage resources available",
    "restore S5 R3 max_bytes 6000 (18000 + 5000 of 20000): io.nats.jetstream.api.v1.stream_restore_response 10047 500 insufficient storage resources available",
    'names: ["S1"]',
    "create S4 with room: ok",
    "restore S5 R3 max_bytes 4000, a third stream: io.nats.jetstream.api.v1.stream_restore_response 10027 400 maximum number of streams reached",
    "delete S4: ok",
    "restore S5 R3 max_bytes 4000 (12000 + 5000 of 20000): ok",
    'names: ["S1","S5"]',
  ]);
  const theirs = await run("2.15");
  if (theirs !== undefined) assert.deepEqual(ours, theirs, "what clients see is what nats-server 2.15 shows");
});
