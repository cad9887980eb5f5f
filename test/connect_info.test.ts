// The INFO nats-server 2.15 sends after CONNECT (connect_info): which clients get it, when, and
// what it says, checked over raw TCP on tsnats and nats-server 2.15 side by side.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createUser } from "@nats-io/nkeys";
import { RawConn } from "./helpers/raw.js";
import { startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { referenceMissing } from "./helpers/side_by_side.js";

const nkeyUser = createUser();
const CONFIG = `
accounts {
  A { users [{user: a, password: a}, {nkey: ${nkeyUser.getPublicKey()}}] }
  SYS { users [{user: s, password: s}] }
}
system_account: SYS
no_auth_user: a
`;

/** One protocol op as a client sees it: INFO with the fields under test, or the op's text. */
type Op = string | { info: Record<string, unknown> };

function opsOf(text: string, initialInfo: Record<string, unknown>): Op[] {
  const ops: Op[] = [];
  for (const line of text.split("\r\n")) {
    if (line === "") continue;
    if (!line.startsWith("INFO ")) {
      ops.push(line);
      continue;
    }
    const info = JSON.parse(line.slice(5)) as Record<string, unknown>;
    ops.push({
      info: {
        connect_info: info.connect_info,
        remote_account: info.remote_account,
        acc_is_sys: info.acc_is_sys,
        has_nonce: info.nonce !== undefined,
        auth_required: info.auth_required,
        same_client_id: info.client_id === initialInfo.client_id,
        same_server: info.server_id === initialInfo.server_id,
        client_ip: info.client_ip,
        max_payload: info.max_payload,
        api_lvl: info.api_lvl,
      },
    });
  }
  return ops;
}

/** Send `input`, then read up to and including the `pongs`-th PONG (and the INFO that may follow it). */
async function exchange(port: number, input: (c: RawConn) => string, pongs: number): Promise<Op[]> {
  const c = await RawConn.connect(port);
  try {
    c.send(input(c));
    const count = (t: string): number => t.split("PONG\r\n").length - 1;
    // A trailing PING of our own marks the end: everything the server says before its PONG is in.
    await c.waitFor((t) => count(t) >= pongs);
    c.send("PING\r\n");
    await c.waitFor((t) => count(t) >= pongs + 1);
    return opsOf(c.text().replace(/PONG\r\n$/, ""), c.info);
  } finally {
    c.socket.destroy();
  }
}

function signedConnect(c: RawConn): string {
  const sig = Buffer.from(nkeyUser.sign(Buffer.from(String(c.info.nonce)))).toString("base64url");
  return `CONNECT {"verbose":false,"protocol":1,"nkey":"${nkeyUser.getPublicKey()}","sig":"${sig}"}\r\nPING\r\n`;
}

const PING_FIRST = (): string => `PING\r\nCONNECT {"verbose":false,"protocol":1}\r\nPING\r\n`;

const CASES: Array<{ name: string; input: (c: RawConn) => string; pongs: number }> = [
  { name: "protocol 1, no_auth_user", input: () => `CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n`, pongs: 1 },
  { name: "protocol 0", input: () => `CONNECT {"verbose":false,"protocol":0}\r\nPING\r\n`, pongs: 1 },
  { name: "no protocol field", input: () => `CONNECT {"verbose":false}\r\nPING\r\n`, pongs: 1 },
  { name: "verbose", input: () => `CONNECT {"verbose":true,"protocol":1}\r\nPING\r\n`, pongs: 1 },
  { name: "only the first PING", input: () => `CONNECT {"verbose":false,"protocol":1}\r\nPING\r\nPING\r\nPING\r\n`, pongs: 3 },
  { name: "user in account A", input: () => `CONNECT {"verbose":false,"protocol":1,"user":"a","pass":"a"}\r\nPING\r\n`, pongs: 1 },
  { name: "system account user", input: () => `CONNECT {"verbose":false,"protocol":1,"user":"s","pass":"s"}\r\nPING\r\n`, pongs: 1 },
  { name: "nkey user (the nonce is not repeated)", input: signedConnect, pongs: 1 },
  { name: "SUB before the first PING", input: () => `CONNECT {"verbose":false,"protocol":1}\r\nSUB x 1\r\nPUB x 2\r\nhi\r\nPING\r\n`, pongs: 1 },
];

describe("connect_info: the INFO after CONNECT", { concurrency: false }, () => {
  // With users and accounts, and without authentication (where a PING may precede CONNECT).
  let ours: ReferenceServer;
  let ref: ReferenceServer | undefined;
  let oursOpen: ReferenceServer;
  let refOpen: ReferenceServer | undefined;
  const missing = referenceMissing("2.15");
  before(async () => {
    [ours, oursOpen, ref, refOpen] = await Promise.all([
      startNatsServer([], CONFIG, "tsnats"),
      startNatsServer([], undefined, "tsnats"),
      missing ? Promise.resolve(undefined) : startNatsServer([], CONFIG, "2.15"),
      missing ? Promise.resolve(undefined) : startNatsServer([], undefined, "2.15"),
    ]);
  });
  after(async () => {
    await Promise.all([ours?.stop(), oursOpen?.stop(), ref?.stop(), refOpen?.stop()]);
  });

  it("follows the first PONG of a protocol 1 client, naming its account", async () => {
    const ops = await exchange(ours.port, CASES[0]!.input, 1);
    assert.deepEqual(ops, [
      "PONG",
      {
        info: {
          connect_info: true,
          remote_account: "A",
          acc_is_sys: undefined,
          has_nonce: false,
          auth_required: true,
          same_client_id: true,
          same_server: true,
          client_ip: "127.0.0.1",
          max_payload: 1048576,
          api_lvl: 5,
        },
      },
    ]);
    const sys = await exchange(ours.port, CASES[6]!.input, 1);
    assert.deepEqual(sys[1], { info: { ...(ops[1] as { info: object }).info, remote_account: "SYS", acc_is_sys: true } });
  });

  it("is sent once, and not to protocol 0 clients", async () => {
    assert.deepEqual(await exchange(ours.port, CASES[1]!.input, 1), ["PONG"]);
    const three = await exchange(ours.port, CASES[4]!.input, 3);
    assert.deepEqual(three.map((o) => (typeof o === "string" ? o : "INFO")), ["PONG", "INFO", "PONG", "PONG"]);
  });

  it("a PING before CONNECT gets no INFO; the first one after CONNECT does", async () => {
    const ops = await exchange(oursOpen.port, PING_FIRST, 2);
    assert.deepEqual(ops.map((o) => (typeof o === "string" ? o : "INFO")), ["PONG", "PONG", "INFO"]);
    assert.equal((ops[2] as { info: Record<string, unknown> }).info.remote_account, "$G");
  });

  it("is the same as nats-server 2.15's in every case", async (t) => {
    if (ref === undefined || refOpen === undefined) {
      t.skip(missing || "no reference");
      return;
    }
    for (const c of CASES) {
      const [a, b]: Op[][] = await Promise.all([exchange(ours.port, c.input, c.pongs), exchange(ref.port, c.input, c.pongs)]);
      assert.deepEqual(a, b, c.name);
    }
    const open = [{ name: "PING before CONNECT", input: PING_FIRST, pongs: 2 }, ...CASES.slice(0, 5)];
    for (const c of open) {
      const [a, b]: Op[][] = await Promise.all([exchange(oursOpen.port, c.input, c.pongs), exchange(refOpen.port, c.input, c.pongs)]);
      assert.deepEqual(a, b, `${c.name}, no authentication`);
    }
  });
});
