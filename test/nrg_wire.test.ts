// nats-server's RAFT wire (src/cluster/nrg_wire.ts) against real bytes: a nats-server 2.15
// JetStream cluster of three runs streams and consumers while a system-account client records
// every `$NRG.` message; every one must decode, re-encode to the same bytes, and say what the
// cluster did (terms that rise, indexes that follow, the servers' RAFT ids as leaders and voters).
import { describe, before, after, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { jetstream, AckPolicy } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  decodeNrgMessage,
  encodeNrgMessage,
  encodeNrgAppendEntryResponse,
  decodeNrgPeerState,
  encodeNrgPeerState,
  NrgEntryType,
  NrgDecodeError,
  parseNrgSubject,
  type NrgMessage,
  type NrgAppendEntry,
  type NrgAppendEntryResponse,
  type NrgVoteResponse,
  type NrgVoteRequest,
} from "../src/cluster/nrg_wire.js";
import { NrgFollowerLog } from "../src/cluster/nrg_follower_log.js";
import { referenceMissing } from "./helpers/side_by_side.js";
import { retry } from "./helpers/server.js";
import { waitUntil } from "./helpers/js_cluster_move.js";
import { startNrgCaptureCluster, type NrgCaptureCluster, type CapturedNrg } from "./helpers/nrg_capture.js";

interface Jsz {
  meta_cluster?: { leader?: string };
}

async function jsz(c: NrgCaptureCluster, i: number): Promise<Jsz> {
  const res = await fetch(`${c.servers[i].monitorUrl}/jsz`);
  return (await res.json()) as Jsz;
}

