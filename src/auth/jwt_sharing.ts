// What an account JWT shares and maps, installed through the account model (Account's
// export/import/mapping API), as nats-server's updateAccountClaims does it:
//   exports   stream and service exports (public, token required, account token position;
//             response type and threshold, latency, allow_trace), with revoked activations
//   imports   of other accounts' exports, resolved through the resolver; a private export is
//             imported with an activation token the exporter signed (its key or a signing
//             key), checked for validity, expiry (the import stops when it expires) and
//             revocation by the exporter
//   mappings  weighted subject mappings
// Only what a JWT installed is replaced on update, so the system account's own exports and the
// system imports every account gets stay in place. When an exporter's JWT changes, the
// imports of its importers are re-checked; an import whose exporter is not known yet is
// retried when that account arrives.
import type { Account } from "../server/account.js";
import type { Server } from "../server/server.js";
import type { ActivationCheck } from "../server/exports.js";
import { ServiceImport, type StreamImport } from "../server/imports.js";
import type { ResponseType } from "../config/options.js";
import {
  decodeActivationClaims,
  isRevoked,
  validateActivation,
  validateImport,
  ValidationResults,
  type AccountClaims,
  type JwtImport,
} from "./claims.js";
import type { MaybePromise } from "./jwt_accounts.js";

/** The JWT-installed part of an account, so an update replaces exactly that. */
export interface SharedState {
  streamExports: string[];
  serviceExports: string[];
  imports: Array<StreamImport | ServiceImport>;
  /** Expiry timers of activation tokens. */
  timers: NodeJS.Timeout[];
  /** Some import could not be installed (its exporter unknown yet, or refused). */
  incomplete: boolean;
}

export function emptyShared(): SharedState {
  return { streamExports: [], serviceExports: [], imports: [], timers: [], incomplete: false };
}

const RESPONSE_TYPES: Record<string, ResponseType> = { "": "Singleton", Singleton: "Singleton", Stream: "Streamed", Chunked: "Chunked" };

export class JwtSharing {
  /** Importers waiting for an exporter account that is not known yet, by exporter name. */
  private readonly waiting = new Map<string, Set<Account>>();

  constructor(
    private readonly server: Server,
    /** Looks up (fetching if needed) another account by public key. */
    private readonly lookup: (name: string) => MaybePromise<Account>,
  ) {}

  private debug(msg: string): void {
    if (this.server.log.debugEnabled) this.server.log.debug(msg);
  }

  /**
   * Install the exports, imports and mappings of `claims` on `acc`, replacing what its
   * previous JWT installed, then re-check the accounts that import from it.
   */
  apply(acc: Account, claims: AccountClaims): void {
    const state = acc.claims;
    if (state === undefined) return;
    const shared = state.shared;
    this.applyExports(acc, claims, shared);
    this.applyMappings(acc, claims);
    this.applyImports(acc, claims, shared);
    this.refreshImporters(acc);
  }

  private applyExports(acc: Account, claims: AccountClaims, shared: SharedState): void {
    for (const s of shared.streamExports) acc.streamExports.delete(s);
    for (const s of shared.serviceExports) acc.serviceExports.delete(s);
    shared.streamExports = [];
    shared.serviceExports = [];
    for (const e of claims.exports) {
      if (e === null) continue;
      const auth = { tokenRequired: e.tokenReq, accountTokenPosition: e.accountTokenPosition || undefined };
      try {
        if (e.type === "stream") {
          this.debug(`Adding stream export ${JSON.stringify(e.subject)} for ${acc.name}`);
          const exp = acc.addStreamExport(e.subject, auth);
          for (const [k, t] of e.revocations) exp.auth.revoked.set(k, t);
          shared.streamExports.push(e.subject);
        } else if (e.type === "service") {
          this.debug(`Adding service export ${JSON.stringify(e.subject)} for ${acc.name}`);
          const exp = acc.addServiceExport(e.subject, {
            ...auth,
            responseType: RESPONSE_TYPES[e.responseType] ?? "Singleton",
            responseThresholdMs: e.responseThreshold > 0 ? e.responseThreshold / 1e6 : undefined,
            allowTrace: e.allowTrace,
          });
          for (const [k, t] of e.revocations) exp.auth.revoked.set(k, t);
          shared.serviceExports.push(e.subject);
          if (e.latency !== undefined) {
            try {
              exp.trackLatency({ sampling: e.latency.sampling === "headers" ? 0 : e.latency.sampling, subject: e.latency.results });
            } catch (err) {
              this.debug(`Error adding latency tracking for service export to account [${acc.name}]: ${(err as Error).message}`);
            }
          }
        }
      } catch (err) {
        this.debug(`Error adding ${e.type} export to account [${acc.name}]: ${(err as Error).message}`);
      }
    }
  }

