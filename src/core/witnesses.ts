/**
 * Two witnesses of one OOM kill: the kernel's `oom:mark_victim` tracepoint
 * (fast: it fires before the kill report is printed; its callchain may tell
 * the scope, never the cgroup) and the kernel log (the scope, the cgroup,
 * the wording of the kill; milliseconds later). This module makes one kill
 * of the two:
 * - a victim the tracepoint reports is judged at once when the log records
 *   already read tell its scope (the summary is stored before the victim is
 *   marked), or when its callchain's scope (core/kernel_symbols.ts) is all
 *   the verdict needs — a global kill, or a memcg one where every memcg
 *   kill is a signal; else it waits for its records (the cgroup's path);
 * - a kill line of a victim already judged is not judged again, nor is a
 *   victim whose kill line was judged first;
 * - a victim the log never explains within {@link VICTIM_GRACE_MS} is
 *   judged on its callchain's scope, or, without one, forgotten: the
 *   `oom_kill` counter's fallback judges that kill.
 *
 * @module
 */

import type { KernelRecord, OomScope } from "./kernel_log.ts";
import { KillCorrelator, type KillObservation } from "./kill_correlator.ts";

/** How long a victim waits for the kill line that tells its scope. */
export const VICTIM_GRACE_MS = 1_000;
/** How long a judged victim is remembered, to keep its kill line from counting twice. */
const REMEMBER_MS = 10_000;

/** A victim as the tracepoint reports it. */
export interface Victim {
  pid: number;
  name?: string;
  /** The tracepoint's time (CLOCK_MONOTONIC µs). */
  kernelMicros: number;
  /** The scope its kernel callchain shows, when it shows one. */
  scope?: OomScope;
  /**
   * The victim's own memory cgroup, read from /proc at the wake (shown
   * safely): the cgroup that ran out is this one or an ancestor, and stands
   * in for it when the log's summary is missing (printk's OOM rate limit in
   * mm/oom_kill.c drops the whole report, summary included, but never the
   * kill line).
   */
  memcg?: string;
}

/** Whether a kill of `scope` can be judged without its cgroup's path. */
export type JudgedOnScope = (scope: OomScope) => boolean;

interface Seen extends Victim {
  atMs: number;
  judged: boolean;
}

export class KillWitnesses {
  readonly #correlator = new KillCorrelator();
  readonly #victims = new Map<number, Seen>();
  /** Pids whose kill the log judged before the tracepoint told of it, and when. */
  readonly #loggedFirst = new Map<number, number>();

  /**
   * Kernel log records, oldest first (observed after the wake's victims): the
   * kills to judge now — each one counted kill, for the ledger. A kill line
   * of a victim the tracepoint reported keeps the tracepoint's time; a
   * victim still waiting is judged once the records tell its scope.
   */
  records(records: readonly KernelRecord[], nowMs: number): KillObservation[] {
    const kills: KillObservation[] = [];
    for (const record of records) {
      const kill = this.#correlator.add(record);
      if (!kill || !kill.victim) continue;
      const seen = this.#victims.get(kill.victim.pid);
      if (seen?.judged) continue; // judged from the tracepoint already
      if (seen) {
        seen.judged = true;
        kills.push(withVictimMemcg({
          ...kill,
          source: "tracepoint",
          kernelMicros: seen.kernelMicros,
          victim: { pid: kill.victim.pid, name: seen.name ?? kill.victim.name },
        }, seen));
      } else {
        // Judged from the log first (a perf wake-up that came late, as under
        // a slow serial console): the victim's mark_victim record, when it
        // is read, must not judge — and count — the same kill again.
        // (Kept apart from the victims: a second kill line of the same pid,
        // an oom.group victim killed twice, is a kill of its own.)
        this.#loggedFirst.set(kill.victim.pid, nowMs);
        kills.push(kill);
      }
    }
    for (const seen of this.#victims.values()) {
      const kill = seen.judged ? null : this.#resolve(seen);
      if (kill) kills.push(kill);
    }
    kills.push(...this.#forget(nowMs));
    return kills;
  }

  /**
   * A victim the tracepoint reported. Returns the kill to judge now — its
   * scope from the log records observed so far — or null while the log has not
   * told the scope (it waits for its kill line).
   */
  victim(
    victim: Victim,
    nowMs: number,
    judgedOnScope: JudgedOnScope,
  ): KillObservation | null {
    if (this.#victims.has(victim.pid)) return null; // marked twice (oom.group)
    if (this.#loggedFirst.delete(victim.pid)) return null; // the log was first
    const seen: Seen = { ...victim, atMs: nowMs, judged: false };
    this.#victims.set(victim.pid, seen);
    const fromLog = this.#resolve(seen);
    if (fromLog) return fromLog;
    return seen.scope !== undefined && judgedOnScope(seen.scope)
      ? this.#onScope(seen, seen.scope)
      : null;
  }

  /** The kill of `seen` judged on its callchain's scope alone. */
  #onScope(seen: Seen, scope: OomScope): KillObservation {
    seen.judged = true;
    return withVictimMemcg({
      scope,
      source: "tracepoint",
      kernelMicros: seen.kernelMicros,
      victim: { pid: seen.pid, name: seen.name ?? "unnamed" },
    }, seen);
  }

  /** The kill of a waiting victim whose scope the log tells by now, or null. */
  #resolve(seen: Seen): KillObservation | null {
    const pending = this.#correlator.pendingScope(seen.pid);
    if (pending === null) return null;
    seen.judged = true;
    const kill: KillObservation = {
      scope: pending.scope,
      source: "tracepoint",
      kernelMicros: seen.kernelMicros,
      victim: { pid: seen.pid, name: seen.name ?? "unnamed" },
    };
    if (pending.memcg !== undefined) kill.memcg = pending.memcg;
    return withVictimMemcg(kill, seen);
  }

  /** Whether a victim still waits for its kill line. */
  get waiting(): boolean {
    for (const seen of this.#victims.values()) if (!seen.judged) return true;
    return false;
  }

  /**
   * Victims the log did not explain in time: judged on their callchain's
   * scope (returned), or forgotten; and old judged ones forgotten.
   */
  #forget(nowMs: number): KillObservation[] {
    const kills: KillObservation[] = [];
    for (const [pid, atMs] of this.#loggedFirst) {
      if (nowMs - atMs > REMEMBER_MS) this.#loggedFirst.delete(pid);
    }
    for (const [pid, seen] of this.#victims) {
      const age = nowMs - seen.atMs;
      if (!seen.judged && age > VICTIM_GRACE_MS) {
        if (seen.scope !== undefined) {
          kills.push(this.#onScope(seen, seen.scope));
        } else this.#victims.delete(pid);
      } else if (age > REMEMBER_MS) {
        this.#victims.delete(pid);
      }
    }
    return kills;
  }

  /** The passing of time: the kills judged now that the grace is over. */
  tick(nowMs: number): KillObservation[] {
    return this.#forget(nowMs);
  }
}

/**
 * A memcg kill whose cgroup the log did not tell, with the victim's own —
 * unless that reads `/`: the root memcg has no limit, so a memcg OOM's
 * victim is never in it, and on cgroup v1 /proc/<pid>/cgroup shows every
 * exiting task there (proc_cgroup_show, kernel/cgroup/cgroup.c), as a
 * victim read late is.
 */
function withVictimMemcg(
  kill: KillObservation,
  victim: Victim,
): KillObservation {
  return kill.scope === "memcg" && kill.memcg === undefined &&
      victim.memcg !== undefined && victim.memcg !== "/"
    ? { ...kill, victimMemcg: victim.memcg }
    : kill;
}
