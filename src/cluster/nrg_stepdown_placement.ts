// Where a leader of a nats-server RAFT group (a stream's, a consumer's or the meta group's) led
// by a tsnats member hands its leadership when a LEADER.STEPDOWN request carries a placement, as
// nats-server 2.15's getStepDownPreferredPlacement picks it: a `preferred` server by name among
// the group's peers (refused when it is the leader itself or not known); else any other peer
// that is known and not offline, in the placement's `cluster` if it names one, carrying every
// one of its `tags`, at random (refused when there is none). Pure.
import { jsError } from "../jetstream/errors.js";
import { isJsonObjectOrArray } from "../jetstream/api.js";
import { decodeRequest, type Shape } from "../jetstream/json.js";

const STEPDOWN_SHAPE: Shape = { placement: { object: { cluster: "string", tags: "strings", preferred: "string" }, name: "Placement" } };

/** A STEPDOWN request's placement. */
export interface NrgStepDownPlacement {
  cluster?: string;
  tags?: string[];
  preferred?: string;
}

/** What is known of a server (nats-server's nodeInfo from its STATSZ): its name, cluster and tags (lower-cased). */
export interface NrgNodeInfo {
  name: string;
  cluster: string;
  tags: string[];
  offline?: boolean;
}

/** A STEPDOWN request's placement (JSApiLeaderStepdownRequest; none without a JSON body); throws JSInvalidJSONErr as nats-server refuses one. */
export function stepDownPlacement(body: Buffer): NrgStepDownPlacement | undefined {
  if (!isJsonObjectOrArray(body)) return undefined;
  return decodeRequest<{ placement?: NrgStepDownPlacement }>(body, STEPDOWN_SHAPE, "JSApiLeaderStepdownRequest")?.placement;
}

/**
 * The peer id to hand the leadership to, or undefined for none in particular (no placement);
 * throws JSClusterNoPeersErrF as nats-server answers. `peers`: the group's members, `self` among
 * them; `info`: what is known of a peer (undefined: not known).
 */
export function stepDownTarget(placement: NrgStepDownPlacement | undefined, self: string, peers: string[], info: (peer: string) => NrgNodeInfo | undefined): string | undefined {
  if (placement === undefined) return undefined;
  const preferred = placement.preferred ?? "";
  if (preferred !== "") {
    const id = peers.find((p) => info(p)?.name === preferred);
    if (id === self) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${preferred}" is already leader` });
    if (id === undefined) throw jsError("JSClusterNoPeersErrF", { err: `preferred server "${preferred}" not known` });
    return id;
  }
  const cluster = placement.cluster ?? "";
  const tags = (placement.tags ?? []).map((t) => t.toLowerCase());
  const possible = peers.filter((p) => {
    const i = info(p);
    if (i === undefined || i.offline === true || p === self) return false;
    if (cluster !== "" && i.cluster !== cluster) return false;
    return tags.every((t) => i.tags.includes(t));
  });
  if (possible.length === 0) throw jsError("JSClusterNoPeersErrF", { err: "no replacement peer connected" });
  return possible[Math.floor(Math.random() * possible.length)];
}
