/**
 * Where the configuration comes from: defaults, the config file (given with
 * --config, else /etc/oomwatch.conf where it exists), the command line; and
 * what of it depends on the machine. Used at start and on every SIGHUP, so
 * a reload is held to the same rules as a start.
 *
 * @module
 */

import {
  checkAgainstMachine,
  type Config,
  type ConfigLayer,
  mergeConfig,
} from "../core/config.ts";
import { parseConfigFile } from "../core/config_file.ts";
import { describeError, UsageError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { dirname } from "../core/paths.ts";
import { unsafeDirectory } from "./directories.ts";
import { readMeminfo } from "./procfs.ts";
import { isNotFound, readRegularFile, statLink } from "./safe_file.ts";
import { S_IF, statPath } from "../../ffi/libc.ts";

export const DEFAULT_CONFIG_PATH = "/etc/oomwatch.conf";

/** A configuration and where its values came from. */
export interface LoadedConfig {
  config: Config;
  /** `defaults, /etc/oomwatch.conf, options` — for --print-config. */
  sources: string;
}

/**
 * Reads the config file (if any) and merges defaults, file and options.
 * Throws {@link UsageError} naming the file, line, key and value. A config
 * file may be a symlink (configuration management makes them), but must
 * end at a regular file: a FIFO or a device there is refused, not read.
 */
export function readConfig(
  givenPath: string | undefined,
  flags: ConfigLayer,
): LoadedConfig {
  const path = givenPath ?? DEFAULT_CONFIG_PATH;
  let fileLayer: ConfigLayer = {};
  const sources = ["defaults"];
  try {
    const text = readRegularFile(path, { followSymlink: true });
    fileLayer = parseConfigFile(text, path);
    sources.push(path);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (givenPath !== undefined || !isNotFound(error)) {
      throw new UsageError(
        `invalid value '${path}' for --config: cannot read it (${
          isNotFound(error) ? "no such file" : describeError(error)
        })`,
      );
    }
  }
  if (Object.keys(flags).length > 0) sources.push("options");
  return { config: mergeConfig(fileLayer, flags), sources: sources.join(", ") };
}

/**
 * Why a directory to write in is not there: missing, something else, or
 * what lstat(2) says of it (ENOTDIR for a path through a file, EACCES,
 * ENAMETOOLONG) — all bad input, never a crash.
 */
function describeMissingDirectory(directory: string): string {
  try {
    return statLink(directory) === null
      ? "does not exist"
      : "is not a directory";
  } catch (error) {
    return `cannot be looked at (${describeError(error)})`;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statPath(path, true).type === S_IF.DIR;
  } catch {
    return false; // missing or unreadable: not a directory to write in
  }
}

/**
 * Reads and checks the whole configuration for the daemon: also what
 * depends on the machine (the reserve at most half of RAM; the directories
 * of the crash flag and the metrics file exist). Throws {@link UsageError}.
 */
export function loadDaemonConfig(
  machine: Machine,
  configPath: string | undefined,
  flags: ConfigLayer,
): Config {
  const { config } = readConfig(configPath, flags);
  const memory = readMeminfo(machine);
  if (memory.ok) checkAgainstMachine(config, memory.value.memTotal);
  const directories: [string, string, string][] = [];
  if (config.crashflag) {
    directories.push([
      "crashflag_name",
      config.crashflagName,
      "choose another path",
    ]);
  }
  if (config.metricsFile !== "") {
    directories.push([
      "metrics_file",
      config.metricsFile,
      "create it (node_exporter's textfile directory) or choose another path",
    ]);
  }
  for (const [name, path, fix] of directories) {
    const directory = dirname(path);
    if (!isDirectory(directory)) {
      const what = describeMissingDirectory(directory);
      throw new UsageError(
        `invalid value '${path}' for ${name}: directory ${directory} ${what}; ${fix}`,
      );
    }
  }
  // The metrics file is rewritten every heartbeat by a rename in its
  // directory, found by name each time: whoever can write that directory or
  // one above it (without the sticky bit) could swap it for a symlink and
  // have root create and replace files in any directory. node_exporter only
  // reads the textfile directory, so it can be root's.
  let metricsDirectory: string | null = null;
  try {
    metricsDirectory = config.metricsFile === ""
      ? null
      // The real path: a symlink on the way would hide the directories
      // that decide from a walk of the path as written.
      : unsafeDirectory(Deno.realPathSync(dirname(config.metricsFile)));
  } catch (error) {
    metricsDirectory = `a directory above it cannot be looked at (${
      describeError(error)
    })`;
  }
  if (metricsDirectory !== null) {
    throw new UsageError(
      `invalid value '${config.metricsFile}' for metrics_file: ${metricsDirectory}, so another user could make root write the file elsewhere. ` +
        `node_exporter only reads it: make the directory root's and not writable by others (chown root DIR; chmod go-w DIR, and so for the directories above it), or choose one that is`,
    );
  }
  return config;
}
