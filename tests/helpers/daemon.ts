/**
 * Runs the real daemon as a child process, with exactly the flags of the
 * `start` task, and watches it from outside: its log, its `VmLck`.
 *
 * Safety: every daemon and command started here has its panic action
 * pointed at a temporary file (OOMWATCH_SYSRQ_TRIGGER, which also keeps the
 * libc reboot fallback from ever being called) and, as root, runs without
 * CAP_SYS_BOOT, so nothing it does can reach reboot(2).
 */

import { ENTRY_PATH, runFlags } from "../../scripts/run_flags.ts";
import { readStatusBytes } from "../../src/shell/procfs.ts";
import { MemoryCgroup } from "./memcg.ts";
import { hasCommand } from "./privilege.ts";

const MIB = 1024 * 1024;

let sharedDirectory: string | null = null;

/** A trigger file for daemons whose test gives none (removed at exit). */
function defaultSysrqTrigger(): string {
  if (sharedDirectory === null) {
    const dir = Deno.makeTempDirSync({ prefix: "oomwatch-sysrq-" });
    sharedDirectory = dir;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
  }
  return `${sharedDirectory}/sysrq-trigger`;
}

/** The environment of a test's daemon: always a temporary SysRq trigger. */
export function testEnvironment(
  env: Record<string, string> = {},
): Record<string, string> {
  return { OOMWATCH_SYSRQ_TRIGGER: defaultSysrqTrigger(), ...env };
}

/** As root: drop CAP_SYS_BOOT from the bounding set, so reboot(2) is refused. */
export function withoutSysBoot(argv: string[]): string[] {
  return Deno.uid() === 0 && hasCommand("setpriv")
    ? ["setpriv", "--bounding-set=-sys_boot", "--", ...argv]
    : argv;
}

/**
 * Polls `condition` until it returns a value: undefined, null, false and the
 * empty string (a file read before its writer wrote) mean "not yet".
 */
export async function waitFor<T>(
  what: string,
  condition: () =>
    | T
    | undefined
    | null
    | false
    | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await condition();
    if (
      value !== undefined && value !== null && value !== false && value !== ""
    ) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
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
    const argv = withoutSysBoot([
      ...wrapper,
      Deno.execPath(),
      "run",
      ...runFlags(),
      ENTRY_PATH,
      ...args,
    ]);
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: testEnvironment(options.env),
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
    const bytes = readStatusBytes(this.pid, "VmLck");
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

/**
 * A kernel log that never wakes the daemon: an empty regular file (poll
 * cannot wait on it), for tests that edit a live daemon's status file.
 */
export function quietKernelLog(dir: string): string {
  const path = `${dir}/quiet-kmsg`;
  Deno.writeTextFileSync(path, "");
  return path;
}

/** A fresh temporary directory for crash flags and trigger files. */
export function temporaryDirectory(): string {
  return Deno.makeTempDirSync({ prefix: "oomwatch-test-" });
}

/** Everything one test sets up, cleaned up however the test ends. */
export interface Scenario {
  /** A fresh temporary directory. */
  dir: string;
  /** `${dir}/flag`, passed to every daemon as --crashflag-name. */
  flag: string;
  /** `${dir}/status.json`, passed to every daemon as --status-file. */
  statusFile: string;
  /** Runs `oomwatch ARGS` with the scenario's files (check, status). */
  cli(args: string[]): Promise<CliResult>;
  /** A child memory cgroup, when asked for. */
  cgroup: MemoryCgroup;
  /** Starts a daemon with `args` and --crashflag-name; killed at the end. */
  start(args: string[], options?: DaemonOptions): DaemonProcess;
}

/**
 * Runs `body` with a temporary directory (and a memory cgroup of
 * `cgroupLimit` bytes when given), then kills every daemon it started and
 * removes the cgroup and the directory, whether `body` passed or threw.
 */
export async function withScenario(
  cgroupLimit: number | null,
  body: (scenario: Scenario) => Promise<void>,
): Promise<void> {
  const dir = temporaryDirectory();
  const daemons: DaemonProcess[] = [];
  let cgroup: MemoryCgroup | null = null;
  try {
    if (cgroupLimit !== null) cgroup = MemoryCgroup.create(cgroupLimit);
    const flag = `${dir}/flag`;
    const statusFile = `${dir}/status.json`;
    /** The scenario's crash flag and status file, unless `args` name their own. */
    const scenarioFiles = (args: string[]): string[] => [
      ...(args.includes("--crashflag-name") ? [] : ["--crashflag-name", flag]),
      ...(args.includes("--status-file") ? [] : ["--status-file", statusFile]),
    ];
    await body({
      statusFile,
      cli: (args: string[]) =>
        runCli([...args, ...scenarioFiles(args)], {
          OOMWATCH_SYSRQ_TRIGGER: `${dir}/sysrq`,
        }),
      dir,
      flag,
      get cgroup(): MemoryCgroup {
        if (!cgroup) throw new Error("this scenario has no cgroup");
        return cgroup;
      },
      start(args: string[], options: DaemonOptions = {}): DaemonProcess {
        const daemon = new DaemonProcess(
          [...args, ...scenarioFiles(args)],
          {
            ...options,
            env: { OOMWATCH_SYSRQ_TRIGGER: `${dir}/sysrq`, ...options.env },
          },
        );
        daemons.push(daemon);
        return daemon;
      },
    });
  } finally {
    for (const daemon of daemons) await daemon.kill();
    cgroup?.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `oomwatch ARGS` to completion with the start task's flags. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const argv = withoutSysBoot([
    Deno.execPath(),
    "run",
    ...runFlags(),
    ENTRY_PATH,
    ...args,
  ]);
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    env: testEnvironment(env),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
