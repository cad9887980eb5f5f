// The wording of the 10005 placement refusal ("no suitable peers for placement, ..."), as
// nats-server 2.15.1 composes it (its selectPeerError): each server passed over adds one reason,
// the first that fails in this order: its tags (the placement's tags in the order asked, the
// first one it lacks goes to "tags not matched", the first `!tag` it has to "tags excluded"),
// room, max_ha_assets, unique_tag. So "tags not matched" lists each server's first missing tag
// (a set over the servers), not every tag asked for. "peer offline" when enough servers fit but
// too few of them are online for a quorum. The same steps run on three tsnats server processes
// and on three nats-server 2.15.1 processes with the same server_tags (nats-server lists the tags
// of a reason in random order: they are compared sorted).
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { startRefJsCluster, type RefJsCluster } from "./helpers/ref_js_cluster.js";

type Outcome = { servers: string[] } | { placed: number } | { code: number; description: string };
/** A stream to create: label, name, replicas, placement tags; `anywhere`: only how many servers it got (nats-server's choice among equals is random). */
type Step = [label: string, name: string, replicas: number, tags: string[] | undefined, anywhere?: true];

async function managerWhenLed(url: string): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: url });
  // No answer until a meta leader is elected (nats-server may drop the request): ask again.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await (await jetstreamManager(nc, { timeout: 2_000, checkAPI: false })).getAccountInfo();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { nc, jsm: await jetstreamManager(nc, { timeout: 20_000 }) };
}

/** The lists of tags in an error description sorted (nats-server writes them from a Go map). */
function sortedTagLists(description: string): string {
  return description.replace(/\[([^\]]*)\]/g, (_all, list: string) => `[${list.split(", ").sort().join(", ")}]`);
}

