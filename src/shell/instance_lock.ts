/**
 * One daemon per status file: an flock(2) on `oomwatch.lock` beside it. The
 * kernel drops the lock when the holder dies, however it dies, so a lock can
 * never go stale; the file's content (the holder's pid) is only information.
 *
 * @module
 */

import {
  closeFd,
  LibcError,
  openLockFile,
  replaceContent,
  tryLock,
} from "../../ffi/libc.ts";
import { dirname } from "../core/paths.ts";

/** The lock file of the daemon that keeps `statusFile`. */
export function lockPathFor(statusFile: string): string {
  return `${dirname(statusFile)}/oomwatch.lock`;
}

/** Another daemon holds the lock. */
export class AlreadyRunning extends Error {
  readonly pid: number | null;
  constructor(path: string, pid: number | null) {
    super(
      `another oomwatch is running (pid ${
        pid ?? "unknown"
      }, holding ${path}); stop it first, or give this one another --status-file`,
    );
    this.name = "AlreadyRunning";
    this.pid = pid;
  }
}

function readPid(path: string): number | null {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Takes the lock for this process for as long as it lives (the descriptor
 * stays open), writing its pid into the file. Throws {@link AlreadyRunning}.
 */
export function acquireInstanceLock(path: string): void {
  const fd = openLockFile(path);
  if (!tryLock(fd, true)) {
    closeFd(fd);
    throw new AlreadyRunning(path, readPid(path));
  }
  replaceContent(fd, `${Deno.pid}\n`);
}

/**
 * Whether a daemon holds the lock: true, false, or null when there is no
 * lock file (no daemon ever ran here). Needs only read access.
 */
export function instanceRunning(path: string): boolean {
  let fd: number;
  try {
    fd = openLockFile(path, true);
  } catch (error) {
    if (error instanceof LibcError && error.code === "ENOENT") return false;
    throw error;
  }
  try {
    return !tryLock(fd, false);
  } finally {
    closeFd(fd);
  }
}
