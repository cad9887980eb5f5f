// A single-replica durable whose server was away while its stream scaled down to one replica
// (past the kept server's wait: the stream's group ended) is handed over by its server on its
// return, until the kept server answers (issue #12). Those hand-overs are all that is left of
// the durable once the returning server removed its copy's files: they are kept on its disk
// first (pending_handovers.ts). Here the returning server is killed (SIGKILL) right after it
// removed its copy, while the kept server is down (nothing answered yet); restarted, it sends the
// hand-over again and the durable comes to the kept server with its state. Before, the durable
// was lost. Three tsnats server processes (the same configuration files as nats-server's
// cluster in ref_js_cluster.ts), driven by nats.js; what is on disk is read from their stores.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { once } from "node:events";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startRefJsCluster } from "./helpers/ref_js_cluster.js";
import { clusterApi, clusterPublish } from "./helpers/cluster_retry.js";
import { consume, consumerLine, infoWithLeader, type Info } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";
import { streamGroupName } from "../src/jetstream/stream_replica.js";

test("R3 -> R1 past the group's end, the durable's server killed (SIGKILL) after it dropped its copy, before the kept server (down) answered: restarted, it hands the durable over with its state", { timeout: 180_000 }, async () => {
  const c = await startRefJsCluster(3, "X", { line: "tsnats" });
  assert.ok(c !== undefined);
  const index = (server: string): number => Number(server.slice(1)) - 1;
  const jsDir = (server: string): string => path.join(c.storeOf(index(server)), "jetstream", "$G");
  const owed = (server: string): string => path.join(jsDir(server), "handovers", streamGroupName("$G", "S"), "pending.json");
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: c.urls });
    const cfg = { name: "S", subjects: ["s.>"], num_replicas: 3 };
    const made = await clusterApi<Info>(nc, "$JS.API.STREAM.CREATE.S", cfg);
    assert.equal(made.error, undefined, JSON.stringify(made.error));
    for (let i = 1; i <= 20; i++) await clusterPublish(nc, "s.x", `m${i}`);
    let leader = "";
    await waitUntil(async () => (leader = (await clusterApi<Info>(nc!, "$JS.API.STREAM.INFO.S")).cluster?.leader ?? "") !== "", 30_000, "S has a leader");
    // An R1 durable off the stream's leader (the server the scale-down keeps).
    let name = "";
    let holder = "";
    for (let i = 0; holder === "" || holder === leader; i++) {
      assert.ok(i < 40, "an R1 durable placed off the stream's leader");
      name = `D${i}`;
      const d: Info = await clusterApi<Info>(nc, `$JS.API.CONSUMER.CREATE.S.${name}`, { stream_name: "S", config: { durable_name: name, num_replicas: 1, ack_policy: "explicit", ack_wait: 120e9 } });
      assert.equal(d.error, undefined, JSON.stringify(d.error));
      holder = d.cluster?.leader ?? "";
    }
    assert.deepEqual(await consume(nc, "S", name, 5), [1, 2, 3, 4, 5]);
    await waitUntil(async () => consumerLine(await infoWithLeader(nc!, "S", name)).endsWith("ack floor 5"), 20_000, `${name}: 5 acknowledged`);
    const third = ["N1", "N2", "N3"].find((n) => n !== leader && n !== holder)!;
    await nc.close();
    nc = await connect({ servers: [c.urls[index(leader)], c.urls[index(third)]] });
    await c.stopServer(index(holder));

    const down = await clusterApi<Info>(nc, "$JS.API.STREAM.UPDATE.S", { ...cfg, num_replicas: 1 });
    assert.equal(down.error, undefined, JSON.stringify(down.error));
    // The kept server ends the stream's group without the durable and keeps what it awaits in the stream's directory.
    await waitUntil(() => fs.existsSync(path.join(jsDir(leader), "streams", "S", "late_handovers.json")), 60_000, `S's group ended on ${leader}, awaiting ${name}`);

    await c.stopServer(index(leader));
    await c.startServer(index(holder));
    // Back, the durable's server drops its copy; its hand-over is on its disk first.
    await waitUntil(() => !fs.existsSync(path.join(jsDir(holder), "streams", "S")), 60_000, `${holder} drops its copy`);
    assert.ok(fs.existsSync(owed(holder)), "the hand-over kept on disk");
    const killed = c.servers[index(holder)].proc;
    const exited = once(killed, "exit");
    killed.kill("SIGKILL");
    await exited;
    await c.startServer(index(holder));
    await c.startServer(index(leader));
    await nc.close();
    nc = await connect({ servers: c.urls });

    await waitUntil(async () => (await clusterApi<Info>(nc!, `$JS.API.CONSUMER.INFO.S.${name}`)).cluster?.leader === leader, 60_000, `${name} taken in by ${leader}`);
    assert.equal(consumerLine(await infoWithLeader(nc, "S", name)), `R1 on ${leader}: delivered 5 ack floor 5`);
    assert.deepEqual(await consume(nc, "S", name, 2), [6, 7]);
    // Answered: the returning server owes it no more.
    await waitUntil(() => !fs.existsSync(owed(holder)), 30_000, `${holder}'s kept hand-over removed once answered`);
  } finally {
    await nc?.close();
    await c.stop();
  }
});
