/**
 * /proc/meminfo as a source: MemAvailable and MemTotal, for the re-arm
 * decision, the cadence and the counter's fallback. Read when the cadence
 * says so, or at once when a kill was counted.
 *
 * @module
 */

import type { Machine } from "../../core/machine.ts";
import type { ProblemLog } from "../log.ts";
import { readMeminfo } from "../procfs.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

export class MemorySource implements Source {
  readonly witnessesKills = false;
  readonly #machine: Machine;
  readonly #problems: ProblemLog;

  constructor(machine: Machine, problems: ProblemLog) {
    this.#machine = machine;
    this.#problems = problems;
  }

  waitFds(): PollRequest[] {
    return [];
  }

  read(wake: Wake): Observation[] {
    if (!wake.memoryWanted) return [];
    const reading = readMeminfo(this.#machine);
    if (!reading.ok) {
      this.#problems.report(
        "memory",
        "warning",
        `cannot read memory figures (${reading.reason}): the reserve is not re-armed blind`,
      );
      return [];
    }
    this.#problems.cure("memory", "memory figures are readable again");
    return [{ kind: "memory", info: reading.value }];
  }

  describe(): string | null {
    return null;
  }

  close(): void {}
}
