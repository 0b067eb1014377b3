/**
 * The reserve as a file nobody maps, on a tmpfs of oomwatch's own
 * (`reserve_backing = tmpfs`): `huge=always` so its memory is 2 MiB pages
 * (giving back 8 MiB of small pages takes ~1 ms, of huge ones ~35 µs,
 * measured here), `noswap` (Linux ≥ 6.4) so it stays resident, mounted in
 * a root-only directory beside the status file. Taking it is fallocate(2)
 * of an O_TMPFILE file (unnamed: it vanishes with its descriptor, so a
 * killed daemon leaks nothing); giving it back is ftruncate(2), which frees
 * the pages at once and, with no mapping, needs no TLB shootdown — the IPI
 * that makes munmap of a locked mapping wait for the CPU busy printing the
 * OOM report.
 *
 * @module
 */

import {
  allocateFile,
  closeFd,
  filesystemState,
  LibcError,
  mountFilesystem,
  MS,
  O,
  openPath,
  truncateFile,
  unmountLazily,
} from "../../ffi/libc.ts";
import { ReserveError } from "../core/errors.ts";
import { formatMiB, MIB } from "../core/units.ts";
import { ensureDirectory } from "./directories.ts";
import { readRegularFile } from "./safe_file.ts";

/** What /proc/self/mountinfo shows as the mount's source. */
const SOURCE = "oomwatch-reserve";
const HUGE_PAGE = 2 * MIB;

/** The size each directory's tmpfs was mounted with, once mounted here. */
const mounted = new Map<string, number>();

/** Whether `directory` is already an oomwatch-reserve tmpfs (a restart). */
function isReserveMount(directory: string): boolean {
  try {
    // ~150 bytes a mount: the default 1 MiB cap is ~7000 mounts, which a
    // container host can pass; past it this would mount the tmpfs again.
    const text = readRegularFile("/proc/self/mountinfo", {
      maxBytes: 16 * MIB,
    });
    return text.split("\n").some((line) => {
      const [mount, rest] = line.split(" - ");
      return mount?.split(" ")[4] === directory &&
        rest?.startsWith(`tmpfs ${SOURCE} `);
    });
  } catch {
    return false; // no mountinfo: mount anew
  }
}

function swapIsOn(): boolean {
  try {
    return readRegularFile("/proc/swaps").trim().split("\n").length > 1;
  } catch {
    return false; // no /proc/swaps: no swap
  }
}

function mountFor(directory: string, bytes: number): void {
  const size = Math.ceil(bytes / HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE;
  if ((mounted.get(directory) ?? 0) >= size) return;
  ensureDirectory(directory, 0o700);
  const remount = mounted.has(directory) || isReserveMount(directory);
  const flags = MS.NOSUID | MS.NODEV | MS.NOEXEC | (remount ? MS.REMOUNT : 0);
  const options = `size=${size / 1024}k,huge=always,mode=0700`;
  try {
    // noswap is set once, at the first mount: a remount keeps it.
    mountFilesystem(
      SOURCE,
      directory,
      "tmpfs",
      flags,
      remount ? options : `${options},noswap`,
    );
  } catch (error) {
    if (!(error instanceof LibcError) || error.code !== "EINVAL") {
      throw new ReserveError(
        `cannot mount the reserve's tmpfs at ${directory}: ${error}; it needs CAP_SYS_ADMIN, or choose --reserve-backing locked`,
      );
    }
    if (swapIsOn()) {
      throw new ReserveError(
        `the reserve's tmpfs cannot be kept out of swap here: this kernel's tmpfs has no noswap (Linux 6.4 and later) and swap is on; choose --reserve-backing locked`,
      );
    }
    mountFilesystem(SOURCE, directory, "tmpfs", flags, options);
  }
  mounted.set(directory, size);
}

/** Takes `bytes` in a new unnamed file on the reserve's tmpfs. */
export function takeTmpfs(
  directory: string,
  bytes: number,
  availableMiB: string,
): { bytes: number; giveBack: () => void } {
  mountFor(directory, bytes);
  const fd = openPath(directory, O.TMPFILE | O.RDWR, 0o600);
  try {
    allocateFile(fd, bytes);
  } catch (error) {
    closeFd(fd);
    throw new ReserveError(
      `cannot take the ${formatMiB(bytes)} reserve on ${directory}: ${
        error instanceof LibcError ? `fallocate failed (${error.code})` : error
      }; MemAvailable is ${availableMiB} MiB. Free memory or lower --bufsize`,
    );
  }
  return {
    bytes,
    giveBack: () => {
      truncateFile(fd, 0);
      closeFd(fd);
    },
  };
}

/** Bytes the reserve's tmpfs at `directory` holds, or null when it is not one. */
export function tmpfsReserveBytes(directory: string): number | null {
  if (!isReserveMount(directory)) return null;
  const state = filesystemState(directory);
  return Number(state.totalBytes - state.availableBytes);
}

/** Unmounts the reserve's tmpfs (a clean stop); what is still open keeps it alive. */
export function unmountTmpfs(directory: string): void {
  if (!mounted.has(directory) && !isReserveMount(directory)) return;
  mounted.delete(directory);
  try {
    unmountLazily(directory);
  } catch {
    // already gone: nothing to undo
  }
}
