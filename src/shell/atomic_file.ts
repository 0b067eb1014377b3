/**
 * Durable, atomic file writes for files that others read (the crash flag,
 * and later the status): a reader sees the old file or the new one, never
 * half of one, and after a crash the new one is on disk.
 *
 * @module
 */

import { basename, dirname } from "../core/paths.ts";

/** fsyncs a directory so a rename or unlink in it survives a crash. */
export function syncDirectory(directory: string): void {
  const handle = Deno.openSync(directory, { read: true });
  try {
    handle.syncSync();
  } finally {
    handle.close();
  }
}

/**
 * Writes `text` to `path` through a temporary file in the same directory,
 * fsynced, then renamed over `path`, and fsyncs the directory. rename(2)
 * replaces whatever is at `path` itself, so a symlink planted there is
 * replaced, never followed; the temporary file is created with O_EXCL, so
 * it cannot be a planted link either.
 */
let temporaryCount = 0;

/**
 * `durable: false` skips the fsyncs, for files that only need to be atomic
 * (the status file in /run, rewritten every heartbeat).
 */
export function writeFileAtomic(
  path: string,
  text: string,
  { mode = 0o644, durable = true }: { mode?: number; durable?: boolean } = {},
): void {
  const directory = dirname(path);
  temporaryCount += 1;
  const temporary = `${directory}/.${
    basename(path)
  }.${Deno.pid}.${temporaryCount}.tmp`;
  const handle = Deno.openSync(temporary, {
    write: true,
    createNew: true,
    mode,
  });
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) {
      written += handle.writeSync(bytes.subarray(written));
    }
    if (durable) handle.syncSync();
    handle.close();
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      handle.close();
    } catch {
      // already closed
    }
    try {
      Deno.removeSync(temporary);
    } catch {
      // never created or already renamed
    }
    throw error;
  }
  if (durable) syncDirectory(directory);
}

/** Removes `path` (a link itself, not its target) durably; false if it was not there. */
export function removeFileDurably(path: string): boolean {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  syncDirectory(dirname(path));
  return true;
}
