/**
 * The watchdog: what happens on OOM, in one place.
 *
 * Data in, decisions out. The shell tells it what it observed (an OOM
 * signal, the passing of time, the memory available) and carries out the
 * actions it returns, in order; it never reads a file, starts a timer or
 * calls libc. Time is a monotonic millisecond count the caller supplies.
 *
 * Rules (SPEC §4–5, with the original module's bugs fixed):
 * - The first OOM signal starts an episode: release the reserve first, then
 *   write the crash flag, then log.
 * - Every signal restarts the quiet period; `resettime` quiet seconds end the
 *   episode: the flag is removed and the reserve re-created once
 *   `MemAvailable` leaves room for it (retried until it does).
 * - `gracetime` counts from the episode's start and is checked whenever the
 *   shell ticks, not only when a signal arrives. When it has passed while the
 *   OOM state is still present, the panic action runs, after the crash flag
 *   is known to be on disk; a panic action that fails (no SysRq trigger, no
 *   CAP_SYS_BOOT) is retried every {@link PANIC_RETRY_MS} while the episode
 *   lasts, and the failure is kept for the status.
 * - What the watchdog believes about the reserve is what the shell says it
 *   locked: its size in bytes, 0 when none is held.
 *
 * @module
 */

import {
  type Action,
  type Episode,
  mayPet,
  type OomSignal,
  PANIC_RETRY_MS,
  type Phase,
  REARM_RETRY_MS,
  SIGNAL_HOLD_MS,
  type WatchdogConfig,
} from "./episode.ts";
import { panicSuppression } from "./panic_guard.ts";
import { type MemoryObservation, reserveDoesNotFit } from "./reserve_room.ts";
import { formatMiB, MIB } from "./units.ts";

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The watchdog state machine. */
export class Watchdog {
  #config: WatchdogConfig;
  /** Bytes of reserve the shell has locked; 0 when none is held. */
  #reserveBytes: number;
  #episode: Episode | null = null;
  #episodes = 0;
  #releases = 0;
  #rearmPending = false;
  #rearmNotBeforeMs = 0;
  #rearmFailures = 0;
  #rearmDeferredLogged = false;
  #crashFlagOnDisk = false;
  /** When a failed panic action is tried again (monotonic ms). */
  #panicRetryAtMs = 0;
  /** A `panic` action was handed out and its outcome not yet reported. */
  #panicInFlight = false;

  /** Wall-clock times (epoch ms) of the panics recorded by earlier boots' flags. */
  #earlierPanicsAtMs: readonly number[] = [];
  /** Epoch ms minus monotonic ms: the wall clock of a monotonic time. */
  #epochOffsetMs = 0;

  /** `reserveBytes`: what the shell locked at start (0: none). */
  constructor(config: WatchdogConfig, reserveBytes: number) {
    this.#config = { ...config };
    this.#reserveBytes = reserveBytes;
  }

  /**
   * The panics that earlier boots' crash flags record (epoch ms), for the
   * reboot-loop guard, and the wall clock's offset from the monotonic one.
   */
  earlierPanics(atMs: readonly number[], epochOffsetMs: number): void {
    this.#earlierPanicsAtMs = [...atMs];
    this.#epochOffsetMs = epochOffsetMs;
  }

