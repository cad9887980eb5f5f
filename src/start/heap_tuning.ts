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
//
// The old generation: after a full collection V8 lets it grow up to 4 times what survived
// (its factor for a fast collector and a big maximum heap) before it collects it again. A
// small server's old generation is ~10 MB after start-up, so about 30 MB of garbage could
// pile up before the first full collection under load, and that is what made most of the
// peak RSS of a publish load (jspub-async-file16, 300,000 messages: large-object space 17 MB
// while 3 MB of it was live, array buffers 13 MB with 5 MB live: the file store's index
// arrays left behind as they grew; no full collection during the whole run). While the old
// generation is small (OLD_GENERATION_SMALL) it may grow by OLD_GENERATION_GROWING_PERCENT
// only (V8 still adds at least a few MB): peak RSS 96.5-97.0 -> 88.2-88.9 MB there (nats-server
// 2.15.1: 45 MB), with three full collections of 6-19 ms in the run, as little CPU as the
// runs' noise shows. A bigger heap keeps V8's own factor, which weighs the collector's speed
// against the program's. Checked again with and without it, 3 rounds each: jspub-async-file16
// peak RSS 86.8-87.2 MB with it, 94.2-95.2 without, in every round; reqlat msgs/s, p50 and
// server CPU, and pubsub1k's peak RSS and CPU, within 5% either way (earlier single runs that
// made it look like a 0.85x reqlat were noise).
//
// What it cannot touch: a core scenario's peak RSS (pub, queue, request/reply: 64-70 MB,
// nats-server 21-22 MB) is the process's idle floor, 60 MB once started and warmed up
// (bench/startup.mjs), of which 39.5 MB are pages of the node binary itself (a bare `node`
// listening on a socket holds 32.4 MB of them and 42.7 MB in all, so twice nats-server's figure
// is out of reach of any Node process; 3.3 MB are TurboFan's own code, touched as soon as
// anything is optimized) and ~15 MB anonymous memory (a 10 MB V8 heap, 6.5 MB of it live
// objects; the bundle's text, 1.45 MB; malloc's arenas).
import { setFlagsFromString, getHeapSpaceStatistics } from "node:v8";
import { PerformanceObserver } from "node:perf_hooks";
import { runInNewContext } from "node:vm";

/** V8's own growth factor of the young generation. */
const DEFAULT_GROWTH_FACTOR = 2;
/** Largest young generation (both semi-spaces) this server lets V8 grow to. */
export const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

/** Old generations below this size grow by OLD_GENERATION_GROWING_PERCENT between full collections. */
export const OLD_GENERATION_SMALL = 64 * 1024 * 1024;
export const OLD_GENERATION_GROWING_PERCENT = 20;

function given(flag: RegExp): boolean {
  return flag.test([...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" "));
}

/** Young generation flags given on the command line or in NODE_OPTIONS: its size is left alone. */
function userChoseHeapFlags(): boolean {
  return given(/semi[-_]space/);
}

/** --heap-growing-percent given: the old generation's growth is left alone. */
function userChoseGrowing(): boolean {
  return given(/heap[-_]growing/);
}

/** What this process has told V8 so far. */
interface TuningState {
  held: boolean;
  observing: boolean;
  growthFactor: number;
  /** --heap-growing-percent (0: V8's own factor). */
  growingPercent: number;
}

// Process-wide, not module-wide: the entry holds the young generation from its own copy of this
// module, and the server it then loads from the bundle (scripts/bundle.mjs) releases it from
// the bundle's copy. With a state per copy the release saw nothing held, and the young
// generation stayed at its initial size for the server's whole life.
const STATE_KEY = Symbol.for("tsnats.heapTuning");
const state: TuningState = ((globalThis as Record<symbol, TuningState | undefined>)[STATE_KEY] ??= {
  held: false,
  observing: false,
  growthFactor: DEFAULT_GROWTH_FACTOR,
  growingPercent: 0,
});

