/**
 * SIGHUP: the configuration is read again and held to the same rules as at
 * start. An invalid one is refused, with the file, line, key and value, and
 * the running one stays in force. A new bufsize re-creates the reserve now
 * (at the next re-arm during an episode) — unless memory or RLIMIT_MEMLOCK
 * does not allow it, and then the old size stays, in the configuration and
 * in what the watchdog believes alike.
 *
 * @module
 */

import { type Config, describeConfig } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import {
  type MemoryObservation,
  reserveDoesNotFit,
} from "../core/reserve_room.ts";
import { MIB } from "../core/units.ts";
import type { Phase } from "../core/episode.ts";
import type { Logger } from "./log.ts";
import { ReserveError } from "./reserve.ts";

/** What a reload changes, as the daemon offers it. */
export interface ReloadTarget {
  readonly config: Config;
  readonly phase: Phase;
  /** MemAvailable and MemTotal now, or null when unreadable. */
  memory(): MemoryObservation | null;
  /** Locks a reserve of `bytes` in place of the one held; throws ReserveError. */
  resizeReserve(bytes: number): void;
  /** Puts `next` in force everywhere. */
  apply(next: Config): void;
}

/** Keeps `field` of the running configuration, saying why. */
function keep<K extends keyof Config>(
  next: Config,
  old: Config,
  field: K,
  log: Logger,
  why: string,
): Config {
  if (next[field] === old[field]) return next;
  log.warn(why);
  return { ...next, [field]: old[field] };
}

/** Reads the configuration with `load` and applies it to `target`. */
export function reload(
  target: ReloadTarget,
  load: () => Config,
  log: Logger,
): void {
  let next: Config;
  try {
    next = load();
  } catch (error) {
    log.error(
      `reload refused: ${
        describeError(error)
      }; the running configuration stays in force`,
    );
    return;
  }
  const old = target.config;
  const busy = target.phase === "episode" || target.phase === "recovering";
  next = keep(
    next,
    old,
    "statusFile",
    log,
    `status_file cannot change while running (the instance lock is beside it); keeping ${old.statusFile} until a restart`,
  );
  next = keep(
    next,
    old,
    "lockCode",
    log,
    "lock_code takes effect at the next start; keeping the running value",
  );
  next = keep(
    next,
    old,
    "reserveBacking",
    log,
    "reserve_backing takes effect at the next start; keeping the running value",
  );
  for (const field of ["watchdogDevice", "watchdogTimeout"] as const) {
    next = keep(
      next,
      old,
      field,
      log,
      "the watchdog device and its timeout take effect at the next start (the open device stays armed); keeping the running values",
    );
  }
  if (target.phase === "episode") {
    next = keep(
      next,
      old,
      "crashflagName",
      log,
      `crashflag_name cannot change during an episode (its flag is at ${old.crashflagName}); keeping it, reload again after the episode`,
    );
    // Turned off mid-episode, the flag already written would stay on disk
    // after the episode, and read as a crash at the next boot.
    next = keep(
      next,
      old,
      "crashflag",
      log,
      "crashflag cannot change during an episode (its flag is written and must be removed when the episode ends); keeping it, reload again after the episode",
    );
  }
  if (next.bufsize !== old.bufsize && !busy) {
    next = resize(target, next, old, log);
  } else if (next.bufsize !== old.bufsize) {
    log.info(
      `bufsize ${next.bufsize} MiB applies when the reserve is re-armed`,
    );
  }
  target.apply(next);
  log.info(`configuration reloaded: ${describeConfig(next)}`);
}

function resize(
  target: ReloadTarget,
  next: Config,
  old: Config,
  log: Logger,
): Config {
  const bytes = next.bufsize * MIB;
  const memory = target.memory();
  const tooBig = next.bufsize > old.bufsize && memory !== null
    ? reserveDoesNotFit(bytes, memory)
    : null;
  if (tooBig !== null) {
    log.error(
      `bufsize ${next.bufsize} refused: ${tooBig}; keeping the ${old.bufsize} MiB reserve`,
    );
    return { ...next, bufsize: old.bufsize };
  }
  try {
    target.resizeReserve(bytes);
    log.info(`reserve re-created at ${next.bufsize} MiB`);
    return next;
  } catch (error) {
    if (!(error instanceof ReserveError)) throw error;
    log.error(`${error.message}; keeping the ${old.bufsize} MiB reserve`);
    try {
      target.resizeReserve(old.bufsize * MIB);
    } catch (again) {
      log.error(
        `re-creating the ${old.bufsize} MiB reserve failed too: ${
          describeError(again)
        }; it is retried as a re-arm`,
      );
    }
    return { ...next, bufsize: old.bufsize };
  }
}
