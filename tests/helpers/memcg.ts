/**
 * A child memory cgroup with a limit, for real OOM kills that cannot reach
 * the rest of the machine. Works on cgroup v1 (`memory.limit_in_bytes`,
 * this machine) and v2 (`memory.max`, the VM suite).
 *
 * A hog is started only after the limit is read back and confirmed, and it
 * enters the cgroup before it allocates anything.
 */

import type { Need } from "./privilege.ts";

export type CgroupVersion = 1 | 2;

interface CgroupRoot {
  version: CgroupVersion;
  /** The directory of this process's own memory cgroup. */
  parent: string;
}

/** Where this process's memory cgroup is, or why there is none to use. */
export function findMemoryCgroup(): CgroupRoot | string {
  let lines: string[];
  try {
    lines = Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n");
  } catch (error) {
    return `cannot read /proc/self/cgroup: ${error}`;
  }
  for (const line of lines) {
    const [, controllers, path] = line.split(":");
    if (controllers?.split(",").includes("memory")) {
      const parent = `/sys/fs/cgroup/memory${path === "/" ? "" : path}`;
      return isDirectory(parent)
        ? { version: 1, parent }
        : `cgroup v1 memory directory ${parent} is missing`;
    }
  }
  const unified = lines.find((line) => line.startsWith("0::"));
  if (unified) {
    const path = unified.slice(3);
    const parent = `/sys/fs/cgroup${path === "/" ? "" : path}`;
    try {
      const controllers = Deno.readTextFileSync(
        `${parent}/cgroup.controllers`,
      );
      if (controllers.split(/\s+/).includes("memory")) {
        return { version: 2, parent };
      }
    } catch {
      // reported below
    }
  }
  return "no memory cgroup controller (v1 or v2) available to this process";
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

export const MEMCG: Need = {
  name: "memory cgroup",
  missing: () => {
    if (Deno.uid() !== 0) return "creating cgroups needs root";
    const found = findMemoryCgroup();
    return typeof found === "string" ? found : null;
  },
};

export class MemoryCgroup {
  readonly path: string;
  readonly version: CgroupVersion;
  readonly limitBytes: number;

  private constructor(path: string, version: CgroupVersion, limit: number) {
    this.path = path;
    this.version = version;
    this.limitBytes = limit;
  }

  /** Creates a child cgroup and confirms its memory limit is in place. */
  static create(limitBytes: number): MemoryCgroup {
    const root = findMemoryCgroup();
    if (typeof root === "string") throw new Error(root);
    if (root.version === 2) {
      const control = `${root.parent}/cgroup.subtree_control`;
      if (!Deno.readTextFileSync(control).split(/\s+/).includes("memory")) {
        Deno.writeTextFileSync(control, "+memory");
      }
    }
    const path = `${root.parent}/oomwatch-test-${Deno.pid}-${
      crypto.randomUUID().slice(0, 8)
    }`;
    Deno.mkdirSync(path);
    const cgroup = new MemoryCgroup(path, root.version, limitBytes);
    try {
      const limitFile = cgroup.#limitFile();
      Deno.writeTextFileSync(limitFile, String(limitBytes));
      const confirmed = Number(Deno.readTextFileSync(limitFile).trim());
      if (confirmed !== limitBytes) {
        throw new Error(
          `${limitFile} reads ${confirmed} after writing ${limitBytes}`,
        );
      }
      if (root.version === 1) {
        // No swap here, but a v1 memcg may otherwise swap instead of OOM.
        try {
          Deno.writeTextFileSync(`${path}/memory.swappiness`, "0");
        } catch {
          // not settable on every kernel
        }
      } else {
        try {
          Deno.writeTextFileSync(`${path}/memory.swap.max`, "0");
        } catch {
          // no swap accounting
        }
      }
    } catch (error) {
      cgroup.destroy();
      throw error;
    }
    return cgroup;
  }

  #limitFile(): string {
    return this.version === 1
      ? `${this.path}/memory.limit_in_bytes`
      : `${this.path}/memory.max`;
  }

  /** The cgroup's path as the kernel log names it (relative to the hierarchy). */
  get kernelName(): string {
    const prefix = this.version === 1
      ? "/sys/fs/cgroup/memory"
      : "/sys/fs/cgroup";
    return this.path.slice(prefix.length);
  }

  /**
   * Runs a process that joins this cgroup, then tries to allocate twice the
   * limit, and is OOM-killed. Resolves to its exit status.
   */
  async runHog(): Promise<Deno.CommandStatus> {
    const limit = Number(
      Deno.readTextFileSync(this.#limitFile()).trim(),
    );
    if (limit !== this.limitBytes) {
      throw new Error(`refusing to start a hog: limit reads ${limit}`);
    }
    const bytes = this.limitBytes * 2;
    // `sh` moves itself in and only then execs the allocator.
    const command = new Deno.Command("sh", {
      args: [
        "-c",
        `echo $$ > "$1/cgroup.procs" && exec python3 -c 'bytearray(${bytes})'`,
        "hog",
        this.path,
      ],
      stdout: "null",
      stderr: "null",
    });
    return await command.output();
  }

  /**
   * Runs hogs one after another, each OOM-killed, until `done` says so or
   * `limitMs` passes. Resolves to the number of kills.
   */
  async killUntil(done: () => boolean, limitMs = 20_000): Promise<number> {
    const until = Date.now() + limitMs;
    let kills = 0;
    while (!done() && Date.now() < until) {
      if ((await this.runHog()).signal === "SIGKILL") kills += 1;
    }
    return kills;
  }

  /** Kills whatever is left inside and removes the cgroup. */
  destroy(): void {
    for (let attempt = 0; attempt < 50; attempt++) {
      let pids: string[] = [];
      try {
        pids = Deno.readTextFileSync(`${this.path}/cgroup.procs`).trim()
          .split("\n").filter((pid) => pid !== "");
      } catch {
        return; // already gone
      }
      for (const pid of pids) {
        try {
          Deno.kill(Number(pid), "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      try {
        Deno.removeSync(this.path);
        return;
      } catch {
        // tasks still exiting; try again
      }
      const until = Date.now() + 20;
      while (Date.now() < until) {
        // brief spin: destroy runs in finally blocks, where await is awkward
      }
    }
    console.error(`could not remove cgroup ${this.path}`);
  }
}

/** mm/oom_kill.c's `oom_rs`: DEFAULT_RATELIMIT_INTERVAL (5 s). */
const OOM_REPORT_WINDOW_S = 5;
/** A margin over the window. */
const WINDOW_SLACK_S = 0.5;

/** The kernel log's records as dmesg prints them: `[seconds] text`, in order. */
async function kernelLogLines(): Promise<{ at: number; text: string }[]> {
  const output = await new Deno.Command("dmesg", {
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `dmesg failed (${new TextDecoder().decode(output.stderr).trim()})`,
    );
  }
  return text.split("\n").flatMap((line) => {
    const stamp = /\[\s*(\d+\.\d+)\]\s?(.*)$/.exec(line);
    return stamp ? [{ at: Number(stamp[1]), text: stamp[2] ?? "" }] : [];
  });
}

/**
 * Waits until no OOM kill line of the last 5 s is in the kernel log (at
 * most `timeoutMs`): mm/oom_kill.c prints a report's header and summary —
 * the record naming the cgroup — at most 10 times per 5 s (`oom_rs`), the
 * kill line always, and that budget is the machine's, not a test's. A test
 * whose premise is a full report of its own kill (its cgroup named, without
 * the tracepoint's read of the victim's cgroup) calls this first, so an
 * earlier test's burst of kills cannot take the report away. After 5 s
 * without a kill every window that held one has run out. "Now" is a marker
 * record this writes to the log: printk's own clock, which a suspend does
 * not advance (/proc/uptime's does).
 */
export async function awaitFullOomReports(timeoutMs = 8_000): Promise<void> {
  const marker =
    `oomwatch-test: OOM report budget probe ${crypto.randomUUID()}`;
  await Deno.writeTextFile("/dev/kmsg", `${marker}\n`);
  const startedMs = performance.now();
  const lines = await kernelLogLines();
  const markedAt = lines.find((line) => line.text.includes(marker))?.at;
  if (markedAt === undefined) {
    throw new Error(
      "dmesg shows no timestamped marker record (printk.time=0?): cannot tell the OOM report rate limit's state",
    );
  }
  for (;;) {
    const now = markedAt + (performance.now() - startedMs) / 1000;
    const kills = (await kernelLogLines()).filter((line) =>
      /Killed process \d+/.test(line.text)
    );
    const last = kills.at(-1)?.at;
    if (
      last === undefined || now - last > OOM_REPORT_WINDOW_S + WINDOW_SLACK_S
    ) {
      return;
    }
    if (performance.now() - startedMs > timeoutMs) {
      throw new Error(
        `an OOM kill ${
          (now - last).toFixed(1)
        } s ago still holds the kernel's OOM report rate limit`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
