/**
 * The thrash signal: the hang in which the OOM killer never fires. When
 * anonymous memory fills RAM, the kernel evicts file pages — programs' code
 * among them — and reads them back at once; the machine crawls for minutes,
 * `oom_kill` stays 0, and PSI memory `full` stays low (measured in the VM
 * suite on Linux 6.1: median 10-33% of 10 s, never the 60% of the stall
 * signal), because a task waiting for a refault on a slow disk counts as
 * stalled on I/O more than on memory. What does mark it, in every run and in
 * none of the healthy loads measured beside it (idle, a compile-like load,
 * a large file copy, a file read with 16 MB left, a memcg OOM loop, a thrash
 * confined to a memory cgroup), is the three together:
 * - PSI io `full` at or above `thrash_io_full` (default 70%) of `psi_window`
 *   (the hang: median ~93%; a large file copy reaches 93% as well, so it is
 *   not enough alone);
 * - major faults (`pgmajfault` of /proc/vmstat) at least
 *   {@link THRASH_MAJOR_FAULTS_PER_SECOND} a second over the window (the
 *   hang: 21-32/s; a file read or copy: under 1/s, they do not fault);
 * - MemAvailable under {@link THRASH_AVAILABLE_SHARE} of MemTotal (the hang:
 *   1.4-1.8%; a thrash inside a memory cgroup: 74%, the machine is fine).
 *
 * @module
 */

import type { OomSignal } from "./episode.ts";
import { StallMeter } from "./pressure.ts";

/** Major faults a second, over the window, that a thrash needs. */
export const THRASH_MAJOR_FAULTS_PER_SECOND = 5;
/** MemAvailable below this share of MemTotal: memory is short enough to thrash. */
export const THRASH_AVAILABLE_SHARE = 0.1;

/** One reading for the thrash meter, taken on one wake. */
export interface ThrashReading {
  /** PSI io `full total`, microseconds. */
  ioFullTotalMicros: number;
  /** `pgmajfault` of /proc/vmstat. */
  majorFaults: number;
  memAvailable: number;
  memTotal: number;
}

/** What the meter measured on the last reading. */
export interface ThrashFigures {
  /** Percent of the window with all tasks stalled on I/O. */
  ioFullShare: number;
  majorFaultsPerSecond: number;
  /** MemAvailable in percent of MemTotal. */
  availablePercent: number;
}

/**
 * Turns readings into thrash figures over `windowSeconds`: the io share from
 * the cumulative `full total` (a {@link StallMeter}), the fault rate between
 * the oldest reading in the window and the newest. Null until two readings
 * lie in one window.
 */
export class ThrashMeter {
  readonly #windowMs: number;
  readonly #io: StallMeter;
  #faults: { atMs: number; count: number }[] = [];

  constructor(windowSeconds: number) {
    this.#windowMs = windowSeconds * 1000;
    this.#io = new StallMeter(windowSeconds);
  }

  add(atMs: number, reading: ThrashReading): ThrashFigures | null {
    const share = this.#io.add(atMs, reading.ioFullTotalMicros);
    const last = this.#faults.at(-1);
    // A counter that goes back was not read from the same source; start over.
    if (last && (reading.majorFaults < last.count || atMs < last.atMs)) {
      this.#faults = [];
    }
    this.#faults.push({ atMs, count: reading.majorFaults });
    this.#faults = this.#faults.filter((f) => atMs - f.atMs <= this.#windowMs);
    const first = this.#faults[0];
    const spanMs = atMs - first.atMs;
    if (share === null || spanMs <= 0 || reading.memTotal <= 0) return null;
    return {
      ioFullShare: share,
      majorFaultsPerSecond: (reading.majorFaults - first.count) * 1000 / spanMs,
      availablePercent: 100 * reading.memAvailable / reading.memTotal,
    };
  }
}

/**
 * The thrash signal for `figures`: all three conditions of the module's rule
 * at once; none when `ioThreshold` is 0 (off) or nothing was measured.
 *
 * @example
 * ```ts
 * thrashSignal({ ioFullShare: 93, majorFaultsPerSecond: 27, availablePercent: 1.6 }, 70, 10)?.kind; // "memory-thrash"
 * ```
 */
export function thrashSignal(
  figures: ThrashFigures | null,
  ioThreshold: number,
  windowSeconds: number,
): OomSignal | null {
  if (ioThreshold <= 0 || figures === null) return null;
  const { ioFullShare, majorFaultsPerSecond, availablePercent } = figures;
  if (
    !(ioFullShare >= ioThreshold) ||
    !(majorFaultsPerSecond >= THRASH_MAJOR_FAULTS_PER_SECOND) ||
    !(availablePercent < THRASH_AVAILABLE_SHARE * 100)
  ) return null;
  return {
    kind: "memory-thrash",
    detail: `I/O full stall ${
      ioFullShare.toFixed(0)
    }% of the last ${windowSeconds} s with ${
      majorFaultsPerSecond.toFixed(0)
    } major faults/s and MemAvailable at ${availablePercent.toFixed(1)}%`,
  };
}
