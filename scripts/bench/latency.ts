// The measurement loops read /proc synchronously on purpose: an await
// between two readings would add the event loop's delay to what is measured.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Reaction latency over real OOM kills in a child memory cgroup, each
 * daemon with `--memcg-oom` for that cgroup, per wake path (the
 * oom:mark_victim tracepoint, the kernel log) and reserve backing (locked,
 * tmpfs), all in one run: blocks of kills round-robin over the
 * configurations, a fresh daemon per block, so drift is shared.
 *
 * Per kill, three clocks agree on CLOCK_MONOTONIC:
 * - the kernel's own time of the kill: the bench's own perf reader of
 *   oom:mark_victim (not the daemon's);
 * - the daemon's figure from its log (its kernel time to the release
 *   syscall returned);
 * - the outside view: two observers (observer.ts), pinned one per CPU and
 *   SCHED_FIFO, polling the reserve every 200 µs; the earliest drop counts.
 *
 * @module
 */

import { filesystemState, monotonicMicros } from "../../ffi/libc.ts";
import { describeMachine } from "../../src/core/machine.ts";
import { parseStatus } from "../../src/core/status.ts";
import { readStatusBytes } from "../../src/shell/procfs.ts";
import { TracepointReader } from "../../src/shell/tracepoint_reader.ts";
import { DaemonProcess, waitFor } from "../../tests/helpers/daemon.ts";
import { MemoryCgroup } from "../../tests/helpers/memcg.ts";

const MIB = 1024 * 1024;
const RESERVE_MIB = 8;

/** One way of running the daemon under measurement. */
export interface LatencyConfig {
  name: string;
  path: "tracepoint" | "kernel log";
  backing: "locked" | "tmpfs";
  /**
   * `all`: `--memcg-oom`, every kill a signal, released at the wake;
   * `cgroup`: `--memcg-oom CGROUP`, the kill's cgroup read from the kernel
   * log before the release.
   */
  policy: "all" | "cgroup";
  args: string[];
}

export const LATENCY_CONFIGS: LatencyConfig[] = [
  {
    name: "tracepoint, tmpfs reserve",
    path: "tracepoint",
    backing: "tmpfs",
    policy: "all",
    args: ["--reserve-backing", "tmpfs"],
  },
  {
    name: "tracepoint, locked reserve",
    path: "tracepoint",
    backing: "locked",
    policy: "all",
    args: [],
  },
  {
    name: "kernel log, tmpfs reserve",
    path: "kernel log",
    backing: "tmpfs",
    policy: "all",
    args: ["--tracepoint", "0", "--reserve-backing", "tmpfs"],
  },
  {
    name: "kernel log, locked reserve",
    path: "kernel log",
    backing: "locked",
    policy: "all",
    args: ["--tracepoint", "0"],
  },
  {
    name: "tracepoint, tmpfs, --memcg-oom CGROUP (log read first)",
    path: "tracepoint",
    backing: "tmpfs",
    policy: "cgroup",
    args: ["--reserve-backing", "tmpfs"],
  },
];

/** One kill, in milliseconds after the kernel marked the victim. */
export interface Kill {
  config: string;
  /** The daemon's own figure (from its kernel reference to the syscall returned). */
  daemonMs: number;
  /** What the daemon measured from: the tracepoint or the kernel log's kill record. */
  daemonFrom: string;
  /** The earliest observer's drop, after the bench's own mark_victim time. */
  outsideMs: number;
  /** Whether the machine was quiet (no other kill, CPUs under 10 % busy) before it. */
  quiet: boolean;
}

/** Busy share of all CPUs over `ms`, from /proc/stat. */
async function busyShare(ms: number): Promise<number> {
  const sample = (): number[] => {
    const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0];
    return cpu.split(/\s+/).slice(1).map(Number);
  };
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = sample();
  const delta = after.map((value, i) => value - before[i]);
  const total = delta.reduce((a, b) => a + b, 0);
  const idle = delta[3] + delta[4]; // idle + iowait
  return total === 0 ? 0 : 1 - idle / total;
}

function oomKills(): number {
  const match = /^oom_kill (\d+)$/m.exec(Deno.readTextFileSync("/proc/vmstat"));
  return match ? Number(match[1]) : 0;
}

/**
 * Waits for the machine to be quiet (bounded): no OOM kill and the CPUs no
 * busier than `baseline` (the observers' own share, measured before the
 * first kill) plus 10 % for 700 ms. Says whether it was.
 */
