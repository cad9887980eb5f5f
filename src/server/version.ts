// Two versions: the nats-server feature level tsnats really implements (clients gate
// features such as CONSUMER.CREATE subjects and Direct Get on it), and tsnats' own.
import { createRequire } from "node:module";

export const NATS_FEATURE_VERSION = "2.10.27";

const require = createRequire(import.meta.url);
function ownVersion(): string {
  for (const p of ["../../../package.json", "../../package.json"]) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next layout (dist/ vs src/)
    }
  }
  return "0.0.0";
}

export const TSNATS_VERSION = ownVersion();
