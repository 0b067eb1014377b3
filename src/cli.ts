/**
 * The command line: subcommand, flags and help. Pure: turns arguments into
 * a request, or a {@link UsageError} that names the flag and the value.
 *
 * @module
 */

import {
  type ConfigLayer,
  PARAMETER_NAMES,
  parseParameter,
  UsageError,
} from "./core/config.ts";

export type Command = "run" | "check" | "status" | "selftest";
const COMMANDS: readonly Command[] = ["run", "check", "status", "selftest"];

/** What the user asked for. */
export interface Request {
  command: Command;
  help: boolean;
  version: boolean;
  /** `status --json`. */
  json: boolean;
  configPath?: string;
  /** Parameters given as flags; they override the config file. */
  flags: ConfigLayer;
}

export const HELP =
  `oomwatch — keeps a locked memory reserve and releases it when the machine runs out of memory

Usage: oomwatch [run] [options]     run the watchdog (the default)
       oomwatch check [options]     health check for cron and monitoring: one line,
                                    exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
       oomwatch status [--json]     the daemon's status for a person, or JSON
       oomwatch selftest [options]  check that every part works on this machine,
                                    without causing an OOM (exit 0/1/2: pass/warn/fail)

Parameters (as in oom_ext; also accepted in the config file):
  --bufsize MIB            size of the emergency reserve in MiB; 0 = none (default 32)
  --gracetime SECONDS      run the panic action when an OOM episode still goes on this
                           long after it started; 0 = never (default 0)
  --resettime SECONDS      quiet seconds that end an episode: the reserve is re-created
                           and the crash flag removed (default 300)
  --crashflag 0|1          write the crash flag during an episode (default 1)
  --crashflag-name PATH    path of the crash flag (default /oomflag); also --crashflag_name
Detection and action:
  --panic-action ACTION    panic (SysRq c; kernel.panic=N reboots), reboot, poweroff,
                           or none (log only) (default panic)
  --psi-full PERCENT       memory stall signal: share of --psi-window in which all tasks
                           were stalled on memory (PSI full); 0 = off (default 60)
  --psi-window SECONDS     window of that share (default 10)
  --memcg-oom              treat OOM kills inside memory cgroups as OOM signals too
  --heartbeat SECONDS      how often the daemon wakes when nothing happens (default 5)
  --lock-code 0|1          lock oomwatch's own code in RAM so thrashing cannot evict it
                           (default 0; the systemd unit sets 1)
Other:
  --status-file PATH       the status file the daemon keeps and check/status read
                           (default /run/oomwatch/status.json; the instance lock
                           oomwatch.lock sits beside it)
  --metrics-file PATH      keep Prometheus metrics there (node_exporter textfile
                           collector), rewritten atomically
  --exec-on-oom CMD        run CMD (sh -c) after each episode's start, detached, with
                           OOMWATCH_* variables describing it; 60 s timeout
  --config FILE            read parameters from FILE (sysctl syntax: 'bufsize = 64' or
                           'vm.oom_ext.bufsize = 64'); flags override it
  --log-level LEVEL        debug, info, warn or error (default info)
  --help                   show this help
  --version                show the version

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 2 invalid input.
Environment: OOMWATCH_SYSRQ_TRIGGER=FILE makes the panic action write there (testing).
`;

type OptionSpec = { type: "string" | "boolean" };

function optionTable(): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = {
    help: { type: "boolean" },
    version: { type: "boolean" },
    json: { type: "boolean" },
    config: { type: "string" },
    "memcg-oom": { type: "boolean" },
  };
  for (const name of PARAMETER_NAMES) {
    if (name === "memcg_oom") continue;
    options[name] = { type: "string" };
    options[name.replaceAll("_", "-")] = { type: "string" };
  }
  return options;
}

interface Tokens {
  values: Map<string, string | true>;
  positionals: string[];
}

/**
 * Splits arguments into options and positionals: `--name value`,
 * `--name=value`, boolean `--name`, and `--` before positionals. A value is
 * taken as it is, even one that starts with a dash (`--bufsize -5`), so the
 * user hears what is wrong with the value itself. Hand-written rather than
 * node:util's parseArgs: importing the Node layer costs the idle daemon 2 MB
 * of RSS (README, Dependencies).
 */
function tokenize(
  args: readonly string[],
  options: Record<string, OptionSpec>,
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
    const equals = arg.indexOf("=");
    const name = arg.slice(
      arg.startsWith("--") ? 2 : 1,
      equals < 0 ? undefined : equals,
    );
    const spec = arg.startsWith("--") ? options[name] : undefined;
    if (spec === undefined) {
      throw new UsageError(`unknown option '${arg}' (see oomwatch --help)`);
    }
    if (spec.type === "boolean") {
      if (equals >= 0) {
        throw new UsageError(
          `option '--${name}' takes no value, found '${arg}'`,
        );
      }
      tokens.values.set(name, true);
      continue;
    }
    const value = equals >= 0 ? arg.slice(equals + 1) : args[++i];
    if (value === undefined) {
      throw new UsageError(
        `option '--${name}' needs a value (see oomwatch --help)`,
      );
    }
    tokens.values.set(name, value);
  }
  return tokens;
}

/** Parses `args` (without the program name). Throws {@link UsageError}. */
export function parseCommandLine(args: readonly string[]): Request {
  const { values, positionals } = tokenize(args, optionTable());
  if (positionals.length > 1) {
    throw new UsageError(
      `unexpected argument '${positionals[1]}' (see oomwatch --help)`,
    );
  }
  const commandName = positionals[0] ?? "run";
  const command = COMMANDS.find((known) => known === commandName);
  if (command === undefined) {
    throw new UsageError(
      `unknown command '${commandName}'; known: ${COMMANDS.join(", ")}`,
    );
  }
  const request: Request = {
    command,
    help: values.get("help") === true,
    version: values.get("version") === true,
    json: values.get("json") === true,
    flags: {},
  };
  for (const [name, value] of values) {
    if (name === "help" || name === "version" || name === "json") continue;
    if (name === "config") {
      if (typeof value !== "string" || value === "") {
        throw new UsageError("invalid value '' for --config: a file path");
      }
      request.configPath = value;
    } else if (name === "memcg-oom") {
      request.flags.memcgOom = value === true;
    } else if (typeof value === "string") {
      Object.assign(request.flags, parseParameter(name, value, `--${name}`));
    }
  }
  return request;
}
