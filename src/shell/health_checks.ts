/**
 * What the daemon checks about its own ability to act, at start and while
 * it runs: whether the panic action can work on this machine, whether
 * kernel.panic reboots after a panic, and whether the crash flag's
 * directory can take the flag. Each finding is a problem in the status
 * (check: WARNING), not only a line in the log.
 *
 * @module
 */

import { filesystemState, S_IF } from "../../ffi/libc.ts";
import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { dirname } from "../core/paths.ts";
import type { CrashFlagFile } from "./crash_flag_file.ts";
import type { Logger, ProblemLog } from "./log.ts";
import { panicUnavailable } from "./panic_action.ts";
import { readKernelPanicTimeout } from "./procfs.ts";
import { describeFileType, statLink } from "./safe_file.ts";

/** Less room than this in the flag's filesystem counts as full. */
const FLAG_ROOM_BYTES = 64n * 1024n;

/** The panic settings: said at start and after a reload that changes them. */
export function startupWarnings(
  config: Config,
  machine: Machine,
  log: Logger,
  problems: ProblemLog,
): void {
  const panics = config.gracetime > 0 && config.panicAction !== "none";
  if (
    panics && config.panicAction === "panic" &&
    readKernelPanicTimeout(machine) === 0
  ) {
    log.warn(
      "kernel.panic is 0: after the panic action the machine stays halted instead of rebooting; " +
        "set it with 'sysctl kernel.panic=10' (and in /etc/sysctl.d) or use --panic-action reboot",
    );
  }
  const unavailable = panics
    ? panicUnavailable(config.panicAction, machine)
    : null;
  if (unavailable === null) {
    problems.cure("panic-unavailable", "the panic action can work here");
  } else problems.report("panic-unavailable", "warning", unavailable);
}

/**
 * Why the crash flag could not be written now, or null: a read-only or full
 * filesystem (statvfs, no I/O: checked every heartbeat), and with
 * `rehearse` a real write and removal beside the flag.
 */
export function flagDirectoryHealth(
  crashFlag: CrashFlagFile,
  rehearse: boolean,
): string | null {
  const directory = dirname(crashFlag.path);
  try {
    const atPath = statLink(crashFlag.path);
    if (atPath && atPath.type !== S_IF.REG && atPath.type !== S_IF.LNK) {
      return `${crashFlag.path} is ${
        describeFileType(atPath.type)
      }, not a crash flag: the flag cannot be written there during an OOM episode; remove it or choose another --crashflag-name`;
    }
    const state = filesystemState(directory);
    if (state.readOnly) {
      return `the crash flag's directory ${directory} is on a read-only filesystem: during an OOM episode the flag would be missing; remount it read-write or choose another --crashflag-name`;
    }
    const noInodes = state.totalInodes > 0n && state.availableInodes === 0n;
    if (state.availableBytes < FLAG_ROOM_BYTES || noInodes) {
      return `the crash flag's filesystem (${directory}) is full: during an OOM episode the flag would be missing; free space there or choose another --crashflag-name`;
    }
  } catch (error) {
    return `cannot look at the crash flag's directory ${directory}: ${
      describeError(error)
    }`;
  }
  return rehearse ? crashFlag.rehearse() : null;
}
