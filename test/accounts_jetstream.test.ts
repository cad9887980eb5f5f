// JetStream per account in config mode: which accounts have it (nats-server 2.15's rule),
// account limits and their errors, the domain mappings, and JetStream used across accounts
// (another account's $JS.API through a service import, push deliveries through a stream
// import with acks through a service import). Each scenario runs on tsnats and, when
// available, on nats-server 2.15, and must read the same.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, jwtAuthenticator, type Msg } from "@nats-io/transport-node";
import { memoryResolverConfig, newAccount, newOperator, newUser } from "./helpers/jwt.js";
import { startConfigServer } from "./helpers/config_server.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";
import { requestJson } from "./helpers/jetstream.js";

type Json = Record<string, unknown>;

/** Run `scenario` on tsnats and on nats-server 2.15 (if available) with the same config. */
async function onBoth<T>(conf: (storeDir: string) => string, scenario: (port: number, monitor: string) => Promise<T>): Promise<{ ours: T; theirs: T | undefined }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-accjs-"));
  try {
    const srv = await startConfigServer(conf(path.join(dir, "ours")), { httpPort: -1 });
    let ours: T;
    try {
      ours = await scenario(srv.port, srv.monitorUrl as string);
    } finally {
      await srv.close();
    }
    if (referenceBinary("2.15") === undefined) return { ours, theirs: undefined };
    const ns: ReferenceServer = await startNatsServer(["-m", "-1"], conf(path.join(dir, "theirs")), "2.15");
    try {
      return { ours, theirs: await scenario(ns.port, ns.monitorUrl as string) };
    } finally {
      await ns.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const req = requestJson;

/** An API answer reduced to what both servers must agree on: the error, or success. */
function outcome(r: Json): string {
  const e = r.error as Json | undefined;
  return e !== undefined ? `${String(e.err_code)} ${String(e.description)}` : "ok";
}

describe("JetStream per account", () => {
  it("enables JetStream in the accounts nats-server 2.15 enables it in", async () => {
    const configs: Array<[string, string[]]> = [
      // No accounts: the global account.
      ["authorization { users: [{user: g, password: g}] }", ["g"]],
      // Accounts that do not say: none (not even $G's users).
      ["authorization { users: [{user: g, password: g}] }\naccounts { A: { users: [{user: a, password: a}] } }", ["g", "a"]],
      // Exactly the accounts that enable it.
      ["accounts { A: { users: [{user: a, password: a}], jetstream: enabled }, B: { users: [{user: b, password: b}] }, C: { users: [{user: c, password: c}], jetstream: disabled } }", ["a", "b", "c"]],
    ];
    for (const [accounts, users] of configs) {
      const { ours, theirs } = await onBoth(
        (dir) => `jetstream { store_dir: "${dir}" }\n${accounts}\n`,
        async (port) => {
          const out: string[] = [];
          for (const u of users) {
            const nc = await connect({ port, user: u, pass: u });
            out.push(`${u}: ${outcome(await req(nc, "$JS.API.INFO"))}`);
            await nc.close();
          }
          return out;
        },
      );
      assert.deepEqual(ours.length, users.length);
      if (theirs !== undefined) assert.deepEqual(ours, theirs, accounts);
    }
  });

  it("enforces account limits with nats-server's errors", async () => {
    const { ours, theirs } = await onBoth(
      (dir) => `jetstream { store_dir: "${dir}" }
accounts {
  L: {
    users: [{user: l, password: l}]
    jetstream: { max_mem: 4096, max_file: 1M, max_streams: 3, max_consumers: 2, max_ack_pending: 100, max_bytes_required: true, mem_max_stream_bytes: 2048, disk_max_stream_bytes: 65536 }
  }
  Z: { users: [{user: z, password: z}], jetstream: { max_mem: 0 } }
}
`,
      async (port) => {
        const l = await connect({ port, user: "l", pass: "l" });
        const z = await connect({ port, user: "z", pass: "z" });
        const out: Record<string, unknown> = {};
        try {
          out.limits = (await req(l, "$JS.API.INFO")).limits;
          const stream = (name: string, cfg: Json): Promise<Json> => req(l, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [name.toLowerCase()], ...cfg });
          out.noMaxBytes = outcome(await stream("S1", {}));
          out.perStreamTooBig = outcome(await stream("M1", { storage: "memory", max_bytes: 4096 }));
          out.memOk = outcome(await stream("M1", { storage: "memory", max_bytes: 2048 }));
          out.memOverAccount = outcome(await stream("M2", { storage: "memory", max_bytes: 2049 }));
          out.maxConsumersOverAccount = outcome(await stream("F0", { max_bytes: 1000, max_consumers: 5 }));
          out.file1 = outcome(await stream("F1", { max_bytes: 1000 }));
          out.file2 = outcome(await stream("F2", { max_bytes: 1000 }));
          out.fourthStream = outcome(await stream("F3", { max_bytes: 1000 }));
          const consumer = (s: string, name: string, cfg: Json): Promise<Json> =>
            req(l, `$JS.API.CONSUMER.CREATE.${s}.${name}`, { stream_name: s, config: { durable_name: name, ack_policy: "explicit", ...cfg } });
          out.ackPendingOver = outcome(await consumer("F1", "C0", { max_ack_pending: 1000 }));
          const c1 = await consumer("F1", "C1", {});
          out.defaultAckPending = (c1.config as Json).max_ack_pending;
          out.c2 = outcome(await consumer("F1", "C2", {}));
          out.c3SameStream = outcome(await consumer("F1", "C3", {}));
          out.c3OtherStream = outcome(await consumer("F2", "C3", {}));
          out.zeroMemory = outcome(await req(z, "$JS.API.STREAM.CREATE.ZM", { name: "ZM", subjects: ["zm"], storage: "memory" }));
          out.zeroMemoryFile = outcome(await req(z, "$JS.API.STREAM.CREATE.ZF", { name: "ZF", subjects: ["zf"] }));
        } finally {
          await l.close();
          await z.close();
        }
        return out;
      },
    );
    assert.deepEqual(ours, {
      limits: {
        max_memory: 4096,
        max_storage: 1000000,
        max_streams: 3,
        max_consumers: 2,
        max_ack_pending: 100,
        memory_max_stream_bytes: 2048,
        storage_max_stream_bytes: 65536,
        max_bytes_required: true,
      },
      noMaxBytes: "10113 account requires a stream config to have max bytes set",
      perStreamTooBig: "10122 stream max bytes exceeds account limit max stream bytes",
      memOk: "ok",
      memOverAccount: "10028 insufficient memory resources available",
      maxConsumersOverAccount: "10026 maximum consumers limit reached",
      file1: "ok",
      file2: "ok",
      fourthStream: "10027 maximum number of streams reached",
      ackPendingOver: "10121 consumer max ack pending exceeds system limit of 100",
      defaultAckPending: 100,
      c2: "ok",
      c3SameStream: "10026 maximum consumers limit reached",
      c3OtherStream: "ok",
      zeroMemory: "10028 insufficient memory resources available",
      zeroMemoryFile: "ok",
    });
    if (theirs !== undefined) assert.deepEqual(ours, theirs);
  });

  it("maps $JS.<domain>.API onto the local API in every account, as account mappings", async () => {
    const { ours, theirs } = await onBoth(
      (dir) => `jetstream { store_dir: "${dir}", domain: hub }
accounts {
  A: { users: [{user: a, password: a}], jetstream: enabled }
  B: { users: [{user: b, password: b}] }
}
`,
      async (port, monitor) => {
        const a = await connect({ port, user: "a", pass: "a" });
        const b = await connect({ port, user: "b", pass: "b" });
        try {
          const mappings = async (acc: string): Promise<unknown> =>
            ((await (await fetch(`${monitor}/accountz?acc=${acc}`)).json()) as { account_detail: Json }).account_detail.mappings;
          return {
            viaDomain: outcome(await req(a, "$JS.hub.API.INFO")),
            domainInInfo: (await req(a, "$JS.API.INFO")).domain,
            otherAccount: outcome(await req(b, "$JS.hub.API.INFO")),
            mappingsA: await mappings("A"),
            mappingsB: await mappings("B"),
          };
        } finally {
          await a.close();
          await b.close();
        }
      },
    );
    assert.equal(ours.viaDomain, "ok");
    assert.equal(ours.domainInInfo, "hub");
    assert.equal(ours.otherAccount, "10039 JetStream not enabled for account");
    assert.deepEqual((ours.mappingsA as Json)["$JS.hub.API.STREAM.>"], [{ subject: "$JS.API.STREAM.>", weight: 100 }]);
    if (theirs !== undefined) assert.deepEqual(ours, theirs);
  });
});

describe("JetStream across accounts", () => {
  const CONF = (dir: string): string => `jetstream { store_dir: "${dir}" }
accounts {
  A: {
    users: [{user: a, password: a}]
    jetstream: enabled
    exports: [
      {service: "$JS.API.>"}
      {service: "$JS.ACK.>"}
      {service: "orders.>"}
      {stream: "dlv.b"}
    ]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {service: {account: A, subject: "$JS.API.>"}}
      {service: {account: A, subject: "$JS.ACK.>"}}
      {service: {account: A, subject: "orders.>"}}
      {stream: {account: A, subject: "dlv.b"}}
    ]
  }
}
`;

  /** What B sees using A's JetStream, on one server. */
  async function scenario(port: number): Promise<Json> {
    const a = await connect({ port, user: "a", pass: "a" });
    const b = await connect({ port, user: "b", pass: "b" });
    const out: Json = {};
    try {
      // B manages A's streams through the imported API (one answer: A's, not "not enabled").
      const answers: Msg[] = [];
      const inbox = b.subscribe("_INBOX.once", { callback: (_e, m) => void answers.push(m) });
      await b.flush();
      b.publish("$JS.API.STREAM.CREATE.ORDERS", JSON.stringify({ name: "ORDERS", subjects: ["orders.>"] }), { reply: "_INBOX.once" });
      await waitUntil(() => answers.length >= 1);
      await b.flush();
      await a.flush();
      inbox.unsubscribe();
      out.createAnswers = answers.map((m) => outcome(m.json<Json>()));
      out.seenFromA = outcome(await req(a, "$JS.API.STREAM.INFO.ORDERS"));
      // B publishes into A's stream through the service import and gets the PubAck back.
      out.pubAck = (await b.request("orders.1", "one", { timeout: 3000 })).json<Json>();
      await b.request("orders.2", "two", { timeout: 3000 });
      // A push consumer delivering to a subject B imports; B acks through the imported $JS.ACK.
      const got: Msg[] = [];
      const sub = b.subscribe("dlv.b", { callback: (_e, m) => void got.push(m) });
      await b.flush();
      const cr = await req(b, "$JS.API.CONSUMER.CREATE.ORDERS.PUSH", {
        stream_name: "ORDERS",
        config: { durable_name: "PUSH", deliver_subject: "dlv.b", ack_policy: "explicit" },
      });
      out.consumer = outcome(cr);
      await waitUntil(() => got.length >= 2, 5000, "two deliveries in B");
      out.delivered = got.map((m) => `${m.subject} ${m.string()} ${/^\$JS\.ACK\.ORDERS\.PUSH\./.test(m.reply ?? "")}`);
      for (const m of got) b.publish(m.reply as string, "");
      await b.flush();
      let info: Json = {};
      for (let i = 0; i < 100; i++) {
        info = await req(a, "$JS.API.CONSUMER.INFO.ORDERS.PUSH");
        if (((info.ack_floor as Json).stream_seq as number) >= 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      out.ackFloor = (info.ack_floor as Json).stream_seq;
      sub.unsubscribe();
      // B's own account has no JetStream of its own: its API is A's.
      out.bInfoStreams = (await req(b, "$JS.API.INFO")).streams;
    } finally {
      await a.close();
      await b.close();
    }
    return out;
  }

  it("lets an account use another's JetStream API, stream subjects, deliveries and acks, as nats-server 2.15", async () => {
    const { ours, theirs } = await onBoth(CONF, (port) => scenario(port));
    assert.deepEqual(ours, {
      createAnswers: ["ok"],
      seenFromA: "ok",
      pubAck: { stream: "ORDERS", seq: 1 },
      consumer: "ok",
      delivered: ["orders.1 one true", "orders.2 two true"],
      ackFloor: 2,
      bInfoStreams: 1,
    });
    if (theirs !== undefined) assert.deepEqual(ours, theirs);
  });
});

describe("JetStream from account JWTs (operator mode)", () => {
  it("enables JetStream with the claims' flat or tiered limits, as nats-server 2.15", async () => {
    const op = await newOperator();
    const tiered = await newAccount(op, "T", {
      limits: { tiered_limits: { R1: { disk_storage: 1024 * 1024, mem_storage: 0, streams: 2, consumer: -1 } } } as never,
    });
    const flat = await newAccount(op, "F", { limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } as never });
    const none = await newAccount(op, "N");
    const users = await Promise.all([tiered, flat, none].map((a) => newUser(a, `u${a.name}`)));
    const { ours, theirs } = await onBoth(
      (dir) => `${memoryResolverConfig(op, [tiered, flat, none])}\njetstream { store_dir: "${dir}" }\n`,
      async (port) => {
        const out: Record<string, unknown> = {};
        for (const [i, name] of ["T", "F", "N"].entries()) {
          const nc = await connect({ port, authenticator: jwtAuthenticator(users[i].jwt, users[i].seed) });
          try {
            const info = await req(nc, "$JS.API.INFO");
            out[`${name}.info`] = info.error !== undefined ? outcome(info) : { limits: info.limits, tiers: info.tiers };
            out[`${name}.create`] = outcome(await req(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s"] }));
            out[`${name}.memory`] = outcome(await req(nc, "$JS.API.STREAM.CREATE.M", { name: "M", subjects: ["m"], storage: "memory" }));
          } finally {
            await nc.close();
          }
        }
        return out;
      },
    );
    assert.equal(ours["N.info"], "10039 JetStream not enabled for account");
    assert.equal(ours["T.create"], "ok");
    assert.equal(ours["T.memory"], "10028 insufficient memory resources available");
    assert.deepEqual(((ours["T.info"] as Json).tiers as Json).R1 !== undefined, true);
    if (theirs !== undefined) assert.deepEqual(ours, theirs);
  });
});
