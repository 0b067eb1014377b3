/**
 * The kernel's `oom:mark_victim` tracepoint through perf: one event per
 * online CPU (perf counts per CPU for "every task"), each with a ring of
 * 1 + 2^n pages the kernel writes samples into. A ring is drained up to
 * `data_head` on every wake and `data_tail` published (readiness is told
 * once per wakeup, not for data left unread); a ring that overflowed keeps
 * what fits and reports PERF_RECORD_LOST with a count at its next write.
 * CPUs that come online later are not covered (the kernel log still is).
 *
 * @module
 */

import {
  closeFd,
  LibcError,
  type Mapping,
  mapShared,
  perfEventOpen,
  unmap,
} from "../../ffi/libc.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import {
  KallsymsScanner,
  type OomSymbols,
  scopeOfCallchain,
} from "../core/kernel_symbols.ts";
import {
  type EventFormat,
  parseCpuList,
  parseEventFormat,
  parseRingRecords,
  type PerfRecord,
  type SampleLayout,
  tracepointAttr,
} from "../core/tracepoint.ts";
import { readRegularFile, scanRegularFile } from "./safe_file.ts";

const PAGE = 4096;
/**
 * Data pages per ring (a power of two): ~60 samples per CPU (96 bytes, plus
 * ~20 frames of callchain).
 * The daemon drains every ring at each wake, so only a daemon that is
 * stopped or starved for a storm of kills on one CPU overflows it — and
 * the kernel then counts what it dropped (PERF_RECORD_LOST), while the
 * `oom_kill` counter still counts every kill. Small, because each ring is
 * locked memory charged to perf_event_mlock_kb (516 KiB per user), and
 * there is one per CPU.
 */
const DATA_PAGES = 4;
/** /proc/kallsyms is ~5 MiB with 120k symbols on 6.18; modules add more. */
const KALLSYMS_MAX_BYTES = 64 * 1024 * 1024;

/** Why the tracepoint cannot be used here, for the one log line that says so. */
export class TracepointRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TracepointRefused";
  }
}

interface Ring {
  cpu: number;
  fd: number;
  mapping: Mapping;
  /** The control page as u64 words: [128] data_head, [129] data_tail. */
  control: BigUint64Array;
  data: Uint8Array;
}

function eventFormat(
  machine: Machine,
): { format: EventFormat; tracefs: string } {
  const tried: string[] = [];
  for (const tracefs of machine.tracefs) {
    const event = `${tracefs}/events/oom/mark_victim`;
    try {
      const format = parseEventFormat(
        readRegularFile(`${event}/id`),
        readRegularFile(`${event}/format`),
      );
      if (format) return { format, tracefs };
      tried.push(`${event}/format has no 4-byte pid field`);
    } catch (error) {
      tried.push(`${event}: ${describeError(error)}`);
    }
  }
  throw new TracepointRefused(
    `no tracefs with events/oom/mark_victim (${
      tried.join("; ")
    }); mount it with 'mount -t tracefs nodev /sys/kernel/tracing' (systemd mounts it at boot on most distributions)`,
  );
}

/** The OOM paths' code from kallsyms, or why the callchain cannot classify. */
function oomSymbols(machine: Machine): OomSymbols | { missing: string } {
  const scanner = new KallsymsScanner();
  try {
    scanRegularFile(
      machine.kallsyms,
      KALLSYMS_MAX_BYTES,
      (piece) => scanner.feed(piece),
    );
  } catch (error) {
    return { missing: `${machine.kallsyms}: ${describeError(error)}` };
  }
  return scanner.result();
}

export class TracepointReader {
  readonly tracefs: string;
  /** The OOM paths' code, when the samples carry a callchain to find it in. */
  readonly symbols: OomSymbols | null;
  /** Why the samples carry no callchain (kills are then classified from the log), or null. */
  readonly noCallchain: string | null;
  readonly #layout: SampleLayout;
  readonly #rings: Ring[];

  private constructor(
    tracefs: string,
    symbols: OomSymbols | { missing: string },
    format: EventFormat,
    rings: Ring[],
  ) {
    this.tracefs = tracefs;
    this.symbols = "missing" in symbols ? null : symbols;
    this.noCallchain = "missing" in symbols ? symbols.missing : null;
    this.#layout = { format, callchain: this.symbols !== null };
    this.#rings = rings;
  }

