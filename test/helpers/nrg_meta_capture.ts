// Test helper: the meta group's committed-or-not entries as a nats-server (or T3) meta leader
// sends them, read by a system account client from `$NRG.AE._meta_` (every append is routed to
// the subscriber's server), decoded, each log index once.
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeNrgAppendEntry } from "../../src/cluster/nrg_wire.js";
import { decodeNrgMetaEntry, type NrgMetaEntry } from "../../src/jetstream/nrg_entries.js";

/** Call `onEntry` with each meta entry the leader appends (by term and index, once; what does not decode is left out). */
export function onMetaEntries(sys: NatsConnection, onEntry: (entry: NrgMetaEntry) => void): void {
  const seen = new Set<string>();
  sys.subscribe("$NRG.AE._meta_", {
    callback: (_e, m) => {
      let ae;
      try {
        ae = decodeNrgAppendEntry(Buffer.from(m.data));
      } catch {
        return;
      }
      ae.entries.forEach((e, i) => {
        const key = `${ae.term}/${ae.prevIndex + 1 + i}`;
        if (seen.has(key)) return;
        seen.add(key);
        let entry;
        try {
          entry = decodeNrgMetaEntry(e);
        } catch {
          return;
        }
        onEntry(entry);
      });
    },
  });
}
