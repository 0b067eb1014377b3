/**
 * Where the memory controller's hierarchy is mounted, and which of its files
 * count the OOM kills of a cgroup: the facts the `oom_kill` counters of the
 * `--memcg-oom` cgroups are read with (shell/sources/counter_source.ts).
 *
 * The kernel counts every OOM kill, global or memcg, in the victim's memory
 * cgroup before it prints the kill (memcg_memory_event_mm(mm,
 * MEMCG_OOM_KILL) in __oom_kill_process, mm/oom_kill.c, next to the
 * /proc/vmstat count), and it does so even when printk's OOM rate limit
 * drops the report that names the cgroup. Where it counts differs:
 * - cgroup v1: `memory.oom_control`'s `oom_kill` (Linux ≥ 4.13) counts the
 *   cgroup's own tasks only — memcg_memory_event stops at the first cgroup
 *   when the controller is not on the default hierarchy (measured here,
 *   6.18: a kill in `a/b` reads 1 in `a/b`, 0 in `a`), so a subtree is summed;
 * - cgroup v2: `memory.events`' `oom_kill` counts the cgroup and everything
 *   below it, unless the hierarchy was mounted with `memory_localevents`
 *   (Linux ≥ 5.2), when it counts the cgroup's own tasks, as v1 does.
 *
 * @module
 */

/** The memory controller's hierarchy, as /proc/self/mountinfo shows it. */
export interface MemoryHierarchy {
  version: 1 | 2;
  /** Where the hierarchy's root is mounted. */
  mountPoint: string;
  /** Whether each cgroup's counter counts its own tasks only (a subtree is summed). */
  ownTasksOnly: boolean;
}

/** mountinfo's escapes of a space, tab, newline or backslash in a path (`\040`). */
function unescapeMountPath(text: string): string {
  return text.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * The memory hierarchy in a /proc/self/mountinfo text: a v1 `cgroup` mount
 * with the `memory` option, else a `cgroup2` mount — the kernel binds the
 * memory controller to one of them, so a v1 mount means v2 has none. Only a
 * mount of the hierarchy's root (mountinfo's root field `/`) will do: the
 * kernel log and /proc/<pid>/cgroup name cgroups from that root. Null when
 * there is none.
 *
 * @example
 * ```ts
 * memoryHierarchyOf("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
 * // { version: 1, mountPoint: "/sys/fs/cgroup/memory", ownTasksOnly: true }
 * ```
 */
export function memoryHierarchyOf(mountinfo: string): MemoryHierarchy | null {
  let unified: MemoryHierarchy | null = null;
  for (const line of mountinfo.split("\n")) {
    const separator = line.indexOf(" - ");
    if (separator < 0) continue;
    const fields = line.slice(0, separator).split(" ");
    const [fsType, , superOptions] = line.slice(separator + 3).split(" ");
    if (fields.length < 5 || fields[3] !== "/" || superOptions === undefined) {
      continue;
    }
    const mountPoint = unescapeMountPath(fields[4]);
    const options = superOptions.split(",");
    if (fsType === "cgroup" && options.includes("memory")) {
      return { version: 1, mountPoint, ownTasksOnly: true };
    }
    if (fsType === "cgroup2" && unified === null) {
      unified = {
        version: 2,
        mountPoint,
        ownTasksOnly: options.includes("memory_localevents"),
      };
    }
  }
  return unified;
}

/** The file of a cgroup directory whose `oom_kill` line counts its kills. */
export function oomKillFile(hierarchy: MemoryHierarchy): string {
  return hierarchy.version === 1 ? "memory.oom_control" : "memory.events";
}

/** The directory of `cgroup` (a path from the hierarchy's root) in the hierarchy. */
export function cgroupDirectory(
  hierarchy: MemoryHierarchy,
  cgroup: string,
): string {
  return cgroup === "/"
    ? hierarchy.mountPoint
    : `${hierarchy.mountPoint}${cgroup}`;
}
