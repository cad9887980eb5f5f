// Public nkey checks: which role a key string encodes (operator, account, user, server, curve),
// and ed25519 signature checks with Node's native crypto (the JS implementation in nkeys takes
// tens of milliseconds per signature on a busy machine: it would bound the login rate).
// Checked here from the nkey format (a prefix byte naming the role, the key, a CRC-16 of both),
// without the nkeys library: its JavaScript ed25519 (tweetnacl) is a tenth of the server's code,
// and no start-up needs it (server_keys.ts loads it to sign or seal).
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { crc16 } from "../server/server_keys.js";

/** The first character of an encoded public key names its role. */
export type KeyRole = "O" | "A" | "U" | "N" | "X";

/** The prefix byte of each role (its top five bits are the role's base32 character). */
const ROLE_PREFIX: Record<KeyRole, number> = { O: 14 << 3, A: 0, U: 20 << 3, N: 13 << 3, X: 23 << 3 };

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The bytes of an unpadded base32 string; undefined for a character outside the alphabet. */
function decodeBase32(s: string): Buffer | undefined {
  const out = Buffer.alloc(Math.floor((s.length * 5) / 8));
  let n = 0;
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

/** A public nkey of the given role: right prefix, length and checksum. */
export function isPublicKey(key: unknown, role: KeyRole): key is string {
  // 1 prefix byte + 32 key bytes + 2 checksum bytes = 35 bytes = 56 base32 characters.
  if (typeof key !== "string" || key.length !== 56 || key[0] !== role) return false;
  const raw = decodeBase32(key);
  if (raw === undefined || raw[0] !== ROLE_PREFIX[role]) return false;
  return crc16(raw.subarray(0, 33)) === raw.readUInt16LE(33);
}

/** Any public nkey (of a role a JWT can name). */
export function isAnyPublicKey(key: unknown): key is string {
  return typeof key === "string" && (["O", "A", "U", "N", "X"] as const).some((r) => isPublicKey(key, r));
}

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
  const bytes = decodeBase32(key) as Buffer;
  const ko = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes.subarray(1, 33)]), format: "der", type: "spki" });
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
