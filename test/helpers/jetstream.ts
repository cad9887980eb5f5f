// Shared test helper: the usual JetStream test setup — a JetStream-enabled test server and one
// client connection with its JetStream manager and client — started before and closed after
// the enclosing suite; and raw JSON requests ($JS.API, $SYS) whose answer a test reads as is.
import assert from "node:assert/strict";
import { before, after } from "node:test";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { startTestServer, type TestServer } from "./server.js";

export interface JetStreamFixture {
  srv: TestServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
}

/**
 * Registers before/after hooks in the current scope (file or describe). `ready` gets the fixture
 * once it is up, so a test file can keep plain module variables:
 * `jetStreamFixture((f) => ({ nc, jsm, js } = f));`
 */
export function jetStreamFixture(ready: (f: JetStreamFixture) => void): void {
  let srv: TestServer | undefined;
  let nc: NatsConnection | undefined;
  before(async () => {
    srv = await startTestServer({ jetstream: true });
    nc = await connect({ servers: srv.url });
    ready({ srv, nc, jsm: await jetstreamManager(nc), js: jetstream(nc) });
  });
  after(async () => {
    await nc?.close();
    await srv?.close();
  });
}

/** A JSON answer, error included, as the server sent it: tests read its fields freely. */
export type JsonAnswer = Record<string, any>;

/**
 * Request `subject` and parse the JSON answer (an empty one is `{}`). `body` goes as is when
 * a string, as JSON otherwise, empty when undefined; `hdrs` become the request's headers. The
 * timeout is only a safety net: every request here gets an answer.
 */
export async function requestJson(nc: NatsConnection, subject: string, body?: unknown, hdrs?: Record<string, string>): Promise<JsonAnswer> {
  let h;
  if (hdrs !== undefined) {
    h = headers();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  }
  const data = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const m = await nc.request(subject, data, { timeout: 10_000, headers: h });
  return m.data.length === 0 ? {} : m.json<JsonAnswer>();
}

/** requestJson, asserting that the answer carries no error. */
export async function requestJsonOk(nc: NatsConnection, subject: string, body?: unknown): Promise<JsonAnswer> {
  const r = await requestJson(nc, subject, body);
  assert.equal(r.error, undefined, `${subject}: ${JSON.stringify(r.error)}`);
  return r;
}
