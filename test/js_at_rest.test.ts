// Storage at rest: settings tsnats cannot honour yet are refused, never accepted and ignored.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetStreamFixture } from "./helpers/jetstream.js";

let nc: NatsConnection;
jetStreamFixture((f) => ({ nc } = f));

type Json = Record<string, any>;
async function api(subject: string, body: unknown): Promise<Json> {
  const m = await nc.request(subject, JSON.stringify(body), { timeout: 3000 });
  return m.json<Json>();
}

describe("stream compression", () => {
  it("refuses s2 with a clear error and creates nothing", async () => {
    const r = await api("$JS.API.STREAM.CREATE.Z", { name: "Z", subjects: ["z"], compression: "s2" });
    assert.equal(r.error?.err_code, 10052);
    assert.equal(r.error?.description, "stream compression is not supported by this server");
    const info = await api("$JS.API.STREAM.INFO.Z", {});
    assert.equal(info.error?.err_code, 10059);
  });

  it("accepts none", async () => {
    const r = await api("$JS.API.STREAM.CREATE.N", { name: "N", subjects: ["n"], compression: "none" });
    assert.equal(r.error, undefined);
  });
});
