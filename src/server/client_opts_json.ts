// The CONNECT fields nats-server decodes into its ClientOpts (server/client.go, as facts), for
// every kind of connection (clients, routes, gateways, leaf nodes): a field of the wrong JSON
// type fails the CONNECT with Go's json.Unmarshal error, the first such field in the text.
import { goJsonKind } from "../jetstream/go_json.js";

type GoType = "bool" | "string" | "int";

const FIELDS = new Map<string, GoType>([
  ["echo", "bool"],
  ["verbose", "bool"],
  ["pedantic", "bool"],
  ["tls_required", "bool"],
  ["nkey", "string"],
  ["jwt", "string"],
  ["sig", "string"],
  ["auth_token", "string"],
  ["user", "string"],
  ["pass", "string"],
  ["name", "string"],
  ["lang", "string"],
  ["version", "string"],
  ["protocol", "int"],
  ["account", "string"],
  ["new_account", "bool"],
  ["headers", "bool"],
  ["no_responders", "bool"],
  ["remote_account", "string"],
  ["proxy_sig", "string"],
]);

/** Go's error for the first ClientOpts field of `connect` (a decoded JSON object) whose type is wrong, if any. */
export function clientOptsTypeError(connect: Record<string, unknown>): string | undefined {
  for (const [key, v] of Object.entries(connect)) {
    // Go matches a JSON key to a field case-insensitively; null leaves the field as it is.
    const name = key.toLowerCase();
    const type = FIELDS.get(name);
    if (type === undefined || v === null) continue;
    const ok = type === "bool" ? typeof v === "boolean" : type === "string" ? typeof v === "string" : typeof v === "number" && Number.isInteger(v);
    if (ok) continue;
    const what = typeof v === "number" && type === "int" ? `number ${String(v)}` : goJsonKind(v);
    return `json: cannot unmarshal ${what} into Go struct field ClientOpts.${name} of type ${type}`;
  }
  return undefined;
}
