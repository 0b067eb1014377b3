/**
 * The panic action: the magic SysRq trigger, and when that fails, sync(2)
 * and reboot(2) through libc.
 *
 * Machine.realPanic is false when a test pointed the trigger at a file of
 * its own: then nothing real is ever called — the libc fallback is logged as
 * what it would have called, and counts as failed.
 *
 * @module
 */

import { RB, syncAndReboot } from "../../ffi/libc.ts";
import type { PanicAction } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { dirname } from "../core/paths.ts";
import type { Logger } from "./log.ts";
import { CAP, hasCapability } from "./procfs.ts";
import { appendRecord, statLink } from "./safe_file.ts";

/**
 * The SysRq keys of each action (Documentation/admin-guide/sysrq.rst): `c`
 * crashes the kernel (a panic; `kernel.panic=N` then reboots), `s` syncs,
 * `u` remounts read-only, `b` reboots and `o` powers off at once.
 */
export const SYSRQ_KEYS: Record<Exclude<PanicAction, "none">, string[]> = {
  panic: ["c"],
  reboot: ["s", "u", "b"],
  poweroff: ["s", "u", "o"],
};

/** reboot(2) as the last resort: a panic cannot be asked of libc, a reboot can. */
const FALLBACK: Record<Exclude<PanicAction, "none">, [number, string]> = {
  panic: [RB.AUTOBOOT, "RB_AUTOBOOT"],
  reboot: [RB.AUTOBOOT, "RB_AUTOBOOT"],
  poweroff: [RB.POWER_OFF, "RB_POWER_OFF"],
};

// Emergency sync and remount are queued work in the kernel; give each a
// moment before the next key cuts it short.
const SETTLE_MS = 1_000;
// `c` and `b` act at once; a write that returns and leaves the machine up
// for this long did not work.
const STILL_UP_MS = 2_000;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Why the panic action cannot work on this machine, or null: neither the
 * SysRq trigger (missing: many container and VM hosts have none) nor
 * reboot(2) (CAP_SYS_BOOT) is available.
 */
export function panicUnavailable(
  action: PanicAction,
  machine: Machine,
): string | null {
  if (action === "none") return null;
  const trigger = statLink(machine.sysrqTrigger);
  // A test's trigger file may not exist yet: it is created on the first key.
  const usable = trigger !== null ||
    (!machine.realPanic && statLink(dirname(machine.sysrqTrigger)) !== null);
  if (usable || hasCapability(CAP.SYS_BOOT, machine.proc)) return null;
  return `the panic action '${action}' cannot work here: no SysRq trigger (${machine.sysrqTrigger} is missing) and no CAP_SYS_BOOT for reboot(2); ` +
    "give the service CAP_SYS_BOOT or run it where /proc/sysrq-trigger exists";
}

/**
 * Runs `action`. Resolves to null when it was carried out (in production it
 * does not return: the machine goes down), or to why it failed.
 */
export async function runPanicAction(
  action: PanicAction,
  machine: Machine,
  log: Logger,
): Promise<string | null> {
  const trigger = machine.sysrqTrigger;
  if (action === "none") {
    log.critical(
      "error",
      `panic action is 'none': nothing done (action 'panic' would have written 'c' to ${trigger})`,
    );
    return null;
  }
  const keys = SYSRQ_KEYS[action];
  log.critical(
    "error",
    `running panic action '${action}': writing ${
      keys.map((key) => `'${key}'`).join(", ")
    } to ${trigger}`,
  );
  let failure: string;
  try {
    for (const [index, key] of keys.entries()) {
      appendRecord(trigger, new TextEncoder().encode(key), {
        create: !machine.realPanic,
      });
      if (index < keys.length - 1) await sleep(SETTLE_MS);
    }
    if (!machine.realPanic) return null;
    await sleep(STILL_UP_MS);
    failure = `SysRq '${
      keys.at(-1)
    }' was written to ${trigger} but the machine is still up after ${
      STILL_UP_MS / 1000
    } s`;
  } catch (error) {
    failure = `writing SysRq keys to ${trigger} failed: ${
      describeError(error)
    }`;
  }
  const [command, name] = FALLBACK[action];
  if (!machine.realPanic) {
    log.critical(
      "error",
      `${failure}; falling back to sync(2) and reboot(${name}) — not called: the SysRq trigger was redirected (OOMWATCH_SYSRQ_TRIGGER, a test)`,
    );
    return `${failure}; reboot(${name}) not called (test trigger)`;
  }
  log.critical(
    "error",
    `${failure}; falling back to sync(2) and reboot(${name})`,
  );
  try {
    syncAndReboot(command);
  } catch (error) {
    return `${failure}; reboot(${name}) failed: ${describeError(error)}${
      hasCapability(CAP.SYS_BOOT, machine.proc) ? "" : " (no CAP_SYS_BOOT)"
    }`;
  }
}
