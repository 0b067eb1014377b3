/**
 * A PSI trigger on `/proc/pressure/memory` (Documentation/accounting/psi.rst):
 * the kernel wakes a `poll(2)` for POLLPRI when all non-idle tasks were
 * stalled on memory for the given share of the window, so the daemon learns
 * of a stall without reading the file over and over.
 *
 * Since Linux 6.5 a process without CAP_SYS_RESOURCE may only use windows
 * that are multiples of 2 s (EINVAL otherwise, or EPERM on some kernels).
 *
 * @module
 */

import { closeFd, openReadWriteNonBlocking, writeFd } from "../../ffi/libc.ts";
import { triggerLine } from "../core/pressure.ts";
import { PRESSURE_PATH } from "./procfs.ts";

/** Where triggers are armed; OOMWATCH_PSI_TRIGGER may point elsewhere (tests). */
export function pressureTriggerPath(): string {
  return Deno.env.get("OOMWATCH_PSI_TRIGGER") || PRESSURE_PATH;
}

/** Why a trigger could not be armed, for the one log line that says so. */
export class TriggerRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TriggerRefused";
  }
}

export class PressureTrigger {
  readonly fd: number;
  readonly description: string;

  private constructor(fd: number, description: string) {
    this.fd = fd;
    this.description = description;
  }

  /** Arms a trigger. Throws {@link TriggerRefused} saying why not. */
  static arm(
    percent: number,
    windowSeconds: number,
    path = pressureTriggerPath(),
  ): PressureTrigger {
    const line = triggerLine(percent, windowSeconds);
    if (line === null) {
      throw new TriggerRefused(
        `a window of ${windowSeconds} s is longer than the kernel's 10 s limit for triggers`,
      );
    }
    let fd: number;
    try {
      fd = openReadWriteNonBlocking(path);
    } catch (error) {
      throw new TriggerRefused(
        `${error instanceof Error ? error.message : error}`,
      );
    }
    try {
      writeFd(fd, new TextEncoder().encode(line));
    } catch (error) {
      closeFd(fd);
      const reason = error instanceof Error ? error.message : String(error);
      throw new TriggerRefused(
        `writing '${line.slice(0, -1)}' to ${path}: ${reason}` +
          (reason.includes("EINVAL") || reason.includes("EPERM")
            ? " (without CAP_SYS_RESOURCE the window must be a multiple of 2 s)"
            : ""),
      );
    }
    return new PressureTrigger(fd, line.slice(0, -1));
  }

  close(): void {
    closeFd(this.fd);
  }
}
