// The measurement loops read /proc synchronously on purpose: an await
// between two readings would add the event loop's delay to what is measured.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * `deno task bench`: what oomwatch costs and how fast it reacts, measured on
 * this machine, beside its peers in the same run. Prints a table and writes
 * bench/results.json.
 *
 * 1. Reaction latency over real OOM kills in a child memory cgroup
 *    (`--memcg-oom`), per wake path (the oom:mark_victim tracepoint, the
 *    kernel log) and reserve backing (locked, tmpfs), round-robin in one
 *    run: the daemon's own figure and an outside one (scripts/bench/).
 * 2. Idle cost over 60 s, side by side: oomwatch (with and without the
 *    tracepoint), earlyoom --dryrun, nohang --monitor, and a bare Deno
 *    process with a 5 s timer: CPU ticks, voluntary context switches of all
 *    threads, RSS.
 * 3. Time from start to reserve armed.
 *
 * `deno task bench [latency] [idle] [start]` runs only those parts. Needs
 * root, a memory cgroup and tracefs (it mounts none: see the README);
 * installs earlyoom and nohang from Debian.
 *
 * @module
 */

import { readLockedBytes, readStatusBytes } from "../src/shell/procfs.ts";
import { DaemonProcess, waitFor } from "../tests/helpers/daemon.ts";
import { hasCommand } from "../tests/helpers/privilege.ts";
import { type Kill, LATENCY_CONFIGS, measureLatency } from "./bench/latency.ts";
import { ENTRY_PATH, runFlags } from "./run_flags.ts";

const MIB = 1024 * 1024;
const KILLS = Number(Deno.env.get("BENCH_KILLS") ?? 20);
const IDLE_SECONDS = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? 60);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(
    sorted.length - 1,
    Math.ceil((p / 100) * sorted.length) - 1,
  );
  return sorted[Math.max(0, index)];
}

async function installPeers(): Promise<void> {
  if (hasCommand("earlyoom") && hasCommand("nohang")) return;
  console.error("bench: installing earlyoom and nohang from Debian");
  for (
    const args of [["update", "-qq"], [
      "install",
      "-y",
      "-qq",
      "earlyoom",
      "nohang",
    ]]
  ) {
    const result = await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
    }).output();
    if (!result.success) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
}

// ---------------------------------------------------------------- idle cost

interface Watched {
  name: string;
  child: Deno.ChildProcess;
  /** Bytes to subtract from RSS (the reserve). */
  reserveBytes: number;
}

/**
 * A per-thread counter summed over a process's threads, sampled every second
 * so that threads which exit during the run still count up to their last
 * sample.
 */
