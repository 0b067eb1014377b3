// The measurement loops read /proc synchronously on purpose: an await
// between two readings would add the event loop's delay to what is measured.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * `deno task bench`: what oomwatch costs and how fast it reacts, measured on
 * this machine, beside its peers in the same run. Prints a table and writes
 * bench/results.json.
 *
 * 1. Reaction latency over real OOM kills in a child memory cgroup
 *    (`--memcg-oom`): the daemon's own figure (kernel record timestamp to
 *    munmap returned, one clock) and an outside one (kernel record timestamp to
 *    the moment this script saw the daemon's VmLck drop, polled every 200 µs).
 * 2. Idle cost over 60 s, side by side: oomwatch, earlyoom --dryrun, nohang
 *    --monitor, and a bare Deno process with a 5 s timer: CPU ticks,
 *    voluntary context switches of all threads, RSS.
 * 3. Time from start to reserve armed.
 *
 * Needs root and a memory cgroup; installs earlyoom and nohang from Debian.
 *
 * @module
 */

import { monotonicMicros, sleepMicros } from "../ffi/libc.ts";
import { classifyOomMessage } from "../src/core/kernel_log.ts";
import { KernelLogReader } from "../src/shell/kernel_log_reader.ts";
import { readLockedBytes, readStatusBytes } from "../src/shell/procfs.ts";
import { DaemonProcess, waitFor } from "../tests/helpers/daemon.ts";
import { MemoryCgroup } from "../tests/helpers/memcg.ts";
import { hasCommand } from "../tests/helpers/privilege.ts";
import { ENTRY_PATH, runFlags } from "./run_flags.ts";

const MIB = 1024 * 1024;
const KILLS = Number(Deno.env.get("BENCH_KILLS") ?? 20);
const IDLE_SECONDS = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? 60);
const CLOCK_TICKS = 100; // USER_HZ on Linux

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

// ---------------------------------------------------------------- latency

interface Latency {
  daemonMs: number;
  outsideMs: number;
}

