/**
 * The crash flag on disk: written atomically and fsynced (with its
 * directory) when an episode starts, removed when it ends — only the file
 * this daemon wrote — rehearsed at start, and found again by `check`,
 * `status` and `ack`.
 *
 * A flag from an earlier boot is evidence that the machine went down during
 * an OOM episode. It stays at its path (where scripts look for it) until a
 * new episode needs the path; then it is renamed aside to
 * `<path>.boot-<its boot id>`, never overwritten or removed by the daemon.
 *
 * @module
 */

import {
  type CrashFlag,
  formatCrashFlag,
  isKeptFlagName,
  keptFlagPath,
  parseCrashFlag,
} from "../core/crash_flag.ts";
import { describeError } from "../core/errors.ts";
import type { CrashFlagFact } from "../core/health.ts";
import { basename, dirname } from "../core/paths.ts";
import type { PostMortem } from "../core/post_mortem.ts";
import { escapeControl } from "../core/text.ts";
import { renamePath, S_IF, unlinkPath } from "../../ffi/libc.ts";
import type { Logger } from "./log.ts";
import {
  type FileIdentity,
  isNotFound,
  isOwnFile,
  randomSuffix,
  readRegularFile,
  removeOwnFile,
  statLink,
  syncDirectory,
  writeFileAtomic,
} from "./safe_file.ts";
import { unsafeDirectory, writableByOthers } from "./directories.ts";

/** A flag read from disk, or why it could not be. */
export type FoundFlag =
  | { path: string; flag: Partial<CrashFlag>; text: string }
  | { path: string; unreadable: string };

/**
 * Who may have written a crash flag: root, or the user oomwatch runs as. A
 * flag is a claim that the machine went down in an OOM episode, and three
 * of them make the reboot-loop guard suppress the panic action: in a
 * directory others can create files in (a sticky one too) a file by anyone
 * else, or a hard link to a real flag, must not count.
 */
function flagWriters(): number[] {
  const uid = Deno.uid();
  return uid === null || uid === 0 ? [0] : [0, uid];
}

/** Reads the flag at `path`; null when nothing is there. */
export function readFlag(path: string): FoundFlag | null {
  try {
    const text = readRegularFile(path, { trustedOwners: flagWriters() });
    return { path, flag: parseCrashFlag(text), text };
  } catch (error) {
    if (isNotFound(error)) return null;
    return { path, unreadable: describeError(error) };
  }
}

/**
 * The flag at `path` and those kept aside beside it (oldest name first),
 * as read from disk.
 */
export function findFlags(path: string): FoundFlag[] {
  const found: FoundFlag[] = [];
  const atPath = readFlag(path);
  if (atPath) found.push(atPath);
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(dirname(path))]
      .filter((entry) => entry.isFile && isKeptFlagName(path, entry.name))
      .map((entry) => entry.name).sort();
  } catch {
    // an unreadable directory: the flag at the path is all there is
  }
  for (const name of names) {
    const kept = readFlag(`${dirname(path)}/${name}`);
    if (kept) found.push(kept);
  }
  return found;
}

/**
 * When oomwatch ran its panic action in earlier boots (epoch ms), from the
 * flags at and beside `path` whose boot is not `bootId`: the reboot-loop
 * guard's count.
 */
export function earlierPanics(path: string, bootId: string): number[] {
  return findFlags(path).flatMap((found) => {
    if (!("flag" in found) || found.flag.bootId === bootId) return [];
    const at = Date.parse(found.flag.panicAt ?? "");
    return Number.isFinite(at) ? [at] : [];
  });
}

/** What check judges: every flag with its boot id ("" when unreadable or without one). */
export function crashFlagFacts(path: string): CrashFlagFact[] {
  return findFlags(path).map((found) =>
    "flag" in found
      ? {
        path: found.path,
        bootId: found.flag.bootId ?? "",
        kept: found.path !== path,
      }
      : {
        path: found.path,
        bootId: "",
        kept: found.path !== path,
        unreadable: found.unreadable,
      }
  );
}

/** The crash flag of one daemon. */
export class CrashFlagFile {
  readonly path: string;
  readonly #bootId: string;
  readonly #log: Logger;
  /** The flag this daemon wrote and has not removed. */
  #written: FileIdentity | null = null;

  constructor(path: string, bootId: string, log: Logger) {
    this.path = path;
    this.#bootId = bootId;
    this.#log = log;
  }

