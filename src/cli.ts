/**
 * The command line: subcommand, options and help. Pure: turns arguments into
 * a request, or a {@link CommandLineError} that names the option and the
 * value and knows which command the line was for.
 *
 * @module
 */

import {
  bareValue,
  type ConfigLayer,
  PARAMETER_NAMES,
  parseParameter,
} from "./core/config.ts";
import { UsageError } from "./core/errors.ts";

export type Command = "run" | "check" | "status" | "selftest" | "ack";
const COMMANDS: readonly Command[] = [
  "run",
  "check",
  "status",
  "selftest",
  "ack",
];

/** What the user asked for. */
export interface CommandLine {
  command: Command;
  help: boolean;
  version: boolean;
  /** `status --json`. */
  json: boolean;
  /** `--print-config`: print the effective configuration and exit. */
  printConfig: boolean;
  configPath?: string;
  /** Parameters given as options; they override the config file. */
  flags: ConfigLayer;
}

/** Invalid command line; `command` is the command it was meant for. */
export class CommandLineError extends UsageError {
  readonly command: Command;
  constructor(message: string, command: Command) {
    super(message);
    this.name = "CommandLineError";
    this.command = command;
  }
}

export const HELP =
  `oomwatch — keeps a locked memory reserve and releases it when the machine runs out of memory

Usage: oomwatch [run] [options]     run the watchdog (the default)
       oomwatch check [options]     health check for cron and monitoring: one line,
                                    exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
       oomwatch status [--json]     the daemon's status for a person, or JSON
       oomwatch selftest [options]  check that every part works on this machine,
                                    without causing an OOM (exit 0/1/2: pass/warn/fail)
       oomwatch ack [options]       acknowledge crash flags kept from earlier boots
                                    (prints and removes them; check is CRITICAL until then)

Parameters (as in oom_ext; also accepted in the config file; every name may be
written with dashes or underscores):
  --bufsize MIB            size of the emergency reserve in MiB, at most half of RAM;
                           0 = none (default 32)
  --gracetime SECONDS      run the panic action when an OOM episode still goes on this
                           long after it started; 0 = never (default 0)
  --resettime SECONDS      quiet seconds that end an episode: the reserve is re-created
                           and the crash flag removed (default 300)
  --crashflag 0|1          write the crash flag during an episode (default 1)
  --crashflag-name PATH    path of the crash flag (default /oomflag)
Detection and action:
  --panic-action ACTION    panic (SysRq c; kernel.panic=N reboots), reboot, poweroff,
                           or none (log only) (default panic)
  --psi-full PERCENT       memory stall signal: share of --psi-window in which all tasks
                           were stalled on memory (PSI full); 0 = off (default 60)
  --psi-window SECONDS     window of that share (default 10)
  --thrash-io-full PERCENT thrash signal: share of --psi-window in which all tasks were
                           stalled on I/O (PSI io full) while major faults go on (5/s)
                           and MemAvailable is under 10% of RAM; 0 = off (default 70)
  --memcg-oom [PATHS]      OOM kills inside memory cgroups are OOM signals too: all of
                           them, or those in the comma-separated cgroups PATHS and below
                           (--memcg-oom /system.slice/db.service); 0 = none (default)
  --heartbeat SECONDS      how often the daemon wakes when nothing happens (default 5)
  --lock-code 0|1          lock oomwatch's own code in RAM so thrashing cannot evict it
                           (default 0; the systemd unit sets 1)
  --tracepoint 0|1         wake on the kernel's oom:mark_victim tracepoint (perf; needs
                           CAP_PERFMON and tracefs), else on the kernel log (default 1)
  --reserve-backing KIND   locked (an mlocked mapping, VmLck) or tmpfs (a never-mapped
                           file on a huge-page, no-swap tmpfs: the fastest release;
                           needs CAP_SYS_ADMIN) (default locked)
Hang insurance:
  --max-panics N/WINDOW    suppress the panic action when the crash flags kept from
                           earlier boots show N panics within WINDOW (units s, m, h, d);
                           0 = no limit (default 3/1h)
  --watchdog-device PATH   pet this watchdog device (/dev/watchdog0) while healthy; it
                           resets the machine when oomwatch stops running, or when an
                           episode outlasts gracetime and the panic action did not take
                           the machine down (default none)
  --watchdog-timeout SECONDS  the timeout asked of the device, 3 to 3600 (default 60)
Other:
  --status-file PATH       the status file the daemon keeps and check/status read
                           (default /run/oomwatch/status.json; the instance lock
                           oomwatch.lock sits beside it)
  --metrics-file PATH      keep Prometheus metrics there (node_exporter textfile
                           collector), rewritten atomically
  --exec-on-oom CMD        run CMD (sh -c) after each episode's start, detached, with
                           OOMWATCH_* variables describing it; 60 s timeout
  --log-level LEVEL        debug, info, warn or error (default info)
  --config FILE            read parameters from FILE (sysctl syntax: 'bufsize = 64' or
                           'vm.oom_ext.bufsize = 64'; default /etc/oomwatch.conf where
                           it exists); options override it
  --print-config           print the effective configuration (defaults, file, options)
                           in the config file's syntax and exit
  --json                   with status: print JSON
  -h, --help               show this help
  -V, --version            show the version

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 2 invalid input.
See oomwatch(8).
`;

