/**
 * oomwatch must start on a machine that reaches no package registry: its
 * module graph needs no download (test-only packages are imported by the
 * tests alone), whatever the Deno cache holds and whoever runs it.
 */

import assert from "node:assert/strict";
import { ENTRY_PATH, runFlags } from "../scripts/run_flags.ts";
import { VERSION } from "../src/version.ts";
import { commandsNeed, privilegedTest, ROOT } from "./helpers/privilege.ts";

/** A registry address where nothing listens: any download fails at once. */
const UNREACHABLE = "http://127.0.0.1:9/";

async function version(
  wrapper: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [
    ...wrapper,
    Deno.execPath(),
    "run",
    ...runFlags(),
    ENTRY_PATH,
    "--version",
  ];
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { NPM_CONFIG_REGISTRY: UNREACHABLE, ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("oomwatch --version runs with an empty Deno cache and no registry reachable", async () => {
  const denoDir = await Deno.makeTempDir({
    prefix: "oomwatch-empty-deno-dir-",
  });
  try {
    const result = await version([], { DENO_DIR: denoDir, HOME: denoDir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `oomwatch ${VERSION}`);
    assert.doesNotMatch(result.stderr, /Download|Failed caching/);
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});

privilegedTest(
  "oomwatch --version runs as nobody with root's HOME (a cache it cannot read or write)",
  [ROOT, commandsNeed(["setpriv"], "util-linux")],
  async () => {
    const result = await version(
      ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"],
      { HOME: "/root", PATH: "/usr/bin:/bin" },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `oomwatch ${VERSION}`);
  },
);
