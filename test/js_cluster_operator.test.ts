// A JetStream cluster of three in operator (JWT) mode (operator, system account, memory resolver
// with the account JWTs preloaded): clients on every server create R1 and R3 streams, publish,
// create and fetch from consumers, ask stream and account info and delete, round after round,
// and not one request may go unanswered. The same steps run on nats-server 2.15 and what the
// clients saw compares line by line. Accounts are loaded on first use in operator mode: a server
// that had not loaded the account when a peer announced the account's `$JS.API.>` interest used
// to drop that interest, so its clients' requests never reached the meta leader.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { memoryResolverConfig, newAccount, newOperator, newUser, type UserFixture } from "./helpers/jwt.js";
import { startOperatorCluster, type OperatorClusterKind } from "./helpers/operator_cluster.js";

const ROUNDS = 4;
const MSGS = 5;
const TIMEOUT = 10_000;

/** What a request brought: its answer's gist, or LOST when nothing came back in time. */
async function step(what: string, f: () => Promise<string>): Promise<string> {
  try {
    return `${what}: ${await f()}`;
  } catch (err) {
    if (err instanceof JetStreamApiError) return `${what}: error ${err.code}`;
    const e = err as Error;
    return `${what}: ${/timeout|timed out/i.test(`${e.name} ${e.message}`) ? "LOST" : `failed ${e.message}`}`;
  }
}

/** A publish nobody took yet: no responders (reported as JetStreamNotEnabled) or a 503 answer. */
function notYetServed(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 503;
  const e = err as Error & { cause?: { isNoResponders?: () => boolean } };
  return e.name === "JetStreamNotEnabled" || e.cause?.isNoResponders?.() === true || /no responders/i.test(e.message);
}

