// Go's strconv.Quote (fmt's %q), for texts nats-server builds with it: a permissions
// violation names the subject that way, so control characters and unprintable runes show as
// Go escapes them (\x01, \u00a0), not as JSON would (\u0001).

const SHORT_ESCAPES = new Map<number, string>([
  [7, "\\a"],
  [8, "\\b"],
  [12, "\\f"],
  [10, "\\n"],
  [13, "\\r"],
  [9, "\\t"],
  [11, "\\v"],
  [0x22, '\\"'],
  [0x5c, "\\\\"],
]);

/** unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const r = ch.codePointAt(0)!;
    const short = SHORT_ESCAPES.get(r);
    if (short !== undefined) out += short;
    else if (r < 0x20 || r === 0x7f) out += `\\x${r.toString(16).padStart(2, "0")}`;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (r < 0x10000) out += `\\u${r.toString(16).padStart(4, "0")}`;
    else out += `\\U${r.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}
