/**
 * The parameters of oomwatch: their names, defaults and allowed values, the
 * config file in sysctl syntax (so an `/etc/sysctl.d` file written for
 * `oom_ext` works as it is), the merge of defaults, file and flags, and the
 * effective configuration printed back in that syntax.
 *
 * Pure: takes text and values, never reads a file.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import {
  absolutePath,
  decimal,
  memcgPolicy,
  oneOf,
  type Parser,
  printFlag,
  printMemcgPolicy,
  shellCommand,
  wholeNumber,
  zeroOrOne,
} from "./config_values.ts";
import {
  type PanicLimit,
  parseMaxPanics,
  printMaxPanics,
} from "./panic_guard.ts";

/** What the daemon does when an OOM episode outlasts `gracetime`. */
export type PanicAction = "panic" | "reboot" | "poweroff" | "none";
export const PANIC_ACTIONS: readonly PanicAction[] = [
  "panic",
  "reboot",
  "poweroff",
  "none",
];

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];

/**
 * Which memcg OOM kills are OOM signals: none (the original module saw
 * none), all, or those whose OOM-ing cgroup lies under one of the prefixes.
 */
export type MemcgOomPolicy =
  | { kind: "none" }
  | { kind: "all" }
  | { kind: "prefixes"; prefixes: readonly string[] };

/** The complete configuration of a running daemon. */
export interface Config {
  /** Size of the emergency reserve in MiB; 0 = no reserve. */
  bufsize: number;
  /** Seconds into an episode after which a present OOM signal runs the panic action; 0 = never. */
  gracetime: number;
  /** Quiet seconds that end an episode. */
  resettime: number;
  /** Whether the crash flag is written and removed. */
  crashflag: boolean;
  /** Path of the crash flag. */
  crashflagName: string;
  panicAction: PanicAction;
  /** Memory-stall threshold: percent of `psiWindow` with all tasks stalled; 0 = off. */
  psiFull: number;
  /** Seconds over which the stall share is measured. */
  psiWindow: number;
  /**
   * Thrash threshold: percent of `psiWindow` with all tasks stalled on I/O
   * (PSI io `full`), while major faults go on and memory is short; 0 = off.
   */
  thrashIoFull: number;
  /** Which OOM kills inside memory cgroups are OOM signals too. */
  memcgOom: MemcgOomPolicy;
  /** Seconds between the daemon's wakes when nothing happens. */
  heartbeat: number;
  /** Whether the daemon locks its own code pages in RAM. */
  lockCode: boolean;
  /** Whether to wake on the kernel's oom:mark_victim tracepoint where perf allows. */
  tracepoint: boolean;
  /** Where the reserve's memory comes from: an mlocked mapping, or a tmpfs file. */
  reserveBacking: "locked" | "tmpfs";
  /** The reboot-loop guard: panics from earlier boots that suppress the next; null = none. */
  maxPanics: PanicLimit | null;
  /** A watchdog device to pet while healthy (`/dev/watchdog0`), or "" for none. */
  watchdogDevice: string;
  /** The timeout asked of the watchdog device, in seconds. */
  watchdogTimeout: number;
  /** The status file the daemon keeps and `check`/`status` read. */
  statusFile: string;
  /** Prometheus textfile to keep, or "" for none. */
  metricsFile: string;
  /** A shell command run after each episode's start, or "" for none. */
  execOnOom: string;
  logLevel: LogLevel;
}

export const DEFAULT_CONFIG: Readonly<Config> = {
  bufsize: 32,
  gracetime: 0,
  resettime: 300,
  crashflag: true,
  crashflagName: "/oomflag",
  panicAction: "panic",
  psiFull: 60,
  psiWindow: 10,
  thrashIoFull: 70,
  memcgOom: { kind: "none" },
  heartbeat: 5,
  lockCode: false,
  tracepoint: true,
  reserveBacking: "locked",
  maxPanics: { count: 3, windowSeconds: 3600 },
  watchdogDevice: "",
  watchdogTimeout: 60,
  statusFile: "/run/oomwatch/status.json",
  metricsFile: "",
  execOnOom: "",
  logLevel: "info",
};

/** One parameter: its canonical (oom_ext, underscore) name, rule and printer. */
interface Parameter<K extends keyof Config> {
  name: string;
  /** What is allowed, said to the user when a value is refused. */
  allowed: string;
  parse: Parser<Config[K]>;
  /** The value in config-file syntax (the inverse of `parse`). */
  print?: (value: Config[K]) => string;
  /** Also accepted as a bare flag (`--memcg-oom`), meaning this value. */
  bare?: string;
}

