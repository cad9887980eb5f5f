// Saved connection contexts, stored exactly where and how natscli stores them so the two
// tools share them: one JSON file per context in <config>/nats/context/<name>.json (mode
// 0600), the selected name in <config>/nats/context.txt and the one before it in
// previous-context.txt, where <config> is $XDG_CONFIG_HOME or ~/.config.
import fs from "node:fs";
import path from "node:path";
import { CliError, natsConfigDir, type CliIO } from "./runtime.js";

/** natscli's context document (JSON keys as natscli writes them). */
export interface ContextSettings {
  description: string;
  url: string;
  socks_proxy: string;
  token: string;
  user: string;
  password: string;
  creds: string;
  nkey: string;
  cert: string;
  key: string;
  ca: string;
  nsc: string;
  jetstream_domain: string;
  jetstream_api_prefix: string;
  jetstream_event_prefix: string;
  inbox_prefix: string;
  user_jwt: string;
  user_seed: string;
  color_scheme: string;
  tls_first: boolean;
  windows_cert_store: string;
  windows_cert_match_by: string;
  windows_cert_match: string;
  windows_ca_certs_match: string[];
}

export function emptyContext(): ContextSettings {
  return {
    description: "",
    url: "",
    socks_proxy: "",
    token: "",
    user: "",
    password: "",
    creds: "",
    nkey: "",
    cert: "",
    key: "",
    ca: "",
    nsc: "",
    jetstream_domain: "",
    jetstream_api_prefix: "",
    jetstream_event_prefix: "",
    inbox_prefix: "",
    user_jwt: "",
    user_seed: "",
    color_scheme: "",
    tls_first: false,
    windows_cert_store: "",
    windows_cert_match_by: "",
    windows_cert_match: "",
    windows_ca_certs_match: [],
  };
}

export class ContextStore {
  readonly root: string;

  constructor(env: CliIO["env"]) {
    this.root = natsConfigDir(env);
  }

  private get dir(): string {
    return path.join(this.root, "context");
  }

  path(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  static validateName(name: string): void {
    if (name === "") throw new CliError("context name is empty");
    if (name.includes("..")) throw new CliError(`invalid context name "${name}": must not contain ".."`);
    if (/[/\\]/.test(name)) throw new CliError(`invalid context name "${name}": must not contain "/" or "\\"`);
  }

  /** Names of saved contexts, sorted; files that cannot be contexts are skipped as natscli does. */
  list(): string[] {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.dir, { withFileTypes: true });
    } catch {
      return [];
    }
    const names: string[] = [];
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith(".json")) continue;
      const name = e.name.slice(0, -5);
      if (name === "" || name.includes("..")) continue;
      try {
        if (fs.statSync(path.join(this.dir, e.name)).size === 0) continue;
      } catch {
        continue;
      }
      names.push(name);
    }
    return names.sort();
  }

  exists(name: string): boolean {
    return fs.existsSync(this.path(name));
  }

  /** Load a context; unknown keys written by newer natscli versions are kept. */
  load(name: string): ContextSettings & Record<string, unknown> {
    ContextStore.validateName(name);
    let text: string;
    try {
      text = fs.readFileSync(this.path(name), "utf8");
    } catch {
      throw new CliError(`unknown context "${name}"`, "list the saved contexts with `tsnats context ls`");
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new CliError(`context "${name}" is not valid JSON (${this.path(name)}): ${(err as Error).message}`, `fix it with \`tsnats context edit ${name}\``);
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new CliError(`context "${name}" is not a JSON object (${this.path(name)})`);
    return { ...emptyContext(), ...(doc as Record<string, unknown>) } as ContextSettings & Record<string, unknown>;
  }

  /** Save atomically (temp file + rename), mode 0600, directory 0700. */
  save(name: string, ctx: ContextSettings & Record<string, unknown>): void {
    ContextStore.validateName(name);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { name: _ignored, ...body } = ctx as Record<string, unknown>;
    writeAtomic(this.path(name), JSON.stringify(body, null, "  "));
  }

  remove(name: string): void {
    ContextStore.validateName(name);
    fs.rmSync(this.path(name), { force: true });
    if (this.selected() === name) this.select("");
  }

  selected(): string {
    return readFirstLine(path.join(this.root, "context.txt"));
  }

  previous(): string {
    return readFirstLine(path.join(this.root, "previous-context.txt"));
  }

  /** Select `name` ("" clears the selection); the one selected before becomes the previous. */
  select(name: string): void {
    if (name !== "") ContextStore.validateName(name);
    const before = this.selected();
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    if (before !== "" && before !== name) writeAtomic(path.join(this.root, "previous-context.txt"), before);
    writeAtomic(path.join(this.root, "context.txt"), name);
  }
}

function readFirstLine(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
