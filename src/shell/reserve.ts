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
import { readMeminfo } from "./procfs.ts";

const MIB = 1024 * 1024;
const CAP_IPC_LOCK = 14;

/** Creating the reserve failed; the message says why and how to fix it. */
export class ReserveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReserveError";
  }
}

function formatLimit(value: bigint | null): string {
  if (value === null) return "unlimited";
  return value % BigInt(MIB) === 0n
    ? `${value / BigInt(MIB)} MiB`
    : `${value / 1024n} KiB`;
}

/** Whether this process may lock memory beyond RLIMIT_MEMLOCK. */
function hasIpcLock(): boolean {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = /^CapEff:\s+([0-9a-f]+)$/m.exec(status);
    return match !== null &&
      ((BigInt(`0x${match[1]}`) >> BigInt(CAP_IPC_LOCK)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function explainLockFailure(bytes: number, error: LibcError): string {
  const size = `${bytes / MIB} MiB`;
  const limit = getMemlockLimit();
  const privileged = hasIpcLock();
  if (!privileged && (limit.soft === null || limit.soft < BigInt(bytes))) {
    return `cannot lock the ${size} reserve: mlock refused (${error.code}) because RLIMIT_MEMLOCK is ${
      formatLimit(limit.soft)
    } (hard limit ${
      formatLimit(limit.hard)
    }) and the process lacks CAP_IPC_LOCK. Raise the limit: LimitMEMLOCK=infinity in the systemd unit, ` +
      `'ulimit -l unlimited' in the shell that starts oomwatch, or a 'memlock' line in /etc/security/limits.conf; ` +
      `or run it as root with CAP_IPC_LOCK; or lower --bufsize`;
  }
  return `cannot lock the ${size} reserve: mlock refused (${error.code}); MemAvailable is ${availableMiB()} MiB and RLIMIT_MEMLOCK is ${
    formatLimit(limit.soft)
  }. Free memory or lower --bufsize`;
}

function availableMiB(): string {
  try {
    return String(Math.floor(readMeminfo().memAvailable / MIB));
  } catch {
    return "unknown";
  }
}

/** The locked reserve of one daemon. At most one mapping at a time. */
export class Reserve {
  #mapping: Mapping | null = null;

  /** Bytes currently mapped and locked (0 when released). */
  get bytes(): number {
    return this.#mapping?.bytes ?? 0;
  }

  get held(): boolean {
    return this.#mapping !== null;
  }

  /**
   * Maps and locks `bytes`. Throws {@link ReserveError} with the limit, the
   * size and the fix when the kernel refuses; nothing stays mapped then.
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
          bytes / MIB
        } MiB reserve: mmap failed (${error.code}); MemAvailable is ${availableMiB()} MiB. Free memory or lower --bufsize`,
      );
    }
    try {
      lockMapping(mapping);
    } catch (error) {
      unmap(mapping);
      if (!(error instanceof LibcError)) throw error;
      throw new ReserveError(explainLockFailure(bytes, error));
    }
    this.#mapping = mapping;
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
