// Stream placement in a JetStream cluster honours each server's store limits (max_file_store,
// max_mem_store), as nats-server 2.15: a stream's max_bytes goes only to servers where it fits
// beside what the streams placed there reserve, or the create is refused with "no suitable peers
// for placement, insufficient storage" (10005) and nothing is assigned. Before, the meta leader
// placed it anyway, the server refused it (10047) and STREAM.NAMES kept listing it. Creates at
// once are placed counting each other. The same steps run on tsnats and nats-server 2.15
// processes with the same configuration files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi as api, type ClusterAnswer } from "./helpers/cluster_retry.js";

const MB = 1024 * 1024;

/** An answer as compared: the error, or "created". */
function outcome(a: ClusterAnswer): unknown {
  return a.error !== undefined ? { code: a.error.code, err_code: a.error.err_code, description: a.error.description } : "created";
}

async function steps(urls: string[]): Promise<Record<string, unknown>> {
  const nc = await connect({ servers: urls[0] });
  const out: Record<string, unknown> = {};
  try {
    const create = async (name: string, cfg: Record<string, unknown>): Promise<void> => {
      out[name] = outcome(await api(nc, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [name.toLowerCase()], ...cfg }));
    };
    // Larger than any server's store: nowhere to go.
    await create("A", { max_bytes: 2 * MB });
    await create("B", { max_bytes: 2 * MB, num_replicas: 3 });
    await create("H", { max_bytes: 2 * MB, storage: "memory" });
    // 600 KiB fits once on each of the three servers.
    for (const n of ["C", "D", "E", "F"]) await create(n, { max_bytes: 600 * 1024 });
    await create("G", { max_bytes: 600 * 1024, num_replicas: 3 });
    // What is left on each server (424 KiB) takes this one.
    await create("I", { max_bytes: 400 * 1024, num_replicas: 3 });
    // The answer comes once the assignment is settled: listed when created, not when refused.
    out.names = (((await api(nc, "$JS.API.STREAM.NAMES")) as { streams?: string[] | null }).streams ?? []).sort();
    return out;
  } finally {
    await nc.close();
  }
}

test("stream placement honours the servers' store limits: refused creates are answered 10005 and not listed, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const jetstream = "max_file_store: 1MB, max_mem_store: 1MB";
  const ours = await startRefJsCluster(3, "PS", { jetstream, line: "tsnats" });
  let mine: Record<string, unknown>;
  try {
    mine = await steps(ours!.urls);
    // Creates at once count each other (nats-server 2.15 counts only the streams its servers
    // reported, so two of four such creates can land on one server there): three fit, on three
    // servers, the fourth is refused and not listed.
    const nc = await connect({ servers: ours!.urls[1] });
    try {
      for (const n of ["C", "D", "E", "I"]) assert.equal((await api(nc, `$JS.API.STREAM.DELETE.${n}`)).success, true);
      const many = await Promise.all(["P", "Q", "R", "S"].map((n) => api(nc, `$JS.API.STREAM.CREATE.${n}`, { name: n, subjects: [n.toLowerCase()], max_bytes: 600 * 1024 })));
      const created = many.filter((a) => a.error === undefined).map((a) => (a as { config?: { name?: string }; cluster?: { leader?: string } }));
      assert.equal(created.length, 3, JSON.stringify(many));
      assert.equal(new Set(created.map((a) => a.cluster?.leader)).size, 3, "one on each server");
      assert.deepEqual(many.filter((a) => a.error !== undefined).map((a) => a.error?.err_code), [10005]);
      const listed = ((await api(nc, "$JS.API.STREAM.NAMES")) as { streams?: string[] }).streams ?? [];
      assert.deepEqual(listed.sort(), created.map((a) => a.config?.name ?? "").sort());
      // Every server reserved to its last byte; a stream without max_bytes is placed (it reserves
      // nothing) and refused by its server (tsnats counts it a byte there): the assignment goes,
      // and the error answer comes after that, so the next listing does not show it.
      for (const n of ["T", "U", "V"]) assert.equal((await api(nc, `$JS.API.STREAM.CREATE.${n}`, { name: n, subjects: [n.toLowerCase()], max_bytes: MB - 600 * 1024 })).error, undefined);
      const y = await api(nc, "$JS.API.STREAM.CREATE.Y", { name: "Y", subjects: ["y"] });
      assert.equal(y.error?.err_code, 10047, JSON.stringify(y));
      const after = ((await api(nc, "$JS.API.STREAM.NAMES")) as { streams?: string[] }).streams ?? [];
      assert.equal(after.includes("Y"), false, JSON.stringify(after));
      assert.equal(after.length, 6, JSON.stringify(after));
    } finally {
      await nc.close();
    }
  } finally {
    await ours!.stop();
  }
  const noRoom = { code: 400, err_code: 10005, description: "no suitable peers for placement, insufficient storage" };
  assert.deepEqual(mine, { A: noRoom, B: noRoom, H: noRoom, C: "created", D: "created", E: "created", F: noRoom, G: noRoom, I: "created", names: ["C", "D", "E", "I"] });
  const ref = await startRefJsCluster(3, "PS", { jetstream });
  if (ref === undefined) return;
  try {
    assert.deepEqual(mine, await steps(ref.urls), "what clients see is what nats-server 2.15 shows");
  } finally {
    await ref.stop();
  }
});