  /**
   * At start: a flag found at the path is reported and left in place, and a
   * directory others could replace it in is warned about.
   */
  reportAtStart(): void {
    // The directory itself may be sticky (another user can add names there,
    // not rename root's); the ones above it must not let anyone swap it.
    const directory = dirname(this.path);
    let open = writableByOthers(directory);
    try {
      open ??= unsafeDirectory(directory, true);
    } catch {
      // unreadable above: the write itself will say what fails
    }
    if (open !== null) {
      this.#log.warn(
        `the crash flag's directory ${directory} is not safe: ${open}: another user could replace or remove the flag; ` +
          "choose a directory only root can write (or make it sticky, chmod +t) below directories only root can write",
      );
    }
    for (const found of findFlags(this.path)) {
      if (!("flag" in found)) {
        this.#log.warn(
          `${found.unreadable}; it is not a crash flag oomwatch can read, and is left alone`,
        );
        continue;
      }
      const flag = found.flag;
      const when = flag.bootId === this.#bootId
        ? "earlier in this boot (oomwatch was restarted during an episode)"
        : `in an earlier boot (${
          escapeControl(flag.bootId ?? "unknown boot id")
        }): the machine went down during an OOM episode`;
      this.#log.warn(
        `crash flag ${found.path} found, written ${when}; started ${
          escapeControl(flag.started ?? "at an unknown time")
        } by ${
          escapeControl(flag.trigger ?? "an unknown trigger")
        }. Left in place; acknowledge it with 'oomwatch ack' once seen`,
      );
    }
  }

  /**
   * Writes this episode's flag, after moving an earlier boot's flag out of
   * the way. Returns whether the flag reached the disk (a failure is
   * logged).
   */
  write(flag: CrashFlag, postMortem?: PostMortem): boolean {
    try {
      this.#keepEarlierFlag();
      this.#written = writeFileAtomic(
        this.path,
        formatCrashFlag(flag, postMortem),
      );
      this.#log.critical(
        "info",
        `crash flag written to ${this.path}${
          postMortem
            ? ` with a post-mortem (${postMortem.moment}, taken in ${postMortem.tookMs} ms${
              postMortem.partial.length > 0 ? ", partial" : ""
            })`
            : ""
        }`,
      );
      return true;
    } catch (error) {
      this.#log.error(
        `cannot write the crash flag ${this.path}: ${
          describeError(error)
        }; check that its directory is writable and its filesystem not full or read-only`,
      );
      return false;
    }
  }

  /** A regular file at the path that is not this boot's flag is renamed aside. */
  #keepEarlierFlag(): void {
    const present = statLink(this.path);
    if (present?.type !== S_IF.REG) return;
    if (this.#written && isOwnFile(this.path, this.#written)) return;
    const found = readFlag(this.path);
    const bootId = found && "flag" in found ? found.flag.bootId : undefined;
    if (bootId === this.#bootId) return; // this boot's: an earlier daemon's episode
    const kept = keptFlagPath(
      this.path,
      bootId,
      (path) => statLink(path) !== null,
    );
    renamePath(this.path, kept);
    syncDirectory(dirname(this.path));
    this.#log.warn(
      `crash flag of boot ${
        escapeControl(bootId ?? "unknown")
      } kept as ${kept} (evidence of an earlier OOM episode; 'oomwatch ack' once seen)`,
    );
  }

  /** Removes this daemon's flag at the end of an episode (only that file). */
  remove(): void {
    const written = this.#written;
    if (written === null) return;
    this.#written = null;
    try {
      const removal = removeOwnFile(this.path, written);
      if (removal === "removed") {
        this.#log.info(`crash flag ${this.path} removed`);
      }
      if (removal === "not-ours") {
        this.#log.warn(
          `${this.path} is no longer the crash flag this daemon wrote; left alone`,
        );
      }
    } catch (error) {
      this.#log.error(
        `cannot remove the crash flag ${this.path}: ${describeError(error)}`,
      );
    }
  }

  /**
   * Writes and removes a probe file beside the flag, the way the flag itself
   * is written: a directory that cannot take the flag is said now, not in the
   * middle of an OOM, and the code of that path is resident. Returns why it
   * failed, or null.
   */
  rehearse(): string | null {
    const probe = `${dirname(this.path)}/.${
      basename(this.path)
    }.probe-${randomSuffix()}`;
    try {
      const identity = writeFileAtomic(probe, "probe\n");
      removeOwnFile(probe, identity);
      return null;
    } catch (error) {
      return `cannot write in the crash flag's directory ${
        dirname(this.path)
      } (${
        describeError(error)
      }): during an OOM episode the flag ${this.path} would be missing; ` +
        "make the directory writable (and its filesystem not read-only or full) or choose another --crashflag-name";
    }
  }
}

/**
 * Removes a crash flag a person has looked at (`oomwatch ack`): only a
 * regular file, never what a symlink points to, durably.
 */
export function removeAcknowledged(path: string): void {
  const present = statLink(path);
  if (present === null) return;
  if (present.type !== S_IF.REG) {
    throw new Error(`${path} is not a regular file; left alone`);
  }
  if (!flagWriters().includes(present.uid) || present.nlink !== 1) {
    throw new Error(
      `${path} is ${
        present.nlink !== 1
          ? `a file with ${present.nlink} hard links`
          : `owned by uid ${present.uid}`
      }: not a flag oomwatch wrote; left alone (remove it by hand if it should go)`,
    );
  }
  unlinkPath(path);
  syncDirectory(dirname(path));
}
