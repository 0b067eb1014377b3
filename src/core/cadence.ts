/**
 * How often the daemon reads its periodic sources, and what it may skip: a
 * pure function of the state, so that an idle daemon wakes once per
 * heartbeat and a daemon in trouble reads every second.
 *
 * @module
 */

/** How often counters, memory and pressure are read while memory is tight. */
export const TIGHT_INTERVAL_MS = 1_000;
/** MemAvailable below this share of MemTotal counts as tight. */
export const TIGHT_AVAILABLE_SHARE = 0.1;

/** What the cadence depends on. */
export interface CadenceState {
  nowMs: number;
  heartbeatSeconds: number;
  /** An episode goes on: a stall is a level that must be seen while it lasts. */
  inEpisode: boolean;
  /** Idle: the reserve armed (or none configured), nothing pending. */
  idle: boolean;
  /** The kernel wakes the daemon for stalls (a PSI trigger is armed). */
  triggerArmed: boolean;
  /** The memory-stall signal is on (`psi_full` > 0 and PSI readable). */
  stallSignalOn: boolean;
  /** The thrash signal is on (`thrash_io_full` > 0 and its figures readable). */
  thrashSignalOn: boolean;
  /** The kernel log tells of every kill as it happens. */
  kernelLogReadable: boolean;
  /** Until when a fired trigger keeps the reads tight (monotonic ms). */
  tightUntilMs: number;
  /** The last MemAvailable and MemTotal, when read. */
  memory: { memAvailable: number; memTotal: number } | null;
  /** The last stalled share measured (percent), when measured. */
  lastShare: number | null;
  /** A counted kill waits for its log line. */
  killPending: boolean;
}

/** When to read next and what. */
export interface Cadence {
  /** From one periodic read to the next. */
  intervalMs: number;
  /**
   * Whether a periodic read includes memory and pressure. When the kernel
   * log reports kills and a PSI trigger reports stalls, an idle heartbeat
   * needs only the `oom_kill` backstop.
   */
  readMemory: boolean;
}

/**
 * The cadence for `state`: every second during an episode, after a trigger
 * fired, while a counted kill waits for its log line, and — without a
 * trigger — while memory is short or a stall is being measured; otherwise
 * every heartbeat.
 *
 * @example
 * ```ts
 * readCadence({ ...state, inEpisode: true }).intervalMs; // 1000
 * ```
 */
export function readCadence(state: CadenceState): Cadence {
  const triggerTight = state.nowMs < state.tightUntilMs;
  const memoryShort = state.memory !== null &&
    state.memory.memAvailable <
      state.memory.memTotal * TIGHT_AVAILABLE_SHARE;
  // No trigger watches a thrash (core/thrash.ts): it needs memory short, so
  // memory is read every heartbeat and every second while it is short.
  const measuring = (!state.triggerArmed && state.stallSignalOn &&
    (memoryShort || (state.lastShare ?? 0) > 0)) ||
    (state.thrashSignalOn && memoryShort);
  const tight = state.inEpisode || triggerTight || state.killPending ||
    measuring;
  const quiet = state.kernelLogReadable && state.triggerArmed &&
    !state.thrashSignalOn && !triggerTight && state.idle;
  return {
    intervalMs: tight ? TIGHT_INTERVAL_MS : state.heartbeatSeconds * 1000,
    readMemory: !quiet,
  };
}

/**
 * Whether the daemon waits on its own thread (a blocking poll) rather than
 * on a worker thread whose wake is handed to the event loop: only where the
 * tracepoint wakes it — the hand-over costs 0.2–0.4 ms p50 and ~2 ms when
 * the worker lands on the CPU printing the OOM report, against a wake of
 * 0.1–0.3 ms — and while nothing needs the event loop during the wait (an
 * --exec-on-oom command's timeout and end). Blocked there, no timer or
 * promise runs; a signal ends the wait (EINTR, or the event loop's own
 * descriptors turning readable: shell/event_loop.ts), and the wait goes on
 * where the loop can run its listener.
 */
export function waitsOnOwnThread(
  state: { tracepointWakes: boolean; hooksRunning: number },
): boolean {
  return state.tracepointWakes && state.hooksRunning === 0;
}
