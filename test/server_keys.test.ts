// The server's identity keys are generated with Node's crypto and encoded as nkeys here: the
// nkeys library must read them back as the same keys (public keys, signatures, sealed boxes),
// and a running server announces them in INFO.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createCurve, fromPublic } from "@nats-io/nkeys";
import { ServerKeys } from "../src/server/server_keys.js";
import { startTestServer } from "./helpers/server.js";

test("server keys: the nkeys library derives the same public keys from the seeds and checks signatures", () => {
  for (let i = 0; i < 20; i++) {
    const keys = new ServerKeys();
    assert.match(keys.id, /^N[A-Z2-7]{55}$/);
    assert.match(keys.xkey, /^X[A-Z2-7]{55}$/);
    assert.equal(keys.keyPair.getPublicKey(), keys.id);
    assert.equal(keys.xkeyPair.getPublicKey(), keys.xkey);
    const data = new TextEncoder().encode(`payload ${i}`);
    assert.ok(fromPublic(keys.id).verify(data, keys.keyPair.sign(data)));
    const peer = createCurve();
    const sealed = keys.xkeyPair.seal(data, peer.getPublicKey());
    assert.deepEqual(peer.open(sealed, keys.xkey), data);
  }
});

test("server keys: INFO carries the server id and xkey, different for every server", async () => {
  const infos: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 2; i++) {
    const srv = await startTestServer();
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(srv.port, "127.0.0.1");
        let buf = "";
        sock.on("data", (d) => {
          buf += d.toString();
          const nl = buf.indexOf("\r\n");
          if (nl >= 0) {
            sock.destroy();
            resolve(buf.slice(0, nl));
          }
        });
        sock.on("error", reject);
      });
      assert.match(line, /^INFO /);
      infos.push(JSON.parse(line.slice(5)) as Record<string, unknown>);
    } finally {
      await srv.close();
    }
  }
  for (const info of infos) {
    assert.match(String(info.server_id), /^N[A-Z2-7]{55}$/);
    assert.match(String(info.xkey), /^X[A-Z2-7]{55}$/);
    fromPublic(String(info.server_id));
    fromPublic(String(info.xkey));
  }
  assert.notEqual(infos[0].server_id, infos[1].server_id);
  assert.notEqual(infos[0].xkey, infos[1].xkey);
});

test("server keys: made 30,000 times in a row in one process, the generation never hangs (Node 20 deadlocked about once in 10,000 keys exported after generation)", { timeout: 300_000 }, async () => {
  // In a child process: a hang there is seen (and ended) here instead of stopping this file.
  const module = fileURLToPath(new URL("../src/server/server_keys.js", import.meta.url));
  const script = `const { ServerKeys } = await import(${JSON.stringify(module)}); const ids = new Set(); for (let i = 0; i < 30000; i++) ids.add(new ServerKeys().id); console.log(ids.size);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  // Far longer than the work takes even on a loaded machine (a few seconds); a deadlock never ends.
  const killer = setTimeout(() => child.kill("SIGKILL"), 240_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(killer);
  assert.equal(code, 0, "the child finished (it was killed: the key generation hung)");
  assert.equal(out.trim(), "30000", "every server id is different");
});