  /** Whether a watchdog device may be petted at `nowMs` ({@link mayPet}). */
  mayPetWatchdog(nowMs: number): boolean {
    return mayPet(this.#episode, nowMs);
  }

  get phase(): Phase {
    if (this.#episode) return "episode";
    if (this.#rearmPending) return "recovering";
    return this.#reserveBytes > 0 ? "armed" : "reserve-disabled";
  }

  get episode(): Readonly<Episode> | null {
    return this.#episode;
  }

  /** Bytes of reserve held, as the shell reported them. */
  get reserveBytes(): number {
    return this.#reserveBytes;
  }

  get counters(): {
    episodes: number;
    releases: number;
    rearmFailures: number;
  } {
    return {
      episodes: this.#episodes,
      releases: this.#releases,
      rearmFailures: this.#rearmFailures,
    };
  }

  /** An OOM signal observed at `nowMs`. */
  signal(signal: OomSignal, nowMs: number): Action[] {
    const actions: Action[] = [];
    const episode = this.#episode;
    if (episode) {
      episode.lastSignalAtMs = nowMs;
      episode.signals += 1;
      actions.push({
        kind: "log",
        level: "debug",
        message:
          `OOM signal in episode ${episode.number}: ${signal.kind} ${signal.detail}`,
      });
    } else {
      // Releasing comes before anything else: the victim may be waiting for
      // exactly these pages.
      const releasing = this.#reserveBytes;
      if (releasing > 0) {
        actions.push({ kind: "release-reserve" });
        this.#reserveBytes = 0;
        this.#releases += 1;
      }
      this.#episodes += 1;
      this.#rearmPending = false;
      this.#crashFlagOnDisk = false;
      this.#panicInFlight = false;
      const started: Episode = {
        number: this.#episodes,
        startedAtMs: nowMs,
        lastSignalAtMs: nowMs,
        trigger: signal,
        signals: 1,
        panicked: false,
        panicFailures: 0,
        panicError: null,
        panicDueAtMs: null,
        panicSuppressed: null,
      };
      this.#episode = started;
      if (this.#config.crashflag) {
        actions.push({
          kind: "write-crash-flag",
          episode: { ...started },
          moment: "episode-start",
        });
      }
      const released = releasing > 0
        ? `reserve of ${formatMiB(releasing)} released`
        : "no reserve to release";
      const countdown = this.#config.gracetime > 0
        ? `; ${this.#config.panicAction} after ${this.#config.gracetime} s if it persists`
        : "";
      actions.push({
        kind: "log",
        level: "warn",
        critical: true,
        message:
          `OOM episode ${started.number} started by ${signal.kind} ${signal.detail}: ${released}${countdown}`,
      });
      if (this.#config.execOnOom !== "") {
        actions.push({ kind: "run-hook", episode: { ...started } });
      }
    }
    actions.push(...this.#checkGracetime(nowMs));
    return actions;
  }

  /**
   * The passing of time: checks gracetime, the end of an episode and a
   * pending re-arm. `memory` is null when it could not be read (no re-arm
   * is attempted blind).
   */
  tick(nowMs: number, memory: MemoryObservation | null): Action[] {
    const actions = this.#checkGracetime(nowMs);
    const episode = this.#episode;
    if (
      episode &&
      nowMs - episode.lastSignalAtMs >= this.#config.resettime * 1000
    ) {
      this.#episode = null;
      this.#rearmPending = this.#reserveBytes === 0 && this.#config.bufsize > 0;
      this.#rearmNotBeforeMs = nowMs;
      this.#rearmDeferredLogged = false;
      // A flag whose panic the loop guard held back stays: the machine
      // needed a panic and did not get one.
      if (this.#config.crashflag && episode.panicSuppressed === null) {
        actions.push({ kind: "remove-crash-flag" });
      }
      actions.push({
        kind: "log",
        level: "info",
        message: `OOM episode ${episode.number} ended after ${
          seconds(nowMs - episode.startedAtMs)
        }: ${episode.signals} signal(s), started by ${episode.trigger.kind} ${episode.trigger.detail}${
          episode.panicked
            ? ", panic action ran"
            : episode.panicSuppressed !== null
            ? ", panic action suppressed by the reboot-loop guard (the crash flag stays)"
            : episode.panicFailures > 0
            ? `, panic action failed ${episode.panicFailures} time(s): ${episode.panicError}`
            : ""
        }`,
      });
    }
    if (
      !this.#episode && this.#rearmPending && nowMs >= this.#rearmNotBeforeMs
    ) {
      actions.push(...this.#tryRearm(memory));
    }
    return actions;
  }

  /** The shell reports whether the crash flag reached the disk. */
  crashFlagWritten(onDisk: boolean): void {
    this.#crashFlagOnDisk = onDisk;
  }

  /**
   * The shell reports the outcome of a `create-reserve` action: the bytes it
   * locked (0 when it could lock nothing; less than asked when the machine
   * allowed only that, which the shell has said).
   */
  reserveCreated(lockedBytes: number, nowMs: number): Action[] {
    if (lockedBytes > 0) {
      this.#reserveBytes = lockedBytes;
      this.#rearmPending = false;
      return [{
        kind: "log",
        level: "info",
        message: `reserve of ${formatMiB(lockedBytes)} re-armed`,
      }];
    }
    this.#rearmFailures += 1;
    this.#rearmNotBeforeMs = nowMs + REARM_RETRY_MS;
    return [];
  }

  /**
   * The shell reports the outcome of a `panic` action. A success in
   * production does not return (the machine goes down); one that returns
   * (a test's trigger file) ends the attempts. A failure is retried after
   * {@link PANIC_RETRY_MS} while the episode lasts.
   */
  panicResult(error: string | null, nowMs: number): void {
    this.#panicInFlight = false;
    const episode = this.#episode;
    if (!episode) return;
    if (error === null) {
      episode.panicked = true;
      episode.panicError = null;
      return;
    }
    episode.panicFailures += 1;
    episode.panicError = error;
    this.#panicRetryAtMs = nowMs + PANIC_RETRY_MS;
  }

  /**
   * New parameters while running. A changed `bufsize` is the shell's to
   * carry out (it re-creates the reserve); the watchdog learns the new
   * parameters and what is locked now.
   */
  configure(config: WatchdogConfig, reserveBytes: number): void {
    this.#config = { ...config };
    this.#reserveBytes = reserveBytes;
    if (config.bufsize === 0) this.#rearmPending = false;
    // A reserve lost outside an episode (a resize that failed) is re-armed.
    else if (reserveBytes === 0 && !this.#episode) this.#rearmPending = true;
  }

  /**
   * The next moment at which `tick` has something to decide, so the shell
   * can sleep until then; null when only a new signal can change anything.
   */
  nextDeadlineMs(): number | null {
    const episode = this.#episode;
    if (!episode) {
      return this.#rearmPending ? this.#rearmNotBeforeMs : null;
    }
    const end = episode.lastSignalAtMs + this.#config.resettime * 1000;
    const grace = this.#gracetimeDeadline(episode);
    return grace === null ? end : Math.min(end, grace);
  }

  #gracetimeDeadline(episode: Episode): number | null {
    if (this.#config.gracetime === 0 || episode.panicked) return null;
    if (episode.panicSuppressed !== null) return null;
    // Until the shell reports an attempt's outcome, no other is started.
    if (this.#panicInFlight) return null;
    // A failed attempt is retried while the episode lasts.
    if (episode.panicFailures > 0) return this.#panicRetryAtMs;
    const deadline = episode.startedAtMs + this.#config.gracetime * 1000;
    // Past the hold the OOM state has lapsed; only a new signal revives it.
    return episode.lastSignalAtMs + SIGNAL_HOLD_MS >= deadline
      ? deadline
      : null;
  }

  #checkGracetime(nowMs: number): Action[] {
    const episode = this.#episode;
    if (!episode) return [];
    const deadline = this.#gracetimeDeadline(episode);
    if (deadline === null || nowMs < deadline) return [];
    const retry = episode.panicFailures > 0;
    if (!retry && nowMs - episode.lastSignalAtMs > SIGNAL_HOLD_MS) return [];
    episode.panicDueAtMs ??= nowMs;
    const suppressed = retry ? null : panicSuppression(
      this.#config.maxPanics,
      this.#earlierPanicsAtMs,
      nowMs + this.#epochOffsetMs,
    );
    if (suppressed !== null) {
      episode.panicSuppressed = suppressed;
      const flag: Action[] = this.#config.crashflag
        ? [{
          kind: "write-crash-flag",
          episode: { ...episode },
          moment: "panic",
        }]
        : [];
      return [
        ...flag,
        {
          kind: "log",
          level: "error",
          critical: true,
          message: `OOM episode ${episode.number} has lasted ${
            seconds(nowMs - episode.startedAtMs)
          }, beyond gracetime ${this.#config.gracetime} s: panic action '${this.#config.panicAction}' suppressed: ${suppressed}`,
        },
        { kind: "panic-suppressed", reason: suppressed },
      ];
    }
    this.#panicInFlight = true;
    const actions: Action[] = [{
      kind: "log",
      level: "error",
      critical: true,
      message: retry
        ? `OOM episode ${episode.number}: trying panic action '${this.#config.panicAction}' again (attempt ${
          episode.panicFailures + 1
        }; the last failed: ${episode.panicError})`
        : `OOM episode ${episode.number} has lasted ${
          seconds(nowMs - episode.startedAtMs)
        }, beyond gracetime ${this.#config.gracetime} s: running panic action '${this.#config.panicAction}'`,
    }];
    // The flag must be on disk before the machine goes down, with the
    // panic's time (the reboot-loop guard of the next boots counts it) and
    // the full post-mortem; once per episode, unless the write failed.
    if (this.#config.crashflag && (!retry || !this.#crashFlagOnDisk)) {
      actions.push({
        kind: "write-crash-flag",
        episode: { ...episode },
        moment: "panic",
      });
    }
    actions.push({
      kind: "panic",
      action: this.#config.panicAction,
      episode: { ...episode },
    });
    return actions;
  }

  #tryRearm(memory: MemoryObservation | null): Action[] {
    const bytes = this.#config.bufsize * MIB;
    if (memory === null) return [];
    const tooBig = reserveDoesNotFit(bytes, memory);
    if (tooBig === null) return [{ kind: "create-reserve", bytes }];
    if (this.#rearmDeferredLogged) return [];
    this.#rearmDeferredLogged = true;
    return [{
      kind: "log",
      level: "warn",
      message: `re-arm of the ${
        formatMiB(bytes)
      } reserve deferred: ${tooBig}; retried while memory recovers`,
    }];
  }
}
