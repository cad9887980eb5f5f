// Reading a stopped server's files, for the Jepsen-style checks (js_cluster_jepsen*.test.ts):
// every file under a directory, and a stream replica's messages as its store holds them.
import fs from "node:fs";
import path from "node:path";
import { openStreamStore, readStreamMetadata } from "../../src/jetstream/store_factory.js";

/** Every file under `dir` whose path matches. */
export function filesUnder(dir: string, match: (p: string) => boolean): string[] {
  const out: string[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, match));
    else if (match(p)) out.push(p);
  }
  return out;
}

/** A stream's directory in a server's store (global account). */
export function streamDir(storeDir: string, stream: string): string {
  return path.join(storeDir, "jetstream", "$G", "streams", stream);
}

/** A replica's stream, read from its files: [seq, payload] in order ([] when it holds none). */
export function readReplica(storeDir: string, stream: string): Array<[number, string]> {
  const dir = streamDir(storeDir, stream);
  if (!fs.existsSync(dir)) return [];
  const meta = readStreamMetadata(dir);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const store = openStreamStore(meta.config, { dir, syncInterval: undefined, logger: quiet }, meta);
  try {
    const out: Array<[number, string]> = [];
    const st = store.state();
    let seq = st.firstSeq;
    while (st.msgs > 0 && seq <= st.lastSeq) {
      const m = store.loadNextMsg("", seq);
      if (m === null) break;
      out.push([m.seq, m.data.toString()]);
      seq = m.seq + 1;
    }
    return out;
  } finally {
    store.stop();
  }
}

/** The length of a preallocated file's written part (its trailing zeros left out). */
export function writtenLength(file: string): number {
  const bytes = fs.readFileSync(file);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}
