/**
 * oomwatch: the entry point. Builds the one description of the machine
 * (the only place that reads the environment), validates everything the
 * user gave before any side effect, dispatches to the command, and maps
 * what comes back to an exit code.
 *
 * @module
 */

import { CommandLineError, HELP, parseCommandLine } from "./cli.ts";
import { runAck } from "./commands/ack.ts";
import { runCheck } from "./commands/check.ts";
import { runSelftest } from "./commands/selftest.ts";
import { runStatus } from "./commands/status.ts";
import { formatConfigFile } from "./core/config.ts";
import { EXIT, UsageError } from "./core/errors.ts";
import { describeMachine, type Machine } from "./core/machine.ts";
import { loadDaemonConfig, readConfig } from "./shell/config_loader.ts";
import { Daemon } from "./shell/daemon.ts";
import { Logger } from "./shell/log.ts";
import { VERSION } from "./version.ts";

/** Nagios reads exit 2 as CRITICAL: a bad check line is UNKNOWN (3). */
const UNKNOWN = 3;

function usage(message: string, monitoring: boolean): number {
  if (monitoring) {
    console.log(`OOMWATCH UNKNOWN - ${message}`);
    return UNKNOWN;
  }
  console.error(`oomwatch: ${message}`);
  return EXIT.USAGE;
}

async function main(args: string[], machine: Machine): Promise<number> {
  let line;
  try {
    line = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof CommandLineError)) throw error;
    return usage(
      error.message,
      error.command === "check" || error.command === "status",
    );
  }
  if (line.help) {
    console.log(HELP);
    return EXIT.OK;
  }
  if (line.version) {
    console.log(`oomwatch ${VERSION}`);
    return EXIT.OK;
  }
  const monitoring = line.command === "check" || line.command === "status";
  try {
    if (line.printConfig) {
      const loaded = readConfig(line.configPath, line.flags);
      console.log(formatConfigFile(loaded.config, loaded.sources).trimEnd());
      return EXIT.OK;
    }
    switch (line.command) {
      case "check": {
        const verdict = runCheck(
          readConfig(line.configPath, line.flags).config,
          machine,
        );
        console.log(verdict.line);
        return verdict.code;
      }
      case "status":
        return runStatus(
          readConfig(line.configPath, line.flags).config,
          machine,
          line.json,
        );
      case "selftest":
        return runSelftest(
          readConfig(line.configPath, line.flags).config,
          machine,
        );
      case "ack":
        return runAck(readConfig(line.configPath, line.flags).config, machine);
      case "run":
        break;
    }
    const config = loadDaemonConfig(machine, line.configPath, line.flags);
    const log = new Logger(config.logLevel, { journal: machine.journal });
    const load = () => loadDaemonConfig(machine, line.configPath, line.flags);
    return await new Daemon(config, machine, log, load).run();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usage(error.message, monitoring);
  }
}

if (import.meta.main) {
  const machine = describeMachine((name) => Deno.env.get(name));
  Deno.exit(await main(Deno.args, machine));
}
