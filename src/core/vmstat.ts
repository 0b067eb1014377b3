/**
 * Parser of `/proc/vmstat`: `name value` lines of kernel event counters.
 *
 * @module
 */

/** The counters of `/proc/vmstat`. */
export interface Vmstat {
  /** OOM kills since boot, global and memcg alike (Linux ≥ 4.13), or null when absent. */
  oomKill: number | null;
  /** Every counter by name (`pgmajfault`, `workingset_refault_file`, …). */
  counters: ReadonlyMap<string, number>;
}

/**
 * Parses the text of `/proc/vmstat`. Lines that are not `name number` are
 * skipped.
 *
 * @example
 * ```ts
 * parseVmstat("pgfault 12\noom_kill 3\n").oomKill; // 3
 * ```
 */
export function parseVmstat(text: string): Vmstat {
  const counters = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([a-z0-9_]{1,64}) (\d{1,20})$/.exec(line);
    if (match) counters.set(match[1], Number(match[2]));
  }
  return { oomKill: counters.get("oom_kill") ?? null, counters };
}
