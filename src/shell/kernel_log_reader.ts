/**
 * Reads new records from the kernel log (`/dev/kmsg`) without blocking.
 *
 * Opened at its end: only what the kernel logs after the daemon started
 * matters. Each read(2) of /dev/kmsg returns one record; EAGAIN means none
 * is waiting. EPIPE means the ring buffer overwrote records before they were
 * read: they are counted as lost, and the next read continues with the
 * oldest record still there (the `oom_kill` counter covers the kills lost
 * with them).
 *
 * Tests give a regular file of records instead (one a line, continuation
 * lines indented, as /dev/kmsg prints them), read as it grows; it cannot be
 * polled, so the daemon reads it on every wake.
 *
 * @module
 */

import {
  closeFd,
  O,
  openPath,
  readNonBlocking,
  S_IF,
  seekToEnd,
  statFd,
} from "../../ffi/libc.ts";
import { type KernelRecord, parseKernelRecord } from "../core/kernel_log.ts";
import { describeFileType } from "./safe_file.ts";

// One record is at most ~1 KiB of text plus its dictionary; a smaller buffer
// makes read(2) fail with EINVAL.
const RECORD_BUFFER_BYTES = 16 * 1024;
// Bounds one drain so a log storm cannot starve the rest of the loop.
const MAX_RECORDS_PER_DRAIN = 4096;

/**
 * /dev/kmsg escapes every byte outside printable ASCII as `\xNN`, so a
 * record is ASCII: read it without a TextDecoder.
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
  /** Whether poll(2) can wait on it (the device; not a test's regular file). */
  readonly pollable: boolean;
  #buffer = new Uint8Array(RECORD_BUFFER_BYTES);
  /** A regular file's text after its last complete line. */
  #partial = "";
  /** Records the kernel overwrote before they could be read. */
  lost = 0;

  private constructor(fd: number, path: string, pollable: boolean) {
    this.fd = fd;
    this.path = path;
    this.pollable = pollable;
  }

  /**
   * Opens the log at its end. Throws a LibcError (EACCES, EPERM, ENOENT) or
   * an Error naming what stands at the path when it is neither the device
   * nor a regular file.
   */
  static open(path: string): KernelLogReader {
    const fd = openPath(path, O.RDONLY | O.NONBLOCK | O.NOFOLLOW | O.NOCTTY);
    try {
      const type = statFd(fd).type;
      if (type !== S_IF.CHR && type !== S_IF.REG) {
        throw new Error(
          `${path} is ${describeFileType(type)}, not the kernel log`,
        );
      }
      seekToEnd(fd);
      return new KernelLogReader(fd, path, type === S_IF.CHR);
    } catch (error) {
      closeFd(fd);
      throw error;
    }
  }

  /** Every record logged since the last drain, oldest first. */
  drain(): KernelRecord[] {
    return this.pollable ? this.#drainDevice() : this.#drainFile();
  }

  #drainDevice(): KernelRecord[] {
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

  #drainFile(): KernelRecord[] {
    let text = this.#partial;
    for (let reads = 0; reads < MAX_RECORDS_PER_DRAIN; reads++) {
      const result = readNonBlocking(this.fd, this.#buffer);
      if (result.kind === "error") throw result.error;
      if (result.kind === "again" || result.bytes === 0) break;
      text += asciiText(this.#buffer.subarray(0, result.bytes));
    }
    const end = text.lastIndexOf("\n");
    this.#partial = text.slice(end + 1);
    const records: KernelRecord[] = [];
    for (const line of text.slice(0, end + 1).split("\n")) {
      if (line === "" || line.startsWith(" ")) continue; // dictionary lines
      const record = parseKernelRecord(line);
      if (record) records.push(record);
    }
    return records;
  }

  close(): void {
    closeFd(this.fd);
  }
}
