/**
 * Parser of `/proc/vmstat`: `name value` lines of kernel event counters.
 *
 * @module
 */

/** The counters of `/proc/vmstat` that oomwatch reads. */
export interface Vmstat {
  /** OOM kills since boot, global and memcg alike (Linux ≥ 4.13), or null when absent. */
  oomKill: number | null;
}

/**
 * Parses the text of `/proc/vmstat`. Lines that are not `name number` are
 * skipped, so a truncated read yields what was complete.
 *
 * @example
 * ```ts
 * parseVmstat("pgfault 12\noom_kill 3\n").oomKill; // 3
 * ```
 */
export function parseVmstat(text: string): Vmstat {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return { oomKill: match ? Number(match[1]) : null };
}
