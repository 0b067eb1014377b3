/**
 * The panic action, through the magic SysRq trigger.
 *
 * `OOMWATCH_SYSRQ_TRIGGER` may name another file, so tests can see what
 * would have been written without taking the machine down.
 *
 * @module
 */

import type { PanicAction } from "../core/config.ts";
import type { Logger } from "./log.ts";

export const SYSRQ_TRIGGER_PATH = "/proc/sysrq-trigger";

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

// Emergency sync and remount are queued work in the kernel; give each a
// moment before the next key cuts it short.
const SETTLE_MS = 1_000;

/** The trigger file: `OOMWATCH_SYSRQ_TRIGGER` when set, else the kernel's. */
export function sysrqTriggerPath(): string {
  return Deno.env.get("OOMWATCH_SYSRQ_TRIGGER") || SYSRQ_TRIGGER_PATH;
}

/** Runs `action`. Each key is its own write: the kernel reads one key a write. */
export async function runPanicAction(
  action: PanicAction,
  log: Logger,
  triggerPath = sysrqTriggerPath(),
): Promise<void> {
  if (action === "none") {
    log.critical(
      "error",
      `panic action is 'none': nothing done (action 'panic' would have written 'c' to ${triggerPath})`,
    );
    return;
  }
  const keys = SYSRQ_KEYS[action];
  log.critical(
    "error",
    `running panic action '${action}': writing ${
      keys.map((key) => `'${key}'`).join(", ")
    } to ${triggerPath}`,
  );
  for (const [index, key] of keys.entries()) {
    const handle = await Deno.open(triggerPath, {
      write: true,
      append: true,
      create: triggerPath !== SYSRQ_TRIGGER_PATH,
    });
    try {
      await handle.write(new TextEncoder().encode(key));
    } finally {
      handle.close();
    }
    if (index < keys.length - 1) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
  }
}
