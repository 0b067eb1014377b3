/**
 * The need of tests that watch the kernel's oom:mark_victim tracepoint:
 * root (perf allows it through CAP_PERFMON/CAP_SYS_ADMIN) and tracefs with
 * the event. These hosts boot without tracefs mounted; the need mounts it
 * at /sys/kernel/tracing (as systemd does at boot elsewhere) and unmounts
 * it when the test process ends, when it mounted it.
 */

import type { Need } from "./privilege.ts";

export const TRACEFS = "/sys/kernel/tracing";
const EVENT_FORMAT = `${TRACEFS}/events/oom/mark_victim/format`;

function hasEvent(): boolean {
  try {
    return Deno.statSync(EVENT_FORMAT).isFile;
  } catch {
    return false;
  }
}

/** Mounts tracefs when it is not; returns why the event is missing, or null. */
function ensureTracefs(): string | null {
  if (hasEvent()) return null;
  if (Deno.uid() !== 0) {
    return "tracefs is not mounted and mounting it needs root";
  }
  const mount = new Deno.Command("mount", {
    args: ["-t", "tracefs", "nodev", TRACEFS],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!mount.success) {
    return `mount -t tracefs nodev ${TRACEFS} failed: ${
      new TextDecoder().decode(mount.stderr).trim()
    }`;
  }
  globalThis.addEventListener("unload", () => {
    new Deno.Command("umount", { args: [TRACEFS] }).outputSync();
  });
  return hasEvent() ? null : `${EVENT_FORMAT} is missing (kernel before 4.13?)`;
}

export const TRACEPOINT: Need = {
  name: "oom:mark_victim tracepoint",
  missing: () => {
    if (Deno.uid() !== 0) return "perf needs root (CAP_PERFMON) for it";
    return ensureTracefs();
  },
};
