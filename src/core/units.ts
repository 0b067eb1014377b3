/**
 * Sizes as oomwatch says them: in MiB, the unit of `bufsize`.
 *
 * @module
 */

export const MIB = 1024 * 1024;

/**
 * `32 MiB`, `6.5 MiB`: bytes in MiB, at most two decimals.
 *
 * @example
 * ```ts
 * formatMiB(6 * 1024 * 1024 + 512 * 1024); // "6.5 MiB"
 * ```
 */
export function formatMiB(bytes: number): string {
  return `${Math.round(bytes / MIB * 100) / 100} MiB`;
}
