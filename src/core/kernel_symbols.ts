/**
 * Where the kernel's OOM paths lie in memory, from /proc/kallsyms, so that
 * the kernel callchain of an `oom:mark_victim` sample tells a global OOM
 * from a memcg OOM before a single kernel log record is read: the log's
 * `oom-kill:constraint=` record comes after the task dump (one line per
 * process), and is rate-limited (10 reports per 5 s, mm/oom_kill.c).
 *
 * The markers, as in mm/oom_kill.c, mm/memcontrol.c and mm/page_alloc.c
 * from 4.13 to 6.18:
 * - memcg: `mem_cgroup_out_of_memory`, which every memcg OOM kill goes
 *   through (from the charge path, or — kernels that defer a page fault's
 *   memcg OOM — from mem_cgroup_oom_synchronize at the fault's end);
 * - global: the page allocator giving up (`__alloc_pages_slowpath`, its
 *   `__alloc_pages_may_oom`), a page fault that found no memory
 *   (`pagefault_out_of_memory`), SysRq f (`moom_callback`).
 * A chain with neither marker (a symbol missing or inlined on some build)
 * says nothing: the kill is then judged from the kernel log, as without the
 * tracepoint. memcg wins when both appear (a memcg OOM finished at the end
 * of a page fault passes pagefault_out_of_memory too).
 *
 * Pure: bytes in, ranges out; the shell reads the file.
 *
 * @module
 */

import type { OomScope } from "./kernel_log.ts";

const MEMCG_MARKERS = ["mem_cgroup_out_of_memory"];
const GLOBAL_MARKERS = [
  "__alloc_pages_slowpath",
  "__alloc_pages_may_oom",
  "pagefault_out_of_memory",
  "moom_callback",
];
const MARKERS = new Set([...MEMCG_MARKERS, ...GLOBAL_MARKERS]);
/** Larger than any of these functions; a bigger span means a gap in the table. */
const MAX_FUNCTION_BYTES = 64 * 1024;

/** [start, end) of each marker's code (a function and its `.cold` parts). */
export interface OomSymbols {
  memcg: readonly (readonly [bigint, bigint])[];
  global: readonly (readonly [bigint, bigint])[];
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const DOT = 0x2e;
const encoder = new TextEncoder();
const MARKER_BYTES = [...MARKERS].map((name) => ({
  name,
  bytes: encoder.encode(name),
}));
/**
 * A marker name's first four bytes as one number: nearly every line is
 * rejected by them, without a loop over its name (~120k lines; under
 * `--jitless` each byte looked at is interpreted). Every marker is longer.
 */
function prefixOf(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3]) >>> 0;
}
const MARKER_PREFIXES = new Set(MARKER_BYTES.map((m) => prefixOf(m.bytes, 0)));
/** Longer than any kallsyms line (KSYM_NAME_LEN is 512): a longer one is noise. */
const MAX_LINE_BYTES = 1024;

