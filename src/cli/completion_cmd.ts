// Shell completion: `tsnats completion bash|zsh|fish` prints a script that asks the hidden
// `tsnats __complete <words...>` for candidates, which walks the command tree (commands,
// their aliases and options) and offers saved context names where a context is expected.
import type { Command, Option } from "commander";
import { App } from "./app.js";
import { ContextStore } from "./context_store.js";
import { CliError, println } from "./runtime.js";

function visible(cmd: Command): Command[] {
  return cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
}

function options(cmd: Command): readonly Option[] {
  return cmd.options.filter((o) => !o.hidden);
}

/** Candidates for the last word, given the words before it. */
export function complete(program: Command, words: string[], contexts: () => string[]): string[] {
  const current = words.length > 0 ? words[words.length - 1] : "";
  const before = words.slice(0, -1);
  let cmd = program;
  const chain: Command[] = [program];
  for (let i = 0; i < before.length; i++) {
    const w = before[i];
    if (w.startsWith("-")) {
      const flag = w.split("=")[0];
      const opt = [...chain].reverse().flatMap((c) => options(c)).find((o) => o.long === flag || o.short === flag);
      if (opt && (opt.required || opt.optional) && !w.includes("=")) i++; // skip its value
      continue;
    }
    const sub = visible(cmd).find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) {
      cmd = sub;
      chain.push(sub);
    }
  }
  const prev = before[before.length - 1];
  if (prev === "--context") return contexts().filter((c) => c.startsWith(current));
  if (current.startsWith("-")) {
    const flags = chain.flatMap((c) => options(c)).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f));
    return [...new Set(flags)].filter((f) => f.startsWith(current)).sort();
  }
  if (cmd.parent?.name() === "context" && ["select", "info", "rm", "edit", "copy", "validate"].includes(cmd.name())) {
    return contexts().filter((c) => c.startsWith(current));
  }
  return visible(cmd)
    .map((c) => c.name())
    .filter((n) => n.startsWith(current))
    .sort();
}

const BASH = `# tsnats bash completion: eval "$(tsnats completion bash)"
_tsnats_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(tsnats __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _tsnats_complete tsnats
`;

const ZSH = `#compdef tsnats
# tsnats zsh completion: eval "$(tsnats completion zsh)"
_tsnats() {
  local -a candidates
  candidates=(\${(f)"$(tsnats __complete \${words[2,CURRENT]} 2>/dev/null)"})
  compadd -a candidates
}
compdef _tsnats tsnats
`;

const FISH = `# tsnats fish completion: tsnats completion fish | source
complete -c tsnats -f -a '(tsnats __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`;

export function registerCompletion(app: App): void {
  const io = app.io;
  app.program
    .command("completion <shell>")
    .description("Print a shell completion script (bash, zsh, fish); e.g. eval \"$(tsnats completion bash)\"")
    .action(
      app.action(async (_c, shell: string) => {
        const scripts: Record<string, string> = { bash: BASH, zsh: ZSH, fish: FISH };
        const s = scripts[shell];
        if (!s) throw new CliError(`unknown shell "${shell}"`, "use bash, zsh or fish");
        io.stdout.write(s);
      }),
    );
}

/**
 * `tsnats __complete <words...>`: handled before commander parses anything, since the words
 * are a partial command line full of options that must not be interpreted.
 */
export function runComplete(app: App, words: string[]): void {
  const ws = words.length === 0 ? [""] : words;
  for (const c of complete(app.program, ws, () => new ContextStore(app.io.env).list())) println(app.io, c);
}
