/**
 * Parser of `/proc/<pid>/maps`, and the choice of the mappings that hold the
 * daemon's own code: the ones to keep resident while the machine thrashes.
 *
 * @module
 */

/** One line of `/proc/<pid>/maps`. */
export interface Mapping {
  start: bigint;
  end: bigint;
  /** `r-xp`, `r--p`, … */
  permissions: string;
  /** The mapped file, `[heap]`-like pseudo names, or "" for anonymous memory. */
  path: string;
}

/**
 * One line of a maps file (also the header line of each mapping in smaps),
 * or null when it is not one (a truncated read, a field line of smaps).
 *
 * @example
 * ```ts
 * parseMapsLine("55d0c0000000-55d0c0001000 r-xp 00000000 fd:01 42 /usr/bin/deno")?.permissions; // "r-xp"
 * ```
 */
export function parseMapsLine(line: string): Mapping | null {
  const match =
    /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+\s*(.*)$/
      .exec(line);
  if (!match) return null;
  return {
    start: BigInt(`0x${match[1]}`),
    end: BigInt(`0x${match[2]}`),
    permissions: match[3],
    path: match[4],
  };
}

/**
 * Parses the text of a maps file; malformed lines (a truncated read) are
 * skipped.
 *
 * @example
 * ```ts
 * parseMaps("55d0c0000000-55d0c0001000 r-xp 00000000 fd:01 42 /usr/bin/deno\n")[0].path; // "/usr/bin/deno"
 * ```
 */
export function parseMaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of text.split("\n")) {
    const mapping = parseMapsLine(line);
    if (mapping) mappings.push(mapping);
  }
  return mappings;
}

/**
 * The mappings of code and read-only data that come from files (the
 * executable, shared libraries): under memory pressure the kernel evicts
 * these first, and reads them back on every instruction the daemon runs.
 * Writable mappings are anonymous in effect and left to the kernel.
 */
export function codeMappings(mappings: readonly Mapping[]): Mapping[] {
  return mappings.filter((mapping) =>
    mapping.path.startsWith("/") &&
    (mapping.permissions === "r-xp" || mapping.permissions === "r--p") &&
    !mapping.path.endsWith(" (deleted)")
  );
}
