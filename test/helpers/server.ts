// Shared test helper: an embedded tsnats server on an ephemeral port with a private temp dir,
// so tests never collide on ports or JetStream store directories.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type EmbeddedOptions, type EmbeddedServer } from "../../src/index.js";

export interface TestServer extends EmbeddedServer {
  /** Temp directory owned by this server (JetStream store lives below it); removed on close. */
  readonly dir: string;
}

/**
 * Start a server on 127.0.0.1, random port. `jetstream: true` gets a store dir inside the
 * server's temp dir. `close()` shuts the server down and removes the temp dir.
 */
export async function startTestServer(opts: EmbeddedOptions = {}): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-test-"));
  const merged: EmbeddedOptions = { host: "127.0.0.1", port: -1, ...opts };
  if (opts.jetstream === true) merged.jetstream = { storeDir: path.join(dir, "jetstream") };
  else if (typeof opts.jetstream === "object" && opts.jetstream.storeDir === undefined) {
    merged.jetstream = { ...opts.jetstream, storeDir: path.join(dir, "jetstream") };
  }
  let srv: EmbeddedServer;
  try {
    srv = await startServer(merged);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    server: srv.server,
    url: srv.url,
    port: srv.port,
    get monitorUrl() {
      return srv.monitorUrl;
    },
    async close() {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `cond` until it holds; throws with `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Ask again every 250 ms while `what` throws (a request during an election gets no answer), up to `timeoutMs`. */
export async function retry<T>(what: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await what();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
