/**
 * The measuring probe of the thrash scenarios: an oomwatch-like Deno
 * process that locks its own code the way `--lock-code 1` does (mlock2 with
 * MLOCK_ONFAULT over its file-backed `r-xp`/`r--p` mappings, through the
 * project's own FFI binding and maps parser) and then, once a second,
 * writes one line to /dev/kmsg (the kernel stamps it):
 *
 *   probe: late=MS msome=% mfull=% isome=% ifull=% refault=/s restore=/s
 *     majflt=/s avail=KB span=S selfmaj=N raw=MS,MSOME,MFULL,ISOME,IFULL,
 *     REFAULT,RESTORE,MAJFLT,OOMKILL
 *
 * `late` is how much later than asked its 1 s timer fired; the shares are
 * of the last 10 s, from the PSI `total` counters (the way the daemon's
 * StallMeter computes them: from the oldest reading inside the window);
 * the rates are per second over the same span; `raw` holds the readings
 * themselves, for other windows offline.
 *
 * Bundled by the VM harness (`deno bundle`) and run from its own copy of
 * the Deno binary on the guest's ext4 root.
 *
 * @module
 */

import { lockOnFault } from "../../../ffi/libc.ts";
import { codeMappings, parseMaps } from "../../../src/core/maps.ts";

const WINDOW_MS = 10_000;
const kmsg = Deno.openSync("/dev/kmsg", { write: true });
const encoder = new TextEncoder();

function say(line: string): void {
  kmsg.writeSync(encoder.encode(`probe: ${line}\n`));
}

interface Reading {
  atMs: number;
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

function totals(path: string): [some: number, full: number] {
  const text = Deno.readTextFileSync(path);
  const total = (kind: string): number =>
    Number(new RegExp(`^${kind} .*total=(\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return [total("some"), total("full")];
}

function counter(text: string, key: string): number {
  return Number(new RegExp(`^${key}[: ]\\s*(\\d+)`, "m").exec(text)?.[1]);
}

function read(): Reading {
  const atMs = performance.now();
  const [memSome, memFull] = totals("/proc/pressure/memory");
  const [ioSome, ioFull] = totals("/proc/pressure/io");
  const vmstat = Deno.readTextFileSync("/proc/vmstat");
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  return {
    atMs,
    memSome,
    memFull,
    ioSome,
    ioFull,
    refault: counter(vmstat, "workingset_refault_file"),
    restore: counter(vmstat, "workingset_restore_file"),
    majflt: counter(vmstat, "pgmajfault"),
    oomKill: counter(vmstat, "oom_kill"),
    available: counter(meminfo, "MemAvailable"),
  };
}

function ownMajorFaults(): number {
  // Field 12 of /proc/self/stat; the name in parentheses may hold spaces.
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[9]);
}

function ownLocked(): string {
  const status = Deno.readTextFileSync("/proc/self/status");
  return /^VmLck:\s*(.*)$/m.exec(status)?.[1] ?? "?";
}

function lockCode(): void {
  const mappings = codeMappings(
    parseMaps(Deno.readTextFileSync("/proc/self/maps")),
  );
  let locked = 0;
  for (const mapping of mappings) {
    try {
      lockOnFault(mapping.start, mapping.end - mapping.start);
      locked += 1;
    } catch (error) {
      say(`lock of ${mapping.path} refused: ${error}`);
    }
  }
  say(`locked ${locked} of ${mappings.length} code mappings`);
}

const share = (micros: number, spanMs: number): string =>
  (Math.min(100, micros / 10 / spanMs)).toFixed(1);
const rate = (count: number, spanMs: number): string =>
  (count * 1000 / spanMs).toFixed(1);

function line(late: number, now: Reading, first: Reading): string {
  const span = now.atMs - first.atMs;
  const raw = [
    now.atMs.toFixed(0),
    now.memSome,
    now.memFull,
    now.ioSome,
    now.ioFull,
    now.refault,
    now.restore,
    now.majflt,
    now.oomKill,
  ].join(",");
  return [
    `late=${late.toFixed(0)}`,
    `msome=${share(now.memSome - first.memSome, span)}`,
    `mfull=${share(now.memFull - first.memFull, span)}`,
    `isome=${share(now.ioSome - first.ioSome, span)}`,
    `ifull=${share(now.ioFull - first.ioFull, span)}`,
    `refault=${rate(now.refault - first.refault, span)}`,
    `restore=${rate(now.restore - first.restore, span)}`,
    `majflt=${rate(now.majflt - first.majflt, span)}`,
    `avail=${now.available}`,
    `span=${(span / 1000).toFixed(1)}`,
    `selfmaj=${ownMajorFaults()}`,
    `raw=${raw}`,
  ].join(" ");
}

if (Deno.args.includes("--lock-code")) lockCode();
let readings: Reading[] = [read()];
let expected = performance.now() + 1000;
let ticks = 0;

function tick(): void {
  const late = performance.now() - expected;
  const now = read();
  const previous = readings.at(-1) as Reading;
  readings.push(now);
  readings = readings.filter((r) => now.atMs - r.atMs <= WINDOW_MS);
  // A tick later than the window: measure from the reading before it.
  if (readings.length === 1) readings.unshift(previous);
  say(line(late, now, readings[0]));
  ticks += 1;
  if (ticks % 30 === 0) say(`VmLck ${ownLocked()}`);
  expected = performance.now() + 1000;
  setTimeout(tick, 1000);
}

setTimeout(tick, 1000);
