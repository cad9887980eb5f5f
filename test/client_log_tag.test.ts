// The tag nats-server 2.15 puts on a client's log lines from its first CONNECT on, after
// "<address> - cid:<n>": " - "v<version>:<lang>:<name>"" (the parts the client gave) and
// " - "<account>/<login>"" when it logged in as a user (no_auth_user included), nkey, JWT or
// with a token; a refused login names the credentials. Side by side over raw TCP.
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
  // Go's %q: printable runes stay (letters, symbols such as an emoji), others are escaped
  // (a control character, a no-break space, a zero-width space).
  { name: "a name with runes Go quotes", config: "", connect: { name: "caf\u00e9 \u{1f600} \u0001\u00a0\u200b~" } },
  { name: "a user of the global account", config: "authorization { users: [ { user: bob, password: pw } ] }", connect: { user: "bob", pass: "pw", lang: "nats.js", version: "3.0.0" } },
  { name: "a token", config: "authorization { token: tk }", connect: { auth_token: "tk" } },
  { name: "no_auth_user", config: "accounts { A { users: [ { user: al, password: pw } ] } }\nno_auth_user: al", connect: { name: "x" } },
  { name: "a user of an account", config: "accounts { A { users: [ { user: al, password: pw } ] } }", connect: { user: "al", pass: "pw" } },
  // Refused logins name the credentials (a token redacted); a bad protocol is logged after the close.
  { name: "a wrong token", config: "authorization { token: tk }", connect: { auth_token: "nope" } },
  { name: "a wrong password", config: "authorization { users: [ { user: bob, password: pw } ] }", connect: { user: "bob", pass: "no" } },
  { name: "no credentials", config: "authorization { users: [ { user: bob, password: pw } ] }", connect: {} },
  { name: "a client protocol nats-server does not know", config: "authorization { token: tk }", connect: { auth_token: "tk", protocol: 5 } },
];

/** The connection's log lines up to the one that closes it, without what precedes "cid:<n>". */
async function closedLines(line: "2.15" | "tsnats", config: string, connect: Record<string, unknown>): Promise<string[]> {
  const srv = await startNatsServer(["-D"], config, line);
  try {
    const c = await RawConn.connect(srv.port);
    // As UTF-8: RawConn sends a string as latin1.
    c.send(Buffer.from(`CONNECT ${JSON.stringify({ verbose: false, ...connect })}\r\nPING\r\n`, "utf8"));
    await c.waitFor(/PONG\r\n|-ERR/);
    c.close();
    const lines = (): string[] => srv.log().split("\n").filter((l) => /cid:\d+/.test(l) && !/connection created|Ping Timer/.test(l));
    // What nats-server logs after the close comes in the same turn: wait for the closing line and one more read.
    await waitUntil(() => lines().some((l) => l.includes("Client connection closed")), 10_000, "the connection's closing line");
    await srv.stop();
    return lines().map((l) => l.replace(/^.*cid:\d+/, ""));
  } finally {
    await srv.stop();
  }
}

describe("a client's log tag, side by side with nats-server 2.15", { skip }, () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ref = await closedLines("2.15", c.config, c.connect);
      const ts = await closedLines("tsnats", c.config, c.connect);
      assert.deepEqual(ts, ref);
    });
  }
});

describe("a client's PING timer in the debug log, side by side with nats-server 2.15", { skip }, () => {
  it("a busy client: the timer fires and the PING is put off", async () => {
    const seen: string[][] = [];
    for (const line of ["2.15", "tsnats"] as const) {
      const srv = await startNatsServer(["-D"], 'ping_interval: "1s"\n', line);
      const c = await RawConn.connect(srv.port);
      // Data every 100 ms: each timer finds the client heard from "0s ago" (once its RTT is known).
      const busy = setInterval(() => c.send("PUB a 0\r\n\r\n"), 100);
      try {
        c.send('CONNECT {"verbose":false}\r\nPING\r\n');
        await c.waitFor(/PONG\r\n/);
        const timerLines = (): string[] => [...new Set(srv.log().split("\n").filter((l) => /cid:\d+ - .*(Ping Timer|Delaying PING)/.test(l)).map((l) => l.replace(/^.*cid:\d+ - /, "")))];
        // The first timer (2 s) sends a PING to measure the RTT; the next ones (1 s) put it off.
        await waitUntil(() => timerLines().some((l) => l.startsWith("Delaying")), 20_000, "a delayed PING");
        seen.push(timerLines().sort());
      } finally {
        clearInterval(busy);
        c.close();
        await srv.stop();
      }
    }
    assert.deepEqual(seen[1], seen[0]);
    assert.deepEqual(seen[0], ["Client Ping Timer", "Delaying PING due to remote client data or ping 0s ago"]);
  });
});
