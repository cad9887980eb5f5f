// Encryption at rest for the file store (`jetstream { cipher, key, prev_encryption_key }`),
// with the key hierarchy of ADR-12 as nats-server derives it:
//
//   EK   the configured key (never stored);
//   KEK  = HMAC-SHA256(EK, account name + stream name): the stream's key encryption key,
//        derived, never stored;
//   AEK  a random 32-byte seed per stream, stored sealed with the KEK in `meta.key`. Every
//        key of the stream's files is derived from it, so changing the EK (with the old one
//        as prev_encryption_key) only re-seals `meta.key`.
//
// Ciphers: `chachapoly` (ChaCha20-Poly1305 for whole files, ChaCha20 for blocks) or `aes`
// (AES-256-GCM / AES-256-CTR). A stream keeps the cipher it was created with (recorded in
// `meta.key`), so changing the configured cipher leaves existing streams readable.
//
// Whole files (metadata, block indexes, consumer state) are sealed: "TSNENC01", a cipher
// byte, a 12-byte random nonce, the AEAD output; the file's role is authenticated data, so
// a file can not be swapped for another. Block files are appended to and marked in place,
// so they use a stream cipher addressed by file position: an encrypted block starts with 8
// random bytes (its nonce, stored where a plain block has its magic) and every other byte is
// XORed with the keystream of (block key, nonce) at its position. Record checksums are on
// the plaintext, so a wrong key or tampering shows as checksum failures. Files written before
// encryption was enabled keep their plain magic and stay readable.
import crypto from "node:crypto";

export type StoreCipher = "chachapoly" | "aes";

export interface EncryptionConfig {
  cipher: StoreCipher;
  key: string;
  /** The key used before `key` (rotation): still opens existing streams, which are re-sealed. */
  prevKey?: string;
}

const SEALED_MAGIC = Buffer.from("TSNENC01", "latin1");
const NONCE = 12;
const TAG = 16;
const CIPHER_IDS: Record<StoreCipher, number> = { chachapoly: 1, aes: 2 };

export class EncryptionError extends Error {}

function cipherOf(id: number): StoreCipher {
  if (id === 1) return "chachapoly";
  if (id === 2) return "aes";
  throw new EncryptionError(`unknown cipher ${id}`);
}

export function cipherName(c: StoreCipher): string {
  return c === "chachapoly" ? "ChaCha20-Poly1305" : "AES-GCM";
}

function aead(cipher: StoreCipher): "chacha20-poly1305" | "aes-256-gcm" {
  return cipher === "chachapoly" ? "chacha20-poly1305" : "aes-256-gcm";
}

function seal(cipher: StoreCipher, key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = crypto.randomBytes(NONCE);
  const c = crypto.createCipheriv(aead(cipher), key, nonce, { authTagLength: TAG } as crypto.CipherGCMOptions) as crypto.CipherGCM;
  c.setAAD(Buffer.from(aad), { plaintextLength: plain.length });
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([SEALED_MAGIC, Buffer.from([CIPHER_IDS[cipher]]), nonce, body, c.getAuthTag()]);
}

function open(key: Buffer, data: Buffer, aad: string): { plain: Buffer; cipher: StoreCipher } {
  const head = SEALED_MAGIC.length + 1 + NONCE;
  if (data.length < head + TAG || !data.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)) throw new EncryptionError("not an encrypted file");
  const cipher = cipherOf(data[SEALED_MAGIC.length]);
  const nonce = data.subarray(SEALED_MAGIC.length + 1, head);
  const d = crypto.createDecipheriv(aead(cipher), key, nonce, { authTagLength: TAG } as crypto.CipherGCMOptions) as crypto.DecipherGCM;
  d.setAAD(Buffer.from(aad), { plaintextLength: data.length - head - TAG });
  d.setAuthTag(data.subarray(data.length - TAG));
  try {
    return { plain: Buffer.concat([d.update(data.subarray(head, data.length - TAG)), d.final()]), cipher };
  } catch {
    throw new EncryptionError("message authentication failed");
  }
}

/** Is this file sealed (as opposed to written before encryption was enabled)? */
export function isSealed(data: Buffer): boolean {
  return data.length >= SEALED_MAGIC.length && data.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC);
}

/** nats-server's key generator: HMAC-SHA256(EK, account + context). */
function kek(ek: string, account: string, context: string): Buffer {
  return crypto.createHmac("sha256", ek).update(account).update(context).digest();
}

function derive(seed: Buffer, label: string): Buffer {
  return crypto.createHmac("sha256", seed).update(label).digest();
}

/**
 * The keys of one stream: opened (or created) from its `meta.key` with the configured key.
 * `rekeyed` is set when the previous key opened it: the caller re-writes `meta.key`.
 */
