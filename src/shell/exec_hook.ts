/**
 * `--exec-on-oom`: a user's command run after an episode's start, detached
 * (the daemon does not wait), killed after a timeout, with the event in its
 * environment. Its failure is logged and changes nothing else.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** How long an --exec-on-oom command may run. */
export const EXEC_TIMEOUT_MS = 60_000;

let running = 0;

/**
 * Commands started and not yet finished: their timeout and their end are
 * the event loop's work, so the daemon's wait must leave it free meanwhile.
 */
export function execHooksRunning(): number {
  return running;
}

/** Starts `sh -c command` with `env` added; returns at once. */
export function runExecOnOom(
  command: string,
  env: Record<string, string>,
  log: Logger,
): void {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("/bin/sh", {
      args: ["-c", command],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env,
    }).spawn();
  } catch (error) {
    log.error(`cannot start '${command}': ${error}`);
    return;
  }
  running += 1;
  const timer = setTimeout(() => {
    log.error(
      `'${command}' still runs after ${EXEC_TIMEOUT_MS / 1000} s: killing it`,
    );
    try {
      child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
  }, EXEC_TIMEOUT_MS);
  const stderr = new Response(child.stderr).text();
  void child.status.then(async (status) => {
    running -= 1;
    clearTimeout(timer);
    const output = (await stderr).trim().slice(0, 2000);
    if (status.success) {
      log.info(`'${command}' finished`);
    } else {
      log.error(
        `'${command}' failed (${
          status.signal ? `signal ${status.signal}` : `exit ${status.code}`
        })${output ? `: ${output}` : ""}`,
      );
    }
  });
}
