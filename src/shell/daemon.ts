/**
 * The daemon: start-up, the loop and the signals. What one wake does is the
 * runner's (runner.ts).
 *
 * One wait for everything: `poll(2)` over the sources' descriptors and a
 * wake pipe. Where the OOM tracepoint wakes the daemon, on its own thread,
 * so that the release follows the wake at once (core/cadence.ts,
 * `waitsOnOwnThread`); elsewhere, and after a signal interrupted that wait,
 * on a worker thread (a non-blocking FFI call), so the event loop runs the
 * signal listeners and timers meanwhile. Its timeout: the next read, or a
 * sooner deadline; nothing else wakes it.
 *
 * @module
 */

import { pollFds, pollFdsHere, POLLIN, POLLNVAL } from "../../ffi/libc.ts";
import { waitsOnOwnThread } from "../core/cadence.ts";
import { type Config, describeConfig } from "../core/config.ts";
import { Detector } from "../core/detector.ts";
import { releasesAtOnce } from "../core/memcg_policy.ts";
import { RuntimeFailure } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { Problems } from "../core/problems.ts";
import { reserveDoesNotFit } from "../core/reserve_room.ts";
import { isoTimestamp } from "../core/time.ts";
import { formatMiB, MIB } from "../core/units.ts";
import type { Phase } from "../core/episode.ts";
import { Watchdog } from "../core/watchdog.ts";
import { Actuator } from "./actuator.ts";
import { CrashFlagFile, earlierPanics } from "./crash_flag_file.ts";
import { eventLoopFds } from "./event_loop.ts";
import { execHooksRunning } from "./exec_hook.ts";
import { startupWarnings } from "./health_checks.ts";
import { InstanceLock, lockPathFor } from "./instance_lock.ts";
import { kernelLogWriter, type Logger, ProblemLog } from "./log.ts";
import { readBootId, readMeminfo } from "./procfs.ts";
import { reload, type ReloadTarget } from "./reload.ts";
import { Reserve, reserveBacking, ReserveError } from "./reserve.ts";
import { nowMs, Runner, wallClockOf } from "./runner.ts";
import {
  lockOwnCode,
  protectFromOomKiller,
  shedIdleMemory,
} from "./self_protection.ts";
import { Signals } from "./signals.ts";
import { openSources } from "./sources/index.ts";
import { WatchdogKeeper } from "./watchdog_keeper.ts";

export class Daemon implements ReloadTarget {
  readonly #initial: Config;
  readonly #machine: Machine;
  readonly #log: Logger;
  readonly #loadConfig: () => Config;
  readonly #problems: ProblemLog;
  readonly #reserve: Reserve;
  #runner: Runner | null = null;
  #signals: Signals | null = null;
  /** The event loop's descriptors, for the wait on this thread. */
  #eventLoop: { fd: number; events: number }[] | null = null;
  /** The next wait must leave the event loop free (the worker thread's). */
  #loopOwed = true;

  constructor(
    config: Config,
    machine: Machine,
    log: Logger,
    loadConfig: () => Config,
  ) {
    this.#initial = config;
    this.#machine = machine;
    this.#log = log;
    this.#loadConfig = loadConfig;
    this.#problems = new ProblemLog(new Problems(), log.child("health"));
    this.#reserve = new Reserve(machine, reserveBacking(config));
  }

