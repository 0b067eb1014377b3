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

import type { Config, PanicAction } from "./config.ts";

/** The kinds of OOM signal. */
export type SignalKind = "global-oom" | "memcg-oom" | "memory-stall";

/** One observation that the machine is in an OOM state. */
export interface OomSignal {
  kind: SignalKind;
  /** For a person: `python3 (pid 1767)`, `full stall 72% of 10 s`. */
  detail: string;
  /** The OOM victim, when the kernel log named it. */
  victim?: string;
  /** When the kernel reported it (CLOCK_MONOTONIC µs), for the reaction latency. */
  kernelMicros?: number;
}

/**
 * How long one OOM signal keeps the OOM state "present" for the gracetime
 * check. Kills are discrete events and PSI is sampled; a persisting OOM
 * (victims that cannot exit, a stalled machine) produces a new kill or a new
 * stalled sample well within this time, while a single kill followed by calm
 * lets the state lapse, so a machine that recovered is never panicked merely
 * because its quiet period has not yet run out.
 */
export const SIGNAL_HOLD_MS = 3_000;

/** How long to wait before retrying a re-arm that failed. */
export const REARM_RETRY_MS = 10_000;

/** How long to wait before retrying a panic action that failed. */
export const PANIC_RETRY_MS = 10_000;

/** An OOM episode as the watchdog tracks it. */
export interface Episode {
  /** 1 for the first episode since the daemon started. */
  number: number;
  startedAtMs: number;
  lastSignalAtMs: number;
  trigger: OomSignal;
  signals: number;
  /** Whether the panic action has run (it succeeds at most once an episode). */
  panicked: boolean;
  /** Failed attempts of the panic action in this episode. */
  panicFailures: number;
  /** Why the last attempt failed, while it has not succeeded. */
  panicError: string | null;
}

/** What the daemon is doing, as operators see it: the one list of phases. */
export const PHASES = [
  "armed",
  "episode",
  "recovering",
  "reserve-disabled",
] as const;
export type Phase = typeof PHASES[number];

/** What the shell must do, in the order given. */
export type Action =
  | { kind: "release-reserve" }
  | { kind: "create-reserve"; bytes: number }
  | { kind: "write-crash-flag"; episode: Readonly<Episode> }
  | { kind: "remove-crash-flag" }
  | { kind: "panic"; action: PanicAction; episode: Readonly<Episode> }
  /** The --exec-on-oom hook, after the release, the flag and the log. */
  | { kind: "run-hook"; episode: Readonly<Episode> }
  | {
    kind: "log";
    level: "debug" | "info" | "warn" | "error";
    message: string;
    /** An event that also goes to the kernel log (start, countdown, panic). */
    critical?: boolean;
  };

/** The part of the configuration the watchdog decides with. */
export type WatchdogConfig = Pick<
  Config,
  | "bufsize"
  | "gracetime"
  | "resettime"
  | "crashflag"
  | "panicAction"
  | "execOnOom"
>;

/** Memory figures for the re-arm decision, in bytes. */
export interface MemoryObservation {
  memTotal: number;
  memAvailable: number;
}

const MIB = 1024 * 1024;

/**
 * The room that must remain after re-creating a reserve of `bytes`: twice the
 * reserve or 5% of RAM, whichever is larger, so that re-arming cannot push a
 * machine that is still tight back into OOM.
 */
export function rearmRoom(bytes: number, memTotal: number): number {
  return Math.max(2 * bytes, Math.floor(memTotal * 0.05));
}

/**
 * Why a reserve of `bytes` must not be locked now, or null when it fits:
 * {@link rearmRoom} must remain available after it. The same rule holds at
 * start, on a reload that grows it, and when re-arming.
 */
export function reserveDoesNotFit(
  bytes: number,
  memory: MemoryObservation,
): string | null {
  const room = rearmRoom(bytes, memory.memTotal);
  if (memory.memAvailable - bytes >= room) return null;
  return `MemAvailable is ${Math.floor(memory.memAvailable / MIB)} MiB, and ${
    Math.ceil(room / MIB)
  } MiB must remain free after a ${mib(bytes)} reserve`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / MIB * 100) / 100} MiB`;
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

  /** `reserveBytes`: what the shell locked at start (0: none). */
  constructor(config: WatchdogConfig, reserveBytes: number) {
    this.#config = { ...config };
    this.#reserveBytes = reserveBytes;
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
      };
      this.#episode = started;
      if (this.#config.crashflag) {
        actions.push({ kind: "write-crash-flag", episode: { ...started } });
      }
      const released = releasing > 0
        ? `reserve of ${mib(releasing)} released`
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
      if (this.#config.crashflag) actions.push({ kind: "remove-crash-flag" });
      actions.push({
        kind: "log",
        level: "info",
        message: `OOM episode ${episode.number} ended after ${
          seconds(nowMs - episode.startedAtMs)
        }: ${episode.signals} signal(s), started by ${episode.trigger.kind} ${episode.trigger.detail}${
          episode.panicked
            ? ", panic action ran"
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
        message: `reserve of ${mib(lockedBytes)} re-armed`,
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
    // The flag must be on disk before the machine goes down: write it again
    // if the write at the episode's start did not get there.
    if (this.#config.crashflag && !this.#crashFlagOnDisk) {
      actions.push({ kind: "write-crash-flag", episode: { ...episode } });
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
        mib(bytes)
      } reserve deferred: ${tooBig}; retried while memory recovers`,
    }];
  }
}
