// Shared test helper: the usual JetStream test setup — a JetStream-enabled test server and one
// client connection with its JetStream manager and client — started before and closed after
// the enclosing suite.
import { before, after } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
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
