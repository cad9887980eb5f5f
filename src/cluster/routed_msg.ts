// A message arriving from another server (RMSG, HMSG, LMSG on a route, leaf node or gateway):
// the arguments of its control line, kept between the line and the payload, and the lookups
// routing it needs, reused while account and subject repeat (a stream of messages on one
// subject is the common case). After what precedes the subject (origin cluster, account),
// every kind frames it the same way:
//
//   <subject> [reply | + reply <queues> | | <queues>] [<header size>] <total size>
//
// One instance per connection: nothing is allocated per message.
import type { Account } from "../server/account.js";
import type { Server } from "../server/server.js";
import type { Sublist, SublistResult } from "../server/sublist.js";
import { ProtocolError } from "../protocol/errors.js";

export class RoutedMsg {
  subject = "";
  reply = "";
  /** Header size, -1 without headers. */
  hdr = -1;
  /** The queue groups the sender picked for this server (after `+ reply` or `|`). */
  queues: string[] | undefined;
  private accountName = "";
  private account: Account | undefined;
  private matchSubject = "";
  private matchSublist: Sublist | undefined;
  private matchGeneration = -1;
  private result: SublistResult | undefined;

  /**
   * Read the arguments from `args[from]` (the subject) on; returns the total size. `name` is
   * nats-server's function for this op, which its parse errors name.
   */
  readArgs(args: readonly string[], from: number, withHdr: boolean, name: string): number {
    const sizes = withHdr ? 2 : 1;
    const n = args.length;
    if (n < from + 1 + sizes) throw new ProtocolError("", `${name} Parse Error: '[${args.join(" ")}]'`);
    this.subject = args[from];
    const i = from + 1;
    const rest = n - i - sizes;
    this.reply = "";
    this.queues = undefined;
    if (rest === 1) this.reply = args[i];
    else if (rest > 1) {
      const ind = args[i];
      if (ind === "+") {
        this.reply = args[i + 1];
        this.queues = args.slice(i + 2, n - sizes);
      } else if (ind === "|") this.queues = args.slice(i + 1, n - sizes);
      else throw new ProtocolError("", `${name} Bad or Missing Reply Indicator: '${ind}'`);
    }
    const size = parseSize(args[n - 1]);
    this.hdr = withHdr ? parseSize(args[n - 2]) : -1;
    if (withHdr && this.hdr < 0) throw new ProtocolError("", `${name} Bad or Missing Header Size: '${args.join(" ")}'`);
    if (size < 0) throw new ProtocolError("", `${name} Bad or Missing Size: '[${args.join(" ")}]'`);
    if (this.hdr > size) throw new ProtocolError("", `${name} Header Size larger then TotalSize: '${args.join(" ")}'`);
    return size;
  }

  /** The account named `name` on this server (undefined when it has none such). */
  accountNamed(server: Server, name: string): Account | undefined {
    if (name !== this.accountName || this.account === undefined) {
      this.account = server.accounts.get(name);
      this.accountName = name;
    }
    return this.account;
  }

  /** The account's subscriptions matching `subject`. */
  match(account: Account, subject: string): SublistResult {
    const sublist = account.sublist;
    let result = this.result;
    if (result === undefined || subject !== this.matchSubject || sublist !== this.matchSublist || sublist.generation !== this.matchGeneration) {
      result = sublist.match(subject);
      this.matchSubject = subject;
      this.matchSublist = sublist;
      this.matchGeneration = sublist.generation;
      this.result = result;
    }
    return result;
  }
}

/** A size argument: decimal digits only (at most 12), else -1. */
export function parseSize(s: string | undefined): number {
  if (s === undefined || s.length === 0 || s.length > 12) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
