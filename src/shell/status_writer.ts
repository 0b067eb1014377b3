/**
 * Writes what the daemon reports about itself: the status file (atomically,
 * after every wake) and, when asked for, the Prometheus metrics file. A
 * metrics file that cannot be written is a problem `check` reports; a status
 * file that cannot be written shows as a stale heartbeat.
 *
 * @module
 */

import { type Config, configRecord } from "../core/config.ts";
import type { DetectorCounters } from "../core/detector.ts";
import { describeError } from "../core/errors.ts";
import { formatMetrics } from "../core/metrics.ts";
import type { Problem } from "../core/problems.ts";
import {
  type DaemonStatus,
  episodeStatus,
  type KillSource,
  type State,
  type WatchdogDeviceStatus,
} from "../core/status.ts";
import { isoTimestamp } from "../core/time.ts";
import type { Watchdog } from "../core/watchdog.ts";
import { VERSION } from "../version.ts";
import type { Logger, ProblemLog } from "./log.ts";
import { writeFileAtomic } from "./safe_file.ts";

/** What the status is made of, gathered by the daemon. */
export interface StatusInputs {
  config: Config;
  state: State;
  startedAt: string;
  bootId: string;
  reserveBytes: number;
  watchdog: Watchdog;
  detector: Readonly<DetectorCounters>;
  kernelLogLost: number;
  killSource: KillSource;
  watchdogDevice: WatchdogDeviceStatus | null;
  sources: string[];
  problems: Problem[];
  lastLatencyMs: number | null;
  /** Monotonic milliseconds, the watchdog's clock. */
  nowMs: number;
  wallClockOf: (monotonicMs: number) => string;
}

/** The status file's content for `inputs`. */
export function statusOf(inputs: StatusInputs): DaemonStatus {
  const { config, watchdog } = inputs;
  const episode = watchdog.episode;
  const now = Date.now();
  return {
    pid: Deno.pid,
    version: VERSION,
    startedAt: inputs.startedAt,
    bootId: inputs.bootId,
    config: configRecord(config),
    state: inputs.state,
    reserve: {
      configuredBytes: config.bufsize * 1024 * 1024,
      heldBytes: inputs.reserveBytes,
      backing: config.reserveBacking,
    },
    episode: episode &&
      episodeStatus(
        episode,
        config.gracetime,
        inputs.nowMs,
        inputs.wallClockOf,
      ),
    counters: {
      ...inputs.detector,
      ...watchdog.counters,
      kernelLogLost: inputs.kernelLogLost,
    },
    killSource: inputs.killSource,
    watchdogDevice: inputs.watchdogDevice,
    sources: inputs.sources,
    problems: inputs.problems,
    lastReactionLatencyMs: inputs.lastLatencyMs,
    heartbeatSeconds: config.heartbeat,
    heartbeatAt: isoTimestamp(now),
    heartbeatEpochMs: now,
  };
}

export class StatusWriter {
  readonly #log: Logger;
  readonly #problems: ProblemLog;
  #statusFailureSaid = false;

  constructor(log: Logger, problems: ProblemLog) {
    this.#log = log;
    this.#problems = problems;
  }

  /** Writes `status` to `statusFile`, and the metrics to `metricsFile` ("" for none). */
  write(status: DaemonStatus, statusFile: string, metricsFile: string): void {
    if (metricsFile !== "") {
      try {
        // /run and textfile directories: atomic is enough, no fsync per wake.
        writeFileAtomic(metricsFile, formatMetrics(status), { durable: false });
        this.#problems.cure(
          "metrics",
          `the metrics file ${metricsFile} is written again`,
        );
      } catch (error) {
        this.#problems.report(
          "metrics",
          "warning",
          `cannot write the metrics file ${metricsFile}: ${
            describeError(error)
          }; check that its directory exists and is writable`,
        );
      }
    }
    try {
      writeFileAtomic(statusFile, `${JSON.stringify(status, null, 2)}\n`, {
        durable: false,
      });
      this.#statusFailureSaid = false;
    } catch (error) {
      if (this.#statusFailureSaid) return;
      this.#statusFailureSaid = true;
      this.#log.warn(
        `cannot write the status file ${statusFile}: ${
          describeError(error)
        }; oomwatch check will report the daemon as stale`,
      );
    }
  }
}
