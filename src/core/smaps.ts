/**
 * Parser of `/proc/<pid>/smaps`: which mappings of a process hold locked
 * pages, so `oomwatch check` can see the reserve in the kernel's own
 * account of the daemon rather than trust its status file.
 *
 * @module
 */

/** One locked mapping of a process. */
export interface LockedMapping {
  /** The mapped file, or "" for anonymous memory (the reserve). */
  path: string;
  sizeBytes: number;
  lockedBytes: number;
}

/**
 * The mappings of a smaps text that have locked pages.
 *
 * @example
 * ```ts
 * parseLockedMappings("7f00-7f10 rw-p 00000000 00:00 0 \nSize: 64 kB\nLocked: 64 kB\n");
 * // [{ path: "", sizeBytes: 65536, lockedBytes: 65536 }]
 * ```
 */
export function parseLockedMappings(text: string): LockedMapping[] {
  const mappings: LockedMapping[] = [];
  let current: LockedMapping | null = null;
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      if (current && current.lockedBytes > 0) mappings.push(current);
      current = { path: header[1], sizeBytes: 0, lockedBytes: 0 };
      continue;
    }
    const field = /^(Size|Locked):\s+(\d+) kB$/.exec(line);
    if (field && current) {
      if (field[1] === "Size") current.sizeBytes = Number(field[2]) * 1024;
      else current.lockedBytes = Number(field[2]) * 1024;
    }
  }
  if (current && current.lockedBytes > 0) mappings.push(current);
  return mappings;
}

/** Whether a reserve of `bytes` shows as a locked anonymous mapping. */
export function reserveIsLocked(
  mappings: readonly LockedMapping[],
  bytes: number,
): boolean {
  return mappings.some((mapping) =>
    mapping.path === "" && mapping.lockedBytes >= bytes
  );
}
