/**
 * `--exec-on-oom`: a user's command run after an episode's start, detached
 * (the daemon does not wait), its process group killed when the shell still
 * runs at the timeout, with the event in its environment. Its failure is
 * logged and changes nothing else.
 *
 * @module
 */

import { escapeControl } from "../core/text.ts";
import type { Logger } from "./log.ts";

/** How long an --exec-on-oom command may run. */
export const EXEC_TIMEOUT_MS = 60_000;

/** How much of a command's stderr is kept for the log line. */
const OUTPUT_MAX_BYTES = 2000;

/**
 * How long after the command's exit its stderr may still be read: a child
 * it left in the background can hold the pipe open for good.
 */
const OUTPUT_GRACE_MS = 1_000;

/**
 * The first `max` bytes a command writes to `stream`; the rest is not read
 * (the pipe is closed, so a writer gets EPIPE): whatever a hook prints, the
 * daemon keeps no more than this, during an OOM episode of all times.
 */
class OutputStart {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>, max: number) {
    const reader = stream.getReader();
    this.#reader = reader;
    this.done = (async () => {
      try {
        while (this.#bytes < max) {
          const { value, done } = await reader.read();
          if (done) return;
          // A copy: a view would keep the whole read buffer alive.
          const take = value.slice(0, max - this.#bytes);
          this.#chunks.push(take);
          this.#bytes += take.length;
        }
        await reader.cancel();
      } catch {
        // the pipe broke: what was read is what there is
      }
    })();
  }

  /** Stops reading: the pipe is closed, whoever still holds its other end. */
  stop(): void {
    this.#reader.cancel().catch(() => {});
  }

  /** What was read so far, decoded (a cut character becomes U+FFFD). */
  text(): string {
    const all = new Uint8Array(this.#bytes);
    let at = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    return new TextDecoder().decode(all);
  }
}

let running = 0;

/**
 * Commands started and not yet finished: their timeout and their end are
 * the event loop's work, so the daemon's wait must leave it free meanwhile.
 */
export function execHooksRunning(): number {
  return running;
}

/**
 * Starts `sh -c command` with `env` added; returns at once. After
 * `timeoutMs` the command's process group is killed.
 */
export function runExecOnOom(
  command: string,
  env: Record<string, string>,
  log: Logger,
  timeoutMs: number = EXEC_TIMEOUT_MS,
): void {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("/bin/sh", {
      args: ["-c", command],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env,
      // Deno starts a detached child with setsid(2): the shell leads a
      // process group of its own, so the timeout can kill what it started
      // too (a SIGKILL to sh alone leaves its children running).
      detached: true,
    }).spawn();
  } catch (error) {
    log.error(`cannot start '${command}': ${error}`);
    return;
  }
  running += 1;
  const timer = setTimeout(() => {
    log.error(
      `'${command}' still runs after ${
        timeoutMs / 1000
      } s: killing it and the processes it started`,
    );
    try {
      // kill(2) with -pgid: the group is the shell's own (setsid above).
      // Its id is the shell's pid, which Linux does not hand out again
      // while any process is still in that group (the pid stays in use as
      // the group's); with none left, ESRCH and the fallback below.
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
  }, timeoutMs);
  const stderr = new OutputStart(child.stderr, OUTPUT_MAX_BYTES);
  void child.status.then(async (status) => {
    running -= 1;
    clearTimeout(timer);
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      stderr.done,
      new Promise((resolve) => grace = setTimeout(resolve, OUTPUT_GRACE_MS)),
    ]);
    clearTimeout(grace);
    stderr.stop();
    // A command's output is anyone's text: one log line, control bytes
    // escaped (a newline would forge a journal record of its own).
    const output = escapeControl(stderr.text().trim());
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
