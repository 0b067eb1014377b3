/**
 * The daemon: start-up, the loop and the signals. Each wake, the sources
 * say what they observed, the detector says which of it are OOM signals,
 * the watchdog decides, the actuator acts, and the status is written.
 *
 * One wait for everything: `poll(2)` on a worker thread (a non-blocking FFI
 * call, so signals stay live) over the sources' descriptors and a wake pipe.
 * Its timeout is the cadence's next read, or sooner a watchdog deadline; at
 * idle nothing else wakes the process.
 *
 * @module
 */

import {
  makeWakePipe,
  monotonicMicros,
  pollFds,
  POLLIN,
  readNonBlocking,
  writeFd,
} from "../../ffi/libc.ts";
import { readCadence } from "../core/cadence.ts";
import { type Config, describeConfig } from "../core/config.ts";
import { Detector } from "../core/detector.ts";
import { RuntimeFailure } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import type { Meminfo } from "../core/meminfo.ts";
import { Problems } from "../core/problems.ts";
import { isoTimestamp } from "../core/time.ts";
import { reserveDoesNotFit, Watchdog } from "../core/watchdog.ts";
import { Actuator } from "./actuator.ts";
import { CrashFlagFile } from "./crash_flag_file.ts";
import { flagDirectoryHealth, startupWarnings } from "./health_checks.ts";
import { InstanceLock, lockPathFor } from "./instance_lock.ts";
import { kernelLogWriter, type Logger, ProblemLog } from "./log.ts";
import { readBootId, readMeminfo } from "./procfs.ts";
import { reload, type ReloadTarget } from "./reload.ts";
import { Reserve, ReserveError } from "./reserve.ts";
import {
  lockOwnCode,
  protectFromOomKiller,
  trimStartupCode,
} from "./self_protection.ts";
import { CounterSource } from "./sources/counter_source.ts";
import { KernelLogSource } from "./sources/kernel_log_source.ts";
import { MemorySource } from "./sources/memory_source.ts";
import { PressureSource } from "./sources/pressure_source.ts";
import type { Observation, Source, Wake } from "./sources/source.ts";
import { statusOf, StatusWriter } from "./status_writer.ts";

const MIB = 1024 * 1024;
const nowMs = (): number => Number(monotonicMicros()) / 1000;
/** The wall-clock ISO time of a moment on the monotonic clock. */
const wallClockOf = (at: number): string =>
  isoTimestamp(Date.now() - (nowMs() - at));

export class Daemon implements ReloadTarget {
  #config: Config;
  readonly #machine: Machine;
  readonly #log: Logger;
  readonly #loadConfig: () => Config;
  readonly #problems: ProblemLog;
  readonly #reserve: Reserve;
  readonly #wakePipe = makeWakePipe();
  readonly #bootId: string;
  readonly #startedAt = isoTimestamp(Date.now());
  #crashFlag: CrashFlagFile;
  #watchdog!: Watchdog;
  #detector!: Detector;
  #actuator!: Actuator;
  #statusWriter!: StatusWriter;
  #lock: InstanceLock | null = null;
  #kernelLog!: KernelLogSource;
  #pressure!: PressureSource;
  #sources: Source[] = [];
  #memory: Meminfo | null = null;
  #reloadRequested = false;
  #stopping = false;

