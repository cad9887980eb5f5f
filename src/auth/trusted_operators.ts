// Operator mode's root of trust: the operators named by `operator` (JWTs) or `trusted_keys`.
// An account JWT is trusted when one of these keys signed it: an operator's own key (unless
// the operator requires signing keys, `strict_signing_key_usage`) or one of its signing keys.
import fs from "node:fs";
import { JWT_PREFIX, parseDecoratedJwt } from "./jwt.js";
import { decodeOperatorClaims, type OperatorClaims } from "./claims.js";

/**
 * The operator JWT in `fileOrJwt`: a file (decorated as nsc writes it, or bare), or the
 * token itself inline. Throws with the reason (unreadable file, invalid JWT).
 */
export function readOperatorJwt(fileOrJwt: string): string {
  let contents: string;
  try {
    contents = fs.readFileSync(fileOrJwt, "utf8");
  } catch (err) {
    if (!fileOrJwt.startsWith(JWT_PREFIX)) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(e.code === "ENOENT" ? `open ${fileOrJwt}: no such file or directory` : e.message);
    }
    contents = fileOrJwt;
  }
  const token = parseDecoratedJwt(contents);
  decodeOperatorClaims(token);
  return token;
}

export class TrustedOperators {
  readonly operators: OperatorClaims[];
  /** Keys whose signature makes an account JWT trusted. */
  readonly keys: ReadonlySet<string>;
  /** Signing keys of operators that require them: accounts they sign must sign users with signing keys too. */
  readonly strictSigningKeys: ReadonlySet<string>;

  constructor(operatorJwts: readonly string[], trustedKeys: readonly string[]) {
    this.operators = operatorJwts.map((t) => decodeOperatorClaims(t));
    const keys = new Set<string>(trustedKeys);
    const strict = new Set<string>();
    for (const op of this.operators) {
      if (!op.strictSigningKeyUsage) keys.add(op.data.sub);
      for (const k of op.signingKeys) {
        keys.add(k);
        if (op.strictSigningKeyUsage) strict.add(k);
      }
    }
    this.keys = keys;
    this.strictSigningKeys = strict;
  }

  isTrusted(issuer: string): boolean {
    return this.keys.has(issuer);
  }

  /**
   * The first operator's identity and keys: the NATS resolver accepts claim deletions signed
   * by these. Undefined with `trusted_keys` alone.
   */
  get primary(): { subject: string; keys: ReadonlySet<string>; strict: boolean } | undefined {
    const op = this.operators[0];
    if (op === undefined) return undefined;
    const keys = new Set<string>(op.signingKeys);
    if (!op.strictSigningKeyUsage) keys.add(op.data.sub);
    return { subject: op.data.sub, keys, strict: op.strictSigningKeyUsage };
  }
}