  /**
   * Opens the event on every online CPU, with the kernel callchain where
   * kallsyms shows the OOM paths. Throws {@link TracepointRefused}.
   */
  static open(machine: Machine): TracepointReader {
    const { format, tracefs } = eventFormat(machine);
    const symbols = oomSymbols(machine);
    let cpus: number[] | null = null;
    try {
      cpus = parseCpuList(readRegularFile(machine.cpusOnline));
    } catch (error) {
      throw new TracepointRefused(
        `cannot read ${machine.cpusOnline}: ${describeError(error)}`,
      );
    }
    if (cpus === null) {
      throw new TracepointRefused(`${machine.cpusOnline} is not a CPU list`);
    }
    const attr = tracepointAttr(format.id, !("missing" in symbols));
    const rings: Ring[] = [];
    try {
      for (const cpu of cpus) {
        const fd = perfEventOpen(attr, cpu);
        try {
          const bytes = (1 + DATA_PAGES) * PAGE;
          const { mapping, memory } = mapShared(fd, bytes);
          rings.push({
            cpu,
            fd,
            mapping,
            control: new BigUint64Array(memory, 0, PAGE / 8),
            data: new Uint8Array(memory, PAGE, DATA_PAGES * PAGE),
          });
        } catch (error) {
          closeFd(fd);
          throw error;
        }
      }
    } catch (error) {
      for (const ring of rings) TracepointReader.#close(ring);
      const refused = error instanceof LibcError &&
        (error.code === "EACCES" || error.code === "EPERM");
      throw new TracepointRefused(
        refused
          ? `perf refused the tracepoint (${error.code}): it needs CAP_PERFMON (or CAP_SYS_ADMIN on kernels before 5.8), and kernel.perf_event_paranoid may forbid it`
          : `opening the tracepoint failed: ${describeError(error)}`,
      );
    }
    return new TracepointReader(tracefs, symbols, format, rings);
  }

  /** The event's descriptors, one per CPU, to poll for POLLIN. */
  get fds(): number[] {
    return this.#rings.map((ring) => ring.fd);
  }

  get cpus(): number {
    return this.#rings.length;
  }

  /**
   * Whether a ring holds records not yet drained: two loads per ring, no
   * system call. A wake by another fd (the kernel log's summary of the kill
   * is stored before `mark_victim` fires) may come before the tracepoint's
   * own readiness is in the poll's answer, but after its record is in the
   * ring.
   */
  pending(): boolean {
    return this.#rings.some((ring) =>
      Atomics.load(ring.control, 128) !== ring.control[129]
    );
  }

  /** Every record written since the last drain, ring by ring. */
  drain(): PerfRecord[] {
    const records: PerfRecord[] = [];
    for (const ring of this.#rings) {
      // The kernel publishes data_head after the data (smp_store_release,
      // kernel/events/ring_buffer.c) and reuses the space once data_tail
      // passes it: data_head is loaded before the data, data_tail stored
      // after the copy. Atomics ask for that order (sequentially consistent),
      // which the perf_event_open(2) ABI needs on every architecture (x86's TSO
      // gives it to plain loads too; arm64's does not).
      const head = Atomics.load(ring.control, 128);
      const tail = ring.control[129];
      if (head === tail) continue;
      const size = BigInt(ring.data.length);
      const length = Number(head - tail);
      if (length < 0 || length > ring.data.length) {
        // a ring we cannot make sense of: skip it all
        Atomics.store(ring.control, 129, head);
        continue;
      }
      const start = Number(tail % size);
      const bytes = new Uint8Array(length);
      const first = Math.min(length, ring.data.length - start);
      bytes.set(ring.data.subarray(start, start + first), 0);
      if (first < length) {
        bytes.set(ring.data.subarray(0, length - first), first);
      }
      Atomics.store(ring.control, 129, head);
      records.push(...parseRingRecords(bytes, this.#layout));
    }
    return records;
  }

  /**
   * Parses a made-up sample of this layout `rounds` times, so that the
   * first real wake after a quiet spell does not pay for compiling the
   * parser (~0.2–0.9 ms cold, measured: /work/labs/perf/RESULTS.md §1).
   */
  warmUp(rounds = 100): void {
    const { format, callchain } = this.#layout;
    const pid = format.fields.get("pid");
    if (!pid) return;
    const frames = callchain ? 1 : 0;
    const rawSize = pid.offset + 4;
    const size =
      Math.ceil((16 + (callchain ? 8 + 8 * frames : 0) + 4 + rawSize) / 8) * 8;
    const bytes = new Uint8Array(size);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 9, true); // PERF_RECORD_SAMPLE
    view.setUint16(6, size, true);
    let at = 16;
    if (callchain) {
      view.setBigUint64(at, BigInt(frames), true);
      at += 8 + 8 * frames;
    }
    view.setUint32(at, rawSize, true);
    const symbols = this.symbols;
    for (let i = 0; i < rounds; i++) {
      for (const record of parseRingRecords(bytes, this.#layout)) {
        if (symbols && record.kind === "victim" && record.callchain) {
          scopeOfCallchain(record.callchain, symbols);
        }
      }
    }
  }

  static #close(ring: Ring): void {
    unmap(ring.mapping);
    closeFd(ring.fd);
  }

  close(): void {
    for (const ring of this.#rings) TracepointReader.#close(ring);
  }
}
