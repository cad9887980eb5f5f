// `--expression` of `stream find` and `consumer find`: a boolean expression over an asset's
// configuration and state, as natscli offers with the expr language. Evaluation is done by
// the jexl library, given expr's spelling of the common operators (and/or/not, matches,
// contains, startsWith, endsWith, len()) and its precedence (and binds tighter than or), so
// natscli's documented examples work as written:
//   state.messages < 10        info.cluster.name in ["lon", "sfo"]
//   "js.in.orders_1" in config.subjects        Info.State.Msgs < 10
// The lower-case names hold the JSON the server sent; `Info` holds the same information under
// Go's field names (natscli exposes the Go structure), e.g. Info.State.Msgs, Info.Config.Replicas.
import jexl from "jexl";
import { CliError } from "./runtime.js";

type Evaluator = InstanceType<typeof jexl.Jexl>;

function newEvaluator(): Evaluator {
  const j = new jexl.Jexl();
  const and = (a: unknown, b: unknown): boolean => Boolean(a) && Boolean(b);
  const or = (a: unknown, b: unknown): boolean => Boolean(a) || Boolean(b);
  // jexl gives && and || the same precedence; expr (like Go and C) binds and tighter.
  j.addBinaryOp("&&", 11, and);
  j.addBinaryOp("and", 11, and);
  j.addBinaryOp("||", 10, or);
  j.addBinaryOp("or", 10, or);
  j.addUnaryOp("not", (a: unknown) => !a);
  j.addBinaryOp("matches", 20, (a: unknown, re: unknown) => new RegExp(String(re)).test(String(a ?? "")));
  j.addBinaryOp("contains", 20, (a: unknown, b: unknown) => (Array.isArray(a) ? a.includes(b) : String(a ?? "").includes(String(b))));
  j.addBinaryOp("startsWith", 20, (a: unknown, b: unknown) => String(a ?? "").startsWith(String(b)));
  j.addBinaryOp("endsWith", 20, (a: unknown, b: unknown) => String(a ?? "").endsWith(String(b)));
  j.addFunction("lower", (v: unknown) => String(v ?? "").toLowerCase());
  j.addFunction("upper", (v: unknown) => String(v ?? "").toUpperCase());
  j.addFunction("len", (v: unknown) => (Array.isArray(v) || typeof v === "string" ? v.length : v && typeof v === "object" ? Object.keys(v).length : 0));
  return j;
}

/** JSON names whose Go field names are not simply the name in PascalCase. */
const GO_NAMES: Record<string, string> = {
  messages: "Msgs",
  consumer_count: "Consumers",
  first_ts: "FirstTime",
  last_ts: "LastTime",
  num_replicas: "Replicas",
  max_msgs_per_subject: "MaxMsgsPer",
  discard_new_per_subject: "DiscardNewPer",
  durable_name: "Durable",
  consumer_seq: "Consumer",
  stream_seq: "Stream",
  last_active: "Last",
  stream_name: "Stream",
  ts: "TimeStamp",
};

/** The same document under Go's field names (snake_case → PascalCase, with nats-server's exceptions). */
export function goNames(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goNames);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const name = GO_NAMES[k] ?? k.replace(/(^|_)([a-z0-9])/g, (_m, _s, c: string) => c.toUpperCase());
    // Maps keyed by data (metadata, subjects) keep their keys.
    out[name] = k === "metadata" || k === "subjects" ? x : goNames(x);
  }
  return out;
}

/** A compiled expression, evaluated once per asset. */
export class AssetExpression {
  private readonly compiled: ReturnType<Evaluator["compile"]>;

  constructor(readonly text: string) {
    try {
      this.compiled = newEvaluator().compile(text);
    } catch (err) {
      throw new CliError(`invalid expression "${text}": ${(err as Error).message}`, "see `tsnats stream find --help` for the expression language");
    }
  }

  /** Does the asset match? `env` has config, state and info (the JSON documents). */
  matches(env: { config: unknown; state: unknown; info: unknown }): boolean {
    return this.holds({ ...env, Info: goNames(env.info) });
  }

  /** Does the expression hold with these variables (server report connections' conn/Conn/server/Server)? */
  holds(vars: Record<string, unknown>): boolean {
    let out: unknown;
    try {
      out = this.compiled.evalSync(vars);
    } catch (err) {
      throw new CliError(`expression "${this.text}" failed: ${(err as Error).message}`);
    }
    if (typeof out !== "boolean") throw new CliError(`expression "${this.text}" did not return a boolean`, "compare values, e.g. state.messages > 0");
    return out;
  }
}

export const EXPRESSION_HELP = `Expression format:

The --expression flag matches on any field of the information the server reports, using an
expression that must return a boolean. Available names, with the JSON field names:

  config - the configuration
  state  - the state
  info   - the whole information document

and Info, the same information under Go's field names (Info.State.Msgs, Info.Config.Replicas).
Operators: == != < <= > >= + - * / %, and/&&, or/||, not/!, in (list membership or substring),
matches (regular expression), contains, startsWith, endsWith, len(x); lists as ["a", "b"].

Examples:

  tsnats s find --expression 'state.messages < 10'
  tsnats s find --expression 'Info.State.Msgs < 10'
  tsnats s find --expression 'info.cluster.name in ["lon", "sfo"]'
  tsnats s find --expression '"js.in.orders_1" in config.subjects'
`;
