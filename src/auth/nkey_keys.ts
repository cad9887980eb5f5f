// Public nkey checks: which role a key string encodes (operator, account, user, server, curve).
import { fromPublic } from "@nats-io/nkeys";

/** The first character of an encoded public key names its role. */
export type KeyRole = "O" | "A" | "U" | "N" | "X";

/** A public nkey of the given role: right prefix, length and checksum. */
export function isPublicKey(key: unknown, role: KeyRole): key is string {
  // 1 prefix byte + 32 key bytes + 2 checksum bytes = 35 bytes = 56 base32 characters.
  if (typeof key !== "string" || key.length !== 56 || key[0] !== role) return false;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/** Any public nkey (of a role a JWT can name). */
export function isAnyPublicKey(key: unknown): key is string {
  return typeof key === "string" && (["O", "A", "U", "N", "X"] as const).some((r) => isPublicKey(key, r));
}

/** Does `sig` sign `data` for the public key `key`? False for any malformed input. */
export function verifySignature(key: string, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return fromPublic(key).verify(data, sig);
  } catch {
    return false;
  }
}
