// CONSUMER.LIST of an R3 stream while the server of two of its single-replica durables is down,
// side by side on three tsnats servers and three nats-server 2.15.1 (processes from the same
// configuration files; steps in helpers/js_cluster_consumer_offline_list_scenario.ts). nats-server's
// meta leader lists such a consumer with a stand-in entry (no name nor stream, so first; the
// config and creation time of its assignment; a zeroed state; its server offline) and names it
// in `missing`; pages count every consumer; a page past the end has a total of 0. The client's
// consumers.list() iterates over the stand-ins too. A pause while down shows in the stand-in.
import { sideBySideTests } from "./helpers/ref_js_cluster.js";
import { offlineListScenario } from "./helpers/js_cluster_consumer_offline_list_scenario.js";

const zero = [{ consumer_seq: 0, stream_seq: 0 }, { consumer_seq: 0, stream_seq: 0 }, 0, 0, 0, 0];
const keys = "stream_name,name,created,config,delivered,ack_floor,num_ack_pending,num_redelivered,num_waiting,num_pending,cluster,ts";
const standIn = (of: string, config: unknown = "the consumer's"): unknown => ({
  keys,
  stream_name: "",
  name: "",
  of,
  created: "the consumer's",
  config,
  state: zero,
  cluster: { keys: "name,raft_group,replicas", name: "X", raft_group: "string", replicas: [{ name: "host", current: false, offline: true, active: 0, peer: "string" }] },
  ts: "string",
});
const list = (total: number, offset: number, consumers: unknown[], missing: string[]): unknown => ({ type: "io.nats.jetstream.api.v1.consumer_list_response", total, offset, limit: 256, consumers, missing });

sideBySideTests(
  "CONSUMER.LIST with the server of two single-replica durables down: a stand-in entry each, missing, counted and paged",
  3,
  offlineListScenario,
  {
    second: true,
    list: list(3, 0, [standIn("D1"), standIn("second"), "R"], ["D1", "second"]),
    listAt1: list(3, 1, [standIn("second"), "R"], ["second"]),
    listAt2: list(3, 2, [standIn("second")], ["second"]),
    listAt9: list(0, 3, [], []),
    names: [3, ["D1", "R", "second"]],
    info: { code: 500, err_code: 10119, description: "consumer is offline" },
    consumerCount: 3,
    clientList: ["", "", "R"],
    paused: true,
    listPaused: list(3, 1, [standIn("second", { metadata: { "_nats.req.level": "1" }, pause_until: "the time asked" }), "R"], ["second"]),
    after: [3, ["D1", "R", "second"], undefined],
  },
);
