// When a JetStream cluster server counts a RAFT group as without a leader, and answers for it
// instead of leaving the request to a leader (nats-server's isLeaderless and isGroupLeaderless).
//
// nats-server 2.15.1, live (three servers, two stopped): once its meta group has no leader its
// remaining server answers STREAM.NAMES, LIST, CREATE, CONSUMER.CREATE, INFO... at once with
// 10008 "JetStream system temporarily unavailable"; STREAM.INFO of a stream whose group it is a
// member of and that has no leader from its own copy (no cluster leader, itself listed current);
// CONSUMER.INFO of a consumer whose group it is in and that has no leader with 10008 at once; an
// info about anything else with 10008 half a second later (a leader elsewhere may answer first).

/** nats-server's lostQuorumInterval: how long a server runs before it says a group has no leader (elections at start are not that). */
export const LOST_QUORUM_MS = 10_000;

/**
 * nats-server's isGroupLeaderless, for a group this server is a member of and whose leader it
 * does not know: it says so once it ran for LOST_QUORUM_MS when the group had a leader before,
 * or once the group itself is that old (a group just created is electing its first leader).
 */
export function leaderlessLongEnough(now: number, serverStartedAt: number, group: { createdAt: number; hadLeader: boolean }): boolean {
  if (group.hadLeader && now - serverStartedAt > LOST_QUORUM_MS) return true;
  return now - group.createdAt > LOST_QUORUM_MS;
}
