/**
 * What is wrong with the daemon while it runs: each problem is kept until
 * it is cured, written to the status file, and turned by `oomwatch check`
 * into WARNING or CRITICAL — a degraded daemon never reports OK.
 *
 * @module
 */

/** The parts that can fail, one problem each at a time. */
export const PROBLEM_IDS = [
  "kernel-log",
  "oom-kill-counter",
  "memcg-counters",
  "pressure",
  "thrash",
  "memory",
  "crash-flag",
  "crash-flag-directory",
  "metrics",
  "reserve",
  "panic-unavailable",
  "panic-failed",
  "panic-suppressed",
  "watchdog-device",
] as const;
export type ProblemId = typeof PROBLEM_IDS[number];

export type Severity = "warning" | "critical";

/** One problem as the status file records it. */
export interface Problem {
  id: ProblemId;
  severity: Severity;
  /** What failed and how to fix it, for a person. */
  message: string;
  /** When it was first seen (Unix ms). */
  sinceEpochMs: number;
}

/** The daemon's current problems. */
export class Problems {
  #problems = new Map<ProblemId, Problem>();

  /**
   * Records a problem; returns true when it is new or its message changed
   * (the caller logs it then, not on every wake).
   */
  set(
    id: ProblemId,
    severity: Severity,
    message: string,
    nowEpochMs: number,
  ): boolean {
    const present = this.#problems.get(id);
    if (present?.message === message && present.severity === severity) {
      return false;
    }
    this.#problems.set(id, {
      id,
      severity,
      message,
      sinceEpochMs: present?.sinceEpochMs ?? nowEpochMs,
    });
    return true;
  }

  /** The problem is cured; returns true when it was there. */
  clear(id: ProblemId): boolean {
    return this.#problems.delete(id);
  }

  has(id: ProblemId): boolean {
    return this.#problems.has(id);
  }

  /** Every current problem, critical first. */
  list(): Problem[] {
    return [...this.#problems.values()].sort((
      a,
      b,
    ) => (a.severity === b.severity ? 0 : a.severity === "critical" ? -1 : 1));
  }
}
