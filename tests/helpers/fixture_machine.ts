/**
 * A machine made of files: a fixture /proc tree (vmstat whose oom_kill the
 * test bumps, meminfo whose MemAvailable it sets, PSI, boot id) and a kernel
 * log file it appends records to, described by a {@link Machine} — and the
 * real daemon run on it inside the test process, its log captured.
 */

import { type Config, mergeConfig } from "../../src/core/config.ts";
import type { Machine } from "../../src/core/machine.ts";
import { Daemon } from "../../src/shell/daemon.ts";
import { Logger } from "../../src/shell/log.ts";
import { execHooksRunning, runExecOnOom } from "../../src/shell/exec_hook.ts";
import { waitFor } from "./daemon.ts";

const KIB = 1024;
const GIB = 1024 * 1024 * 1024;

export class FixtureMachine {
  readonly dir: string;
  readonly machine: Machine;
  #memTotal = 8 * GIB;

  private constructor(dir: string, kernelLog: boolean, tracepoint: boolean) {
    this.dir = dir;
    const proc = `${dir}/proc`;
    this.machine = {
      kernelLog: kernelLog ? `${dir}/kmsg` : `${dir}/no-kmsg`,
      vmstat: `${proc}/vmstat`,
      meminfo: `${proc}/meminfo`,
      pressureMemory: `${proc}/pressure/memory`,
      pressureIo: `${proc}/pressure/io`,
      // A regular file takes the trigger line, and never reports POLLPRI.
      psiTrigger: `${proc}/pressure/memory`,
      sysrqTrigger: `${dir}/sysrq-trigger`,
      realPanic: false,
      bootId: `${proc}/sys/kernel/random/boot_id`,
      kernelPanic: `${proc}/sys/kernel/panic`,
      proc,
      // The machine's own oom:mark_victim where asked (real kills, then,
      // reported by the real tracepoint into the fixture's world).
      tracefs: tracepoint
        ? ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        : [],
      cpusOnline: tracepoint
        ? "/sys/devices/system/cpu/online"
        : `${dir}/cpus-online`,
      kallsyms: tracepoint ? "/proc/kallsyms" : `${proc}/kallsyms`,
      mountinfo: `${proc}/self/mountinfo`,
      watchdogClass: `${dir}/sys-class-watchdog`,
      journal: false,
    };
  }

  /**
   * A fresh tree: 8 GiB, 6 GiB available, no OOM kill yet. `tracepoint`:
   * the machine's real OOM tracepoint, kallsyms and CPUs (root, tracefs).
   * Woken by the tracepoint the daemon waits on the test's own thread,
   * where no timer of the test runs (core/cadence.ts, waitsOnOwnThread):
   * a test keeps an --exec-on-oom-like command running meanwhile
   * ({@link whileLoopFree}).
   */
  static create(
    { kernelLog = true, tracepoint = false } = {},
  ): FixtureMachine {
    const dir = Deno.makeTempDirSync({ prefix: "oomwatch-machine-" });
    const fixture = new FixtureMachine(dir, kernelLog, tracepoint);
    for (
      const sub of [
        "proc/pressure",
        "proc/sys/kernel/random",
        "proc/self",
        "run",
      ]
    ) {
      Deno.mkdirSync(`${dir}/${sub}`, { recursive: true });
    }
    fixture.setCounter(0);
    fixture.setMemAvailable(6 * GIB);
    fixture.setFullStall(0);
    fixture.setIoFullStall(0);
    Deno.writeTextFileSync(
      fixture.machine.bootId,
      "11111111-2222-3333-4444-555555555555\n",
    );
    Deno.writeTextFileSync(fixture.machine.kernelPanic, "10\n");
    Deno.writeTextFileSync(`${dir}/proc/self/oom_score_adj`, "0\n");
    if (kernelLog) Deno.writeTextFileSync(fixture.machine.kernelLog, "");
    return fixture;
  }

  get bootId(): string {
    return "11111111-2222-3333-4444-555555555555";
  }

  #counter = 0;
  #majorFaults = 5;

  /** The `oom_kill` counter of the fixture's /proc/vmstat. */
  setCounter(value: number): void {
    this.#counter = value;
    this.#writeVmstat();
  }

