/**
 * Keeps the watchdog device (watchdog_device.ts) for the daemon: pets it on
 * every wake the core allows, wakes the daemon often enough for its timeout
 * whatever the heartbeat (three pets per timeout), says once when petting
 * stops and why, and disarms it on a clean stop.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import type { WatchdogDeviceStatus } from "../core/status.ts";
import type { Logger, ProblemLog } from "./log.ts";
import { WatchdogDevice, WatchdogRefused } from "./watchdog_device.ts";

/** Pets per timeout: a wake a little late still pets in time. */
const PETS_PER_TIMEOUT = 3;

export class WatchdogKeeper {
  readonly #device: WatchdogDevice | null;
  readonly #log: Logger;
  readonly #problems: ProblemLog;
  #lastPetMs: number | null = null;
  #lastPetAt: string | null = null;
  #petting = true;

  private constructor(
    device: WatchdogDevice | null,
    log: Logger,
    problems: ProblemLog,
  ) {
    this.#device = device;
    this.#log = log;
    this.#problems = problems;
  }

  /** Opens the configured device; a refusal is said (and is a warning), never fatal. */
  static open(
    machine: Machine,
    config: Config,
    log: Logger,
    problems: ProblemLog,
  ): WatchdogKeeper {
    if (config.watchdogDevice === "") {
      return new WatchdogKeeper(null, log, problems);
    }
    try {
      const device = WatchdogDevice.open(
        machine,
        config.watchdogDevice,
        config.watchdogTimeout,
      );
      log.info(
        `watchdog device ${device.path} (${device.identity}) armed: timeout ${device.timeoutSeconds} s${
          device.timeoutSeconds === config.watchdogTimeout
            ? ""
            : ` (${config.watchdogTimeout} s asked; the driver set ${device.timeoutSeconds} s)`
        }, petted every ${
          Math.max(1, Math.floor(device.timeoutSeconds / PETS_PER_TIMEOUT))
        } s at the latest`,
      );
      return new WatchdogKeeper(device, log, problems);
    } catch (error) {
      if (!(error instanceof WatchdogRefused)) throw error;
      log.error(`${error.message}; going on without the watchdog device`);
      problems.report("watchdog-device", "warning", error.message);
      return new WatchdogKeeper(null, log, problems);
    }
  }

  /** One wake at `nowMs` (monotonic); `mayPet` is the core's word. */
  wake(nowMs: number, mayPet: boolean, wallClock: string): void {
    const device = this.#device;
    if (!device) return;
    if (!mayPet) {
      if (this.#petting) {
        this.#petting = false;
        this.#log.critical(
          "error",
          `watchdog device ${device.path} no longer petted: the panic action did not take the machine down; the device resets it within ${device.timeoutSeconds} s`,
        );
      }
      return;
    }
    this.#petting = true;
    try {
      device.pet();
      this.#lastPetMs = nowMs;
      this.#lastPetAt = wallClock;
      this.#problems.cure(
        "watchdog-device",
        `watchdog device ${device.path} petted again`,
      );
    } catch (error) {
      this.#problems.report(
        "watchdog-device",
        "critical",
        `cannot pet the watchdog device ${device.path}: ${
          describeError(error)
        }; it resets the machine within ${device.timeoutSeconds} s`,
      );
    }
  }

  /** When the device must be petted next (monotonic ms), or null without one. */
  nextDueMs(): number | null {
    const device = this.#device;
    if (!device || this.#lastPetMs === null || !this.#petting) return null;
    return this.#lastPetMs +
      (device.timeoutSeconds * 1000) / PETS_PER_TIMEOUT;
  }

  status(): WatchdogDeviceStatus | null {
    const device = this.#device;
    return device
      ? {
        path: device.path,
        identity: device.identity,
        timeoutSeconds: device.timeoutSeconds,
        petting: this.#petting,
        lastPetAt: this.#lastPetAt,
      }
      : null;
  }

  /** A clean stop: disarms the device where it can, and says what happened. */
  close(): void {
    const device = this.#device;
    if (!device) return;
    const outcome = device.close();
    if (outcome.startsWith("disarmed")) {
      this.#log.info(`watchdog device ${device.path} ${outcome}`);
    } else this.#log.warn(`watchdog device ${device.path}: ${outcome}`);
  }
}
