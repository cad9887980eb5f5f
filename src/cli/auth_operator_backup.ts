// `tsnats auth operator backup|restore|import`: an operator with its accounts, users and every
// seed of theirs the key store holds, as one JSON file (optionally sealed with a curve key,
// base64, as natscli does); restore recreates it in the store (and the users' .creds);
// import adds an operator from its JWT and seed files, as nsc's `add operator --url`.
// The backup is tsnats's own layout: natscli's is its auth builder's internal JSON.
import fs from "node:fs";
import type { Command } from "commander";
import { decode } from "@nats-io/jwt";
import type { KeyPair } from "@nats-io/nkeys";
import { App } from "./app.js";
import { keyPairFromSeed, readKeyFile } from "./nkey_cmd.js";
import type { NscStore } from "./nsc_store.js";
import { CliError, println } from "./runtime.js";

type Json = Record<string, any>;

const FORMAT = "tsnats-operator-backup/1";

interface Backup {
  format: string;
  name: string;
  jwt: string;
  accounts: { name: string; jwt: string; users: { name: string; jwt: string }[] }[];
  seeds: string[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Every public key a JWT names as its subject or signing key. */
function keysOf(claims: Json): string[] {
  const out = [claims.sub as string];
  for (const k of (claims.nats?.signing_keys ?? []) as (string | Json)[]) out.push(typeof k === "string" ? k : k.key);
  return out;
}

/** The curve key pair of --key (a file holding an SX... seed). */
function curveKey(file: string): KeyPair {
  const seed = readKeyFile(file);
  if (!seed.startsWith("SX")) throw new CliError(`--key ${file}: not a curve (X25519) seed`, "make one with `tsnats nkey gen curve`");
  return keyPairFromSeed(seed);
}

export function registerOperatorBackup(app: App, op: Command, store: () => NscStore, show: (s: NscStore, name: string) => void): void {
  const io = app.io;

  op.command("backup <name> <output>")
    .description("Creates a backup of an operator, its accounts, users and their seeds")
    .option("--key <file>", "Curve (X25519) NKey seed file to encrypt with")
    .action(
      app.action<{ key?: string }>(async ({ opts }, name: string, output: string) => {
        const s = store();
        if (!s.hasOperator(name)) throw new CliError(`unknown operator "${name}"`, "list them with `tsnats auth operator ls`");
        const operator = s.operator(name);
        const pubs = new Set(keysOf(operator.claims));
        const accounts = s.accounts(name).map((a) => {
          const acc = s.account(name, a);
          for (const k of keysOf(acc.claims)) pubs.add(k);
          const users = s.users(name, a).map((u) => {
            const user = s.user(name, a, u);
            pubs.add(user.claims.sub);
            return { name: u, jwt: user.jwt };
          });
          return { name: a, jwt: acc.jwt, users };
        });
        const seeds = [...pubs].flatMap((p) => {
          const kp = s.keyPair(p);
          return kp ? [dec.decode(kp.getSeed())] : [];
        });
        const doc: Backup = { format: FORMAT, name, jwt: operator.jwt, accounts, seeds };
        let data = JSON.stringify(doc, null, 2);
        if (opts.key) {
          const kp = curveKey(opts.key);
          data = Buffer.from(kp.seal(enc.encode(data), kp.getPublicKey())).toString("base64");
        }
        fs.writeFileSync(output, data, { mode: 0o600 });
        println(io, `Backed up operator ${name}: ${accounts.length} accounts, ${accounts.reduce((n, a) => n + a.users.length, 0)} users, ${seeds.length} seeds to ${output}${opts.key ? " (encrypted)" : ""}`);
      }),
    );

  op.command("restore <name> <input>")
    .description("Restores an operator from a backup (as a new operator of the store)")
    .option("--key <file>", "Curve (X25519) NKey seed file to decrypt with")
    .action(
      app.action<{ key?: string }>(async ({ opts }, name: string, input: string) => {
        const s = store();
        if (s.hasOperator(name)) throw new CliError(`operator ${name} already exist`);
        let text: string;
        try {
          text = fs.readFileSync(input, "utf8");
        } catch (err) {
          throw new CliError(`cannot read ${input}: ${(err as Error).message}`);
        }
        if (opts.key) {
          const kp = curveKey(opts.key);
          let opened: Uint8Array | null = null;
          try {
            opened = kp.open(new Uint8Array(Buffer.from(text.trim(), "base64")), kp.getPublicKey());
          } catch {
            opened = null;
          }
          if (!opened) throw new CliError("open failed: wrong key, or the file is not an encrypted backup");
          text = dec.decode(opened);
        }
        let doc: Backup;
        try {
          doc = JSON.parse(text) as Backup;
        } catch {
          throw new CliError(`${input} is not a backup${opts.key ? "" : " (an encrypted one needs --key)"}`);
        }
        if (doc?.format !== FORMAT || typeof doc.jwt !== "string" || !Array.isArray(doc.accounts)) throw new CliError(`${input} is not a tsnats operator backup`);
        const claims = decode<Json>(doc.jwt) as Json;
        if (claims.nats?.type !== "operator") throw new CliError(`${input}: the backup's JWT is not an operator`);
        for (const seed of doc.seeds ?? []) s.storeKey(keyPairFromSeed(seed));
        // The JWT keeps the name it was signed with; the store's directory takes the new name.
        s.createOperator(name, doc.jwt);
        for (const a of doc.accounts) {
          s.writeAccount(name, a.name, a.jwt);
          for (const u of a.users) {
            s.writeUser(name, a.name, u.name, u.jwt);
            const ukp = s.keyPair(decode(u.jwt).sub);
            if (ukp) s.writeCreds(name, a.name, u.name, u.jwt, ukp);
          }
        }
        show(s, name);
      }),
    );

  op.command("import <token> [keys...]")
    .description("Imports an operator from its JWT file, with seed files of its keys")
    .action(
      app.action(async (_ctx, token: string, keys: string[] = []) => {
        const s = store();
        let jwt: string;
        try {
          jwt = fs.readFileSync(token, "utf8").trim();
        } catch (err) {
          throw new CliError(`cannot read ${token}: ${(err as Error).message}`);
        }
        let claims: Json;
        try {
          claims = decode<Json>(jwt) as Json;
        } catch (err) {
          throw new CliError(`${token} holds no JWT: ${(err as Error).message}`);
        }
        if (claims.nats?.type !== "operator") throw new CliError(`${token} is not an operator JWT`);
        const own = new Set(keysOf(claims));
        for (const f of keys) {
          const kp = keyPairFromSeed(readKeyFile(f));
          if (!own.has(kp.getPublicKey())) throw new CliError(`${f} is not a key of operator ${claims.name}`);
          s.storeKey(kp);
        }
        s.createOperator(claims.name, jwt);
        show(s, claims.name);
      }),
    );
}
