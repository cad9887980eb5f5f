// Tiny NATS subject matcher for the storage layer (the core has its own sublist).
// Tokens are separated by '.', a '*' token matches exactly one token and a final '>'
// token matches one or more tokens. Subjects stored in a stream never hold wildcards.

const STAR = 42; // '*'
const GT = 62; // '>'
const DOT = 46; // '.'

/** True if `filter` is "" or ">" (i.e. matches every subject). */
export function isFullWildcard(filter: string): boolean {
  return filter === "" || filter === ">";
}

/** True if the subject/filter holds a '*' or '>' token. */
export function hasWildcard(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if ((c === STAR || c === GT) && (i === 0 || s.charCodeAt(i - 1) === DOT) && (i + 1 === n || s.charCodeAt(i + 1) === DOT)) {
      return true;
    }
  }
  return false;
}

/** Does `subject` (literal) match `filter` (may hold wildcards)? */
export function subjectMatches(filter: string, subject: string): boolean {
  if (filter === subject) return true;
  const fl = filter.length;
  const sl = subject.length;
  if (sl === 0 || fl === 0) return false;
  let fi = 0;
  let si = 0;
  for (;;) {
    if (si > sl) return false; // subject has no token left for this filter token
    const fd = filter.indexOf(".", fi);
    const fe = fd < 0 ? fl : fd;
    const sd = subject.indexOf(".", si);
    const se = sd < 0 ? sl : sd;
    const flen = fe - fi;
    if (flen === 1 && filter.charCodeAt(fi) === GT && fe === fl) return true;
    if (!(flen === 1 && filter.charCodeAt(fi) === STAR)) {
      if (se - si !== flen) return false;
      for (let k = 0; k < flen; k++) {
        if (filter.charCodeAt(fi + k) !== subject.charCodeAt(si + k)) return false;
      }
    }
    fi = fe + 1;
    si = se + 1;
    if (fi > fl) return si > sl;
  }
}
