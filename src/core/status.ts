/**
 * The daemon's status, as it writes it to the status file and as `check`
 * and `status` read it back. Pure: text in, data out. A status file is
 * validated whole when read: anyone who can write it can put anything in
 * it, and a reader must say UNKNOWN, never crash.
 *
 * @module
 */

import { type Problem, PROBLEM_IDS } from "./problems.ts";
import { type Episode, type Phase, PHASES } from "./episode.ts";

/** The daemon's states: the watchdog's phases, and `stopped` after a clean exit. */
export const STATES = ["stopped", ...PHASES] as const;
export type State = Phase | "stopped";

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
  panicFailures: number;
  panicError: string | null;
  /** Why the reboot-loop guard held the panic action back, or null. */
  panicSuppressed: string | null;
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
    panicFailures: episode.panicFailures,
    panicError: episode.panicError,
    panicSuppressed: episode.panicSuppressed,
  };
}

/** Everything the daemon reports about itself. */
/**
 * The witnesses of an OOM kill, fastest first: the oom:mark_victim
 * tracepoint, the kernel log, and the `oom_kill` counter alone (read at
 * each heartbeat) when neither can be read.
 */
export const KILL_SOURCES = [
  "tracepoint",
  "kernel log",
  "oom_kill counter",
] as const;
export type KillSource = typeof KILL_SOURCES[number];

/** The watchdog device the daemon keeps (`--watchdog-device`). */
export interface WatchdogDeviceStatus {
  path: string;
  identity: string;
  /** What the driver really set. */
  timeoutSeconds: number;
  /** False once petting stopped for good (the panic did not take the machine down). */
  petting: boolean;
  lastPetAt: string | null;
}

export interface DaemonStatus {
  pid: number;
  version: string;
  startedAt: string;
  bootId: string;
  config: Record<string, string>;
  state: State;
  reserve: {
    configuredBytes: number;
    heldBytes: number;
    /** `locked` (an mlocked mapping) or `tmpfs` (a file on the reserve's tmpfs). */
    backing: "locked" | "tmpfs";
  };
  episode: EpisodeStatus | null;
  counters: {
    globalOomKills: number;
    memcgOomKills: number;
    stalls: number;
    /** Thrash signals (I/O stall, major faults, memory short: core/thrash.ts). */
    thrashes: number;
    episodes: number;
    releases: number;
    rearmFailures: number;
    kernelLogLost: number;
    /** Tracepoint records perf could not keep (a stopped or starved daemon). */
    tracepointLost: number;
  };
  /** The fastest witness of OOM kills in use (see {@link KILL_SOURCES}). */
  killSource: KillSource;
  /** The watchdog device kept, or null (none configured, or it could not be opened). */
  watchdogDevice: WatchdogDeviceStatus | null;
  /** What the daemon waits on: `kernel log`, `PSI trigger`, `oom_kill counter`, … */
  sources: string[];
  problems: Problem[];
  lastReactionLatencyMs: number | null;
  heartbeatSeconds: number;
  heartbeatAt: string;
  heartbeatEpochMs: number;
}

/** Thrown when a status file is not one the daemon wrote. */
export class StatusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StatusError";
  }
}

/** Typed reads of one JSON object's fields, each checked. */
class Fields {
  readonly #value: Record<string, unknown>;
  readonly #path: string;

