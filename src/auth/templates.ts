// Scoped signing keys: a user signed by a scoped key gets the key's template permissions, in
// which `{{name()}}`, `{{subject()}}`, `{{account-name()}}`, `{{account-subject()}}`,
// `{{tag(x)}}` and `{{account-tag(x)}}` are replaced by the user's and account's values. A tag
// template yields one subject per matching tag (all combinations when several appear).
// Generated subjects that are invalid are dropped from allow lists and fail the login when
// they land in a deny list; an allow list that ends up empty becomes "deny everything".
import { isValidSubject } from "../protocol/subject.js";
import type { JwtPermission, UserPermissionLimits } from "./claims.js";

const MUSTACHE = /\{\{([^}]+)\}\}/g;
const MAX_EXPANSIONS = 4096;

export interface TemplateContext {
  userName: string;
  userSubject: string;
  userTags: readonly string[];
  /** The account the user belongs to (the scoped key's account). */
  accountSubject: string;
  accountName: string;
  accountTags: readonly string[];
}

function tagOp(op: string): { kind: "tag" | "account-tag"; name: string } | undefined {
  const lower = op.toLowerCase();
  if (lower.startsWith("tag(") && op.endsWith(")")) return { kind: "tag", name: op.slice(4, -1) };
  if (lower.startsWith("account-tag(") && op.endsWith(")")) return { kind: "account-tag", name: op.slice(12, -1) };
  return undefined;
}

/** All combinations of one value from each list. */
function cartesian(lists: string[][]): string[][] {
  let out: string[][] = [[]];
  for (const l of lists) out = out.flatMap((prefix) => l.map((v) => [...prefix, v]));
  return out;
}

function expand(list: string[], ctx: TemplateContext, failOnBadSubject: boolean): string[] {
  if (!list.some((s) => s.match(MUSTACHE) !== null)) return list;
  const emitted: string[] = [];
  for (const entry of list) {
    const tokens = entry.match(MUSTACHE) ?? [];
    const values: string[][] = [];
    let hasTags = false;
    for (const tk of tokens) {
      const op = tk.slice(2, -2).trim();
      const lower = op.toLowerCase();
      if (lower === "name()") values.push([ctx.userName]);
      else if (lower === "subject()") values.push([ctx.userSubject]);
      else if (lower === "account-name()") values.push([ctx.accountName]);
      else if (lower === "account-subject()") values.push([ctx.accountSubject]);
      else {
        const tag = tagOp(op);
        if (tag === undefined) throw new Error(`template operation in ${JSON.stringify(entry)}: ${JSON.stringify(op)} is not defined`);
        hasTags = true;
        const prefix = `${tag.name.toLowerCase()}:`;
        const tags = tag.kind === "tag" ? ctx.userTags : ctx.accountTags;
        const found = tags.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
        if (found.length > 0) values.push(found);
        else if (failOnBadSubject) throw new Error(`generated invalid subject ${JSON.stringify(entry)}: ${JSON.stringify(tag.name)} is not defined`);
        else values.push([" "]); // yields an invalid subject, dropped below
      }
    }
    let combos: string[][];
    if (!hasTags) combos = [values.map((v) => v[0])];
    else {
      let count = 1;
      for (const v of values) count *= v.length;
      if (count > MAX_EXPANSIONS || emitted.length > MAX_EXPANSIONS - count) {
        throw new Error(`template expansion exceeds limit: ${MAX_EXPANSIONS}`);
      }
      combos = cartesian(values);
    }
    for (const combo of combos) {
      let subject = entry;
      tokens.forEach((tk, i) => (subject = subject.split(tk).join(combo[i])));
      if (isValidSubject(subject)) emitted.push(subject);
      else if (failOnBadSubject) throw new Error("generated invalid subject");
    }
  }
  return emitted;
}

function expandPermission(p: JwtPermission, ctx: TemplateContext): JwtPermission {
  const allow = expand(p.allow, ctx, false);
  const deny = expand(p.deny, ctx, true);
  // An allow list that generated nothing must not turn into "everything allowed".
  if (p.allow.length > 0 && allow.length === 0 && !deny.includes(">")) deny.push(">");
  return { allow, deny };
}

/** The template of a scoped key, applied to one user. Throws when it generates bad permissions. */
export function applyUserTemplate(template: UserPermissionLimits, ctx: TemplateContext): UserPermissionLimits {
  const perms = template.permissions;
  // nats-server expands the subscribe lists first: its errors come in that order.
  const sub = expandPermission(perms.sub, ctx);
  const pub = expandPermission(perms.pub, ctx);
  return { ...template, permissions: { pub, sub, resp: perms.resp } };
}
