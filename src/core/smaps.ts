/**
 * Parser of `/proc/<pid>/smaps`: which mappings of a process hold locked
 * pages, so `oomwatch check` can see the reserve in the kernel's own
 * account of the daemon rather than trust its status file; and which of the
 * daemon's own mappings hold only pages it can drop at rest.
 *
 * @module
 */

import { codeMappings, type Mapping, parseMapsLine } from "./maps.ts";

/** One mapping of a process with the page counts smaps gives for it. */
export interface SmapsMapping extends Mapping {
  sizeBytes: number;
  /** Resident bytes; null when the text ended before the field. */
  rssBytes: number | null;
  /**
   * Bytes of private pages not (or no longer) backed by the mapped file:
   * written copies, for a file mapping. Null when the text ended before
   * the field.
   */
  anonymousBytes: number | null;
  /**
   * Bytes of such copies swapped out: smaps counts a written page that went
   * to swap (or zram) here and no longer under Anonymous. Null when the text
   * ended before the field.
   */
  swapBytes: number | null;
  lockedBytes: number;
}

/**
 * Parses the text of a smaps file: each mapping's header line (as in maps)
 * and the fields oomwatch uses. A mapping cut by a truncated read keeps
 * null for the fields it lacks.
 *
 * @example
 * ```ts
 * parseSmaps("7f00-7f10 r--p 00000000 fd:01 9 /usr/bin/deno\nRss: 64 kB\nAnonymous: 0 kB\n")[0].anonymousBytes; // 0
 * ```
 */
export function parseSmaps(text: string): SmapsMapping[] {
  const mappings: SmapsMapping[] = [];
  let current: SmapsMapping | null = null;
  for (const line of text.split("\n")) {
    const header = parseMapsLine(line);
    if (header) {
      current = {
        ...header,
        sizeBytes: 0,
        rssBytes: null,
        anonymousBytes: null,
        swapBytes: null,
        lockedBytes: 0,
      };
      mappings.push(current);
      continue;
    }
    const field = /^(Size|Rss|Anonymous|Swap|Locked):\s+(\d+) kB$/.exec(line);
    if (!field || !current) continue;
    const bytes = Number(field[2]) * 1024;
    if (field[1] === "Size") current.sizeBytes = bytes;
    else if (field[1] === "Rss") current.rssBytes = bytes;
    else if (field[1] === "Anonymous") current.anonymousBytes = bytes;
    else if (field[1] === "Swap") current.swapBytes = bytes;
    else current.lockedBytes = bytes;
  }
  return mappings;
}

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
  return parseSmaps(text)
    .filter((mapping) => mapping.lockedBytes > 0)
    .map(({ path, sizeBytes, lockedBytes }) => ({
      path,
      sizeBytes,
      lockedBytes,
    }));
}

/**
 * The mappings whose resident pages can be dropped and read back from
 * their file on the next touch: read-only file-backed code and data
 * (codeMappings) with pages resident and none of them private copies. A
 * mapping the dynamic linker wrote into before making it read-only (RELRO:
 * relocated pointers, `r--p` afterwards) holds such copies — dropping them
 * would lose the relocations — and so does any page written through a
 * debugger; smaps counts them as `Anonymous`, or as `Swap` once swapped
 * out (dropping a swapped copy frees it too), and a mapping with any of
 * either, or whose counts the text lacks, is left alone.
 */
export function sheddableMappings(
  mappings: readonly SmapsMapping[],
): SmapsMapping[] {
  const code = new Set(codeMappings(mappings));
  return mappings.filter((mapping) =>
    code.has(mapping) && mapping.anonymousBytes === 0 &&
    mapping.swapBytes === 0 &&
    mapping.rssBytes !== null && mapping.rssBytes > 0
  );
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