/** A cluster just started answers nothing until its meta leader is elected and an R3 group can be placed. */
async function settle(clients: NatsConnection[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answered = await Promise.all(
      clients.map(async (c) => {
        try {
          const jsm = await jetstreamManager(c, { timeout: 2_000 });
          await jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        }
      }),
    );
    if (answered.every(Boolean)) break;
    if (Date.now() > deadline) throw new Error("the cluster answers no JetStream request");
  }
  const jsm = await jetstreamManager(clients[0]!, { timeout: TIMEOUT });
  for (;;) {
    try {
      await jsm.streams.add({ name: "PROBE", subjects: ["probe"], num_replicas: 3 });
      await jsm.streams.delete("PROBE");
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Every client, round after round: an R1 or R3 stream, publishes, a durable fetched from, infos, delete. */
async function exercise(ports: number[], user: UserFixture): Promise<string[]> {
  const clients: NatsConnection[] = [];
  const seen: string[] = [];
  try {
    for (const port of ports) clients.push(await connect({ port, authenticator: jwtAuthenticator(user.jwt, user.seed) }));
    await settle(clients);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < clients.length; i++) {
        const nc = clients[i]!;
        const jsm = await jetstreamManager(nc, { timeout: TIMEOUT, checkAPI: false });
        const js = jetstream(nc, { timeout: TIMEOUT });
        const replicas = (round + i) % 2 === 0 ? 3 : 1;
        const name = `S${round}_${i}`;
        const at = `round ${round} client ${i}`;
        seen.push(await step(`${at} create R${replicas}`, async () => `${(await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas })).config.num_replicas}`));
        const seqs: number[] = [];
        for (let m = 0; m < MSGS; m++) {
          // Right after a create the stream's interest may not have reached the client's server
          // yet (nats-server 2.15 too: "no responders", which the client reports as "jetstream is
          // not enabled"): asked again, with the same message id, for up to 10 s on either server.
          // A publish that goes unanswered (LOST) or fails otherwise is not asked again.
          const r = await step("", async () => {
            const deadline = Date.now() + 10_000;
            for (;;) {
              try {
                return `${(await js.publish(`${name}.${m}`, `m${m}`, { msgID: `${name}-${m}` })).seq}`;
              } catch (err) {
                if (Date.now() > deadline || !notYetServed(err)) throw err;
                await new Promise((res) => setTimeout(res, 100));
              }
            }
          });
          seqs.push(Number(r.slice(2)) || -1);
          // Why a publish failed shows in the comparison (and fails tsnats' own check).
          if (!/^: \d+$/.test(r)) seen.push(`${at} publish ${m}${r}`);
        }
        seen.push(`${at} publish seqs: ${seqs.join(",")}`);
        seen.push(await step(`${at} durable`, async () => (await jsm.consumers.add(name, { durable_name: "D", ack_policy: "explicit" as never })).name));
        seen.push(
          await step(`${at} fetch`, async () => {
            const consumer = await js.consumers.get(name, "D");
            const got: string[] = [];
            const batch = await consumer.fetch({ max_messages: MSGS, expires: TIMEOUT });
            for await (const m of batch) {
              got.push(m.string());
              m.ack();
              if (got.length === MSGS) break;
            }
            return got.join(",");
          }),
        );
        seen.push(await step(`${at} stream info`, async () => `${(await jsm.streams.info(name)).state.messages} messages`));
        seen.push(await step(`${at} consumer info`, async () => `delivered ${(await jsm.consumers.info(name, "D")).delivered.stream_seq}`));
        // Asked again for up to 10 s while it counts no stream: nats-server 2.15's count of a
        // stream on another server follows that server's usage reports, and lagged behind once in
        // 6 whole-file runs at load ~10 (tsnats' answer counts the meta group's streams).
        seen.push(
          await step(`${at} account info`, async () => {
            const deadline = Date.now() + 10_000;
            while ((await jsm.getAccountInfo()).streams < 1) {
              if (Date.now() > deadline) return "no streams";
              await new Promise((res) => setTimeout(res, 200));
            }
            return "answered";
          }),
        );
        seen.push(await step(`${at} delete`, async () => `${await jsm.streams.delete(name)}`));
      }
    }
    // A burst: every client asks for account info many times at once.
    const burst = await Promise.all(
      clients.map(async (nc, i) => {
        const jsm = await jetstreamManager(nc, { timeout: TIMEOUT, checkAPI: false });
        const answers = await Promise.all(Array.from({ length: 30 }, () => step("", async () => `${(await jsm.getAccountInfo()).limits !== undefined}`)));
        return `burst client ${i}: ${answers.filter((a) => a === ": true").length} of 30 answered`;
      }),
    );
    seen.push(...burst);
    return seen;
  } finally {
    for (const c of clients) await c.close();
  }
}

/**
 * Both sides' lines without the rounds of a client where nats-server 2.15.1 failed and tsnats did
 * not (tsnats' failures are asserted against first). Seen once (2026-12-05) in the full-resolver
 * cluster: after the R3 probe was placed, one client's R3 create in round 0 was refused for lack
 * of resources (10005), the account's JetStream on that server seemingly reset by the resolver's
 * update, its publishes then unanswered: nats-server's race, not what the comparison is about.
 */
function withoutRefRaces(ours: string[], theirs: string[]): [string[], string[]] {
  const key = (l: string): string => /^round \d+ client \d+/.exec(l)?.[0] ?? l;
  const raced = new Set(theirs.filter((l) => /failed|error/.test(l)).map(key));
  for (const l of ours) if (/failed|error/.test(l)) raced.delete(key(l));
  if (raced.size > 0) console.log(`# nats-server failed where tsnats did not (its race, left out of the comparison): ${[...raced].join(", ")}`);
  return [ours.filter((l) => !raced.has(key(l))), theirs.filter((l) => !raced.has(key(l)))];
}

async function run(kind: OperatorClusterKind, common: string | ((server: number) => string), user: UserFixture, before?: (ports: number[]) => Promise<void>): Promise<string[] | undefined> {
  const servers = await startOperatorCluster(kind, common);
  if (servers === undefined) return undefined;
  try {
    await before?.(servers.map((s) => s.port));
    return await exercise(
      servers.map((s) => s.port),
      user,
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

test("operator mode cluster: requests from clients on every server reach the meta leader and the streams' servers, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const op = await newOperator();
  const acc = await newAccount(op, "T", { limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } as never });
  const user = await newUser(acc, "u");
  const common = memoryResolverConfig(op, [acc]);
  const ours = (await run("tsnats", common, user))!;
  assert.deepEqual(
    ours.filter((l) => /LOST|failed|error/.test(l)),
    [],
  );
  assert.equal(ours.filter((l) => l.endsWith("seqs: 1,2,3,4,5")).length, ROUNDS * 3);
  assert.equal(ours.filter((l) => l.endsWith("fetch: m0,m1,m2,m3,m4")).length, ROUNDS * 3);
  const theirs = await run("2.15", common, user);
  if (theirs === undefined) return; // no reference binary here
  assert.deepEqual(ours, theirs);
});

test("full resolver cluster: an account pushed to one server ($SYS.REQ.CLAIMS.UPDATE) works through every server, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const op = await newOperator();
  const acc = await newAccount(op, "P", { limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } as never });
  const user = await newUser(acc, "u");
  const sysUser = await newUser(op.sys, "sys");
  const dirs: string[] = [];
  const common = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-full-resolver-"));
    dirs.push(dir);
    return `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver { type: full, dir: "${dir}" }\nresolver_preload { ${op.sys.pub}: ${op.sys.jwt} }\n`;
  };
  /** The account is pushed through N1 only; then its users log in on every server. */
  const push = async (ports: number[]): Promise<void> => {
    const sys = await connect({ port: ports[0], authenticator: jwtAuthenticator(sysUser.jwt, sysUser.seed) });
    try {
      const answer = JSON.parse((await sys.request("$SYS.REQ.CLAIMS.UPDATE", acc.jwt, { timeout: TIMEOUT })).string()) as { data?: { code?: number } };
      assert.equal(answer.data?.code, 200);
    } finally {
      await sys.close();
    }
    for (const port of ports) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await (await connect({ port, authenticator: jwtAuthenticator(user.jwt, user.seed), reconnect: false })).close();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  };
  try {
    const ours = (await run("tsnats", common, user, push))!;
    assert.deepEqual(
      ours.filter((l) => /LOST|failed|error/.test(l)),
      [],
    );
    const theirs = await run("2.15", common, user, push);
    if (theirs !== undefined) assert.deepEqual(...withoutRefRaces(ours, theirs));
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
});

