// Scales stack, as in nats-server 2.15: an R3 stream scaled to R1 and at once back to R3 (while
// its group still removes servers one at a time) is accepted and ends as R3 with every message
// on three current servers; one more scale to R5 on three servers is refused for want of
// servers, not as a move in progress. Compared with a cluster of three nats-server 2.15.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { clusterApi, clusterPublish, createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { waitUntil } from "./helpers/server.js";

type Json = Record<string, any>;
const said = (a: Json): string => (a.error !== undefined ? `${a.error.code} ${a.error.err_code} ${a.error.description}` : `replicas ${a.config?.num_replicas}`);

async function scenario(c: RefJsCluster): Promise<string[]> {
  const nc = await connect({ servers: c.urls });
  try {
    const cfg = { name: "S", subjects: ["s.>"], num_replicas: 3 };
    const out = [`create: ${said(await createStreamWhenPlaced(nc, cfg))}`];
    for (let i = 0; i < 20; i++) await clusterPublish(nc, "s.x", `m${i}`);
    out.push(`to R1: ${said(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 }))}`);
    out.push(`to R3 at once: ${said(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 3 }))}`);
    out.push(`to R5: ${said(await clusterApi(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 5 }))}`);
    let info: Json = {};
    await waitUntil(
      async () => {
        info = await clusterApi(nc, "$JS.API.STREAM.INFO.S");
        const replicas = (info.cluster?.replicas ?? []) as Json[];
        return info.cluster?.leader !== undefined && replicas.length === 2 && replicas.every((r) => r.current === true) && info.cluster?.desired === undefined;
      },
      30_000,
      "S on three current servers",
    ).catch(() => undefined);
    out.push(`settled: replicas ${info.config?.num_replicas}, messages ${info.state?.messages}, others ${(info.cluster?.replicas ?? []).length}`);
    return out;
  } finally {
    await nc.close();
  }
}

const expected = [
  "create: replicas 3",
  "to R1: replicas 1",
  "to R3 at once: replicas 3",
  "to R5: 400 10005 no suitable peers for placement",
  "settled: replicas 3, messages 20, others 2",
];

test("an R3 stream scaled to R1 and at once back to R3: accepted, three current servers with every message (tsnats)", { timeout: 120_000 }, async () => {
  assert.deepEqual(await onRefJsCluster(3, "X", "tsnats", scenario), expected);
});

test("the same steps on nats-server 2.15", { timeout: 120_000 }, async (t) => {
  const theirs = await onRefJsCluster(3, "X", "2.15", scenario);
  if (theirs === undefined) return t.skip("nats-server 2.15 not installed");
  assert.deepEqual(theirs, expected);
});
