/**
 * The kernel's own OOM event, `oom:mark_victim` (include/trace/events/oom.h),
 * as perf delivers it: the layout of its fields (from tracefs'
 * `events/oom/mark_victim/format`), the perf_event_attr that samples it, and
 * the records of a perf ring. Pure: bytes and text in, data out.
 *
 * The event fires when the OOM killer marks its victim, before the kernel
 * prints the kill report (mm/oom_kill.c), on every kernel from 4.13; its
 * fields differ (6.1–6.8: `pid` only; 6.9 and late 6.1.y/6.6.y: also `comm`
 * and more), so offsets are always read from the format file.
 *
 * @module
 */

import { displayBytes } from "./text.ts";

/** Where a field lies in the raw record. */
export interface EventField {
  offset: number;
  size: number;
  /** `__data_loc`: the field holds `(length << 16) | offset` of the data. */
  dataLoc: boolean;
}

/** The id of the event and its fields by name. */
export interface EventFormat {
  id: number;
  fields: ReadonlyMap<string, EventField>;
}

/**
 * Parses a tracefs `format` file (`field:int pid; offset:8; size:4;
 * signed:1;` lines) and the event's `id`. Returns null when it lacks the
 * one field oomwatch needs, `pid`, or the id is not a number.
 *
 * @example
 * ```ts
 * parseEventFormat("12", "\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;\n")?.fields.get("pid");
 * // { offset: 8, size: 4, dataLoc: false }
 * ```
 */
export function parseEventFormat(
  idText: string,
  formatText: string,
): EventFormat | null {
  if (!/^\d{1,9}$/.test(idText.trim())) return null;
  const id = Number(idText.trim());
  const fields = new Map<string, EventField>();
  const line = /field:([^;\n]{1,200});\s*offset:(\d{1,5});\s*size:(\d{1,5});/g;
  for (const match of formatText.matchAll(line)) {
    const declaration = match[1].trim();
    const name = declaration.replace(/\[[^\]]*\]$/, "").split(/\s+/).at(-1);
    if (name === undefined || name === "") continue;
    fields.set(name, {
      offset: Number(match[2]),
      size: Number(match[3]),
      dataLoc: declaration.startsWith("__data_loc"),
    });
  }
  const pid = fields.get("pid");
  return pid && pid.size === 4 ? { id, fields } : null;
}

/**
 * The CPUs of a kernel CPU list (`/sys/devices/system/cpu/online`:
 * `0-3,5`), or null when it is not one.
 */
export function parseCpuList(text: string): number[] | null {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    const range = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (!range) return null;
    const first = Number(range[1]);
    const last = Number(range[2] ?? range[1]);
    if (last < first) return null;
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus.length > 0 ? cpus : null;
}

const PERF_TYPE_TRACEPOINT = 2;
const PERF_SAMPLE_TIME = 1n << 2n;
const PERF_SAMPLE_CALLCHAIN = 1n << 5n;
const PERF_SAMPLE_RAW = 1n << 10n;
/** attr.flags bits (include/uapi/linux/perf_event.h). */
const EXCLUDE_CALLCHAIN_USER = 1n << 22n;
const USE_CLOCKID = 1n << 25n;
/** Frames of kernel callchain kept: mark_oom_victim is ~12 below the fault. */
export const CALLCHAIN_FRAMES = 32;
const CLOCK_MONOTONIC = 1;
/** perf_event_attr as of PERF_ATTR_SIZE_VER7. */
export const PERF_ATTR_SIZE = 128;

/**
 * The perf_event_attr that samples tracepoint `id` on every hit, with its
 * time on CLOCK_MONOTONIC (the clock of the kernel log's stamps and of the
 * daemon) and its raw fields, waking the reader at each record; with
 * `callchain`, also the kernel's return addresses (user frames excluded),
 * which tell a global OOM from a memcg one (core/kernel_symbols.ts).
 */
