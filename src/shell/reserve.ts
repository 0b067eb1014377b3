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
  monotonicMicros,
  unmap,
} from "../../ffi/libc.ts";
import type { Config } from "../core/config.ts";
import { ReserveError } from "../core/errors.ts";
import { dirname } from "../core/paths.ts";
import type { Machine } from "../core/machine.ts";
import { formatMiB, MIB } from "../core/units.ts";
import { CAP, hasCapability, readMeminfo, readStatusBytes } from "./procfs.ts";
import { takeTmpfs, unmountTmpfs } from "./reserve_tmpfs.ts";

function formatLimit(value: bigint | null): string {
  if (value === null) return "unlimited";
  return value % BigInt(MIB) === 0n
    ? `${value / BigInt(MIB)} MiB`
    : `${value / 1024n} KiB`;
}

export { ReserveError };

/** The last release: its size, and when munmap returned (CLOCK_MONOTONIC µs). */
export interface Release {
  bytes: number;
  doneMicros: bigint;
}

/** Memory taken for the reserve, and the one way to give it back. */
interface Held {
  bytes: number;
  /** Gives the memory back to the kernel (munmap, or ftruncate). */
  giveBack(): void;
}

/** Where the reserve's memory comes from. */
export type ReserveBacking =
  /** An anonymous mapping, populated and mlocked: VmLck shows it. */
  | { kind: "locked" }
  /**
   * A file nobody maps, on a tmpfs oomwatch mounts at `directory` (huge
   * pages, no swap): no page tables, so giving it back needs no TLB
   * shootdown of the CPU that runs the OOM killer (README, Performance).
   */
  | { kind: "tmpfs"; directory: string };

/** The backing `config` asks for (a tmpfs beside the status file). */
export function reserveBacking(
  config: Pick<Config, "reserveBacking" | "statusFile">,
): ReserveBacking {
  return config.reserveBacking === "tmpfs"
    ? { kind: "tmpfs", directory: `${dirname(config.statusFile)}/reserve` }
    : { kind: "locked" };
}

/** The reserve of one daemon. At most one piece of memory at a time. */
export class Reserve {
  #held: Held | null = null;
  #lastRelease: Release | null = null;
  readonly #machine: Machine;
  readonly #backing: ReserveBacking;

  constructor(machine: Machine, backing: ReserveBacking = { kind: "locked" }) {
    this.#machine = machine;
    this.#backing = backing;
  }

  /** Bytes currently held (0 when released). */
  get bytes(): number {
    return this.#held?.bytes ?? 0;
  }

  get held(): boolean {
    return this.#held !== null;
  }

  get backing(): ReserveBacking {
    return this.#backing;
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

  #takeLocked(bytes: number): Held {
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
    return { bytes, giveBack: () => unmap(mapping) };
  }

  /**
   * Takes `bytes` (releasing a reserve held before). Throws
   * {@link ReserveError} with the limit, the size and the fix when the
   * kernel refuses; nothing stays held then.
   */
  create(bytes: number): void {
    if (this.#held) this.release();
    if (bytes === 0) return;
    this.#held = this.#backing.kind === "locked"
      ? this.#takeLocked(bytes)
      : takeTmpfs(this.#backing.directory, bytes, this.#availableMiB());
  }

  /**
   * Creates the reserve at `bytes`, or — when RLIMIT_MEMLOCK allows less —
   * at the most it allows. Returns the bytes held and, when that is not
   * `bytes`, why; throws {@link ReserveError} when nothing could be taken.
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

  /**
   * Gives the reserve back; returns the bytes (0 if none was held). Nothing
   * before the syscall: the victim may be waiting for these pages.
   */
  release(): number {
    const held = this.#held;
    if (!held) return 0;
    this.#held = null;
    held.giveBack();
    this.#lastRelease = { bytes: held.bytes, doneMicros: monotonicMicros() };
    return held.bytes;
  }

  /** The last release (however it came about), or null before the first. */
  get lastRelease(): Release | null {
    return this.#lastRelease;
  }

  /**
   * Runs the release path's code on a page of its own, so that the first
   * real release after a quiet spell does not pay for compiling it.
   */
  warmUp(rounds = 100): void {
    for (let i = 0; i < rounds; i++) {
      if (this.#backing.kind === "locked") unmap(mapAnonymous(4096));
      else takeTmpfs(this.#backing.directory, 4096, "").giveBack();
    }
  }

  /** Lets the backing's resources go (the tmpfs mount: a clean stop). */
  close(): void {
    this.release();
    if (this.#backing.kind === "tmpfs") unmountTmpfs(this.#backing.directory);
  }
}
