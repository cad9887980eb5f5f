// V8 heap settings of the tsnats-server process. Start-up (loading about a hundred modules,
// building the error catalogue and the accounts) produces garbage whose survivors make V8 grow
// the young generation from 2 to 16 MB, which it never gives back: 12 MB of an idle server's
// RSS. So its growth is held back until the server is ready; after that V8 sizes it as usual,
// from the traffic. A heap flag given on the command line or in NODE_OPTIONS is left alone.
import { setFlagsFromString } from "node:v8";

/** V8's own growth factor of the young generation (applied again once started). */
const DEFAULT_GROWTH_FACTOR = 2;

function userChoseHeapFlags(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  return /semi[-_]space/.test(given);
}

let held = false;

/** Keep the young generation at its initial size while the server starts. */
export function holdYoungGeneration(): void {
  if (userChoseHeapFlags()) return;
  setFlagsFromString("--semi-space-growth-factor=1");
  held = true;
}

/** The server is ready: the young generation may grow with the traffic again. */
export function releaseYoungGeneration(): void {
  if (!held) return;
  held = false;
  setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
}