  /** The `pgmajfault` counter of the fixture's /proc/vmstat. */
  setMajorFaults(value: number): void {
    this.#majorFaults = value;
    this.#writeVmstat();
  }

  #writeVmstat(): void {
    Deno.writeTextFileSync(
      this.machine.vmstat,
      `nr_free_pages 1000\npgmajfault ${this.#majorFaults}\noom_kill ${this.#counter}\n`,
    );
  }

  /** PSI io `full total` of the fixture's /proc/pressure/io. */
  setIoFullStall(totalMicros: number): void {
    Deno.writeTextFileSync(
      this.machine.pressureIo,
      `some avg10=0.00 avg60=0.00 avg300=0.00 total=${totalMicros}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${totalMicros}\n`,
    );
  }

  setMemAvailable(bytes: number): void {
    Deno.writeTextFileSync(
      this.machine.meminfo,
      `MemTotal: ${this.#memTotal / KIB} kB\nMemFree: ${
        Math.floor(bytes / KIB)
      } kB\nMemAvailable: ${Math.floor(bytes / KIB)} kB\n`,
    );
  }

  setFullStall(totalMicros: number): void {
    Deno.writeTextFileSync(
      this.machine.pressureMemory,
      `some avg10=0.00 avg60=0.00 avg300=0.00 total=${totalMicros}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${totalMicros}\n`,
    );
  }

  /** Appends kernel records (`PRI,SEQ,TS,-;TEXT`, text escaped as /dev/kmsg does). */
  appendKernelLog(records: string[]): void {
    Deno.writeTextFileSync(
      this.machine.kernelLog,
      records.map((r) => `${r}\n`).join(""),
      {
        append: true,
      },
    );
  }

  remove(): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** The real daemon on a fixture machine, in this process. */
export interface InProcessDaemon {
  /** Everything it logged so far. */
  log(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Its status file, parsed, once written. */
  status(): Record<string, unknown> | null;
  config: Config;
}

/**
 * Runs `body` while a command started by the exec hook's own runner is
 * running, so an in-process daemon woken by the tracepoint waits on a
 * worker thread and the test's timers run; waits for the command's end.
 */
export async function whileLoopFree(body: () => Promise<void>): Promise<void> {
  const log = new Logger("error", { journal: false }, "oomwatch", () => {});
  const before = execHooksRunning();
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-loop-free-" });
  runExecOnOom(
    `while [ ! -e "$DIR/stop" ]; do sleep 0.05; done`,
    { DIR: dir },
    log,
    120_000,
  );
  try {
    if (execHooksRunning() === before) {
      throw new Error(
        "the command that keeps the event loop free did not start",
      );
    }
    await body();
  } finally {
    await Deno.writeTextFile(`${dir}/stop`, "");
    try {
      await waitFor(
        "the command that kept the event loop free to end",
        () => execHooksRunning() === before ? true : undefined,
        10_000,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}

/**
 * Runs the daemon on `fixture` with `overrides` (status and flag in the
 * fixture's dir), hands it to `body`, then stops it and waits for the loop to
 * end, however `body` ends.
 */
export async function withDaemon(
  fixture: FixtureMachine,
  overrides: Partial<Config>,
  body: (daemon: InProcessDaemon) => Promise<void>,
): Promise<void> {
  const config = mergeConfig({
    bufsize: 1,
    heartbeat: 1,
    statusFile: `${fixture.dir}/run/status.json`,
    crashflagName: `${fixture.dir}/flag`,
    ...overrides,
  });
  let logged = "";
  const log = new Logger(
    config.logLevel,
    { journal: false },
    "oomwatch",
    (line) => {
      logged += line;
    },
  );
  const daemon = new Daemon(config, fixture.machine, log, () => config);
  const running = daemon.run();
  try {
    await body({
      config,
      log: () => logged,
      waitForLog: (pattern, timeoutMs = 10_000) =>
        waitFor(
          `log line ${pattern}\n--- log so far ---\n${logged}`,
          () => pattern.exec(logged) ?? undefined,
          timeoutMs,
        ),
      status: () => {
        try {
          return JSON.parse(Deno.readTextFileSync(config.statusFile));
        } catch {
          return null;
        }
      },
    });
  } finally {
    daemon.stop();
    await running;
  }
}
