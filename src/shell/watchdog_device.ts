/**
 * A watchdog device (`--watchdog-device`): opening it arms it, and unless
 * it is petted within its timeout it resets the machine. The daemon pets it
 * on every wake while the core allows (Watchdog.mayPetWatchdog), so it
 * resets the machine exactly when oomwatch no longer runs — frozen, killed,
 * starved — or when an episode outlasted gracetime and the panic action did
 * not take the machine down. The ioctls are the kernel's watchdog API
 * (Documentation/watchdog/watchdog-api.rst): WDIOC_GETSUPPORT,
 * WDIOC_SETTIMEOUT (the driver may round it; what it set is reported),
 * WDIOC_KEEPALIVE; a write of 'V' before close disarms it where the driver
 * has WDIOF_MAGICCLOSE and was not loaded with nowayout.
 *
 * @module
 */

import {
  closeFd,
  ioctlBuffer,
  LibcError,
  O,
  openPath,
  S_IF,
  statFd,
  WDIOC,
  WDIOF,
  writeFd,
} from "../../ffi/libc.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { basename } from "../core/paths.ts";
import { escapeControl } from "../core/text.ts";
import { readKernelText } from "./procfs.ts";

/** Why the device cannot be used, for the one log line and the status. */
export class WatchdogRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WatchdogRefused";
  }
}

/** What the driver says of itself, from sysfs (none of it needs the device open). */
export interface WatchdogSysfs {
  /** `/sys/class/watchdog/<name>`, or null when it has none. */
  directory: string | null;
  identity: string | null;
  timeoutSeconds: number | null;
  nowayout: boolean | null;
  /** `active` or `inactive`, where the kernel has CONFIG_WATCHDOG_SYSFS. */
  state: string | null;
}

/** The sysfs entry of a device path (`/dev/watchdog` is the first, watchdog0). */
export function watchdogSysfs(machine: Machine, path: string): WatchdogSysfs {
  const name = basename(path) === "watchdog" ? "watchdog0" : basename(path);
  const directory = /^watchdog\d{1,4}$/.test(name)
    ? `${machine.watchdogClass}/${name}`
    : null;
  const read = (file: string): string | null => {
    if (directory === null) return null;
    const reading = readKernelText(`${directory}/${file}`);
    return reading.ok ? reading.value.trim() : null;
  };
  const timeout = Number(read("timeout"));
  const nowayout = read("nowayout");
  const identity = read("identity");
  return {
    directory,
    identity: identity === null ? null : escapeControl(identity),
    timeoutSeconds: Number.isInteger(timeout) && timeout > 0 ? timeout : null,
    nowayout: nowayout === null ? null : nowayout === "1",
    state: read("state"),
  };
}

export class WatchdogDevice {
  readonly path: string;
  readonly identity: string;
  /** The timeout the driver really runs with, in seconds. */
  readonly timeoutSeconds: number;
  readonly #fd: number;
  readonly #magicClose: boolean;
  readonly #nowayout: boolean | null;
  #closed = false;

  private constructor(
    path: string,
    fd: number,
    identity: string,
    timeoutSeconds: number,
    magicClose: boolean,
    nowayout: boolean | null,
  ) {
    this.path = path;
    this.#fd = fd;
    this.identity = identity;
    this.timeoutSeconds = timeoutSeconds;
    this.#magicClose = magicClose;
    this.#nowayout = nowayout;
  }

