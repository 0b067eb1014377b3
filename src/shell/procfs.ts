/**
 * Reads of the kernel files oomwatch watches, each returning what the pure
 * parsers of `src/core/` make of it, as a {@link Reading}: a value, or why
 * there is none. They never throw: an unreadable /proc file is a fact for
 * the caller to report once, not an exception on every wake.
 *
 * @module
 */

import {
  describeError,
  noReading,
  type Reading,
  readingOf,
} from "../core/errors.ts";
import { memoryCgroupOf } from "../core/memcg_policy.ts";
import { type Meminfo, parseMeminfo } from "../core/meminfo.ts";
import { parsePressure, type Pressure } from "../core/pressure.ts";
import { escapeControl } from "../core/text.ts";
import { parseVmstat, type Vmstat } from "../core/vmstat.ts";
import type { Machine } from "../core/machine.ts";
import { readRegularFile } from "./safe_file.ts";

/** /proc/<pid>/smaps of a large process exceeds the default 1 MiB cap. */
export const SMAPS_MAX_BYTES = 16 * 1024 * 1024;

function read<T>(path: string, parse: (text: string) => T): Reading<T> {
  try {
    return readingOf(parse(readRegularFile(path)));
  } catch (error) {
    return noReading(`${path}: ${describeError(error)}`);
  }
}

/** The text of a kernel file, or why it cannot be read. */
export function readKernelText(
  path: string,
  maxBytes?: number,
): Reading<string> {
  try {
    return readingOf(
      readRegularFile(path, maxBytes === undefined ? {} : { maxBytes }),
    );
  } catch (error) {
    return noReading(`${path}: ${describeError(error)}`);
  }
}

/** `/proc/vmstat`: `oom_kill` (null on kernels older than 4.13) and friends. */
export function readVmstat(machine: Machine): Reading<Vmstat> {
  return read(machine.vmstat, parseVmstat);
}

export function readMeminfo(machine: Machine): Reading<Meminfo> {
  return read(machine.meminfo, parseMeminfo);
}

/** A PSI file (memory or io); missing where the kernel has no PSI or `psi=0`. */
export function readPressure(path: string): Reading<Pressure> {
  return read(path, parsePressure);
}

/** This boot's id (`/proc/sys/kernel/random/boot_id`), or "unknown". */
export function readBootId(machine: Machine): string {
  const reading = read(machine.bootId, (text) => text.trim());
  return reading.ok && reading.value !== "" ? reading.value : "unknown";
}

/** `kernel.panic`: seconds before a panicked kernel reboots (0 = never), or null. */
export function readKernelPanicTimeout(machine: Machine): number | null {
  const reading = read(machine.kernelPanic, (text) => Number(text.trim()));
  return reading.ok && Number.isFinite(reading.value) ? reading.value : null;
}

/**
 * The memory cgroup of process `pid` (core/memcg_policy.ts, memoryCgroupOf),
 * escaped for a log line, or null when it cannot be read or told.
 */
export function readMemoryCgroup(proc: string, pid: number): string | null {
  const reading = readKernelText(`${proc}/${pid}/cgroup`);
  const memcg = reading.ok ? memoryCgroupOf(reading.value) : null;
  return memcg === null ? null : escapeControl(memcg);
}

/** A field of `/proc/<pid>/status` in bytes (`VmLck`, `VmRSS`), or null. */
export function readStatusBytes(
  pid: number | "self",
  field: string,
  proc = "/proc",
): number | null {
  const reading = readKernelText(`${proc}/${pid}/status`);
  if (!reading.ok) return null;
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(
    reading.value,
  );
  return match ? Number(match[1]) * 1024 : null;
}

/** The capabilities in effect for this process (`CapEff`), or 0n. */
export function readEffectiveCapabilities(proc = "/proc"): bigint {
  const reading = readKernelText(`${proc}/self/status`);
  const match = reading.ok
    ? /^CapEff:\s+([0-9a-f]+)$/m.exec(reading.value)
    : null;
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

/** Capability numbers (include/uapi/linux/capability.h). */
export const CAP = {
  IPC_LOCK: 14,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_ADMIN: 21,
  PERFMON: 38,
} as const;

/** Whether this process has capability `cap` in effect. */
export function hasCapability(cap: number, proc = "/proc"): boolean {
  return ((readEffectiveCapabilities(proc) >> BigInt(cap)) & 1n) === 1n;
}

/**
 * Memory really pinned by mlock, from `/proc/<pid>/smaps_rollup` `Locked:`
 * in bytes. `VmLck` counts whole mappings locked with MLOCK_ONFAULT, even
 * the pages never faulted in; this counts only resident locked pages.
 */
export function readLockedBytes(
  pid: number | "self",
  proc = "/proc",
): number | null {
  const reading = readKernelText(`${proc}/${pid}/smaps_rollup`);
  const match = reading.ok ? /^Locked:\s+(\d+) kB$/m.exec(reading.value) : null;
  return match ? Number(match[1]) * 1024 : null;
}