  private applyMappings(acc: Account, claims: AccountClaims): void {
    acc.clearMappings();
    for (const [from, list] of claims.mappings) {
      try {
        acc.addMapping(
          from,
          list.map((m) => ({ subject: m.subject, weight: m.weight === 0 ? 100 : m.weight, cluster: m.cluster || undefined })),
        );
      } catch (err) {
        this.server.log.error(`Account ${acc.name}: mapping ${JSON.stringify(from)}: ${(err as Error).message}`);
      }
    }
  }

  private applyImports(acc: Account, claims: AccountClaims, shared: SharedState): void {
    this.removeImports(acc, shared);
    shared.incomplete = false;
    for (const imp of claims.imports) {
      if (imp === null) continue;
      let exporter: MaybePromise<Account>;
      try {
        exporter = this.lookup(imp.account);
      } catch (err) {
        this.incomplete(acc, imp, shared, (err as Error).message);
        continue;
      }
      if (exporter instanceof Promise) {
        // Resolved over the network: installed when it arrives (if the claims are still these).
        shared.incomplete = true;
        const token = acc.claims?.token;
        exporter.then(
          (e) => {
            if (acc.claims?.token === token) this.addImport(acc, e, imp, shared);
          },
          (err: unknown) => this.incomplete(acc, imp, shared, (err as Error).message),
        );
        continue;
      }
      this.addImport(acc, exporter, imp, shared);
    }
  }

  private incomplete(acc: Account, imp: JwtImport, shared: SharedState, why: string): void {
    this.server.log.error(`Can't locate account [${imp.account}] for import of [${imp.subject}] ${imp.type} (err=${why})`);
    shared.incomplete = true;
    let set = this.waiting.get(imp.account);
    if (set === undefined) this.waiting.set(imp.account, (set = new Set()));
    set.add(acc);
  }

  private removeImports(acc: Account, shared: SharedState): void {
    for (const t of shared.timers) clearTimeout(t);
    shared.timers = [];
    for (const im of shared.imports) {
      if (im instanceof ServiceImport) acc.removeServiceImport(im);
      else acc.removeStreamImport(im);
    }
    shared.imports = [];
  }

  private addImport(acc: Account, exporter: Account, imp: JwtImport, shared: SharedState): void {
    let activationExpiry = 0;
    let checkedSubject = imp.subject;
    const activation: ActivationCheck = (exp, importer, subject) => {
      const r = this.checkActivation(exp, importer, imp, subject);
      activationExpiry = r.expiresAt;
      checkedSubject = subject;
      return r.ok;
    };
    try {
      let im: StreamImport | ServiceImport;
      if (imp.type === "stream") {
        this.debug(`Adding stream import ${exporter.name}:${JSON.stringify(imp.subject)} for ${acc.name}`);
        const o = imp.localSubject !== "" ? { to: imp.localSubject } : imp.to !== "" ? { prefix: imp.to } : {};
        im = acc.addStreamImport(exporter, imp.subject, { ...o, allowTrace: imp.allowTrace, activation });
      } else if (imp.type === "service") {
        // The import's subject is the importer's; `to` (or local_subject) renames it.
        const local = imp.localSubject !== "" ? imp.localSubject : imp.subject;
        const remote = imp.localSubject !== "" ? imp.subject : imp.to !== "" ? imp.to : imp.subject;
        this.debug(`Adding service import ${exporter.name}:${JSON.stringify(remote)} for ${acc.name}:${JSON.stringify(local)}`);
        im = acc.addServiceImport(exporter, remote, { to: local, share: imp.share, activation });
      } else return;
      shared.imports.push(im);
      if (activationExpiry > 0) this.watchActivation(acc, exporter, imp, checkedSubject, im, activationExpiry, shared);
    } catch (err) {
      this.debug(`Error adding ${imp.type} import to account [${acc.name}]: ${(err as Error).message}`);
      shared.incomplete = true;
    }
  }