async function placeEach(jsm: JetStreamManager, steps: Step[]): Promise<Record<string, Outcome>> {
  const out: Record<string, Outcome> = {};
  for (const [label, name, replicas, tags, anywhere] of steps) {
    try {
      const cfg: Partial<StreamConfig> & { name: string } = { name, subjects: [`${name}.>`], num_replicas: replicas };
      // Placement without a cluster, as natscli sends it (nats.js' type asks for one).
      if (tags !== undefined) (cfg as Record<string, unknown>).placement = { tags };
      const si = await jsm.streams.add(cfg);
      const servers = [si.cluster?.leader ?? "", ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort();
      out[label] = anywhere ? { placed: servers.length } : { servers };
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      out[label] = { code: err.code, description: sortedTagLists(err.message) };
    }
  }
  return out;
}

const refused = (reasons: string): Outcome => ({ code: 10005, description: `no suitable peers for placement${reasons}` });

// Each server lacks a different one of a, b, c.
const TAGS = [["a", "b"], ["b", "c"], ["a", "c"]];

const ONLINE_STEPS: Step[] = [
  ["R1 [a b c]: each server's first missing tag", "ABC", 1, ["a", "b", "c"]],
  ["R2 [z a]: every server lacks z first", "ZA", 2, ["z", "a"]],
  ["R2 [c a]: N3 only", "CA2", 2, ["c", "a"]],
  ["R1 [c a]", "CA1", 1, ["c", "a"]],
  ["R1 [A Z] upper case", "UPPER", 1, ["A", "Z"]],
  ["R1 [!a]", "NOTA1", 1, ["!a"]],
  ["R2 [!a]", "NOTA2", 2, ["!a"]],
  ["R2 [a !c]", "ANOTC", 2, ["a", "!c"]],
  ["R1 [!b !c]", "NOTBC", 1, ["!b", "!c"]],
  ["R1 [!b a !c]", "NOTBANOTC", 1, ["!b", "a", "!c"]],
  ["R1 [z !a]", "ZNOTA", 1, ["z", "!a"]],
  ["R1 [!a z]", "NOTAZ", 1, ["!a", "z"]],
  ["R3 [b]", "B3", 3, ["b"]],
];

// With N3 ([a c]) stopped: nats-server keeps its node info, marks it offline and still counts it.
const STOPPED_STEPS: Step[] = [
  ["R1 [a c]: only the stopped server has both", "AC1", 1, ["a", "c"]],
  ["R2 [!b]: only the stopped server, too few", "NOTB2", 2, ["!b"]],
  ["R1 [!b]: only the stopped server", "NOTB1", 1, ["!b"]],
  ["R3 [a]", "A3", 3, ["a"]],
  ["R2 [a]: one online, one stopped", "A2", 2, ["a"]],
  ["R2 [b]: the two online", "B2", 2, ["b"]],
];

const EXPECTED: Record<string, Outcome> = {
  "R1 [a b c]: each server's first missing tag": refused(", tags not matched ['a', 'b', 'c']"),
  "R2 [z a]: every server lacks z first": refused(", tags not matched ['z']"),
  "R2 [c a]: N3 only": refused(", tags not matched ['a', 'c']"),
  "R1 [c a]": { servers: ["N3"] },
  "R1 [A Z] upper case": refused(", tags not matched ['A', 'Z']"),
  "R1 [!a]": { servers: ["N2"] },
  "R2 [!a]": refused(", tags excluded ['a']"),
  "R2 [a !c]": refused(", tags not matched ['a'], tags excluded ['c']"),
  "R1 [!b !c]": refused(", tags excluded ['b', 'c']"),
  "R1 [!b a !c]": refused(", tags excluded ['b', 'c']"),
  "R1 [z !a]": refused(", tags not matched ['z']"),
  "R1 [!a z]": refused(", tags not matched ['z'], tags excluded ['a']"),
  "R3 [b]": refused(", tags not matched ['b']"),
  "R1 [a c]: only the stopped server has both": refused(", peer offline, tags not matched ['a', 'c']"),
  "R2 [!b]: only the stopped server, too few": refused(", tags excluded ['b']"),
  "R1 [!b]: only the stopped server": refused(", peer offline, tags excluded ['b']"),
  "R3 [a]": refused(", tags not matched ['a']"),
  "R2 [a]: one online, one stopped": refused(", peer offline, tags not matched ['a']"),
  "R2 [b]: the two online": { servers: ["N1", "N2"] },
};

async function tagsScenario(c: RefJsCluster): Promise<Record<string, Outcome>> {
  const { nc, jsm } = await managerWhenLed(c.urls[0]);
  try {
    const online = await placeEach(jsm, ONLINE_STEPS);
    await c.stopServer(2);
    // N3 may have led the meta group: ask until a meta leader answers again.
    await managerWhenLed(c.urls[0]).then(({ nc: other }) => other.close());
    return { ...online, ...(await placeEach(jsm, STOPPED_STEPS)) };
  } finally {
    await nc.close();
  }
}

// unique_tag "az:": N1 and N2 share a zone, N3 has none (so takes no replica, even of an R1).
const UNIQUE_TAGS = [["az:1", "a"], ["az:1", "a", "b"], ["b", "c"]];

const UNIQUE_STEPS: Step[] = [
  ["R1 [c]: only the server without a zone", "C1", 1, ["c"]],
  ["R3 without tags", "R3", 3, undefined],
  ["R2 [a]", "A2", 2, ["a"]],
  ["R2 [b]", "B2", 2, ["b"]],
  ["R2 [!c]", "NOTC2", 2, ["!c"]],
  ["R1 [b]", "B1", 1, ["b"]],
  ["R2 [az:1]: naming a zone turns unique_tag off", "AZ1", 2, ["az:1"]],
  ["R2 [!az:2]: so does excluding one", "NOTAZ2", 2, ["!az:2"], true],
];

const EXPECTED_UNIQUE: Record<string, Outcome> = {
  "R1 [c]: only the server without a zone": refused(", server tag not unique, tags not matched ['c']"),
  "R3 without tags": refused(", server tag not unique"),
  "R2 [a]": refused(", server tag not unique, tags not matched ['a']"),
  "R2 [b]": refused(", server tag not unique, tags not matched ['b']"),
  "R2 [!c]": refused(", server tag not unique, tags excluded ['c']"),
  "R1 [b]": { servers: ["N2"] },
  "R2 [az:1]: naming a zone turns unique_tag off": { servers: ["N1", "N2"] },
  "R2 [!az:2]: so does excluding one": { placed: 2 },
};

async function uniqueScenario(c: RefJsCluster): Promise<Record<string, Outcome>> {
  const { nc, jsm } = await managerWhenLed(c.urls[0]);
  try {
    return await placeEach(jsm, UNIQUE_STEPS);
  } finally {
    await nc.close();
  }
}

for (const line of ["tsnats", "2.15"] as const) {
  test(`placement refusals name each server's first missing or excluded tag: ${line}`, { timeout: 180_000 }, async (t) => {
    const c = await startRefJsCluster(3, "TAGWORDS", { serverTags: TAGS, line });
    if (c === undefined) return t.skip("nats-server 2.15 not installed");
    try {
      assert.deepEqual(await tagsScenario(c), EXPECTED);
    } finally {
      await c.stop();
    }
  });

  test(`placement refusals with unique_tag: ${line}`, { timeout: 180_000 }, async (t) => {
    const c = await startRefJsCluster(3, "TAGUNIQ", { serverTags: UNIQUE_TAGS, uniqueTag: "az:", line });
    if (c === undefined) return t.skip("nats-server 2.15 not installed");
    try {
      assert.deepEqual(await uniqueScenario(c), EXPECTED_UNIQUE);
    } finally {
      await c.stop();
    }
  });
}
