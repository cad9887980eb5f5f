// tsnats CLI: object store commands against tsnats and nats-server 2.15, and a large file
// that streams through put and get with the CLI's memory staying flat.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { CliHome, PYTHON3_MISSING, TSNATS_BIN } from "./helpers/cli.js";
import { jetStreamTargets } from "./helpers/cli_targets.js";
import { waitUntil } from "./helpers/server.js";

const servers = await jetStreamTargets();
const home = new CliHome();
after(async () => {
  for (const s of servers) await s.stop();
  home.cleanup();
});

function sha(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

for (const t of servers) {
  describe(`object commands on ${t.name}`, () => {
    let nc: NatsConnection;
    const cli = (args: string[], stdin?: string | Buffer) => home.exec(args, { server: t.url, stdin });
    before(async () => (nc = await connect({ servers: t.url })));
    after(() => nc.close());

    test("add, put (file and stdin), get, info, ls, del, watch, seal, rm", async () => {
      const dir = path.join(home.dir, t.tsnats ? "ts" : "ref");
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, "data.bin");
      fs.writeFileSync(file, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251)));
      let r = await cli(["object", "add", "FILES", "--description", "test files"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Information for Object Store Bucket FILES/);
      const watch = home.run(["obj", "watch", "FILES", "--count", "2"], { server: t.url });

      r = await cli(["obj", "put", "FILES", file, "--name", "data.bin", "-H", "Kind:binary", "--description", "numbers"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Object information for FILES > data\.bin/);
      assert.match(r.stdout, /Size: 293 KiB/);
      assert.match(r.stdout, /Chunks: 3/);
      r = await cli(["obj", "put", "FILES", "--name", "notes.txt"], "hello notes\n");
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["obj", "put", "FILES"], "x");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--name is required/);
      r = await cli(["obj", "put", "FILES", file, "--name", "data.bin"]);
      assert.equal(r.code, 1, "replacing needs --force off a terminal");

      const out = path.join(dir, "copy.bin");
      r = await cli(["obj", "get", "FILES", "data.bin", "-O", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha(out), sha(file));
      r = await cli(["obj", "get", "FILES", "notes.txt", "-O", "-"]);
      assert.equal(r.stdout, "hello notes\n");
      r = await cli(["obj", "get", "FILES", "missing.txt", "-O", "-"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /object "missing\.txt" not found/);

      r = await cli(["obj", "info", "FILES", "data.bin", "--json"]);
      const info = JSON.parse(r.stdout);
      assert.equal(info.size, 300_000);
      assert.deepEqual(info.headers, { Kind: ["binary"] });
      r = await cli(["obj", "info", "FILES", "data.bin"]);
      assert.match(r.stdout, new RegExp(`Digest: SHA-256 ${sha(file)}`));
      r = await cli(["obj", "ls", "FILES", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).map((i: { name: string }) => i.name),
        ["data.bin", "notes.txt"],
      );
      r = await cli(["obj", "ls"]);
      assert.match(r.stdout, /│ FILES +│ test files/);
      r = await cli(["obj", "ls", "--names"]);
      assert.equal(r.stdout, "FILES\n");

      const w = await watch.done;
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, /PUT FILES > data\.bin: 293 KiB bytes in 3 chunks/);

      r = await cli(["obj", "del", "FILES", "notes.txt", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Removed FILES > notes\.txt/);
      r = await cli(["obj", "seal", "FILES", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["obj", "info", "FILES"]);
      assert.match(r.stdout, /Sealed: true/);
      r = await cli(["obj", "rm", "FILES", "-f"]);
      assert.equal(r.code, 0, r.stderr);
      r = await cli(["obj", "info", "FILES"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not found/);
    });

    test("a download whose data does not match the digest fails and leaves no file", async () => {
      const os = await new Objm(nc).create("BROKEN");
      await os.putBlob({ name: "a.txt" }, new TextEncoder().encode("a".repeat(1000)));
      const info = (await os.info("a.txt"))!;
      // Replace the chunk with different bytes of the same size behind the store's back.
      const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(nc);
      await jsm.streams.purge("OBJ_BROKEN", { filter: `$O.BROKEN.C.${info.nuid}` });
      const js = jsm.jetstream();
      await js.publish(`$O.BROKEN.C.${info.nuid}`, new TextEncoder().encode("b".repeat(1000)));
      const out = path.join(home.dir, `broken-${t.tsnats ? "ts" : "ref"}.txt`);
      const r = await cli(["obj", "get", "BROKEN", "a.txt", "-O", out]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /corrupt/);
      assert.equal(fs.existsSync(out), false);
      assert.deepEqual(
        fs.readdirSync(home.dir).filter((f) => f.includes(".part")),
        [],
      );
      await os.destroy();
    });
  });
}

describe("large objects stream through", { skip: PYTHON3_MISSING ?? false }, () => {
  /** Run the bin and return its peak RSS in MB (python's getrusage of the child). */
  // Asynchronous: the tsnats server under test runs in this process and must keep serving.
  function runMeasured(args: string[]): Promise<{ code: number; rssMb: number; stderr: string }> {
    const script = "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],capture_output=True)\nsys.stderr.write(r.stderr.decode(errors='replace'))\nprint(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    return new Promise((resolve, reject) => {
      const child = spawn("python3", ["-c", script, process.execPath, TSNATS_BIN, ...args], { env: home.env });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("close", () => {
        const [code, kb] = out.trim().split(/\s+/).map(Number);
        resolve({ code, rssMb: kb / 1024, stderr: err });
      });
    });
  }

  test("put and get of a 48 MiB file keep the CLI's memory flat", async () => {
    const t = servers[0];
    const small = path.join(home.dir, "small.bin");
    const big = path.join(home.dir, "big.bin");
    fs.writeFileSync(small, Buffer.alloc(1024, 1));
    // Written in pieces: the test itself does not hold the file either.
    const fd = fs.openSync(big, "w");
    const piece = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 48; i++) {
      piece.fill(i);
      fs.writeSync(fd, piece);
    }
    fs.closeSync(fd);
    // Memory storage: this measures the CLI, and 48 MiB of fsynced file writes can take
    // longer than the test's time on a busy machine.
    assert.equal((await home.exec(["obj", "add", "BIG", "--storage", "memory", "--server", t.url])).code, 0);
    const base = await runMeasured(["obj", "put", "BIG", small, "--server", t.url]);
    assert.equal(base.code, 0, base.stderr);
    const put = await runMeasured(["obj", "put", "BIG", big, "--name", "big.bin", "--server", t.url, "--timeout", "30s"]);
    assert.equal(put.code, 0, put.stderr);
    const out = path.join(home.dir, "big.out");
    const get = await runMeasured(["obj", "get", "BIG", "big.bin", "-O", out, "--server", t.url, "--timeout", "30s"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(fs.statSync(out).size, 48 * 1024 * 1024);
    assert.equal(sha(out), sha(big));
    console.log(`# object put/get 48 MiB: peak RSS ${put.rssMb.toFixed(0)} / ${get.rssMb.toFixed(0)} MB, baseline ${base.rssMb.toFixed(0)} MB`);
    // The client keeps a window of chunk publishes in flight (put grew 31-42 MB over the full
    // suite's runs, get 23-31 MB); holding the 48 MiB file, and its chunk copies, would be more.
    assert.ok(put.rssMb - base.rssMb < 46, `put grew by ${(put.rssMb - base.rssMb).toFixed(0)} MB`);
    assert.ok(get.rssMb - base.rssMb < 46, `get grew by ${(get.rssMb - base.rssMb).toFixed(0)} MB`);
    fs.rmSync(big);
    fs.rmSync(out);
    await waitUntil(() => true);
  });
});
