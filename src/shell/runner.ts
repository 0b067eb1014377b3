/**
 * The runner: what one wake of the daemon does. The sources say what they
 * observed, the detector says which of it are OOM signals, the watchdog
 * decides, the actuator acts; once per heartbeat the instance lock and the
 * crash flag's directory are looked after; then the status is written.
 *
 * @module
 */

import { monotonicMicros } from "../../ffi/libc.ts";
import { type Cadence, readCadence } from "../core/cadence.ts";
import type { Config } from "../core/config.ts";
import type { Detection, Detector, Observation } from "../core/detector.ts";
import type { Machine } from "../core/machine.ts";
import { isoTimestamp } from "../core/time.ts";
import type { Phase } from "../core/episode.ts";
import type { Watchdog } from "../core/watchdog.ts";
import type { Actuator } from "./actuator.ts";
import { CrashFlagFile } from "./crash_flag_file.ts";
import { flagDirectoryHealth, startupWarnings } from "./health_checks.ts";
import type { InstanceLock } from "./instance_lock.ts";
import type { Logger, ProblemLog } from "./log.ts";
import type { Reserve } from "./reserve.ts";
import { shedIdleMemory } from "./self_protection.ts";
import { wakeReads } from "./sources/index.ts";
import type { KernelLogSource } from "./sources/kernel_log_source.ts";
import type { PressureSource } from "./sources/pressure_source.ts";
import type { CounterSource } from "./sources/counter_source.ts";
import type { ThrashSource } from "./sources/thrash_source.ts";
import type { Source, Wake } from "./sources/source.ts";
import type { TracepointSource } from "./sources/tracepoint_source.ts";
import type { WatchdogKeeper } from "./watchdog_keeper.ts";
import { statusOf, StatusWriter } from "./status_writer.ts";

/** Monotonic milliseconds: the clock of the watchdog and of kernel stamps. */
export const nowMs = (): number => Number(monotonicMicros()) / 1000;

/** The wall-clock ISO time of a moment on the monotonic clock. */
export const wallClockOf = (at: number): string =>
  isoTimestamp(Date.now() - (nowMs() - at));

/** The parts of a started daemon. */
export interface RunnerParts {
  machine: Machine;
  log: Logger;
  problems: ProblemLog;
  reserve: Reserve;
  bootId: string;
  startedAt: string;
  lock: InstanceLock;
  watchdog: Watchdog;
  detector: Detector;
  actuator: Actuator;
  kernelLog: KernelLogSource;
  tracepoint: TracepointSource;
  pressure: PressureSource;
  thrash: ThrashSource;
  counter: CounterSource;
  watchdogDevice: WatchdogKeeper;
  /** In the order they are observed on a wake (sources/index.ts). */
  sources: Source[];
}

export class Runner {
  readonly #parts: RunnerParts;
  readonly #statusWriter: StatusWriter;
  #config: Config;
  #crashFlag: CrashFlagFile;
  #sampleDueMs = 0;
  #phase: Phase;
  /** Set on SIGTERM/SIGINT: the status says `stopped`. */
  stopping = false;

  constructor(parts: RunnerParts, config: Config, crashFlag: CrashFlagFile) {
    this.#parts = parts;
    this.#config = config;
    this.#crashFlag = crashFlag;
    this.#statusWriter = new StatusWriter(parts.log, parts.problems);
    this.#phase = parts.watchdog.phase;
  }

  get config(): Config {
    return this.#config;
  }

  get crashFlag(): CrashFlagFile {
    return this.#crashFlag;
  }

  get watchdog(): Watchdog {
    return this.#parts.watchdog;
  }

  /** The descriptors to wait on, and when to wake at the latest. */
  waitFor(): { fds: { fd: number; events: number }[]; wakeAtMs: number } {
    const { sources, watchdog, detector, watchdogDevice } = this.#parts;
    const deadlines = [
      this.#sampleDueMs,
      watchdog.nextDeadlineMs(),
      detector.nextDeadlineMs(),
      watchdogDevice.nextDueMs(),
    ].filter((at): at is number => at !== null);
    return {
      fds: sources.flatMap((source) => source.waitFds()),
      wakeAtMs: Math.min(...deadlines),
    };
  }

