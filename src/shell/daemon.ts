/**
 * The daemon: the thin shell around the watchdog. It owns the reserve, the
 * kernel log, the PSI trigger, the timers and the signals; it turns what it
 * reads into observations for the watchdog and carries out the actions it
 * returns.
 *
 * One wait for everything: `poll(2)` on a worker thread (a non-blocking FFI
 * call, so signals stay live) over the kernel log and the PSI trigger. It
 * returns the moment the kernel logs a record or reports a stall; its
 * timeout is the heartbeat, or a watchdog deadline, or 1 s while memory is
 * tight or an episode goes on. At idle nothing else wakes the process.
 *
 * @module
 */

import {
  makeWakePipe,
  monotonicMicros,
  POLLERR,
  pollFds,
  POLLIN,
  POLLPRI,
  readNonBlocking,
  writeFd,
} from "../../ffi/libc.ts";
import { type Config, configRecord, describeConfig } from "../core/config.ts";
import { type DaemonStatus, episodeStatus } from "../core/status.ts";
import { formatMetrics } from "../core/metrics.ts";
import { VERSION } from "../version.ts";
import {
  acquireInstanceLock,
  AlreadyRunning,
  lockPathFor,
} from "./instance_lock.ts";
import {
  classifyOomMessage,
  type KernelRecord,
  type OomConstraint,
  type OomScope,
} from "../core/kernel_log.ts";
import { fallbackScope, KillLedger } from "../core/kill_ledger.ts";
import type { Meminfo } from "../core/meminfo.ts";
import { StallMeter } from "../core/pressure.ts";
import { isoTimestamp } from "../core/time.ts";
import { dirname } from "../core/paths.ts";
import { type Action, type OomSignal, Watchdog } from "../core/watchdog.ts";
import { writeFileAtomic } from "./atomic_file.ts";
import {
  rehearseCrashFlag,
  removeCrashFlag,
  reportLeftoverCrashFlag,
  writeCrashFlag,
} from "./crash_flag_file.ts";
import { runExecOnOom } from "./exec_hook.ts";
import { KernelLogReader, KMSG_PATH } from "./kernel_log_reader.ts";
import { kernelLogWriter, type Logger } from "./log.ts";
import { runPanicAction } from "./panic_action.ts";
import {
  readBootId,
  readKernelPanicTimeout,
  readMeminfo,
  readOomKillCounter,
  readPressure,
} from "./procfs.ts";
import { Reserve, ReserveError } from "./reserve.ts";
import {
  lockOwnCode,
  protectFromOomKiller,
  trimStartupCode,
} from "./self_protection.ts";
import { PressureTrigger, TriggerRefused } from "./pressure_trigger.ts";

const MIB = 1024 * 1024;
/** How often counters, memory and pressure are read while memory is tight. */
export const TIGHT_INTERVAL_MS = 1_000;
/** MemAvailable below this share of MemTotal counts as tight. */
const TIGHT_AVAILABLE_SHARE = 0.1;

/** A kill as the daemon learned of it, from the log or the counter. */
interface ObservedKill {
  scope: OomScope;
  source: "kernel log" | "oom_kill counter";
  victim?: string;
  memcg?: string;
  /** Kernel timestamp of the report, for the reaction latency. */
  kernelMicros?: number;
}

function monotonicMs(): number {
  return Number(monotonicMicros()) / 1000;
}

/** The wall-clock time, ISO 8601, of a moment on the monotonic clock. */
function wallClockOf(monotonic: number): string {
  return isoTimestamp(Date.now() - (monotonicMs() - monotonic));
}

/** Where the daemon's environment differs from the real machine (tests). */
export interface DaemonEnvironment {
  kmsgPath: string;
}

export function daemonEnvironment(): DaemonEnvironment {
  return { kmsgPath: Deno.env.get("OOMWATCH_KMSG") || KMSG_PATH };
}

