// V8 heap settings of the tsnats-server process.
//
// The young generation (V8's "new space": two semi-spaces that short-lived objects are
// allocated in and survivors copied between) grows by doubling whenever enough bytes have
// survived since it last grew, which any steady traffic achieves sooner or later, up to V8's
// maximum of 2 x 16 MB; it shrinks again only when the process goes quiet. Those 32 MB were
// most of the server's peak RSS above its idle size (jspub-async-file16: new space 26 MB of a
// 114 MB peak, while the heap held 23 MB of live objects). A server's short-lived garbage
// (messages in transit, acks) dies within milliseconds, so a bigger young generation bought
// no measurable CPU (compared with 8 MB: server CPU 0.9-1.1x, within the runs' noise), and its
// growth is stopped at YOUNG_GENERATION_CAP. The limit is set through the growth factor (the
// only young generation flag V8 reads after start-up): 1 once the cap is reached, checked
// after collections (GC notifications arrive a turn or two late: a burst with an unusual
// survival rate could still double it once more).
//
// Start-up (loading about a hundred modules, building the error catalogue and the accounts)
// produces garbage whose survivors would grow it too: it is held at its initial size until
// the server is ready. A heap flag given on the command line or in NODE_OPTIONS is left alone.
import { setFlagsFromString, getHeapSpaceStatistics } from "node:v8";
import { PerformanceObserver } from "node:perf_hooks";

/** V8's own growth factor of the young generation. */
const DEFAULT_GROWTH_FACTOR = 2;
/** Largest young generation (both semi-spaces) this server lets V8 grow to. */
export const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

function userChoseHeapFlags(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  return /semi[-_]space/.test(given);
}

/** What this process has told V8 so far. */
interface TuningState {
  held: boolean;
  growthFactor: number;
}

// Process-wide, not module-wide: the bin holds the young generation from its own copy of this
// module, and the server it then loads from the bundle (scripts/bundle.mjs) releases it from
// the bundle's copy. With a state per copy the release saw nothing held, and the young
// generation stayed at its initial size for the server's whole life.
const STATE_KEY = Symbol.for("tsnats.heapTuning");
const state: TuningState = ((globalThis as Record<symbol, TuningState | undefined>)[STATE_KEY] ??= {
  held: false,
  growthFactor: DEFAULT_GROWTH_FACTOR,
});

function setGrowthFactor(factor: number): void {
  if (factor === state.growthFactor) return;
  state.growthFactor = factor;
  setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

/** Keep the young generation at its initial size while the server starts. */
export function holdYoungGeneration(): void {
  if (userChoseHeapFlags()) return;
  setGrowthFactor(1);
  state.held = true;
}

function youngGenerationSize(): number {
  for (const space of getHeapSpaceStatistics()) if (space.space_name === "new_space") return space.space_size;
  return 0;
}

/** After a collection: may the young generation grow at the next one? */
function capYoungGeneration(): void {
  setGrowthFactor(youngGenerationSize() < YOUNG_GENERATION_CAP ? DEFAULT_GROWTH_FACTOR : 1);
}

/** The server is ready: the young generation may grow with the traffic again, up to the cap. */
export function releaseYoungGeneration(): void {
  if (!state.held) return;
  state.held = false;
  capYoungGeneration();
  new PerformanceObserver(capYoungGeneration).observe({ entryTypes: ["gc"] });
}

/**
 * Sets the heap flags the server starts under (held young generation) until the returned
 * function is called: V8 keys a code cache by its flags (src/bin/code_cache.ts), and the cache
 * is written at exit, when the server has changed them.
 */
export function startUpHeapFlags(): () => void {
  if (userChoseHeapFlags()) return () => {};
  const before = state.growthFactor;
  setGrowthFactor(1);
  return () => setGrowthFactor(before);
}
