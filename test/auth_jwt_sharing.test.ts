// Account JWTs share subjects: stream and service exports, imports of them (public, and
// private with activation tokens, revoked or expiring), response types and mappings, all
// applied through the account model, each scenario run against tsnats and nats-server 2.15.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { createAccount } from "@nats-io/nkeys";
import { encodeActivation, type Export, type Import } from "@nats-io/jwt";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { referenceBinary, startNatsServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";
import {
  epoch,
  memoryResolverConfig,
  newAccount,
  newOperator,
  newUser,
  startFromConfigText,
  type AccountFixture,
  type OperatorFixture,
  type UserFixture,
} from "./helpers/jwt.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

type Scenario<T> = (url: string) => Promise<T>;

/** The scenario against tsnats, then nats-server 2.15, both started from `config`. */
async function onBoth<T>(config: string, scenario: Scenario<T>): Promise<{ ts: T; ref: T }> {
  const srv = await startFromConfigText(config);
  let ts: T;
  try {
    ts = await scenario(srv.url);
  } finally {
    await srv.close();
  }
  const ref = await startNatsServer([], config, "2.15");
  try {
    return { ts, ref: await scenario(`nats://127.0.0.1:${ref.port}`) };
  } finally {
    await ref.stop();
  }
}

async function login(url: string, u: UserFixture): Promise<NatsConnection> {
  return connect({ servers: url, authenticator: credsAuthenticator(u.creds) });
}

/**
 * Messages `sub` receives on `subject` for what `publish` sends (it flushes its connection):
 * at least `expect` of them, then whatever a round trip of the subscriber still brings (the
 * server routes a publish before answering the publisher's PING, so nothing is missed).
 */
async function collect(sub: NatsConnection, subject: string, publish: () => Promise<void>, expect = 0): Promise<string[]> {
  const got: string[] = [];
  const s = sub.subscribe(subject, {
    callback: (_e, m) => {
      got.push(`${m.subject}:${m.string()}`);
    },
  });
  await sub.flush();
  await publish();
  await waitUntil(() => got.length >= expect, 5000, `${expect} messages on ${subject}`);
  await sub.flush();
  s.unsubscribe();
  return got;
}

async function tryRequest(nc: NatsConnection, subject: string, data: string): Promise<string> {
  try {
    // Refused requests fail at once (no responders), so a generous timeout costs nothing and
    // keeps a slow answer on a loaded machine from passing for a refusal.
    const m = await nc.request(subject, data, { timeout: 20_000 });
    return m.string();
  } catch (err) {
    return `error: ${(err as Error).message.split("\n")[0]}`;
  }
}

describe("account JWT exports and imports, compared with nats-server 2.15", { skip }, () => {
  let op: OperatorFixture;

  before(async () => {
    op = await newOperator();
  });

  async function pair(exports: Partial<Export>[], imports: (exporter: AccountFixture, importerKp: ReturnType<typeof createAccount>) => Promise<Partial<Import>[]>) {
    const exporter = await newAccount(op, "EXP", { exports: exports as Export[] });
    const importerKp = createAccount();
    const importer = await newAccount(op, "IMP", { imports: (await imports(exporter, importerKp)) as Import[] }, {}, importerKp);
    return { exporter, importer, eu: await newUser(exporter, "eu"), iu: await newUser(importer, "iu") };
  }

  it("a public stream export reaches the importer, renamed by prefix or local subject", async () => {
    const { exporter, importer, eu, iu } = await pair([{ name: "s", subject: "news.>", type: "stream" }], async (e) => [
      { name: "plain", subject: "news.plain.>", account: e.pub, type: "stream" },
      { name: "prefixed", subject: "news.pre.>", account: e.pub, type: "stream", to: "from-exp" },
      { name: "local", subject: "news.local.*", account: e.pub, type: "stream", local_subject: "mine.$1" },
    ]);
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [exporter, importer]), async (url) => {
      const pub = await login(url, eu);
      const sub = await login(url, iu);
      const got = await collect(
        sub,
        ">",
        async () => {
          for (const s of ["news.plain.a", "news.pre.b", "news.local.c", "other.d"]) pub.publish(s, "x");
          await pub.flush();
        },
        3,
      );
      await pub.close();
      await sub.close();
      return got.filter((g) => !g.startsWith("$SYS")).sort();
    });
    assert.deepEqual(ts, ref);
    assert.deepEqual(ts, ["from-exp.news.pre.b:x", "mine.c:x", "news.plain.a:x"]);
  });

  it("a public service export answers the importer; unexported subjects stay private", async () => {
    const { exporter, importer, eu, iu } = await pair([{ name: "svc", subject: "svc.>", type: "service" }], async (e) => [
      { name: "help", subject: "help.*", account: e.pub, type: "service", to: "svc.help.*" },
    ]);
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [exporter, importer]), async (url) => {
      const responder = await login(url, eu);
      responder.subscribe("svc.>", {
        callback: (_e, m) => {
          m.respond(`${m.subject} answers ${m.string()}`);
        },
      });
      responder.subscribe("private", {
        callback: (_e, m) => {
          m.respond("leak");
        },
      });
      await responder.flush();
      const req = await login(url, iu);
      const out = [await tryRequest(req, "help.me", "q1"), await tryRequest(req, "svc.help.me", "q2"), await tryRequest(req, "private", "q3")];
      await req.close();
      await responder.close();
      return out;
    });
    assert.deepEqual(ts, ref);
    assert.equal(ts[0], "svc.help.me answers q1");
  });

  it("a private service export needs an activation token the exporter signed", async () => {
    const exportSigner = createAccount();
    const exporterKp = createAccount();
    const importerKp = createAccount();
    const stranger = createAccount();
    const exporter = await newAccount(
      op,
      "EXP",
      { exports: [{ name: "p", subject: "priv.>", type: "service", token_req: true }] as Export[], signing_keys: [exportSigner.getPublicKey()] },
      {},
      exporterKp,
    );
    const good = await encodeActivation("act", importerKp.getPublicKey(), exporterKp, "service", { subject: "priv.a" });
    const bySigner = await encodeActivation("act2", importerKp.getPublicKey(), exporterKp, "service", { subject: "priv.b" }, { signer: exportSigner });
    const expired = await encodeActivation("old", importerKp.getPublicKey(), exporterKp, "service", { subject: "priv.d" }, { exp: epoch(-10) });
    const importer = await newAccount(
      op,
      "IMP",
      {
        imports: [
          { name: "a", subject: "priv.a", account: exporter.pub, type: "service", token: good },
          { name: "b", subject: "priv.b", account: exporter.pub, type: "service", token: bySigner },
          { name: "d", subject: "priv.d", account: exporter.pub, type: "service", token: expired },
          { name: "e", subject: "priv.e", account: exporter.pub, type: "service" },
        ] as Import[],
      },
      {},
      importerKp,
    );
    const eu = await newUser(exporter, "eu");
    const iu = await newUser(importer, "iu");
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [exporter, importer]), async (url) => {
      const responder = await login(url, eu);
      responder.subscribe("priv.>", {
        callback: (_e, m) => {
          m.respond(`ok ${m.subject}`);
        },
      });
      await responder.flush();
      const req = await login(url, iu);
      const out: string[] = [];
      for (const s of ["priv.a", "priv.b", "priv.d", "priv.e"]) out.push(await tryRequest(req, s, ""));
      await req.close();
      await responder.close();
      return out;
    });
    assert.deepEqual(ts, ref);
    assert.deepEqual(ts.slice(0, 2), ["ok priv.a", "ok priv.b"]);
    // A token signed by a stranger makes the importing account's JWT invalid: its users cannot log in.
    const forgedKp = createAccount();
    const forgedToken = await encodeActivation("forged", forgedKp.getPublicKey(), stranger, "service", { subject: "priv.c" });
    const forgedAcc = await newAccount(
      op,
      "FORGED",
      { imports: [{ name: "c", subject: "priv.c", account: exporter.pub, type: "service", token: forgedToken }] as Import[] },
      {},
      forgedKp,
    );
    const fu = await newUser(forgedAcc, "fu");
    const refused = await onBoth(memoryResolverConfig(op, [exporter, forgedAcc]), async (url) => {
      try {
        await (await login(url, fu)).close();
        return "logged in";
      } catch (err) {
        return (err as Error).message;
      }
    });
    assert.equal(refused.ts, refused.ref);
    assert.equal(refused.ts, "Authorization Violation");
  });

  it("an activation revoked by the exporter does not import; another importer's still does", async () => {
    const exporterKp = createAccount();
    const revokedKp = createAccount();
    const keptKp = createAccount();
    const exporter = await newAccount(
      op,
      "EXP",
      { exports: [{ name: "p", subject: "feed", type: "stream", token_req: true, revocations: { [revokedKp.getPublicKey()]: epoch(30) } }] as Export[] },
      {},
      exporterKp,
    );
    const mk = async (kp: ReturnType<typeof createAccount>, name: string): Promise<AccountFixture> => {
      const token = await encodeActivation(name, kp.getPublicKey(), exporterKp, "stream", { subject: "feed" });
      return newAccount(op, name, { imports: [{ name: "f", subject: "feed", account: exporter.pub, type: "stream", token }] as Import[] }, {}, kp);
    };
    const revoked = await mk(revokedKp, "REVOKED");
    const kept = await mk(keptKp, "KEPT");
    const eu = await newUser(exporter, "eu");
    const ru = await newUser(revoked, "ru");
    const ku = await newUser(kept, "ku");
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [exporter, revoked, kept]), async (url) => {
      const pub = await login(url, eu);
      const r = await login(url, ru);
      const k = await login(url, ku);
      const gotR: string[] = [];
      r.subscribe("feed", {
        callback: (_e, m) => {
          gotR.push(m.string());
        },
      });
      await r.flush();
      const gotK = await collect(
        k,
        "feed",
        async () => {
          pub.publish("feed", "tick");
          await pub.flush();
        },
        1,
      );
      await r.flush();
      for (const c of [pub, r, k]) await c.close();
      return { revoked: gotR, kept: gotK };
    });
    assert.deepEqual(ts, ref);
    assert.deepEqual(ts, { revoked: [], kept: ["feed:tick"] });
  });

  it("a streamed service response and JWT subject mappings", async () => {
    const exporter = await newAccount(op, "EXP", {
      exports: [{ name: "chunks", subject: "chunks", type: "service", response_type: "Stream" }] as Export[],
      ...({ mappings: { "old.*": [{ subject: "new.$1" }] } } as object),
    });
    const importer = await newAccount(op, "IMP", { imports: [{ name: "c", subject: "chunks", account: exporter.pub, type: "service" }] as Import[] });
    const eu = await newUser(exporter, "eu");
    const iu = await newUser(importer, "iu");
    const { ts, ref } = await onBoth(memoryResolverConfig(op, [exporter, importer]), async (url) => {
      const responder = await login(url, eu);
      responder.subscribe("chunks", {
        callback: (_e, m) => {
          for (let i = 1; i <= 3; i++) responder.publish(m.reply!, `part ${i}`);
        },
      });
      await responder.flush();
      const req = await login(url, iu);
      const inbox = "_INBOX.stream.test";
      const parts = await collect(
        req,
        inbox,
        async () => {
          req.publish("chunks", "", { reply: inbox });
          await req.flush();
        },
        3,
      );
      const mapped = await collect(
        responder,
        "new.*",
        async () => {
          responder.publish("old.x", "m");
          await responder.flush();
        },
        1,
      );
      await req.close();
      await responder.close();
      return { parts, mapped };
    });
    assert.deepEqual(ts, ref);
    assert.equal(ts.parts.length, 3);
    assert.deepEqual(ts.mapped, ["new.x:m"]);
  });

  it("JWT accounts get the system imports: $SYS.REQ.USER.INFO answers their users", async () => {
    const acc = await newAccount(op, "A");
    const u = await newUser(acc, "u");
    const srv = await startFromConfigText(memoryResolverConfig(op, [acc]));
    try {
      const nc = await login(srv.url, u);
      const info = (await nc.request("$SYS.REQ.USER.INFO", "", { timeout: 2000 })).json<{ data: { user: string; account: string } }>();
      assert.equal(info.data.user, u.pub);
      assert.equal(info.data.account, acc.pub);
      await nc.close();
    } finally {
      await srv.close();
    }
  });

  it("an import stops when its activation token expires", async () => {
    const exporterKp = createAccount();
    const importerKp = createAccount();
    const exporter = await newAccount(op, "EXP", { exports: [{ name: "p", subject: "timed", type: "service", token_req: true }] as Export[] }, {}, exporterKp);
    // Valid for 10 s: time enough to see the import work on a loaded machine.
    const token = await encodeActivation("t", importerKp.getPublicKey(), exporterKp, "service", { subject: "timed" }, { exp: epoch(10) });
    const importer = await newAccount(op, "IMP", { imports: [{ name: "t", subject: "timed", account: exporter.pub, type: "service", token }] as Import[] }, {}, importerKp);
    const srv = await startFromConfigText(memoryResolverConfig(op, [exporter, importer]));
    try {
      const responder = await login(srv.url, await newUser(exporter, "eu"));
      responder.subscribe("timed", {
        callback: (_e, m) => {
          m.respond("in time");
        },
      });
      await responder.flush();
      const req = await login(srv.url, await newUser(importer, "iu"));
      assert.equal(await tryRequest(req, "timed", ""), "in time");
      // Once the token expires the import is gone: the importer has no responder any more.
      let last = "";
      const deadline = Date.now() + 60_000;
      while ((last = await tryRequest(req, "timed", "")) === "in time") {
        assert.ok(Date.now() < deadline, "the import did not stop");
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(last, /^error: no responders/);
      await req.close();
      await responder.close();
    } finally {
      await srv.close();
    }
  });
});
