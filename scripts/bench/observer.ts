// The loop is synchronous on purpose: an await between two readings would add
// the event loop's delay to what is measured.
/**
 * The outside observer of `deno task bench`: it does not trust the daemon.
 * It re-reads one figure every 200 µs and prints `<CLOCK_MONOTONIC µs>
 * <bytes>` each time the figure changes, until it is killed. The bench runs
 * one per CPU, pinned (`taskset`) and SCHED_FIFO (`chrt`), so that one of
 * them is never on the CPU that is busy printing the OOM report, and takes
 * the earliest.
 *
 * - `vmlck PID`: `VmLck` of /proc/PID/status (the locked reserve). It drops
 *   when munmap starts, before the pages are freed (mm->locked_vm), so it can
 *   see a release a little early, never late.
 * - `used DIR`: the bytes used on the filesystem at DIR (statvfs: the tmpfs
 *   reserve). It drops when ftruncate frees the pages.
 *
 * @module
 */

import {
  filesystemState,
  monotonicMicros,
  sleepMicros,
} from "../../ffi/libc.ts";

const [kind, target] = Deno.args;

function reader(): () => number {
  if (kind === "vmlck") {
    const file = Deno.openSync(`/proc/${target}/status`);
    const buffer = new Uint8Array(4096);
    const decoder = new TextDecoder();
    return () => {
      file.seekSync(0, Deno.SeekMode.Start);
      const length = file.readSync(buffer) ?? 0;
      const text = decoder.decode(buffer.subarray(0, length));
      const match = /VmLck:\s+(\d+) kB/.exec(text);
      return match ? Number(match[1]) * 1024 : -1;
    };
  }
  if (kind === "used") {
    return () => {
      const state = filesystemState(target);
      return Number(state.totalBytes - state.availableBytes);
    };
  }
  throw new Error(`usage: observer.ts vmlck PID | used DIR (got ${kind})`);
}

const read = reader();
let last = Number.NaN;
const encoder = new TextEncoder();
while (true) {
  let value: number;
  try {
    value = read();
  } catch {
    break; // the process or the mount is gone
  }
  if (value !== last) {
    Deno.stdout.writeSync(encoder.encode(`${monotonicMicros()} ${value}\n`));
    last = value;
  }
  sleepMicros(200);
}
