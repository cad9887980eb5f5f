// server_tags and JetStream placement by tags: the tags a server reports (/varz, $SYS server
// info), streams placed on the servers carrying the tags asked for, `unique_tag` keeping a
// stream's replicas in different zones, and nats-server 2.15's refusals when no placement fits.
// The cluster steps run on tsnats and on a nats-server 2.15 cluster with the same tags, and
// what clients see must be the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { JsTestCluster } from "./helpers/js_cluster.js";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { optionsFromText } from "./helpers/config_server.js";

// Zones az:1 and az:2; two servers with ssd disks, one with hdd.
const TAGS = [["az:1", "ssd"], ["az:2", "ssd"], ["az:2", "hdd"]];

/** One tagged stream request: where it went (server indexes, leader first... sorted) or the error. */
type Outcome = { servers: number[] } | { code: number; description: string };

async function placements(urls: string[], names: string[]): Promise<Record<string, Outcome>> {
  const nc = await connect({ servers: urls[0] });
  try {
    // A cluster just started answers no JetStream request until its meta leader is elected
    // (nats-server drops them): ask again until one is answered.
    let ready: JetStreamManager | undefined;
    for (let i = 0; ready === undefined; i++) {
      try {
        ready = await jetstreamManager(nc, { timeout: 2_000 });
      } catch (err) {
        if (i >= 15) throw err;
      }
    }
    // A replicated stream's create is answered once its group elected a leader: give it time.
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const out: Record<string, Outcome> = {};
    const tryAdd = async (label: string, cfg: { name: string; num_replicas: number; placement?: { tags: string[] } }): Promise<void> => {
      try {
        // Placement without a cluster, as natscli sends it (nats.js' type asks for one).
        const si = await jsm.streams.add({ subjects: [`${cfg.name}.>`], ...(cfg as Partial<StreamConfig>), name: cfg.name });
        const servers = [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)].map((n) => names.indexOf(n)).sort();
        out[label] = { servers };
      } catch (err) {
        if (!(err instanceof JetStreamApiError)) throw err;
        // nats-server lists unmatched tags in no fixed order: compare them sorted.
        const description = err.message.replace(/\[([^\]]*)\]/, (_all, list: string) => `[${list.split(", ").sort().join(", ")}]`);
        out[label] = { code: err.code, description };
      }
    };
    await tryAdd("hdd R1", { name: "HDD", num_replicas: 1, placement: { tags: ["hdd"] } });
    await tryAdd("upper-case tag", { name: "UPPER", num_replicas: 1, placement: { tags: ["HDD"] } });
    await tryAdd("ssd R2 in two zones", { name: "SSD", num_replicas: 2, placement: { tags: ["ssd"] } });
    await tryAdd("az:2 R2 in one zone", { name: "AZ2", num_replicas: 2, placement: { tags: ["az:2"] } });
    await tryAdd("no server with both", { name: "BOTH", num_replicas: 1, placement: { tags: ["ssd", "hdd"] } });
    await tryAdd("R3 over two zones", { name: "R3", num_replicas: 3 });
    return out;
  } finally {
    await nc.close();
  }
}

test("placement by server tags and unique_tag, as a nats-server 2.15 cluster places", { timeout: 90_000 }, async () => {
  const names = ["S1", "S2", "S3"];
  const c = await JsTestCluster.start(3, "TAGS", { serverTags: { S1: TAGS[0], S2: TAGS[1], S3: TAGS[2] }, uniqueTag: "az:" });
  let ours: Record<string, Outcome>;
  try {
    await c.metaLeader();
    ours = await placements(c.members.map((m) => m.url), names);
  } finally {
    await c.stop();
  }
  assert.deepEqual(ours["hdd R1"], { servers: [2] });
  assert.deepEqual(ours["upper-case tag"], { servers: [2] });
  assert.deepEqual(ours["ssd R2 in two zones"], { servers: [0, 1] });
  assert.deepEqual(ours["no server with both"], { code: 10005, description: "no suitable peers for placement, tags not matched ['hdd', 'ssd']" });
  assert.deepEqual(ours["R3 over two zones"], { code: 10005, description: "no suitable peers for placement, server tag not unique" });
  // Naming a zone in the placement turns unique_tag off for that stream.
  assert.deepEqual(ours["az:2 R2 in one zone"], { servers: [1, 2] });

  const ref = await startRefJsCluster(3, "TAGS", { serverTags: TAGS, uniqueTag: "az:" });
  if (ref === undefined) return;
  try {
    const theirs = await placements(ref.urls, ["N1", "N2", "N3"]);
    assert.deepEqual(ours, theirs, "placement as nats-server 2.15 places");
  } finally {
    await ref.stop();
  }
});

test("server_tags are kept lower case and trimmed, shown in /varz with jetstream unique_tag, as nats-server 2.15", async () => {
  const conf = 'server_tags: ["AZ:1", " SSD ", "ssd", ""]\njetstream { unique_tag: "AZ:" }\n';
  const o = optionsFromText(conf);
  assert.deepEqual(o.serverTags, ["az:1", "ssd"]);
  assert.equal(o.jetstream.uniqueTag, "az:");
  assert.deepEqual(optionsFromText('server_tags: "A, b"\n').serverTags, ["a, b"]);
  // "[1]" is a parse error in 2.15 (a number runs into the "]"); with a space the 1 is read.
  assert.throws(() => optionsFromText("server_tags: [1 ]\n"), /error parsing tags: unsupported type \*conf\.token where string is expected/);
  assert.throws(() => optionsFromText("server_tags: 5\n"), /error parsing tags: unsupported type int64/);

  const lines = referenceBinary("2.15") !== undefined ? (["tsnats", "2.15"] as const) : (["tsnats"] as const);
  const seen: unknown[] = [];
  for (const line of lines) {
    const srv = await startNatsServer(["-js", "-m", "-1"], conf, line);
    try {
      const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as { tags?: string[]; jetstream?: { config?: { unique_tag?: string } } };
      seen.push({ tags: varz.tags, unique_tag: varz.jetstream?.config?.unique_tag });
    } finally {
      await srv.stop();
    }
  }
  assert.deepEqual(seen[0], { tags: ["az:1", "ssd"], unique_tag: "az:" });
  if (seen.length === 2) assert.deepEqual(seen[0], seen[1], "as nats-server 2.15 shows them");
});
