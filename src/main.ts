/**
 * oomwatch: the entry point. Validates everything the user gave before any
 * side effect, then runs the daemon.
 *
 * @module
 */

import { dirname } from "./core/paths.ts";
import { HELP, parseCommandLine } from "./cli.ts";
import {
  checkAgainstMachine,
  type Config,
  mergeConfig,
  parseConfigFile,
  UsageError,
} from "./core/config.ts";
import { runCheck } from "./commands/check.ts";
import { runSelftest } from "./commands/selftest.ts";
import { runStatus } from "./commands/status.ts";
import { Daemon } from "./shell/daemon.ts";
import { Logger } from "./shell/log.ts";
import { readMeminfo } from "./shell/procfs.ts";
import { VERSION } from "./version.ts";

export const DEFAULT_CONFIG_PATH = "/etc/oomwatch.conf";

/** /etc/oomwatch.conf where it exists: read without --config. */
function defaultConfigPath(): string | undefined {
  try {
    return Deno.statSync(DEFAULT_CONFIG_PATH).isFile
      ? DEFAULT_CONFIG_PATH
      : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the config file (if any) and merges it with the flags. */
function readConfig(
  givenPath: string | undefined,
  flags: Partial<Config>,
): Config {
  const configPath = givenPath ?? defaultConfigPath();
  let fileLayer = {};
  if (configPath !== undefined) {
    let text: string;
    try {
      text = Deno.readTextFileSync(configPath);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : String(error);
      throw new UsageError(
        `invalid value '${configPath}' for --config: cannot read it (${reason})`,
      );
    }
    fileLayer = parseConfigFile(text, configPath);
  }
  return mergeConfig(fileLayer, flags);
}

/**
 * Reads and checks the whole configuration for the daemon; throws
 * {@link UsageError}.
 */
export function loadConfig(
  configPath: string | undefined,
  flags: Partial<Config>,
): Config {
  const config = readConfig(configPath, flags);
  checkAgainstMachine(config, readMeminfo().memTotal);
  if (config.crashflag) {
    const directory = dirname(config.crashflagName);
    let isDirectory = false;
    try {
      isDirectory = Deno.statSync(directory).isDirectory;
    } catch {
      // reported below
    }
    if (!isDirectory) {
      throw new UsageError(
        `invalid value '${config.crashflagName}' for crashflag_name: directory ${directory} does not exist; create it or choose another path`,
      );
    }
  }
  return config;
}

async function main(args: string[]): Promise<number> {
  let request;
  try {
    request = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // A monitoring system reads exit 2 as CRITICAL: a bad check line is UNKNOWN.
    if (args.includes("check")) {
      console.log(`OOMWATCH UNKNOWN - ${error.message}`);
      return 3;
    }
    console.error(`oomwatch: ${error.message}`);
    return 2;
  }
  if (request.help) {
    console.log(HELP);
    return 0;
  }
  if (request.version) {
    console.log(`oomwatch ${VERSION}`);
    return 0;
  }
  if (request.command === "selftest") {
    try {
      return runSelftest(readConfig(request.configPath, request.flags));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      console.error(`oomwatch: ${error.message}`);
      return 2;
    }
  }
  if (request.command === "check" || request.command === "status") {
    let config: Config;
    try {
      config = readConfig(request.configPath, request.flags);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      console.log(`OOMWATCH UNKNOWN - ${error.message}`);
      return 3;
    }
    if (request.command === "status") return runStatus(config, request.json);
    const verdict = runCheck(config);
    console.log(verdict.line);
    return verdict.code;
  }
  let config: Config;
  try {
    config = loadConfig(request.configPath, request.flags);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`oomwatch: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const log = new Logger(config.logLevel);
  const reload = () => loadConfig(request.configPath, request.flags);
  return await new Daemon(config, log, reload).run();
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
