/**
 * What the VM harness runs on the host: shell commands and file checks.
 *
 * @module
 */

export const REPO = new URL("../..", import.meta.url).pathname;
export const CACHE = `${REPO}.e2e-cache`;

/** Runs `command` with sh; its stdout, or an error naming its stderr. */
export async function sh(
  command: string,
  options: { cwd?: string; allowFail?: boolean } = {},
): Promise<string> {
  const output = await new Deno.Command("sh", {
    args: ["-c", command],
    cwd: options.cwd ?? REPO,
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success && !options.allowFail) {
    throw new Error(
      `'${command}' failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return text;
}

export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