  /**
   * Opens (arms) the device at `path` and asks for `timeoutSeconds`.
   * Throws {@link WatchdogRefused} with what failed and how to fix it.
   */
  static open(
    machine: Machine,
    path: string,
    timeoutSeconds: number,
  ): WatchdogDevice {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted at the path would otherwise block the
      // open until someone reads it (start-up hung, the lock held); the
      // watchdog core (drivers/watchdog/watchdog_dev.c) ignores the flag.
      fd = openPath(path, O.WRONLY | O.NOFOLLOW | O.NOCTTY | O.NONBLOCK);
    } catch (error) {
      const code = error instanceof LibcError ? error.code : "";
      const fix = code === "EBUSY"
        ? "another process holds it (systemd's RuntimeWatchdogSec=, or another watchdog daemon): stop that one, or leave --watchdog-device unset"
        : code === "ENOENT"
        ? "no such device: load a driver (modprobe softdog, or the board's) or correct the path"
        : code === "ELOOP"
        ? "it is a symbolic link, which oomwatch does not follow: give the device itself"
        : code === "ENXIO"
        ? "nothing behind it (a FIFO without a reader, or a device without its driver): give the watchdog device itself, /dev/watchdog0"
        : "it needs root";
      throw new WatchdogRefused(
        `cannot open the watchdog device ${path} (${
          describeError(error)
        }): ${fix}`,
      );
    }
    try {
      if (statFd(fd).type !== S_IF.CHR) {
        throw new WatchdogRefused(
          `${path} is not a character device, so not a watchdog device`,
        );
      }
      const info = new Uint8Array(40);
      ioctlBuffer(fd, WDIOC.GETSUPPORT, info, "WDIOC_GETSUPPORT");
      const options = new DataView(info.buffer).getUint32(0, true);
      const nul = info.subarray(8).indexOf(0);
      const identity = escapeControl(
        new TextDecoder().decode(info.subarray(8, nul < 0 ? 40 : 8 + nul)),
      );
      const timeout = new Uint8Array(4);
      const view = new DataView(timeout.buffer);
      view.setInt32(0, timeoutSeconds, true);
      // Where the driver cannot set it, the timeout is whatever it runs with.
      ioctlBuffer(
        fd,
        options & WDIOF.SETTIMEOUT ? WDIOC.SETTIMEOUT : WDIOC.GETTIMEOUT,
        timeout,
        options & WDIOF.SETTIMEOUT ? "WDIOC_SETTIMEOUT" : "WDIOC_GETTIMEOUT",
      );
      const device = new WatchdogDevice(
        path,
        fd,
        identity,
        view.getInt32(0, true),
        (options & WDIOF.MAGICCLOSE) !== 0,
        watchdogSysfs(machine, path).nowayout,
      );
      device.pet();
      return device;
    } catch (error) {
      closeFd(fd); // without 'V': an armed device stays armed, as it must
      if (error instanceof WatchdogRefused) throw error;
      throw new WatchdogRefused(
        `${path} does not answer the watchdog API (${
          describeError(error)
        }): it is not a watchdog device, or its driver does not support WDIOC_GETSUPPORT/WDIOC_SETTIMEOUT`,
      );
    }
  }

  /** Pets the device (WDIOC_KEEPALIVE, else a write). Throws LibcError. */
  pet(): void {
    try {
      ioctlBuffer(this.#fd, WDIOC.KEEPALIVE, new Uint8Array(4), "KEEPALIVE");
    } catch {
      writeFd(this.#fd, new Uint8Array([0x2e])); // any byte but 'V' pets it
    }
  }

  /**
   * A clean stop: the magic close where the driver has it. Returns what
   * happened, for the log: disarmed, or why the device stays armed.
   */
  close(): string {
    if (this.#closed) return "already closed";
    this.#closed = true;
    let said: string;
    if (!this.#magicClose) {
      said =
        `the driver (${this.identity}) has no magic close: the device stays armed and resets the machine within ${this.timeoutSeconds} s unless something pets it`;
    } else {
      try {
        writeFd(this.#fd, new TextEncoder().encode("V"));
        said = this.#nowayout
          ? `the driver was loaded with nowayout: the device stays armed and resets the machine within ${this.timeoutSeconds} s unless something pets it`
          : "disarmed with the magic close";
      } catch (error) {
        said = `the magic close failed (${
          describeError(error)
        }): the device stays armed and resets the machine within ${this.timeoutSeconds} s`;
      }
    }
    closeFd(this.#fd);
    return said;
  }
}
