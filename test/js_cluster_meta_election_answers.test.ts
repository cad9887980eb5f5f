// What a client of a follower gets while the meta group elects a new leader (its leader's server
// killed, a quorum still up), side by side with three nats-server 2.15.1 servers (both run as
// processes from the same configuration files). Requests are sent every 250 ms from the moment the
// follower's routes to the killed server are gone until one is answered.
//
// nats-server 2.15.1 (measured: kill -9 of the meta leader): its followers go on following the dead
// leader until their election timeout (4 s or more) and drop every meta request meanwhile (no
// answer at all, 5.4 s in one run); a follower that campaigns answers 10008 "JetStream system
// temporarily unavailable" at once (isLeaderless), for the few ms its campaign lasts; requests are
// answered again once the new leader is elected. On a graceful stop or META.LEADER.STEPDOWN its
// leader hands over at once and nothing is lost (same on tsnats).
//
// tsnats holds each request until a meta leader is known and then answers it (held on the new
// leader, or relayed to it: api_relay.ts), which is kept on purpose rather than matching nats-server:
// nats.js (jetstream/src/jsbaseclient_api.ts _request) retries an API request only on a timeout or
// no responders and only when asked to (retries option, unused by its own calls), and throws on an
// API error such as 10008; nats.go's jetstream API calls retry neither (only its ordered consumers'
// resets retry any error with backoff, and the legacy push ordered consumer retries on 10008 and on
// timeouts alike). So a dropped request costs the client its whole timeout, and a 10008 fails its
// call, where a held one succeeds once the election is over (about 2 s here).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { onRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { createStreamWhenPlaced } from "./helpers/cluster_retry.js";
import { sleep } from "./helpers/js_cluster_consumer_groups.js";
import { waitUntil } from "./helpers/server.js";

const NAMES = ["N1", "N2", "N3"];

/** A server's monitoring JSON (`/jsz`, `/routez`). */
async function monitor<T>(c: RefJsCluster, i: number, endpoint: string): Promise<T> {
  return (await (await fetch(`${c.servers[i].monitorUrl}/${endpoint}`)).json()) as T;
}

/** The outcome of one request: "ok", its error's codes, or "no answer" (none within 15 s). */
async function outcome(nc: NatsConnection, subject: string, body: unknown): Promise<string> {
  try {
    const a = JSON.parse((await nc.request(subject, JSON.stringify(body), { timeout: 15_000 })).string()) as { error?: { code: number; err_code: number } };
    return a.error === undefined ? "ok" : `${a.error.code} ${a.error.err_code}`;
  } catch {
    return "no answer";
  }
}

/** Kill -9 the meta leader, then ask a follower every 250 ms until an answer comes: the outcomes in the order asked. */
async function askDuringElection(c: RefJsCluster): Promise<string[]> {
  const setup = await connect({ servers: c.urls });
  try {
    await createStreamWhenPlaced(setup, { name: "S", subjects: ["s.>"], num_replicas: 3 });
  } finally {
    await setup.close();
  }
  let leader = -1;
  await waitUntil(
    async () => {
      const seen = await Promise.all([0, 1, 2].map(async (i) => (await monitor<{ meta_cluster?: { leader?: string } }>(c, i, "jsz")).meta_cluster?.leader ?? ""));
      leader = NAMES.indexOf(seen[0]);
      return leader >= 0 && seen.every((l) => l === seen[0]);
    },
    30_000,
    "a meta leader every server names",
  );
  const follower = [0, 1, 2].find((i) => i !== leader) as number;
  const nc = await connect({ servers: c.urls[follower] });
  try {
    c.servers[leader].proc.kill("SIGKILL");
    await waitUntil(async () => !(await monitor<{ routes?: Array<{ remote_name?: string }> }>(c, follower, "routez")).routes?.some((r) => r.remote_name === NAMES[leader]), 20_000, "the follower's routes to the killed leader gone");
    const asked: Array<Promise<string>> = [];
    let answered = false;
    for (let k = 0; k < 80 && !answered; k++) {
      const kind = k % 3;
      const p =
        kind === 0
          ? outcome(nc, "$JS.API.STREAM.NAMES", {})
          : kind === 1
            ? outcome(nc, "$JS.API.INFO", {})
            : outcome(nc, `$JS.API.STREAM.CREATE.T${k}`, { name: `T${k}`, subjects: [`t${k}`], num_replicas: 1 });
      asked.push(p);
      void p.then((o) => {
        if (o === "ok") answered = true;
      });
      await sleep(250);
    }
    return await Promise.all(asked);
  } finally {
    await nc.close();
  }
}

test("tsnats: every request a follower gets while the meta group elects is answered once the new leader is known, none an error", { timeout: 110_000 }, async (t) => {
  const outcomes = await onRefJsCluster(3, "E", "tsnats", askDuringElection);
  assert.ok(outcomes !== undefined && outcomes.length > 0);
  t.diagnostic(outcomes.join(", "));
  assert.deepEqual(outcomes, outcomes.map(() => "ok"), outcomes.join(", "));
});

test("nats-server 2.15: the follower drops the requests until the new leader is elected (10008 only while it campaigns)", { timeout: 110_000 }, async (t) => {
  const outcomes = await onRefJsCluster(3, "E", "2.15", askDuringElection);
  if (outcomes === undefined) return t.skip("nats-server 2.15 not installed");
  t.diagnostic(outcomes.join(", "));
  assert.ok(outcomes.every((o) => ["ok", "no answer", "503 10008"].includes(o)), outcomes.join(", "));
  assert.equal(outcomes[0], "no answer", outcomes.join(", "));
  assert.equal(outcomes[outcomes.length - 1], "ok", outcomes.join(", "));
});
