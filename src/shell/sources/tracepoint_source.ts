/**
 * The kernel's `oom:mark_victim` tracepoint as a source: it wakes the daemon
 * ~0.1–0.3 ms after the OOM killer marks its victim, where the kernel log's
 * reader waits for the kill report to be printed to the console and for the
 * next timer tick (~2–4 ms; README, Performance). It tells the victim's pid,
 * its name (Linux ≥ 6.2 and late stable kernels) and, through the kernel
 * callchain, the kill's scope; the kernel log tells the cgroup.
 *
 * The release comes first on such a wake — before the rest of the wake
 * reads the kernel log — when the core says the kill is an OOM signal
 * whatever the log will add (`releasesAtOnce`): every kill under
 * `memcg_oom` all (then before the rings are even parsed), a global kill by
 * its callchain otherwise.
 *
 * Where perf refuses (no CAP_PERFMON/CAP_SYS_ADMIN, perf_event_paranoid, no
 * tracefs, a container), the daemon says so once and wakes on the kernel
 * log as before. oomwatch does not mount tracefs itself: that changes the
 * machine's mount table for everyone (systemd mounts it at boot on most
 * distributions); the message says how.
 *
 * @module
 */

import { POLLIN } from "../../../ffi/libc.ts";
import type { OomScope } from "../../core/kernel_log.ts";
import { scopeOfCallchain } from "../../core/kernel_symbols.ts";
import type { Machine } from "../../core/machine.ts";
import type { PerfRecord } from "../../core/tracepoint.ts";
import type { Victim } from "../../core/witnesses.ts";
import { readMemoryCgroup } from "../procfs.ts";
import type { Logger } from "../log.ts";
import { TracepointReader, TracepointRefused } from "../tracepoint_reader.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

/**
 * Releases the reserve if the core says a kill of `scope` (null: not known
 * yet) is an OOM signal whatever the log adds; returns whether it did.
 */
export type ReleaseFirst = (scope: OomScope | null) => boolean;

export class TracepointSource implements Source {
  #reader: TracepointReader | null;
  readonly #releaseFirst: ReleaseFirst;
  readonly #proc: string;
  /** Records drained by {@link beforeRead}, for {@link read}. */
  #drained: PerfRecord[] = [];
  /** Victims' memory cgroups read on this wake, by pid (null: unreadable). */
  readonly #memcgs = new Map<number, string | null>();

  private constructor(
    reader: TracepointReader | null,
    releaseFirst: ReleaseFirst,
    proc: string,
  ) {
    this.#reader = reader;
    this.#releaseFirst = releaseFirst;
    this.#proc = proc;
  }

  /** Opens the tracepoint (unless `enabled` is false); a refusal is said once. */
  static open(
    machine: Machine,
    enabled: boolean,
    log: Logger,
    releaseFirst: ReleaseFirst,
  ): TracepointSource {
    if (!enabled) return new TracepointSource(null, releaseFirst, machine.proc);
    try {
      const reader = TracepointReader.open(machine);
      reader.warmUp();
      if (reader.noCallchain !== null) {
        log.info(
          `OOM kills are told global or memcg from the kernel log, not from the tracepoint's callchain: ${reader.noCallchain}`,
        );
      }
      return new TracepointSource(reader, releaseFirst, machine.proc);
    } catch (error) {
      if (!(error instanceof TracepointRefused)) throw error;
      log.warn(
        `no OOM tracepoint (${error.message}): waking on the kernel log, a few milliseconds later`,
      );
      return new TracepointSource(null, releaseFirst, machine.proc);
    }
  }

  /** False where perf refused (or `tracepoint` is 0): the kernel log wakes the daemon then. */
  get witnessesKills(): boolean {
    return this.#reader !== null;
  }

  waitFds(): PollRequest[] {
    return (this.#reader?.fds ?? []).map((fd) => ({ fd, events: POLLIN }));
  }

  beforeRead(revents: (fd: number) => number): void {
    const reader = this.#reader;
    if (
      !reader ||
      !(reader.fds.some((fd) => revents(fd) & POLLIN) || reader.pending())
    ) {
      return;
    }
    if (this.#releaseFirst(null)) return; // every kill is a signal: no parse first
    this.#drained = reader.drain();
    for (const record of this.#drained) {
      if (
        record.kind === "victim" && this.#releaseFirst(this.#scopeOf(record))
      ) {
        return;
      }
    }
    // Kept: the cgroups may decide these kills, and a victim that has begun
    // to exit reads as `/` on cgroup v1 — the sooner read, the likelier true.
    for (const record of this.#drained) {
      if (record.kind === "victim") this.#memcgOf(record.pid);
    }
  }

  #scopeOf(record: PerfRecord & { kind: "victim" }): OomScope | null {
    const symbols = this.#reader?.symbols;
    return symbols && record.callchain
      ? scopeOfCallchain(record.callchain, symbols)
      : null;
  }

  read(_wake: Wake): Observation[] {
    const reader = this.#reader;
    if (!reader) return [];
    const records = [...this.#drained, ...reader.drain()];
    this.#drained = [];
    // What beforeRead read serves this wake only: a pid may come back.
    const memcgs = this.#memcgs;
    const observations: Observation[] = [];
    for (const record of records) {
      if (record.kind === "lost") {
        observations.push({ kind: "victims-lost", count: record.count });
        continue;
      }
      const victim: Victim = {
        pid: record.pid,
        kernelMicros: Number(record.timeNanos / 1000n),
      };
      if (record.name !== undefined) victim.name = record.name;
      const scope = this.#scopeOf(record);
      if (scope !== null) victim.scope = scope;
      const memcg = this.#memcgOf(record.pid);
      if (memcg !== null) victim.memcg = memcg;
      observations.push({ kind: "victim", victim });
    }
    memcgs.clear();
    return observations;
  }

  /**
   * The victim's memory cgroup, read now: a marked victim is still there
   * (its /proc entry stays until its parent reaps it, zombie included),
   * and its cgroup is what judges the kill under `memcg_oom` prefixes when
   * the log's summary of the kill is rate-limited away.
   */
  #memcgOf(pid: number): string | null {
    const known = this.#memcgs.get(pid);
    if (known !== undefined) return known;
    const memcg = readMemoryCgroup(this.#proc, pid);
    this.#memcgs.set(pid, memcg);
    return memcg;
  }

  describe(): string | null {
    const reader = this.#reader;
    return reader
      ? `the kernel's oom:mark_victim tracepoint (${reader.cpus} CPUs, ${reader.tracefs})`
      : null;
  }

  close(): void {
    this.#reader?.close();
    this.#reader = null;
  }
}
