// Questions asked on a terminal (natscli's survey prompts, done with @inquirer/prompts). When
// tsnats is not attached to a terminal nothing is asked: the caller's flag (--force,
// --defaults, the missing argument) is named in the error instead, so scripts never hang.
import { confirm, input, password, select } from "@inquirer/prompts";
import { CliError, type CliIO } from "./runtime.js";

function context(io: CliIO): { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; signal: AbortSignal } {
  return { input: io.stdin, output: io.stdout, signal: io.signal };
}

function noTerminal(question: string, instead: string): CliError {
  return new CliError(`cannot ask "${question}": not running on a terminal`, instead);
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const name = (err as Error).name;
    if (name === "ExitPromptError" || name === "AbortPromptError") throw new CliError("interrupted");
    throw err;
  }
}

/** A yes/no question. `instead` says which flag answers it on a non-terminal. */
export async function askConfirm(io: CliIO, message: string, def: boolean, instead = "pass --force to skip this confirmation"): Promise<boolean> {
  if (!io.interactive) throw noTerminal(message, instead);
  return guard(confirm({ message, default: def }, context(io)));
}

/** A free-text question with an optional default and validation. */
export async function askInput(
  io: CliIO,
  message: string,
  opts: { default?: string; required?: boolean; validate?: (v: string) => string | true; instead?: string } = {},
): Promise<string> {
  if (!io.interactive) throw noTerminal(message, opts.instead ?? "give the value with its flag");
  const v = await guard(
    input(
      {
        message,
        default: opts.default,
        validate: (value: string) => {
          if (opts.required && value.trim() === "") return "a value is required";
          return opts.validate ? opts.validate(value) : true;
        },
      },
      context(io),
    ),
  );
  return v.trim();
}

/** Pick one of `choices`. */
export async function askSelect(io: CliIO, message: string, choices: string[], def?: string, instead = "give the value with its flag"): Promise<string> {
  if (!io.interactive) throw noTerminal(message, instead);
  return guard(select({ message, choices: choices.map((c) => ({ name: c, value: c })), default: def }, context(io)));
}

/** A secret typed without echo (at least `minLength` characters). */
export async function askPassword(io: CliIO, message: string, minLength = 0, instead = "give the value with its flag"): Promise<string> {
  if (!io.interactive) throw noTerminal(message, instead);
  return guard(password({ message, mask: true, validate: (v: string) => (v.length >= minLength ? true : `at least ${minLength} characters`) }, context(io)));
}
