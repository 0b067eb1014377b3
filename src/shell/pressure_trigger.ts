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

import { closeFd, O, openPath, writeFd } from "../../ffi/libc.ts";
import { describeError } from "../core/errors.ts";
import { triggerLine } from "../core/pressure.ts";

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

  /** Arms a trigger at `path`. Throws {@link TriggerRefused} saying why not. */
  static arm(
    percent: number,
    windowSeconds: number,
    path: string,
  ): PressureTrigger {
    const line = triggerLine(percent, windowSeconds);
    if (line === null) {
      throw new TriggerRefused(
        `a window of ${windowSeconds} s is longer than the kernel's 10 s limit for triggers`,
      );
    }
    let fd: number;
    try {
      // A kernel interface: never a symlink, never a FIFO to block on.
      fd = openPath(path, O.RDWR | O.NONBLOCK | O.NOFOLLOW | O.NOCTTY);
    } catch (error) {
      throw new TriggerRefused(describeError(error));
    }
    try {
      writeFd(fd, new TextEncoder().encode(line));
    } catch (error) {
      closeFd(fd);
      const reason = describeError(error);
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
