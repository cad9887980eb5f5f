// tsnats CLI: `schema search/info/validate/request` and `stream add --validate`, with the
// NATS JSON schemas of the shared spec digest (TSNATS_SCHEMAS); `schema request` validates
// real answers of tsnats and nats-server 2.15.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";
import { jetStreamTargets, type CliTarget } from "./helpers/cli_targets.js";

const SCHEMAS = "/work/shared/spec/schemas";
const HAVE = fs.existsSync(path.join(SCHEMAS, "jetstream", "api", "v1", "stream_configuration.json"));
const NO_SCHEMAS = `the NATS JSON schemas are not at ${SCHEMAS}`;

const home = new CliHome({ TSNATS_SCHEMAS: SCHEMAS });
after(() => home.cleanup());

describe("schema search, info and validate", () => {
  test("search lists ids by pattern; info shows one as JSON or YAML", async (t) => {
    if (!HAVE) return t.skip(NO_SCHEMAS);
    let r = await home.exec(["schema", "search", "stream_(configuration|info_response)$"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Matched Schemas:\n\n  io.nats.jetstream.api.v1.stream_configuration\n  io.nats.jetstream.api.v1.stream_info_response\n");
    r = await home.exec(["schema", "ls", "advisory.v1.consumer_pause", "--json"]);
    assert.deepEqual(JSON.parse(r.stdout), ["io.nats.jetstream.advisory.v1.consumer_pause"]);
    r = await home.exec(["schema", "search", "nothing-like-this"]);
    assert.equal(r.stdout, 'No schemas matched "nothing-like-this"\n');
    r = await home.exec(["schema", "search", "("]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid pattern/);

    r = await home.exec(["schema", "info", "io.nats.jetstream.api.v1.stream_configuration"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).title, "io.nats.jetstream.api.v1.stream_configuration");
    r = await home.exec(["schema", "show", "io.nats.jetstream.api.v1.stream_configuration", "--yaml"]);
    assert.match(r.stdout, /^title: io\.nats\.jetstream\.api\.v1\.stream_configuration$/m);
    r = await home.exec(["schema", "info", "io.nats.nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not load schema "io\.nats\.nope"/);
  });

  test("validate a file and stdin; errors name the field; exit 1 when invalid", async (t) => {
    if (!HAVE) return t.skip(NO_SCHEMAS);
    const good = { name: "ORDERS", subjects: ["orders.>"], retention: "limits", max_consumers: -1, max_msgs: -1, max_bytes: -1, max_age: 0, storage: "file", num_replicas: 1, discard: "old" };
    const file = path.join(home.dir, "good.json");
    fs.writeFileSync(file, JSON.stringify(good));
    let r = await home.exec(["schema", "validate", "io.nats.jetstream.api.v1.stream_configuration", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${file} validates against io.nats.jetstream.api.v1.stream_configuration\n`);
    r = await home.exec(["schema", "check", "io.nats.jetstream.api.v1.stream_configuration", "-", "--json"], { stdin: JSON.stringify({ ...good, retention: "forever", bogus: 1 }) });
    assert.equal(r.code, 1);
    const errs = JSON.parse(r.stdout) as string[];
    assert.ok(errs.some((e) => /additionalProperties 'bogus' not allowed/.test(e)), errs.join("; "));
    assert.ok(errs.some((e) => /^\/retention: value must be one of "limits", "interest", "workqueue"/.test(e)), errs.join("; "));
    const { max_msgs: _omit, ...missing } = good;
    r = await home.exec(["schema", "validate", "io.nats.jetstream.api.v1.stream_configuration", "-"], { stdin: JSON.stringify(missing) });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Validation errors in -:\n\n {2}must have required property 'max_msgs'/);
    r = await home.exec(["schema", "validate", "io.nats.jetstream.api.v1.stream_configuration", "-"], { stdin: "{not json" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not parse JSON data in "-"/);
  });

  test("without TSNATS_SCHEMAS the commands say where schemas come from", async () => {
    const bare = new CliHome();
    try {
      const r = await bare.exec(["schema", "search"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no NATS JSON schemas available/);
      assert.match(r.stderr, /TSNATS_SCHEMAS/);
    } finally {
      bare.cleanup();
    }
  });
});

describe("stream add --validate", () => {
  test("a complete configuration validates without a server; a bad one fails with the reasons", async (t) => {
    if (!HAVE) return t.skip(NO_SCHEMAS);
    // No server: --validate only builds and checks the configuration.
    let r = await home.exec(["stream", "add", "ORDERS", "--subjects", "orders.>", "--defaults", "--validate", "--tags", "ssd", "--server", "nats://127.0.0.1:1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Configuration is a valid Stream matching io\.nats\.jetstream\.api\.v1\.stream_configuration/);
    const shown = JSON.parse(r.stdout.slice(0, r.stdout.indexOf("\n\n"))) as { placement?: { tags?: string[] } };
    assert.deepEqual(shown.placement?.tags, ["ssd"], "--tags is --tag's older name");
    r = await home.exec(["stream", "add", "ALL", "--subjects", ">", "--defaults", "--validate"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Validation Failed: subjects cannot be '>' when acknowledgement is enabled/);
  });
});

describe("consumer add --validate", () => {
  test("a pull consumer's configuration validates without a server", async (t) => {
    if (!HAVE) return t.skip(NO_SCHEMAS);
    const r = await home.exec(["consumer", "add", "ORDERS", "NEW", "--pull", "--ack", "explicit", "--defaults", "--validate", "--server", "nats://127.0.0.1:1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Configuration is a valid Consumer matching io\.nats\.jetstream\.api\.v1\.consumer_configuration/);
    assert.equal((JSON.parse(r.stdout.slice(0, r.stdout.indexOf("\n\n"))) as { durable_name?: string }).durable_name, "NEW");
  });
});

describe("schema request validates a server's answer", () => {
  let targets: CliTarget[] = [];
  before(async () => {
    targets = await jetStreamTargets();
  });
  after(async () => {
    for (const t of targets) await t.stop();
  });
  test("$JS.API.INFO and STREAM.NAMES answers match their schemas", async (t) => {
    if (!HAVE) return t.skip(NO_SCHEMAS);
    for (const target of targets) {
      let r = await home.exec(["schema", "request", "$JS.API.INFO", ""], { server: target.url });
      assert.equal(r.code, 0, `${target.name}: ${r.stdout} ${r.stderr}`);
      assert.equal(r.stdout, "Response is a valid io.nats.jetstream.api.v1.account_info_response message\n", target.name);
      r = await home.exec(["schema", "req", "$JS.API.STREAM.NAMES", "--show", "--schema", "io.nats.jetstream.api.v1.stream_names_response"], { server: target.url });
      assert.equal(r.code, 0, `${target.name}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stdout, /"type": "io\.nats\.jetstream\.api\.v1\.stream_names_response"/);
      r = await home.exec(["schema", "req", "$JS.API.INFO", "", "--schema", "io.nats.jetstream.api.v1.stream_names_response"], { server: target.url });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid message type io\.nats\.jetstream\.api\.v1\.account_info_response/);
    }
  });
});