function hexDigit(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

/**
 * Scans /proc/kallsyms fed in pieces of bytes (`address type name`, a
 * module's symbols with `\t[module]` after; vmlinux symbols first and
 * sorted by address): a marker's code ends where the next symbol starts.
 * It works on the bytes and makes a string of no line — the file is ~5 MiB
 * of 120k lines on 6.18, and strings of it all would grow the daemon's heap
 * by ~12 MiB for good (measured).
 */
export class KallsymsScanner {
  #partial: Uint8Array = new Uint8Array(0);
  #open: { base: string; start: bigint } | null = null;
  #hidden = false;
  readonly #ranges = new Map<string, [bigint, bigint][]>();

  /** The next piece of the file (which may be reused once this returns). */
  feed(piece: Uint8Array): void {
    let start = 0;
    if (this.#partial.length > 0) {
      // Only the line cut between two pieces is copied.
      const end = piece.indexOf(NEWLINE);
      const head = piece.subarray(0, end < 0 ? piece.length : end);
      const line = new Uint8Array(this.#partial.length + head.length);
      line.set(this.#partial, 0);
      line.set(head, this.#partial.length);
      if (end < 0) {
        this.#partial = line.length <= MAX_LINE_BYTES
          ? line
          : new Uint8Array(0); // a runaway line: not the kernel's
        return;
      }
      this.#partial = new Uint8Array(0);
      this.#line(line, 0, line.length);
      start = end + 1;
    }
    while (true) {
      const end = piece.indexOf(NEWLINE, start);
      if (end < 0) break;
      this.#line(piece, start, end);
      start = end + 1;
    }
    const rest = piece.length - start;
    this.#partial = rest <= MAX_LINE_BYTES
      ? piece.slice(start)
      : new Uint8Array(0); // a runaway line: not the kernel's
  }

  /** The marker named at `[from, to)`, or null. */
  #marker(bytes: Uint8Array, from: number, to: number): string | null {
    for (const marker of MARKER_BYTES) {
      if (marker.bytes.length !== to - from) continue;
      let same = true;
      for (let i = 0; i < marker.bytes.length && same; i++) {
        same = bytes[from + i] === marker.bytes[i];
      }
      if (same) return marker.name;
    }
    return null;
  }

  #line(bytes: Uint8Array, start: number, end: number): void {
    const space = bytes.indexOf(SPACE, start);
    if (space < 0 || space >= end || space === start || space - start > 16) {
      return;
    }
    const type = bytes[space + 1];
    const nameStart = space + 3;
    if (nameStart > end || bytes[space + 2] !== SPACE) return;
    if (
      this.#open === null &&
      (nameStart + 4 > end || !MARKER_PREFIXES.has(prefixOf(bytes, nameStart)))
    ) return;
    // The name's base: up to a `.` suffix (.cold, .constprop.0); a tab
    // means a module's symbol, which is not the kernel's OOM path.
    let baseEnd = nameStart;
    while (
      baseEnd < end && bytes[baseEnd] !== DOT && bytes[baseEnd] !== TAB &&
      bytes[baseEnd] !== SPACE
    ) baseEnd++;
    for (let at = baseEnd; at < end; at++) if (bytes[at] === TAB) return;
    if (baseEnd === nameStart) return;
    const marker = (type === 0x74 || type === 0x54) // t or T: text
      ? this.#marker(bytes, nameStart, baseEnd)
      : null;
    if (this.#open === null && marker === null) return;
    let address = 0n;
    for (let at = start; at < space; at++) {
      const digit = hexDigit(bytes[at]);
      if (digit < 0) return;
      address = address * 16n + BigInt(digit);
    }
    if (address === 0n) {
      this.#hidden = true; // kptr_restrict hides the addresses
      return;
    }
    const open = this.#open;
    if (open && address > open.start) {
      if (address - open.start <= BigInt(MAX_FUNCTION_BYTES)) {
        const list = this.#ranges.get(open.base) ?? [];
        list.push([open.start, address]);
        this.#ranges.set(open.base, list);
      }
      this.#open = null;
    }
    if (marker !== null) this.#open = { base: marker, start: address };
  }

  /**
   * The markers found, or why the callchain cannot classify here: both a
   * memcg marker and a global one are needed.
   */
  result(): OomSymbols | { missing: string } {
    if (this.#partial.length > 0) {
      this.#line(this.#partial, 0, this.#partial.length);
      this.#partial = new Uint8Array(0);
    }
    if (this.#hidden) {
      return {
        missing:
          "/proc/kallsyms shows no addresses (kernel.kptr_restrict hides them; 1 shows them to CAP_SYSLOG)",
      };
    }
    const of = (names: string[]) =>
      names.flatMap((name) => this.#ranges.get(name) ?? []);
    const memcg = of(MEMCG_MARKERS);
    const global = of(GLOBAL_MARKERS);
    if (memcg.length === 0 || global.length === 0) {
      return {
        missing: `/proc/kallsyms has no ${
          memcg.length === 0
            ? MEMCG_MARKERS.join(" or ")
            : GLOBAL_MARKERS.join(" or ")
        } (inlined on this build)`,
      };
    }
    return { memcg, global };
  }
}

/**
 * The scope a kernel callchain (return addresses, innermost first; perf's
 * context markers included) shows, or null when it shows neither.
 *
 * @example
 * ```ts
 * scopeOfCallchain([0x1010n], { memcg: [[0x1000n, 0x1100n]], global: [] }); // "memcg"
 * ```
 */
export function scopeOfCallchain(
  ips: readonly bigint[],
  symbols: OomSymbols,
): OomScope | null {
  const within = (ranges: OomSymbols["memcg"]) =>
    ips.some((ip) => ranges.some(([start, end]) => ip >= start && ip < end));
  if (within(symbols.memcg)) return "memcg";
  if (within(symbols.global)) return "global";
  return null;
}
