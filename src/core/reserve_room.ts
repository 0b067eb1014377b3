/**
 * The one rule for how much memory the reserve may take: enough must remain
 * free after it that locking it can never itself push a tight machine into
 * OOM. The same rule holds at start, on a reload that grows the reserve, and
 * when re-arming after an episode.
 *
 * @module
 */

import { formatMiB, MIB } from "./units.ts";

/** Memory figures for the decision, in bytes. */
export interface MemoryObservation {
  memTotal: number;
  memAvailable: number;
}

/**
 * The room that must remain after locking a reserve of `bytes`: twice the
 * reserve or 5% of RAM, whichever is larger.
 */
export function rearmRoom(bytes: number, memTotal: number): number {
  return Math.max(2 * bytes, Math.floor(memTotal * 0.05));
}

/**
 * Why a reserve of `bytes` must not be locked now, or null when it fits.
 *
 * @example
 * ```ts
 * reserveDoesNotFit(32 * MIB, { memTotal: 1024 * MIB, memAvailable: 60 * MIB });
 * // "MemAvailable is 60 MiB, and 64 MiB must remain free after a 32 MiB reserve"
 * ```
 */
export function reserveDoesNotFit(
  bytes: number,
  memory: MemoryObservation,
): string | null {
  const room = rearmRoom(bytes, memory.memTotal);
  if (memory.memAvailable - bytes >= room) return null;
  return `MemAvailable is ${Math.floor(memory.memAvailable / MIB)} MiB, and ${
    Math.ceil(room / MIB)
  } MiB must remain free after a ${formatMiB(bytes)} reserve`;
}
