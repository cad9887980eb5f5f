// `tsnats nkey` (also `tsnats auth nkey`): generate, show, sign with, verify with, seal and
// unseal with NKeys, as natscli's `nats auth nkey` and the `nk` tool do.
import fs from "node:fs";
import type { Command } from "commander";
import { createAccount, createCluster, createCurve, createOperator, createServer, createUser, fromCurveSeed, fromPublic, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { App } from "./app.js";
import { CliError, println } from "./runtime.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The first line of a key file that looks like an NKey (seed or public key). */
export function readKeyFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => /^S[A-Z][A-Z2-7]{50,}$/.test(l) || /^[ACNOUPX][A-Z2-7]{55}$/.test(l));
  if (!line) throw new CliError(`${file} holds no NKey`, "generate one with `tsnats nkey gen user`");
  return line;
}

/** A key pair from a seed string (curve seeds included). */
export function keyPairFromSeed(seed: string): KeyPair {
  try {
    return seed.startsWith("SX") ? fromCurveSeed(enc.encode(seed)) : fromSeed(enc.encode(seed));
  } catch (err) {
    throw new CliError(`invalid NKey seed: ${(err as Error).message}`);
  }
}

/** Generate a key of a named kind (natscli's names). */
export function generateKey(kind: string): KeyPair {
  switch (kind.toLowerCase()) {
    case "user":
      return createUser();
    case "account":
      return createAccount();
    case "operator":
      return createOperator();
    case "server":
      return createServer();
    case "cluster":
      return createCluster();
    case "curve":
    case "x25519":
      return createCurve();
    default:
      throw new CliError(`unknown key type "${kind}"`, "use user, account, operator, server, cluster or curve");
  }
}

export function registerNkeyCommands(app: App, parent: Command): void {
  const io = app.io;
  const nk = parent.command("nkey").alias("nk").description("Create and Use NKeys");

  nk.command("gen <type>")
    .description("Generates NKeys (user, account, operator, server, cluster, curve): prints the seed, and the public key with --public")
    .option("--public", "Output the public key")
    .option("--output <file>", "Write the key to a file (mode 0600)")
    .action(
      app.action<{ public?: boolean; output?: string }>(async ({ opts }, type: string) => {
        const kp = generateKey(type);
        let text = dec.decode(kp.getSeed()) + "\n";
        if (opts.public) text += kp.getPublicKey() + "\n";
        if (opts.output) fs.writeFileSync(opts.output, text, { mode: 0o600 });
        else io.stdout.write(text);
      }),
    );

  nk.command("show <key>")
    .description("Show the public key of a seed file")
    .action(
      app.action(async (_c, file: string) => {
        const k = readKeyFile(file);
        if (!k.startsWith("S")) throw new CliError(`${file} holds a public key, not a seed`);
        println(io, keyPairFromSeed(k).getPublicKey());
      }),
    );

  nk.command("sign <file> <key>")
    .description("Signs a file with an NKey seed; prints the signature (base64url)")
    .action(
      app.action(async (_c, file: string, keyFile: string) => {
        const k = readKeyFile(keyFile);
        if (!k.startsWith("S")) throw new CliError(`${keyFile} holds a public key; signing needs a seed`);
        const sig = keyPairFromSeed(k).sign(new Uint8Array(fs.readFileSync(file)));
        println(io, Buffer.from(sig).toString("base64url"));
      }),
    );

  nk.command("verify <file> <signature> <key>")
    .description("Verify signed data with a public key or seed file")
    .action(
      app.action(async (_c, file: string, sigFile: string, keyFile: string) => {
        const k = readKeyFile(keyFile);
        const kp = k.startsWith("S") ? keyPairFromSeed(k) : fromPublic(k);
        const sigText = fs.readFileSync(sigFile, "utf8").trim();
        const sig = new Uint8Array(Buffer.from(sigText, "base64url"));
        if (!kp.verify(new Uint8Array(fs.readFileSync(file)), sig)) throw new CliError("signature verification failed", "the data, the signature or the key differ from what was signed");
        println(io, "Verified OK");
      }),
    );

  nk.command("seal <file> <key> <recipient>")
    .aliases(["encrypt", "enc"])
    .description("Encrypts a file for a recipient's public curve key (XKey) with your curve seed")
    .option("--output <file>", "Write the encrypted data to a file")
    .option("--no-b64", "Write raw bytes instead of base64")
    .action(
      app.action<{ output?: string; b64: boolean }>(async ({ opts }, file: string, keyFile: string, recipient: string) => {
        const kp = keyPairFromSeed(readKeyFile(keyFile));
        let sealed: Uint8Array;
        try {
          sealed = kp.seal(new Uint8Array(fs.readFileSync(file)), recipient);
        } catch (err) {
          throw new CliError(`cannot seal: ${(err as Error).message}`, "sealing needs a curve seed (tsnats nkey gen curve) and the recipient's public X key");
        }
        const out = opts.b64 ? enc.encode(Buffer.from(sealed).toString("base64") + "\n") : sealed;
        if (opts.output) fs.writeFileSync(opts.output, out, { mode: 0o600 });
        else io.stdout.write(out);
      }),
    );

  nk.command("unseal <file> <key> <sender>")
    .aliases(["open", "decrypt", "dec"])
    .description("Decrypts a file sealed for you, given the sender's public curve key")
    .option("--output <file>", "Write the decrypted data to a file")
    .option("--no-b64", "Read raw bytes instead of base64")
    .action(
      app.action<{ output?: string; b64: boolean }>(async ({ opts }, file: string, keyFile: string, sender: string) => {
        const kp = keyPairFromSeed(readKeyFile(keyFile));
        const raw = fs.readFileSync(file);
        const data = opts.b64 ? new Uint8Array(Buffer.from(raw.toString("utf8").trim(), "base64")) : new Uint8Array(raw);
        let opened: Uint8Array | null;
        try {
          opened = kp.open(data, sender);
        } catch (err) {
          throw new CliError(`cannot unseal: ${(err as Error).message}`);
        }
        if (!opened) throw new CliError("cannot unseal: wrong key or sender, or the data was altered");
        if (opts.output) fs.writeFileSync(opts.output, opened, { mode: 0o600 });
        else io.stdout.write(opened);
      }),
    );
}