type OptionKind = "flag" | "value" | "optional-value";

interface OptionSpec {
  kind: OptionKind;
  /** The option's one name: both spellings of a parameter share it. */
  key: string;
}

function optionTable(): Map<string, OptionSpec> {
  const options = new Map<string, OptionSpec>([
    ["--help", { kind: "flag", key: "help" }],
    ["-h", { kind: "flag", key: "help" }],
    ["--version", { kind: "flag", key: "version" }],
    ["-V", { kind: "flag", key: "version" }],
    ["--json", { kind: "flag", key: "json" }],
    ["--print-config", { kind: "flag", key: "print-config" }],
    ["--config", { kind: "value", key: "config" }],
  ]);
  for (const name of PARAMETER_NAMES) {
    const kind: OptionKind = bareValue(name) === undefined
      ? "value"
      : "optional-value";
    const spec = { kind, key: name };
    options.set(`--${name}`, spec);
    options.set(`--${name.replaceAll("_", "-")}`, spec);
  }
  return options;
}

/** Edit distance, for suggesting the option a typo meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

function suggestion(
  arg: string,
  options: Map<string, OptionSpec>,
): string {
  const name = arg.split("=")[0];
  // No option is within max(2, length/4) edits of a name this long (the
  // distance is at least the difference in length): skip the comparison,
  // quadratic in the argument's length (up to 128 KiB).
  if (name.length > 64) return " (see oomwatch --help)";
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const known of options.keys()) {
    // Suggest the dashed spelling: both are accepted, the help shows that one.
    if (!known.startsWith("--") || known.includes("_")) continue;
    const d = distance(name.replaceAll("_", "-"), known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, name.length / 4)
    ? `; did you mean '${best}'?`
    : " (see oomwatch --help)";
}

/** Whether `arg` reads as an option rather than as a value. */
function looksLikeOption(arg: string): boolean {
  return arg.startsWith("--") || /^-[A-Za-z]/.test(arg);
}

/** Whether an optional value (`--memcg-oom /a`, `--memcg-oom 0`) follows. */
function takesOptionalValue(next: string | undefined): next is string {
  return next !== undefined &&
    (next.startsWith("/") || next === "0" || next === "1");
}

interface Tokens {
  values: Map<string, { arg: string; value: string | true }>;
  positionals: string[];
}

