// The server's identity keys: an ed25519 server key (its public key is the server id) and a
// curve25519 key (the `xkey` of INFO, for sealed auth callout requests). They are generated
// with Node's native crypto (well under a millisecond); the nkeys library's JavaScript key
// generation took 70–350 ms of every start-up. The nkeys KeyPair objects, which sign and seal,
// are built from the same seeds only when something signs or seals (auth callout).
import { generateKeyPairSync, type JsonWebKey } from "node:crypto";
import { createRequire } from "node:module";
import type { KeyPair } from "@nats-io/nkeys";

/**
 * The nkeys library (CommonJS), loaded at the first signature or seal: its JavaScript ed25519
 * (tweetnacl) is a tenth of the server's code, compiled at every start for nothing otherwise.
 */
const requireCjs = createRequire(import.meta.url);
export function nkeysLibrary(): typeof import("@nats-io/nkeys") {
  return requireCjs("@nats-io/nkeys") as typeof import("@nats-io/nkeys");
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** nkey role bytes (the first base32 character of a public key: N, X; S for seeds). */
const PREFIX_SERVER = 13 << 3;
const PREFIX_CURVE = 23 << 3;
const PREFIX_SEED = 18 << 3;

/** CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum that ends every nkey. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** RFC 4648 base32 without padding, as nkeys and JWT ids use it. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let value = 0;
  let bits = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Prefix bytes, then the payload, then the payload's CRC-16 (little-endian), in base32. */
function encode(prefix: number[], payload: Uint8Array): string {
  const raw = Buffer.alloc(prefix.length + payload.length + 2);
  raw.set(prefix, 0);
  raw.set(payload, prefix.length);
  const crc = crc16(raw.subarray(0, raw.length - 2));
  raw.writeUInt16LE(crc, raw.length - 2);
  return base32(raw);
}

/** A public nkey of a role. */
export function encodePublicKey(role: number, key: Uint8Array): string {
  return encode([role], key);
}

/** An nkey seed of a role (two prefix bytes: the seed marker and the role). */
export function encodeSeed(role: number, seed: Uint8Array): string {
  return encode([PREFIX_SEED | (role >> 5), (role & 31) << 3], seed);
}

/**
 * A fresh key of Node's native crypto: its 32-byte private seed and 32-byte public key. The key
 * is encoded by the generation itself (privateKeyEncoding), not exported from the KeyObject
 * afterwards: in Node 20 an export holds the key's mutex while it allocates, and a garbage
 * collection there that frees the finished generation job locks the same mutex, so the process
 * hung for good (about once in 10,000 keys; seen as test runs that never ended).
 */
function generate(type: "ed25519" | "x25519"): { seed: Buffer; publicKey: Buffer } {
  const { privateKey } = generateKeyPairSync(type as "ed25519", { privateKeyEncoding: { format: "jwk" }, publicKeyEncoding: { format: "jwk" } }) as unknown as { privateKey: JsonWebKey };
  return { seed: Buffer.from(privateKey.d as string, "base64url"), publicKey: Buffer.from(privateKey.x as string, "base64url") };
}

export class ServerKeys {
  /** The server id: the public server nkey ("N..."). */
  readonly id: string;
  /** The public curve key ("X..."). */
  readonly xkey: string;
  private readonly signingSeed: Buffer;
  private readonly curveSeed: Buffer;
  private signing: KeyPair | undefined;
  private curve: KeyPair | undefined;

  constructor() {
    const server = generate("ed25519");
    const curve = generate("x25519");
    this.signingSeed = server.seed;
    this.curveSeed = curve.seed;
    this.id = encodePublicKey(PREFIX_SERVER, server.publicKey);
    this.xkey = encodePublicKey(PREFIX_CURVE, curve.publicKey);
  }

  /** The server key as an nkeys KeyPair (signs auth callout requests). */
  get keyPair(): KeyPair {
    this.signing ??= nkeysLibrary().fromSeed(new TextEncoder().encode(encodeSeed(PREFIX_SERVER, this.signingSeed)));
    return this.signing;
  }

  /** The curve key as an nkeys KeyPair (seals and opens auth callout payloads). */
  get xkeyPair(): KeyPair {
    this.curve ??= nkeysLibrary().fromCurveSeed(new TextEncoder().encode(encodeSeed(PREFIX_CURVE, this.curveSeed)));
    return this.curve;
  }
}