  constructor(value: unknown, path: string) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new StatusError(
        `${
          path === "" ? "the status" : `field '${path}'`
        } is not a JSON object`,
      );
    }
    this.#value = Object.fromEntries(Object.entries(value));
    this.#path = path;
  }

  #name(key: string): string {
    return this.#path === "" ? `'${key}'` : `'${this.#path}.${key}'`;
  }

  #wrong(key: string, what: string): StatusError {
    return new StatusError(
      `field ${this.#name(key)} is missing or not ${what}`,
    );
  }

  number(key: string): number {
    const value = this.#value[key];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw this.#wrong(key, "a number");
    }
    return value;
  }

  count(key: string): number {
    const value = this.number(key);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw this.#wrong(key, "a whole number");
    }
    return value;
  }

  positive(key: string): number {
    const value = this.count(key);
    if (value === 0) throw this.#wrong(key, "a positive whole number");
    return value;
  }

  string(key: string): string {
    const value = this.#value[key];
    if (typeof value !== "string") throw this.#wrong(key, "a string");
    return value;
  }

  boolean(key: string): boolean {
    const value = this.#value[key];
    if (typeof value !== "boolean") throw this.#wrong(key, "true or false");
    return value;
  }

  nullableNumber(key: string): number | null {
    return this.#value[key] === null ? null : this.number(key);
  }

  nullableString(key: string): string | null {
    return this.#value[key] === null ? null : this.string(key);
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const value = this.#value[key];
    const found = values.find((known) => known === value);
    if (found === undefined) {
      // Not String(value) for JSON objects and lists: {"toString": 1} has
      // no string form, and a deeply nested list overflows the stack.
      const shown = typeof value === "object" && value !== null
        ? "a JSON object or list"
        : `'${String(value)}'`;
      throw new StatusError(
        `field ${this.#name(key)} is ${shown}, not one of ${values.join(", ")}`,
      );
    }
    return found;
  }

  object(key: string): Fields {
    return new Fields(
      this.#value[key],
      this.#path ? `${this.#path}.${key}` : key,
    );
  }

  nullableObject(key: string): Fields | null {
    return this.#value[key] === null ? null : this.object(key);
  }

  list(key: string): Fields[] {
    const value = this.#value[key];
    if (!Array.isArray(value)) throw this.#wrong(key, "a list");
    return value.map((item, index) =>
      new Fields(item, `${this.#path ? `${this.#path}.` : ""}${key}[${index}]`)
    );
  }

  strings(key: string): string[] {
    const value = this.#value[key];
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      throw this.#wrong(key, "a list of strings");
    }
    return value.map(String);
  }

  /** An object of string values (the configuration). */
  stringRecord(key: string): Record<string, string> {
    const fields = this.object(key);
    const record: Record<string, string> = {};
    for (const name of Object.keys(fields.#value)) {
      record[name] = fields.string(name);
    }
    return record;
  }
}

function episodeOf(fields: Fields): EpisodeStatus {
  return {
    number: fields.count("number"),
    startedAt: fields.string("startedAt"),
    trigger: fields.string("trigger"),
    detail: fields.string("detail"),
    lastSignalAt: fields.string("lastSignalAt"),
    signals: fields.count("signals"),
    countdownSeconds: fields.nullableNumber("countdownSeconds"),
    panicked: fields.boolean("panicked"),
    panicFailures: fields.count("panicFailures"),
    panicError: fields.nullableString("panicError"),
    panicSuppressed: fields.nullableString("panicSuppressed"),
  };
}

function problemOf(fields: Fields): Problem {
  return {
    id: fields.oneOf("id", PROBLEM_IDS),
    severity: fields.oneOf("severity", ["warning", "critical"] as const),
    message: fields.string("message"),
    sinceEpochMs: fields.number("sinceEpochMs"),
  };
}

/**
 * Reads a status file's text. Every field is checked; the first that is
 * missing or wrong is named in the {@link StatusError}.
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
  const fields = new Fields(value, "");
  const reserve = fields.object("reserve");
  const counters = fields.object("counters");
  const episode = fields.nullableObject("episode");
  const device = fields.nullableObject("watchdogDevice");
  return {
    pid: fields.positive("pid"),
    version: fields.string("version"),
    startedAt: fields.string("startedAt"),
    bootId: fields.string("bootId"),
    config: fields.stringRecord("config"),
    state: fields.oneOf("state", STATES),
    reserve: {
      configuredBytes: reserve.count("configuredBytes"),
      heldBytes: reserve.count("heldBytes"),
      backing: reserve.oneOf("backing", ["locked", "tmpfs"] as const),
    },
    episode: episode && episodeOf(episode),
    counters: {
      globalOomKills: counters.count("globalOomKills"),
      memcgOomKills: counters.count("memcgOomKills"),
      stalls: counters.count("stalls"),
      thrashes: counters.count("thrashes"),
      episodes: counters.count("episodes"),
      releases: counters.count("releases"),
      rearmFailures: counters.count("rearmFailures"),
      kernelLogLost: counters.count("kernelLogLost"),
      tracepointLost: counters.count("tracepointLost"),
    },
    killSource: fields.oneOf("killSource", KILL_SOURCES),
    watchdogDevice: device && {
      path: device.string("path"),
      identity: device.string("identity"),
      timeoutSeconds: device.positive("timeoutSeconds"),
      petting: device.boolean("petting"),
      lastPetAt: device.nullableString("lastPetAt"),
    },
    sources: fields.strings("sources"),
    problems: fields.list("problems").map(problemOf),
    lastReactionLatencyMs: fields.nullableNumber("lastReactionLatencyMs"),
    heartbeatSeconds: fields.positive("heartbeatSeconds"),
    heartbeatAt: fields.string("heartbeatAt"),
    heartbeatEpochMs: fields.number("heartbeatEpochMs"),
  };
}
