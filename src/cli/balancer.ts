// `stream cluster balance` and `consumer cluster balance`: spread the leaders of replicated
// streams or consumers evenly over the servers of each cluster, as natscli's balancer does.
// Per cluster, the fair share is the number of assets over the number of servers seen in
// their peer groups; servers leading more than their share ask one of their assets' leaders to
// step down with a preferred new leader among that asset's replicas that leads fewer than its
// share. Several passes, since a move can only go to a server in the asset's peer group.
import type { ClusterInfo } from "@nats-io/jetstream";
import type { Session } from "./connection.js";
import { jsRequest } from "./js_api.js";
import { CliError, logf, type CliIO } from "./runtime.js";

/** A stream or consumer with its cluster information and a way to move its leader. */
export interface LeaderAsset {
  kind: "stream" | "consumer";
  name: string;
  cluster?: ClusterInfo;
  /** The $JS.API subject suffix of its leader step-down request. */
  stepDownSubject: string;
}

const PASSES = 5;

/** The JetStream API level of the server (0 before nats-server 2.11 reported one). */
export async function jsApiLevel(s: Session): Promise<number> {
  const info = await jsRequest<{ api?: { level?: number } }>(s, "INFO", undefined);
  return info.api?.level ?? 0;
}

/** Balance the leaders of `assets`; returns how many step-downs were requested. */
export async function balanceLeaders(s: Session, io: CliIO, assets: LeaderAsset[]): Promise<number> {
  if ((await jsApiLevel(s)) < 1) {
    throw new CliError("the server does not support leader placement: balancing needs nats-server 2.11 or newer (JetStream API level 1)");
  }
  // cluster name -> server -> assets it leads (every server of a peer group is listed).
  const clusters = new Map<string, Map<string, LeaderAsset[]>>();
  for (const a of assets) {
    const c = a.cluster;
    if (!c?.name) continue;
    let servers = clusters.get(c.name);
    if (!servers) clusters.set(c.name, (servers = new Map()));
    if (c.leader) {
      if (!servers.has(c.leader)) servers.set(c.leader, []);
      servers.get(c.leader)!.push(a);
    } else {
      logf(io, `Found ${a.kind} without a leader: ${a.name}`);
    }
    for (const r of c.replicas ?? []) if (!servers.has(r.name)) servers.set(r.name, []);
  }
  let moved = 0;
  for (const [cluster, servers] of [...clusters].sort(([a], [b]) => a.localeCompare(b))) {
    const total = [...servers.values()].reduce((n, l) => n + l.length, 0);
    const share = Math.ceil(total / servers.size);
    logf(io, `Cluster ${cluster}: ${total} ${assets[0]?.kind ?? "asset"} leaders on ${servers.size} servers, at most ${share} per server`);
    for (const [name, led] of [...servers].sort(([a], [b]) => a.localeCompare(b))) logf(io, `  ${name} leads ${led.length}`);
    for (let pass = 0; pass < PASSES; pass++) {
      let movedThisPass = 0;
      for (const [from, led] of servers) {
        // Candidates are tried once per pass; an asset that cannot move stays where it is.
        for (const a of [...led]) {
          if (led.length <= share) break;
          const peers = new Set((a.cluster?.replicas ?? []).map((r) => r.name));
          const to = [...servers].filter(([n, l]) => n !== from && peers.has(n) && l.length < share).sort(([, x], [, y]) => x.length - y.length)[0]?.[0];
          if (!to) continue;
          logf(io, `Requesting leader '${from}' step down for ${a.kind} '${a.name}'. New preferred leader is ${to}.`);
          await jsRequest(s, a.stepDownSubject, { placement: { cluster, preferred: to } });
          led.splice(led.indexOf(a), 1);
          servers.get(to)!.push(a);
          moved++;
          movedThisPass++;
        }
      }
      if (movedThisPass === 0) break;
    }
  }
  return moved;
}
