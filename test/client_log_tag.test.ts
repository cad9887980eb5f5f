// The tag nats-server 2.15 puts on a client's log lines from its first CONNECT on, after
// "<address> - cid:<n>": " - "v<version>:<lang>:<name>"" (the parts the client gave) and
// " - "<account>/<login>"" when it logged in as a user (no_auth_user included), nkey, JWT or
// with a token. Side by side over raw TCP, on the line that closes the connection.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawConn } from "./helpers/raw.js";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

const CASES: Array<{ name: string; config: string; connect: Record<string, unknown> }> = [
  { name: "name, lang and version, no auth", config: "", connect: { name: "app", lang: "go", version: "1.2" } },
  { name: "nothing given", config: "", connect: {} },
  { name: "lang only", config: "", connect: { lang: "c" } },
  { name: "a name with a quote", config: "", connect: { name: 'say "hi"' } },
  { name: "a user of the global account", config: "authorization { users: [ { user: bob, password: pw } ] }", connect: { user: "bob", pass: "pw", lang: "nats.js", version: "3.0.0" } },
  { name: "a token", config: "authorization { token: tk }", connect: { auth_token: "tk" } },
  { name: "no_auth_user", config: "accounts { A { users: [ { user: al, password: pw } ] } }\nno_auth_user: al", connect: { name: "x" } },
  { name: "a user of an account", config: "accounts { A { users: [ { user: al, password: pw } ] } }", connect: { user: "al", pass: "pw" } },
];

async function closedLine(line: "2.15" | "tsnats", config: string, connect: Record<string, unknown>): Promise<string> {
  const srv = await startNatsServer(["-D"], config, line);
  try {
    const c = await RawConn.connect(srv.port);
    c.send(`CONNECT ${JSON.stringify({ verbose: false, ...connect })}\r\nPING\r\n`);
    await c.waitFor(/PONG\r\n/);
    c.close();
    const closed = (): string | undefined => srv.log().split("\n").find((l) => /cid:\d+.* - Client connection closed/.test(l));
    await waitUntil(() => closed() !== undefined, 10_000, "the connection's closing line");
    return (closed() as string).replace(/^.*cid:\d+/, "");
  } finally {
    await srv.stop();
  }
}

describe("a client's log tag, side by side with nats-server 2.15", { skip }, () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ref = await closedLine("2.15", c.config, c.connect);
      const ts = await closedLine("tsnats", c.config, c.connect);
      assert.equal(ts, ref);
    });
  }
});
