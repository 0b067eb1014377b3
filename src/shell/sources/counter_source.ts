/**
 * The `oom_kill` counter of /proc/vmstat as a source: the backstop that
 * misses no kill (the kernel counts each before it prints it), read on every
 * wake. When it rises, memory is read on the same wake, so a kill the log
 * does not explain is judged on fresh figures.
 *
 * @module
 */

import type { Machine } from "../../core/machine.ts";
import type { ProblemLog } from "../log.ts";
import { readVmstat } from "../procfs.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

export class CounterSource implements Source {
  readonly witnessesKills = false;
  readonly #machine: Machine;
  readonly #problems: ProblemLog;
  #last: number | null = null;
  #majorFaults: number | null = null;

  constructor(machine: Machine, problems: ProblemLog) {
    this.#machine = machine;
    this.#problems = problems;
  }

  /** The counter now, or null when it cannot be read (reported). */
  current(): number | null {
    const reading = readVmstat(this.#machine);
    this.#majorFaults = reading.ok
      ? reading.value.counters.get("pgmajfault") ?? null
      : null;
    if (!reading.ok) {
      this.#problems.report(
        "oom-kill-counter",
        "warning",
        `cannot read the oom_kill counter (${reading.reason}): kills the kernel log misses go unseen`,
      );
      return null;
    }
    if (reading.value.oomKill === null) {
      this.#problems.report(
        "oom-kill-counter",
        "warning",
        `${this.#machine.vmstat} has no oom_kill counter (kernel older than 4.13): kills are seen in the kernel log only`,
      );
      return null;
    }
    this.#problems.cure(
      "oom-kill-counter",
      "the oom_kill counter is readable again",
    );
    return reading.value.oomKill;
  }

  /**
   * `pgmajfault` from the same read of /proc/vmstat (this wake's: the
   * counter is read on every wake, before the thrash source), or null.
   */
  get majorFaults(): number | null {
    return this.#majorFaults;
  }

  waitFds(): PollRequest[] {
    return []; // /proc/vmstat cannot be polled: it is read on every wake
  }

  read(wake: Wake): Observation[] {
    const value = this.current();
    if (value === null) return [];
    if (this.#last !== null && value !== this.#last) wake.memoryWanted = true;
    this.#last = value;
    return [{ kind: "oom-kill-counter", value }];
  }

  describe(): string | null {
    return null;
  }

  close(): void {}
}
