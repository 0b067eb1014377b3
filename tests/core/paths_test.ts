import assert from "node:assert/strict";
import { basename, dirname } from "../../src/core/paths.ts";

Deno.test("dirname() and basename() split absolute paths", () => {
  assert.equal(dirname("/var/lib/oomflag"), "/var/lib");
  assert.equal(dirname("/oomflag"), "/");
  assert.equal(dirname("/"), "/");
  assert.equal(dirname("/a/b/"), "/a");
  assert.equal(dirname("relative"), ".");
  assert.equal(basename("/var/lib/oomflag"), "oomflag");
  assert.equal(basename("/oomflag"), "oomflag");
  assert.equal(basename("/a/b/"), "b");
});