  constructor(
    config: Config,
    machine: Machine,
    log: Logger,
    loadConfig: () => Config,
  ) {
    this.#config = config;
    this.#machine = machine;
    this.#log = log;
    this.#loadConfig = loadConfig;
    this.#problems = new ProblemLog(new Problems(), log.child("health"));
    this.#reserve = new Reserve(machine);
    this.#bootId = readBootId(machine);
    this.#crashFlag = new CrashFlagFile(
      config.crashflagName,
      this.#bootId,
      log.child("crash-flag"),
    );
  }

  get config(): Config {
    return this.#config;
  }

  get phase(): Watchdog["phase"] {
    return this.#watchdog.phase;
  }

  /** Starts the daemon and runs until SIGTERM/SIGINT; resolves to the exit code (1: start failed). */
  async run(): Promise<number> {
    // Before the reserve exists: a SIGTERM from then on must release it.
    this.#installSignalHandlers();
    try {
      this.#startUp();
    } catch (error) {
      if (!(error instanceof RuntimeFailure || error instanceof ReserveError)) {
        throw error;
      }
      this.#log.error(error.message);
      return 1;
    }
    await this.#wake(nowMs(), () => 0, true);
    while (!this.#stopping) await this.#waitAndWake();
    return 0;
  }

  #startUp(): void {
    const config = this.#config;
    const log = this.#log;
    this.#lock = InstanceLock.acquire(lockPathFor(config.statusFile));
    // Protected before the reserve exists: creating it takes memory.
    const scoreAdj = protectFromOomKiller(
      log.child("self-protection"),
      this.#machine.proc,
    );
    const memory = readMeminfo(this.#machine);
    if (memory.ok) {
      this.#memory = memory.value;
      const tooBig = reserveDoesNotFit(config.bufsize * MIB, memory.value);
      if (config.bufsize > 0 && tooBig !== null) {
        throw new RuntimeFailure(
          `refusing to lock the ${config.bufsize} MiB reserve: ${tooBig}; free memory or lower --bufsize`,
        );
      }
    }
    this.#reserve.create(config.bufsize * MIB);
    startupWarnings(config, this.#machine, log, this.#problems);
    if (config.crashflag) this.#crashFlag.reportAtStart();
    this.#kernelLog = KernelLogSource.open(
      this.#machine.kernelLog,
      this.#problems,
    );
    log.setKernelLog(kernelLogWriter(this.#machine.kernelLog));
    const counter = new CounterSource(this.#machine, this.#problems);
    this.#pressure = new PressureSource(
      this.#machine,
      config,
      log.child("pressure"),
      this.#problems,
    );
    // Log first, then the counter (the kernel counts a kill before it prints
    // it), then memory and pressure, which the counter may ask for.
    this.#sources = [
      this.#kernelLog,
      counter,
      new MemorySource(this.#machine, this.#problems),
      this.#pressure,
    ];
    this.#detector = new Detector(config, counter.current());
    if (this.#memory) this.#detector.memory(this.#memory, nowMs());
    this.#watchdog = new Watchdog(config, this.#reserve.bytes);
    this.#statusWriter = new StatusWriter(log, this.#problems);
    this.#actuator = new Actuator({
      machine: this.#machine,
      config: () => this.#config,
      crashFlag: () => this.#crashFlag,
      reserve: this.#reserve,
      watchdog: this.#watchdog,
      problems: this.#problems,
      log,
      bootId: this.#bootId,
      nowMs,
      wallClockOf,
    });
    // Start-up is over: drop its code pages, touch the emergency path so its
    // pages are resident, then (optionally) lock what is resident and all
    // that faults in later.
    trimStartupCode(this.#machine.proc);
    this.#checkFlagDirectory(true);
    const codeMappings = config.lockCode
      ? lockOwnCode(log.child("self-protection"), this.#machine.proc)
      : 0;
    const waits = [
      ...this.#sources.map((s) => s.describe()).filter((d) => d !== null),
      `a ${config.heartbeat} s heartbeat`,
    ];
    log.info(
      `started (pid ${Deno.pid}): ${describeConfig(config)}; reserve ${
        this.#reserve.bytes / MIB
      } MiB locked; ` +
        `${codeMappings} code mappings locked; oom_score_adj ${
          scoreAdj ?? "unknown"
        }; waiting on ${waits.join(", ")}`,
    );
  }

  #sampleDueMs = 0;

  /** The one wait, then the work of the wake. */
  async #waitAndWake(): Promise<void> {
    const fds = [
      { fd: this.#wakePipe.readFd, events: POLLIN },
      ...this.#sources.flatMap((s) => s.waitFds()),
    ];
    const deadlines = [
      this.#sampleDueMs,
      this.#watchdog.nextDeadlineMs(),
      this.#detector.nextDeadlineMs(),
    ];
    const wakeAt = Math.min(
      ...deadlines.filter((d): d is number => d !== null),
    );
    const revents = await pollFds(fds, wakeAt - nowMs());
    const ready = new Map(
      fds.map((entry, index) => [entry.fd, revents[index]]),
    );
    if ((ready.get(this.#wakePipe.readFd) ?? 0) & POLLIN) {
      readNonBlocking(this.#wakePipe.readFd, new Uint8Array(64));
    }
    const now = nowMs();
    if (this.#reloadRequested) {
      this.#reloadRequested = false;
      reload(this, this.#loadConfig, this.#log.child("reload"));
    }
    await this.#wake(now, (fd) => ready.get(fd) ?? 0, now >= this.#sampleDueMs);
  }

  #cadence(now: number): ReturnType<typeof readCadence> {
    const phase = this.#watchdog.phase;
    return readCadence({
      nowMs: now,
      heartbeatSeconds: this.#config.heartbeat,
      inEpisode: phase === "episode",
      idle: phase === "armed" || phase === "reserve-disabled",
      triggerArmed: this.#pressure.triggerArmed,
      stallSignalOn: this.#pressure.stallSignalOn,
      kernelLogReadable: this.#kernelLog.witnessesKills,
      tightUntilMs: this.#pressure.tightUntilMs,
      memory: this.#memory,
      lastShare: this.#detector.lastShare,
      killPending: this.#detector.killPending,
    });
  }

  /** What every wake does: read the sources, let time pass, keep the files. */
  async #wake(
    now: number,
    revents: (fd: number) => number,
    sampleDue: boolean,
  ): Promise<void> {
    const wake: Wake = {
      nowMs: now,
      revents,
      sampleDue,
      memoryWanted: sampleDue && this.#cadence(now).readMemory,
    };
    try {
      for (const source of this.#sources) {
        for (const observation of source.read(wake)) {
          await this.#observe(observation, now);
        }
      }
      for (const line of this.#detector.tick(now).logs) {
        this.#log.child("detector").log(line.level, line.message);
      }
      await this.#actuator.execute(this.#watchdog.tick(now, this.#memory));
      if (sampleDue) this.#housekeeping();
    } catch (error) {
      this.#log.error(
        `internal error: ${error instanceof Error ? error.stack : error}`,
      );
    }
    this.#writeStatus();
    if (sampleDue) this.#sampleDueMs = now + this.#cadence(now).intervalMs;
    // Entering an episode or a stall shortens the wait at once.
    this.#sampleDueMs = Math.min(
      this.#sampleDueMs,
      now + this.#cadence(now).intervalMs,
    );
  }

  async #observe(observation: Observation, now: number): Promise<void> {
    const detector = this.#detector;
    let detection;
    switch (observation.kind) {
      case "kill":
        detection = detector.kill(observation.kill, now);
        break;
      case "oom-kill-counter":
        detection = detector.counter(
          observation.value,
          now,
          this.#kernelLog.witnessesKills,
        );
        break;
      case "memory":
        this.#memory = observation.info;
        return detector.memory(observation.info, now);
      case "pressure":
        detection = detector.pressure(observation.fullTotalMicros, now);
        break;
    }
    for (const line of detection.logs) {
      this.#log.child("detector").log(line.level, line.message);
    }
    for (const signal of detection.signals) {
      await this.#actuator.execute(this.#watchdog.signal(signal, now), signal);
    }
  }

  /** Once per heartbeat: the instance lock and the crash flag's directory. */
  #housekeeping(): void {
    const lock = this.#lock?.ensure();
    if (lock) this.#log.warn(lock);
    this.#checkFlagDirectory(false);
  }

  #checkFlagDirectory(rehearse: boolean): void {
    if (!this.#config.crashflag) {
      return this.#problems.cure("crash-flag-directory", "crash flag off");
    }
    const trouble = flagDirectoryHealth(
      this.#crashFlag,
      rehearse || this.#problems.problems.has("crash-flag-directory"),
    );
    if (trouble === null) {
      this.#problems.cure(
        "crash-flag-directory",
        `the crash flag's directory takes the flag again`,
      );
    } else this.#problems.report("crash-flag-directory", "warning", trouble);
  }

  #writeStatus(): void {
    const status = statusOf({
      config: this.#config,
      state: this.#stopping ? "stopped" : this.#watchdog.phase,
      startedAt: this.#startedAt,
      bootId: this.#bootId,
      reserveBytes: this.#reserve.bytes,
      watchdog: this.#watchdog,
      detector: this.#detector.counters,
      kernelLogLost: this.#kernelLog.lost,
      sources: [
        ...this.#sources.map((s) => s.describe()).filter((d) => d !== null),
        "the oom_kill counter",
      ],
      problems: this.#problems.problems.list(),
      lastLatencyMs: this.#actuator.lastLatencyMs,
      nowMs: nowMs(),
      wallClockOf,
    });
    this.#statusWriter.write(
      status,
      this.#config.statusFile,
      this.#config.metricsFile,
    );
  }

  #installSignalHandlers(): void {
    const stop = (signal: string) => {
      this.#stopping = true;
      const released = this.#reserve.release();
      // The status says so, for whoever reads it next (check, metrics).
      if (this.#watchdog) this.#writeStatus();
      const episode = this.#watchdog?.episode;
      this.#log.info(
        `${signal}: ${
          released > 0
            ? `reserve of ${released / MIB} MiB released`
            : episode
            ? `no reserve held (released at the start of episode ${episode.number})`
            : "no reserve held"
        }; exiting`,
      );
      // A poll in flight cannot be cancelled; exit does not wait for it.
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
    Deno.addSignalListener("SIGHUP", () => {
      // The loop applies it between two waits; the byte ends the wait now.
      this.#reloadRequested = true;
      try {
        writeFd(this.#wakePipe.writeFd, new Uint8Array([1]));
      } catch {
        // the pipe is full: a wake is already pending
      }
    });
  }

  // ReloadTarget: what a reload may change.
  memory(): Meminfo | null {
    const reading = readMeminfo(this.#machine);
    return reading.ok ? reading.value : null;
  }

  resizeReserve(bytes: number): void {
    this.#reserve.create(bytes);
  }

  apply(next: Config): void {
    const old = this.#config;
    this.#config = next;
    this.#log.setLevel(next.logLevel);
    this.#detector.configure(next);
    this.#pressure.configure(next);
    this.#watchdog.configure(next, this.#reserve.bytes);
    if (next.crashflagName !== old.crashflagName) {
      this.#crashFlag = new CrashFlagFile(
        next.crashflagName,
        this.#bootId,
        this.#log.child("crash-flag"),
      );
    }
    if (
      next.crashflagName !== old.crashflagName ||
      next.crashflag !== old.crashflag
    ) this.#checkFlagDirectory(true);
    if (
      next.panicAction !== old.panicAction || next.gracetime !== old.gracetime
    ) {
      startupWarnings(next, this.#machine, this.#log, this.#problems);
    }
  }
}