function setGrowthFactor(factor: number): void {
  if (factor === state.growthFactor || userChoseHeapFlags()) return;
  state.growthFactor = factor;
  setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

function setGrowingPercent(percent: number): void {
  if (percent === state.growingPercent || userChoseGrowing()) return;
  state.growingPercent = percent;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/** The heap flags of start-up: young generation held, small old generation's growth. */
function setStartUpFlags(): void {
  setGrowthFactor(1);
  // Already for the full collections of start-up: each sets the limit of the next.
  setGrowingPercent(OLD_GENERATION_GROWING_PERCENT);
}

/** Keep the young generation at its initial size while the server starts. */
export function holdYoungGeneration(): void {
  setStartUpFlags();
  state.held = true;
}

/** After a collection: may the young generation grow at the next one, how far may the old one? */
function capGenerations(): void {
  let young = 0;
  let old = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name === "new_space") young = space.space_size;
    else if (space.space_name === "old_space" || space.space_name === "large_object_space") old += space.space_size;
  }
  setGrowthFactor(young < YOUNG_GENERATION_CAP ? DEFAULT_GROWTH_FACTOR : 1);
  setGrowingPercent(old < OLD_GENERATION_SMALL ? OLD_GENERATION_GROWING_PERCENT : 0);
}

/**
 * One full collection once the server is ready and warmed up. V8 collects the old generation
 * only when it has grown past its limit or, idle, when its memory reducer runs (8 s after the
 * last full collection at the earliest), so what start-up and the warm-up left behind stayed
 * resident meanwhile: the bundle and code cache files read at start (3.2 MB,
 * start/code_cache.ts), the warm-up's connections and messages. `gc` is V8's own, exposed for
 * the moment it takes to fetch it into a throwaway context (a flag V8 reads when it creates a
 * context), then hidden again: V8 keys the code cache by its flags.
 */
export function collectStartUpGarbage(): void {
  v8Gc()?.();
}

let gcFn: (() => void) | null | undefined;
function v8Gc(): (() => void) | null {
  if (gcFn !== undefined) return gcFn;
  let gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function" && !given(/expose[-_]gc/)) {
    setFlagsFromString("--expose-gc");
    try {
      gc = runInNewContext("gc");
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  gcFn = typeof gc === "function" ? (gc as () => void) : null;
  return gcFn;
}

/** Index bytes dropped since the last collection that makes a full collection worth it. */
export const INDEX_RELEASE_GC_BYTES = 16 * 1024 * 1024;
/** At most one such collection per this many ms. */
export const INDEX_RELEASE_GC_INTERVAL_MS = 30_000;

/**
 * A full collection once idle file-store block indexes worth INDEX_RELEASE_GC_BYTES were dropped
 * (storage/filestore.ts dropIndex, which calls the process-wide hook under this key). Their
 * arrays are old-generation objects and array buffers: an idle server allocates too little
 * for V8 to collect the old generation, so without it the memory stayed resident (measured:
 * no change in RSS 15 s after the drops).
 */
export function collectDroppedIndexes(): void {
  let pending = 0;
  let last = 0;
  (globalThis as Record<symbol, unknown>)[Symbol.for("tsnats.indexesDropped")] = (bytes: number): void => {
    pending += bytes;
    const now = Date.now();
    if (pending < INDEX_RELEASE_GC_BYTES || now - last < INDEX_RELEASE_GC_INTERVAL_MS) return;
    pending = 0;
    last = now;
    v8Gc()?.();
  };
}

/** The server is ready: the young generation may grow with the traffic again, up to the cap. */
export function releaseYoungGeneration(): void {
  if (!state.held || state.observing) return;
  state.held = false;
  state.observing = true;
  capGenerations();
  new PerformanceObserver(capGenerations).observe({ entryTypes: ["gc"] });
}

/**
 * Sets the heap flags the server starts under until the returned function is called: V8 keys
 * a code cache by its flags (start/code_cache.ts), and the cache is written at exit, when
 * the server has changed them.
 */
export function startUpHeapFlags(): () => void {
  const factor = state.growthFactor;
  const percent = state.growingPercent;
  setStartUpFlags();
  return () => {
    setGrowthFactor(factor);
    setGrowingPercent(percent);
  };
}
