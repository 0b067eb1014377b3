/**
 * The crash flag on disk: written atomically and fsynced (with its
 * directory) when an episode starts, removed when it ends, rehearsed at
 * start, and reported when one is found from before.
 *
 * @module
 */

import {
  type CrashFlag,
  formatCrashFlag,
  parseCrashFlag,
} from "../core/crash_flag.ts";
import { dirname } from "../core/paths.ts";
import { removeFileDurably, writeFileAtomic } from "./atomic_file.ts";
import type { Logger } from "./log.ts";

/** Writes the flag; returns whether it reached the disk (a failure is logged). */
export function writeCrashFlag(
  path: string,
  flag: CrashFlag,
  log: Logger,
): boolean {
  try {
    writeFileAtomic(path, formatCrashFlag(flag));
    log.critical("info", `crash flag written to ${path}`);
    return true;
  } catch (error) {
    log.error(
      `cannot write the crash flag ${path}: ${error}; check that its directory is writable and its filesystem not full or read-only`,
    );
    return false;
  }
}

/** Removes the flag at the end of an episode (a failure is logged). */
export function removeCrashFlag(path: string, log: Logger): void {
  try {
    if (removeFileDurably(path)) log.info(`crash flag ${path} removed`);
  } catch (error) {
    log.error(`cannot remove the crash flag ${path}: ${error}`);
  }
}

/**
 * Writes and removes a probe file beside the crash flag, the way the flag
 * itself is written: a directory that cannot take the flag is said now, not
 * in the middle of an OOM, and the code of that path is resident.
 */
export function rehearseCrashFlag(path: string, log: Logger): void {
  const probe = `${dirname(path)}/.oomwatch-probe-${Deno.pid}`;
  try {
    writeFileAtomic(probe, "probe\n");
    removeFileDurably(probe);
  } catch (error) {
    log.warn(
      `cannot write in the crash flag's directory (${error}): during an OOM episode the flag ${path} would be missing; make the directory writable or choose another --crashflag-name`,
    );
  }
}

/** A flag found at start is evidence for the operator: report it, keep it. */
export function reportLeftoverCrashFlag(
  path: string,
  bootId: string,
  log: Logger,
): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return;
  }
  const flag = parseCrashFlag(text);
  const when = flag.bootId === bootId
    ? "earlier in this boot (oomwatch was restarted during an episode)"
    : `in an earlier boot (${
      flag.bootId ?? "unknown boot id"
    }): the machine went down during an OOM episode`;
  log.warn(
    `crash flag ${path} found, written ${when}; started ${
      flag.started ?? "at an unknown time"
    } by ${
      flag.trigger ?? "an unknown trigger"
    }. Left in place; remove it once seen`,
  );
}
