/**
 * The reboot-loop guard: a machine that runs out of memory right after
 * every boot would panic, reboot and OOM forever, and nobody could log in
 * to fix it. The crash flags kept from earlier boots (core/crash_flag.ts)
 * record when oomwatch ran its panic action; with N of them inside the
 * window (`--max-panics N/WINDOW`, default 3 per hour), the panic action is
 * suppressed this time — said as critical, the flag kept, a watchdog device
 * still petted — so the machine stays up for someone to fix.
 *
 * Pure: wall-clock times in, a verdict out.
 *
 * @module
 */

import type { Parser } from "./config_values.ts";

/** At most `count` panics within `windowSeconds`. */
export interface PanicLimit {
  count: number;
  windowSeconds: number;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_WINDOW_SECONDS = 30 * 86_400;

/**
 * `N/WINDOW` (`3/1h`, `5/30m`, `2/7200`; units s, m, h, d, seconds when
 * none), N from 1 to 100, the window from 1 s to 30 d; or `0`: no guard.
 *
 * @example
 * ```ts
 * parseMaxPanics("3/1h"); // { count: 3, windowSeconds: 3600 }
 * ```
 */
export const parseMaxPanics: Parser<PanicLimit | null> = (raw) => {
  const text = raw.trim();
  if (text === "0") return null;
  const match = /^(\d{1,3})\/(\d{1,7})([smhd]?)$/.exec(text);
  if (!match) return undefined;
  const count = Number(match[1]);
  const windowSeconds = Number(match[2]) * UNITS[match[3] || "s"];
  if (count < 1 || count > 100) return undefined;
  if (windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) return undefined;
  return { count, windowSeconds };
};

/** A window in the largest unit that divides it: 3600 → `1h`. */
export function formatWindow(seconds: number): string {
  for (const unit of ["d", "h", "m"]) {
    if (seconds % UNITS[unit] === 0) return `${seconds / UNITS[unit]}${unit}`;
  }
  return `${seconds}s`;
}

/** The inverse of {@link parseMaxPanics}. */
export function printMaxPanics(limit: PanicLimit | null): string {
  return limit === null
    ? "0"
    : `${limit.count}/${formatWindow(limit.windowSeconds)}`;
}

/**
 * Why the panic action must not run now — `limit` panics from earlier
 * boots (`panicsAtMs`, wall-clock ms) lie within the window before
 * `nowMs` — or null when it may.
 */
export function panicSuppression(
  limit: PanicLimit | null,
  panicsAtMs: readonly number[],
  nowMs: number,
): string | null {
  if (limit === null) return null;
  const since = nowMs - limit.windowSeconds * 1000;
  const recent = panicsAtMs.filter((at) => at >= since && at <= nowMs)
    .sort((a, b) => a - b);
  if (recent.length < limit.count) return null;
  const times = recent.map((at) => new Date(at).toISOString()).join(", ");
  return `${recent.length} panics by oomwatch within ${
    formatWindow(limit.windowSeconds)
  } (${times}, from crash flags kept from earlier boots) reach --max-panics ${
    printMaxPanics(limit)
  }: the machine stays up so that someone can fix what runs it out of memory; 'oomwatch ack' clears the kept flags`;
}
