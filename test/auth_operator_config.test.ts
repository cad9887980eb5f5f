// Operator-mode configurations that must not start, each refused with nats-server 2.15's
// message: conflicting settings, unreadable operator JWTs, bad resolvers and preloads, a
// system account the resolver does not know.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createAccount } from "@nats-io/nkeys";
import { encodeOperator } from "@nats-io/jwt";
import { loadConfigFile, validateOptions } from "../src/config/load.js";
import { startServer } from "../src/index.js";
import { referenceBinary } from "./helpers/nats_server.js";
import { newOperator, type OperatorFixture } from "./helpers/jwt.js";

const ref = referenceBinary("2.15");

/** The message without nats-server's prefix and the file:line:col position. */
function bare(msg: string): string {
  return msg
    .trim()
    .replace(/^nats-server: /, "")
    .replace(/^\S+:\d+:\d+: /, "");
}

/** Why tsnats refuses to start with this config, or undefined when it starts. */
async function tsnatsRefusal(file: string): Promise<string | undefined> {
  try {
    const opts = loadConfigFile(file);
    validateOptions(opts);
    const srv = await startServer({ ...opts, host: "127.0.0.1", port: -1 });
    await srv.close();
    return undefined;
  } catch (err) {
    return bare((err as Error).message);
  }
}

/** Why nats-server 2.15 refuses it (first line of its error), or undefined when it starts. */
function referenceRefusal(file: string): string | undefined {
  const r = spawnSync(ref!, ["-c", file, "-a", "127.0.0.1", "-p", "-1"], { encoding: "utf8", timeout: 3000 });
  if (r.status === 0 || r.status === null) return undefined;
  return bare((r.stderr + r.stdout).split("\n")[0]);
}

describe("operator-mode configurations refused at start, as nats-server 2.15", { skip: ref === undefined ? "nats-server 2.15 not available" : false }, () => {
  let dir: string;
  let op: OperatorFixture;
  let n = 0;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-opconf-"));
    op = await newOperator();
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function same(text: string, expected: string): Promise<void> {
    const file = path.join(dir, `c${n++}.conf`);
    fs.writeFileSync(file, text);
    const theirs = referenceRefusal(file);
    const mine = await tsnatsRefusal(file);
    assert.equal(theirs, expected, "nats-server's refusal");
    assert.equal(mine, expected, "tsnats' refusal");
  }

  it("the system account must resolve", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\n`, "error resolving system account: account missing");
  });

  it("accounts and users cannot be configured beside operators", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\naccounts { A: {} }\n`, "operators do not allow Accounts to be configured directly");
    await same(`operator: ${op.jwt}\nresolver: MEMORY\nauthorization { users: [{user: a, password: b}] }\n`, "operators do not allow users to be configured directly");
  });

  it("the system account of the config and of the operator must agree", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\nsystem_account: ${createAccount().getPublicKey()}\n`, "system_account in config and operator JWT must be identical");
  });

  it("operators and trusted_keys exclude each other", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\ntrusted_keys: ${op.pub}\n`, "conflicting options for 'TrustedKeys' and 'TrustedOperators'");
  });

  it("no_auth_user is not for operator mode", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\nno_auth_user: foo\n`, "no_auth_user not compatible with Trusted Operator");
  });

  it("an operator file that does not exist", async () => {
    await same(`operator: /nonexistent/op.jwt\nresolver: MEMORY\n`, "error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory");
  });

  it("a trusted key that is not an operator key", async () => {
    await same(`trusted_keys: foo\nresolver: MEMORY\n`, 'trust key "foo" required to be a valid public operator nkey');
  });

  it("resolver blocks: unknown type, missing dir, options their type refuses", async () => {
    await same(`operator: ${op.jwt}\nresolver: { type: foo, dir: ${dir} }\n`, 'error parsing account resolver, should be MEM or  URL("url") or a map containing dir and type state=[FULL|CACHE])');
    await same(`operator: ${op.jwt}\nresolver: { type: full }\n`, "dir has no value and needs to point to a directory");
    await same(`operator: ${op.jwt}\nresolver: { type: cache, dir: ${dir}, interval: "2m" }\n`, "CACHE does not accept sync");
    await same(`operator: ${op.jwt}\nresolver: { type: full, dir: ${dir}, ttl: "2m" }\n`, "FULL does not accept ttl");
  });

  it("a preload that is not an account JWT", async () => {
    await same(`operator: ${op.jwt}\nresolver: MEMORY\nresolver_preload: { A: "notajwt" }\n`, "invalid account JWT");
  });

  it("an operator that asserts a newer server version", async () => {
    const picky = await encodeOperator("PICKY", op.kp, { system_account: op.sys.pub, assert_server_version: "3.0.0" } as never);
    const file = path.join(dir, `c${n++}.conf`);
    fs.writeFileSync(file, `operator: ${picky}\nresolver: MEMORY\nresolver_preload: { ${op.sys.pub}: ${op.sys.jwt} }\n`);
    const expected = `operator ${op.pub} expected major version 3 > server major version 2`;
    assert.equal(referenceRefusal(file), expected);
    assert.equal(await tsnatsRefusal(file), expected);
  });
});
