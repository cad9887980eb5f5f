// Public nkey checks: which role a key string encodes (operator, account, user, server, curve),
// and ed25519 signature checks with Node's native crypto (the JS implementation in nkeys takes
// tens of milliseconds per signature on a busy machine: it would bound the login rate).
import { createPublicKey, verify, type KeyObject } from "node:crypto";
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

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** DER (SubjectPublicKeyInfo) header of a raw ed25519 public key. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
/** Verification keys of recent signers (users log in again and again). */
const keyObjects = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 4096;

/** The ed25519 key of a public nkey (validated: role, length, checksum), or undefined. */
function verificationKey(key: string): KeyObject | undefined {
  const cached = keyObjects.get(key);
  if (cached !== undefined) return cached;
  if (!isAnyPublicKey(key) || key[0] === "X") return undefined;
  // 56 base32 characters: a prefix byte, the 32 key bytes, a 2-byte checksum.
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of key) {
    value = ((value << 5) | BASE32.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const ko = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(bytes.slice(1, 33))]), format: "der", type: "spki" });
  if (keyObjects.size >= KEY_CACHE_MAX) keyObjects.delete(keyObjects.keys().next().value as string);
  keyObjects.set(key, ko);
  return ko;
}

/** Does `sig` sign `data` for the public key `key`? False for any malformed input. */
export function verifySignature(key: string, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    const ko = verificationKey(key);
    return ko !== undefined && verify(null, data, ko, sig);
  } catch {
    return false;
  }
}