async function measureLatency(): Promise<Latency[]> {
  const dir = Deno.makeTempDirSync({ prefix: "oomwatch-bench-" });
  const cgroup = MemoryCgroup.create(48 * MIB);
  const daemon = new DaemonProcess([
    "--bufsize",
    "8",
    "--memcg-oom",
    "--resettime",
    "1",
    "--crashflag-name",
    `${dir}/flag`,
    "--status-file",
    `${dir}/status.json`,
  ]);
  const log = KernelLogReader.open("/dev/kmsg");
  const results: Latency[] = [];
  try {
    await daemon.waitForLog(/started \(pid/);
    for (let round = 0; round < KILLS; round++) {
      await daemon.waitForLocked(8, 15_000);
      const releasesBefore =
        (daemon.log.match(/ms after the kernel's report/g) ?? []).length;
      log.drain();
      const hog = new Deno.Command("sh", {
        args: [
          "-c",
          `echo $$ > "$1/cgroup.procs" && exec python3 -c 'bytearray(${
            96 * MIB
          })'`,
          "hog",
          cgroup.path,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Watch VmLck from outside, 200 µs apart, until the reserve is gone.
      let droppedAt: bigint | null = null;
      const deadline = monotonicMicros() + 10_000_000n;
      while (monotonicMicros() < deadline) {
        const locked = readStatusBytes(daemon.pid, "VmLck");
        if (locked !== null && locked < 8 * MIB) {
          droppedAt = monotonicMicros();
          break;
        }
        sleepMicros(200);
      }
      const status = await hog.status;
      if (droppedAt === null || status.signal !== "SIGKILL") {
        throw new Error(
          `round ${round}: no release seen (hog ${status.signal})`,
        );
      }
      const kernelMicros = await waitFor("the kill record", () => {
        for (const record of log.drain()) {
          const line = classifyOomMessage(record.text);
          if (record.facility === 0 && line?.kind === "kill") {
            return record.timestampMicros;
          }
        }
        return undefined;
      }, 5_000);
      const daemonLine = await waitFor("the daemon's latency line", () => {
        const all = [
          ...daemon.log.matchAll(
            /released, ([\d.]+) ms after the kernel's report/g,
          ),
        ];
        return all.length > releasesBefore ? all[all.length - 1] : undefined;
      });
      results.push({
        daemonMs: Number(daemonLine[1]),
        outsideMs: Number(droppedAt - BigInt(kernelMicros)) / 1000,
      });
    }
  } finally {
    log.close();
    await daemon.kill();
    cgroup.destroy();
    Deno.removeSync(dir, { recursive: true });
  }
  return results;
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
  const watched: Watched[] = [
    {
      name: "oomwatch",
      child: spawn(Deno.execPath(), [
        "run",
        ...flags,
        ENTRY_PATH,
        "--bufsize",
        "32",
        "--lock-code",
        "1",
        "--crashflag-name",
        `${dir}/flag`,
        "--status-file",
        `${dir}/status.json`,
      ]),
      reserveBytes: 32 * MIB,
    },
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

async function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new Error("bench: needs root (memory cgroup, /dev/kmsg)");
  }
  await installPeers();
  console.error(`bench: ${KILLS} OOM kills in a child memory cgroup…`);
  const latencies = await measureLatency();
  console.error(`bench: idle cost over ${IDLE_SECONDS} s…`);
  const idle = await measureIdle();
  console.error("bench: start to armed…");
  const starts = await measureStart();

  const daemonMs = latencies.map((l) => l.daemonMs);
  const outsideMs = latencies.map((l) => l.outsideMs);
  const gaps = latencies.map((l) => l.outsideMs - l.daemonMs);
  const oomwatch = idle.find((row) => row.name === "oomwatch")!;
  const bare = idle.find((row) => row.name.startsWith("bare Deno"))!;
  const earlyoom = idle.find((row) => row.name.startsWith("earlyoom"))!;

  const lines: string[] = [];
  lines.push(
    `oomwatch benchmark, ${
      new Date().toISOString()
    }, Linux ${Deno.osRelease()}, Deno ${Deno.version.deno}`,
  );
  lines.push("");
  lines.push(
    `1. Reaction latency over ${latencies.length} real memcg OOM kills (kernel record timestamp → reserve unmapped)`,
  );
  lines.push("| measured by | p50 ms | p99 ms | max ms |");
  lines.push("| --- | ---: | ---: | ---: |");
  lines.push(
    `| the daemon (munmap returned) | ${fmt(percentile(daemonMs, 50))} | ${
      fmt(percentile(daemonMs, 99))
    } | ${fmt(Math.max(...daemonMs))} |`,
  );
  lines.push(
    `| outside (VmLck seen to drop, 200 µs polls) | ${
      fmt(percentile(outsideMs, 50))
    } | ${fmt(percentile(outsideMs, 99))} | ${fmt(Math.max(...outsideMs))} |`,
  );
  lines.push(
    `outside − daemon per kill: min ${fmt(Math.min(...gaps))} ms, max ${
      fmt(Math.max(...gaps))
    } ms`,
  );
  lines.push("");
  lines.push(
    `2. Idle cost over ${IDLE_SECONDS} s, side by side, plenty of free memory`,
  );
  lines.push(
    "| process | CPU ticks | CPU ms | wake-ups/s | RSS MiB | RSS without reserve MiB | locked MiB |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of idle) {
    lines.push(
      `| ${row.name} | ${row.cpuTicks} | ${fmt(row.cpuMs, 1)} | ${
        fmt(row.wakeupsPerSecond)
      } | ${fmt(row.rssMiB, 1)} | ${fmt(row.rssWithoutReserveMiB, 1)} | ${
        fmt(row.lockedMiB, 1)
      } |`,
    );
  }
  lines.push(
    `oomwatch RSS without reserve / bare Deno RSS: ${
      fmt(oomwatch.rssWithoutReserveMiB / bare.rssMiB)
    }×`,
  );
  lines.push(
    `oomwatch CPU / earlyoom CPU: ${oomwatch.cpuTicks} / ${earlyoom.cpuTicks} ticks (1 tick = ${
      1000 / CLOCK_TICKS
    } ms); ${fmt(oomwatch.cpuMs, 1)} / ${
      fmt(earlyoom.cpuMs, 1)
    } ms from schedstat = ${fmt(oomwatch.cpuMs / earlyoom.cpuMs)}×`,
  );
  lines.push(
    `oomwatch wake-ups per 5 s heartbeat: ${
      fmt(oomwatch.wakeupsPerSecond * 5)
    } (bare Deno with a 5 s timer: ${fmt(bare.wakeupsPerSecond * 5)})`,
  );
  lines.push("");
  lines.push(
    `3. Start to reserve armed (32 MiB, 5 runs): median ${
      fmt(percentile(starts, 50), 0)
    } ms, max ${fmt(Math.max(...starts), 0)} ms`,
  );
  const table = lines.join("\n");
  console.log(table);
  Deno.mkdirSync(new URL("../bench", import.meta.url), { recursive: true });
  Deno.writeTextFileSync(
    new URL("../bench/results.json", import.meta.url),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        kernel: Deno.osRelease(),
        latencies,
        idle,
        startMs: starts,
        table,
      },
      null,
      2,
    ) + "\n",
  );
}

await main();
