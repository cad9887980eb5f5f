// Shared test helper: certificates made by openssl for each run (a CA with server and client
// certificates, a second unrelated CA, and client certificates with chosen subjects and
// subject alternative names for verify_and_map).
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  /** CA that signed `server` and `client`. */
  ca: string;
  server: CertPair;
  client: CertPair;
  /** A second, unrelated CA with its own server and client certificates. */
  otherCa: string;
  otherServer: CertPair;
  otherClient: CertPair;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * A leaf certificate signed by the CA named `caName` in `dir`: `subject` in openssl's
 * "/CN=x/O=y" form, `ext` the extension lines (subjectAltName, extendedKeyUsage...).
 */
export function signLeaf(dir: string, caName: string, leafName: string, subject: string, ext: string): CertPair {
  fs.writeFileSync(path.join(dir, `${leafName}.ext`), ext);
  openssl(dir, "req", ...EC_KEY, "-keyout", `${leafName}-key.pem`, "-out", `${leafName}.csr`, "-subj", subject);
  openssl(dir, "x509", "-req", "-in", `${leafName}.csr`, "-CA", `${caName}-ca.pem`, "-CAkey", `${caName}-ca-key.pem`,
    "-CAcreateserial", "-out", `${leafName}-cert.pem`, "-days", "2", "-extfile", `${leafName}.ext`);
  return { cert: path.join(dir, `${leafName}-cert.pem`), key: path.join(dir, `${leafName}-key.pem`) };
}

/** A CA plus a server certificate (localhost, 127.0.0.1) and a client certificate signed by it. */
function makeCa(dir: string, name: string): { ca: string; server: CertPair; client: CertPair } {
  openssl(dir, "req", "-x509", ...EC_KEY, "-keyout", `${name}-ca-key.pem`, "-out", `${name}-ca.pem`, "-days", "2", "-subj", `/CN=${name} test CA`);
  return {
    ca: path.join(dir, `${name}-ca.pem`),
    server: signLeaf(dir, name, `${name}-server`, `/CN=${name}-server`, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
    client: signLeaf(dir, name, `${name}-client`, `/CN=${name}-client`, "extendedKeyUsage=clientAuth\n"),
  };
}

/** Two CAs ("main" and "other") in a fresh temp dir; remove `dir` when done. */
export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsnats-tls-"));
  const main = makeCa(dir, "main");
  const other = makeCa(dir, "other");
  return {
    dir,
    ca: main.ca,
    server: main.server,
    client: main.client,
    otherCa: other.ca,
    otherServer: other.server,
    otherClient: other.client,
  };
}

export function fingerprint(certFile: string): string {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}
