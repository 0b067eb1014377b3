/**
 * The Deno flags the daemon runs with, read from the `start` task of
 * deno.json: the one place they are written. The compile task bakes the same
 * flags into the binary, and the tests start the daemon with them.
 *
 * @module
 */

const ENTRY = "src/main.ts";

/** The flags between `deno run` and the entry module in the `start` task. */
export function runFlags(): string[] {
  const denoJson: unknown = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  const start = (denoJson as { tasks?: { start?: unknown } }).tasks?.start;
  if (typeof start !== "string") {
    throw new Error("deno.json has no 'start' task");
  }
  const words = start.trim().split(/\s+/);
  const run = words.indexOf("run");
  const entry = words.indexOf(ENTRY);
  if (words[0] !== "deno" || run !== 1 || entry < run) {
    throw new Error(
      `deno.json 'start' task must read 'deno run FLAGS ${ENTRY}', found '${start}'`,
    );
  }
  return words.slice(run + 1, entry);
}

/** Absolute path of the entry module. */
export const ENTRY_PATH: string =
  new URL(`../${ENTRY}`, import.meta.url).pathname;