const DAY = 86_400;

/**
 * Every parameter, by its field. The type ties each parser to its field's
 * type: a path parser given to `bufsize` fails `deno check`.
 */
const PARAMETERS: { readonly [K in keyof Config]: Parameter<K> } = {
  bufsize: {
    name: "bufsize",
    allowed: "a whole number of MiB, 0 (no reserve) or more",
    parse: wholeNumber(0, 1 << 30),
  },
  gracetime: {
    name: "gracetime",
    allowed: "a whole number of seconds, 0 (never panic) to 86400",
    parse: wholeNumber(0, DAY),
  },
  resettime: {
    name: "resettime",
    allowed: "a whole number of seconds, 1 to 86400",
    parse: wholeNumber(1, DAY),
  },
  crashflag: {
    name: "crashflag",
    allowed: "1 (write the crash flag) or 0 (never)",
    parse: zeroOrOne,
    print: printFlag,
  },
  crashflagName: {
    name: "crashflag_name",
    allowed: "an absolute path of a file, e.g. /oomflag",
    parse: absolutePath,
  },
  panicAction: {
    name: "panic_action",
    allowed: PANIC_ACTIONS.join(", "),
    parse: oneOf(PANIC_ACTIONS),
  },
  psiFull: {
    name: "psi_full",
    allowed: "a percentage from 0 (off) to 100",
    parse: decimal(0, 100),
  },
  psiWindow: {
    name: "psi_window",
    allowed: "a whole number of seconds, 2 to 600",
    parse: wholeNumber(2, 600),
  },
  thrashIoFull: {
    name: "thrash_io_full",
    allowed: "a percentage from 0 (off) to 100",
    parse: decimal(0, 100),
  },
  memcgOom: {
    name: "memcg_oom",
    allowed:
      "0 (memcg OOM kills are not OOM signals), 1 (all are), or comma-separated cgroup paths such as /system.slice/db.service, without . or .. (kills in those cgroups and below them are)",
    parse: memcgPolicy,
    print: printMemcgPolicy,
    bare: "1",
  },
  heartbeat: {
    name: "heartbeat",
    allowed: "a whole number of seconds, 1 to 60",
    parse: wholeNumber(1, 60),
  },
  lockCode: {
    name: "lock_code",
    allowed: "1 (lock oomwatch's own code pages in RAM) or 0",
    parse: zeroOrOne,
    print: printFlag,
  },
  tracepoint: {
    name: "tracepoint",
    allowed:
      "1 (wake on the kernel's oom:mark_victim tracepoint where perf allows) or 0 (the kernel log only)",
    parse: zeroOrOne,
    print: printFlag,
  },
  reserveBacking: {
    name: "reserve_backing",
    allowed:
      "locked (an mlocked mapping, shown as VmLck) or tmpfs (a file on a huge-page, no-swap tmpfs oomwatch mounts beside the status file: released without a TLB shootdown)",
    parse: oneOf(["locked", "tmpfs"] as const),
  },
  maxPanics: {
    name: "max_panics",
    allowed:
      "N/WINDOW: at most N panics (1 to 100) within WINDOW (1s to 30d; units s, m, h, d), counted from the crash flags of earlier boots, e.g. 3/1h; or 0 (no limit)",
    parse: parseMaxPanics,
    print: printMaxPanics,
  },
  watchdogDevice: {
    name: "watchdog_device",
    allowed:
      "an absolute path of a watchdog device such as /dev/watchdog0, or empty for none",
    parse: (raw) => raw.trim() === "" ? "" : absolutePath(raw),
  },
  watchdogTimeout: {
    name: "watchdog_timeout",
    allowed: "a whole number of seconds, 3 to 3600",
    parse: wholeNumber(3, 3600),
  },
  statusFile: {
    name: "status_file",
    allowed: "an absolute path of a file, e.g. /run/oomwatch/status.json",
    parse: absolutePath,
  },
  metricsFile: {
    name: "metrics_file",
    allowed:
      "an absolute path of a file (for node_exporter's textfile collector), or empty for none",
    parse: (raw) => raw.trim() === "" ? "" : absolutePath(raw),
  },
  execOnOom: {
    name: "exec_on_oom",
    allowed: "a shell command on one line (run with sh -c), or empty for none",
    parse: shellCommand,
  },
  logLevel: {
    name: "log_level",
    allowed: LOG_LEVELS.join(", "),
    parse: oneOf(LOG_LEVELS),
  },
};

