// Shared test helper: a tsnats server started from configuration file text (as nats-server
// would read it), on 127.0.0.1 and a random port, with JetStream stored in its temp dir.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfigFile, validateOptions } from "../../src/config/load.js";
import type { EmbeddedOptions } from "../../src/index.js";
import type { ServerOptions } from "../../src/config/options.js";
import { startTestServer, type TestServer } from "./server.js";

/** Options the config text gives, validated as the binary does (throws nats-server's errors). */
export function optionsFromText(conf: string): ServerOptions {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-conf-"));
  const file = path.join(dir, "server.conf");
  try {
    fs.writeFileSync(file, conf);
    const o = loadConfigFile(file);
    validateOptions(o);
    return o;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Start tsnats on the config text; `extra` overrides options (e.g. httpPort: -1). */
export async function startConfigServer(conf: string, extra: EmbeddedOptions = {}): Promise<TestServer> {
  const o = optionsFromText(conf);
  const { jetstream, ...rest } = o;
  const opts: EmbeddedOptions = { ...rest, host: "127.0.0.1", port: -1, ...extra };
  if (jetstream.enabled) opts.jetstream = { ...jetstream, storeDir: undefined };
  return startTestServer(opts);
}
