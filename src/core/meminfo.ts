/**
 * Parser of `/proc/meminfo`: `Name:   value kB` lines.
 *
 * @module
 */

/** The figures of `/proc/meminfo` that oomwatch uses, in bytes. */
export interface Meminfo {
  memTotal: number;
  /** The kernel's estimate of memory available without swapping (Linux ≥ 3.14). */
  memAvailable: number;
}

/** Thrown when `/proc/meminfo` lacks a figure oomwatch cannot do without. */
export class MeminfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MeminfoError";
  }
}

/** Every `Name: value [kB]` entry of `/proc/meminfo`, in bytes where the unit is kB. */
export function parseMeminfoFields(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    // At most 20 digits (a u64): every figure is a finite number.
    const match = /^([A-Za-z0-9_()]+):\s+(\d{1,20})(?: (kB))?\s*$/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    fields.set(match[1], match[3] ? value * 1024 : value);
  }
  return fields;
}

/**
 * Parses `/proc/meminfo`. Throws {@link MeminfoError} when `MemTotal` or
 * `MemAvailable` is missing (a truncated read, or a kernel older than 3.14).
 *
 * @example
 * ```ts
 * parseMeminfo("MemTotal: 1024 kB\nMemAvailable: 512 kB\n").memAvailable; // 524288
 * ```
 */
export function parseMeminfo(text: string): Meminfo {
  const fields = parseMeminfoFields(text);
  const memTotal = fields.get("MemTotal");
  const memAvailable = fields.get("MemAvailable");
  if (memTotal === undefined || memAvailable === undefined) {
    throw new MeminfoError(
      "/proc/meminfo has no MemTotal or MemAvailable line (kernel older than 3.14?)",
    );
  }
  return { memTotal, memAvailable };
}
