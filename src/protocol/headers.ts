// NATS message header blocks (ADR-4): "NATS/1.0[ status]\r\n" then "Key: Value\r\n" lines
// and a blank line. Keys are case-preserving and compared case-sensitively.

const HDR_PREFIX = "NATS/1.0";

/**
 * Read one header's first value from a raw header block without decoding the whole block.
 * Keys compare case-sensitively (ADR-4), as nats-server does for its own headers.
 */
export function getHeader(hdr: Buffer | undefined, key: string): string | undefined {
  if (hdr === undefined) return undefined;
  const needle = `\r\n${key}:`;
  const at = hdr.indexOf(needle, 0, "latin1");
  if (at < 0) return undefined;
  let start = at + needle.length;
  const end = hdr.indexOf("\r\n", start, "latin1");
  if (end < 0) return undefined;
  while (start < end && (hdr[start] === 32 || hdr[start] === 9)) start++;
  let stop = end;
  while (stop > start && (hdr[stop - 1] === 32 || hdr[stop - 1] === 9)) stop--;
  return hdr.toString("latin1", start, stop);
}

/** Build a header block; `status` like "404 No Messages". */
export function buildHeaders(pairs: Array<[string, string]>, status?: string): Buffer {
  let s = status !== undefined ? `${HDR_PREFIX} ${status}\r\n` : `${HDR_PREFIX}\r\n`;
  for (const [k, v] of pairs) s += `${k}: ${v}\r\n`;
  s += "\r\n";
  // UTF-8: values such as Nats-Subject carry subjects, which may be non-ASCII.
  return Buffer.from(s, "utf8");
}

/** Append headers to an existing block (or start one). */
export function appendHeaders(hdr: Buffer | undefined, pairs: Array<[string, string]>): Buffer {
  if (hdr === undefined || hdr.length < 12) return buildHeaders(pairs);
  let add = "";
  for (const [k, v] of pairs) add += `${k}: ${v}\r\n`;
  // Insert before the final blank line.
  return Buffer.concat([hdr.subarray(0, hdr.length - 2), Buffer.from(add, "utf8"), Buffer.from("\r\n")]);
}

/**
 * The header block without the lines whose key `drop` selects (the status line is kept);
 * the same buffer when nothing is dropped, undefined when no header is left.
 */
export function removeHeaders(hdr: Buffer | undefined, drop: (key: string) => boolean): Buffer | undefined {
  if (hdr === undefined) return undefined;
  const first = hdr.indexOf("\r\n", 0, "latin1");
  if (first < 0) return hdr;
  const kept: Buffer[] = [hdr.subarray(0, first + 2)];
  let changed = false;
  let keys = 0;
  for (let at = first + 2; at < hdr.length; ) {
    const end = hdr.indexOf("\r\n", at, "latin1");
    if (end < 0 || end === at) break; // the final blank line
    const colon = hdr.indexOf(":", at, "latin1");
    const key = colon > at && colon < end ? hdr.toString("latin1", at, colon).trim() : "";
    if (key !== "" && drop(key)) changed = true;
    else {
      kept.push(hdr.subarray(at, end + 2));
      keys++;
    }
    at = end + 2;
  }
  if (!changed) return hdr;
  // A bare "NATS/1.0" line with nothing under it carries nothing: no header at all.
  if (keys === 0 && kept[0].length <= 10) return undefined;
  kept.push(Buffer.from("\r\n"));
  return Buffer.concat(kept);
}

/**
 * Set one header, replacing every value it had (or start a block). Used for headers the
 * server owns, such as Nats-Request-Info, which a client must not be able to forge.
 */
export function setHeader(hdr: Buffer | undefined, key: string, value: string): Buffer {
  return appendHeaders(removeHeaders(hdr, (k) => k === key), [[key, value]]);
}
