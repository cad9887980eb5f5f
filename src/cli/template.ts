// Body, subject and header templates of pub/request/reply, as natscli documents them:
// {{ Count }} (also {{ .Count }}, Cnt), {{ Unix }}, {{ UnixNano }}, {{ TimeStamp }} (RFC3339),
// {{ Time }} (3:04PM), {{ ID }} (a NUID), {{ Random min max }} (random text of that length),
// {{ Request }} (the request body, in reply). Headers are "K:V" strings.
import { headers, nuid, type MsgHdrs } from "@nats-io/transport-node";
import { CliError } from "./runtime.js";

export interface TemplateVars {
  count: number;
  request?: string;
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export function randomString(min: number, max: number): string {
  const hi = Math.max(min, max);
  const len = min + Math.floor(Math.random() * (hi - min + 1));
  let s = "";
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return s;
}

function kitchen(d: Date): string {
  const h = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  return `${h}:${String(d.getMinutes()).padStart(2, "0")}${d.getHours() < 12 ? "AM" : "PM"}`;
}

function rfc3339Local(d: Date): string {
  const off = -d.getTimezoneOffset();
  const p = (n: number): string => String(Math.trunc(Math.abs(n))).padStart(2, "0");
  const tz = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${p(off / 60)}:${p(off % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${tz}`;
}

/** True when `text` contains template actions (so callers can skip work per message). */
export function hasTemplate(text: string): boolean {
  return text.includes("{{");
}

/** Expand the template actions in `text`; unknown actions are an error naming them. */
export function expandTemplate(text: string, vars: TemplateVars): string {
  if (!hasTemplate(text)) return text;
  const now = new Date();
  return text.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_all, expr: string) => {
    const parts = expr.split(/\s+/).filter((p) => p !== "");
    const name = (parts[0] ?? "").replace(/^\./, "");
    switch (name) {
      case "Count":
      case "Cnt":
        return String(vars.count);
      case "Unix":
        return String(Math.floor(now.getTime() / 1000));
      case "UnixNano":
        return (BigInt(now.getTime()) * 1_000_000n).toString();
      case "TimeStamp":
        return rfc3339Local(now);
      case "Time":
        return kitchen(now);
      case "ID":
        return nuid.next();
      case "Request":
        if (vars.request === undefined) throw new CliError(`template: {{ Request }} is only available in reply bodies`);
        return vars.request;
      case "Random": {
        const min = Number(parts[1]);
        const max = Number(parts[2] ?? parts[1]);
        if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0) throw new CliError(`template: Random needs two sizes, like {{ Random 10 100 }}`);
        return randomString(min, max);
      }
      default:
        throw new CliError(`template: unknown function "${name}" in "${text}"`, "known: Count, Cnt, Unix, UnixNano, TimeStamp, Time, ID, Random min max, Request (or disable with --no-templates)");
    }
  });
}

/** "-H K:V" strings to NATS headers (values may use templates); undefined when none. */
export function parseHeaders(list: string[] | undefined, vars: TemplateVars): MsgHdrs | undefined {
  if (!list || list.length === 0) return undefined;
  const h = headers();
  for (const item of list) {
    const i = item.indexOf(":");
    if (i <= 0) throw new CliError(`invalid header "${item}"`, "headers are given as -H Key:Value");
    h.append(item.slice(0, i).trim(), expandTemplate(item.slice(i + 1).trim(), vars));
  }
  return h;
}
