// Live views (`server watch`, `top`, graphs, `sub --report-subjects`): a screen redrawn on an
// interval until Ctrl-C. On a terminal each frame clears the screen first; elsewhere (a pipe,
// a test) frames are written one after the other, so the output can still be read.
import { aborted, sleep, type CliIO } from "./runtime.js";

export const CLEAR = "\x1b[2J\x1b[H";

/** The terminal's size, or undefined when stdout is not a terminal. */
export function terminalSize(io: CliIO): { width: number; height: number } | undefined {
  if (!io.stdout.isTTY) return undefined;
  return { width: io.stdout.columns || 80, height: io.stdout.rows || 24 };
}

/**
 * Call `frame` now and then every `intervalMs` until the command is aborted (or `maxFrames`
 * frames were drawn), writing what it returns. A frame that throws ends the loop with that error.
 */
export async function refreshLoop(io: CliIO, intervalMs: number, frame: () => Promise<string> | string, opts: { maxFrames?: number } = {}): Promise<void> {
  const tty = io.stdout.isTTY === true;
  const done = aborted(io);
  for (let n = 0; !io.signal.aborted; n++) {
    if (opts.maxFrames !== undefined && opts.maxFrames >= 0 && n >= opts.maxFrames) break;
    const text = await frame();
    if (io.signal.aborted) break;
    io.stdout.write(tty ? CLEAR + text : text + "\n");
    await Promise.race([sleep(io, intervalMs), done]);
  }
  if (tty) io.stdout.write(CLEAR);
}
