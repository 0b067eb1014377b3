/**
 * One daemon per status file: an flock(2) on `oomwatch.lock` beside it. The
 * kernel drops the lock when the holder dies, however it dies, so a lock can
 * never go stale; the file's content (the holder's pid) is only information.
 *
 * The lock file is opened O_NOFOLLOW and must be a regular file with one
 * link, so whoever can write the directory cannot make root write through a
 * planted symlink or hard link. And it survives the removal of its
 * directory: a daemon whose lock file vanished still holds the lock on the
 * deleted file, which /proc shows (`/proc/locks`, and the holder's fd
 * linking to `PATH (deleted)`), so a second daemon finds it and refuses; the
 * first re-creates its directory and lock within a heartbeat
 * ({@link InstanceLock.ensure}).
 *
 * @module
 */

import {
  closeFd,
  type FileInfo,
  LibcError,
  O,
  openPath,
  replaceContent,
  S_IF,
  statFd,
  tryLock,
} from "../../ffi/libc.ts";
import { describeError, RuntimeFailure } from "../core/errors.ts";
import { dirname } from "../core/paths.ts";
import { ensureDirectory, unsafeDirectory } from "./directories.ts";
import { describeFileType, readRegularFile, statLink } from "./safe_file.ts";

/** The lock file of the daemon that keeps `statusFile`. */
export function lockPathFor(statusFile: string): string {
  return `${dirname(statusFile)}/oomwatch.lock`;
}

/** Another daemon holds the lock. */
export class AlreadyRunning extends RuntimeFailure {
  constructor(path: string, pid: number | null, deleted = false) {
    super(
      `another oomwatch is running (pid ${pid ?? "unknown"}, holding ${path}${
        deleted ? ", whose file was removed" : ""
      }); stop it first, or give this one another --status-file`,
    );
    this.name = "AlreadyRunning";
  }
}

function openLockFile(path: string, create: boolean): number {
  let fd: number;
  try {
    fd = openPath(
      path,
      (create ? O.RDWR | O.CREAT : O.RDONLY) | O.NOFOLLOW | O.NONBLOCK |
        O.NOCTTY,
      0o644,
    );
  } catch (error) {
    if (error instanceof LibcError && error.code === "ELOOP") {
      throw new RuntimeFailure(
        `the instance lock ${path} is a symbolic link; oomwatch does not follow it. Remove it, and check who can write ${
          dirname(path)
        }`,
      );
    }
    throw error;
  }
  const info = statFd(fd);
  if (info.type !== S_IF.REG || info.nlink !== 1) {
    closeFd(fd);
    throw new RuntimeFailure(
      `the instance lock ${path} is ${
        info.type !== S_IF.REG
          ? describeFileType(info.type)
          : `a file with ${info.nlink} hard links`
      }, not a lock file oomwatch made; remove it, and check who can write ${
        dirname(path)
      }`,
    );
  }
  return fd;
}

function readPid(path: string): number | null {
  try {
    const pid = Number(readRegularFile(path).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null; // no pid to name: the message says "unknown"
  }
}

/**
 * The pid of another process that holds an flock on a removed file that was
 * at `path`, or null. Needs root to look into other processes' fds.
 */
export function holderOfRemovedLock(
  path: string,
  proc = "/proc",
): number | null {
  let locks: string;
  try {
    locks = readRegularFile(`${proc}/locks`);
  } catch {
    return null; // no /proc/locks: nothing more to find
  }
  const deleted = `${path} (deleted)`;
  for (const line of locks.split("\n")) {
    const match = /^\d+: FLOCK\s+\S+\s+WRITE\s+(\d+) /.exec(line);
    const pid = Number(match?.[1]);
    if (!match || pid === Deno.pid) continue;
    try {
      for (const entry of Deno.readDirSync(`${proc}/${pid}/fd`)) {
        if (Deno.readLinkSync(`${proc}/${pid}/fd/${entry.name}`) === deleted) {
          return pid;
        }
      }
    } catch {
      // the process ended, or its fds are not ours to read
    }
  }
  return null;
}

/** Why the status directory is unfit for root's lock and status, or null. */
function checkDirectory(directory: string): void {
  const unsafe = unsafeDirectory(directory);
  if (unsafe !== null) {
    throw new RuntimeFailure(
      `refusing the status directory ${directory}: ${unsafe}; someone else could plant files for root to write. ` +
        `Make it root's alone (chown root ${directory}; chmod go-w ${directory}) or choose another --status-file`,
    );
  }
}

/** The lock this daemon holds for as long as it lives. */
export class InstanceLock {
  readonly path: string;
  #fd: number;
  #identity: FileInfo;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    this.#identity = statFd(fd);
  }

  /**
   * Creates the directory (0755) if needed, refuses one others can write,
   * takes the lock and writes this process's pid into it. Throws
   * {@link AlreadyRunning} or a RuntimeFailure saying what is wrong.
   */
  static acquire(path: string): InstanceLock {
    try {
      return InstanceLock.#acquire(path);
    } catch (error) {
      if (error instanceof RuntimeFailure) throw error;
      throw new RuntimeFailure(
        `cannot take the instance lock ${path}: ${
          describeError(error)
        }; check that ${
          dirname(path)
        } can be created and written, or choose another --status-file`,
      );
    }
  }

  static #acquire(path: string): InstanceLock {
    const directory = dirname(path);
    ensureDirectory(directory);
    checkDirectory(directory);
    const fd = openLockFile(path, true);
    if (!tryLock(fd, true)) {
      closeFd(fd);
      throw new AlreadyRunning(path, readPid(path));
    }
    const orphan = holderOfRemovedLock(path);
    if (orphan !== null) {
      closeFd(fd);
      throw new AlreadyRunning(path, orphan, true);
    }
    replaceContent(fd, `${Deno.pid}\n`);
    return new InstanceLock(path, fd);
  }

  /** Lets the lock go (a daemon stopped inside its process: tests). */
  release(): void {
    closeFd(this.#fd);
  }

  /**
   * Called every heartbeat: when the lock file (or its directory) was
   * removed or replaced, re-creates it and takes the lock on the new file,
   * then lets the old one go. Returns what it did, or null when all was in
   * place.
   */
  ensure(): string | null {
    const present = statLink(this.path);
    if (
      present && present.dev === this.#identity.dev &&
      present.ino === this.#identity.ino
    ) return null;
    try {
      const next = InstanceLock.acquire(this.path);
      closeFd(this.#fd);
      this.#fd = next.#fd;
      this.#identity = next.#identity;
      return `the instance lock ${this.path} was ${
        present ? "replaced" : "removed"
      }: re-created it`;
    } catch (error) {
      return `the instance lock ${this.path} was ${
        present ? "replaced" : "removed"
      } and cannot be re-created (${
        describeError(error)
      }); this daemon still holds the old one`;
    }
  }
}

/**
 * Whether a daemon holds the lock at `path`: also one whose lock file was
 * removed (found through /proc when run as root). Needs only read access.
 */
export function instanceRunning(path: string, proc = "/proc"): boolean {
  let fd: number;
  try {
    fd = openLockFile(path, false);
  } catch (error) {
    if (error instanceof LibcError && error.code === "ENOENT") {
      return holderOfRemovedLock(path, proc) !== null;
    }
    throw error;
  }
  try {
    return !tryLock(fd, false) || holderOfRemovedLock(path, proc) !== null;
  } finally {
    closeFd(fd);
  }
}
