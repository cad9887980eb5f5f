// Editing a JSON configuration (stream or consumer) in the user's editor, as YAML, for
// `edit --interactive`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { CliError, type CliIO } from "./runtime.js";

/**
 * `stream/consumer edit --interactive`: the configuration as YAML in a temporary file, opened with
 * $EDITOR (which may carry arguments: it runs through the shell), read back when it exits.
 */
export function editInEditor(io: CliIO, cfg: Record<string, unknown>): Record<string, unknown> {
  const editor = io.env.EDITOR || io.env.VISUAL;
  if (!editor) throw new CliError("set EDITOR environment variable to your chosen editor", "or give the changes as flags");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-edit-"));
  const file = path.join(dir, `${String(cfg.name ?? cfg.durable_name ?? "config")}.yaml`);
  try {
    fs.writeFileSync(file, YAML.stringify(cfg), { mode: 0o600 });
    const r = spawnSync(`${editor} "${file}"`, { shell: true, stdio: "inherit", env: io.env as NodeJS.ProcessEnv });
    if (r.error || r.status !== 0) throw new CliError(`editor "${editor}" failed: ${r.error?.message ?? `exit status ${r.status}`}`);
    let edited: unknown;
    try {
      edited = YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new CliError(`could not parse the edited configuration: ${(err as Error).message}`);
    }
    if (edited === null || typeof edited !== "object" || Array.isArray(edited)) throw new CliError("the edited configuration is not a YAML mapping");
    const out = edited as Record<string, unknown>;
    // Empty lists and maps mean "none", as the server writes them.
    for (const k of ["sources", "metadata"]) {
      const v = out[k];
      if (v === null || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && v !== null && Object.keys(v).length === 0)) delete out[k];
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