  /** Whether the kernel's OOM tracepoint wakes the daemon (perf allowed). */
  get tracepointWakes(): boolean {
    return this.#parts.tracepoint.witnessesKills;
  }

  /** What the sources wait on, for the start line and the status. */
  waitsOn(): string[] {
    return this.#parts.sources.map((s) => s.describe())
      .filter((d) => d !== null);
  }

  /**
   * The first thing when a wait returns, before {@link wake} (and before
   * the clock is read): what the sources do before anything else.
   */
  first(revents: (fd: number) => number): void {
    try {
      for (const source of this.#parts.sources) source.beforeRead?.(revents);
    } catch (error) {
      this.#internalError(error);
    }
  }

  /** A bug met on a wake: said with its stack; the daemon goes on. */
  #internalError(error: unknown): void {
    this.#parts.log.error(
      `internal error: ${error instanceof Error ? error.stack : error}`,
    );
  }

  /** One wake at `now`, after {@link first}; `revents` says which descriptors were ready. */
  async wake(now: number, revents: (fd: number) => number): Promise<void> {
    const { sources, kernelLog, detector, watchdog, actuator, lock, log } =
      this.#parts;
    const sampleDue = now >= this.#sampleDueMs;
    const wake: Wake = {
      nowMs: now,
      revents,
      sampleDue,
      memoryWanted: sampleDue && this.#cadence(now).readMemory,
    };
    try {
      for (const read of wakeReads(sources, kernelLog, wake)) {
        // One source's bug ends its own part of the wake, not the others'.
        try {
          for (const seen of read()) await this.#observe(seen, now);
        } catch (error) {
          this.#internalError(error);
        }
      }
      // Time alone judges some kills (a tracepoint victim the log did not
      // explain within its grace, a covered counter's rise): signals too.
      await this.#act(detector.tick(now), now);
      await actuator.execute(watchdog.tick(now, detector.memoryNow));
      if (sampleDue) {
        const relocked = lock.ensure();
        if (relocked) log.warn(relocked);
        this.checkFlagDirectory(false);
      }
    } catch (error) {
      this.#internalError(error);
    }
    this.#parts.watchdogDevice.wake(
      now,
      watchdog.mayPetWatchdog(now),
      wallClockOf(now),
    );
    this.writeStatus();
    this.#afterEpisode();
    const interval = this.#cadence(now).intervalMs;
    if (sampleDue) this.#sampleDueMs = now + interval;
    // Entering an episode or a stall shortens the wait at once.
    this.#sampleDueMs = Math.min(this.#sampleDueMs, now + interval);
  }

  /**
   * Back at rest after an episode (re-armed, or without a reserve): what
   * the episode faulted in and allocated is given back, so the daemon's
   * cost does not grow with the episodes it has seen.
   */
  #afterEpisode(): void {
    const phase = this.#parts.watchdog.phase;
    const atRest = phase === "armed" || phase === "reserve-disabled";
    if (atRest && this.#phase !== phase && this.#phase !== "armed") {
      shedIdleMemory(this.#parts.machine.proc, this.#config.lockCode);
    }
    this.#phase = phase;
  }

  async #observe(observation: Observation, now: number): Promise<void> {
    const { detector, kernelLog } = this.#parts;
    await this.#act(
      detector.observe(observation, now, kernelLog.witnessesKills),
      now,
    );
  }

  /** What the detector said: its lines logged, its signals to the watchdog. */
  async #act(detection: Detection, now: number): Promise<void> {
    const { watchdog, actuator } = this.#parts;
    const log = this.#parts.log.child("detector");
    for (const line of detection.logs) log.log(line.level, line.message);
    for (const signal of detection.signals) {
      await actuator.execute(watchdog.signal(signal, now), signal);
    }
  }

  #cadence(now: number): Cadence {
    const { watchdog, pressure, thrash, kernelLog, detector } = this.#parts;
    const phase = watchdog.phase;
    return readCadence({
      nowMs: now,
      heartbeatSeconds: this.#config.heartbeat,
      inEpisode: phase === "episode",
      idle: phase === "armed" || phase === "reserve-disabled",
      triggerArmed: pressure.triggerArmed,
      stallSignalOn: pressure.stallSignalOn,
      thrashSignalOn: thrash.thrashSignalOn,
      kernelLogReadable: kernelLog.witnessesKills,
      tightUntilMs: pressure.tightUntilMs,
      memory: detector.memoryNow,
      lastShare: detector.lastShare,
      killPending: detector.killPending,
    });
  }

  /**
   * The crash flag's directory: statvfs every heartbeat, and a real write
   * and removal (`rehearse`) at start, after a reload, and while in trouble.
   */
  checkFlagDirectory(rehearse: boolean): void {
    const problems = this.#parts.problems;
    if (!this.#config.crashflag) {
      return problems.cure("crash-flag-directory", "crash flag off");
    }
    const trouble = flagDirectoryHealth(
      this.#crashFlag,
      rehearse || problems.problems.has("crash-flag-directory"),
    );
    if (trouble !== null) {
      problems.report("crash-flag-directory", "warning", trouble);
    } else {
      problems.cure(
        "crash-flag-directory",
        "the crash flag's directory takes the flag again",
      );
    }
  }

  writeStatus(): void {
    const parts = this.#parts;
    this.#statusWriter.write(
      statusOf({
        config: this.#config,
        state: this.stopping ? "stopped" : parts.watchdog.phase,
        startedAt: parts.startedAt,
        bootId: parts.bootId,
        reserveBytes: parts.reserve.bytes,
        watchdog: parts.watchdog,
        detector: parts.detector.counters,
        kernelLogLost: parts.kernelLog.lost,
        killSource: parts.tracepoint.witnessesKills
          ? "tracepoint"
          : parts.kernelLog.witnessesKills
          ? "kernel log"
          : "oom_kill counter",
        watchdogDevice: parts.watchdogDevice.status(),
        sources: [...this.waitsOn(), "the oom_kill counter"],
        problems: parts.problems.problems.list(),
        lastLatencyMs: parts.actuator.lastLatencyMs,
        nowMs: nowMs(),
        wallClockOf,
      }),
      this.#config.statusFile,
      this.#config.metricsFile,
    );
  }

  /** A clean stop: the watchdog device disarmed where it can be. */
  closeWatchdogDevice(): void {
    this.#parts.watchdogDevice.close();
  }

  /** Closes the sources and lets the instance lock go. */
  close(): void {
    for (const source of this.#parts.sources) source.close();
    this.#parts.lock.release();
  }

  /** Puts a reloaded configuration in force in every part. */
  apply(next: Config): void {
    const { detector, pressure, watchdog, reserve, log, machine, problems } =
      this.#parts;
    const old = this.#config;
    this.#config = next;
    log.setLevel(next.logLevel);
    detector.configure(next);
    pressure.configure(next);
    this.#parts.thrash.configure(next);
    this.#parts.counter.configure(next);
    watchdog.configure(next, reserve.bytes);
    if (next.crashflagName !== old.crashflagName) {
      this.#crashFlag = new CrashFlagFile(
        next.crashflagName,
        this.#parts.bootId,
        log.child("crash-flag"),
      );
    }
    if (
      next.crashflagName !== old.crashflagName ||
      next.crashflag !== old.crashflag
    ) this.checkFlagDirectory(true);
    if (
      next.panicAction !== old.panicAction || next.gracetime !== old.gracetime
    ) startupWarnings(next, machine, log, problems);
  }
}
