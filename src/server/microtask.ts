// Work deferred to the end of the current job (the microtask queue), as queueMicrotask does, for
// the hot paths that defer once per turn (the outbound flush, JetStream's per-turn acks).
// Node's queueMicrotask wraps every callback in an AsyncResource and a bound function (for
// async_hooks): about 200 bytes per call, a fifth of what a request/reply allocated in the
// server. A reaction on a promise that is already resolved runs at the same point of the
// microtask queue for a fraction of that. An exception thrown by `fn` becomes an unhandled
// rejection instead of an uncaught exception: the server logs both alike (start/server_main.ts).
const RESOLVED: Promise<void> = Promise.resolve();

/** Run `fn` once the current job and the microtasks queued before it are done. */
export function deferToMicrotask(fn: () => void): void {
  void RESOLVED.then(fn);
}