class ThreadTotals {
  #first = new Map<string, number>();
  #last = new Map<string, number>();
  #started = false;
  constructor(
    readonly pid: number,
    readonly read: (taskDir: string) => number,
  ) {}
  sample(): void {
    let tids: string[] = [];
    try {
      tids = [...Deno.readDirSync(`/proc/${this.pid}/task`)].map((e) => e.name);
    } catch {
      return;
    }
    for (const tid of tids) {
      try {
        const value = this.read(`/proc/${this.pid}/task/${tid}`);
        if (!this.#first.has(tid)) {
          this.#first.set(tid, this.#started ? 0 : value);
        }
        this.#last.set(tid, value);
      } catch {
        // thread exited between the listing and the read
      }
    }
  }
  start(): void {
    this.sample();
    this.#started = true;
  }
  total(): number {
    let sum = 0;
    for (const [tid, last] of this.#last) {
      sum += last - (this.#first.get(tid) ?? 0);
    }
    return sum;
  }
}

const voluntarySwitches = (taskDir: string): number =>
  Number(
    /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(
      Deno.readTextFileSync(`${taskDir}/status`),
    )?.[1] ?? 0,
  );

/** Nanoseconds on a CPU (first field of schedstat): finer than clock ticks. */
const cpuNanoseconds = (taskDir: string): number =>
  Number(Deno.readTextFileSync(`${taskDir}/schedstat`).split(" ")[0]);

function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

interface IdleRow {
  name: string;
  cpuTicks: number;
  cpuMs: number;
  wakeupsPerSecond: number;
  rssMiB: number;
  rssWithoutReserveMiB: number;
  lockedMiB: number;
}

async function measureIdle(): Promise<IdleRow[]> {
  const dir = Deno.makeTempDirSync({ prefix: "oomwatch-bench-" });
  Deno.writeTextFileSync(`${dir}/idle.ts`, "setInterval(() => {}, 5000);\n");
  const spawn = (command: string, args: string[]) =>
    new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const flags = runFlags();
  const oomwatch = (name: string, extra: string[]): Watched => {
    Deno.mkdirSync(`${dir}/${name}`);
    return {
      name: `oomwatch${extra.length > 0 ? ` ${extra.join(" ")}` : ""}`,
      child: spawn(Deno.execPath(), [
        "run",
        ...flags,
        ENTRY_PATH,
        "--bufsize",
        "32",
        "--lock-code",
        "1",
        "--crashflag-name",
        `${dir}/${name}/flag`,
        "--status-file",
        `${dir}/${name}/status.json`,
        ...extra,
      ]),
      reserveBytes: 32 * MIB,
    };
  };
  const watched: Watched[] = [
    oomwatch("tracepoint", []),
    oomwatch("kernel-log", ["--tracepoint", "0"]),
    {
      name: "bare Deno (5 s timer)",
      child: spawn(Deno.execPath(), ["run", ...flags, `${dir}/idle.ts`]),
      reserveBytes: 0,
    },
    {
      name: "earlyoom --dryrun",
      child: spawn("earlyoom", ["--dryrun"]),
      reserveBytes: 0,
    },
    {
      name: "nohang --monitor",
      child: spawn("nohang", ["--monitor", "-c", "/etc/nohang/nohang.conf"]),
      reserveBytes: 0,
    },
  ];
  try {
    // Past start-up, and past the first PSI window: a trigger armed after a
    // quiet spell may fire once at once, and the daemon then reads pressure
    // every second for that window.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const counters = watched.map((w) =>
      new ThreadTotals(w.child.pid, voluntarySwitches)
    );
    const cpu = watched.map((w) =>
      new ThreadTotals(w.child.pid, cpuNanoseconds)
    );
    counters.forEach((c) => c.start());
    cpu.forEach((c) => c.start());
    const ticksBefore = watched.map((w) => cpuTicks(w.child.pid));
    for (let second = 0; second < IDLE_SECONDS; second++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      counters.forEach((c) => c.sample());
      cpu.forEach((c) => c.sample());
    }
    return watched.map((w, index) => {
      const rss = readStatusBytes(w.child.pid, "VmRSS") ?? 0;
      return {
        name: w.name,
        cpuTicks: cpuTicks(w.child.pid) - ticksBefore[index],
        cpuMs: cpu[index].total() / 1e6,
        wakeupsPerSecond: counters[index].total() / IDLE_SECONDS,
        rssMiB: rss / MIB,
        rssWithoutReserveMiB: (rss - w.reserveBytes) / MIB,
        lockedMiB: (readLockedBytes(w.child.pid) ?? 0) / MIB,
      };
    });
  } finally {
    for (const w of watched) {
      try {
        w.child.kill("SIGKILL");
      } catch {
        // exited
      }
      await w.child.status;
    }
    Deno.removeSync(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------- start

async function measureStart(): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const dir = Deno.makeTempDirSync({ prefix: "oomwatch-bench-" });
    const started = performance.now();
    const daemon = new DaemonProcess([
      "--bufsize",
      "32",
      "--crashflag-name",
      `${dir}/flag`,
      "--status-file",
      `${dir}/status.json`,
    ]);
    try {
      await waitFor(
        "the reserve",
        () => (readStatusBytes(daemon.pid, "VmLck") ?? 0) >= 32 * MIB,
        10_000,
        1,
      );
      times.push(performance.now() - started);
    } finally {
      await daemon.kill();
      Deno.removeSync(dir, { recursive: true });
    }
  }
  return times;
}

// ---------------------------------------------------------------- report

const fmt = (value: number, digits = 2) => value.toFixed(digits);

/** The latency table: one row per configuration, daemon and outside view. */
function latencyLines(kills: Kill[]): string[] {
  const lines = [
    `1. Reaction latency over real memcg OOM kills (--memcg-oom), ms from the kernel's mark_victim to the reserve released`,
    "| path, reserve | kills | daemon p50 | p90 | p99 | max | outside p50 | p90 | max | outside − daemon, worst | within 0.5 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const config of LATENCY_CONFIGS) {
    const rows = kills.filter((kill) => kill.config === config.name);
    if (rows.length === 0) continue;
    const daemon = rows.map((kill) => kill.daemonMs);
    const outside = rows.map((kill) => kill.outsideMs);
    const gaps = rows.map((kill) => kill.outsideMs - kill.daemonMs);
    const worst = gaps.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
    const agree = gaps.filter((gap) => Math.abs(gap) <= 0.5).length;
    lines.push(
      `| ${config.name} | ${rows.length} | ${
        fmt(percentile(daemon, 50), 3)
      } | ${fmt(percentile(daemon, 90), 3)} | ${
        fmt(percentile(daemon, 99), 3)
      } | ${fmt(Math.max(...daemon), 3)} | ${
        fmt(percentile(outside, 50), 3)
      } | ${fmt(percentile(outside, 90), 3)} | ${
        fmt(Math.max(...outside), 3)
      } | ${fmt(worst, 3)} | ${agree}/${rows.length} |`,
    );
  }
  const noisy = kills.filter((kill) => !kill.quiet).length;
  lines.push(
    `The daemon's figure runs from its own reference (the tracepoint's time, or the kill record's on the kernel-log path) to the release syscall returned. Outside: the earliest of two observers pinned one per CPU (SCHED_FIFO, 200 µs polls) saw the reserve drop (VmLck for locked: it drops when munmap starts; the tmpfs's used bytes for tmpfs), after the bench's own mark_victim time. ${noisy} of ${kills.length} kills came after a busy or noisy spell.`,
  );
  return lines;
}

async function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new Error("bench: needs root (memory cgroup, perf, /dev/kmsg)");
  }
  const parts = Deno.args.length > 0 ? Deno.args : ["latency", "idle", "start"];
  const lines: string[] = [
    `oomwatch benchmark, ${
      new Date().toISOString()
    }, Linux ${Deno.osRelease()}, Deno ${Deno.version.deno}`,
    "",
  ];
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    kernel: Deno.osRelease(),
  };
  if (parts.includes("latency")) {
    console.error(
      `bench: ${KILLS} OOM kills per path and reserve, in a child memory cgroup…`,
    );
    const kills = await measureLatency(LATENCY_CONFIGS, KILLS);
    results.latencies = kills;
    lines.push(...latencyLines(kills), "");
  }
  if (parts.includes("idle")) {
    await installPeers();
    console.error(`bench: idle cost over ${IDLE_SECONDS} s…`);
    const idle = await measureIdle();
    results.idle = idle;
    lines.push(...idleLines(idle), "");
  }
  if (parts.includes("start")) {
    console.error("bench: start to armed…");
    const starts = await measureStart();
    results.startMs = starts;
    lines.push(
      `3. Start to reserve armed (32 MiB, 5 runs): median ${
        fmt(percentile(starts, 50), 0)
      } ms, max ${fmt(Math.max(...starts), 0)} ms`,
    );
  }
  const table = lines.join("\n").trimEnd();
  console.log(table);
  Deno.mkdirSync(new URL("../bench", import.meta.url), { recursive: true });
  Deno.writeTextFileSync(
    new URL("../bench/results.json", import.meta.url),
    JSON.stringify(
      { ...results, table },
      (_key, value) => (typeof value === "bigint" ? String(value) : value),
      2,
    ) + "\n",
  );
}

