// Permissions side by side with nats-server 2.15: for each seed a random configuration of four
// users (publish/subscribe allow and deny lists with wildcards and queue entries,
// allow_responses with and without limits, one user without permissions) and a random sequence
// of SUB, UNSUB, PUB and HPUB (some with reply subjects) from those users over raw
// connections. After every operation each connection is synchronised with PING/PONG and what
// it received (MSG/HMSG, -ERR permission violations, 503 no-responders statuses) must be the
// same on both servers. Deliveries to several subscriptions of one connection are compared
// without their order (nats-server does not specify it), no-responders statuses without the
// subscription id they went to.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { RawConn, rawClient, withoutConnectInfo, withoutServerPings } from "./helpers/raw.js";
import { prng } from "./helpers/fuzz.js";

const skip = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;

const PUB_SUBJECTS = ["a", "a.b", "a.c", "b.x.y", "q", "foo.bar.baz", "_INBOX.r1", "$SYS.REQ.X", "a.b.c", "x"];
const SUB_SUBJECTS = [...PUB_SUBJECTS, "a.*", "a.>", ">", "*", "*.b", "foo.*.baz", "_INBOX.>"];
const PERM_SUBJECTS = ["a", "a.*", "a.>", ">", "*", "b.>", "foo.bar.*", "q", "a.b", "_INBOX.>", "$SYS.>", "x", "*.b", "a.b.c"];
const USERS = 4;

type Op =
  | { t: "sub"; who: number; subject: string; queue?: string; sid: number }
  | { t: "unsub"; who: number; sid: number }
  | { t: "pub" | "hpub"; who: number; subject: string; reply?: string };

interface Scenario {
  config: string;
  ops: Op[];
}

function scenario(seed: number, count: number): Scenario {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const list = (n: number, queued: boolean): string => {
    const l = new Set<string>();
    for (let i = 0; i < n; i++) l.add(pick(PERM_SUBJECTS) + (queued && rnd() < 0.2 ? " q1" : ""));
    return [...l].map((s) => JSON.stringify(s)).join(", ");
  };
  const permissions = (): string => {
    const parts: string[] = [];
    const pub: string[] = [];
    const sub: string[] = [];
    if (rnd() < 0.5) pub.push(`allow: [${list(1 + int(3), false)}]`);
    if (rnd() < 0.4) pub.push(`deny: [${list(1 + int(2), false)}]`);
    if (rnd() < 0.5) sub.push(`allow: [${list(1 + int(3), true)}]`);
    if (rnd() < 0.4) sub.push(`deny: [${list(1 + int(2), true)}]`);
    if (pub.length > 0) parts.push(`publish: { ${pub.join(", ")} }`);
    else if (rnd() < 0.2) parts.push(`publish: ${JSON.stringify(pick(PERM_SUBJECTS))}`);
    if (sub.length > 0) parts.push(`subscribe: { ${sub.join(", ")} }`);
    if (rnd() < 0.25) parts.push(rnd() < 0.5 ? "allow_responses: true" : `allow_responses: { max: ${1 + int(2)}, expires: "1m" }`);
    return parts.length > 0 ? `, permissions: { ${parts.join(", ")} }` : "";
  };
  const users: string[] = [];
  for (let i = 0; i < USERS; i++) users.push(`  { user: u${i}, password: p${i === USERS - 1 ? "" : permissions()} }`);
  const config = `authorization { users = [\n${users.join("\n")}\n] }\n`;
  const ops: Op[] = [];
  const queues = new Set<string>();
  for (let i = 0; i < count; i++) {
    const t = pick(["sub", "sub", "pub", "pub", "pub", "hpub", "unsub"] as const);
    const who = int(USERS);
    if (t === "sub") {
      // A queue group with two members delivers to one at random: every group has one member.
      let queue: string | undefined;
      if (rnd() < 0.25) {
        queue = pick(["q1", "q2"]);
        if (queues.has(queue)) queue = `q${i}`;
        queues.add(queue);
      }
      ops.push({ t, who, subject: pick(SUB_SUBJECTS), queue, sid: 100 + i });
    } else if (t === "unsub") {
      ops.push({ t, who, sid: 100 + int(i + 1) });
    } else {
      ops.push({ t, who, subject: pick(PUB_SUBJECTS), reply: rnd() < 0.3 ? pick(["_INBOX.r1", "a.b", "x"]) : undefined });
    }
  }
  return { config, ops };
}

function wire(op: Op): string {
  if (op.t === "sub") return `SUB ${op.subject}${op.queue ? ` ${op.queue}` : ""} ${op.sid}\r\n`;
  if (op.t === "unsub") return `UNSUB ${op.sid}\r\n`;
  const reply = op.reply ? ` ${op.reply}` : "";
  return op.t === "pub" ? `PUB ${op.subject}${reply} 2\r\nhi\r\n` : `HPUB ${op.subject}${reply} 12 14\r\nNATS/1.0\r\n\r\nhi\r\n`;
}

/** What a connection received since the last look: PONGs and INFOs left out, frames sorted. */
function received(c: RawConn): string {
  const text = withoutServerPings(withoutConnectInfo(c.take()))
    .replace(/PONG\r\n/g, "")
    // A no-responders status goes to one of the requester's subscriptions on the reply subject:
    // which one, when it has several, follows each server's subject tree (and nats-server's
    // map order for subscriptions on the same subject).
    .replace(/HMSG (\S+) \d+ (\d+ \d+\r\nNATS\/1\.0 503\r\n)/g, "HMSG $1 <sid> $2");
  const frames = text.split(/(?=HMSG |(?<!H)MSG |-ERR )/).sort();
  return frames.join("") + (c.closed ? "<closed>" : "");
}

async function run(server: ReferenceServer, ops: Op[]): Promise<string[]> {
  const conns: RawConn[] = [];
  try {
    for (let i = 0; i < USERS; i++) {
      conns.push(await rawClient(server.port, { user: `u${i}`, pass: "p", protocol: 1, headers: true, no_responders: true }));
    }
    const out: string[] = [];
    for (const op of ops) {
      const c = conns[op.who];
      if (c.closed) {
        out.push("closed");
        continue;
      }
      c.send(wire(op));
      // Twice round every connection: the publisher's PONG says its message was routed, the
      // others' say what it was routed to has been written out before.
      for (let round = 0; round < 2; round++) for (const x of conns) if (!x.closed) await x.ping(10_000);
      out.push(conns.map((x, i) => `${i}: ${received(x)}`).join(" | "));
    }
    return out;
  } finally {
    for (const c of conns) c.close();
  }
}

describe("permissions side by side with nats-server 2.15 (random configurations and traffic)", { skip }, () => {
  for (const seed of Array.from({ length: 24 }, (_, i) => i + 1)) {
    it(`seed ${seed}`, async () => {
      const { config, ops } = scenario(seed, 60);
      const ref = await startNatsServer([], config, "2.15");
      const ts = await startNatsServer([], config, "tsnats");
      try {
        const [a, b] = [await run(ref, ops), await run(ts, ops)];
        const diffs: string[] = [];
        for (let i = 0; i < ops.length; i++) {
          if (a[i] !== b[i]) diffs.push(`#${i} ${wire(ops[i]!).trim()} by u${ops[i]!.who}\n  ref ${JSON.stringify(a[i])}\n  ts  ${JSON.stringify(b[i])}`);
        }
        assert.deepEqual(diffs, [], `configuration:\n${config}`);
      } finally {
        await Promise.all([ref.stop(), ts.stop()]);
      }
    });
  }
});
