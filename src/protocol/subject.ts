// Subject grammar helpers shared by routing, JetStream and monitoring.

/** A subject that may contain wildcards: non-empty tokens, `>` only last, no whitespace. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0) return false;
  let tokenStart = 0;
  for (let i = 0; i <= subject.length; i++) {
    const c = i === subject.length ? 46 : subject.charCodeAt(i);
    if (c === 46 /* . */) {
      const len = i - tokenStart;
      if (len === 0) return false;
      if (len === 1 && subject.charCodeAt(tokenStart) === 62 /* > */ && i !== subject.length) return false;
      tokenStart = i + 1;
    } else if (c === 32 || c === 9 || c === 13 || c === 10) {
      return false;
    }
  }
  return true;
}

/** A subject that is valid and has no wildcard tokens (what a message is published to). */
export function isValidLiteralSubject(subject: string): boolean {
  return isValidSubject(subject) && !hasWildcard(subject);
}

/** A filter that matches every subject: "" (no filter) or ">". */
export function isFullWildcard(filter: string): boolean {
  return filter === "" || filter === ">";
}

export function hasWildcard(subject: string): boolean {
  let tokenStart = 0;
  for (let i = 0; i <= subject.length; i++) {
    if (i === subject.length || subject.charCodeAt(i) === 46) {
      if (i - tokenStart === 1) {
        const c = subject.charCodeAt(tokenStart);
        if (c === 42 || c === 62) return true;
      }
      tokenStart = i + 1;
    }
  }
  return false;
}

/** Does the literal subject match the pattern (which may contain `*` and `>`)? */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  let pi = 0;
  let si = 0;
  const pl = pattern.length;
  const sl = subject.length;
  while (pi < pl && si < sl) {
    let pe = pattern.indexOf(".", pi);
    if (pe < 0) pe = pl;
    let se = subject.indexOf(".", si);
    if (se < 0) se = sl;
    const plen = pe - pi;
    if (plen === 1) {
      const c = pattern.charCodeAt(pi);
      if (c === 62) return true; // '>' matches the remaining one or more tokens
      if (c !== 42 && !(se - si === 1 && subject.charCodeAt(si) === c)) return false;
    } else if (plen !== se - si || pattern.substring(pi, pe) !== subject.substring(si, se)) {
      return false;
    }
    pi = pe + 1;
    si = se + 1;
  }
  return pi > pl && si > sl;
}

/** Is every subject matched by `sub` also matched by `sup`? (wildcards on both sides) */
export function subjectIsSubsetOf(sub: string, sup: string): boolean {
  const a = sub.split(".");
  const b = sup.split(".");
  for (let i = 0; i < b.length; i++) {
    if (b[i] === ">") return i < a.length;
    if (i >= a.length) return false;
    if (b[i] === "*") {
      if (a[i] === ">") return false;
      continue;
    }
    if (a[i] !== b[i]) return false;
  }
  return a.length === b.length;
}

/** Can some literal subject match both patterns? (used for stream subject overlap checks) */
export function subjectsCollide(a: string, b: string): boolean {
  const ta = a.split(".");
  const tb = b.split(".");
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === ">" || y === ">") return true;
    if (x === "*" || y === "*") continue;
    if (x !== y) return false;
  }
  if (ta.length === tb.length) return true;
  // Unequal lengths collide only when the shorter ends in '>', handled above.
  return false;
}
