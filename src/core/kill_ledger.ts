/**
 * Reconciles the two witnesses of OOM kills: the kernel log, which says
 * where each kill happened, and the `oom_kill` counter of `/proc/vmstat`,
 * which misses none but says nothing of where.
 *
 * The kernel increments the counter just before it prints `Killed process`
 * (mm/oom_kill.c, __oom_kill_process), so once the log has been drained, the
 * counter can only be ahead of it: by a kill whose line is being printed
 * right now, or by one the log lost (records overwritten, or no access to
 * `/dev/kmsg`). A kill the log has not explained within `graceMs` is handed
 * to the documented fallback ({@link fallbackScope}).
 *
 * @module
 */

import type { OomScope } from "./kernel_log.ts";

/**
 * Where an OOM kill that the kernel log did not describe happened, judged
 * from memory: a global OOM means the whole machine ran out, so the lowest
 * `MemAvailable` seen around the kill is below 5% of RAM; a memcg OOM happens
 * on a machine with memory to spare. The judgment can err on a box that a
 * memcg hog has also nearly filled, or when a fast global hog is killed and
 * reaped between two readings; README says so.
 */
export function fallbackScope(
  lowestMemAvailable: number,
  memTotal: number,
): OomScope {
  return lowestMemAvailable < memTotal * 0.05 ? "global" : "memcg";
}

/** Counts kills from both witnesses and says which ones the log missed. */
export class KillLedger {
  #baseline: number;
  #counted = 0;
  #logged = 0;
  #handedOver = 0;
  #unexplainedSinceMs: number | null = null;
  readonly #graceMs: number;

  /** `counterAtStart`: the `oom_kill` value when watching began. */
  constructor(counterAtStart: number, graceMs = 1_000) {
    this.#baseline = counterAtStart;
    this.#graceMs = graceMs;
  }

  /** Kills counted by the kernel since watching began. */
  get counted(): number {
    return this.#counted;
  }

  /** Whether a counted kill waits, within the grace, for its log line. */
  get pending(): boolean {
    return this.#unexplainedSinceMs !== null;
  }

  /** A kill reported by the kernel log. */
  logged(): void {
    this.#logged += 1;
  }

  /**
   * A reading of the counter at `nowMs`, taken after the log was drained.
   * Returns how many kills the log has not explained and must now be
   * attributed by the fallback: all of them at once when the log cannot be
   * read (`logReadable` false), else those unexplained for `graceMs`.
   */
  counter(value: number, nowMs: number, logReadable: boolean): number {
    if (value < this.#baseline) this.#baseline = value; // counter reset: cannot happen without a reboot
    this.#counted = value - this.#baseline;
    const unexplained = this.#counted - this.#logged - this.#handedOver;
    if (unexplained <= 0) {
      this.#unexplainedSinceMs = null;
      return 0;
    }
    this.#unexplainedSinceMs ??= nowMs;
    if (logReadable && nowMs - this.#unexplainedSinceMs < this.#graceMs) {
      return 0;
    }
    this.#handedOver += unexplained;
    this.#unexplainedSinceMs = null;
    return unexplained;
  }
}
