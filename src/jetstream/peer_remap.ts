// Taking one server out of an asset's servers, as nats-server 2.15 does on request:
// `$JS.API.STREAM.PEER.REMOVE|EVACUATE.<stream>` and `$JS.API.CONSUMER.PEER.REMOVE|EVACUATE.<stream>.<consumer>`
// (the account's own requests), `$JS.API.SERVER.EVACUATE` (the system account's, every stream
// the server holds). REMOVE takes the server out at once and its replacement catches up;
// EVACUATE brings the replacement in first and the server leaves once it caught up (a move). The
// stream side is the meta leader's (cluster.ts), the consumer side is here.
//
// A replicated consumer's group here runs on all its stream's servers, so no other server can
// take a member's place: "peer remap failed", as nats-server answers for a consumer with as many
// replicas as its stream. A single-replica consumer goes, with its state, to another server of
// its stream (a `handover` of the stream's group).
import { isEmptyRequest } from "./api.js";
import { jsError } from "./errors.js";
import { peerId } from "./group_common.js";
import { decodeRequest, type Shape } from "./json.js";
import type { Stream } from "./stream.js";

const PEER_SHAPE: Shape = { peer: "string" };

/** REMOVE or EVACUATE when `t` (the tokens after `$JS.API.`) is a peer remapping request of an asset. */
export function peerRemapKind(t: string[]): "REMOVE" | "EVACUATE" | undefined {
  if (t[1] !== "PEER" || (t[2] !== "REMOVE" && t[2] !== "EVACUATE")) return undefined;
  if ((t[0] === "STREAM" && t.length === 4) || (t[0] === "CONSUMER" && t.length === 5)) return t[2];
  return undefined;
}

/** The `peer` a remapping request names (a server name or nats-server's peer id), checked in nats-server's order. */
export function requestedPeer(body: Buffer, struct: string): string {
  if (isEmptyRequest(body)) throw jsError("JSBadRequestErr");
  const req = decodeRequest<{ peer?: string }>(body, PEER_SHAPE, struct) ?? {};
  if (!req.peer) throw jsError("JSBadRequestErr");
  return req.peer;
}

/** The member `peer` names (by server name or peer id), if any. */
export function memberNamed(members: readonly string[], peer: string): string | undefined {
  return members.find((m) => peerId(m) === peer) ?? members.find((m) => m === peer);
}

/**
 * CONSUMER.PEER.REMOVE|EVACUATE on the server that answers for the consumer (its stream's
 * leader, or the member holding it when it has a single replica): the consumer's server named
 * by `peer` is replaced by another server of the stream.
 */
export function consumerPeerRemap(stream: Stream | undefined, consumer: string, self: string, body: Buffer, kind: "REMOVE" | "EVACUATE"): Record<string, unknown> {
  const peer = requestedPeer(body, kind === "REMOVE" ? "JSApiConsumerRemovePeerRequest" : "JSApiConsumerEvacuatePeerRequest");
  if (stream === undefined) throw jsError("JSStreamNotFoundErr");
  const c = stream.consumers.get(consumer);
  if (c === undefined) throw jsError("JSConsumerNotFoundErr");
  const replica = stream.replica;
  const members = c.replicated && replica !== undefined ? replica.node.config.voters : [self];
  const member = memberNamed(members, peer);
  if (member === undefined) throw jsError("JSClusterPeerNotMemberErr");
  if (c.replicated || replica === undefined) throw jsError("JSPeerRemapErr");
  const to = replica.singleReplicaTargets()[0];
  if (to === undefined) throw jsError("JSPeerRemapErr");
  replica.moveSingleReplicaConsumer(c.name, to);
  stream.jsa.service.log.info(`JetStream cluster: consumer '${stream.jsa.account.name} > ${stream.name} > ${c.name}' moves from ${member} to ${to}`);
  return { success: true };
}