  /** nats-server's checkActivation: a valid token of the exporter for this importer, not revoked. */
  private checkActivation(exporter: Account, importer: Account, imp: JwtImport, subject: string): { ok: boolean; expiresAt: number } {
    const no = { ok: false, expiresAt: 0 };
    if (imp.token === "") return no;
    const vr = new ValidationResults();
    validateImport(imp, importer.name, vr);
    if (vr.isBlocking(true)) return no;
    let act;
    try {
      act = decodeActivationClaims(imp.token);
    } catch {
      return no;
    }
    if (act.issuerAccount !== "") {
      if (act.issuerAccount !== exporter.name) {
        this.server.log.error(
          `Invalid issuer account ${JSON.stringify(act.issuerAccount)} in activation claim (subject: ${JSON.stringify(act.subject)} - type: ${JSON.stringify(act.kind)}) for account ${JSON.stringify(exporter.name)}`,
        );
        return no;
      }
      if (exporter.claims?.signer(act.data.iss) === undefined) return no;
    }
    const avr = new ValidationResults();
    validateActivation(act, avr);
    if (avr.isBlocking(true)) return no;
    // Expired from its `exp` second on (validation alone only refuses it a second later).
    if (act.data.exp !== undefined && act.data.exp > 0 && act.data.exp <= Math.floor(Date.now() / 1000)) return no;
    const exp = imp.type === "stream" ? exporter.findStreamExport(subject) : exporter.findServiceExport(subject);
    if (exp !== undefined && isRevoked(exp.auth.revoked, act.data.sub, act.data.iat ?? 0)) return no;
    return { ok: true, expiresAt: act.data.exp !== undefined && act.data.exp > 0 ? act.data.exp * 1000 : 0 };
  }

  /** When the activation token expires the import stops (unless a fresh token took its place). */
  private watchActivation(
    acc: Account,
    exporter: Account,
    imp: JwtImport,
    subject: string,
    im: StreamImport | ServiceImport,
    at: number,
    shared: SharedState,
  ): void {
    const fire = (): void => {
      const left = at - Date.now();
      if (left > 0) {
        shared.timers.push(setTimeout(fire, Math.min(left, 0x7fffffff)).unref());
        return;
      }
      if (!this.checkActivation(exporter, acc, imp, subject).ok) {
        this.debug(`Activation of ${imp.type} import ${JSON.stringify(imp.subject)} for ${acc.name} expired`);
        im.invalid = true;
      }
    };
    shared.timers.push(setTimeout(fire, Math.min(Math.max(0, at - Date.now()), 0x7fffffff)).unref());
  }

  /**
   * The exports (or signing keys, or revocations) of `exporter` may have changed: accounts
   * importing from it, or waiting for it, get their imports installed again.
   */
  private refreshImporters(exporter: Account): void {
    const importers = new Set<Account>(this.waiting.get(exporter.name) ?? []);
    this.waiting.delete(exporter.name);
    for (const acc of this.server.accounts.values()) {
      if (acc === exporter || acc.claims === undefined) continue;
      if (acc.claims.shared.imports.some((im) => im.exporter === exporter)) importers.add(acc);
    }
    for (const acc of importers) {
      const state = acc.claims;
      if (state === undefined || acc === exporter) continue;
      this.applyImports(acc, state.claims, state.shared);
    }
  }

  /** Forget an account (deleted): its timers stop, its importers wait for it again. */
  release(acc: Account): void {
    const shared = acc.claims?.shared;
    if (shared === undefined) return;
    for (const t of shared.timers) clearTimeout(t);
    shared.timers = [];
  }
}
