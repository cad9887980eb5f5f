// The options of the system account's request services ($SYS.REQ.SERVER.* and
// $SYS.REQ.ACCOUNT.*), decoded as nats-server decodes them: a body, when there is one, is read as
// the endpoint's `<Name>EventOptions` (its options plus the event filter) with Go's json rules
// (null means none; bad JSON and wrong types are answered 400 with Go's texts), and a request
// whose filter does not select this server is not answered at all.
import { unmarshalLenient, type Shape } from "../jetstream/json.js";
import type { Server } from "../server/server.js";

type Json = Record<string, unknown>;

/** EventFilterOptions: which servers answer (names, hosts and clusters by substring unless exact_match). */
const FILTER: Shape = { server_name: "string", cluster: "string", host: "string", exact_match: "bool", tags: "strings", domain: "string" };

const CONNZ: Shape = {
  sort: { named: "server.SortOpt", base: "string" },
  auth: "bool",
  subscriptions: "bool",
  subscriptions_detail: "bool",
  offset: { go: "int" },
  limit: { go: "int" },
  cid: "uint",
  mqtt_client: "string",
  state: { named: "server.ConnState", base: "int" },
  user: "string",
  acc: "string",
  filter_subject: "string",
};
const SUBSZ: Shape = { offset: { go: "int" }, limit: { go: "int" }, subscriptions: "bool", account: "string", test: "string" };
const ROUTEZ: Shape = { subscriptions: "bool", subscriptions_detail: "bool" };
const GATEWAYZ: Shape = { name: "string", accounts: "bool", account_name: "string", subscriptions: "bool", subscriptions_detail: "bool" };
const LEAFZ: Shape = { subscriptions: "bool", account: "string" };
const JSZ: Shape = {
  account: "string",
  accounts: "bool",
  streams: "bool",
  consumer: "bool",
  direct_consumer: "bool",
  config: "bool",
  leader_only: "bool",
  offset: { go: "int" },
  limit: { go: "int" },
  raft: "bool",
  stream_leader_only: "bool",
};
const HEALTHZ: Shape = {
  "js-enabled": "bool",
  "js-enabled-only": "bool",
  "js-server-only": "bool",
  "js-meta-only": "bool",
  account: "string",
  stream: "string",
  consumer: "string",
  details: "bool",
};
const ACCSTATZ: Shape = { accounts: "strings", include_unused: "bool" };

/** The endpoints of $SYS.REQ.SERVER.PING.<EP> and $SYS.REQ.SERVER.<id>.<EP>, with their Go option types. */
export const SERVER_ENDPOINTS: Record<string, { struct: string; shape: Shape }> = {
  STATSZ: { struct: "StatszEventOptions", shape: {} },
  VARZ: { struct: "VarzEventOptions", shape: {} },
  CONNZ: { struct: "ConnzEventOptions", shape: CONNZ },
  SUBSZ: { struct: "SubszEventOptions", shape: SUBSZ },
  ROUTEZ: { struct: "RoutezEventOptions", shape: ROUTEZ },
  GATEWAYZ: { struct: "GatewayzEventOptions", shape: GATEWAYZ },
  LEAFZ: { struct: "LeafzEventOptions", shape: LEAFZ },
  ACCOUNTZ: { struct: "AccountzEventOptions", shape: { account: "string" } },
  JSZ: { struct: "JszEventOptions", shape: JSZ },
  HEALTHZ: { struct: "HealthzEventOptions", shape: HEALTHZ },
  PROFILEZ: { struct: "ProfilezEventOptions", shape: { name: "string", debug: { go: "int" }, duration: { go: "time.Duration" } } },
  EXPVARZ: { struct: "ExpvarzEventOptions", shape: {} },
  IPQUEUESZ: { struct: "IpqueueszEventOptions", shape: { all: "bool", filter: "string" } },
  RAFTZ: { struct: "RaftzEventOptions", shape: { account: "string", group: "string" } },
};

/** The endpoints of $SYS.REQ.ACCOUNT.<account>.<EP> (PING as the account: all of them). */
export const ACCOUNT_ENDPOINTS: Record<string, { struct: string; shape: Shape }> = {
  SUBSZ: { struct: "SubszEventOptions", shape: SUBSZ },
  CONNZ: { struct: "ConnzEventOptions", shape: CONNZ },
  LEAFZ: { struct: "LeafzEventOptions", shape: LEAFZ },
  JSZ: { struct: "JszEventOptions", shape: JSZ },
  INFO: { struct: "AccInfoEventOptions", shape: {} },
  STATZ: { struct: "AccountStatzEventOptions", shape: ACCSTATZ },
};

/** A request refused with its status (400 for options, 500 for the endpoint's own errors). */
export class SystemRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request's options (throws SystemRequestError 400 with Go's text when they do not decode). */
export function decodeEventOptions(body: Buffer, endpoint: { struct: string; shape: Shape }): Json {
  if (body.length === 0) return {};
  const decoded = unmarshalLenient(body, { ...FILTER, ...endpoint.shape }, endpoint.struct);
  if (typeof decoded === "string") throw new SystemRequestError(400, decoded);
  return decoded;
}

/** Does the request's event filter select this server? (nats-server's filterRequest) */
export function selectsServer(server: Server, clusterName: string, filter: Json): boolean {
  const str = (k: string): string => (typeof filter[k] === "string" ? (filter[k] as string) : "");
  const exact = filter.exact_match === true;
  const matches = (want: string, have: string): boolean => want === "" || (exact ? have === want : have.includes(want));
  if (!matches(str("server_name"), server.name) || !matches(str("host"), server.options.host) || !matches(str("cluster"), clusterName)) return false;
  if (Array.isArray(filter.tags) && !filter.tags.every((t) => typeof t === "string" && server.options.serverTags.includes(t.trim().toLowerCase()))) return false;
  if (str("domain") !== "" && str("domain") !== (server.options.jetstream.domain ?? "")) return false;
  return true;
}
