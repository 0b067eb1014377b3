/**
 * The detector: which observations are OOM signals. Data in, decisions out,
 * like the watchdog it feeds:
 * - a kill from a witness that names its scope is a signal when global, or
 *   when memcg and the `memcg_oom` policy takes it ({@link memcgKillIsSignal});
 *   the kernel log and the tracepoint, two witnesses of one kill, are made
 *   one ({@link KillWitnesses});
 * - the `oom_kill` counter is reconciled with the kernel log
 *   ({@link KillLedger}); a kill the log did not explain is judged by the
 *   documented fallback from the lowest MemAvailable of the last seconds;
 * - under `--memcg-oom PATHS`, a rise of those cgroups' own `oom_kill`
 *   counters that no judged kill explains is a memcg-oom signal
 *   ({@link CoveredKillCounts}): a kill whose report the kernel's rate limit
 *   dropped, so the log never named its cgroup;
 * - memory pressure is a signal when the stalled share reaches `psi_full`;
 * - I/O pressure is a thrash signal when its stalled share reaches
 *   `thrash_io_full` while major faults go on and memory is short
 *   (core/thrash.ts);
 * - memcg kills that are not signals are counted and summed up in at most one
 *   log line a minute.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { KernelRecord } from "./kernel_log.ts";
import {
  judgedOnScope,
  mayRaiseCovered,
  memcgKillIsSignal,
} from "./memcg_policy.ts";
import {
  type CoveredCounter,
  CoveredKillCounts,
  fallbackScope,
  KillLedger,
} from "./kill_ledger.ts";
import type { KillObservation } from "./kill_correlator.ts";
import { KillWitnesses, type Victim } from "./witnesses.ts";
import type { Meminfo } from "./meminfo.ts";
import { StallMeter, stallSignal } from "./pressure.ts";
import type { OomSignal } from "./episode.ts";
import { type ThrashFigures, ThrashMeter, thrashSignal } from "./thrash.ts";
import { escapeControl } from "./text.ts";

/** How far back the fallback looks for the lowest MemAvailable. */
export const FALLBACK_MEMORY_WINDOW_MS = 10_000;
/** At most one summary of memcg kills that are not signals, this often. */
export const MEMCG_SUMMARY_INTERVAL_MS = 60_000;
/** Cgroups named in a memcg summary, busiest first. */
const SUMMARY_CGROUPS = 3;

/** What a source saw (src/shell/sources/). */
export type Observation =
  /** Records of the kernel log, in order. */
  | { kind: "kernel-records"; records: KernelRecord[] }
  /** A victim the `oom:mark_victim` tracepoint reported. */
  | { kind: "victim"; victim: Victim }
  /** Tracepoint records perf could not keep (the counter covers their kills). */
  | { kind: "victims-lost"; count: number }
  | { kind: "oom-kill-counter"; value: number }
  /**
   * The `oom_kill` counters of the `--memcg-oom` cgroups and those below
   * them (core/cgroup_fs.ts); `complete` false when some could not be read.
   */
  | {
    kind: "covered-oom-kills";
    counters: readonly CoveredCounter[];
    complete: boolean;
  }
  | { kind: "memory"; info: Meminfo }
  | { kind: "pressure"; fullTotalMicros: number }
  /** PSI io `full total` and `pgmajfault`, for the thrash signal. */
  | { kind: "thrash"; ioFullTotalMicros: number; majorFaults: number };

/** The parameters the detector decides with. */
export type DetectorConfig = Pick<
  Config,
  "memcgOom" | "psiFull" | "psiWindow" | "thrashIoFull"
>;

/** A line for the log, as the detector wants it said. */
export interface DetectorLog {
  level: "debug" | "info" | "warn";
  message: string;
}

/** What one observation amounted to. */
export interface Detection {
  signals: OomSignal[];
  logs: DetectorLog[];
}

/** Kills and stalls seen since the daemon started. */
export interface DetectorCounters {
  globalOomKills: number;
  memcgOomKills: number;
  stalls: number;
  thrashes: number;
  /** Tracepoint records lost (a reader that was stopped; PERF_RECORD_LOST). */
  tracepointLost: number;
}

