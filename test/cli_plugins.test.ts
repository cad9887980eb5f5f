// tsnats CLI: natscli's plugins: `plugins register` stores the program and the model it
// prints for --fisk-introspect where natscli keeps them; the plugin becomes a top-level
// command that runs the program with the words after its name and the global flags it
// declares; registrations are checked (names, duplicates, programs that describe nothing).
// The plugin here is a small Node script that speaks fisk's introspection.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";

const home = new CliHome();
after(() => home.cleanup());

function writePlugin(file: string, model: unknown): void {
  fs.writeFileSync(
    file,
    `#!${process.execPath}
const args = process.argv.slice(2);
if (args[0] === "--fisk-introspect") { process.stdout.write(${JSON.stringify(JSON.stringify(model))}); process.exit(0); }
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify({ args, input }) + "\\n");
  process.stderr.write("plugin stderr\\n");
  process.exit(args.includes("--fail") ? 3 : 0);
});
`,
    { mode: 0o755 },
  );
}

describe("plugins", () => {
  const model = { name: "greeter", help: "Greets people", flags: [{ name: "server", help: "NATS servers" }, { name: "loud", help: "Shout", boolean: true }], commands: [{ name: "hello", help: "Say hello" }] };
  const prog = path.join(home.dir, "greeter.js");
  writePlugin(prog, model);

  test("register stores natscli's registration; the plugin runs as a top-level command", async () => {
    let r = await home.exec(["plugins", "register", "greet", prog]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /WARNING: Plugins support is experimental/);
    assert.match(r.stdout, new RegExp(`Plugin greet using command ${prog.replace(/[.]/g, "\\.")} was added or updated`));
    const stored = JSON.parse(fs.readFileSync(path.join(home.dir, ".local", "share", "nats", "cli", "plugins", "greet.json"), "utf8")) as { cmd: string; def: { help: string } };
    assert.equal(stored.cmd, prog);
    assert.equal(stored.def.help, "Greets people");

    r = await home.exec(["--help"]);
    assert.match(r.stdout, /greet \[args\.\.\.\] +Greets people \(plugin: /);

    r = await home.exec(["greet", "hello", "world", "--loud", "-x", "1"], { stdin: "from stdin" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { args: ["hello", "world", "--loud", "-x", "1"], input: "from stdin" });
    assert.match(r.stderr, /plugin stderr/);

    // Global flags the plugin declares are handed on; others (--timeout) are not.
    r = await home.exec(["--server", "nats://example:4222", "--timeout", "3s", "greet", "hello"]);
    assert.deepEqual(JSON.parse(r.stdout).args, ["hello", "--server=nats://example:4222"]);

    r = await home.exec(["greet", "--fail"]);
    assert.equal(r.code, 3, "the plugin's exit status");
  });

  test("registrations are checked", async () => {
    let r = await home.exec(["plugins", "register", "greet", prog]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /plugins greet already registered, use --force to update/);
    r = await home.exec(["plugins", "register", "greet", prog, "--force"]);
    assert.equal(r.code, 0, r.stderr);
    r = await home.exec(["plugins", "register", "Bad-Name", prog]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /plugins names must match/);
    r = await home.exec(["plugins", "register", "missing", path.join(home.dir, "nope")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a file/);
    const silent = path.join(home.dir, "silent.sh");
    fs.writeFileSync(silent, "#!/bin/sh\necho not json\n", { mode: 0o755 });
    r = await home.exec(["plugins", "register", "silent", silent]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /did not print an application model/);

    // A registration named like a tsnats command, or broken, is reported and skipped.
    const dir = path.join(home.dir, ".local", "share", "nats", "cli", "plugins");
    fs.writeFileSync(path.join(dir, "stream.json"), JSON.stringify({ cmd: prog, def: model }));
    fs.writeFileSync(path.join(dir, "junk.json"), "{");
    r = await home.exec(["greet", "hello"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Invalid plugin stream\.json: stream is a tsnats command/);
    assert.match(r.stderr, /Could not read plugin junk\.json/);
    r = await home.exec(["stream", "--help"]);
    assert.match(r.stdout, /JetStream stream management/, "the built-in command is untouched");
  });
});
