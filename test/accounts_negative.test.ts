// What accounts keep apart, one rule per case, each checked on tsnats and on nats-server 2.15
// with the same clients: a subject of another account without an import, another account's
// JetStream API and stream subjects, a response after the response window, a second response
// to a singleton request, a publish the user may not make (also through an import), a forged
// reply subject, and a private export's subject in an account it was not exported to.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startConfigServer } from "./helpers/config_server.js";
import { CONNECT_INFO, RawConn } from "./helpers/raw.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";

const CONF = (dir: string): string => `
jetstream { store_dir: "${dir}" }
accounts {
  A: {
    users: [{user: a, password: a}]
    jetstream: enabled
    exports: [
      {service: "svc.>", response_threshold: "250ms"}
      {stream: "priv.>", accounts: [B]}
    ]
  }
  B: {
    users: [
      {user: b, password: b}
      {user: limited, password: limited, permissions: {publish: {deny: "svc.secret"}}}
    ]
    jetstream: enabled
    imports: [
      {service: {account: A, subject: "svc.>"}}
      {stream: {account: A, subject: "priv.>"}}
    ]
  }
  C: { users: [{user: c, password: c}], jetstream: enabled }
}
`;

type Outcomes = Record<string, unknown>;

async function raw(port: number, user: string): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.send(`CONNECT {"verbose":false,"pedantic":false,"user":"${user}","pass":"${user}","protocol":1,"headers":true,"no_responders":true}\r\nPING\r\n`);
  // The PONG and the INFO naming the account (connect_info) that follows it on both servers.
  await c.waitFor(CONNECT_INFO);
  c.take();
  return c;
}

/** Nothing arrives on `c` within a round trip through `via` and `c` (both flushed). */
async function silent(c: RawConn): Promise<string> {
  c.send("PING\r\n");
  const out = await c.waitFor("PONG\r\n");
  c.take();
  return out.replace(/PONG\r\n$/, "");
}

async function scenario(port: number): Promise<Outcomes> {
  const out: Outcomes = {};
  const a: NatsConnection = await connect({ port, user: "a", pass: "a" });
  const jsA = await a.request("$JS.API.STREAM.CREATE.ORDERS", JSON.stringify({ name: "ORDERS", subjects: ["orders.>"] }), { timeout: 3000 });
  out.streamCreated = (jsA.json<{ error?: unknown }>().error === undefined);
  const b = await raw(port, "b");
  const c = await raw(port, "c");
  const aRaw = await raw(port, "a");
  try {
    // 1. A subject of another account without an import: C's subscriber sees nothing of A.
    c.send("SUB plain.> 1\r\nSUB priv.> 3\r\n");
    await silent(c);
    aRaw.send("PUB plain.x 1\r\nx\r\nPUB priv.x 1\r\ny\r\n");
    await silent(aRaw);
    out.noImport = await silent(c);
    // 2. Another account's JetStream API: C asks about A's stream in its own JetStream.
    c.send("SUB _INBOX.c 9\r\nPUB $JS.API.STREAM.INFO.ORDERS _INBOX.c 0\r\n\r\n");
    const info = await c.waitFor((t) => t.includes("\r\n{") && t.endsWith("}\r\n"));
    c.take();
    out.otherJsApi = (JSON.parse(info.slice(info.indexOf("{"), info.lastIndexOf("}") + 1)) as { error?: unknown }).error;
    // 3. Another account's stream subject: C's publish is not stored in A's stream (no responders).
    c.send("PUB orders.x _INBOX.c 1\r\nz\r\n");
    const stored = await c.waitFor((t) => t.includes("HMSG") || t.includes("MSG"));
    c.take();
    out.otherStreamSubject = stored.includes("503") ? "503 no responders" : stored;
    const st = (await a.request("$JS.API.STREAM.INFO.ORDERS", "", { timeout: 3000 })).json<{ state: { messages: number } }>();
    out.aStreamMessages = st.state.messages;
    // 4. A response after the response window (250ms) is dropped; a second singleton response too.
    aRaw.send("SUB svc.> 1\r\n");
    await silent(aRaw);
    b.send("SUB _INBOX.b 1\r\nPUB svc.late _INBOX.b 1\r\nq\r\n");
    const req = await aRaw.waitFor((t) => /MSG svc\.late 1 _R_\.\S+/.test(t));
    aRaw.take();
    const reply = /MSG svc\.late 1 (_R_\.\S+)/.exec(req)?.[1] as string;
    await new Promise((r) => setTimeout(r, 400));
    aRaw.send(`PUB ${reply} 4\r\nlate\r\n`);
    await silent(aRaw);
    out.afterWindow = await silent(b);
    b.send("PUB svc.twice _INBOX.b 1\r\nq\r\n");
    const req2 = await aRaw.waitFor((t) => /MSG svc\.twice 1 _R_\.\S+/.test(t));
    aRaw.take();
    const reply2 = /MSG svc\.twice 1 (_R_\.\S+)/.exec(req2)?.[1] as string;
    aRaw.send(`PUB ${reply2} 5\r\nfirst\r\nPUB ${reply2} 6\r\nsecond\r\n`);
    await silent(aRaw);
    await b.waitFor((t) => t.includes("first"));
    out.singleton = (await silent(b)).replace(/MSG _INBOX\.b 1 /g, "MSG ");
    // 5. A publish the user may not make, through an import too: -ERR, the connection stays.
    const limited = await raw(port, "limited");
    limited.send("PUB svc.secret 1\r\nx\r\n");
    out.denied = await silent(limited);
    out.deniedStillOpen = !limited.closed;
    limited.socket.destroy();
    // 6. A reply subject owned by the server cannot be forged.
    b.send("PUB x _R_.abcdef.ghijkl 1\r\nx\r\n");
    out.forgedReply = await silent(b);
  } finally {
    for (const r of [b, c, aRaw]) r.socket.destroy();
    await a.close();
  }
  return out;
}

describe("accounts stay apart", () => {
  it("refuses what crosses accounts without an import or grant, as nats-server 2.15", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-accneg-"));
    try {
      const srv = await startConfigServer(CONF(path.join(dir, "ours")));
      let ours: Outcomes;
      try {
        ours = await scenario(srv.port);
      } finally {
        await srv.close();
      }
      assert.deepEqual(ours, {
        streamCreated: true,
        noImport: "",
        otherJsApi: { code: 404, err_code: 10059, description: "stream not found" },
        otherStreamSubject: "503 no responders",
        aStreamMessages: 0,
        afterWindow: "",
        singleton: "MSG 5\r\nfirst\r\n",
        denied: `-ERR 'Permissions Violation for Publish to "svc.secret"'\r\n`,
        deniedStillOpen: true,
        forgedReply: `-ERR 'Permissions Violation for Publish with Reply of "_R_.abcdef.ghijkl"'\r\n`,
      });
      if (referenceBinary("2.15") !== undefined) {
        const ns = await startNatsServer([], CONF(path.join(dir, "theirs")), "2.15");
        try {
          assert.deepEqual(ours, await scenario(ns.port));
        } finally {
          await ns.stop();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
