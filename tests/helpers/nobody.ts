/**
 * What an attacker with a shell account does: runs `sh -c` as `nobody`
 * (real uid and gid changed, no groups), so the files it plants are really
 * someone else's.
 */

import { commandsNeed, type Need } from "./privilege.ts";

export const SETPRIV: Need = commandsNeed(["setpriv"], "util-linux");

/** Runs `script` as nobody (`$1`, `$2`… from `args`); throws when it fails. */
export async function asNobody(
  script: string,
  ...args: string[]
): Promise<void> {
  const output = await new Deno.Command("setpriv", {
    args: [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "--",
      "sh",
      "-c",
      script,
      "nobody",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `as nobody: '${script}' failed: ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
}

/** A directory anyone may write in but none may remove others' files from (/tmp's mode). */
export function stickyDirectory(parent: string, name: string): string {
  const path = `${parent}/${name}`;
  Deno.mkdirSync(path);
  Deno.chmodSync(path, 0o1777);
  return path;
}
