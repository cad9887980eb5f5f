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
  for (const ch of s) out += quoteRune(ch);
  return `${out}"`;
}

function quoteRune(ch: string): string {
  const r = ch.codePointAt(0)!;
  const short = SHORT_ESCAPES.get(r);
  if (short !== undefined) return short;
  if (r < 0x20 || r === 0x7f) return `\\x${r.toString(16).padStart(2, "0")}`;
  // The rest of ASCII is printable (Go's IsPrint). Checked before the Unicode class: every
  // connection's log tag is quoted, and the class's first test compiles a large regular
  // expression (tables and code kept for the process's life, idle servers included).
  if (r < 0x80) return ch;
  if (PRINTABLE.test(ch)) return ch;
  if (r < 0x10000) return `\\u${r.toString(16).padStart(4, "0")}`;
  return `\\U${r.toString(16).padStart(8, "0")}`;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** %q of a []byte: as its UTF-8 text, each byte that is no part of a valid sequence as \xNN. */
export function goQuoteBytes(b: Uint8Array): string {
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    let ch: string | undefined;
    if (n === 1) ch = String.fromCharCode(c);
    else if (n > 1 && i + n <= b.length) {
      try {
        ch = utf8.decode(b.subarray(i, i + n));
      } catch {
        ch = undefined;
      }
    }
    if (ch === undefined) {
      out += `\\x${c.toString(16).padStart(2, "0")}`;
      i++;
    } else {
      out += quoteRune(ch);
      i += n;
    }
  }
  return `${out}"`;
}