describe("nats-server 2.15's RAFT messages, captured from a live cluster", { skip: referenceMissing(), timeout: 240_000 }, () => {
  let c: NrgCaptureCluster;
  let decoded: { raw: CapturedNrg; m: NrgMessage }[] = [];
  let streamLeaderBefore = "";
  let streamLeaderAfter = "";
  /** The appends captured before the answers were cut off (answers to later ones are not read). */
  let appendsBeforeCut = new Set<CapturedNrg>();

  before(async () => {
    c = await startNrgCaptureCluster();
    const { jsm, app } = c;
    await retry(() => jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 }));
    const js = jetstream(app);
    for (let i = 1; i <= 10; i++) await retry(() => js.publish(`orders.${i}`, `order ${i}`));
    await retry(() => jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit, num_replicas: 3 }));
    const consumer = await js.consumers.get("ORDERS", "worker");
    let acked = 0;
    while (acked < 10) {
      for await (const m of await consumer.fetch({ max_messages: 10 - acked, expires: 2000 })) {
        await m.ackAck();
        acked++;
      }
    }
    streamLeaderBefore = (await jsm.streams.info("ORDERS")).cluster?.leader ?? "";
    // A stream leader step-down makes the group elect again: vote requests and responses.
    await retry(() => app.request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS", "", { timeout: 5000 }));
    await waitUntil(async () => {
      const leader = (await jsm.streams.info("ORDERS")).cluster?.leader ?? "";
      if (leader === "" || leader === streamLeaderBefore) return false;
      streamLeaderAfter = leader;
      return true;
    }, 60_000, "a new stream leader");
    await retry(() => js.publish("orders.after", "after the election"));
    await app.flush();
    // Everything the step-down set off (votes, the new leader's first entries) has arrived once
    // an append entry of the new term with a Normal entry has been seen.
    await waitUntil(() => c.captured.some((x) => x.subject.startsWith("$NRG.AE.S-") && x.data.includes("after the election")), 30_000, "the new leader's append");
    // The capture sees a leader's appends over the leader's route and a follower's answers over
    // the follower's: an answer can arrive before the append it answers (a heartbeat answered
    // twice, seen before the heartbeat). So answers are read up to here, and appends until both
    // groups' leaders have sent one more append with entries, sent after this point: on its
    // route it arrives after every append those answers answered.
    const cut = c.captured.length;
    await retry(() => js.publish("orders.cut", "after the cut"));
    let consumed = false;
    while (!consumed) {
      for await (const m of await consumer.fetch({ max_messages: 1, expires: 2000 })) {
        await m.ackAck();
        consumed = true;
      }
    }
    const afterCut = (group: string, what: (data: Buffer) => boolean): boolean =>
      c.captured.slice(cut).some((x) => x.subject.startsWith(`$NRG.AE.${group}`) && what(x.data) && (decodeNrgMessage(x.subject, x.data) as { message: NrgAppendEntry }).message.entries.length > 0);
    await waitUntil(() => afterCut("S-", (data) => data.includes("after the cut")) && afterCut("C-", () => true), 30_000, "both groups' appends after the cut");
    const answers = new Set(["appendEntryResponse", "voteResponse"]);
    decoded = c.captured.map((raw) => ({ raw, m: decodeNrgMessage(raw.subject, raw.data) })).filter((d, i) => i < cut || !answers.has(d.m.kind));
    appendsBeforeCut = new Set(decoded.slice(0, cut).map((d) => d.raw));
  });

  after(async () => {
    await c?.stop();
  });

  test("every captured message decodes, and encoding it again gives the same bytes", () => {
    assert.ok(decoded.length > 50, `captured ${decoded.length} messages`);
    for (const { raw, m } of decoded) assert.deepEqual(encodeNrgMessage(m), raw.data, `${raw.subject} ${raw.data.toString("hex")}`);
    const kinds = new Set(decoded.map((d) => d.m.kind));
    for (const kind of ["appendEntry", "appendEntryResponse", "voteRequest", "voteResponse"]) assert.ok(kinds.has(kind as NrgMessage["kind"]), `saw no ${kind}`);
    // Replies are nats-server's inboxes: append entries answer to `$NRG.R.`, votes too.
    for (const { raw, m } of decoded) {
      if (m.kind === "appendEntry" && m.group !== undefined) assert.match(raw.reply, /^\$NRG\.R\.[0-9A-Za-z]+$/);
      if (m.kind === "voteRequest") assert.match(raw.reply, /^\$NRG\.R\.[0-9A-Za-z]+$/);
    }
  });

  test("the groups are the meta group, the stream's and the consumer's; leaders and voters are the servers' RAFT ids", async () => {
    const ids = new Set(c.peerIds.values());
    const groups = new Set(decoded.flatMap((d) => ("group" in d.m && d.m.group !== undefined ? [d.m.group] : [])));
    assert.ok(groups.has("_meta_"), [...groups].join());
    assert.ok([...groups].some((g) => /^S-R3F-[0-9A-Za-z]+$/.test(g)), [...groups].join());
    assert.ok([...groups].some((g) => /^C-R3F-[0-9A-Za-z]+$/.test(g)), [...groups].join());
    for (const { m } of decoded) {
      if (m.kind === "appendEntry") assert.ok(ids.has(m.message.leader), `leader ${m.message.leader}`);
      if (m.kind === "appendEntryResponse") assert.ok(ids.has(m.message.peer), `peer ${m.message.peer}`);
      if (m.kind === "voteRequest") assert.ok(ids.has(m.message.candidate), `candidate ${m.message.candidate}`);
      if (m.kind === "voteResponse") assert.ok(ids.has(m.message.peer), `voter ${m.message.peer}`);
    }
    // The meta group's appends come from the meta leader /jsz names.
    const metaLeader = (await jsz(c, 0)).meta_cluster?.leader ?? "";
    const metaAppends = decoded.flatMap((d) => (d.m.kind === "appendEntry" && d.m.group === "_meta_" ? [d.m.message] : []));
    assert.ok(metaAppends.length > 0);
    assert.equal(metaAppends[metaAppends.length - 1].leader, c.peerIds.get(metaLeader));
    // The stream group's last appends come from the leader elected after the step-down, and the
    // election shows as granted votes for it in a higher term.
    const streamGroup = [...groups].find((g) => g.startsWith("S-"));
    const streamAppends = decoded.flatMap((d) => (d.m.kind === "appendEntry" && d.m.group === streamGroup ? [d.m.message] : []));
    const last = streamAppends[streamAppends.length - 1];
    assert.equal(last.leader, c.peerIds.get(streamLeaderAfter));
    assert.ok(streamAppends.some((ae) => ae.leader === c.peerIds.get(streamLeaderBefore) && ae.term < last.term), "the old leader led in a lower term");
    const vote = decoded.find((d) => d.m.kind === "voteRequest" && d.m.group === streamGroup && d.m.message.candidate === last.leader);
    assert.ok(vote !== undefined && vote.m.kind === "voteRequest");
    assert.equal(vote.m.message.term, last.term);
    const granted = decoded.filter((d) => d.m.kind === "voteResponse" && d.raw.subject === vote.raw.reply && d.m.message.granted && d.m.message.term === last.term);
    assert.ok(granted.length >= 1, "a quorum of three needs one granted vote besides the candidate's own");
  });

  test("terms never fall and each leader's indexes follow on from its previous append, per group", () => {
    const byLeader = new Map<string, NrgAppendEntry[]>();
    for (const { m } of decoded) {
      if (m.kind !== "appendEntry" || m.group === undefined) continue;
      const key = `${m.group}/${m.message.leader}`;
      byLeader.set(key, [...(byLeader.get(key) ?? []), m.message]);
    }
    let followed = 0;
    for (const [key, appends] of byLeader) {
      for (let i = 1; i < appends.length; i++) {
        const prev = appends[i - 1];
        const ae = appends[i];
        assert.ok(ae.term >= prev.term, `${key}: term ${ae.term} after ${prev.term}`);
        if (ae.term !== prev.term) continue;
        // nats-server stores one append entry (all its entries) as one log index: the leader's
        // next append starts one after a previous one with entries, where a heartbeat was.
        const step = prev.entries.length > 0 ? 1 : 0;
        assert.equal(ae.prevIndex, prev.prevIndex + step, `${key}: index gap`);
        assert.ok(ae.commit >= prev.commit, `${key}: commit fell`);
        assert.ok(ae.commit <= ae.prevIndex + (ae.entries.length > 0 ? 1 : 0), `${key}: commit beyond the log`);
        assert.ok(ae.prevTerm <= ae.term, `${key}: previous term beyond the term`);
        followed++;
      }
    }
    assert.ok(followed > 20, `${followed} successive appends checked`);
    // A successful response confirms an index the group's appends reached, in the same term.
    const lastIndex = new Map<string, number>();
    const replyGroup = new Map<string, string>();
    for (const { raw, m } of decoded) {
      if (m.kind === "appendEntry" && m.group !== undefined) {
        replyGroup.set(raw.reply, m.group);
        const end = m.message.prevIndex + (m.message.entries.length > 0 ? 1 : 0);
        lastIndex.set(m.group, Math.max(lastIndex.get(m.group) ?? 0, end));
      }
    }
    let responses = 0;
    for (const { raw, m } of decoded) {
      if (m.kind !== "appendEntryResponse" || !m.message.success) continue;
      const group = replyGroup.get(raw.subject);
      if (group === undefined) continue;
      assert.ok(m.message.index <= (lastIndex.get(group) ?? 0), `${group}: response index ${m.message.index}`);
      responses++;
    }
    assert.ok(responses > 20, `${responses} responses checked`);
  });

  test("the members of the stream's and consumer's groups answer every append and every vote request as nats-server's rules (nrg_follower_log.ts) predict", (t) => {
    // NRG_WIRE_DUMP=<file>: on failure, the captured traffic (decoded, in arrival order) goes there.
    const dumpTo = process.env.NRG_WIRE_DUMP;
    let passed = false;
    if (dumpTo !== undefined) {
      t.after(() => {
        if (passed) return;
        const lines = decoded.map(({ raw, m }) => JSON.stringify({ subject: raw.subject, reply: raw.reply, m }, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v)));
        writeFileSync(dumpTo, lines.join("\n") + "\n");
      });
    }
    // Both groups were created after the capture began: every member starts with an empty log.
    const groups = new Set(decoded.flatMap((d) => (d.m.kind === "appendEntry" && d.m.group !== undefined && d.m.group !== "_meta_" ? [d.m.group] : [])));
    assert.ok(groups.size >= 2);
    let compared = 0;
    let votesCompared = 0;
    // A member takes append entries and vote requests from two queues and serves whichever is
    // ready (nats-server's follower loop, runAsFollower): the candidate's first appends as leader,
    // sent after its vote request, may be stored before the request is answered, and it is then
    // refused (its log is now ahead of the candidate's). So an answer may also be the one the
    // member gives after the candidate's appends of that term captured before the answer.
    interface VoteAsked {
      group: string;
      request: NrgVoteRequest;
      predicted: Map<string, NrgVoteResponse>;
      before: Map<string, NrgFollowerLog>;
      candidateAppends: NrgAppendEntry[];
    }
    const votePredictions = new Map<string, VoteAsked>();
    for (const group of groups) {
      const logs = new Map([...c.peerIds.values()].map((id) => [id, new NrgFollowerLog(id)]));
      const expected = new Map<string, NrgAppendEntryResponse[]>([...logs.keys()].map((id) => [id, []]));
      const stopped = new Set<string>();
      const actual = new Map<string, NrgAppendEntryResponse[]>([...logs.keys()].map((id) => [id, []]));
      // An answer may be captured before the first append of its leader's inbox.
      const inboxes = new Set(decoded.flatMap((d) => (d.m.kind === "appendEntry" && d.m.group === group ? [d.raw.reply] : [])));
      const wantBeforeCut = new Map<string, number>([...logs.keys()].map((id) => [id, 0]));
      for (const { raw, m } of decoded) {
        if (m.kind === "voteRequest" && m.group === group) {
          logs.get(m.message.candidate)?.campaign(m.message);
          const before = new Map([...logs].map(([peer, log]) => [peer, Object.assign(new NrgFollowerLog(peer), log)]));
          const predicted = new Map([...logs].map(([peer, log]) => [peer, log.vote(m.message)]));
          votePredictions.set(raw.reply, { group, request: m.message, predicted, before, candidateAppends: [] });
        } else if (m.kind === "voteResponse" && votePredictions.get(raw.subject)?.group === group) {
          const asked = votePredictions.get(raw.subject) as VoteAsked;
          const voter = m.message.peer;
          if (!isDeepStrictEqual(m.message, asked.predicted.get(voter))) {
            // The same request answered after the first k of the candidate's appends.
            const answeredLater = asked.candidateAppends.map((_, k) => {
              const log = Object.assign(new NrgFollowerLog(voter), asked.before.get(voter));
              for (const ae of asked.candidateAppends.slice(0, k + 1)) log.receive(ae);
              return { log, vote: log.vote(asked.request) };
            });
            const same = answeredLater.find((a) => isDeepStrictEqual(m.message, a.vote));
            assert.ok(same !== undefined, `${group}: vote of ${voter} ${JSON.stringify(m.message)}, predicted ${JSON.stringify(asked.predicted.get(voter))} or after the candidate's appends ${JSON.stringify(answeredLater.map((a) => a.vote))}`);
            const log = logs.get(voter);
            if (log !== undefined && log.term === same.log.term) log.votedFor = same.log.votedFor;
            t.diagnostic(`${group}: ${voter} answered the vote request of ${asked.request.candidate} after its appends`);
          }
          votesCompared++;
        } else if (m.kind === "appendEntry" && m.group === group) {
          logs.get(m.message.leader)?.sent(m.message);
          for (const asked of votePredictions.values()) {
            if (asked.group === group && asked.request.candidate === m.message.leader && asked.request.term === m.message.term) asked.candidateAppends.push(m.message);
          }
          for (const [peer, log] of logs) {
            if (peer === m.message.leader || stopped.has(peer)) continue;
            const answer = log.receive(m.message);
            if (answer.kind === "unmodelled") stopped.add(peer);
            else {
              expected.get(peer)?.push(answer.response);
              if (appendsBeforeCut.has(raw)) wantBeforeCut.set(peer, (wantBeforeCut.get(peer) ?? 0) + 1);
            }
          }
        } else if (m.kind === "appendEntryResponse" && inboxes.has(raw.subject)) {
          actual.get(m.message.peer)?.push(m.message);
        }
      }
      for (const [peer, answers] of actual) {
        const want = expected.get(peer) ?? [];
        // Every answer sent is one the rules predict, in order. A follower may leave a few
        // unanswered (an append that reached an old leader before it stepped down, the last ones
        // before the cut still on their way then), never more than a handful; appends captured
        // after the cut (see before()) are predicted but their answers were not read.
        let at = 0;
        for (const [i, a] of answers.entries()) {
          while (at < want.length && JSON.stringify(want[at]) !== JSON.stringify(a)) at++;
          assert.ok(at < want.length, `${group}/${peer}: answer ${i} ${JSON.stringify(a)} was not predicted (after ${JSON.stringify(answers.slice(Math.max(0, i - 3), i))})`);
          at++;
        }
        const wanted = wantBeforeCut.get(peer) ?? 0;
        assert.ok(wanted - answers.length <= 5 + wanted / 10, `${group}/${peer}: ${wanted - answers.length} of ${wanted} predicted answers missing`);
        compared += answers.length;
      }
    }
    assert.ok(compared > 30, `${compared} answers compared`);
    // The first election of each group (its members initializing) and the one after the step-down.
    assert.ok(votesCompared >= 4, `${votesCompared} votes compared`);
    passed = true;
  });

  test("a new leader's first append carries the group's peer state: a stream's and a consumer's group know all three servers", () => {
    const ids = [...c.peerIds.values()].sort();
    let assetStates = 0;
    for (const { m } of decoded) {
      if (m.kind !== "appendEntry" || m.group === undefined) continue;
      for (const e of m.message.entries) {
        if (e.type !== NrgEntryType.PeerState) continue;
        const ps = decodeNrgPeerState(e.data);
        assert.deepEqual(encodeNrgPeerState(ps), e.data);
        assert.equal(ps.clusterSize, 3);
        // The meta group starts with what its leader knows and grows by AddPeer entries.
        assert.ok(ps.knownPeers.includes(m.message.leader), `${m.group}: the leader is a known peer`);
        if (m.group === "_meta_") continue;
        assert.deepEqual([...ps.knownPeers].sort(), ids, m.group);
        assetStates++;
      }
    }
    assert.ok(assetStates >= 2, `${assetStates} stream/consumer peer states`);
  });

  test("what is not nats-server's NRG is refused with a reason", () => {
    assert.equal(parseNrgSubject("$NRG.TS.meta.N1"), undefined);
    assert.equal(parseNrgSubject("$NRG.AE"), undefined);
    assert.throws(() => decodeNrgMessage("$NRG.AE._meta_", Buffer.alloc(10)), NrgDecodeError);
    assert.throws(() => decodeNrgMessage("$NRG.V._meta_", Buffer.alloc(31)), NrgDecodeError);
    assert.throws(() => decodeNrgMessage("$NRG.R.abc", Buffer.alloc(24)), NrgDecodeError);
    const ae = decoded.find((d) => d.m.kind === "appendEntry" && d.m.message.entries.length > 0);
    assert.ok(ae !== undefined);
    // An entry length running past the end, and garbage after the trailing term.
    const cut = Buffer.from(ae.raw.data.subarray(0, 46));
    assert.throws(() => decodeNrgMessage(ae.raw.subject, cut), NrgDecodeError);
    assert.throws(() => decodeNrgMessage(ae.raw.subject, Buffer.concat([ae.raw.data, Buffer.from([0x80])])), NrgDecodeError);
    // Every captured message cut at every length either decodes or is refused with an
    // NrgDecodeError: never a RangeError from reading past the end.
    let refused = 0;
    for (const { raw } of decoded.slice(0, 60)) {
      for (let cutAt = 0; cutAt < raw.data.length; cutAt++) {
        try {
          decodeNrgMessage(raw.subject, raw.data.subarray(0, cutAt));
        } catch (err) {
          assert.ok(err instanceof NrgDecodeError, `${raw.subject} cut at ${cutAt}: ${String(err)}`);
          refused++;
        }
      }
    }
    assert.ok(refused > 0);
  });
  // Last, as it changes the cluster: why a read-only follower must never answer.
  test("one append entry response from an unknown peer makes the meta leader add it to the meta group (a follower that answers joins)", async () => {
    const metaAppends = c.captured.filter((x) => x.subject === "$NRG.AE._meta_");
    const last = metaAppends[metaAppends.length - 1];
    const ae = decodeNrgMessage(last.subject, last.data);
    assert.ok(ae.kind === "appendEntry");
    const sys = await connect({ servers: `127.0.0.1:${c.servers[0].port}`, user: "sys", pass: "sys" });
    try {
      sys.publish(last.reply, encodeNrgAppendEntryResponse({ term: ae.message.term, index: 0, peer: "ZZZZZZZZ", success: true }));
      await sys.flush();
      await waitUntil(
        () =>
          c.captured.some((x) => {
            if (x.subject !== "$NRG.AE._meta_") return false;
            const m = decodeNrgMessage(x.subject, x.data);
            return m.kind === "appendEntry" && m.message.entries.some((e) => e.type === NrgEntryType.AddPeer && e.data.toString() === "ZZZZZZZZ");
          }),
        30_000,
        "an AddPeer entry for the unknown peer",
      );
      // Committed: the meta group now counts four members.
      await waitUntil(async () => ((await (await fetch(`${c.servers[0].monitorUrl}/jsz`)).json()) as { meta_cluster?: { cluster_size?: number } }).meta_cluster?.cluster_size === 4, 30_000, "a meta group of four");
    } finally {
      await sys.close();
    }
  });
});
