// Two versions: the nats-server feature level tsnats really implements (clients gate
// features such as CONSUMER.CREATE subjects and Direct Get on it), and tsnats' own.
import { createRequire } from "node:module";

export const NATS_FEATURE_VERSION = "2.10.27";

/** Is the reported nats-server version at least `major.minor` (e.g. "2.14")? */
export function featureVersionAtLeast(minor: string): boolean {
  const [a = 0, b = 0] = NATS_FEATURE_VERSION.split(".").map(Number);
  const [x = 0, y = 0] = minor.split(".").map(Number);
  return a > x || (a === x && b >= y);
}

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
