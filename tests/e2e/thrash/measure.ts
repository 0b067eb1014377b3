/**
 * Reading a thrash-guest serial log: the kernel-stamped records of the
 * beaters (`beat a N`), the static monitor (`mon: …`), the probe
 * (`probe: …`) and the init's markers (`E2E: …`), and what they add up to:
 * heartbeat gaps, the candidate OOM signals second by second, and when a
 * rule over them would fire.
 *
 * @module
 */

import { untangle } from "../serial_log.ts";

/** One kernel console record: seconds since boot and its text. */
export interface KernelRecord {
  at: number;
  text: string;
}

/** The kernel's console records of a serial log, in order. */
export function kernelRecords(log: string): KernelRecord[] {
  const records: KernelRecord[] = [];
  for (const line of untangle(log).split("\n")) {
    const match = /^\[\s*(\d+\.\d{6})\] (.*)$/.exec(line);
    if (match) records.push({ at: Number(match[1]), text: match[2] });
  }
  return records;
}

/** The cumulative counters one reading gives (monitor or probe). */
export interface Counters {
  /** Seconds since boot, on the kernel's clock. */
  at: number;
  memSome: number;
  memFull: number;
  ioSome: number;
  ioFull: number;
  refault: number;
  restore: number;
  majflt: number;
  oomKill: number;
  available: number;
}

export interface MonitorSample extends Counters {
  cpuBusy: number;
  cpuIowait: number;
  cpuIdle: number;
}

const MONITOR =
  /^mon: up=([\d.]+) mem=[\d.-]+\/(\d+)\/[\d.-]+\/(\d+) io=[\d.-]+\/(\d+)\/[\d.-]+\/(\d+) refault=(\d+) restore=(\d+) majflt=(\d+) oom_kill=(\d+) avail=(\d+)(?: cpu=(\d+)\/(\d+)\/(\d+))?/;

/** The static monitor's once-a-second readings. */
export function monitorSamples(records: KernelRecord[]): MonitorSample[] {
  return records.flatMap(({ text }) => {
    const m = MONITOR.exec(text);
    if (!m) return [];
    const n = m.slice(1).map(Number);
    return [{
      at: n[0],
      memSome: n[1],
      memFull: n[2],
      ioSome: n[3],
      ioFull: n[4],
      refault: n[5],
      restore: n[6],
      majflt: n[7],
      oomKill: n[8],
      available: n[9],
      cpuBusy: n[10] ?? NaN,
      cpuIowait: n[11] ?? NaN,
      cpuIdle: n[12] ?? NaN,
    }];
  });
}

/** One second of the probe: its wake lateness and its raw readings. */
export interface ProbeSample extends Counters {
  /** How much later than asked its 1 s timer fired, in ms. */
  lateMs: number;
  /** Its own major faults since it started (its code is locked). */
  selfMajflt: number;
}

const PROBE =
  /^probe: late=(-?\d+) .* selfmaj=(\d+) raw=(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)$/;

/**
 * The probe's lines. `at` is the probe's own monotonic reading time moved
 * onto the kernel's clock by the smallest offset between the two (the line
 * written with the least delay), so a write to /dev/kmsg that had to wait
 * does not skew the windows.
 */
export function probeSamples(records: KernelRecord[]): ProbeSample[] {
  const parsed = records.flatMap(({ at, text }) => {
    const m = PROBE.exec(text);
    if (!m) return [];
    const n = m.slice(1).map(Number);
    return [{
      stamp: at,
      n,
      available: Number(/ avail=(\d+)/.exec(text)?.[1]),
    }];
  });
  const offset = Math.min(...parsed.map(({ stamp, n }) => stamp - n[2] / 1000));
  return parsed.map(({ n, available }) => ({
    at: n[2] / 1000 + offset,
    lateMs: n[0],
    selfMajflt: n[1],
    memSome: n[3],
    memFull: n[4],
    ioSome: n[5],
    ioFull: n[6],
    refault: n[7],
    restore: n[8],
    majflt: n[9],
    oomKill: n[10],
    available,
  }));
}

/** The candidate signals at one reading, each over the window before it. */
export interface Signals {
  at: number;
  /** PSI shares of the window, percent. */
  memSome: number;
  memFull: number;
  ioSome: number;
  ioFull: number;
  /** Per second over the window. */
  refault: number;
  restore: number;
  majflt: number;
  /** MemAvailable as a percentage of MemTotal, at the reading. */
  availablePct: number;
  /** The probe's wake lateness (ms) at this reading; NaN from the monitor. */
  lateMs: number;
  /** The window actually spanned, s. */
  span: number;
}

/**
 * Shares and rates over `windowSeconds` before each reading, measured from
 * the oldest reading inside the window (as the daemon's StallMeter does),
 * or from the one before when none is (a reading late by more than the
 * window).
 */
export function signals(
  samples: readonly (Counters & { lateMs?: number })[],
  memTotalKb: number,
  windowSeconds = 10,
): Signals[] {
  const out: Signals[] = [];
  let first = 0;
  for (let i = 1; i < samples.length; i++) {
    const now = samples[i];
    while (first < i - 1 && now.at - samples[first].at > windowSeconds) {
      first += 1;
    }
    const from = samples[first];
    const span = now.at - from.at;
    if (span <= 0) continue;
    const share = (micros: number): number =>
      Math.min(100, micros / 1e4 / span);
    out.push({
      at: now.at,
      memSome: share(now.memSome - from.memSome),
      memFull: share(now.memFull - from.memFull),
      ioSome: share(now.ioSome - from.ioSome),
      ioFull: share(now.ioFull - from.ioFull),
      refault: (now.refault - from.refault) / span,
      restore: (now.restore - from.restore) / span,
      majflt: (now.majflt - from.majflt) / span,
      availablePct: 100 * now.available / memTotalKb,
      lateMs: now.lateMs ?? NaN,
      span,
    });
  }
  return out;
}

