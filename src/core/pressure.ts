/**
 * Parser of `/proc/pressure/memory` (PSI, Linux ≥ 4.20) and the stall meter
 * that turns its cumulative `total` counter into a share of a time window.
 *
 * @module
 */

import type { OomSignal } from "./episode.ts";

/** One line of a PSI file: averages in percent, `total` in microseconds. */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalMicros: number;
}

/** The two lines of `/proc/pressure/memory`; `full` is null where the kernel has none. */
export interface Pressure {
  some: PressureLine | null;
  full: PressureLine | null;
}

// Bounded digits: a kernel prints at most 20 for a u64, so every value is a
// finite number (an oversized one would read as Infinity).
const LINE =
  /^(some|full) avg10=(\d{1,3}(?:\.\d{1,2})?) avg60=(\d{1,3}(?:\.\d{1,2})?) avg300=(\d{1,3}(?:\.\d{1,2})?) total=(\d{1,20})$/;

/**
 * Parses the text of a PSI file. A line that is missing or malformed (a
 * truncated read) is null rather than an error.
 *
 * @example
 * ```ts
 * parsePressure("some avg10=1.00 avg60=0.50 avg300=0.10 total=1234\n").full; // null
 * ```
 */
export function parsePressure(text: string): Pressure {
  const pressure: Pressure = { some: null, full: null };
  for (const line of text.split("\n")) {
    const match = LINE.exec(line.trim());
    if (!match) continue;
    pressure[match[1] as "some" | "full"] = {
      avg10: Number(match[2]),
      avg60: Number(match[3]),
      avg300: Number(match[4]),
      totalMicros: Number(match[5]),
    };
  }
  return pressure;
}

interface StallSample {
  atMs: number;
  totalMicros: number;
}

/**
 * The share of recent time in which all non-idle tasks were stalled on
 * memory, computed from the cumulative `full total` counter rather than from
 * `avg10`: the kernel's averages decay exponentially over fixed 10/60/300 s
 * periods, while the counter gives the exact stall time between any two
 * readings. The share is measured between the oldest reading inside the
 * window and the newest, so readings further apart than the window (a long
 * heartbeat) say nothing until a closer one is taken.
 */
export class StallMeter {
  readonly #windowMs: number;
  #samples: StallSample[] = [];

  constructor(windowSeconds: number) {
    this.#windowMs = windowSeconds * 1000;
  }

  /**
   * Adds a reading of `full total` taken at `atMs` (monotonic) and returns
   * the stalled share, in percent, since the oldest reading in the window,
   * or null when no earlier reading lies in the window.
   */
  add(atMs: number, totalMicros: number): number | null {
    const last = this.#samples.at(-1);
    // A counter that goes back means the reading was not from the same source
    // (a truncated read); start the window over.
    if (last && (totalMicros < last.totalMicros || atMs < last.atMs)) {
      this.#samples = [];
    }
    this.#samples.push({ atMs, totalMicros });
    this.#samples = this.#samples.filter((sample) =>
      atMs - sample.atMs <= this.#windowMs
    );
    const first = this.#samples[0];
    const spanMs = atMs - first.atMs;
    if (spanMs <= 0) return null;
    const stalledMs = (totalMicros - first.totalMicros) / 1000;
    return Math.min(100, (100 * stalledMs) / spanMs);
  }
}

/**
 * The memory-stall signal for a measured `share` (percent of the window in
 * which all non-idle tasks were stalled on memory): a signal at or above
 * `threshold`; none when the threshold is 0 (off) or nothing was measured.
 *
 * @example
 * ```ts
 * stallSignal(72, 60, 10)?.detail; // "full stall 72% of the last 10 s"
 * ```
 */
export function stallSignal(
  share: number | null,
  threshold: number,
  windowSeconds: number,
): OomSignal | null {
  if (
    threshold <= 0 || share === null || !Number.isFinite(share) ||
    share < threshold
  ) return null;
  return {
    kind: "memory-stall",
    detail: `full stall ${share.toFixed(0)}% of the last ${windowSeconds} s`,
  };
}

/** The longest window the kernel accepts for a PSI trigger (kernel/sched/psi.c). */
export const TRIGGER_MAX_WINDOW_SECONDS = 10;

/**
 * The text that arms a PSI trigger for "all tasks stalled on memory for
 * `percent`% of `windowSeconds`", or null where no trigger can express it
 * (a window beyond the kernel's 10 s, or a threshold of 0). The kernel
 * replaces the last byte written with NUL, so the text ends in one.
 *
 * @example
 * ```ts
 * triggerLine(60, 10); // "full 6000000 10000000\0"
 * ```
 */
export function triggerLine(
  percent: number,
  windowSeconds: number,
): string | null {
  if (percent <= 0 || windowSeconds > TRIGGER_MAX_WINDOW_SECONDS) return null;
  const windowMicros = windowSeconds * 1_000_000;
  const stallMicros = Math.max(1, Math.round(windowMicros * percent / 100));
  return `full ${stallMicros} ${windowMicros}\0`;
}
