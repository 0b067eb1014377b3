// The harness runs one external tool after another; nothing here is served
// concurrently, so synchronous file work is plain.
// deno-lint-ignore-file no-sync-fn-in-async-fn
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

/** The host's static busybox (busybox-static installs it in either place). */
export function busyboxPath(): string {
  return exists("/bin/busybox") ? "/bin/busybox" : "/usr/bin/busybox";
}

/**
 * Copies this Deno binary into `root` under each of `names` (byte-identical
 * copies: separate page cache each), and every library `ldd` lists for it
 * at the same path under `root`.
 */
export async function copyDeno(root: string, names: string[]): Promise<void> {
  const deno = Deno.realPathSync(Deno.execPath());
  for (const name of names) {
    Deno.copyFileSync(deno, `${root}/${name}`);
    Deno.chmodSync(`${root}/${name}`, 0o755);
  }
  for (const line of (await sh(`ldd '${deno}'`)).split("\n")) {
    const match = /(\/\S+\.so[.\d]*)/.exec(line);
    if (!match) continue;
    const target = `${root}${match[1]}`;
    Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    Deno.copyFileSync(Deno.realPathSync(match[1]), target);
  }
}

/** `dist/oomwatch` into `root`, where it has been compiled (`deno task compile`). */
export function copyCompiled(root: string): void {
  const compiled = `${REPO}dist/oomwatch`;
  if (!exists(compiled)) return;
  Deno.copyFileSync(compiled, `${root}/oomwatch`);
  Deno.chmodSync(`${root}/oomwatch`, 0o755);
}
