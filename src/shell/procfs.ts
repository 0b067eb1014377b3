/**
 * Reads of the kernel files oomwatch watches, each returning what the pure
 * parsers of `src/core/` make of it.
 *
 * @module
 */

import { type Meminfo, parseMeminfo } from "../core/meminfo.ts";
import { parsePressure, type Pressure } from "../core/pressure.ts";
import { parseVmstat } from "../core/vmstat.ts";

export const VMSTAT_PATH = "/proc/vmstat";
export const MEMINFO_PATH = "/proc/meminfo";
export const PRESSURE_PATH = "/proc/pressure/memory";

/** `oom_kill` of `/proc/vmstat`, or null on kernels older than 4.13. */
export function readOomKillCounter(): number | null {
  return parseVmstat(Deno.readTextFileSync(VMSTAT_PATH)).oomKill;
}

export function readMeminfo(): Meminfo {
  return parseMeminfo(Deno.readTextFileSync(MEMINFO_PATH));
}

/** Memory pressure, or null where PSI is missing or disabled (`psi=0`). */
export function readPressure(path = PRESSURE_PATH): Pressure | null {
  try {
    return parsePressure(Deno.readTextFileSync(path));
  } catch {
    return null;
  }
}

/** This boot's id (`/proc/sys/kernel/random/boot_id`), or "unknown". */
export function readBootId(): string {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return "unknown";
  }
}

/** `kernel.panic`: seconds before a panicked kernel reboots (0 = never), or null. */
export function readKernelPanicTimeout(): number | null {
  try {
    const value = Number(
      Deno.readTextFileSync("/proc/sys/kernel/panic").trim(),
    );
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** A field of `/proc/<pid>/status` in bytes (`VmLck`, `VmRSS`), or null. */
export function readStatusBytes(
  pid: number | "self",
  field: string,
): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Memory really pinned by mlock, from `/proc/<pid>/smaps_rollup` `Locked:`
 * in bytes. `VmLck` counts whole mappings locked with MLOCK_ONFAULT, even
 * the pages never faulted in; this counts only resident locked pages.
 */
export function readLockedBytes(pid: number | "self"): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const match = /^Locked:\s+(\d+) kB$/m.exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
