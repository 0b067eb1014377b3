/**
 * The parameters of oomwatch: their names, defaults and allowed values, the
 * config file in sysctl syntax (so an `/etc/sysctl.d` file written for
 * `oom_ext` works as it is), and the merge of defaults, file and flags.
 *
 * Pure: takes text and values, never reads a file.
 *
 * @module
 */

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
  /** Whether an OOM kill inside a memory cgroup is an OOM signal too. */
  memcgOom: boolean;
  /** Seconds between the daemon's wakes when nothing happens. */
  heartbeat: number;
  /** Whether the daemon locks its own code pages in RAM. */
  lockCode: boolean;
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
  memcgOom: false,
  heartbeat: 5,
  lockCode: false,
  statusFile: "/run/oomwatch/status.json",
  metricsFile: "",
  execOnOom: "",
  logLevel: "info",
};

/** Invalid input: exit code 2, before any side effect. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Parser<T> = (raw: string) => T | undefined;

interface Parameter<K extends keyof Config> {
  field: K;
  /** What is allowed, said to the user when a value is refused. */
  allowed: string;
  parse: Parser<Config[K]>;
}

function wholeNumber(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  };
}

function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  };
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => values.find((value) => value === raw.trim());
}

const zeroOrOne: Parser<boolean> = (raw) => {
  const text = raw.trim();
  if (text === "1") return true;
  if (text === "0") return false;
  return undefined;
};

const absolutePath: Parser<string> = (raw) => {
  const text = raw.trim();
  return text.startsWith("/") && !text.endsWith("/") && !text.includes("\0")
    ? text
    : undefined;
};

const DAY = 86_400;

/**
 * Every parameter by its canonical (original, underscore) name. Flags use the
 * same names with dashes; both spellings are accepted everywhere.
 */
const PARAMETERS: { [name: string]: Parameter<keyof Config> } = {
  bufsize: {
    field: "bufsize",
    allowed: "a whole number of MiB, 0 (no reserve) or more",
    parse: wholeNumber(0, 1 << 30),
  },
  gracetime: {
    field: "gracetime",
    allowed: "a whole number of seconds, 0 (never panic) to 86400",
    parse: wholeNumber(0, DAY),
  },
  resettime: {
    field: "resettime",
    allowed: "a whole number of seconds, 1 to 86400",
    parse: wholeNumber(1, DAY),
  },
  crashflag: {
    field: "crashflag",
    allowed: "1 (write the crash flag) or 0 (never)",
    parse: zeroOrOne,
  },
  crashflag_name: {
    field: "crashflagName",
    allowed: "an absolute path of a file, e.g. /oomflag",
    parse: absolutePath,
  },
  panic_action: {
    field: "panicAction",
    allowed: PANIC_ACTIONS.join(", "),
    parse: oneOf(PANIC_ACTIONS),
  },
  psi_full: {
    field: "psiFull",
    allowed: "a percentage from 0 (off) to 100",
    parse: decimal(0, 100),
  },
  psi_window: {
    field: "psiWindow",
    allowed: "a whole number of seconds, 2 to 600",
    parse: wholeNumber(2, 600),
  },
  memcg_oom: {
    field: "memcgOom",
    allowed: "1 (memcg OOM kills are OOM signals) or 0",
    parse: zeroOrOne,
  },
  heartbeat: {
    field: "heartbeat",
    allowed: "a whole number of seconds, 1 to 60",
    parse: wholeNumber(1, 60),
  },
  lock_code: {
    field: "lockCode",
    allowed: "1 (lock oomwatch's own code pages in RAM) or 0",
    parse: zeroOrOne,
  },
  status_file: {
    field: "statusFile",
    allowed: "an absolute path of a file, e.g. /run/oomwatch/status.json",
    parse: absolutePath,
  },
  metrics_file: {
    field: "metricsFile",
    allowed:
      "an absolute path of a file (for node_exporter's textfile collector), or empty for none",
    parse: (raw) => raw.trim() === "" ? "" : absolutePath(raw),
  },
  exec_on_oom: {
    field: "execOnOom",
    allowed: "a shell command (run with sh -c), or empty for none",
    parse: (raw) => raw.includes("\0") ? undefined : raw.trim(),
  },
  log_level: {
    field: "logLevel",
    allowed: LOG_LEVELS.join(", "),
    parse: oneOf(LOG_LEVELS),
  },
};