/**
 * Splits arguments into options and positionals: `--name value`,
 * `--name=value`, flags, and `--` before positionals. A value that reads as
 * an option (`--bufsize --panic-action`) is not taken: the option before it
 * lacks its value. A value such as `-5` is taken, so the user hears what is
 * wrong with the value itself. Hand-written rather than node:util's
 * parseArgs: importing the Node layer costs the idle daemon 2 MB of RSS
 * (README, Dependencies).
 */
function tokenize(
  args: readonly string[],
  options: Map<string, OptionSpec>,
  fail: (message: string) => never,
): Tokens {
  const tokens: Tokens = { values: new Map(), positionals: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      tokens.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      tokens.positionals.push(arg);
      continue;
    }
    const equals = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = equals < 0 ? arg : arg.slice(0, equals);
    const spec = options.get(name);
    if (spec === undefined) {
      fail(`unknown option '${name}'${suggestion(arg, options)}`);
    }
    let value: string | true;
    if (equals >= 0) {
      if (spec.kind === "flag") {
        fail(`option '${name}' takes no value, found '${arg}'`);
      }
      value = arg.slice(equals + 1);
    } else if (spec.kind === "flag") {
      value = true;
    } else if (spec.kind === "optional-value") {
      value = takesOptionalValue(args[i + 1]) ? args[++i] : true;
    } else {
      const next = args[i + 1];
      if (next === undefined || looksLikeOption(next)) {
        fail(
          `option '${name}' needs a value${
            next === undefined ? "" : `, found the option '${next}'`
          } (see oomwatch --help)`,
        );
      }
      value = args[++i];
    }
    const earlier = tokens.values.get(spec.key);
    if (earlier !== undefined) {
      fail(
        `option '${name}' is given twice (first as '${earlier.arg}'); give it once`,
      );
    }
    tokens.values.set(spec.key, { arg: name, value });
  }
  return tokens;
}

/**
 * The command a broken line was meant for, scanned leniently: the first
 * word that is not the value of an option.
 */
function commandOf(
  args: readonly string[],
  options: Map<string, OptionSpec>,
): Command {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return asCommand(args[i + 1]) ?? "run";
    if (arg.startsWith("-") && arg !== "-") {
      const spec = arg.includes("=") ? undefined : options.get(arg);
      if (spec?.kind === "value") i++;
      else if (
        spec?.kind === "optional-value" && takesOptionalValue(args[i + 1])
      ) i++;
      continue;
    }
    return asCommand(arg) ?? "run";
  }
  return "run";
}

function asCommand(word: string | undefined): Command | undefined {
  return COMMANDS.find((known) => known === word);
}

/**
 * Parses `args` (without the program name). Throws
 * {@link CommandLineError}.
 *
 * @example
 * ```ts
 * parseCommandLine(["check", "--status-file", "/run/x.json"]).command; // "check"
 * ```
 */
export function parseCommandLine(args: readonly string[]): CommandLine {
  const options = optionTable();
  const fail = (message: string): never => {
    throw new CommandLineError(message, commandOf(args, options));
  };
  const { values, positionals } = tokenize(args, options, fail);
  const commandName = positionals[0] ?? "run";
  const command = asCommand(commandName);
  if (command === undefined) {
    fail(`unknown command '${commandName}'; known: ${COMMANDS.join(", ")}`);
  }
  if (positionals.length > 1) {
    fail(`unexpected argument '${positionals[1]}' (see oomwatch --help)`);
  }
  const line: CommandLine = {
    command: command ?? "run",
    help: values.has("help"),
    version: values.has("version"),
    json: values.has("json"),
    printConfig: values.has("print-config"),
    flags: {},
  };
  for (const [key, { arg, value }] of values) {
    if (["help", "version", "json", "print-config"].includes(key)) continue;
    if (key === "config") {
      if (value === true || value === "") {
        fail("invalid value '' for --config: a file path");
      }
      line.configPath = String(value);
      continue;
    }
    const raw = value === true ? bareValue(key) ?? "" : value;
    try {
      Object.assign(line.flags, parseParameter(key, raw, arg));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      fail(error.message);
    }
  }
  return line;
}