export function tracepointAttr(id: number, callchain = false): Uint8Array {
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const view = new DataView(attr.buffer);
  view.setUint32(0, PERF_TYPE_TRACEPOINT, true);
  view.setUint32(4, PERF_ATTR_SIZE, true);
  view.setBigUint64(8, BigInt(id), true); // config: the event
  view.setBigUint64(16, 1n, true); // sample_period: every hit
  view.setBigUint64(
    24,
    PERF_SAMPLE_TIME | PERF_SAMPLE_RAW |
      (callchain ? PERF_SAMPLE_CALLCHAIN : 0n),
    true,
  );
  // Enabled at once, own clock.
  view.setBigUint64(
    40,
    USE_CLOCKID | (callchain ? EXCLUDE_CALLCHAIN_USER : 0n),
    true,
  );
  view.setUint32(48, 1, true); // wakeup_events
  view.setInt32(92, CLOCK_MONOTONIC, true);
  if (callchain) view.setUint16(108, CALLCHAIN_FRAMES, true); // sample_max_stack
  return attr;
}

/** How the samples of a ring are laid out: the event's fields, and whether a callchain precedes them. */
export interface SampleLayout {
  format: EventFormat;
  callchain: boolean;
}

/** What a perf ring holds. */
export type PerfRecord =
  /**
   * A victim marked: its pid, name (shown safely, when the kernel gives
   * it), time, and the kernel's return addresses when sampled.
   */
  | {
    kind: "victim";
    pid: number;
    name?: string;
    timeNanos: bigint;
    callchain?: bigint[];
  }
  /** Records the ring could not hold (a reader that was stopped). */
  | { kind: "lost"; count: number };

const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
const TASK_COMM_BYTES = 16;

function victimOf(
  view: DataView,
  bytes: Uint8Array,
  start: number,
  size: number,
  layout: SampleLayout,
): PerfRecord | null {
  // header 8, time 8, [callchain: nr 8, ips 8 × nr], raw size 4, raw record
  const end = start + size;
  if (start + 16 > end) return null;
  const timeNanos = view.getBigUint64(start + 8, true);
  let at = start + 16;
  let callchain: bigint[] | undefined;
  if (layout.callchain) {
    if (at + 8 > end) return null;
    const frames = view.getBigUint64(at, true);
    at += 8;
    if (frames > BigInt((end - at) / 8)) return null;
    callchain = [];
    for (let i = 0; i < Number(frames); i++) {
      callchain.push(view.getBigUint64(at, true));
      at += 8;
    }
  }
  if (at + 4 > end) return null;
  const rawSize = view.getUint32(at, true);
  const raw = at + 4;
  const rawEnd = Math.min(raw + rawSize, end);
  const format = layout.format;
  const pidField = format.fields.get("pid");
  if (!pidField || raw + pidField.offset + 4 > rawEnd) return null;
  const record: PerfRecord = {
    kind: "victim",
    pid: view.getInt32(raw + pidField.offset, true),
    timeNanos,
  };
  if (callchain) record.callchain = callchain;
  const comm = format.fields.get("comm");
  if (comm) {
    let from = raw + comm.offset;
    let length = comm.size;
    if (comm.dataLoc && from + 4 <= rawEnd) {
      const location = view.getUint32(from, true);
      from = raw + (location & 0xffff);
      length = location >>> 16;
    }
    const to = Math.min(from + Math.min(length, TASK_COMM_BYTES), rawEnd);
    if (from < to) {
      const name = bytes.subarray(from, to);
      const nul = name.indexOf(0);
      record.name = displayBytes(nul >= 0 ? name.subarray(0, nul) : name);
    }
  }
  return record;
}

/**
 * The records in `bytes`, the unread part of a ring copied out in order
 * (perf records are 8-byte aligned: `u32 type, u16 misc, u16 size`, then
 * the body). A record cut short or of no use here is skipped; a size that
 * cannot be right ends the parse.
 */
export function parseRingRecords(
  bytes: Uint8Array,
  layout: SampleLayout,
): PerfRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: PerfRecord[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const type = view.getUint32(at, true);
    const size = view.getUint16(at + 6, true);
    if (size < 8 || size % 8 !== 0 || at + size > bytes.length) break;
    if (type === PERF_RECORD_SAMPLE) {
      const victim = victimOf(view, bytes, at, size, layout);
      if (victim) records.push(victim);
    } else if (type === PERF_RECORD_LOST && size >= 24) {
      const count = view.getBigUint64(at + 16, true);
      records.push({
        kind: "lost",
        count: count > BigInt(Number.MAX_SAFE_INTEGER)
          ? Number.MAX_SAFE_INTEGER
          : Number(count),
      });
    }
    at += size;
  }
  return records;
}
