/**
 * Memory pressure (PSI) as a source: a PSI trigger wakes the daemon when a
 * stall begins, and while it may last the cumulative `full total` counter
 * is read every second (the detector turns it into a share). Where the
 * kernel refuses the trigger, pressure is read on the cadence instead;
 * where PSI is missing, the memory-stall signal is off and the status says
 * so (check: WARNING).
 *
 * @module
 */

import { POLLERR, POLLPRI } from "../../../ffi/libc.ts";
import type { Config } from "../../core/config.ts";
import { TIGHT_INTERVAL_MS } from "../../core/cadence.ts";
import type { Machine } from "../../core/machine.ts";
import type { Logger, ProblemLog } from "../log.ts";
import { readPressure } from "../procfs.ts";
import { PressureTrigger, TriggerRefused } from "../pressure_trigger.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

type PressureConfig = Pick<Config, "psiFull" | "psiWindow">;

export class PressureSource implements Source {
  readonly witnessesKills = false;
  readonly #machine: Machine;
  readonly #log: Logger;
  readonly #problems: ProblemLog;
  #config: PressureConfig;
  #trigger: PressureTrigger | null = null;
  #tightUntilMs = 0;

  constructor(
    machine: Machine,
    config: PressureConfig,
    log: Logger,
    problems: ProblemLog,
  ) {
    this.#machine = machine;
    this.#config = { ...config };
    this.#log = log;
    this.#problems = problems;
    this.#arm();
  }

  /** New parameters (a reload): the trigger is armed again for them. */
  configure(config: PressureConfig): void {
    if (
      config.psiFull === this.#config.psiFull &&
      config.psiWindow === this.#config.psiWindow
    ) return;
    this.#config = { ...config };
    this.#trigger?.close();
    this.#trigger = null;
    if (config.psiFull === 0) {
      this.#problems.cure("pressure", "memory-stall signal off (psi_full 0)");
    }
    this.#arm();
  }

  get triggerArmed(): boolean {
    return this.#trigger !== null;
  }

  /** Until when a fired trigger asks for reads every second. */
  get tightUntilMs(): number {
    return this.#tightUntilMs;
  }

  /** Whether the memory-stall signal works (on, and PSI readable). */
  get stallSignalOn(): boolean {
    return this.#config.psiFull > 0 && !this.#problems.problems.has("pressure");
  }

  #arm(): void {
    if (this.#config.psiFull === 0) return;
    try {
      this.#trigger = PressureTrigger.arm(
        this.#config.psiFull,
        this.#config.psiWindow,
        this.#machine.psiTrigger,
      );
    } catch (error) {
      if (!(error instanceof TriggerRefused)) throw error;
      this.#log.warn(
        `no PSI trigger (${error.message}): memory pressure is read every ${
          TIGHT_INTERVAL_MS / 1000
        } s while memory is tight and every heartbeat otherwise`,
      );
    }
  }

  waitFds(): PollRequest[] {
    return this.#trigger ? [{ fd: this.#trigger.fd, events: POLLPRI }] : [];
  }

  read(wake: Wake): Observation[] {
    if (this.#config.psiFull === 0) return [];
    const bits = this.#trigger ? wake.revents(this.#trigger.fd) : 0;
    if (bits & POLLERR) {
      this.#trigger?.close();
      this.#trigger = null;
      this.#log.warn(
        `PSI trigger dropped (the kernel reported an error on it): falling back to periodic reads of ${this.#machine.pressureMemory}`,
      );
    } else if (bits & POLLPRI) {
      // The signal comes from the counter, not the trigger: a trigger armed
      // after a quiet spell can fire at once on stall time that accrued
      // before it existed (seen on 6.18), so read every second for a window
      // and signal only a share measured.
      this.#tightUntilMs = wake.nowMs + this.#config.psiWindow * 1000;
      this.#log.debug("PSI trigger fired: reading pressure every second");
    } else if (!wake.memoryWanted) {
      return [];
    }
    const reading = readPressure(this.#machine.pressureMemory);
    const full = reading.ok ? reading.value.full : null;
    if (full === null) {
      this.#problems.report(
        "pressure",
        "warning",
        `memory-stall signal off: ${
          reading.ok
            ? `no 'full' line in ${this.#machine.pressureMemory}`
            : reading.reason
        } (kernel without PSI, or booted with psi=0); OOM kills are still watched. Boot with psi=1, or set psi_full 0 to turn the signal off`,
      );
      return [];
    }
    this.#problems.cure("pressure", "memory pressure is readable again");
    return [{ kind: "pressure", fullTotalMicros: full.totalMicros }];
  }

  describe(): string | null {
    return this.#trigger
      ? `a PSI trigger '${this.#trigger.description}'`
      : null;
  }

  close(): void {
    this.#trigger?.close();
    this.#trigger = null;
  }
}
