// Encryption at rest (`jetstream { cipher, key, prev_encryption_key }`): nothing of a
// stream reaches the disk in the clear, a restart with the right key reads everything back,
// a wrong or missing key stops with nats-server's error and leaves every file untouched,
// keys rotate with prev_encryption_key, the cipher can change, plain data stays readable
// once encryption is enabled, and a SIGKILL loses no acknowledged message.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { startServer, type JetStreamOptions } from "../src/index.js";
import { CapturedLog } from "./helpers/captured_log.js";
import { startNatsServer, TSNATS_SERVER_BIN, type ReferenceServer } from "./helpers/nats_server.js";
import { parseConfigString } from "../src/config/conf_parser.js";
import { dumpStream, restoreSnapshot, takeSnapshot } from "./helpers/snapshot.js";

const parse = (text: string, env: Record<string, string | undefined> = {}) => parseConfigString(text, "t.conf", { env });
import { optionsFromConfig } from "../src/config/load.js";
import { requestJson } from "./helpers/jetstream.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-encryption-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MARKER = "PLAINTEXT-MARKER";

const api = requestJson;

async function run<T>(storeDir: string, encryption: JetStreamOptions["encryption"], fn: (nc: NatsConnection, log: CapturedLog) => Promise<T>): Promise<T> {
  const log = new CapturedLog();
  const s = await startServer({ host: "127.0.0.1", port: -1, jetstream: { storeDir, encryption }, log });
  const nc = await connect({ servers: s.url });
  try {
    return await fn(nc, log);
  } finally {
    await nc.close();
    await s.close();
  }
}

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Every file with the hash of its content and its modification time. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files(dir)) out[f] = `${createHash("sha256").update(fs.readFileSync(f)).digest("hex")} ${fs.statSync(f).mtimeMs}`;
  return out;
}

async function fill(nc: NatsConnection, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await api(nc, `e.${i % 3}`, `${MARKER} ${i}`);
    assert.equal(r.error, undefined);
  }
}