async function quietSpell(baseline: number): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const kills = oomKills();
    const busy = await busyShare(700);
    if (busy < baseline + 0.1 && oomKills() === kills) return true;
  }
  return false;
}

class Observer {
  readonly #child: Deno.ChildProcess;
  #text = "";
  readonly #reading: Promise<void>;

  constructor(cpu: number, kind: string, target: string) {
    this.#child = new Deno.Command("taskset", {
      args: [
        "-c",
        String(cpu),
        "chrt",
        "-f",
        "60",
        Deno.execPath(),
        "run",
        "-A",
        new URL("./observer.ts", import.meta.url).pathname,
        kind,
        target,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const stdout = this.#child.stdout;
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stdout) {
        this.#text += decoder.decode(chunk, { stream: true });
      }
    })();
  }

  /** The first time after `afterMicros` the figure fell below `bytes`. */
  dropAfter(afterMicros: bigint, bytes: number): bigint | null {
    for (const line of this.#text.split("\n")) {
      const [time, value] = line.split(" ");
      if (value === undefined) continue;
      const at = BigInt(time);
      if (at >= afterMicros && Number(value) < bytes) return at;
    }
    return null;
  }

  get started(): boolean {
    return this.#text.length > 0;
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.#child.status;
    await this.#reading;
  }
}

const RELEASED =
  /reserve of \d+ MiB released, (-?[\d.]+) ms after the kernel's (report|oom:mark_victim tracepoint)/g;

function reserveBytes(config: LatencyConfig, pid: number, dir: string): number {
  if (config.backing === "locked") return readStatusBytes(pid, "VmLck") ?? 0;
  try {
    const state = filesystemState(`${dir}/reserve`);
    return Number(state.totalBytes - state.availableBytes);
  } catch {
    return 0;
  }
}

/**
 * How far the kernel log's clock runs ahead of CLOCK_MONOTONIC, in ms: a
 * record written to /dev/kmsg is stamped by printk with local_clock()
 * (sched_clock), which NTP does not slew, while CLOCK_MONOTONIC is; on this
 * machine they were 15.4 ms apart after 4.3 h of uptime, so a figure taken
 * from a kill record's stamp reads too low by that much (even below zero).
 * Measured by writing a record and reading its stamp back.
 */
export function kmsgClockAheadMs(): number {
  const file = Deno.openSync("/dev/kmsg", { read: true, write: true });
  try {
    file.seekSync(0, Deno.SeekMode.End);
    const marker = `oomwatch-bench clock probe ${crypto.randomUUID()}`;
    const before = monotonicMicros();
    file.writeSync(new TextEncoder().encode(`${marker}\n`));
    const after = monotonicMicros();
    const buffer = new Uint8Array(8192);
    for (let i = 0; i < 1000; i++) {
      const n = file.readSync(buffer);
      if (n === null) break;
      const record = new TextDecoder().decode(buffer.subarray(0, n));
      if (!record.includes(marker)) continue;
      const stamp = BigInt(record.split(";")[0].split(",")[2]);
      return Number(stamp - (before + after) / 2n) / 1000;
    }
    throw new Error(
      "the clock probe's record did not come back from /dev/kmsg",
    );
  } finally {
    file.close();
  }
}

/** The bench's own view of the kill of `pid`: its mark_victim time. */
async function markedAt(
  reader: TracepointReader,
  pid: number,
): Promise<bigint> {
  return await waitFor(
    `mark_victim of pid ${pid}`,
    () => {
      for (const record of reader.drain()) {
        if (record.kind === "victim" && record.pid === pid) {
          return record.timeNanos / 1000n;
        }
      }
      return undefined;
    },
    10_000,
    1,
  );
}