export class StreamCrypto {
  private readonly blockKeys = new Map<number, Buffer>();
  private readonly fileKey: Buffer;

  private constructor(
    readonly cipher: StoreCipher,
    private readonly seed: Buffer,
    readonly rekeyed: boolean,
  ) {
    this.fileKey = derive(seed, "files");
  }

  /** A new stream: a fresh random seed under the configured cipher. */
  static create(cfg: EncryptionConfig): StreamCrypto {
    return new StreamCrypto(cfg.cipher, crypto.randomBytes(32), false);
  }

  /**
   * Open a stream's `meta.key`. Throws EncryptionError with nats-server's reasons:
   * "encryption not enabled" without a key, "unable to recover keys" with a wrong one.
   */
  static open(cfg: EncryptionConfig | undefined, metaKey: Buffer, account: string, stream: string): StreamCrypto {
    if (cfg === undefined) throw new EncryptionError("encryption not enabled");
    for (const [ek, old] of [
      [cfg.key, false],
      [cfg.prevKey, true],
    ] as const) {
      if (ek === undefined || ek === "") continue;
      try {
        const { plain, cipher } = open(kek(ek, account, stream), metaKey, "meta.key");
        if (plain.length !== 32) continue;
        return new StreamCrypto(cipher, plain, old);
      } catch {
        // try the next key
      }
    }
    throw new EncryptionError("unable to recover keys");
  }

  /** `meta.key`: the seed sealed with the stream's KEK. */
  metaKey(cfg: EncryptionConfig, account: string, stream: string): Buffer {
    return seal(this.cipher, kek(cfg.key, account, stream), this.seed, "meta.key");
  }

  /** Seal a whole file; `role` (e.g. "meta.json", "obs/C/o.dat") is authenticated with it. */
  sealFile(role: string, plain: Buffer): Buffer {
    return seal(this.cipher, this.fileKey, plain, role);
  }

  /** Open a sealed file (EncryptionError when it is not one or does not authenticate). */
  openFile(role: string, data: Buffer): Buffer {
    return open(this.fileKey, data, role).plain;
  }

  private blockKey(id: number): Buffer {
    let k = this.blockKeys.get(id);
    if (k === undefined) {
      k = derive(this.seed, `block ${id}`);
      this.blockKeys.set(id, k);
    }
    return k;
  }

  /** A fresh nonce for a block file (never equal to a plain block's magic). */
  static blockNonce(plainMagic: Buffer): Buffer {
    for (;;) {
      const n = crypto.randomBytes(8);
      if (!n.equals(plainMagic)) return n;
    }
  }

  /** A keystream for block `id` with file nonce `nonce`, positioned at byte `pos`. */
  blockStream(id: number, nonce: Buffer, pos: number): BlockStream {
    return new BlockStream(this.cipher, this.blockKey(id), nonce, pos);
  }
}

const ZEROS = Buffer.alloc(64);

/**
 * XOR with the keystream of a block from a file position on: sequential calls continue
 * where the last one ended (the append path keeps one per active block).
 */
export class BlockStream {
  private readonly c: crypto.Cipher;
  pos: number;

  constructor(cipher: StoreCipher, key: Buffer, nonce: Buffer, pos: number) {
    const iv = Buffer.alloc(16);
    let skip: number;
    if (cipher === "chachapoly") {
      // Node's chacha20 IV: 32-bit little-endian block counter, then the 96-bit nonce.
      const block = Math.floor(pos / 64);
      iv.writeUInt32LE(block >>> 0, 0);
      nonce.copy(iv, 4);
      iv.writeUInt32BE(Math.floor(block / 0x100000000), 12);
      skip = pos % 64;
    } else {
      // AES-CTR: the nonce, then a 64-bit big-endian block counter.
      nonce.copy(iv, 0);
      const block = Math.floor(pos / 16);
      iv.writeUInt32BE(Math.floor(block / 0x100000000), 8);
      iv.writeUInt32BE(block >>> 0, 12);
      skip = pos % 16;
    }
    this.c = crypto.createCipheriv(cipher === "chachapoly" ? "chacha20" : "aes-256-ctr", key, iv);
    if (skip > 0) this.c.update(ZEROS.subarray(0, skip));
    this.pos = pos;
  }

  /** XOR `len` bytes of `buf` at `off` into `out` at `outOff` (may be the same place). */
  xor(buf: Uint8Array, off: number, len: number, out: Uint8Array = buf, outOff = off): void {
    const r = this.c.update(buf.subarray(off, off + len));
    out.set(r, outOff);
    this.pos += len;
  }
}
