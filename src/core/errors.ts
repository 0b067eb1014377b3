/**
 * The error conventions of oomwatch, in one place: invalid input is a
 * {@link UsageError} (exit 2, before any side effect); a reader of a kernel
 * file returns a {@link Reading} (a value, or why there is none) rather than
 * throwing; {@link describeError} turns anything thrown into one line for a
 * person.
 *
 * @module
 */

/** Invalid input: exit code 2, before any side effect. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure at run time that the message fully explains: exit code 1. */
export class RuntimeFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeFailure";
  }
}

/** Creating the reserve failed; the message says why and how to fix it. */
export class ReserveError extends RuntimeFailure {
  /** The most RLIMIT_MEMLOCK would let the process lock now, when it is the limit. */
  readonly allowedBytes: number | null;
  constructor(message: string, allowedBytes: number | null = null) {
    super(message);
    this.name = "ReserveError";
    this.allowedBytes = allowedBytes;
  }
}

/** Exit codes of the daemon and of commands other than check/status. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** The outcome of reading something the kernel provides. */
export type Reading<T> =
  | { ok: true; value: T }
  | { ok: false; reason: string };

/** A successful {@link Reading}. */
export function readingOf<T>(value: T): Reading<T> {
  return { ok: true, value };
}

/** A failed {@link Reading}. */
export function noReading<T>(reason: string): Reading<T> {
  return { ok: false, reason };
}

/**
 * One line for a person: the message of an Error (its name when it has
 * none), or the value as text. Stack traces are for unexpected errors only,
 * and those are reported by the caller that did not expect them.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