export class Daemon {
  #config: Config;
  /** Reads the configuration again (SIGHUP); throws UsageError. */
  readonly #reloadConfig: () => Config;
  #reloadRequested = false;
  readonly #wakePipe = makeWakePipe();
  readonly #log: Logger;
  readonly #watchLog: Logger;
  readonly #environment: DaemonEnvironment;
  readonly #reserve = new Reserve();
  #watchdog!: Watchdog;
  #ledger!: KillLedger;
  #stall: StallMeter;
  #kernelLog: KernelLogReader | null = null;
  #trigger: PressureTrigger | null = null;
  /** Until when memory counts as tight after a trigger fired (monotonic ms). */
  #tightUntilMs = 0;
  #lastShare: number | null = null;
  #pendingConstraints = new Map<number, OomConstraint>();
  #lowestMemAvailable = Infinity;
  #lastMeminfo: Meminfo | null = null;
  #psiMissingSaid = false;
  #bootId = readBootId();
  #stopping = false;
  #startedAt = isoTimestamp(Date.now());
  #statusFailureSaid = false;
  #counters = { globalKills: 0, memcgKills: 0, stalls: 0 };
  #lastLatencyMs: number | null = null;

  constructor(
    config: Config,
    log: Logger,
    reloadConfig: () => Config = () => config,
    environment = daemonEnvironment(),
  ) {
    this.#config = config;
    this.#reloadConfig = reloadConfig;
    this.#log = log;
    this.#watchLog = log.child("watchdog");
    this.#environment = environment;
    this.#stall = new StallMeter(config.psiWindow);
  }

