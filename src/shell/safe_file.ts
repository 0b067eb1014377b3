/**
 * The one way oomwatch opens files. It runs as root among paths that other
 * users (or a broken system) may have put something at, so:
 *
 * - reads open with O_NONBLOCK (a FIFO planted at a path cannot block the
 *   open), O_NOFOLLOW where no symlink is expected, then fstat: anything but
 *   a regular file is refused, naming the path and what stands there; and a
 *   size cap (1 MiB unless the caller says otherwise) ends reads that would
 *   never end;
 * - writes go through a temporary file created O_EXCL|O_NOFOLLOW under an
 *   unpredictable name (retried on EEXIST, so planted names cannot block
 *   them), fsynced, then renamed over the path, which replaces a symlink
 *   there instead of following it; a directory, FIFO, socket or device at
 *   the path is refused, never replaced;
 * - removal removes only the regular file this process wrote (same device
 *   and inode), never a directory, never what someone put there since.
 *
 * @module
 */

import {
  closeFd,
  type FileInfo,
  LibcError,
  O,
  openPath,
  readNonBlocking,
  renamePath,
  S_IF,
  statFd,
  statPath,
  syncFd,
  unlinkPath,
  writeFd,
} from "../../ffi/libc.ts";
import { basename, dirname } from "../core/paths.ts";

const MIB = 1024 * 1024;
/** A config, status or crash flag file larger than this is refused. */
export const DEFAULT_MAX_BYTES = MIB;
const TEMPORARY_ATTEMPTS = 16;

/** A path that holds something oomwatch will not read or write. */
export class FileRefused extends Error {
  readonly path: string;
  constructor(path: string, why: string) {
    super(`${path} ${why}`);
    this.name = "FileRefused";
    this.path = path;
  }
}

/** "a FIFO", "a directory", … for the message that refuses it. */
export function describeFileType(type: number): string {
  switch (type) {
    case S_IF.REG:
      return "a regular file";
    case S_IF.DIR:
      return "a directory";
    case S_IF.FIFO:
      return "a FIFO";
    case S_IF.CHR:
      return "a character device";
    case S_IF.BLK:
      return "a block device";
    case S_IF.SOCK:
      return "a socket";
    case S_IF.LNK:
      return "a symbolic link";
    default:
      return "a file of unknown type";
  }
}

/** Whether `error` says the path does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof LibcError && error.code === "ENOENT";
}

/**
 * The file this process wrote: its device and inode, and its text. Inode
 * numbers are reused at once after a removal (seen on tmpfs), so the text
 * too must match before a file is taken for the one written.
 */
export interface FileIdentity {
  dev: string;
  ino: bigint;
  text: string;
}

export interface ReadOptions {
  /** Larger files are refused (default 1 MiB). */
  maxBytes?: number;
  /** Follow a symlink at the path (a config file may be one); default false. */
  followSymlink?: boolean;
  /**
   * Refuse a file not owned by one of these uids, or with more than one
   * link: a file whose content decides something (a crash flag counted by
   * the reboot-loop guard) must be one oomwatch could have written, not
   * one another user created, or hard-linked, in a directory they can
   * write.
   */
  trustedOwners?: readonly number[];
}

let decoder: TextDecoder | null = null;

function openChecked(
  path: string,
  flags: number,
  follow: boolean,
  allowed: readonly number[],
  mode = 0,
  trustedOwners?: readonly number[],
): { fd: number; info: FileInfo } {
  let fd: number;
  try {
    fd = openPath(
      path,
      flags | O.NONBLOCK | O.NOCTTY | (follow ? 0 : O.NOFOLLOW),
      mode,
    );
  } catch (error) {
    if (error instanceof LibcError && error.code === "ELOOP" && !follow) {
      throw new FileRefused(
        path,
        "is a symbolic link, which oomwatch does not follow here",
      );
    }
    throw error;
  }
  const info = statFd(fd);
  if (!allowed.includes(info.type)) {
    closeFd(fd);
    throw new FileRefused(
      path,
      `is ${describeFileType(info.type)}, not a regular file`,
    );
  }
  if (
    trustedOwners !== undefined &&
    (!trustedOwners.includes(info.uid) || info.nlink !== 1)
  ) {
    closeFd(fd);
    throw new FileRefused(
      path,
      info.nlink !== 1
        ? `has ${info.nlink} hard links, so it is not a file oomwatch wrote`
        : `is owned by uid ${info.uid}, not by ${
          trustedOwners.map((uid) => `uid ${uid}`).join(" or ")
        }, so it is not a file oomwatch wrote`,
    );
  }
  return { fd, info };
}