function describeKill(kill: KillObservation): string {
  const victim = kill.victim
    ? `${kill.victim.name} (pid ${kill.victim.pid})`
    : "unknown victim";
  const where = kill.memcg
    ? ` in ${kill.memcg}`
    : kill.victimMemcg
    ? ` in ${kill.victimMemcg} (the victim's cgroup; the kernel logged no summary of the kill)`
    : kill.scope === "memcg" && kill.source !== "oom_kill counter"
    ? " in an unidentified cgroup"
    : "";
  return `${victim}${where} (from the ${kill.source})`;
}

/** Turns observations into OOM signals; see the module's rules. */
export class Detector {
  #config: DetectorConfig;
  #ledger: KillLedger;
  #covered = new CoveredKillCounts();
  readonly #witnesses = new KillWitnesses();
  #stall: StallMeter;
  #thrash: ThrashMeter;
  #memory: { atMs: number; memAvailable: number; memTotal: number }[] = [];
  #lastShare: number | null = null;
  #lastThrash: ThrashFigures | null = null;
  #counters: DetectorCounters = {
    globalOomKills: 0,
    memcgOomKills: 0,
    stalls: 0,
    thrashes: 0,
    tracepointLost: 0,
  };
  /** memcg kills that were not signals, by cgroup, since the last summary. */
  #unsummed = new Map<string, number>();
  #summaryDueMs: number | null = null;
  #lastSummaryMs = -Infinity;

  /** `counterAtStart`: `oom_kill` when watching began (null: unreadable). */
  constructor(config: DetectorConfig, counterAtStart: number | null) {
    this.#config = config;
    this.#ledger = new KillLedger(counterAtStart ?? 0);
    this.#stall = new StallMeter(config.psiWindow);
    this.#thrash = new ThrashMeter(config.psiWindow);
  }

  /** New parameters (a reload); a new window starts the stall meter over. */
  configure(config: DetectorConfig): void {
    if (config.psiWindow !== this.#config.psiWindow) {
      this.#stall = new StallMeter(config.psiWindow);
      this.#thrash = new ThrashMeter(config.psiWindow);
    }
    // Other cgroups covered: their counters' values so far are no news.
    if (
      JSON.stringify(config.memcgOom) !== JSON.stringify(this.#config.memcgOom)
    ) this.#covered = new CoveredKillCounts();
    this.#config = config;
  }

  get counters(): Readonly<DetectorCounters> {
    return this.#counters;
  }

  /** The last stalled share measured (percent), or null. */
  get lastShare(): number | null {
    return this.#lastShare;
  }

  /** Whether a kill waits to be explained: counted, or marked by the tracepoint, but not yet logged. */
  get killPending(): boolean {
    return this.#ledger.pending || this.#witnesses.waiting ||
      this.#covered.pending;
  }

  /** The last memory figures read, or null before the first. */
  get memoryNow(): Meminfo | null {
    const last = this.#memory.at(-1);
    return last
      ? { memTotal: last.memTotal, memAvailable: last.memAvailable }
      : null;
  }

  /**
   * One observation. `killWitness`: whether a source reports each kill as it
   * happens (else the counter's kills are judged by the fallback at once).
   */
  observe(
    observation: Observation,
    nowMs: number,
    killWitness: boolean,
  ): Detection {
    switch (observation.kind) {
      case "kernel-records":
        return this.#logged(observation.records, nowMs);
      case "victim": {
        const kill = this.#witnesses.victim(
          observation.victim,
          nowMs,
          (scope) => judgedOnScope(this.#config.memcgOom, scope),
        );
        if (kill === null) return { signals: [], logs: [] };
        // Judged now, it explains a counted kill: its kill line will not.
        this.#ledger.logged();
        return this.#judge(kill, nowMs);
      }
      case "victims-lost":
        this.#counters.tracepointLost += observation.count;
        return {
          signals: [],
          logs: [{
            level: "warn",
            message:
              `perf dropped ${observation.count} oom:mark_victim records (the daemon could not read them in time): the oom_kill counter still counts those kills, the kernel log tells what it kept of them`,
          }],
        };
      case "oom-kill-counter":
        return this.counter(observation.value, nowMs, killWitness);
      case "covered-oom-kills":
        this.#covered.reading(
          observation.counters,
          observation.complete,
          nowMs,
        );
        return this.#coveredKills(nowMs);
      case "memory":
        this.memory(observation.info, nowMs);
        return { signals: [], logs: [] };
      case "pressure":
        return this.pressure(observation.fullTotalMicros, nowMs);
      case "thrash":
        return this.thrash(observation, nowMs);
    }
  }

  /** A kill that a witness described (kernel log, tracepoint). */
  kill(kill: KillObservation, nowMs: number): Detection {
    if (kill.source !== "oom_kill counter") this.#ledger.logged();
    return this.#judge(kill, nowMs);
  }

  #logged(records: readonly KernelRecord[], nowMs: number): Detection {
    const detection: Detection = { signals: [], logs: [] };
    for (const kill of this.#witnesses.records(records, nowMs)) {
      // Each kill explains one counted by the kernel.
      this.#ledger.logged();
      const judged = this.#judge(kill, nowMs);
      detection.signals.push(...judged.signals);
      detection.logs.push(...judged.logs);
    }
    return detection;
  }

  /**
   * A reading of `oom_kill`, taken after the kernel log was drained.
   * `logReadable` false: every new kill is judged by the fallback at once.
   */
  counter(value: number, nowMs: number, logReadable: boolean): Detection {
    const unexplained = this.#ledger.counter(value, nowMs, logReadable);
    const detection: Detection = { signals: [], logs: [] };
    for (let i = 0; i < unexplained; i++) {
      const judged = this.#judge(this.#fallbackKill(nowMs), nowMs);
      detection.signals.push(...judged.signals);
      detection.logs.push(...judged.logs);
    }
    detection.signals.push(...this.#coveredKills(nowMs).signals);
    return detection;
  }

  /**
   * Kills the covered cgroups' counters counted and no judged kill
   * explains: memcg-oom signals, named by the cgroup whose counter rose.
   */
  #coveredKills(nowMs: number): Detection {
    const waiting = this.#ledger.pending || this.#witnesses.waiting;
    const signals: OomSignal[] = this.#covered.due(nowMs, waiting).map((
      cgroup,
    ) => ({
      kind: "memcg-oom",
      // A name from the cgroup filesystem: whoever may create cgroups there
      // (a delegated subtree) chose it, control bytes and all.
      detail: `kill in ${
        escapeControl(cgroup)
      } (from its memory cgroup's oom_kill counter: the kernel logged no summary of the kill)`,
    }));
    return { signals, logs: [] };
  }

  /** A reading of /proc/meminfo. */
  memory(info: Meminfo, nowMs: number): void {
    this.#memory.push({ atMs: nowMs, ...info });
    // Keep the window, and always the reading before the newest.
    while (
      this.#memory.length > 2 &&
      nowMs - this.#memory[0].atMs > FALLBACK_MEMORY_WINDOW_MS
    ) {
      this.#memory.shift();
    }
  }

  /** A reading of PSI memory `full total`; a stall signal when it says so. */
  pressure(fullTotalMicros: number, nowMs: number): Detection {
    const share = this.#stall.add(nowMs, fullTotalMicros);
    this.#lastShare = share;
    const signal = stallSignal(
      share,
      this.#config.psiFull,
      this.#config.psiWindow,
    );
    if (signal === null) return { signals: [], logs: [] };
    this.#counters.stalls += 1;
    return { signals: [signal], logs: [] };
  }

  /**
   * A reading of PSI io `full total` and `pgmajfault`, judged with the last
   * memory figures (read on the same wake: the sources read memory first).
   */
  thrash(
    reading: { ioFullTotalMicros: number; majorFaults: number },
    nowMs: number,
  ): Detection {
    const memory = this.memoryNow;
    if (memory === null) return { signals: [], logs: [] };
    const figures = this.#thrash.add(nowMs, { ...reading, ...memory });
    this.#lastThrash = figures;
    const signal = thrashSignal(
      figures,
      this.#config.thrashIoFull,
      this.#config.psiWindow,
    );
    if (signal === null) return { signals: [], logs: [] };
    this.#counters.thrashes += 1;
    return { signals: [signal], logs: [] };
  }

  /** The thrash figures of the last reading, or null. */
  get lastThrash(): ThrashFigures | null {
    return this.#lastThrash;
  }

  /** The passing of time: a memcg summary when one is due. */
  tick(nowMs: number): Detection {
    const late: Detection = { signals: [], logs: [] };
    for (const kill of this.#witnesses.tick(nowMs)) {
      this.#ledger.logged();
      const judged = this.#judge(kill, nowMs);
      late.signals.push(...judged.signals);
      late.logs.push(...judged.logs);
    }
    late.signals.push(...this.#coveredKills(nowMs).signals);
    if (this.#summaryDueMs === null || nowMs < this.#summaryDueMs) {
      return late;
    }
    this.#summaryDueMs = null;
    this.#lastSummaryMs = nowMs;
    const total = [...this.#unsummed.values()].reduce((a, b) => a + b, 0);
    const busiest = [...this.#unsummed].sort((a, b) => b[1] - a[1])
      .slice(0, SUMMARY_CGROUPS).map(([cgroup, count]) => `${cgroup} ${count}`)
      .join(", ");
    this.#unsummed.clear();
    return {
      signals: late.signals,
      logs: [...late.logs, {
        level: "info",
        message: `${total} more memcg OOM kill(s) in the last ${
          MEMCG_SUMMARY_INTERVAL_MS / 1000
        } s, not OOM signals (busiest: ${busiest}); ${this.#counters.memcgOomKills} since start`,
      }],
    };
  }

  /** When {@link tick} has a summary to give, or null. */
  nextDeadlineMs(): number | null {
    return this.#summaryDueMs;
  }

  #fallbackKill(nowMs: number): KillObservation {
    const recent = this.#memory.filter((reading) =>
      nowMs - reading.atMs <= FALLBACK_MEMORY_WINDOW_MS
    );
    const readings = recent.length > 0 ? recent : this.#memory.slice(-1);
    const lowest = Math.min(...readings.map((r) => r.memAvailable));
    const memTotal = readings.at(-1)?.memTotal ?? Infinity;
    return {
      scope: fallbackScope(lowest, memTotal),
      source: "oom_kill counter",
    };
  }

  #judge(kill: KillObservation, nowMs: number): Detection {
    if (kill.scope === "global") this.#counters.globalOomKills += 1;
    else this.#counters.memcgOomKills += 1;
    if (mayRaiseCovered(this.#config.memcgOom, kill)) {
      this.#covered.credit(nowMs);
    }
    if (
      kill.scope === "memcg" &&
      !memcgKillIsSignal(
        this.#config.memcgOom,
        kill.memcg ?? kill.victimMemcg,
      )
    ) {
      return { signals: [], logs: this.#notASignal(kill, nowMs) };
    }
    const signal: OomSignal = {
      kind: kill.scope === "memcg" ? "memcg-oom" : "global-oom",
      detail: `kill of ${describeKill(kill)}`,
    };
    if (kill.victim) {
      signal.victim = `${kill.victim.name} (pid ${kill.victim.pid})`;
    }
    if (kill.kernelMicros !== undefined) {
      signal.kernelMicros = kill.kernelMicros;
      signal.kernelSource = kill.source === "tracepoint"
        ? "oom:mark_victim tracepoint"
        : "report";
    }
    return { signals: [signal], logs: [] };
  }

  /** The first memcg kill in a minute is logged; later ones are summed up. */
  #notASignal(kill: KillObservation, nowMs: number): DetectorLog[] {
    if (nowMs - this.#lastSummaryMs >= MEMCG_SUMMARY_INTERVAL_MS) {
      this.#lastSummaryMs = nowMs;
      const hint = this.#config.memcgOom.kind === "prefixes"
        ? "outside the --memcg-oom cgroups"
        : "--memcg-oom makes it one";
      return [{
        level: "info",
        message: `memcg OOM kill of ${
          describeKill(kill)
        }: not an OOM signal (${hint}); more within a minute are summed up`,
      }];
    }
    const cgroup = kill.memcg ?? kill.victimMemcg ?? "unidentified cgroup";
    this.#unsummed.set(cgroup, (this.#unsummed.get(cgroup) ?? 0) + 1);
    this.#summaryDueMs ??= this.#lastSummaryMs + MEMCG_SUMMARY_INTERVAL_MS;
    return [];
  }
}