  /**
   * Starts the daemon and runs until SIGTERM/SIGINT. Resolves to the exit
   * code: 1 when the reserve cannot be created at start.
   */
  async run(): Promise<number> {
    const log = this.#log;
    // Before the reserve exists: a SIGTERM from then on must release it.
    this.#installSignalHandlers();
    const lockPath = lockPathFor(this.#config.statusFile);
    try {
      Deno.mkdirSync(dirname(this.#config.statusFile), { recursive: true });
      acquireInstanceLock(lockPath);
    } catch (error) {
      const reason = error instanceof AlreadyRunning
        ? error.message
        : `cannot take the instance lock ${lockPath}: ${error}; check that ${
          dirname(this.#config.statusFile)
        } is writable or choose another --status-file`;
      log.error(reason);
      return 1;
    }
    // Protected before the reserve exists: creating it takes memory.
    const selfLog = log.child("self-protection");
    const scoreAdj = protectFromOomKiller(selfLog);
    try {
      this.#reserve.create(this.#config.bufsize * MIB);
    } catch (error) {
      if (error instanceof ReserveError) {
        log.child("reserve").error(error.message);
        return 1;
      }
      throw error;
    }
    this.#warnAboutPanicSetting();
    if (this.#config.crashflag) {
      reportLeftoverCrashFlag(
        this.#config.crashflagName,
        this.#bootId,
        log.child("crash-flag"),
      );
    }
    this.#openKernelLog();
    log.setKernelLog(kernelLogWriter(this.#environment.kmsgPath));
    this.#armPressureTrigger();
    this.#watchdog = new Watchdog(this.#config, this.#reserve.held);
    this.#ledger = new KillLedger(readOomKillCounter() ?? 0);
    this.#sample(monotonicMs());
    // Start-up is over: drop its code pages, touch the emergency path so its
    // pages are resident, then (optionally) lock what is resident and all
    // that faults in later.
    trimStartupCode();
    if (this.#config.crashflag) {
      rehearseCrashFlag(this.#config.crashflagName, log.child("crash-flag"));
    }
    const codeMappings = this.#config.lockCode ? lockOwnCode(selfLog) : 0;
    log.info(
      `started (pid ${Deno.pid}): ${describeConfig(this.#config)}; reserve ${
        this.#reserve.bytes / MIB
      } MiB locked; ${codeMappings} code mappings locked; oom_score_adj ${
        scoreAdj ?? "unknown"
      }; waiting on ${this.#describeSources()}`,
    );
    this.#writeStatus();
    await this.#loop();
    return 0;
  }

  #describeSources(): string {
    const sources = [];
    if (this.#kernelLog) {
      sources.push(`the kernel log (${this.#kernelLog.path})`);
    }
    if (this.#trigger) {
      sources.push(`a PSI trigger '${this.#trigger.description}'`);
    }
    sources.push(`a ${this.#config.heartbeat} s heartbeat`);
    return sources.join(", ");
  }

  /**
   * The one wait: poll(2) over the kernel log and the PSI trigger (either may
   * be missing; with neither it is a plain sleep), its timeout the heartbeat,
   * or sooner a watchdog deadline or the 1 s sampling while memory is tight.
   * Every state change follows a wake of this loop, so each wait is computed
   * from the state as it is.
   */
  async #loop(): Promise<void> {
    let sampleDueMs = monotonicMs() + this.#sampleIntervalMs(monotonicMs());
    while (!this.#stopping) {
      const kernelLog = this.#kernelLog;
      const trigger = this.#trigger;
      const fds: { fd: number; events: number }[] = [
        { fd: this.#wakePipe.readFd, events: POLLIN },
      ];
      if (kernelLog) fds.push({ fd: kernelLog.fd, events: POLLIN });
      if (trigger) fds.push({ fd: trigger.fd, events: POLLPRI });
      const deadline = this.#watchdog.nextDeadlineMs();
      const wakeAt = deadline === null
        ? sampleDueMs
        : Math.min(sampleDueMs, deadline);
      const revents = await pollFds(fds, wakeAt - monotonicMs());
      const now = monotonicMs();
      try {
        if (revents[0] & POLLIN) {
          readNonBlocking(this.#wakePipe.readFd, new Uint8Array(64));
        }
        if (this.#reloadRequested) {
          this.#reloadRequested = false;
          this.#reload();
        }
        // A reload may have replaced the trigger; the old one's bits are moot.
        const triggerBits = trigger && trigger === this.#trigger
          ? revents[fds.length - 1]
          : 0;
        let stall: OomSignal | null = null;
        if (triggerBits & POLLERR) {
          this.#dropTrigger("the kernel reported an error on it");
        } else if (triggerBits & POLLPRI) {
          stall = this.#onTrigger(now);
        } else if (now >= sampleDueMs && !this.#quiet(now)) {
          stall = this.#sample(now);
        }
        if (stall !== null) await this.#onStall(stall, now);
        await this.#observe(now);
      } catch (error) {
        this.#log.error(
          `internal error: ${error instanceof Error ? error.stack : error}`,
        );
      }
      this.#writeStatus();
      if (now >= sampleDueMs) sampleDueMs = now + this.#sampleIntervalMs(now);
      // Entering an episode or a stall shortens the wait at once.
      sampleDueMs = Math.min(sampleDueMs, now + this.#sampleIntervalMs(now));
    }
  }

  /** The status file: rewritten atomically after every wake (the heartbeat). */
  #writeStatus(): void {
    try {
      const status = this.#status();
      writeFileAtomic(
        this.#config.statusFile,
        `${JSON.stringify(status, null, 2)}\n`,
        { durable: false },
      );
      if (this.#config.metricsFile !== "") {
        writeFileAtomic(this.#config.metricsFile, formatMetrics(status), {
          durable: false,
        });
      }
      this.#statusFailureSaid = false;
    } catch (error) {
      if (this.#statusFailureSaid) return;
      this.#statusFailureSaid = true;
      this.#log.warn(
        `cannot write the status file ${this.#config.statusFile} or the metrics file: ${error}; oomwatch check will report the daemon as stale`,
      );
    }
  }

  #status(): DaemonStatus {
    const episode = this.#watchdog.episode;
    const counters = this.#watchdog.counters;
    return {
      pid: Deno.pid,
      version: VERSION,
      startedAt: this.#startedAt,
      bootId: this.#bootId,
      config: configRecord(this.#config),
      state: this.#stopping ? "stopped" : this.#watchdog.phase,
      reserve: {
        configuredBytes: this.#config.bufsize * MIB,
        heldBytes: this.#reserve.bytes,
      },
      episode: episode &&
        episodeStatus(
          episode,
          this.#config.gracetime,
          monotonicMs(),
          wallClockOf,
        ),
      counters: {
        globalOomKills: this.#counters.globalKills,
        memcgOomKills: this.#counters.memcgKills,
        stalls: this.#counters.stalls,
        episodes: counters.episodes,
        releases: counters.releases,
        rearmFailures: counters.rearmFailures,
        kernelLogLost: this.#kernelLog?.lost ?? 0,
      },
      lastReactionLatencyMs: this.#lastLatencyMs,
      heartbeatSeconds: this.#config.heartbeat,
      heartbeatAt: isoTimestamp(Date.now()),
      heartbeatEpochMs: Date.now(),
    };
  }

  #sampleIntervalMs(nowMs: number): number {
    return this.#isTight(nowMs)
      ? TIGHT_INTERVAL_MS
      : this.#config.heartbeat * 1000;
  }

  /**
   * Whether a heartbeat may skip memory and pressure: when the kernel log
   * reports kills and the PSI trigger reports stalls, at idle only the
   * `oom_kill` backstop needs reading.
   */
  #quiet(nowMs: number): boolean {
    const phase = this.#watchdog.phase;
    return this.#kernelLog !== null && this.#trigger !== null &&
      nowMs >= this.#tightUntilMs &&
      (phase === "armed" || phase === "reserve-disabled");
  }

  /**
   * Whether to read every second rather than every heartbeat: during an
   * episode (a stall is a level that must be seen while it lasts), after a
   * trigger fired, and — without a trigger — while memory is short or stalls
   * are being measured.
   */
  #isTight(nowMs: number): boolean {
    if (this.#watchdog.episode !== null) return true;
    if (nowMs < this.#tightUntilMs) return true;
    if (this.#trigger || this.#config.psiFull === 0) return false;
    const info = this.#lastMeminfo;
    const short = info !== null &&
      info.memAvailable < info.memTotal * TIGHT_AVAILABLE_SHARE;
    return short || (this.#lastShare ?? 0) > 0;
  }

  #armPressureTrigger(): void {
    if (this.#config.psiFull === 0) return;
    try {
      this.#trigger = PressureTrigger.arm(
        this.#config.psiFull,
        this.#config.psiWindow,
      );
    } catch (error) {
      if (!(error instanceof TriggerRefused)) throw error;
      this.#log.child("pressure").warn(
        `no PSI trigger (${error.message}): memory pressure is read every ${
          TIGHT_INTERVAL_MS / 1000
        } s while memory is tight and every heartbeat otherwise`,
      );
    }
  }

  #dropTrigger(reason: string): void {
    this.#trigger?.close();
    this.#trigger = null;
    this.#log.child("pressure").warn(
      `PSI trigger dropped (${reason}): falling back to periodic reads of /proc/pressure/memory`,
    );
  }

  /**
   * The kernel says a stall began. The signal itself comes from the counter:
   * a trigger armed after a quiet spell can fire at once on stall time that
   * accrued before it existed (seen here on 6.18), so the daemon takes a
   * reading now and every second for a window, and signals only a share it
   * measured.
   */
  #onTrigger(nowMs: number): OomSignal | null {
    this.#tightUntilMs = nowMs + this.#config.psiWindow * 1000;
    this.#log.child("pressure").debug(
      "PSI trigger fired: reading pressure every second",
    );
    return this.#sample(nowMs);
  }

  async #onStall(stall: OomSignal, nowMs: number): Promise<void> {
    this.#counters.stalls += 1;
    await this.#signal(stall, nowMs);
  }

  /** What every wake does: the kernel log, the counter, the watchdog's clock. */
  async #observe(nowMs: number): Promise<void> {
    // Log first, then the counter: the kernel counts a kill before it
    // prints it, so every kill in the drained log is already counted.
    for (const kill of this.#drainKernelLog()) {
      this.#ledger.logged();
      await this.#onKill(kill, nowMs);
    }
    const counter = readOomKillCounter();
    if (counter !== null) {
      const unexplained = this.#ledger.counter(
        counter,
        nowMs,
        this.#kernelLog !== null,
      );
      for (let i = 0; i < unexplained; i++) {
        const memTotal = this.#lastMeminfo?.memTotal ?? Infinity;
        await this.#onKill({
          scope: fallbackScope(this.#lowestMemAvailable, memTotal),
          source: "oom_kill counter",
        }, nowMs);
      }
    }
    await this.#execute(this.#watchdog.tick(nowMs, this.#lastMeminfo));
  }

  #installSignalHandlers(): void {
    const stop = (signal: string) => {
      this.#stopping = true;
      const released = this.#reserve.release();
      // The status says so, for whoever reads it next (check, metrics).
      if (this.#watchdog) this.#writeStatus();
      this.#log.info(
        `${signal}: reserve of ${released / MIB} MiB released; exiting`,
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

  /**
   * SIGHUP: the configuration is read again. An invalid one is refused and
   * the running one stays in force; a new bufsize re-creates the reserve.
   */
  #reload(): void {
    const log = this.#log.child("reload");
    let next: Config;
    try {
      next = this.#reloadConfig();
    } catch (error) {
      log.error(
        `reload refused: ${
          error instanceof Error ? error.message : error
        }; the running configuration stays in force`,
      );
      return;
    }
    const old = this.#config;
    if (next.statusFile !== old.statusFile) {
      log.warn(
        `status_file cannot change while running (the instance lock is beside it); keeping ${old.statusFile} until a restart`,
      );
      next = { ...next, statusFile: old.statusFile };
    }
    if (next.lockCode !== old.lockCode) {
      log.warn("lock_code takes effect at the next start");
    }
    this.#config = next;
    this.#log.setLevel(next.logLevel);
    if (next.psiWindow !== old.psiWindow) {
      this.#stall = new StallMeter(next.psiWindow);
    }
    if (next.psiFull !== old.psiFull || next.psiWindow !== old.psiWindow) {
      this.#trigger?.close();
      this.#trigger = null;
      this.#armPressureTrigger();
    }
    if (next.bufsize !== old.bufsize) this.#resizeReserve(old.bufsize, log);
    this.#watchdog.configure(next, this.#reserve.held);
    log.info(`configuration reloaded: ${describeConfig(next)}`);
  }

  /** A new bufsize: re-create the reserve now if one is held or none was wanted. */
  #resizeReserve(oldMiB: number, log: Logger): void {
    const phase = this.#watchdog.phase;
    if (phase === "episode" || phase === "recovering") {
      log.info(
        `bufsize ${this.#config.bufsize} MiB applies when the reserve is re-armed`,
      );
      return;
    }
    try {
      this.#reserve.create(this.#config.bufsize * MIB);
      log.info(`reserve re-created at ${this.#config.bufsize} MiB`);
    } catch (error) {
      if (!(error instanceof ReserveError)) throw error;
      log.error(`${error.message}; keeping a ${oldMiB} MiB reserve`);
      this.#config = { ...this.#config, bufsize: oldMiB };
      try {
        this.#reserve.create(oldMiB * MIB);
      } catch (again) {
        log.error(`re-creating the ${oldMiB} MiB reserve failed too: ${again}`);
      }
    }
  }

  #warnAboutPanicSetting(): void {
    if (this.#config.panicAction !== "panic" || this.#config.gracetime === 0) {
      return;
    }
    if (readKernelPanicTimeout() === 0) {
      this.#log.warn(
        "kernel.panic is 0: after the panic action the machine stays halted instead of rebooting; " +
          "set it with 'sysctl kernel.panic=10' (and in /etc/sysctl.d) or use --panic-action reboot",
      );
    }
  }

  #openKernelLog(): void {
    try {
      this.#kernelLog = KernelLogReader.open(this.#environment.kmsgPath);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#log.child("kernel-log").warn(
        `cannot read the kernel log (${reason}): OOM kills are noticed through /proc/vmstat oom_kill, ` +
          `and a kill counts as global when MemAvailable was below 5% of MemTotal around it (see README). ` +
          `Run oomwatch as root to read ${this.#environment.kmsgPath}`,
      );
    }
  }

  /** Reads memory and pressure; returns a stall signal when PSI says so. */
  #sample(nowMs: number): OomSignal | null {
    const previousAvailable = this.#lastMeminfo?.memAvailable ?? Infinity;
    try {
      this.#lastMeminfo = readMeminfo();
    } catch (error) {
      this.#log.debug(`cannot read /proc/meminfo: ${error}`);
      this.#lastMeminfo = null;
    }
    this.#lowestMemAvailable = Math.min(
      previousAvailable,
      this.#lastMeminfo?.memAvailable ?? Infinity,
    );
    if (this.#config.psiFull === 0) return null;
    const pressure = readPressure();
    if (!pressure?.full) {
      if (!this.#psiMissingSaid) {
        this.#psiMissingSaid = true;
        this.#log.child("pressure").warn(
          "no 'full' line in /proc/pressure/memory (kernel without PSI, or booted with psi=0): " +
            "the memory-stall signal is off and OOM kills are still watched; boot with psi=1 to enable it",
        );
      }
      return null;
    }
    const share = this.#stall.add(nowMs, pressure.full.totalMicros);
    this.#lastShare = share;
    if (share === null || share < this.#config.psiFull) return null;
    return {
      kind: "memory-stall",
      detail: `full stall ${
        share.toFixed(0)
      }% of the last ${this.#config.psiWindow} s`,
    };
  }

  #drainKernelLog(): ObservedKill[] {
    const reader = this.#kernelLog;
    if (!reader) return [];
    let records: KernelRecord[];
    try {
      records = reader.drain();
    } catch (error) {
      this.#log.child("kernel-log").warn(
        `reading ${reader.path} failed (${error}); falling back to the oom_kill counter`,
      );
      reader.close();
      this.#kernelLog = null;
      return [];
    }
    const kills: ObservedKill[] = [];
    for (const record of records) {
      if (record.facility !== 0) continue; // userspace cannot fake facility 0
      const line = classifyOomMessage(record.message);
      if (line?.kind === "constraint") {
        if (line.constraint.pid !== undefined) {
          this.#pendingConstraints.set(line.constraint.pid, line.constraint);
        }
      } else if (line?.kind === "kill") {
        const constraint = this.#pendingConstraints.get(line.kill.pid);
        this.#pendingConstraints.delete(line.kill.pid);
        const kill: ObservedKill = {
          scope: line.kill.scope,
          source: "kernel log",
          victim: `${line.kill.task} (pid ${line.kill.pid})`,
          kernelMicros: record.timestampMicros,
        };
        const memcg = constraint?.oomMemcg ?? constraint?.taskMemcg;
        if (memcg !== undefined) kill.memcg = memcg;
        kills.push(kill);
      }
    }
    if (this.#pendingConstraints.size > 64) this.#pendingConstraints.clear();
    return kills;
  }

  async #onKill(kill: ObservedKill, nowMs: number): Promise<void> {
    const where = kill.memcg ? ` in ${kill.memcg}` : "";
    const victim = kill.victim ?? "unknown victim";
    if (kill.scope === "memcg") this.#counters.memcgKills += 1;
    else this.#counters.globalKills += 1;
    if (kill.scope === "memcg" && !this.#config.memcgOom) {
      this.#log.child("kernel-log").info(
        `memcg OOM kill of ${victim}${where} (from the ${kill.source}): not an OOM signal; --memcg-oom makes it one`,
      );
      return;
    }
    const signal: OomSignal = {
      kind: kill.scope === "memcg" ? "memcg-oom" : "global-oom",
      detail: `kill of ${victim}${where} (from the ${kill.source})`,
    };
    if (kill.victim) signal.victim = kill.victim;
    await this.#signal(signal, nowMs, kill);
  }

  /** An OOM signal to the watchdog; a new episode also runs --exec-on-oom. */
  async #signal(
    signal: OomSignal,
    nowMs: number,
    cause?: ObservedKill,
  ): Promise<void> {
    const episodesBefore = this.#watchdog.counters.episodes;
    await this.#execute(this.#watchdog.signal(signal, nowMs), cause);
    const episode = this.#watchdog.episode;
    if (
      episode && this.#watchdog.counters.episodes > episodesBefore &&
      this.#config.execOnOom !== ""
    ) {
      runExecOnOom(this.#config.execOnOom, {
        OOMWATCH_EVENT: "episode-start",
        OOMWATCH_EPISODE: String(episode.number),
        OOMWATCH_TRIGGER: episode.trigger.kind,
        OOMWATCH_DETAIL: episode.trigger.detail,
        OOMWATCH_VICTIM: episode.trigger.victim ?? "",
        OOMWATCH_CRASHFLAG: this.#config.crashflag
          ? this.#config.crashflagName
          : "",
        OOMWATCH_BOOT_ID: this.#bootId,
      }, this.#log.child("exec-on-oom"));
    }
  }

  async #execute(actions: Action[], cause?: ObservedKill): Promise<void> {
    for (const action of actions) {
      switch (action.kind) {
        case "release-reserve":
          this.#releaseReserve(cause);
          break;
        case "create-reserve":
          await this.#execute(this.#recreateReserve(action.bytes));
          break;
        case "write-crash-flag": {
          const episode = action.episode;
          const written = writeCrashFlag(this.#config.crashflagName, {
            started: wallClockOf(episode.startedAtMs),
            trigger: episode.trigger.kind,
            detail: episode.trigger.detail,
            ...(episode.trigger.victim
              ? { victim: episode.trigger.victim }
              : {}),
            bootId: this.#bootId,
            pid: Deno.pid,
            episode: episode.number,
          }, this.#log.child("crash-flag"));
          this.#watchdog.crashFlagWritten(written);
          break;
        }
        case "remove-crash-flag":
          removeCrashFlag(
            this.#config.crashflagName,
            this.#log.child("crash-flag"),
          );
          break;
        case "panic":
          await runPanicAction(action.action, this.#log.child("panic"));
          break;
        case "log":
          if (action.critical) {
            this.#watchLog.critical(action.level, action.message);
          } else this.#watchLog.log(action.level, action.message);
          break;
      }
    }
  }

  #releaseReserve(cause?: ObservedKill): void {
    const released = this.#reserve.release();
    const doneMicros = monotonicMicros();
    let latency = "";
    if (cause?.kernelMicros !== undefined) {
      // The record's timestamp and CLOCK_MONOTONIC are the same clock.
      this.#lastLatencyMs = Number(doneMicros - BigInt(cause.kernelMicros)) /
        1000;
      latency = `, ${
        this.#lastLatencyMs.toFixed(3)
      } ms after the kernel's report`;
    }
    this.#log.child("reserve").critical(
      "warn",
      `reserve of ${released / MIB} MiB released${latency}`,
    );
  }

  #recreateReserve(bytes: number): Action[] {
    try {
      this.#reserve.create(bytes);
      return this.#watchdog.reserveCreated(true, monotonicMs());
    } catch (error) {
      if (!(error instanceof ReserveError)) throw error;
      this.#log.child("reserve").warn(
        `re-arm failed, will retry: ${error.message}`,
      );
      return this.#watchdog.reserveCreated(false, monotonicMs());
    }
  }
}
