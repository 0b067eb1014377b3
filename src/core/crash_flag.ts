/**
 * The crash flag's content: `key=value` lines that a person, a shell script
 * (`grep boot_id= /oomflag`) and `oomwatch check` can all read; and the
 * names under which flags from earlier boots are kept aside.
 *
 * A flag whose boot id is not the current boot's is evidence that the
 * machine went down during an OOM episode. The daemon never overwrites or
 * removes it: when a new episode needs the path, the old flag is renamed to
 * `<path>.boot-<its boot id>` in the same directory, where `check` and
 * `status` still find it, until a person runs `oomwatch ack`.
 *
 * @module
 */

import { basename } from "./paths.ts";
import { formatPostMortem, type PostMortem } from "./post_mortem.ts";

/** What the crash flag records about the episode that wrote it. */
export interface CrashFlag {
  /** Wall-clock start of the episode, ISO 8601 UTC. */
  started: string;
  /** The signal that started it: `global-oom`, `memcg-oom` or `memory-stall`. */
  trigger: string;
  /** The signal's detail (`python3 (pid 1767)`, `full stall 72% …`). */
  detail: string;
  /** The OOM victim when the kernel log named it. */
  victim?: string;
  /** `/proc/sys/kernel/random/boot_id` of the boot the episode happened in. */
  bootId: string;
  /** The daemon that wrote it. */
  pid: number;
  episode: number;
  /** When the panic action was run (ISO 8601 UTC): the reboot-loop guard counts these. */
  panicAt?: string;
  /** When the reboot-loop guard suppressed the panic action, and why. */
  panicSuppressed?: string;
}

const KEYS: [keyof CrashFlag, string][] = [
  ["started", "started"],
  ["trigger", "trigger"],
  ["detail", "detail"],
  ["victim", "victim"],
  ["bootId", "boot_id"],
  ["pid", "pid"],
  ["episode", "episode"],
  ["panicAt", "panic_at"],
  ["panicSuppressed", "panic_suppressed"],
];

// A value is one line: line breaks (and other controls) become spaces.
function oneLine(value: string): string {
  // deno-lint-ignore no-control-regex
  return value.replace(/[\x00-\x1f\x7f]+/g, " ");
}

/** The text of a crash flag, with its post-mortem (core/post_mortem.ts) after it. */
export function formatCrashFlag(
  flag: CrashFlag,
  postMortem?: PostMortem,
): string {
  const lines = [
    "# oomwatch crash flag: an OOM episode started and had not ended when this was written",
  ];
  for (const [field, key] of KEYS) {
    const value = flag[field];
    if (value !== undefined) lines.push(`${key}=${oneLine(String(value))}`);
  }
  return `${lines.join("\n")}\n${
    postMortem ? formatPostMortem(postMortem) : ""
  }`;
}

/** Reads a crash flag back; fields it lacks are absent (older or foreign files). */
export function parseCrashFlag(text: string): Partial<CrashFlag> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const equals = line.indexOf("=");
    if (line.startsWith("#") || equals <= 0) continue;
    const key = line.slice(0, equals);
    if (!values.has(key)) values.set(key, line.slice(equals + 1));
  }
  const flag: Partial<CrashFlag> = {};
  const started = values.get("started");
  if (started !== undefined) flag.started = started;
  const trigger = values.get("trigger");
  if (trigger !== undefined) flag.trigger = trigger;
  const detail = values.get("detail");
  if (detail !== undefined) flag.detail = detail;
  const victim = values.get("victim");
  if (victim !== undefined) flag.victim = victim;
  const bootId = values.get("boot_id");
  if (bootId !== undefined) flag.bootId = bootId;
  const pid = Number(values.get("pid"));
  if (Number.isSafeInteger(pid) && pid > 0) flag.pid = pid;
  const episode = Number(values.get("episode"));
  if (Number.isSafeInteger(episode) && episode > 0) flag.episode = episode;
  const panicAt = values.get("panic_at");
  if (panicAt !== undefined) flag.panicAt = panicAt;
  const suppressed = values.get("panic_suppressed");
  if (suppressed !== undefined) flag.panicSuppressed = suppressed;
  return flag;
}

/** A boot id as it may appear in a file name: a UUID, else "unknown". */
function bootIdForName(bootId: string | undefined): string {
  return bootId !== undefined && /^[0-9a-f-]{1,64}$/i.test(bootId)
    ? bootId
    : "unknown";
}

/**
 * Where a flag from an earlier boot is kept: `<path>.boot-<boot id>`, or
 * with `.N` when `taken` says that name is in use.
 *
 * @example
 * ```ts
 * keptFlagPath("/oomflag", "0b8c3a6e-1111-2222-3333-444455556666", () => false);
 * // "/oomflag.boot-0b8c3a6e-1111-2222-3333-444455556666"
 * ```
 */
export function keptFlagPath(
  flagPath: string,
  bootId: string | undefined,
  taken: (path: string) => boolean,
): string {
  const base = `${flagPath}.boot-${bootIdForName(bootId)}`;
  if (!taken(base)) return base;
  for (let n = 2;; n++) {
    const candidate = `${base}.${n}`;
    if (!taken(candidate)) return candidate;
  }
}

/** Whether `entry` (a name in the flag's directory) is a kept flag of `flagPath`. */
export function isKeptFlagName(flagPath: string, entry: string): boolean {
  const prefix = `${basename(flagPath)}.boot-`;
  return entry.startsWith(prefix) &&
    /^[0-9a-zA-Z-]{1,64}(\.\d{1,6})?$/.test(entry.slice(prefix.length));
}
