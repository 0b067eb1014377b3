/**
 * I/O pressure and major faults as a source, for the thrash signal
 * (core/thrash.ts): PSI io `full total` from /proc/pressure/io, read
 * whenever memory is (after the memory source, so the detector judges it
 * with figures of the same wake), and `pgmajfault` from the counter
 * source's read of /proc/vmstat on this wake (one read of the file a wake). No
 * PSI trigger watches io: copies and backups keep io `full` high on healthy
 * machines, so a trigger would wake the daemon for nothing; the rule needs
 * memory to be short, and a short memory keeps the reads at one a second.
 *
 * @module
 */

import type { Config } from "../../core/config.ts";
import type { Machine } from "../../core/machine.ts";
import type { ProblemLog } from "../log.ts";
import { readPressure } from "../procfs.ts";
import type { CounterSource } from "./counter_source.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

type ThrashConfig = Pick<Config, "thrashIoFull">;

export class ThrashSource implements Source {
  readonly witnessesKills = false;
  readonly #machine: Machine;
  readonly #problems: ProblemLog;
  readonly #counter: CounterSource;
  #config: ThrashConfig;

  constructor(
    machine: Machine,
    config: ThrashConfig,
    problems: ProblemLog,
    counter: CounterSource,
  ) {
    this.#machine = machine;
    this.#counter = counter;
    this.#config = { thrashIoFull: config.thrashIoFull };
    this.#problems = problems;
  }

  /** New parameters (a reload). */
  configure(config: ThrashConfig): void {
    this.#config = { thrashIoFull: config.thrashIoFull };
    if (config.thrashIoFull === 0) {
      this.#problems.cure("thrash", "thrash signal off (thrash_io_full 0)");
    }
  }

  /** Whether the thrash signal works (on, and its figures readable). */
  get thrashSignalOn(): boolean {
    return this.#config.thrashIoFull > 0 &&
      !this.#problems.problems.has("thrash");
  }

  waitFds(): PollRequest[] {
    return [];
  }

  read(wake: Wake): Observation[] {
    if (this.#config.thrashIoFull === 0 || !wake.memoryWanted) return [];
    const pressure = readPressure(this.#machine.pressureIo);
    const full = pressure.ok ? pressure.value.full : null;
    const faults = this.#counter.majorFaults;
    if (full === null || faults === null) {
      const why = !pressure.ok
        ? pressure.reason
        : full === null
        ? `no 'full' line in ${this.#machine.pressureIo}`
        : `no pgmajfault counter read from ${this.#machine.vmstat}`;
      this.#problems.report(
        "thrash",
        "warning",
        `thrash signal off: ${why} (a kernel without PSI, or booted with psi=0); OOM kills and memory stalls are still watched. Boot with psi=1, or set thrash_io_full 0 to turn the signal off`,
      );
      return [];
    }
    this.#problems.cure(
      "thrash",
      "the thrash signal's figures are readable again",
    );
    return [{
      kind: "thrash",
      ioFullTotalMicros: full.totalMicros,
      majorFaults: faults,
    }];
  }

  describe(): string | null {
    return null;
  }

  close(): void {}
}
