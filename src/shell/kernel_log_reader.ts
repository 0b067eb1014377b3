/**
 * Reads new records from the kernel log (`/dev/kmsg`) without blocking.
 *
 * Opened at its end: only what the kernel logs after the daemon started
 * matters. Each read(2) returns one record; EAGAIN means none is waiting.
 * EPIPE means the ring buffer overwrote records before they were read: they
 * are counted as lost, and the next read continues with the oldest record
 * still there (the `oom_kill` counter covers the kills lost with them).
 *
 * @module
 */

import {
  closeFd,
  openReadNonBlocking,
  readNonBlocking,
  seekToEnd,
} from "../../ffi/libc.ts";
import { type KernelRecord, parseKernelRecord } from "../core/kernel_log.ts";

export const KMSG_PATH = "/dev/kmsg";
// One record is at most ~1 KiB of text plus its dictionary; a smaller buffer
// makes read(2) fail with EINVAL.
const RECORD_BUFFER_BYTES = 16 * 1024;
// Bounds one drain so a log storm cannot starve the rest of the loop.
const MAX_RECORDS_PER_DRAIN = 4096;

/**
 * /dev/kmsg escapes every byte outside printable ASCII as `\xNN`, so a
 * record is ASCII: read it without a TextDecoder, whose set-up costs the idle
 * daemon 1 MB of RSS.
 */
function asciiText(bytes: Uint8Array): string {
  let text = "";
  for (let start = 0; start < bytes.length; start += 4096) {
    text += String.fromCharCode(...bytes.subarray(start, start + 4096));
  }
  return text;
}

export class KernelLogReader {
  readonly fd: number;
  readonly path: string;
  #buffer = new Uint8Array(RECORD_BUFFER_BYTES);
  /** Records the kernel overwrote before they could be read. */
  lost = 0;

  private constructor(fd: number, path: string) {
    this.fd = fd;
    this.path = path;
  }

  /** Opens the log at its end. Throws a LibcError (EACCES, EPERM, ENOENT). */
  static open(path = KMSG_PATH): KernelLogReader {
    const fd = openReadNonBlocking(path);
    try {
      seekToEnd(fd);
    } catch (error) {
      closeFd(fd);
      throw error;
    }
    return new KernelLogReader(fd, path);
  }

  /** Every record logged since the last drain, oldest first. */
  drain(): KernelRecord[] {
    const records: KernelRecord[] = [];
    while (records.length < MAX_RECORDS_PER_DRAIN) {
      const result = readNonBlocking(this.fd, this.#buffer);
      if (result.kind === "again") break;
      if (result.kind === "error") {
        if (result.error.code === "EPIPE") {
          this.lost += 1;
          continue;
        }
        throw result.error;
      }
      if (result.bytes === 0) break;
      const record = parseKernelRecord(
        asciiText(this.#buffer.subarray(0, result.bytes)),
      );
      if (record) records.push(record);
    }
    return records;
  }

  close(): void {
    closeFd(this.fd);
  }
}
