// The hand-overs a server still owes, kept on its disk (issue #12). A server whose copy of a stream
// goes (it left the stream's group: dropCopy, handOverLeftBehind) sends the stream's single-replica
// consumers, which live on it only, to the server(s) keeping the stream (`$JSC.ADOPT.<group>` with
// their state), again and again until answered (cluster.ts sendHandOvers). Those payloads are all
// that is left of the consumers once the copy's files are removed: held in memory only, a restart
// (or a crash) before the answer lost the durables' state. Here they are written first, one file
// per stream group (`<store>/<account>/handovers/<group>/pending.json`, atomic and fsynced, sealed
// with a key of its own, `meta.key` beside it, as a stream's files are when the store is
// encrypted), before the copy's files go; each answered (or given up) hand-over leaves the file,
// which goes with the last. A restart reads them back (`load`) and sends them again once the meta
// group caught up (cluster.ts resumeHandOvers).
import { dirname, join } from "node:path";
import { EncryptionError, StreamCrypto, type EncryptionConfig } from "../storage/encryption.js";
import { fsyncDir, io, mkdirDurable, writeFileAtomic } from "../storage/file_io.js";

/** One stream group's hand-overs not answered yet. */
export interface OwedHandovers {
  account: string;
  stream: string;
  group: string;
  /** Consumer name -> its hand-over (the JSON sent on `$JSC.ADOPT`). */
  payloads: Map<string, Buffer>;
}

const DIR = "handovers";
const FILE = "pending.json";
const KEY_FILE = "meta.key";

interface Saved {
  account: string;
  stream: string;
  group: string;
  pending: Record<string, unknown>;
}

export class PendingHandovers {
  /** By `${account}\0${group}`. */
  private readonly owed = new Map<string, OwedHandovers>();
  /** The key of each group's file (undefined: not encrypted). */
  private readonly keys = new Map<string, StreamCrypto | undefined>();

  constructor(
    private readonly storeDir: () => string,
    private readonly encryption: () => EncryptionConfig | undefined,
    private readonly log: (msg: string) => void,
  ) {}

  private dir(account: string, group: string): string {
    return join(this.storeDir(), account, DIR, group);
  }

  /**
   * Keep these hand-overs of `group` (added to those kept already), on disk before this returns:
   * the copy whose consumers they are may go right after. false: they could not be written.
   */
  keep(account: string, stream: string, group: string, payloads: Map<string, Buffer>): boolean {
    const key = `${account}\u0000${group}`;
    let o = this.owed.get(key);
    if (o === undefined) this.owed.set(key, (o = { account, stream, group, payloads: new Map() }));
    for (const [n, p] of payloads) o.payloads.set(n, p);
    return this.write(o);
  }

  /** These hand-overs of `group` are answered (or given up): no longer kept. */
  done(account: string, group: string, names: Iterable<string>): void {
    const o = this.owed.get(`${account}\u0000${group}`);
    if (o === undefined) return;
    let changed = false;
    for (const n of names) changed = o.payloads.delete(n) || changed;
    if (changed) this.write(o);
  }

  /** Everything kept on disk (read at start; a file that cannot be read is left, and logged). */
  load(): OwedHandovers[] {
    const root = this.storeDir();
    for (const account of io.listDirs(root)) {
      for (const group of io.listDirs(join(root, account, DIR))) {
        const dir = join(root, account, DIR, group);
        try {
          const crypto = this.openKey(dir, account, group);
          let data: Buffer;
          try {
            data = io.readFileSync(join(dir, FILE));
          } catch {
            // Made, never written (a crash between the two): nothing owed.
            io.rmSync(dir, { recursive: true, force: true });
            continue;
          }
          const saved = JSON.parse((crypto !== undefined ? crypto.openFile(FILE, data) : data).toString("utf8")) as Saved;
          if (saved.group !== group || typeof saved.stream !== "string") throw new Error("not a list of hand-overs");
          const payloads = new Map<string, Buffer>();
          for (const [n, p] of Object.entries(saved.pending ?? {})) payloads.set(n, Buffer.from(JSON.stringify(p)));
          this.keys.set(`${account}\u0000${group}`, crypto);
          this.owed.set(`${account}\u0000${group}`, { account, stream: saved.stream, group, payloads });
        } catch (err) {
          this.log(`the single-replica consumers owed to the servers keeping stream group '${group}' of account '${account}' could not be read (${dir}): ${(err as Error).message}`);
        }
      }
    }
    return [...this.owed.values()].filter((o) => o.payloads.size > 0);
  }

  private openKey(dir: string, account: string, group: string): StreamCrypto | undefined {
    let sealedKey: Buffer;
    try {
      sealedKey = io.readFileSync(join(dir, KEY_FILE));
    } catch {
      return undefined;
    }
    const cfg = this.encryption();
    if (cfg === undefined) throw new EncryptionError("encryption not enabled");
    return StreamCrypto.open(cfg, sealedKey, account, group);
  }

  /** The file as `o` is now (none once empty). */
  private write(o: OwedHandovers): boolean {
    const key = `${o.account}\u0000${o.group}`;
    const dir = this.dir(o.account, o.group);
    try {
      if (o.payloads.size === 0) {
        this.owed.delete(key);
        this.keys.delete(key);
        if (io.existsSync(dir)) {
          io.rmSync(dir, { recursive: true, force: true });
          fsyncDir(dirname(dir));
        }
        return true;
      }
      const cfg = this.encryption();
      let crypto = this.keys.get(key);
      if (!this.keys.has(key) || (crypto === undefined && cfg !== undefined)) {
        mkdirDurable(dir);
        crypto = cfg !== undefined ? StreamCrypto.create(cfg) : undefined;
        if (crypto !== undefined && cfg !== undefined) writeFileAtomic(join(dir, KEY_FILE), crypto.metaKey(cfg, o.account, o.group), true);
        this.keys.set(key, crypto);
      }
      const pending: Record<string, unknown> = {};
      for (const [n, p] of o.payloads) pending[n] = JSON.parse(p.toString("utf8"));
      const plain = Buffer.from(JSON.stringify({ account: o.account, stream: o.stream, group: o.group, pending } satisfies Saved));
      writeFileAtomic(join(dir, FILE), crypto !== undefined ? crypto.sealFile(FILE, plain) : plain, true);
      return true;
    } catch (err) {
      this.log(`the single-replica consumers owed to the servers keeping stream '${o.account} > ${o.stream}' could not be saved: ${(err as Error).message}`);
      return false;
    }
  }
}