test("URL resolver cluster: accounts fetched over HTTP as they are first used work through every server, as nats-server 2.15", { timeout: 300_000 }, async () => {
  const op = await newOperator();
  const acc = await newAccount(op, "H", { limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } as never });
  const user = await newUser(acc, "u");
  const jwts = new Map([
    [op.sys.pub, op.sys.jwt],
    [acc.pub, acc.jwt],
  ]);
  // The account server: GET <prefix><account public key> answers its JWT (the prefix itself
  // answers too: nats-server checks it at start).
  const http = createServer((req, res) => {
    const key = (req.url ?? "").split("/").pop() ?? "";
    const jwt = key === "" ? "" : jwts.get(key);
    res.writeHead(jwt === undefined ? 404 : 200).end(jwt ?? "");
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/jwt/v1/accounts/`;
  const common = `operator: ${op.jwt}\nsystem_account: ${op.sys.pub}\nresolver: URL("${url}")\n`;
  try {
    const ours = (await run("tsnats", common, user))!;
    assert.deepEqual(
      ours.filter((l) => /LOST|failed|error/.test(l)),
      [],
    );
    const theirs = await run("2.15", common, user);
    if (theirs !== undefined) assert.deepEqual(ours, theirs);
  } finally {
    await new Promise((r) => http.close(r));
  }
});
