/**
 * The crash flag's content: `key=value` lines that a person, a shell script
 * (`grep boot_id= /oomflag`) and `oomwatch check` can all read.
 *
 * @module
 */

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
}

const KEYS: [keyof CrashFlag, string][] = [
  ["started", "started"],
  ["trigger", "trigger"],
  ["detail", "detail"],
  ["victim", "victim"],
  ["bootId", "boot_id"],
  ["pid", "pid"],
  ["episode", "episode"],
];

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, " ");
}

/** The text of a crash flag. */
export function formatCrashFlag(flag: CrashFlag): string {
  const lines = [
    "# oomwatch crash flag: an OOM episode started and had not ended when this was written",
  ];
  for (const [field, key] of KEYS) {
    const value = flag[field];
    if (value !== undefined) lines.push(`${key}=${oneLine(String(value))}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Reads a crash flag back; fields it lacks are absent (older or foreign files). */
export function parseCrashFlag(text: string): Partial<CrashFlag> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const equals = line.indexOf("=");
    if (line.startsWith("#") || equals <= 0) continue;
    values.set(line.slice(0, equals), line.slice(equals + 1));
  }
  const flag: Partial<CrashFlag> = {};
  const text_ = (key: string) => values.get(key);
  const started = text_("started");
  if (started !== undefined) flag.started = started;
  const trigger = text_("trigger");
  if (trigger !== undefined) flag.trigger = trigger;
  const detail = text_("detail");
  if (detail !== undefined) flag.detail = detail;
  const victim = text_("victim");
  if (victim !== undefined) flag.victim = victim;
  const bootId = text_("boot_id");
  if (bootId !== undefined) flag.bootId = bootId;
  const pid = Number(text_("pid"));
  if (Number.isInteger(pid) && pid > 0) flag.pid = pid;
  const episode = Number(text_("episode"));
  if (Number.isInteger(episode) && episode > 0) flag.episode = episode;
  return flag;
}
