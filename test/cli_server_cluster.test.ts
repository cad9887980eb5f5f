// `tsnats server cluster step-down|peer-remove` against three-server JetStream clusters of
// nats-server 2.15 and of tsnats (each server a process, started alike): the meta leader
// found through the system account's JSZ answers, the step-down request and the new leader,
// peer removal of a stopped server, and the refusals (no system user, a JetStream domain,
// an unknown peer).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, createInbox } from "@nats-io/transport-node";
import { CliHome } from "./helpers/cli.js";
import { freePort, referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";

const ACCOUNTS = `
accounts {
  SYS { users = [{ user: sys, password: sys }] }
  APP { jetstream: enabled, users = [{ user: app, password: app }] }
}
system_account: SYS
`;

/** Poll an asynchronous condition until it holds. */
async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Jsz {
  server: { name: string };
  data?: { meta_cluster?: { leader?: string; replicas?: { name: string; offline?: boolean }[] } };
}

for (const line of ["2.15", "tsnats"] as const) {
  describe(`server cluster step-down and peer-remove (${line === "tsnats" ? "tsnats" : "nats-server 2.15"} cluster of three)`, () => {
    const home = new CliHome();
    const members: (ReferenceServer | undefined)[] = [];
    let dir = "";
    let urls: string[] = [];
    const sys = (url = urls.join(",")): string[] => ["--server", url, "--user", "sys", "--password", "sys", "--timeout", "3s"];
    // What the servers say, read with a client of the system account (not through the CLI).
    const jsz = async (url: string): Promise<Jsz[]> => {
      const nc = await connect({ servers: url.split(","), user: "sys", pass: "sys" }).catch(() => undefined);
      if (!nc) return [];
      try {
        const out: Jsz[] = [];
        const inbox = createInbox();
        const sub = nc.subscribe(inbox, { callback: (_e, m) => void out.push(m.json<Jsz>()) });
        nc.publish("$SYS.REQ.SERVER.PING.JSZ", "{}", { reply: inbox });
        await new Promise((r) => setTimeout(r, 500));
        sub.unsubscribe();
        return out;
      } finally {
        await nc.close();
      }
    };
    const leaderSeen = async (url: string): Promise<string> => {
      const all = await jsz(url);
      const l = all.find((j) => j.data?.meta_cluster?.leader && j.data.meta_cluster.leader === j.server.name);
      return l?.server.name ?? "";
    };

    before(async () => {
      if (line !== "tsnats" && !referenceBinary(line)) return;
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-cli-cluster-"));
      const ports = [await freePort(), await freePort(), await freePort()];
      for (let i = 0; i < 3; i++) {
        const n = `n${i + 1}`;
        // nats-server takes every server's route list with its own URL in it. tsnats (today)
        // counts its own URL as one more meta group peer (cluster_size 4, no leader elected),
        // so its servers list only the others.
        const routes = ports
          .filter((_, j) => line !== "tsnats" || j !== i)
          .map((p) => `nats://127.0.0.1:${p}`)
          .join(",");
        members.push(await startNatsServer(["-n", n, "-js", "-sd", path.join(dir, n), "--cluster_name", "cc", "--cluster", `nats://127.0.0.1:${ports[i]}`, "--routes", routes], ACCOUNTS, line));
      }
      urls = members.map((m) => `nats://127.0.0.1:${m!.port}`);
      await waitUntil(async () => (await leaderSeen(urls[0])) !== "", 30_000, "a meta leader every server agrees on");
    });
    after(async () => {
      for (const m of members) await m?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      home.cleanup();
    });

    test("report jetstream: the meta leader starred, the meta group, sorting and leaders", async (tc) => {
      if (members.length === 0) return tc.skip(`nats-server ${line} not available`);
      const leader = await leaderSeen(urls[0]);
      let r = await home.exec(["server", "report", "jetstream", "3", ...sys()]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /JetStream Summary/);
      assert.match(r.stdout, new RegExp(`│ ${leader}\\* +│ cc `));
      assert.match(r.stdout, /RAFT Meta Group Information - Lead cluster: cc/);
      for (const n of ["n1", "n2", "n3"]) assert.match(r.stdout, new RegExp(`│ ${n} +│ \\S+ +│ ${n === leader ? "yes" : "   "} +│ true +│ true `));
      r = await home.exec(["server", "report", "jetstream", "3", "--sort", "name", "--reverse", ...sys()]);
      const order = [...r.stdout.matchAll(/^│ (n\d)\*? +│ cc /gm)].map((m) => m[1]);
      assert.deepEqual(order, ["n3", "n2", "n1"]);
      r = await home.exec(["server", "report", "jetstream", "1", "--leaders", "--host", leader, ...sys()]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /RAFT Meta Group Information/, "a filtered report says nothing about the group");
      assert.match(r.stdout, /No JetStream asset leader data reported|RAFT Leader Report/);
    });

    test("step-down elects another meta leader; refusals", async (tc) => {
      if (members.length === 0) return tc.skip(`nats-server ${line} not available`);
      // Refusals first: they need no JetStream API in the system account.
      const app = await home.exec(["server", "cluster", "step-down", "--server", urls.join(","), "--user", "app", "--password", "app", "--timeout", "1s"]);
      assert.equal(app.code, 1);
      assert.match(app.stderr, /no server answered \$SYS\.REQ\.SERVER\.PING\.JSZ|system privileges/);
      const dom = await home.exec(["server", "cluster", "step-down", "--js-domain", "hub", ...sys()]);
      assert.equal(dom.code, 1);
      assert.match(dom.stderr, /the --js-domain option cannot be used with step-down/);

      const before = await leaderSeen(urls[0]);
      const r = await home.exec(["server", "cluster", "step-down", ...sys()]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`Requesting leader step down of "${before}" in a 3 peer RAFT group`));
      const m = /New leader elected "(n\d)"/.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.notEqual(m[1], before);
      await waitUntil(async () => (await leaderSeen(urls[0])) === m[1], 15_000, "every server to see the new leader");

      // A preferred server: the leader moves there (servers 2.11+).
      const target = ["n1", "n2", "n3"].find((n) => n !== m[1])!;
      const p = await home.exec(["server", "cluster", "sd", "--host", target, ...sys()]);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stderr, new RegExp(`New leader elected "${target}"`));
      await waitUntil(async () => (await leaderSeen(urls[0])) === target, 15_000, "every server to see the preferred leader");

    });

    test("peer-remove: unknown peers refused, a stopped server removed from the meta group", async (tc) => {
      if (members.length === 0) return tc.skip(`nats-server ${line} not available`);
      const unknown = await home.exec(["server", "cluster", "peer-remove", "nope", "--force", ...sys()]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /did not find a replica named nope/);

      // Without --force and without a terminal the question cannot be asked.
      const leader = await leaderSeen(urls[0]);
      const victimIdx = [0, 1, 2].find((i) => `n${i + 1}` !== leader)!;
      const victim = `n${victimIdx + 1}`;
      const ask = await home.exec(["server", "cluster", "peer-remove", victim, ...sys()]);
      assert.equal(ask.code, 1);
      assert.match(ask.stderr, /Really remove online peer/);
      assert.match(ask.stderr, /--force/);

      await members[victimIdx]!.stop();
      members[victimIdx] = undefined;
      const alive = urls.filter((_, i) => i !== victimIdx).join(",");
      await waitUntil(
        async () => {
          const all = await jsz(alive);
          const l = all.find((j) => j.server.name === j.data?.meta_cluster?.leader);
          return l?.data?.meta_cluster?.replicas?.find((x) => x.name === victim)?.offline === true;
        },
        30_000,
        `${victim} to be seen offline by the meta leader`,
      );
      const r = await home.exec(["server", "cluster", "peer-remove", victim, "--force", ...sys(alive)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Removed offline peer ${victim}`));
      await waitUntil(
        async () => {
          const all = await jsz(alive);
          const l = all.find((j) => j.server.name === j.data?.meta_cluster?.leader);
          return l !== undefined && !(l.data?.meta_cluster?.replicas ?? []).some((x) => x.name === victim);
        },
        30_000,
        `${victim} gone from the meta group`,
      );
    });
  });
}
