// `tsnats server cluster`: the JetStream meta group's leader step-down and peer removal
// ($JS.API.META.LEADER.STEPDOWN, $JS.API.SERVER.REMOVE). Which server leads, and which peers
// the group has, comes from every server's JSZ answer on the system account, as natscli
// reads it: only the answer of the server that names itself the meta leader is trusted.
import type { Command } from "commander";
import { App, collect, jsonFlag } from "./app.js";
import type { Session } from "./connection.js";
import { printJson } from "./output.js";
import { askConfirm } from "./prompt.js";
import { sysRequest } from "./server_cmd.js";
import { jsRequest } from "./js_api.js";
import { CliError, logf, println, sleep } from "./runtime.js";

interface MetaReplica {
  name: string;
  peer?: string;
  current?: boolean;
  offline?: boolean;
  active?: number;
  lag?: number;
}

interface MetaCluster {
  name?: string;
  leader?: string;
  peer?: string;
  replicas?: MetaReplica[];
  cluster_size?: number;
}

const NOT_SYSTEM = "did not receive a response from the meta leader, ensure the account used has system privileges and appropriate permissions";

/** The meta group as its leader describes it; refuses when no server, or more than one, leads. */
async function metaGroup(s: Session, action: string): Promise<MetaCluster> {
  const res = await sysRequest<{ meta_cluster?: MetaCluster }>(s, "$SYS.REQ.SERVER.PING.JSZ", {});
  const leaders = res.filter((r) => r.data?.meta_cluster && r.server.name === r.data.meta_cluster.leader);
  if (leaders.length === 0) throw new CliError(NOT_SYSTEM, "connect as a user of the system account of a clustered JetStream deployment");
  if (leaders.length > 1) throw new CliError(`found ${leaders.length} JetStream meta cluster leaders, unable to determine which cluster to ${action}`);
  return leaders[0].data!.meta_cluster!;
}

/** JetStream domains do not apply to the system account: a domain would address no one. */
function refuseDomain(s: Session, what: string): void {
  if (s.effective.ctx.jetstream_domain) {
    throw new CliError(`the --js-domain option cannot be used with ${what}: JetStream domains do not apply to the system account, connect without a domain configured`);
  }
}

export function registerServerCluster(app: App, srv: Command): void {
  const io = app.io;
  const cluster = srv.command("cluster").aliases(["r", "raft"]).description("Manage JetStream Clustering");

  jsonFlag(
    cluster
      .command("step-down")
      .aliases(["stepdown", "sd", "elect", "down", "d"])
      .description("Force a new leader election by standing down the current meta leader")
      .option("--cluster <name>", "Request placement of the leader in a specific cluster")
      .option("--tags <tag>", "Request placement of the leader on nodes with specific tag(s) (repeatable)", collect)
      .option("--host <server>", "Request placement of the leader on a specific node")
      .option("-f, --force", "Force leader step down ignoring current leader"),
  ).action(
    app.action<{ cluster?: string; tags?: string[]; host?: string; force?: boolean; json?: boolean }>(async ({ session, opts }) => {
      refuseDomain(session, "step-down");
      const meta = await metaGroup(session, "step down");
      let leader = meta.leader ?? "";
      if (leader === "" && !opts.force) throw new CliError("cluster has no current leader", "pass --force to request an election anyway");
      if (leader === "") leader = "<unknown>";
      if (opts.host || opts.tags?.length) println(io, "WARNING: Using placement tags or node name required NATS Server 2.11 or newer\n");
      logf(io, `Requesting leader step down of "${leader}" in a ${(meta.replicas?.length ?? 0) + 1} peer RAFT group`);
      const placement: Record<string, unknown> = {};
      if (opts.cluster) placement.cluster = opts.cluster;
      if (opts.tags?.length) placement.tags = opts.tags;
      if (opts.host) placement.preferred = opts.host;
      await jsRequest(session, "META.LEADER.STEPDOWN", Object.keys(placement).length > 0 ? { placement } : undefined);
      // The election takes a moment: look for the new leader for up to about 2.5 s (natscli's wait).
      for (let i = 0; i < 5; i++) {
        await sleep(io, 500);
        let now: MetaCluster;
        try {
          now = await metaGroup(session, "step down");
        } catch (err) {
          logf(io, `Failed to retrieve Cluster State: ${(err as Error).message}`);
          continue;
        }
        if (now.leader && now.leader !== leader) {
          if (opts.json) printJson(io, { previous_leader: leader, leader: now.leader });
          logf(io, `New leader elected "${now.leader}"`);
          return;
        }
      }
      throw new CliError("the meta group did not elect a new leader in time", "check `tsnats server report jetstream`: the election may still complete");
    }),
  );

  jsonFlag(
    cluster
      .command("peer-remove <name>")
      .aliases(["rm", "pr"])
      .description("Removes a server from a JetStream cluster")
      .option("-f, --force", "Force removal without prompting"),
  ).action(
    app.action<{ force?: boolean; json?: boolean }>(async ({ session, opts }, peerName: string) => {
      refuseDomain(session, "peer-remove");
      const meta = await metaGroup(session, "remove the peer from");
      const found = (meta.replicas ?? []).find((r) => r.name === peerName || r.peer === peerName);
      if (!found) throw new CliError(`did not find a replica named ${peerName}`, "`tsnats server report jetstream` lists the meta group's peers (the leader is not a replica: step it down first)");
      const state = found.offline ? "offline" : "online";
      if (!opts.force) {
        println(
          io,
          [
            "Removing peers is intended for peers that will not come back, generally for peers that will remain",
            "in the cluster removing the peer is not needed - simply do your maintenance with the peer shut down.",
            "",
            "To return a removed peer to the cluster you have to restart the entire cluster or super-cluster first.",
            "If the peer was online when it was removed you need to restart the removed peer last.",
            "",
            "R1 streams on this peer will migrate to other peers but data will be lost, even if the",
            "peer returns later.",
            "",
            "R1 consumers on this peer will lose their state and revert to starting configuring",
            "which may lead to duplicate deliveries.\n",
          ].join("\n"),
        );
        const question = peerName === found.name ? `Really remove ${state} peer ${found.name}` : `Really remove ${state} peer ${found.name} with id ${found.peer}`;
        if (!(await askConfirm(io, question, false))) return void println(io, "Removal canceled");
      }
      // By peer id when known (names may repeat across clusters), as natscli does.
      const body = found.peer ? { peer_id: found.peer } : { peer: found.name };
      const res = await jsRequest<{ success?: boolean }>(session, "SERVER.REMOVE", body);
      if (opts.json) return printJson(io, { ...res, peer: found.peer ?? "", name: found.name });
      println(io, `Removed ${state} peer ${found.name}${found.peer ? ` (${found.peer})` : ""} from the JetStream cluster`);
    }),
  );
}
