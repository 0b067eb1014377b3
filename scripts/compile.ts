/**
 * `deno task compile`: builds `dist/oomwatch` with exactly the Deno flags of
 * the `start` task, then checks the result honestly: `dist/oomwatch
 * --version` must print the program's own version string (a binary built on
 * the wrong runtime base starts a REPL and exits 0, so the exit code alone
 * proves nothing).
 *
 * `deno task compile --output PATH` writes the binary to PATH instead.
 *
 * Offline, `deno compile` needs the runtime base `denort` of this Deno's
 * exact version: set DENORT_BIN to it (see README).
 *
 * @module
 */

import { ENTRY_PATH, runFlags } from "./run_flags.ts";
import { VERSION } from "../src/version.ts";

// `--output PATH` builds elsewhere (the tests do, to leave dist/ alone).
const outputFlag = Deno.args.indexOf("--output");
const OUTPUT = outputFlag >= 0 && Deno.args[outputFlag + 1]
  ? Deno.args[outputFlag + 1]
  : new URL("../dist/oomwatch", import.meta.url).pathname;

async function run(
  command: string,
  args: string[],
): Promise<Deno.CommandOutput> {
  return await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).output();
}

async function main(): Promise<number> {
  // A small V8 heap limit also binds the type checker inside compile, so
  // check separately and compile with --no-check.
  const check = await run(Deno.execPath(), ["check", ENTRY_PATH]);
  if (!check.success) {
    console.error("compile: type check failed");
    return 1;
  }
  const flags = runFlags();
  const compile = await run(Deno.execPath(), [
    "compile",
    "--no-check",
    ...flags,
    "--output",
    OUTPUT,
    ENTRY_PATH,
  ]);
  if (!compile.success) {
    console.error(
      "compile: deno compile failed. Without internet access it needs the runtime base " +
        `'denort' of Deno ${Deno.version.deno}: set DENORT_BIN=/path/to/denort (unzipped from ` +
        `denort-<target>.zip of the same release) and run 'deno task compile' again`,
    );
    return 1;
  }
  const version = await run(OUTPUT, ["--version"]);
  const printed = new TextDecoder().decode(version.stdout).trim();
  const expected = `oomwatch ${VERSION}`;
  if (!version.success || printed !== expected) {
    console.error(
      `compile: ${OUTPUT} --version printed '${printed}', expected '${expected}'. ` +
        "The binary is not oomwatch (was DENORT_BIN the full deno binary rather than denort?); removing it",
    );
    await Deno.remove(OUTPUT).catch(() => {});
    return 1;
  }
  console.log(
    `compile: built ${OUTPUT} (${expected}) with flags: ${flags.join(" ")}`,
  );
  return 0;
}

Deno.exit(await main());
