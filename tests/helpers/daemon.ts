/**
 * Runs the real daemon as a child process, with exactly the flags of the
 * `start` task, and watches it from outside: its log, its `VmLck`.
 */

import { ENTRY_PATH, runFlags } from "../../scripts/run_flags.ts";

const MIB = 1024 * 1024;

/** Polls `condition` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A field of /proc/<pid>/status in bytes, or null when the process is gone. */
export function statusBytes(pid: number, field: string): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface DaemonOptions {
  env?: Record<string, string>;
  /** A command and arguments to run deno under (prlimit, setpriv, …). */
  wrapper?: string[];
}

export class DaemonProcess {
  readonly child: Deno.ChildProcess;
  #stderr = "";
  #reading: Promise<void>;
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(args: string[], options: DaemonOptions = {}) {
    const wrapper = options.wrapper ?? [];
    const argv = [
      ...wrapper,
      Deno.execPath(),
      "run",
      ...runFlags(),
      ENTRY_PATH,
      ...args,
    ];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env ?? {},
    }).spawn();
    this.#reading = this.#collect();
    this.exited = this.child.status;
    void this.child.stdout.pipeTo(new WritableStream());
  }

  async #collect(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.child.stderr) {
      this.#stderr += decoder.decode(chunk, { stream: true });
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Everything the daemon logged so far. */
  get log(): string {
    return this.#stderr;
  }

  /** Waits until the log matches `pattern`; returns the match. */
  waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return waitFor(
      `log line ${pattern}\n--- log so far ---\n${this.#stderr}`,
      () => pattern.exec(this.#stderr) ?? undefined,
      timeoutMs,
    );
  }

  /** Locked memory of the daemon in MiB (0 when it has none, null when gone). */
  lockedMiB(): number | null {
    const bytes = statusBytes(this.pid, "VmLck");
    return bytes === null ? null : bytes / MIB;
  }

  /** Waits until VmLck is `mib` (±1). */
  waitForLocked(mib: number, timeoutMs = 10_000): Promise<number> {
    return waitFor(
      `VmLck of ${mib} MiB (now ${this.lockedMiB()})\n${this.#stderr}`,
      () => {
        const locked = this.lockedMiB();
        return locked !== null && Math.abs(locked - mib) <= 1
          ? locked
          : undefined;
      },
      timeoutMs,
    );
  }

  /** SIGTERM, then the exit status and the whole log. */
  async stop(): Promise<{ status: Deno.CommandStatus; log: string }> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already exited
    }
    const status = await this.exited;
    await this.#reading;
    return { status, log: this.#stderr };
  }

  /** Waits for the process to exit on its own. */
  async finished(): Promise<{ status: Deno.CommandStatus; log: string }> {
    const status = await this.exited;
    await this.#reading;
    return { status, log: this.#stderr };
  }

  /** Makes sure nothing is left running (for finally blocks). */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.exited;
    await this.#reading;
  }
}

/** A fresh temporary directory for crash flags and trigger files. */
export function temporaryDirectory(): string {
  return Deno.makeTempDirSync({ prefix: "oomwatch-test-" });
}
