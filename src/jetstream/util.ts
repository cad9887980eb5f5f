// Small helpers shared by the JetStream files: ADR-6 name checks.

// ---- names (ADR-6) ----

/** Stream/consumer names: printable, no whitespace, no `.`, `*`, `>`, no path separators. */
export function nameProblem(name: string): "empty" | "chars" | "path" | "long" | undefined {
  if (name.length === 0) return "empty";
  if (name.length > 255) return "long";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 47 || c === 92) return "path";
    if (c === 46 || c === 42 || c === 62 || c <= 32 || c === 127) return "chars";
  }
  return undefined;
}
