// Shared test helper for random side-by-side sweeps over raw connections: wait until what an
// operation caused has reached every connection, and read what each received in a form that
// compares between servers.
import { RawConn, withoutConnectInfo, withoutServerPings } from "./raw.js";

/**
 * PING the connection that acted, then every other open one: the first PONG says its operation
 * was processed (what it routed is queued to the receivers by then), the others' that what was
 * queued to them has been written out before.
 */
export async function syncAll(conns: RawConn[], actor?: RawConn): Promise<void> {
  if (actor !== undefined && !actor.closed) await actor.ping(10_000).catch(() => "");
  for (const x of conns) if (x !== actor && !x.closed) await x.ping(10_000).catch(() => "");
}

/**
 * What a connection received since the last look, taken: PONGs, server PINGs and connect_info
 * INFOs left out, MSG/HMSG/-ERR/INFO frames sorted (the order of deliveries to several
 * subscriptions is not specified), no-responders statuses without the subscription id they went
 * to, and `<closed>` when the connection is gone.
 */
export function framesReceived(c: RawConn): string {
  const text = withoutServerPings(withoutConnectInfo(c.take()))
    .replace(/PONG\r\n/g, "")
    .replace(/HMSG (\S+) \d+ (\d+ \d+\r\nNATS\/1\.0 503\r\n)/g, "HMSG $1 <sid> $2");
  const frames = text.split(/(?=HMSG |(?<!H)MSG |-ERR |INFO )/).sort();
  return frames.join("") + (c.closed ? "<closed>" : "");
}
