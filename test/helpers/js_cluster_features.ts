// Shared by the R3 stream feature tests (test/js_cluster_features*.test.ts): a member's copy of a
// stream, its messages, waiting until every running member holds the same, the group's leader, and
// a cluster of three tsnats servers beside three nats-server 2.15 ones for the same steps on both.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsTestCluster, replicaLeader, streamOn } from "./js_cluster.js";
import { startRefJsCluster } from "./ref_js_cluster.js";
import { waitUntil } from "./server.js";

// The copy and leader lookups live with the cluster helper; the feature tests import them here.
export { replicaLeader, streamOn };

/** Every message of a member's copy: "seq subject data [headers that matter]". */
export function contents(c: JsTestCluster, member: string, name: string): string[] {
  const s = streamOn(c, member, name);
  if (s === undefined) return [`${member} does not hold ${name}`];
  const out: string[] = [];
  const st = s.store.state();
  for (let seq = st.firstSeq; st.msgs > 0 && seq <= st.lastSeq; seq++) {
    const m = s.store.loadNextMsg("", seq);
    if (m === null) break;
    out.push(`${m.seq} ${m.subject} ${m.data.toString()}`);
    seq = m.seq;
  }
  return out;
}

/** The time of every message of a member's copy, by sequence: "seq@time". */
export function times(c: JsTestCluster, member: string, name: string): string[] {
  const s = streamOn(c, member, name);
  const out: string[] = [];
  if (s === undefined) return out;
  for (let seq = s.store.state().firstSeq; s.store.state().msgs > 0 && seq <= s.store.state().lastSeq; seq++) {
    const m = s.store.loadNextMsg("", seq);
    if (m === null) break;
    out.push(`${m.seq}@${m.time}`);
    seq = m.seq;
  }
  return out;
}

/** Every running member holds the same messages (waited for: followers apply after the leader). */
export async function sameEverywhere(c: JsTestCluster, name: string): Promise<string[]> {
  const running = c.members.filter((m) => m.srv !== undefined).map((m) => m.name);
  let first: string[] = [];
  await waitUntil(
    () => {
      first = contents(c, running[0], name);
      return running.every((m) => JSON.stringify(contents(c, m, name)) === JSON.stringify(first));
    },
    20_000,
    `the same messages of ${name} on every member`,
  );
  return first;
}

/**
 * A cluster of three tsnats servers (meta leader elected) and, when its binary is installed, one of
 * three nats-server 2.15: `body` gets a client of ours on member `at` and `reference()`, a client
 * on the reference cluster's member `at` (undefined without it). Everything is closed and stopped after.
 */
export async function withReferenceR3(
  at: number,
  body: (c: JsTestCluster, nc: NatsConnection, reference: () => Promise<NatsConnection | undefined>) => Promise<void>,
): Promise<void> {
  const c = await JsTestCluster.start(3);
  const ref = await startRefJsCluster(3);
  let nc: NatsConnection | undefined;
  let rnc: NatsConnection | undefined;
  try {
    await c.metaLeader();
    nc = await connect({ servers: c.members[at].url });
    await body(c, nc, async () => (ref === undefined ? undefined : (rnc = await connect({ servers: ref.urls[at] }))));
  } finally {
    await nc?.close();
    await rnc?.close();
    await ref?.stop();
    await c.stop();
  }
}
