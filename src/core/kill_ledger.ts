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

/** How long a judged kill may explain a rise of the covered cgroups' counters. */
const CREDIT_MS = 10_000;

/**
 * One covered cgroup's `oom_kill` counter as read: `id` tells this cgroup
 * from another made later at the same path (the counter file's inode: a
 * cgroup removed and created again, as systemd does on a restart, has new
 * ones and counts from 0; a renamed one keeps them).
 */
export interface CoveredCounter {
  cgroup: string;
  id: string;
  value: number;
}

/** More counters than a reading holds (4096 cgroups) by far. */
const MAX_REMEMBERED_COUNTERS = 16_384;

/**
 * The `oom_kill` counters of the `--memcg-oom` cgroups (core/cgroup_fs.ts),
 * reconciled with the kills the detector judged. The kernel counts a kill
 * in the victim's cgroup even when printk's OOM rate limit (10 reports in
 * 5 s, oom_rs in mm/oom_kill.c) dropped the summary that names its cgroup;
 * such a kill is judged "memcg, cgroup unknown", not a signal. A rise of
 * these counters that no kill which may have raised them explains
 * (mayRaiseCovered in core/memcg_policy.ts) is such a kill in a
 * covered cgroup: a signal after all. It is given up at once when no
 * counted kill still waits for its kill line, else after the grace.
 */
export class CoveredKillCounts {
  /** Each counter's last value, by id. */
  #last: Map<string, number> | null = null;
  /** Whether the last reading read every covered counter. */
  #lastComplete = false;
  /** The cgroups whose counters rose for kills not yet explained, oldest first. */
  #unexplained: string[] = [];
  #unexplainedSinceMs: number | null = null;
  /** When each judged kill that may explain a rise was judged. */
  #credits: number[] = [];
  readonly #graceMs: number;

  constructor(graceMs = 1_000) {
    this.#graceMs = graceMs;
  }

  /** Whether a rise waits to be explained. */
  get pending(): boolean {
    return this.#unexplained.length > 0;
  }

  /**
   * A reading at `nowMs`. The first reading is the baseline. After it, a
   * counter not seen before counts all its kills when the reading before
   * read every covered counter (its cgroup was created since), and none
   * otherwise (it may be one that reading could not reach: its kills are
   * older). `complete` false: some counters could not be read, and those
   * keep their last values.
   */
  reading(
    counters: readonly CoveredCounter[],
    complete: boolean,
    nowMs: number,
  ): void {
    const last = this.#last;
    if (last !== null) {
      for (const { cgroup, id, value } of counters) {
        const before = last.get(id) ?? (this.#lastComplete ? 0 : value);
        for (let i = 0; i < value - before && i < 1_000; i++) {
          this.#unexplained.push(cgroup);
        }
      }
    }
    const keep = !complete && last !== null &&
      last.size + counters.length <= MAX_REMEMBERED_COUNTERS;
    const next = keep ? new Map(last) : new Map<string, number>();
    for (const { id, value } of counters) next.set(id, value);
    this.#last = next;
    this.#lastComplete = complete;
    this.#match(nowMs);
  }

  /** A judged kill that may explain a rise (mayRaiseCovered). */
  credit(nowMs: number): void {
    this.#credits.push(nowMs);
    this.#match(nowMs);
  }

  #match(nowMs: number): void {
    this.#credits = this.#credits.filter((at) => nowMs - at <= CREDIT_MS);
    const explained = Math.min(
      this.#credits.length,
      this.#unexplained.length,
    );
    this.#credits.splice(0, explained);
    this.#unexplained.splice(0, explained);
    if (this.#unexplained.length === 0) this.#unexplainedSinceMs = null;
    else this.#unexplainedSinceMs ??= nowMs;
  }

  /**
   * The cgroups of the kills no judged kill explains, to be signals now:
   * at once when `killPending` is false (every counted kill was judged),
   * else once the grace is over.
   */
  due(nowMs: number, killPending: boolean): string[] {
    this.#match(nowMs);
    const since = this.#unexplainedSinceMs;
    if (since === null) return [];
    if (killPending && nowMs - since < this.#graceMs) return [];
    const due = this.#unexplained;
    this.#unexplained = [];
    this.#unexplainedSinceMs = null;
    return due;
  }
}
