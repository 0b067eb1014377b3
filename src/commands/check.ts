/**
 * `oomwatch check`: one Nagios-style line and exit code for cron and
 * monitoring systems. It needs no running daemon to report one missing, and
 * works as a plain user where the files are readable (the reserve is then
 * not verified: another user's smaps is root's to read).
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { parseCrashFlag } from "../core/crash_flag.ts";
import {
  type HealthFacts,
  type HealthVerdict,
  judgeHealth,
} from "../core/health.ts";
import {
  type DaemonStatus,
  parseLockedMappings,
  parseStatus,
  reserveIsLocked,
} from "../core/status.ts";
import { instanceRunning, lockPathFor } from "../shell/instance_lock.ts";
import { readBootId } from "../shell/procfs.ts";

/** The status file, or why it cannot be read. */
export function readStatusFile(
  path: string,
): DaemonStatus | { unreadable: string } {
  try {
    return parseStatus(Deno.readTextFileSync(path));
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    return { unreadable: `${path}: ${reason}` };
  }
}

/** Whether the kernel shows the daemon's reserve locked; null if not readable. */
function verifyReserve(status: DaemonStatus): boolean | null {
  try {
    const smaps = Deno.readTextFileSync(`/proc/${status.pid}/smaps`);
    return reserveIsLocked(
      parseLockedMappings(smaps),
      status.reserve.configuredBytes,
    );
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return null;
  }
}

function crashFlagBootId(path: string): string | null {
  try {
    return parseCrashFlag(Deno.readTextFileSync(path)).bootId ?? "";
  } catch {
    return null;
  }
}

/** What `check` and `status` judge: read once, so both see the same file. */
export function gatherFacts(config: Config): HealthFacts {
  let running = false;
  try {
    running = instanceRunning(lockPathFor(config.statusFile));
  } catch {
    running = false;
  }
  const status = readStatusFile(config.statusFile);
  return {
    running,
    status,
    nowEpochMs: Date.now(),
    reserveLocked: running && !("unreadable" in status)
      ? verifyReserve(status)
      : null,
    crashFlagBootId: config.crashflag
      ? crashFlagBootId(config.crashflagName)
      : null,
    crashFlagPath: config.crashflagName,
    currentBootId: readBootId(),
  };
}

/** Gathers the facts for `config` and judges them. */
export function runCheck(config: Config): HealthVerdict {
  return judgeHealth(gatherFacts(config));
}
