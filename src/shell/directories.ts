/**
 * The directories oomwatch keeps root's files in: created 0755, and judged
 * the way sshd's StrictModes judges a home: a directory others can write
 * (and every directory above it that others can write without the sticky
 * bit) lets them plant what root then writes to or reads.
 *
 * @module
 */

import {
  type FileInfo,
  LibcError,
  makeDirectory,
  S_IF,
  statPath,
} from "../../ffi/libc.ts";
import { dirname } from "../core/paths.ts";
import { describeFileType, FileRefused, isNotFound } from "./safe_file.ts";

/**
 * Creates `path` and its missing parents with `mode` (0755: others may read
 * the status, nobody else may write there).
 */
export function ensureDirectory(path: string, mode = 0o755): void {
  const present = statLinkFollowing(path);
  if (present?.type === S_IF.DIR) return;
  if (present) {
    throw new FileRefused(
      path,
      `is ${describeFileType(present.type)}, not a directory`,
    );
  }
  const parent = dirname(path);
  if (parent !== path) ensureDirectory(parent, mode);
  try {
    makeDirectory(path, mode);
  } catch (error) {
    if (!(error instanceof LibcError && error.code === "EEXIST")) throw error;
  }
}

function statLinkFollowing(path: string): FileInfo | null {
  try {
    return statPath(path, true);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** Who besides root may write in a directory with `info`, or null for nobody. */
function otherWriters(info: FileInfo): string | null {
  if (info.uid !== 0) return `its owner, uid ${info.uid}`;
  if ((info.permissions & 0o002) !== 0) return "everyone";
  if ((info.permissions & 0o020) !== 0) return "its group";
  return null;
}

function modeText(info: FileInfo): string {
  return info.permissions.toString(8).padStart(4, "0");
}

/**
 * Why `directory` is not safe for root's own files, or null when it is: it
 * must be owned by root and writable by nobody else, and so must every
 * directory above it unless it is sticky and root's (as /tmp: there nobody
 * can rename what root put in it). The rule of sshd's StrictModes.
 * `stickyFirst`: the directory itself may be sticky and root's too (the
 * crash flag's: another user may add names there, not move root's files).
 */
export function unsafeDirectory(
  directory: string,
  stickyFirst = false,
): string | null {
  for (let path = directory, first = !stickyFirst;; first = false) {
    const info = statLinkFollowing(path);
    if (info === null) return `${path} does not exist`;
    const writers = otherWriters(info);
    const sticky = (info.permissions & 0o1000) !== 0 && info.uid === 0;
    if (writers !== null && (first || !sticky)) {
      return `${path} (mode ${modeText(info)}) is writable by ${writers}`;
    }
    const parent = dirname(path);
    if (parent === path) return null;
    path = parent;
  }
}

/**
 * Why others than root could replace files in `directory` (writable by
 * them and not sticky), or null: the crash flag's directory is then
 * unsafe, though oomwatch still writes there.
 */
export function writableByOthers(directory: string): string | null {
  const info = statLinkFollowing(directory);
  if (info === null || (info.permissions & 0o1000) !== 0) return null;
  const writers = otherWriters(info);
  return writers === null
    ? null
    : `${directory} (mode ${
      modeText(info)
    }) is writable by ${writers} and not sticky`;
}