/** Reads every byte of an open regular file, up to `maxBytes`. */
function readAll(fd: number, path: string, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  const total = readChunks(
    fd,
    path,
    maxBytes,
    (chunk) => chunks.push(chunk.slice()),
  );
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * The buffer every read goes through: reads are synchronous and `take`
 * copies what it keeps, so one buffer serves them all. (A fresh 64 KiB per
 * read made a post-mortem, a few hundred small /proc reads, leave megabytes
 * of garbage each episode: 50 episodes grew the RSS from 1.0x to 2.8x of
 * bare Deno.)
 */
const READ_BUFFER = new Uint8Array(64 * 1024);

/**
 * Hands each piece of an open regular file to `take` (a view of the one
 * reused buffer, valid until `take` returns); returns the bytes read.
 */
function readChunks(
  fd: number,
  path: string,
  maxBytes: number,
  take: (chunk: Uint8Array) => void,
): number {
  let total = 0;
  const buffer = READ_BUFFER.subarray(
    0,
    Math.min(READ_BUFFER.length, maxBytes + 1),
  );
  while (true) {
    const result = readNonBlocking(fd, buffer);
    // A regular file never says EAGAIN; should one ever, give up, never spin.
    if (result.kind === "again") throw new FileRefused(path, "would block");
    if (result.kind === "error") throw result.error;
    if (result.bytes === 0) break;
    total += result.bytes;
    if (total > maxBytes) {
      throw new FileRefused(
        path,
        `is larger than ${
          maxBytes >= MIB ? `${maxBytes / MIB} MiB` : `${maxBytes} bytes`
        }, more than oomwatch reads`,
      );
    }
    take(buffer.subarray(0, result.bytes)); // reused: copy what is kept
  }
  return total;
}

/**
 * The text of the regular file at `path`. Throws {@link FileRefused} for
 * anything else there (a FIFO, a device, a directory, a symlink unless
 * `followSymlink`, a file over the cap) and LibcError for what open(2) says
 * (ENOENT, EACCES; see {@link isNotFound}).
 */
export function readRegularFile(
  path: string,
  options: ReadOptions = {},
): string {
  return readRegularFileIdentity(path, options).text;
}

/**
 * {@link readRegularFile}, with the file's device and inode: which file
 * was read, for a caller that must tell a file from one made anew at the
 * same path (a cgroup removed and created again).
 */
export function readRegularFileIdentity(
  path: string,
  { maxBytes = DEFAULT_MAX_BYTES, followSymlink = false, trustedOwners }:
    ReadOptions = {},
): FileIdentity {
  const { fd, info } = openChecked(
    path,
    O.RDONLY,
    followSymlink,
    [S_IF.REG],
    0,
    trustedOwners,
  );
  try {
    decoder ??= new TextDecoder();
    const text = decoder.decode(readAll(fd, path, maxBytes));
    return { dev: info.dev, ino: info.ino, text };
  } finally {
    closeFd(fd);
  }
}

/**
 * The bytes of a large regular file (/proc/kallsyms) piece by piece, for a
 * scanner that keeps only what it needs; the same refusals as
 * {@link readRegularFile}.
 */
export function scanRegularFile(
  path: string,
  maxBytes: number,
  take: (piece: Uint8Array) => void,
): void {
  const { fd } = openChecked(path, O.RDONLY, false, [S_IF.REG]);
  try {
    readChunks(fd, path, maxBytes, take);
  } finally {
    closeFd(fd);
  }
}

/** What stands at `path` itself (a symlink is not followed), or null. */
export function statLink(path: string): FileInfo | null {
  try {
    return statPath(path, false);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** 16 hex digits from the kernel's random source: a name nobody can plant in advance. */
export function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

/** fsyncs a directory so a rename or unlink in it survives a crash. */
export function syncDirectory(directory: string): void {
  const fd = openPath(directory, O.RDONLY | O.DIRECTORY);
  try {
    syncFd(fd);
  } finally {
    closeFd(fd);
  }
}

export interface WriteOptions {
  /** Permission bits of a new file (the umask applies); default 0644. */
  mode?: number;
  /**
   * fsync the file and its directory (default). `false` keeps only the
   * atomicity, for files rewritten every heartbeat in /run.
   */
  durable?: boolean;
}

/**
 * Writes `text` to `path` atomically: readers see the old file or the new
 * one, never half of one, and (durable) after a crash the new one is on
 * disk. Returns the identity of the file written, for
 * {@link removeOwnFile}. Throws {@link FileRefused} when something other
 * than a regular file or a symlink stands at `path`.
 */
export function writeFileAtomic(
  path: string,
  text: string,
  { mode = 0o644, durable = true }: WriteOptions = {},
): FileIdentity {
  const present = statLink(path);
  if (present && present.type !== S_IF.REG && present.type !== S_IF.LNK) {
    throw new FileRefused(
      path,
      `is ${
        describeFileType(present.type)
      }; oomwatch writes only a regular file there and leaves this alone`,
    );
  }
  const directory = dirname(path);
  let temporary = "";
  let fd = -1;
  for (let attempt = 0; fd < 0; attempt++) {
    temporary = `${directory}/.${basename(path)}.${randomSuffix()}.tmp`;
    try {
      fd = openPath(
        temporary,
        O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.NONBLOCK,
        mode,
      );
    } catch (error) {
      const taken = error instanceof LibcError && error.code === "EEXIST";
      if (!taken || attempt + 1 >= TEMPORARY_ATTEMPTS) throw error;
    }
  }
  let identity: FileIdentity;
  try {
    writeFd(fd, new TextEncoder().encode(text));
    if (durable) syncFd(fd);
    const info = statFd(fd);
    identity = { dev: info.dev, ino: info.ino, text };
    closeFd(fd);
    fd = -1;
    renamePath(temporary, path);
  } catch (error) {
    if (fd >= 0) closeFd(fd);
    try {
      unlinkPath(temporary); // ours: created with O_EXCL above
    } catch {
      // already renamed, or never there
    }
    throw error;
  }
  if (durable) syncDirectory(directory);
  return identity;
}

/** Whether `path` is still the regular file described by `identity`. */
export function isOwnFile(path: string, identity: FileIdentity): boolean {
  const present = statLink(path);
  if (
    present === null || present.type !== S_IF.REG ||
    present.dev !== identity.dev || present.ino !== identity.ino
  ) return false;
  try {
    return readRegularFile(path, {
      maxBytes: Math.max(DEFAULT_MAX_BYTES, identity.text.length * 4),
    }) === identity.text;
  } catch {
    return false; // replaced by something unreadable: not ours
  }
}

/** What {@link removeOwnFile} found. */
export type Removal = "removed" | "absent" | "not-ours";

/**
 * Removes `path` only if it is still the regular file this process wrote
 * (`identity` from {@link writeFileAtomic}), durably. Anything else there —
 * a file someone put in its place, a directory, a link — is left alone.
 */
export function removeOwnFile(path: string, identity: FileIdentity): Removal {
  const present = statLink(path);
  if (present === null) return "absent";
  if (!isOwnFile(path, identity)) return "not-ours";
  unlinkPath(path);
  syncDirectory(dirname(path));
  return "removed";
}

/**
 * Appends one record to `path` (the kernel log or the SysRq trigger, or the
 * file a test gives in their place), which must be a character device or a
 * regular file; with `create`, a missing regular file is made (mode 0600).
 */
export function appendRecord(
  path: string,
  bytes: Uint8Array,
  { create = false }: { create?: boolean } = {},
): void {
  const { fd } = openChecked(
    path,
    O.WRONLY | O.APPEND | (create ? O.CREAT : 0),
    false,
    [S_IF.CHR, S_IF.REG],
    0o600,
  );
  try {
    writeFd(fd, bytes);
  } finally {
    closeFd(fd);
  }
}
