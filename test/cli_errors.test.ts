// tsnats CLI: `errors ls|lookup|validate|edit`, the JetStream error catalogue (the server's own)
// and errors.json files; edit runs $EDITOR (here a script that rewrites the entry).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { CliHome } from "./helpers/cli.js";

const home = new CliHome();
after(() => home.cleanup());

describe("tsnats errors", () => {
  test("ls with a match and a sort, lookup by code", async () => {
    let r = await home.exec(["errors", "ls", "stream not found"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /NATS Errors/);
    assert.match(r.stdout, /│ 10059 +│ 404 +│ stream not found +│ +│ JSStreamNotFoundErr +│/);
    r = await home.exec(["errors", "ls", "^1003[0-9]$", "code", "-R"]);
    assert.equal(r.code, 0, r.stderr);
    const codes = [...r.stdout.matchAll(/│ (1003\d) /g)].map((m) => Number(m[1]));
    assert.ok(codes.length >= 5);
    assert.deepEqual(codes, [...codes].sort((a, b) => b - a), "reverse order");
    r = await home.exec(["errors", "ls", "consumer", "http"]);
    const http = [...r.stdout.matchAll(/│ \d{5} +│ (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(http, [...http].sort((a, b) => a - b));
    r = await home.exec(["errors", "ls", "nothing-matches-this"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no errors found matching regular expression nothing-matches-this/);
    r = await home.exec(["errors", "ls", "x", "colour"]);
    assert.match(r.stderr, /invalid sort "colour"/);

    r = await home.exec(["errors", "lookup", "10059"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /NATS Error Code: 10059/);
    assert.match(r.stdout, /Description: stream not found/);
    assert.match(r.stdout, /HTTP Code: 404/);
    assert.match(r.stdout, /Go Index Constant: JSStreamNotFoundErr/);
    assert.match(r.stdout, /No further information available/);
    r = await home.exec(["errors", "lookup", "99999"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no error matches code 99999/);
  });

  test("validate and edit an errors.json with $EDITOR", async () => {
    const file = path.join(home.dir, "errors.json");
    const good = [{ constant: "JSFooErr", code: 400, error_code: 10001, description: "foo failed", comment: "", help: "Try bar", url: "", deprecates: "" }];
    fs.writeFileSync(file, JSON.stringify(good));
    let r = await home.exec(["errors", "validate", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Validated 1 errors/);
    r = await home.exec(["errors", "--errors", file, "lookup", "10001"]);
    assert.match(r.stdout, /Try bar/);

    fs.writeFileSync(file, JSON.stringify([...good, { constant: "JSBadErr", code: 0, error_code: 10002, description: "bad {x" }]));
    r = await home.exec(["errors", "validate", file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /10002 failed: code is require, unmatched number of \{ and \}, constants for errors with tokens must end in F/);
    assert.match(r.stderr, /errors\.json is invalid/);
    r = await home.exec(["errors", "validate"]);
    assert.match(r.stderr, /errors file is required/);

    // edit: the "editor" rewrites the entry it is given.
    fs.writeFileSync(file, JSON.stringify(good));
    const editor = path.join(home.dir, "editor.js");
    fs.writeFileSync(editor, `const fs = require("fs"); const f = process.argv[2]; const e = JSON.parse(fs.readFileSync(f, "utf8")); e.constant = "JSNewErr"; e.code = 503; e.description = "new failure"; fs.writeFileSync(f, JSON.stringify(e));\n`);
    r = await home.exec(["errors", "edit", file], { env: { EDITOR: `${process.execPath} ${editor}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Validated 2 errors/);
    const after = JSON.parse(fs.readFileSync(file, "utf8")) as { error_code: number; constant: string }[];
    assert.deepEqual(after.map((e) => [e.error_code, e.constant]), [[10001, "JSFooErr"], [10002, "JSNewErr"]], "a new entry gets the next code");
    r = await home.exec(["errors", "edit", file, "10001"], { env: { EDITOR: `${process.execPath} ${editor}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(fs.readFileSync(file, "utf8")) as { constant: string }[])[0].constant, "JSNewErr", "an existing entry is replaced");
    r = await home.exec(["errors", "edit", file], { env: { EDITOR: "" } });
    assert.match(r.stderr, /set EDITOR/);
  });
});
