/**
 * Perf ring contents as the kernel writes them, for tests and the fuzzer:
 * PERF_RECORD_SAMPLE records of oom:mark_victim (TIME|RAW) laid out per a
 * tracefs format, and PERF_RECORD_LOST records.
 *
 * @module
 */

import type { EventFormat } from "../../src/core/tracepoint.ts";

const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;

/** The raw record of a mark_victim hit: `pid` and, where the format has it, `comm`. */
function rawRecord(
  format: EventFormat,
  pid: number,
  comm: Uint8Array,
): Uint8Array {
  const pidField = format.fields.get("pid");
  if (!pidField) throw new Error("format without pid");
  const commField = format.fields.get("comm");
  let end = pidField.offset + 4;
  for (const field of format.fields.values()) {
    end = Math.max(end, field.offset + field.size);
  }
  const commAt = end;
  const raw = new Uint8Array(end + (commField?.dataLoc ? comm.length + 1 : 0));
  const view = new DataView(raw.buffer);
  view.setInt32(pidField.offset, pid, true);
  if (commField?.dataLoc) {
    view.setUint32(commField.offset, ((comm.length + 1) << 16) | commAt, true);
    raw.set(comm, commAt);
  } else if (commField) {
    raw.set(comm.subarray(0, commField.size - 1), commField.offset);
  }
  return raw;
}

/** A PERF_RECORD_SAMPLE of mark_victim with TIME|RAW, and CALLCHAIN when `callchain` is given. */
export function sampleRecord(
  format: EventFormat,
  pid: number,
  comm: Uint8Array,
  timeNanos: bigint,
  callchain?: readonly bigint[],
): Uint8Array {
  const raw = rawRecord(format, pid, comm);
  const chainBytes = callchain ? 8 + 8 * callchain.length : 0;
  const rawAt = 16 + chainBytes + 4;
  // The kernel pads the raw part so that the record stays 8-byte aligned.
  const size = Math.ceil((rawAt + raw.length) / 8) * 8;
  const record = new Uint8Array(size);
  const view = new DataView(record.buffer);
  view.setUint32(0, PERF_RECORD_SAMPLE, true);
  view.setUint16(6, size, true);
  view.setBigUint64(8, timeNanos, true);
  if (callchain) {
    view.setBigUint64(16, BigInt(callchain.length), true);
    callchain.forEach((ip, i) => view.setBigUint64(24 + 8 * i, ip, true));
  }
  view.setUint32(rawAt - 4, size - rawAt, true);
  record.set(raw, rawAt);
  return record;
}

/** A PERF_RECORD_LOST of `count` records. */
export function lostRecord(count: bigint): Uint8Array {
  const record = new Uint8Array(24);
  const view = new DataView(record.buffer);
  view.setUint32(0, PERF_RECORD_LOST, true);
  view.setUint16(6, 24, true);
  view.setBigUint64(8, 1n, true); // id
  view.setBigUint64(16, count, true);
  return record;
}

/** Records one after another, as a drained ring hands them over. */
export { concatBytes as ring } from "../fuzz/_harness.ts";
