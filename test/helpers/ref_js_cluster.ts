// Test helper: a JetStream cluster of reference nats-server processes on loopback (every server
// with routes to all, itself included, as shared configs list them), to run the same steps on
// nats-server as on a tsnats cluster (JsTestCluster) and compare what clients see.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import fs from "node:fs";
import { test } from "node:test";
import os from "node:os";
import path from "node:path";
import { startNatsServer, freePort, referenceBinary, type ReferenceServer } from "./nats_server.js";

export interface RefJsCluster {
  servers: ReferenceServer[];
  /** Client URLs, in server order (server names N1, N2, ...); a restarted server's changes. */
  urls: string[];
  /** Where server `i`'s store is (its `-sd`: N1, N2... under one temporary directory). */
  storeOf(i: number): string;
  /** Stop server `i` (0-based), keeping its store: `startServer(i)` brings it back with it. */
  stopServer(i: number): Promise<void>;
  startServer(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * undefined when the reference binary is not installed. `jetstream`: more settings of every
 * server's jetstream block; `line` "tsnats" runs this checkout's server the same way (processes
 * with the same configuration files); `config`: more top-level configuration (accounts...).
 */
export async function startRefJsCluster(
  size = 3,
  clusterName = "REF",
  more: { serverTags?: string[][]; uniqueTag?: string; domain?: string; jetstream?: string; line?: "2.15" | "tsnats"; config?: string } = {},
): Promise<RefJsCluster | undefined> {
  const line = more.line ?? "2.15";
  if (line === "2.15" && referenceBinary("2.15") === undefined) return undefined;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  // Each server's store outlives its process (a restart finds it), removed by stop().
  const stores = fs.mkdtempSync(path.join(os.tmpdir(), "nats-ref-stores-"));
  const start = (i: number): Promise<ReferenceServer> =>
    startNatsServer(
      ["-js", "-m", "-1", "-sd", path.join(stores, `N${i + 1}`)],
      `server_name: N${i + 1}\n` +
        (more.serverTags?.[i] !== undefined ? `server_tags: ${JSON.stringify(more.serverTags[i])}\n` : "") +
        `jetstream { max_mem_store: 256MB, max_file_store: 1GB${more.uniqueTag !== undefined ? `, unique_tag: ${JSON.stringify(more.uniqueTag)}` : ""}${more.domain !== undefined ? `, domain: ${JSON.stringify(more.domain)}` : ""}${more.jetstream !== undefined ? `\n${more.jetstream}\n` : ""} }\n` +
        `cluster { name: ${clusterName}, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes}] }\n` +
        (more.config ?? ""),
      line,
    );
  let servers: ReferenceServer[];
  try {
    servers = await Promise.all(routePorts.map((_p, i) => start(i)));
  } catch (err) {
    fs.rmSync(stores, { recursive: true, force: true });
    throw err;
  }
  const cluster: RefJsCluster = {
    servers,
    urls: servers.map((s) => `nats://127.0.0.1:${s.port}`),
    storeOf: (i) => path.join(stores, `N${i + 1}`),
    stopServer: async (i) => {
      await cluster.servers[i].stop();
    },
    startServer: async (i) => {
      const s = await start(i);
      cluster.servers[i] = s;
      cluster.urls[i] = `nats://127.0.0.1:${s.port}`;
    },
    stop: async () => {
      await Promise.all(cluster.servers.map((s) => s.stop()));
      fs.rmSync(stores, { recursive: true, force: true });
    },
  };
  return cluster;
}

/**
 * Runs `scenario` on a fresh cluster of `size` servers (`line` "tsnats": this checkout's, else
 * nats-server 2.15's), which is stopped after; undefined when nats-server 2.15 is not installed.
 */
export async function onRefJsCluster<T>(size: number, clusterName: string, line: "2.15" | "tsnats", scenario: (c: RefJsCluster) => Promise<T>): Promise<T | undefined> {
  const c = await startRefJsCluster(size, clusterName, { line });
  if (c === undefined) return undefined;
  try {
    return await scenario(c);
  } finally {
    await c.stop();
  }
}

/**
 * Two tests of the same steps: `scenario` on `size` tsnats servers, then on as many nats-server
 * 2.15 servers (skipped when it is not installed), each expected to give `expected`; nats-server
 * may also give one of `refRaces` (outcomes of its own races seen in runs, told in a diagnostic).
 */
export function sideBySideTests<T>(title: string, size: number, scenario: (c: RefJsCluster) => Promise<T>, expected: T, refRaces: readonly T[] = []): void {
  test(`${title} (tsnats)`, { timeout: 120_000 }, async () => {
    assert.deepEqual(await onRefJsCluster(size, "X", "tsnats", scenario), expected);
  });
  test("the same steps on nats-server 2.15", { timeout: 120_000 }, async (t) => {
    const theirs = await onRefJsCluster(size, "X", "2.15", scenario);
    if (theirs === undefined) return t.skip("nats-server 2.15 not installed");
    if (refRaces.some((race) => isDeepStrictEqual(theirs, race))) return t.diagnostic(`nats-server 2.15 took a race seen before: ${JSON.stringify(theirs)}`);
    assert.deepEqual(theirs, expected);
  });
}