/** Heartbeat stamps of each beater, by name. */
export function heartbeats(records: KernelRecord[]): Map<string, number[]> {
  const beats = new Map<string, number[]>();
  for (const { at, text } of records) {
    const m = /^beat (\w+) \d+/.exec(text);
    if (!m) continue;
    if (!beats.has(m[1])) beats.set(m[1], []);
    beats.get(m[1])!.push(at);
  }
  return beats;
}

export interface GapStats {
  beats: number;
  maxGap: number;
  /** Seconds of [from, to] that fell in gaps of at least `longGap`. */
  inLongGaps: number;
}

/**
 * The gaps between heartbeats over [from, to]: the last beat before `from`
 * opens the first gap and `to` closes the last one.
 */
export function gapStats(
  beats: readonly number[],
  from: number,
  to: number,
  longGap = 5,
): GapStats {
  const before = beats.filter((at) => at < from).at(-1);
  const inside = beats.filter((at) => at >= from && at <= to);
  const points = [before ?? from, ...inside, to];
  let maxGap = 0;
  let inLongGaps = 0;
  for (let i = 1; i < points.length; i++) {
    const gap = points[i] - points[i - 1];
    maxGap = Math.max(maxGap, gap);
    if (gap >= longGap) {
      inLongGaps += Math.min(points[i], to) - Math.max(points[i - 1], from);
    }
  }
  return { beats: inside.length, maxGap, inLongGaps };
}

/** Everything one boot of the thrash guest showed. */
export interface Run {
  scenario: string;
  memTotalKb: number;
  /** When the pin was complete (the thrash scenarios), else null. */
  pinnedAt: number | null;
  pinStartedAt: number | null;
  pinnedMiB: number | null;
  loadStartAt: number | null;
  loadEndAt: number | null;
  /** The last record of the boot. */
  endAt: number;
  beats: Map<string, number[]>;
  monitor: MonitorSample[];
  probe: ProbeSample[];
  records: KernelRecord[];
}

function firstAt(records: KernelRecord[], pattern: RegExp): number | null {
  return records.find(({ text }) => pattern.test(text))?.at ?? null;
}

export function parseRun(log: string): Run {
  const records = kernelRecords(log);
  const scenarioLine =
    records.find(({ text }) => /^E2E: scenario \S+ on the ext4 root/.test(text))
      ?.text ?? "";
  const pinned = records.find(({ text }) => /^E2E: pinned \d+ MiB,/.test(text));
  return {
    scenario: /^E2E: scenario (\S+)/.exec(scenarioLine)?.[1] ?? "?",
    memTotalKb: Number(/MemTotal:\s*(\d+) kB/.exec(scenarioLine)?.[1] ?? NaN),
    pinnedAt: pinned?.at ?? null,
    pinStartedAt: firstAt(records, /^E2E: pin start/),
    pinnedMiB: pinned ? Number(/pinned (\d+)/.exec(pinned.text)?.[1]) : null,
    loadStartAt: firstAt(records, /^E2E: load start/),
    loadEndAt: firstAt(records, /^E2E: load end/),
    endAt: records.at(-1)?.at ?? 0,
    beats: heartbeats(records),
    monitor: monitorSamples(records),
    probe: probeSamples(records),
    records,
  };
}

/** The period a run is judged over: the load, or the pin to the end. */
export function period(run: Run): [from: number, to: number] | null {
  if (run.loadStartAt !== null && run.loadEndAt !== null) {
    return [run.loadStartAt, run.loadEndAt];
  }
  if (run.pinnedAt !== null) {
    const over = firstAt(run.records, /^E2E: hold of \d+ s over/);
    const panic = firstAt(run.records, /^Kernel panic|^sysrq: Trigger a crash/);
    return [run.pinnedAt, over ?? panic ?? run.endAt];
  }
  return null;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function spread(values: readonly number[]): Spread | null {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return {
    min: sorted[0],
    median: sorted.length % 2
      ? sorted[mid]
      : (sorted[mid - 1] + sorted[mid]) / 2,
    max: sorted.at(-1)!,
  };
}

/** A candidate default signal: a predicate over one second's signals. */
export interface Rule {
  name: string;
  fires: (s: Signals) => boolean;
}

export interface Firing {
  /** Seconds after `from` of the first firing, or null. */
  first: number | null;
  /** Readings in the period that fired, of all. */
  fired: number;
  of: number;
  /**
   * Seconds after `from` at which a daemon with this rule and `gracetime`
   * would run its panic action: the first firing at or after the episode's
   * start plus gracetime less the 3 s a signal keeps the state present
   * (SIGNAL_HOLD_MS), no earlier than start plus gracetime; null if none.
   */
  panic: number | null;
}

export function firing(
  series: readonly Signals[],
  rule: Rule,
  from: number,
  to: number,
  gracetime = 30,
  holdSeconds = 3,
): Firing {
  const inside = series.filter(({ at }) => at >= from && at <= to);
  const fired = inside.filter(rule.fires);
  const start = fired[0]?.at;
  let panic: number | null = null;
  if (start !== undefined) {
    const later = fired.find(({ at }) => at >= start + gracetime - holdSeconds);
    if (later) panic = Math.max(later.at, start + gracetime) - from;
  }
  return {
    first: start === undefined ? null : start - from,
    fired: fired.length,
    of: inside.length,
    panic,
  };
}