  /**
   * Starts and runs until SIGTERM/SIGINT (which exit the process); resolves
   * to 1 when start-up fails, having said why.
   */
  async run(): Promise<number> {
    // Before the reserve exists: a SIGTERM from then on must release it.
    const signals = new Signals({ stop: (signal) => this.#stop(signal) });
    this.#signals = signals;
    let runner: Runner;
    try {
      runner = this.#startUp();
    } catch (error) {
      signals.close();
      if (error instanceof RuntimeFailure || error instanceof ReserveError) {
        this.#log.error(error.message);
        return 1;
      }
      throw error;
    }
    await runner.wake(nowMs(), () => 0);
    // The first wait is the worker thread's: a signal listener takes effect
    // only once the event loop has run (Deno polls a new signal op first
    // with a waker that wakes nothing), and a signal that came during the
    // start-up would otherwise wait for another one. A listener that ran
    // re-arms with a new op, always during a wait of the worker thread, so
    // the loop turns over it before it next blocks.
    this.#loopOwed = true;
    while (!runner.stopping) {
      const { fds, wakeAtMs } = runner.waitFor();
      const all = [{ fd: signals.fd, events: POLLIN }, ...fds];
      const own = !this.#loopOwed && waitsOnOwnThread({
        tracepointWakes: runner.tracepointWakes,
        hooksRunning: execHooksRunning(),
      });
      this.#loopOwed = false;
      const revents = (own ? this.#waitHere(all, wakeAtMs) : null) ??
        // Not waited here, or the event loop has work (a signal's listener
        // to run): the wait goes on on a worker thread, the loop free.
        await pollFds(all, wakeAtMs - nowMs());
      const ready = (fd: number) =>
        revents[all.findIndex((entry) => entry.fd === fd)] ?? 0;
      // Before anything else, the clock included: the release comes here.
      runner.first(ready);
      await runner.wake(nowMs(), ready);
      // After the wake: a reload between a release on the tracepoint's wake
      // and the watchdog's episode would still see the reserve armed.
      if (signals.takeReload()) {
        reload(this, this.#loadConfig, this.#log.child("reload"));
      }
    }
    runner.close();
    signals.close();
    return 0;
  }

  /**
   * The wait on this thread, with the event loop's descriptors: the
   * revents of `fds` when one of them woke it (or the time ran out), null
   * when a signal or the loop's own work ended it first.
   */
  #waitHere(
    fds: { fd: number; events: number }[],
    wakeAtMs: number,
  ): number[] | null {
    // Deno's runtimes make their epoll instances before any of this code
    // runs, and keep them: found once (a scan costs ~0.2 ms), again should
    // one be gone.
    const loop = this.#eventLoop ??= eventLoopFds(this.#machine.proc)
      .map((fd) => ({ fd, events: POLLIN }));
    let revents: number[] | null;
    try {
      revents = pollFdsHere([...fds, ...loop], wakeAtMs - nowMs());
    } catch {
      return null; // poll refused (ENOMEM, say): the worker thread's wait
    }
    if (revents === null) return null; // EINTR
    const own = revents.slice(0, fds.length);
    const loopRevents = revents.slice(fds.length);
    if (loopRevents.some((r) => r & POLLNVAL)) this.#eventLoop = null;
    const loopWork = loopRevents.some((r) => r !== 0);
    // A ready source comes first (its wake may be a kill); the loop's work
    // then has the next wait, so a source that stays ready cannot keep a
    // signal's listener from running.
    if (own.some((r) => r !== 0)) {
      this.#loopOwed = loopWork;
      return own;
    }
    return loopWork ? null : own;
  }

  /**
   * Stops the daemon as SIGTERM would, from inside its process (tests of
   * the loop): `run` then resolves to 0 instead of the process exiting.
   */
  stop(): void {
    this.#stop("stop");
    this.#signals?.wake();
  }

  /** Lock, protection, reserve, sources, in this order; throws RuntimeFailure. */
  #startUp(): Runner {
    const machine = this.#machine;
    const config = this.#initial;
    const log = this.#log;
    const problems = this.#problems;
    const lock = InstanceLock.acquire(lockPathFor(config.statusFile));
    // Protected before the reserve exists: creating it takes memory.
    const selfLog = log.child("self-protection");
    const scoreAdj = protectFromOomKiller(selfLog, machine.proc);
    const memory = readMeminfo(machine);
    const tooBig = memory.ok && config.bufsize > 0
      ? reserveDoesNotFit(config.bufsize * MIB, memory.value)
      : null;
    if (tooBig !== null) {
      throw new RuntimeFailure(
        `refusing to lock the ${config.bufsize} MiB reserve: ${tooBig}; free memory or lower --bufsize`,
      );
    }
    this.#reserve.create(config.bufsize * MIB);
    startupWarnings(config, machine, log, problems);
    const bootId = readBootId(machine);
    const crashFlag = new CrashFlagFile(
      config.crashflagName,
      bootId,
      log.child("crash-flag"),
    );
    if (config.crashflag) crashFlag.reportAtStart();
    const sources = openSources(machine, config, log, problems, (scope) => {
      // The tracepoint's wake, before the kernel log is read.
      if (!releasesAtOnce(runner.config.memcgOom, scope)) return false;
      this.#reserve.release();
      return true;
    });
    log.setKernelLog(kernelLogWriter(machine.kernelLog));
    if (sources.tracepoint.describe() !== null) this.#reserve.warmUp();
    const detector = new Detector(config, sources.counter.current());
    if (memory.ok) detector.memory(memory.value, nowMs());
    const watchdog = new Watchdog(config, this.#reserve.bytes);
    watchdog.earlierPanics(
      earlierPanics(config.crashflagName, bootId),
      Date.now() - nowMs(),
    );
    const actuator: Actuator = new Actuator({
      machine,
      config: () => runner.config,
      crashFlag: () => runner.crashFlag,
      reserve: this.#reserve,
      watchdog,
      problems,
      log,
      bootId,
      nowMs,
      wallClockOf,
    });
    const runner: Runner = new Runner(
      {
        machine,
        log,
        problems,
        reserve: this.#reserve,
        bootId,
        startedAt: isoTimestamp(Date.now()),
        lock,
        watchdog,
        detector,
        actuator,
        kernelLog: sources.kernelLog,
        tracepoint: sources.tracepoint,
        pressure: sources.pressure,
        thrash: sources.thrash,
        counter: sources.counter,
        sources: sources.all,
        // Last: opening it arms it.
        watchdogDevice: WatchdogKeeper.open(machine, config, log, problems),
      },
      config,
      crashFlag,
    );
    this.#runner = runner;
    // Start-up is over: drop its code pages, touch the emergency path so
    // its pages are resident, then (optionally) lock what is resident and
    // all that faults in later.
    shedIdleMemory(machine.proc);
    runner.checkFlagDirectory(true);
    const code = config.lockCode ? lockOwnCode(selfLog, machine.proc) : 0;
    const waits = [...runner.waitsOn(), `a ${config.heartbeat} s heartbeat`];
    log.info(
      `started (pid ${Deno.pid}): ${describeConfig(config)}; reserve ${
        formatMiB(this.#reserve.bytes)
      } locked; ${code} code mappings locked; oom_score_adj ${
        scoreAdj ?? "unknown"
      }; waiting on ${waits.join(", ")}`,
    );
    return runner;
  }

  /** SIGTERM/SIGINT: release first, then leave the status consistent. */
  #stop(signal: string): void {
    const released = this.#reserve.release();
    this.#reserve.close();
    const runner = this.#runner;
    runner?.closeWatchdogDevice();
    const episode = runner?.watchdog.episode;
    if (runner) {
      runner.stopping = true;
      runner.writeStatus();
    }
    this.#log.info(
      `${signal}: ${
        released > 0
          ? `reserve of ${formatMiB(released)} released`
          : episode
          ? `no reserve held (released at the start of episode ${episode.number})`
          : "no reserve held"
      }; exiting`,
    );
  }

  // ReloadTarget: what a reload may change.
  get config(): Config {
    return this.#runner?.config ?? this.#initial;
  }

  get phase(): Phase {
    return this.#runner?.watchdog.phase ?? "armed";
  }

  memory(): { memTotal: number; memAvailable: number } | null {
    const reading = readMeminfo(this.#machine);
    return reading.ok ? reading.value : null;
  }

  resizeReserve(bytes: number): void {
    this.#reserve.create(bytes);
  }

  apply(next: Config): void {
    this.#runner?.apply(next);
  }
}
