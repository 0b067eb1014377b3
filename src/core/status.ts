/**
 * The daemon's status, as it writes it to the status file and as `check`
 * and `status` read it back. Pure: text in, data out.
 *
 * @module
 */

import type { Episode, Phase } from "./watchdog.ts";

/** The episode going on, as the status file shows it. */
export interface EpisodeStatus {
  number: number;
  startedAt: string;
  trigger: string;
  detail: string;
  lastSignalAt: string;
  signals: number;
  /** Seconds left before the panic action, or null when none is due. */
  countdownSeconds: number | null;
  panicked: boolean;
}

/**
 * The status of `episode` at `nowMs` (the watchdog's monotonic clock);
 * `wallClock` turns that clock's instants into the ISO times people read.
 */
export function episodeStatus(
  episode: Readonly<Episode>,
  gracetimeSeconds: number,
  nowMs: number,
  wallClock: (monotonicMs: number) => string,
): EpisodeStatus {
  const panicDueMs = episode.startedAtMs + gracetimeSeconds * 1000;
  return {
    number: episode.number,
    startedAt: wallClock(episode.startedAtMs),
    trigger: episode.trigger.kind,
    detail: episode.trigger.detail,
    lastSignalAt: wallClock(episode.lastSignalAtMs),
    signals: episode.signals,
    countdownSeconds: gracetimeSeconds > 0 && !episode.panicked
      ? Math.max(0, (panicDueMs - nowMs) / 1000)
      : null,
    panicked: episode.panicked,
  };
}

/** Everything the daemon reports about itself. */
export interface DaemonStatus {
  pid: number;
  version: string;
  startedAt: string;
  bootId: string;
  config: Record<string, string | number | boolean>;
  /** The watchdog's phase, or `stopped` once the daemon exited cleanly. */
  state: Phase | "stopped";
  reserve: { configuredBytes: number; heldBytes: number };
  episode: EpisodeStatus | null;
  counters: {
    globalOomKills: number;
    memcgOomKills: number;
    stalls: number;
    episodes: number;
    releases: number;
    rearmFailures: number;
    kernelLogLost: number;
  };
  lastReactionLatencyMs: number | null;
  heartbeatSeconds: number;
  heartbeatAt: string;
  heartbeatEpochMs: number;
}

const PHASES: readonly string[] = [
  "stopped",
  "armed",
  "episode",
  "recovering",
  "reserve-disabled",
];

/** Thrown when a status file is not one the daemon wrote. */
export class StatusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StatusError";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads a status file's text. Checks the fields a health check decides on
 * and throws {@link StatusError} naming the first that is missing or wrong.
 */
export function parseStatus(text: string): DaemonStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StatusError(
      `not JSON (${error instanceof Error ? error.message : error})`,
    );
  }
  if (!isRecord(value)) throw new StatusError("not a JSON object");
  const number = (
    key: string,
    from: Record<string, unknown> = value as Record<string, unknown>,
  ) => {
    const field = from[key];
    if (typeof field !== "number" || !Number.isFinite(field)) {
      throw new StatusError(`field '${key}' is missing or not a number`);
    }
    return field;
  };
  number("pid");
  number("heartbeatSeconds");
  number("heartbeatEpochMs");
  if (typeof value.state !== "string" || !PHASES.includes(value.state)) {
    throw new StatusError(
      `field 'state' is '${value.state}', not a known state`,
    );
  }
  if (!isRecord(value.reserve)) {
    throw new StatusError("field 'reserve' is missing");
  }
  number("configuredBytes", value.reserve);
  number("heldBytes", value.reserve);
  if (!isRecord(value.counters)) {
    throw new StatusError("field 'counters' is missing");
  }
  if (value.episode !== null && !isRecord(value.episode)) {
    throw new StatusError("field 'episode' is neither null nor an object");
  }
  // The checks above cover every field the readers rely on.
  return value as unknown as DaemonStatus;
}

/** One locked mapping of a process, from `/proc/<pid>/smaps`. */
export interface LockedMapping {
  path: string;
  sizeBytes: number;
  lockedBytes: number;
}

/** The mappings of a smaps text that have locked pages. */
export function parseLockedMappings(text: string): LockedMapping[] {
  const mappings: LockedMapping[] = [];
  let current: LockedMapping | null = null;
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      if (current && current.lockedBytes > 0) mappings.push(current);
      current = { path: header[1], sizeBytes: 0, lockedBytes: 0 };
      continue;
    }
    const field = /^(Size|Locked):\s+(\d+) kB$/.exec(line);
    if (field && current) {
      if (field[1] === "Size") current.sizeBytes = Number(field[2]) * 1024;
      else current.lockedBytes = Number(field[2]) * 1024;
    }
  }
  if (current && current.lockedBytes > 0) mappings.push(current);
  return mappings;
}

/** Whether the reserve of `bytes` shows as a locked anonymous mapping. */
export function reserveIsLocked(
  mappings: readonly LockedMapping[],
  bytes: number,
): boolean {
  return mappings.some((mapping) =>
    mapping.path === "" && mapping.lockedBytes >= bytes
  );
}