const FIELDS = Object.keys(PARAMETERS) as (keyof Config)[];
const FIELD_BY_NAME = new Map<string, keyof Config>(
  FIELDS.map((field) => [PARAMETERS[field].name, field]),
);

/** Names of all parameters, canonical (underscore) spelling, in table order. */
export const PARAMETER_NAMES: readonly string[] = FIELDS.map((field) =>
  PARAMETERS[field].name
);

/** The canonical name of a parameter spelled as a flag or key, or undefined. */
export function canonicalName(name: string): string | undefined {
  const canonical = name.replaceAll("-", "_");
  return FIELD_BY_NAME.has(canonical) ? canonical : undefined;
}

/** What a bare flag (`--memcg-oom` without a value) stands for, or undefined. */
export function bareValue(name: string): string | undefined {
  const field = FIELD_BY_NAME.get(name.replaceAll("-", "_"));
  return field === undefined ? undefined : PARAMETERS[field].bare;
}

/** A partial configuration, as one source (file or flags) gives it. */
export type ConfigLayer = Partial<Config>;

function parseField<K extends keyof Config>(
  field: K,
  raw: string,
  layer: ConfigLayer,
): boolean {
  const value = PARAMETERS[field].parse(raw);
  if (value === undefined) return false;
  layer[field] = value;
  return true;
}

/**
 * Parses one value. `source` says where it came from (`--bufsize`,
 * `/etc/oomwatch.conf:3`) so the error names it.
 *
 * @example
 * ```ts
 * parseParameter("crashflag-name", "/var/lib/oomflag", "--crashflag-name");
 * // { crashflagName: "/var/lib/oomflag" }
 * ```
 */
export function parseParameter(
  name: string,
  raw: string,
  source: string,
): ConfigLayer {
  const canonical = canonicalName(name);
  if (canonical === undefined) {
    throw new UsageError(
      `${source}: unknown parameter '${name}'; known: ${
        PARAMETER_NAMES.join(", ")
      }`,
    );
  }
  const field = FIELD_BY_NAME.get(canonical);
  const layer: ConfigLayer = {};
  if (field === undefined || !parseField(field, raw, layer)) {
    throw new UsageError(
      `${source}: invalid value '${raw}' for ${canonical}; allowed: ${
        field === undefined ? "" : PARAMETERS[field].allowed
      }`,
    );
  }
  return layer;
}

/** Defaults, then each layer in order (later wins). */
export function mergeConfig(...layers: ConfigLayer[]): Config {
  return Object.assign({}, DEFAULT_CONFIG, ...layers);
}

/** The largest reserve allowed: half of RAM, so oomwatch cannot cause the OOM it watches for. */
export function maxBufsizeMiB(memTotalBytes: number): number {
  return Math.floor(memTotalBytes / 1024 / 1024 / 2);
}

/**
 * Checks what depends on the machine: the reserve may take at most half of
 * MemTotal. `memTotalBytes` comes from `/proc/meminfo`.
 */
export function checkAgainstMachine(
  config: Config,
  memTotalBytes: number,
): void {
  const max = maxBufsizeMiB(memTotalBytes);
  if (config.bufsize > max) {
    throw new UsageError(
      `invalid value '${config.bufsize}' for bufsize: at most half of MemTotal (${
        Math.floor(memTotalBytes / 1024 / 1024)
      } MiB), that is ${max} MiB, so the reserve cannot itself exhaust the machine`,
    );
  }
}

function printed<K extends keyof Config>(field: K, config: Config): string {
  const parameter = PARAMETERS[field];
  const value = config[field];
  return parameter.print ? parameter.print(value) : String(value);
}

/** The configuration by parameter name, values as the file would give them. */
export function configRecord(config: Config): Record<string, string> {
  const record: Record<string, string> = {};
  for (const field of FIELDS) {
    record[PARAMETERS[field].name] = printed(field, config);
  }
  return record;
}

/** The configuration as `key=value` words, the file syntax (for the log). */
export function describeConfig(config: Config): string {
  return Object.entries(configRecord(config)).map(([name, value]) =>
    `${name}=${value}`
  ).join(" ");
}

/**
 * The configuration as a config file that reads back to the same values
 * (`oomwatch --print-config`), after a comment naming its sources.
 */
export function formatConfigFile(config: Config, sources: string): string {
  const lines = [`# oomwatch effective configuration (${sources})`];
  for (const [name, value] of Object.entries(configRecord(config))) {
    lines.push(`${name} = ${value}`);
  }
  return `${lines.join("\n")}\n`;
}
