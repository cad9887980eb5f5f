// What an account offers to other accounts: streams (its messages on a subject may flow to
// importers) and services (importers may send requests that its responders answer).
//
// Who may import is the export's `ExportAuth`: public (anyone), a list of approved accounts,
// a subject token that must carry the importer's name, or an activation token (operator
// mode: the JWT layer checks the token through the `ActivationCheck` it passes on import).
import type { Account } from "./account.js";
import type { ResponseType } from "../config/options.js";

/** An error of the account model, worded as nats-server words it ("stream import not authorized"). */
export class AccountError extends Error {}

/**
 * Checks an import's activation token against an export that requires one (operator mode).
 * Returns whether the importer holds a valid activation for the subject.
 */
export type ActivationCheck = (exporter: Account, importer: Account, subject: string) => boolean;

/** How long the reply of a service request stays mapped when the export does not say (2 minutes). */
export const DEFAULT_RESPONSE_THRESHOLD_MS = 2 * 60 * 1000;

export interface ExportAuthOptions {
  /** Accounts (by name) allowed to import; undefined = public unless a token is required. */
  approved?: readonly string[];
  /** An activation token is required (an empty `accounts: []` in the config). */
  tokenRequired?: boolean;
  /** 1-based subject token that must equal the importing account's name (must be a `*`). */
  accountTokenPosition?: number;
}

export class ExportAuth {
  readonly approved: ReadonlySet<string> | undefined;
  readonly tokenRequired: boolean;
  readonly accountTokenPosition: number;
  /** Revoked activations (importer account -> issued-at seconds), maintained by the JWT layer. */
  readonly revoked = new Map<string, number>();

  constructor(subject: string, o: ExportAuthOptions = {}) {
    const pos = o.accountTokenPosition ?? 0;
    if (pos > 0) {
      const tokens = subject.split(".");
      if (tokens.length < pos || tokens[pos - 1] !== "*") throw new AccountError("sublist: invalid subject");
    }
    this.accountTokenPosition = pos;
    this.tokenRequired = o.tokenRequired === true || (o.approved !== undefined && o.approved.length === 0);
    this.approved = o.approved !== undefined && o.approved.length > 0 ? new Set(o.approved) : undefined;
  }

  get isPublic(): boolean {
    return this.approved === undefined && !this.tokenRequired && this.accountTokenPosition === 0;
  }

  /**
   * May `importer` import `subject` (the import's subject, tokens given when it is narrower
   * than the export)? `activation` answers for exports that require a token.
   */
  authorizes(exporter: Account, importer: Account, subject: string, tokens: string[] | undefined, activation: ActivationCheck | undefined): boolean {
    if (this.isPublic) return true;
    if (this.accountTokenPosition > 0) {
      return tokens !== undefined && this.accountTokenPosition <= tokens.length && tokens[this.accountTokenPosition - 1] === importer.name;
    }
    if (this.tokenRequired) return activation !== undefined && activation(exporter, importer, subject);
    return this.approved !== undefined && this.approved.has(importer.name);
  }
}

export class StreamExport {
  constructor(
    readonly account: Account,
    readonly subject: string,
    readonly auth: ExportAuth,
  ) {}
}

/** Latency tracking of a service export: results published in the exporting account. */
export interface ServiceLatency {
  /** 1..100 percent of requests, or 0: requests that carry tracing headers. */
  sampling: number;
  subject: string;
}

export interface ServiceExportOptions extends ExportAuthOptions {
  responseType?: ResponseType;
  responseThresholdMs?: number;
  latency?: ServiceLatency;
  allowTrace?: boolean;
}

export class ServiceExport {
  readonly auth: ExportAuth;
  responseType: ResponseType;
  responseThresholdMs: number;
  latency: ServiceLatency | undefined;
  allowTrace: boolean;

  constructor(
    readonly account: Account,
    readonly subject: string,
    o: ServiceExportOptions = {},
  ) {
    this.auth = new ExportAuth(subject, o);
    this.responseType = o.responseType ?? "Singleton";
    this.responseThresholdMs = o.responseThresholdMs ?? DEFAULT_RESPONSE_THRESHOLD_MS;
    this.allowTrace = o.allowTrace ?? false;
    if (o.latency !== undefined) this.trackLatency(o.latency);
  }

  /** Turn on latency tracking; nats-server allows it on singleton services only. */
  trackLatency(l: ServiceLatency): void {
    if (l.sampling !== 0 && (l.sampling < 1 || l.sampling > 100)) throw new AccountError("bad sampling percentage, should be 1-100");
    if (this.responseType !== "Singleton") throw new AccountError("bad service response type");
    this.latency = { sampling: l.sampling, subject: l.subject };
  }
}