function idleLines(idle: IdleRow[]): string[] {
  const bare = idle.find((row) => row.name.startsWith("bare Deno"))!;
  const earlyoom = idle.find((row) => row.name.startsWith("earlyoom"))!;
  const lines = [
    `2. Idle cost over ${IDLE_SECONDS} s, side by side, plenty of free memory`,
    "| process | CPU ticks | CPU ms | wake-ups/s | RSS MiB | RSS without reserve MiB | locked MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of idle) {
    lines.push(
      `| ${row.name} | ${row.cpuTicks} | ${fmt(row.cpuMs, 1)} | ${
        fmt(row.wakeupsPerSecond)
      } | ${fmt(row.rssMiB, 1)} | ${fmt(row.rssWithoutReserveMiB, 1)} | ${
        fmt(row.lockedMiB, 1)
      } |`,
    );
  }
  for (const row of idle.filter((row) => row.name.startsWith("oomwatch"))) {
    lines.push(
      `${row.name}: RSS without reserve / bare Deno RSS ${
        fmt(row.rssWithoutReserveMiB / bare.rssMiB)
      }×; wake-ups per 5 s heartbeat ${
        fmt(row.wakeupsPerSecond * 5)
      } (bare Deno with a 5 s timer: ${fmt(bare.wakeupsPerSecond * 5)}); CPU ${
        fmt(row.cpuMs, 1)
      } ms against earlyoom's ${fmt(earlyoom.cpuMs, 1)} ms (${
        fmt(row.cpuMs / earlyoom.cpuMs)
      }×)`,
    );
  }
  return lines;
}

await main();
