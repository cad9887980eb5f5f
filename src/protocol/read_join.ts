// Joining a control line cut by a read with the next read, for the client parser and the
// server-to-server parser. A fresh Buffer.concat per join allocated a read-sized ArrayBuffer
// for almost every read of a busy connection (reclaimed only by full collections); instead
// the join goes to one buffer shared by every connection. That is safe for the same reason
// shared reads are (server/shared_reads.ts): nothing keeps a reference into input past its
// synchronous parse. A parse that nests inside another (a handler that makes another
// connection parse) finds the buffer busy and gets a copy of its own.

/** What parses a joined input: whole ops go to its handler, an unfinished one is copied and kept. */
export interface JoinedInputParser {
  parseJoined(buf: Buffer): void;
}

let joinBuffer = Buffer.allocUnsafeSlow(0);
let joinBusy = false;
/** Joins larger than this (input held during an asynchronous CONNECT) get their own buffer. */
const JOIN_MAX = 256 * 1024;
/** TSNATS_POISON_READS=1: joined input is overwritten after its parse, as shared reads are. */
const POISON_READS = process.env.TSNATS_POISON_READS === "1";

/** Parse `partial` followed by `chunk` as one input. */
export function parseJoined(partial: Buffer, chunk: Buffer, parser: JoinedInputParser): void {
  const need = partial.length + chunk.length;
  if (joinBusy || need > JOIN_MAX) {
    parser.parseJoined(Buffer.concat([partial, chunk], need));
    return;
  }
  if (joinBuffer.length < need) joinBuffer = Buffer.allocUnsafeSlow(Math.max(need, joinBuffer.length * 2));
  partial.copy(joinBuffer, 0);
  chunk.copy(joinBuffer, partial.length);
  joinBusy = true;
  try {
    parser.parseJoined(joinBuffer.subarray(0, need));
  } finally {
    joinBusy = false;
    if (POISON_READS) joinBuffer.fill(0xee, 0, need);
  }
}
