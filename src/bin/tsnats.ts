#!/usr/bin/env node
// tsnats: the NATS command-line tool (natscli's commands and flags; see src/cli/).
// A CommonJS file, as everything in src/bin (package.json there; see tsnats-server.ts): the CLI
// itself is loaded as the ES modules it is.

const controller = new AbortController();
let interrupts = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    // First Ctrl-C stops the command cleanly (drain, final report); a second one exits now.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
}

// A reader that went away (`tsnats server watch servers | head`) ends the command quietly,
// as a closed pipe ends any Unix tool, instead of an unhandled EPIPE stack trace.
for (const out of [process.stdout, process.stderr]) {
  out.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

void import("../cli/main.js").then(async ({ runCli }) => {
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    signal: controller.signal,
  });
  process.exitCode = code;
  // Let stdout drain, then leave even if a library keeps a timer alive.
  process.stdout.write("", () => process.exit(code));
});
