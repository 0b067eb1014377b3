/**
 * The emergency reserve: anonymous memory, populated and locked, so it is
 * resident, unevictable and never swapped. Releasing it (munmap) hands its
 * pages straight back to the kernel.
 *
 * @module
 */

import {
  getMemlockLimit,
  LibcError,
  lockMapping,
  mapAnonymous,
  type Mapping,
  unmap,
} from "../../ffi/libc.ts";
import type { Machine } from "../core/machine.ts";
import { formatMiB, MIB } from "../core/units.ts";
import { CAP, hasCapability, readMeminfo, readStatusBytes } from "./procfs.ts";

/** Creating the reserve failed; the message says why and how to fix it. */
export class ReserveError extends Error {
  /** The most RLIMIT_MEMLOCK would let this process lock now, when it is the limit. */
  readonly allowedBytes: number | null;
  constructor(message: string, allowedBytes: number | null = null) {
    super(message);
    this.name = "ReserveError";
    this.allowedBytes = allowedBytes;
  }
}

function formatLimit(value: bigint | null): string {
  if (value === null) return "unlimited";
  return value % BigInt(MIB) === 0n
    ? `${value / BigInt(MIB)} MiB`
    : `${value / 1024n} KiB`;
}

/** The reserve of one daemon. At most one mapping at a time. */
export class Reserve {
  #mapping: Mapping | null = null;
  readonly #machine: Machine;

  constructor(machine: Machine) {
    this.#machine = machine;
  }

  /** Bytes currently mapped and locked (0 when released). */
  get bytes(): number {
    return this.#mapping?.bytes ?? 0;
  }

  get held(): boolean {
    return this.#mapping !== null;
  }

  #availableMiB(): string {
    const reading = readMeminfo(this.#machine);
    return reading.ok
      ? String(Math.floor(reading.value.memAvailable / MIB))
      : "unknown";
  }

  #explainLockFailure(bytes: number, error: LibcError): ReserveError {
    const limit = getMemlockLimit();
    if (
      !hasCapability(CAP.IPC_LOCK, this.#machine.proc) &&
      limit.soft !== null && limit.soft < BigInt(bytes)
    ) {
      const locked = readStatusBytes("self", "VmLck", this.#machine.proc) ?? 0;
      // Whole MiB: the reserve's sizes are MiB, its pages huge where possible.
      const allowed = Math.floor((Number(limit.soft) - locked) / MIB) * MIB;
      return new ReserveError(
        `cannot lock the ${
          formatMiB(bytes)
        } reserve: mlock refused (${error.code}) because RLIMIT_MEMLOCK is ${
          formatLimit(limit.soft)
        } (hard limit ${
          formatLimit(limit.hard)
        }) and the process lacks CAP_IPC_LOCK. Raise the limit: LimitMEMLOCK=infinity in the systemd unit, ` +
          `'ulimit -l unlimited' in the shell that starts oomwatch, or a 'memlock' line in /etc/security/limits.conf; ` +
          `or run it as root with CAP_IPC_LOCK; or lower --bufsize`,
        allowed > 0 ? allowed : 0,
      );
    }
    return new ReserveError(
      `cannot lock the ${
        formatMiB(bytes)
      } reserve: mlock refused (${error.code}); MemAvailable is ${this.#availableMiB()} MiB and RLIMIT_MEMLOCK is ${
        formatLimit(limit.soft)
      }. Free memory or lower --bufsize`,
    );
  }

  /**
   * Maps and locks `bytes` (releasing a reserve held before). Throws
   * {@link ReserveError} with the limit, the size and the fix when the
   * kernel refuses; nothing stays mapped then.
   */
  create(bytes: number): void {
    if (this.#mapping) this.release();
    if (bytes === 0) return;
    let mapping: Mapping;
    try {
      mapping = mapAnonymous(bytes);
    } catch (error) {
      if (!(error instanceof LibcError)) throw error;
      throw new ReserveError(
        `cannot map the ${
          formatMiB(bytes)
        } reserve: mmap failed (${error.code}); MemAvailable is ${this.#availableMiB()} MiB. Free memory or lower --bufsize`,
      );
    }
    try {
      lockMapping(mapping);
    } catch (error) {
      unmap(mapping);
      if (!(error instanceof LibcError)) throw error;
      throw this.#explainLockFailure(bytes, error);
    }
    this.#mapping = mapping;
  }

  /**
   * Creates the reserve at `bytes`, or — when RLIMIT_MEMLOCK allows less —
   * at the most it allows. Returns the bytes locked and, when that is not
   * `bytes`, why; throws {@link ReserveError} when nothing could be locked.
   */
  createUpTo(bytes: number): { bytes: number; shortfall: string | null } {
    try {
      this.create(bytes);
      return { bytes, shortfall: null };
    } catch (error) {
      if (!(error instanceof ReserveError) || !error.allowedBytes) throw error;
      this.create(error.allowedBytes);
      return { bytes: error.allowedBytes, shortfall: error.message };
    }
  }

  /** Unmaps the reserve; returns the bytes given back (0 if none was held). */
  release(): number {
    const mapping = this.#mapping;
    if (!mapping) return 0;
    this.#mapping = null;
    unmap(mapping);
    return mapping.bytes;
  }
}
