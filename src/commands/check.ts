/**
 * `oomwatch check`: one Nagios-style line and exit code for cron and
 * monitoring systems. It needs no running daemon to report one missing, and
 * works as a plain user where the files are readable (the reserve is then
 * not verified: another user's smaps is root's to read).
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import {
  type HealthFacts,
  type HealthVerdict,
  judgeHealth,
} from "../core/health.ts";
import type { Machine } from "../core/machine.ts";
import { parseLockedMappings, reserveIsLocked } from "../core/smaps.ts";
import { type DaemonStatus, parseStatus } from "../core/status.ts";
import { crashFlagFacts } from "../shell/crash_flag_file.ts";
import { instanceRunning, lockPathFor } from "../shell/instance_lock.ts";
import { dirname } from "../core/paths.ts";
import { readBootId, SMAPS_MAX_BYTES } from "../shell/procfs.ts";
import { tmpfsReserveBytes } from "../shell/reserve_tmpfs.ts";
import { isNotFound, readRegularFile } from "../shell/safe_file.ts";

/** The status file, or why it cannot be read (never a throw). */
export function readStatusFile(
  path: string,
): DaemonStatus | { unreadable: string } {
  try {
    return parseStatus(readRegularFile(path));
  } catch (error) {
    const reason = isNotFound(error) ? "no such file" : describeError(error);
    return { unreadable: `${path}: ${reason}` };
  }
}

/**
 * Whether the kernel shows the daemon's reserve held: a locked anonymous
 * mapping in its smaps, or (tmpfs backing) that much memory on the
 * reserve's tmpfs. Null where it cannot be seen (a plain user).
 */
function verifyReserve(
  status: DaemonStatus,
  machine: Machine,
  statusFile: string,
): boolean | null {
  if (status.reserve.backing === "tmpfs") {
    try {
      const held = tmpfsReserveBytes(`${dirname(statusFile)}/reserve`);
      return held !== null && held >= status.reserve.heldBytes;
    } catch {
      return null; // statvfs refused: not ours to see
    }
  }
  let smaps: string;
  try {
    smaps = readRegularFile(`${machine.proc}/${status.pid}/smaps`, {
      maxBytes: SMAPS_MAX_BYTES,
    });
  } catch (error) {
    // Gone: no reserve. Not ours to read (a plain user): not verified.
    return isNotFound(error) ? false : null;
  }
  return reserveIsLocked(parseLockedMappings(smaps), status.reserve.heldBytes);
}

/** What `check` and `status` judge: read once, so both see the same files. */
export function gatherFacts(config: Config, machine: Machine): HealthFacts {
  let running = false;
  try {
    running = instanceRunning(lockPathFor(config.statusFile), machine.proc);
  } catch {
    running = false; // an unreadable lock: no daemon this check can see
  }
  const status = readStatusFile(config.statusFile);
  return {
    running,
    status,
    nowEpochMs: Date.now(),
    reserveLocked: running && !("unreadable" in status)
      ? verifyReserve(status, machine, config.statusFile)
      : null,
    crashFlags: config.crashflag ? crashFlagFacts(config.crashflagName) : [],
    currentBootId: readBootId(machine),
  };
}

/** Gathers the facts for `config` and judges them. */
export function runCheck(config: Config, machine: Machine): HealthVerdict {
  return judgeHealth(gatherFacts(config, machine));
}
