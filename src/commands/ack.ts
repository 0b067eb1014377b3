/**
 * `oomwatch ack`: a person acknowledges the crash flags kept from earlier
 * boots (evidence that the machine went down during an OOM episode), and
 * this boot's leftovers of a daemon that is gone. Each is printed, then
 * removed; `check` is CRITICAL until then. The flag of an episode going on
 * now is left to its daemon.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { escapeControl } from "../core/text.ts";
import { findFlags, removeAcknowledged } from "../shell/crash_flag_file.ts";
import { readBootId } from "../shell/procfs.ts";
import { gatherFacts } from "./check.ts";

/** Acknowledges the flags; returns the exit code (1 when one could not be removed). */
export function runAck(config: Config, machine: Machine): number {
  if (!config.crashflag) {
    console.log("crash flag off (crashflag = 0): nothing to acknowledge");
    return 0;
  }
  const bootId = readBootId(machine);
  const facts = gatherFacts(config, machine);
  const episodeGoesOn = facts.running && !("unreadable" in facts.status) &&
    facts.status.state === "episode";
  let failures = 0;
  let acknowledged = 0;
  for (const found of findFlags(config.crashflagName)) {
    const flag = "flag" in found ? found.flag : null;
    const current = found.path === config.crashflagName &&
      flag?.bootId === bootId && episodeGoesOn;
    if (current) {
      console.log(
        `${found.path}: the flag of the episode going on now; left to the daemon`,
      );
      continue;
    }
    const what = flag
      ? `boot ${flag.bootId ?? "unknown"}, started ${flag.started ?? "?"} by ${
        flag.trigger ?? "?"
      } (${flag.detail ?? "?"})`
      : "unreadable";
    try {
      removeAcknowledged(found.path);
      acknowledged += 1;
      console.log(
        `acknowledged and removed ${escapeControl(found.path)}: ${
          escapeControl(what)
        }`,
      );
    } catch (error) {
      failures += 1;
      console.error(
        `oomwatch: cannot remove ${escapeControl(found.path)}: ${
          describeError(error)
        }`,
      );
    }
  }
  if (acknowledged === 0 && failures === 0) {
    console.log("no crash flags to acknowledge");
  }
  return failures > 0 ? 1 : 0;
}