async function block(
  config: LatencyConfig,
  kills: number,
  cgroup: MemoryCgroup,
  reader: TracepointReader,
): Promise<Kill[]> {
  const dir = Deno.makeTempDirSync({ prefix: "oomwatch-bench-" });
  const kmsgAheadMs = kmsgClockAheadMs();
  console.error(
    `bench: ${config.name}: the kernel log's clock runs ${
      kmsgAheadMs.toFixed(3)
    } ms ahead of CLOCK_MONOTONIC (kill-record figures are corrected by it)`,
  );
  const daemon = new DaemonProcess([
    "--bufsize",
    String(RESERVE_MIB),
    ...(config.policy === "all"
      ? ["--memcg-oom"]
      : ["--memcg-oom", cgroup.kernelName]),
    "--resettime",
    "1",
    "--crashflag-name",
    `${dir}/flag`,
    "--status-file",
    `${dir}/status.json`,
    ...config.args,
  ]);
  const observers: Observer[] = [];
  const results: Kill[] = [];
  try {
    await daemon.waitForLog(/started \(pid/);
    const expected = config.path === "tracepoint"
      ? /waiting on the kernel's oom:mark_victim tracepoint/
      : /waiting on the kernel log/;
    if (!expected.test(daemon.log)) {
      throw new Error(
        `${config.name}: the daemon did not start so:\n${daemon.log}`,
      );
    }
    const [kind, target] = config.backing === "locked"
      ? ["vmlck", String(daemon.pid)]
      : ["used", `${dir}/reserve`];
    for (let cpu = 0; cpu < navigator.hardwareConcurrency; cpu++) {
      observers.push(new Observer(cpu, kind, target));
    }
    await waitFor("the observers", () => observers.every((o) => o.started));
    const baseline = await busyShare(1_000);
    for (let round = 0; round < kills; round++) {
      await waitFor(
        `${config.name}: the reserve re-armed`,
        () => {
          // The daemon's word that it re-armed after the last kill (VmLck
          // alone cannot tell the reserve from code locked with
          // --lock-code 1, and the status file may not yet say the
          // episode started).
          const rearmed = daemon.log.match(/reserve of \d+ MiB re-armed/g);
          if ((rearmed?.length ?? 0) < round) return false;
          try {
            const status = parseStatus(
              Deno.readTextFileSync(`${dir}/status.json`),
            );
            return status.state === "armed" &&
              status.reserve.heldBytes >= RESERVE_MIB * MIB;
          } catch {
            return false;
          }
        },
        15_000,
      );
      const quiet = await quietSpell(baseline);
      // The observers' figure with the reserve held; its drop by half the
      // reserve is the release.
      const dropBelow = reserveBytes(config, daemon.pid, dir) -
        (RESERVE_MIB * MIB) / 2;
      const releasesBefore = [...daemon.log.matchAll(RELEASED)].length;
      reader.drain();
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
      const marked = await markedAt(reader, hog.pid);
      const status = await hog.status;
      if (status.signal !== "SIGKILL") {
        throw new Error(`${config.name}: the hog was not OOM-killed`);
      }
      const line = await waitFor(
        `${config.name}: the release line\n${daemon.log}`,
        () => {
          const all = [...daemon.log.matchAll(RELEASED)];
          return all.length > releasesBefore ? all[all.length - 1] : undefined;
        },
      );
      const seen = await waitFor(
        `${config.name}: an observer's drop`,
        () => {
          const drops = observers.map((o) => o.dropAfter(marked, dropBelow))
            .filter((t) => t !== null);
          return drops.length > 0
            ? drops.reduce((a, b) => (a < b ? a : b))
            : undefined;
        },
        5_000,
        5,
      );
      results.push({
        config: config.name,
        // The kill record's stamp is on the kernel log's clock: bring it to
        // CLOCK_MONOTONIC (kmsgClockAheadMs).
        daemonMs: Number(line[1]) + (line[2] === "report" ? kmsgAheadMs : 0),
        daemonFrom: line[2] === "report" ? "kill record" : "tracepoint",
        outsideMs: Number(seen - marked) / 1000,
        quiet,
      });
    }
  } finally {
    for (const observer of observers) await observer.stop();
    await daemon.stop();
    Deno.removeSync(dir, { recursive: true });
  }
  return results;
}

/**
 * `kills` kills per configuration, in `blocks` blocks round-robin. Needs
 * root, a memory cgroup and tracefs (for the bench's own reference).
 */
export async function measureLatency(
  configs: LatencyConfig[],
  kills: number,
  blocks = 2,
): Promise<Kill[]> {
  const reader = TracepointReader.open(describeMachine(() => undefined));
  const cgroup = MemoryCgroup.create(48 * MIB);
  const results: Kill[] = [];
  try {
    for (let b = 0; b < blocks; b++) {
      for (const config of configs) {
        const count = Math.ceil(kills / blocks);
        console.error(`bench: ${config.name}, block ${b + 1}/${blocks}…`);
        results.push(...await block(config, count, cgroup, reader));
      }
    }
  } finally {
    reader.close();
    cgroup.destroy();
  }
  return results;
}