async function readAll(nc: NatsConnection, stream: string): Promise<string[]> {
  const info = await api(nc, `$JS.API.STREAM.INFO.${stream}`);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const g = await api(nc, `$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    if (g.error === undefined) out.push(Buffer.from(g.message.data, "base64").toString());
  }
  return out;
}

const expected = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `${MARKER} ${from + i}`);

describe("encryption at rest", () => {
  const key = { cipher: "chachapoly" as const, key: "s3cr3t-key" };

  it("writes nothing in the clear and reads everything back with the right key", async () => {
    const dir = path.join(tmp, "basic");
    await run(dir, key, async (nc) => {
      assert.equal((await api(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e.*"], description: "secret-description" })).error, undefined);
      await fill(nc, 300);
      await api(nc, "$JS.API.CONSUMER.CREATE.E.D", { stream_name: "E", config: { durable_name: "D", ack_policy: "explicit", description: "secret-consumer" } });
      await api(nc, "$JS.API.STREAM.MSG.DELETE.E", { seq: 5 });
    });
    const all = files(dir);
    assert.ok(all.some((f) => f.endsWith(".blk")) && all.some((f) => f.endsWith(".idx")) && all.some((f) => f.endsWith("o.dat")));
    for (const f of all) {
      const b = fs.readFileSync(f);
      for (const secret of [MARKER, "secret-description", "secret-consumer", "e.*"]) assert.ok(!b.includes(secret), `${f} holds "${secret}" in the clear`);
    }
    await run(dir, key, async (nc) => {
      const got = await readAll(nc, "E");
      assert.deepEqual(got, expected(300).filter((_, i) => i !== 4));
      const c = await api(nc, "$JS.API.CONSUMER.INFO.E.D");
      assert.equal(c.config.description, "secret-consumer");
      assert.equal((await api(nc, "$JS.API.STREAM.INFO.E")).config.description, "secret-description");
    });
  });

  it("a wrong or missing key: nats-server's error, and every file left untouched", async () => {
    const dir = path.join(tmp, "wrong");
    await run(dir, key, async (nc) => {
      await api(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e.*"] });
      await fill(nc, 20);
    });
    const before = fingerprint(dir);
    for (const [enc, reason] of [
      [{ cipher: "chachapoly" as const, key: "not-the-key" }, "unable to recover keys"],
      [undefined, "encryption not enabled"],
    ] as const) {
      await run(dir, enc, async (nc, log) => {
        assert.equal((await api(nc, "$JS.API.STREAM.INFO.E")).error?.err_code, 10059);
        assert.ok(
          log.lines.some((l) => l.includes(`Error decrypting our stream metafile: ${reason}`)),
          log.lines.join("\n"),
        );
      });
      assert.deepEqual(fingerprint(dir), before);
    }
    await run(dir, key, async (nc) => assert.deepEqual(await readAll(nc, "E"), expected(20)));
  });

  it("rotates the key with prev_encryption_key, and changes the cipher", async () => {
    const dir = path.join(tmp, "rotate");
    await run(dir, { cipher: "aes", key: "old-key" }, async (nc) => {
      await api(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e.*"] });
      await fill(nc, 10);
    });
    // New key (and cipher): the old key still opens the stream, which is re-keyed.
    await run(dir, { cipher: "chachapoly", key: "new-key", prevKey: "old-key" }, async (nc) => {
      assert.deepEqual(await readAll(nc, "E"), expected(10));
      await fill(nc, 10, 10);
      await api(nc, "$JS.API.STREAM.CREATE.F", { name: "F", subjects: ["f"] });
    });
    await run(dir, { cipher: "chachapoly", key: "new-key" }, async (nc) => {
      assert.deepEqual(await readAll(nc, "E"), expected(20));
      assert.equal((await api(nc, "$JS.API.STREAM.INFO.F")).error, undefined);
    });
    await run(dir, { cipher: "aes", key: "old-key" }, async (nc) => {
      assert.equal((await api(nc, "$JS.API.STREAM.INFO.E")).error?.err_code, 10059, "the old key no longer opens it");
    });
  });

  it("enabling it on existing data keeps the old blocks readable and encrypts what follows", async () => {
    const dir = path.join(tmp, "enable");
    await run(dir, undefined, async (nc) => {
      await api(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e.*"] });
      await fill(nc, 30);
    });
    await run(dir, key, async (nc) => {
      assert.deepEqual(await readAll(nc, "E"), expected(30));
      for (let i = 30; i < 60; i++) await api(nc, `e.${i % 3}`, `SECOND-HALF ${i}`);
    });
    for (const f of files(dir)) {
      const b = fs.readFileSync(f);
      assert.ok(!b.includes("SECOND-HALF"), `${f} holds new data in the clear`);
      if (f.endsWith("meta.json")) assert.ok(!b.includes('"subjects"'), `${f} is not sealed`);
    }
    await run(dir, key, async (nc) => {
      const got = await readAll(nc, "E");
      assert.equal(got.length, 60);
      assert.deepEqual(got.slice(0, 30), expected(30));
      assert.equal(got[59], "SECOND-HALF 59");
    });
  });

  it("an encrypted stream backs up and restores (the backup holds the plaintext, as nats-server's)", async () => {
    const dir = path.join(tmp, "backup");
    await run(dir, key, async (nc) => {
      await api(nc, "$JS.API.STREAM.CREATE.E", { name: "E", subjects: ["e.*"] });
      await fill(nc, 50);
      await api(nc, "$JS.API.CONSUMER.CREATE.E.D", { stream_name: "E", config: { durable_name: "D", ack_policy: "explicit" } });
      const before = await dumpStream(nc, "E");
      const snap = await takeSnapshot(nc, "E");
      await api(nc, "$JS.API.STREAM.DELETE.E");
      const r = await restoreSnapshot(nc, snap.resp.config, snap.data);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(await dumpStream(nc, "E"), before);
    });
    for (const f of files(dir)) assert.ok(!fs.readFileSync(f).includes(MARKER), `${f} holds restored data in the clear`);
  });

  it("the config takes the key from an environment variable, and refuses what it can not honour", () => {
    const o = optionsFromConfig(parse("jetstream {\n  cipher: aes\n  key: $TSNATS_TEST_JS_KEY\n  prev_encryption_key: older\n}\n", { TSNATS_TEST_JS_KEY: "from-the-env" }), "t.conf");
    assert.deepEqual(o.jetstream.encryption, { cipher: "aes", key: "from-the-env", prevKey: "older" });
    assert.deepEqual(optionsFromConfig(parse('jetstream { key: "k" }'), "t.conf").jetstream.encryption, { cipher: "chachapoly", key: "k" });
    assert.throws(() => optionsFromConfig(parse('jetstream { key: "k", cipher: rot13 }'), "t.conf"), /Unknown cipher type: "rot13"/);
    assert.throws(() => optionsFromConfig(parse("jetstream { tpm { keys_file: x } }"), "t.conf"), /TPM are not supported/);
    assert.throws(() => optionsFromConfig(parse('jetstream { prev_key: "k" }'), "t.conf"), /needs the current key/);
  });
});

describe("encryption and crashes", () => {
  const servers: ReferenceServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  /** The server as a process (so that it can be killed), its key in the environment. */
  async function spawnServer(conf: string): Promise<{ child: ChildProcess; url: string }> {
    const s = await startNatsServer([], conf, "tsnats", [], { TSNATS_CRASH_KEY: "crash-key" });
    servers.push(s);
    return { child: s.proc, url: `nats://127.0.0.1:${s.port}` };
  }

  it("kill -9 while publishing to an encrypted stream loses no acknowledged message", { skip: !fs.existsSync(TSNATS_SERVER_BIN) && "server binary not built" }, async () => {
    const storeDir = path.join(tmp, "kill");
    const conf = `jetstream {\n  store_dir: "${storeDir}"\n  cipher: chachapoly\n  key: $TSNATS_CRASH_KEY\n}\n`;
    const first = await spawnServer(conf);
    const acked = new Map<number, string>();
    let nc = await connect({ servers: first.url });
    try {
      assert.equal((await api(nc, "$JS.API.STREAM.CREATE.CRASH", { name: "CRASH", subjects: ["crash.>"] })).error, undefined);
      const js = jetstream(nc);
      const inflight = new Set<Promise<void>>();
      for (let n = 0; n < 20_000; n++) {
        const body = `payload-${n}`;
        const p: Promise<void> = js
          .publish(`crash.${n % 7}`, body, { timeout: 2000 })
          .then((ack) => {
            acked.set(ack.seq, body);
          })
          .catch(() => undefined)
          .finally(() => inflight.delete(p));
        inflight.add(p);
        // Killed once enough publishes got their ack (not after a count of sends: on a loaded
        // machine the first ones may all time out), while later ones are still in flight.
        if (acked.size >= 500) first.child.kill("SIGKILL");
        if (inflight.size >= 256) await Promise.race(inflight);
        if (first.child.exitCode !== null || first.child.signalCode !== null) break;
      }
      await Promise.allSettled([...inflight]);
    } finally {
      await nc.close().catch(() => undefined);
    }
    assert.ok(acked.size >= 500, `only ${acked.size} acks out of 20000 publishes`);
    for (const f of files(storeDir)) assert.ok(!fs.readFileSync(f).includes("payload-"), `${f} holds messages in the clear`);
    const second = await spawnServer(conf);
    nc = await connect({ servers: second.url });
    try {
      for (const [seq, body] of acked) {
        const g = await api(nc, "$JS.API.STREAM.MSG.GET.CRASH", { seq });
        assert.equal(g.error, undefined, `acknowledged seq ${seq} lost`);
        assert.equal(Buffer.from(g.message.data, "base64").toString(), body);
      }
    } finally {
      await nc.close();
      second.child.kill("SIGTERM");
    }
  });
});
