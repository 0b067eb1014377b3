/**
 * The words of the watchdog: OOM signals, episodes, phases, the actions it
 * hands the shell, and the times that bound them (core/watchdog.ts is the
 * state machine that uses them).
 *
 * @module
 */

import type { Config, PanicAction } from "./config.ts";

/** The kinds of OOM signal. */
export type SignalKind =
  | "global-oom"
  | "memcg-oom"
  | "memory-stall"
  | "memory-thrash";

/** One observation that the machine is in an OOM state. */
export interface OomSignal {
  kind: SignalKind;
  /** For a person: `python3 (pid 1767)`, `full stall 72% of 10 s`. */
  detail: string;
  /** The OOM victim, when the kernel log named it. */
  victim?: string;
  /** When the kernel reported it (CLOCK_MONOTONIC µs), for the reaction latency. */
  kernelMicros?: number;
  /** What that time is the time of: the kill's `report` line, or the `oom:mark_victim tracepoint`. */
  kernelSource?: string;
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

/**
 * How long after the panic action was due a watchdog device is still
 * petted: SysRq `c` takes the machine down at once, the libc fallback
 * after ~2 s; past this, the device is left to reset the machine.
 */
export const PANIC_TAKEDOWN_MS = 10_000;

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
  /** When the panic action first fell due (monotonic ms), or null. */
  panicDueAtMs: number | null;
  /** Why the reboot-loop guard suppressed the panic action, or null. */
  panicSuppressed: string | null;
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
  /**
   * The crash flag, with a short post-mortem at the episode's start and the
   * full one right before the panic action (or its suppression).
   */
  | {
    kind: "write-crash-flag";
    episode: Readonly<Episode>;
    moment: "episode-start" | "panic";
  }
  | { kind: "remove-crash-flag" }
  | { kind: "panic"; action: PanicAction; episode: Readonly<Episode> }
  /** The reboot-loop guard held the panic action back: a critical problem. */
  | { kind: "panic-suppressed"; reason: string }
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
  | "maxPanics"
>;

/**
 * Whether a watchdog device may be petted at `nowMs` during `episode` (null:
 * none): not once its panic action fell due {@link PANIC_TAKEDOWN_MS} ago and
 * the machine is still up (the action failed, or is `none`) — the device is
 * then the last resort — unless the reboot-loop guard held the panic back.
 */
export function mayPet(
  episode: Readonly<Episode> | null,
  nowMs: number,
): boolean {
  if (!episode || episode.panicDueAtMs === null) return true;
  if (episode.panicSuppressed !== null) return true;
  return nowMs < episode.panicDueAtMs + PANIC_TAKEDOWN_MS;
}