/** The canonical name of a parameter spelled as a flag or key, or undefined. */
export function canonicalName(name: string): string | undefined {
  const canonical = name.replaceAll("-", "_");
  return Object.hasOwn(PARAMETERS, canonical) ? canonical : undefined;
}

/** Names of all parameters, canonical spelling. */
export const PARAMETER_NAMES: readonly string[] = Object.keys(PARAMETERS);

/** A partial configuration, as one source (file or flags) gives it. */
export type ConfigLayer = Partial<Config>;

/**
 * Parses one value. `source` says where it came from (`--bufsize`,
 * `/etc/oomwatch.conf:3`) so the error names it.
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
  const parameter = PARAMETERS[canonical];
  const value = parameter.parse(raw);
  if (value === undefined) {
    throw new UsageError(
      `${source}: invalid value '${raw}' for ${canonical}; allowed: ${parameter.allowed}`,
    );
  }
  return { [parameter.field]: value };
}

const SYSCTL_PREFIX = "vm.oom_ext.";

/**
 * Parses a config file in sysctl.d syntax: `key = value` lines, `#` and `;`
 * comments, keys with or without the `vm.oom_ext.` prefix (also written with
 * slashes, as sysctl allows). A leading `-` (sysctl's "ignore failure") is
 * accepted and ignored. Other sysctls (`kernel.panic = 10` in the
 * `/etc/sysctl.d` file written for `oom_ext`) are sysctl's business and
 * skipped; an unknown bare key, an unknown `vm.oom_ext.` key or a dotted key
 * that names `oom_ext` in another way (a typo) is an error naming the file,
 * the line, the key and the value, as is a bad value.
 *
 * @example
 * ```ts
 * parseConfigFile("vm.oom_ext.bufsize = 64\n", "/etc/sysctl.d/oom.conf"); // { bufsize: 64 }
 * ```
 */
export function parseConfigFile(text: string, path: string): ConfigLayer {
  const layer: ConfigLayer = {};
  text.split("\n").forEach((line, index) => {
    const where = `${path}:${index + 1}`;
    const content = line.trim();
    if (content === "" || content.startsWith("#") || content.startsWith(";")) {
      return;
    }
    const equals = content.indexOf("=");
    if (equals < 0) {
      throw new UsageError(
        `${where}: expected 'key = value', found '${content}'`,
      );
    }
    let key = content.slice(0, equals).trim().replace(/^-/, "");
    key = key.replaceAll("/", ".");
    if (key.startsWith(SYSCTL_PREFIX)) {
      key = key.slice(SYSCTL_PREFIX.length);
    } else if (key.includes(".") && !/oom[-_]?ext/i.test(key)) {
      return;
    }
    Object.assign(
      layer,
      parseParameter(key, content.slice(equals + 1).trim(), where),
    );
  });
  return layer;
}

/** Defaults, then each layer in order (later wins). */
export function mergeConfig(...layers: ConfigLayer[]): Config {
  return Object.assign({}, DEFAULT_CONFIG, ...layers);
}

/**
 * Checks what depends on the machine: the reserve must fit in RAM.
 * `memTotalBytes` comes from `/proc/meminfo`.
 */
export function checkAgainstMachine(
  config: Config,
  memTotalBytes: number,
): void {
  const memTotalMiB = Math.floor(memTotalBytes / 1024 / 1024);
  if (config.bufsize >= memTotalMiB) {
    throw new UsageError(
      `invalid value '${config.bufsize}' for bufsize: it must be smaller than MemTotal (${memTotalMiB} MiB)`,
    );
  }
}

/** The configuration by parameter name, values as the file would give them. */
export function configRecord(
  config: Config,
): Record<string, string | number | boolean> {
  const record: Record<string, string | number | boolean> = {};
  for (const name of PARAMETER_NAMES) {
    record[name] = config[PARAMETERS[name].field];
  }
  return record;
}

/** The configuration as `key=value` words, the file syntax (for the log). */
export function describeConfig(config: Config): string {
  return Object.entries(configRecord(config)).map(([name, value]) =>
    `${name}=${typeof value === "boolean" ? (value ? "1" : "0") : value}`
  ).join(" ");
}
