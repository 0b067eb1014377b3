/**
 * The daemon's sources, in the order a wake reads them: the tracepoint
 * first (its victims carry the kill's own time), the kernel log (the
 * records that tell their scope), then the `oom_kill` counter (the kernel counts a kill before it
 * prints it, so after the log is drained the counter can only be ahead),
 * then memory, pressure and the thrash figures (judged with that memory),
 * which the counter may ask for on the same wake.
 * Adding a source is a module and a line here.
 *
 * @module
 */

import type { Config } from "../../core/config.ts";
import type { Machine } from "../../core/machine.ts";
import type { Logger, ProblemLog } from "../log.ts";
import { CounterSource } from "./counter_source.ts";
import { KernelLogSource } from "./kernel_log_source.ts";
import { MemorySource } from "./memory_source.ts";
import { PressureSource } from "./pressure_source.ts";
import type { Source } from "./source.ts";
import { ThrashSource } from "./thrash_source.ts";
import { type ReleaseFirst, TracepointSource } from "./tracepoint_source.ts";

/** The sources, by name for those the daemon asks things of, and in order. */
export interface Sources {
  kernelLog: KernelLogSource;
  tracepoint: TracepointSource;
  counter: CounterSource;
  pressure: PressureSource;
  thrash: ThrashSource;
  /** In the order a wake reads them. */
  all: Source[];
}

/** Opens every source; what cannot be opened is said (and degrades). */
export function openSources(
  machine: Machine,
  config: Config,
  log: Logger,
  problems: ProblemLog,
  releaseFirst: ReleaseFirst,
): Sources {
  const kernelLog = KernelLogSource.open(machine.kernelLog, problems);
  const tracepoint = TracepointSource.open(
    machine,
    config.tracepoint,
    log.child("tracepoint"),
    releaseFirst,
  );
  const counter = new CounterSource(machine, problems);
  const pressure = new PressureSource(
    machine,
    config,
    log.child("pressure"),
    problems,
  );
  const thrash = new ThrashSource(machine, config, problems, counter);
  return {
    kernelLog,
    tracepoint,
    counter,
    pressure,
    thrash,
    all: [
      tracepoint,
      kernelLog,
      counter,
      new MemorySource(machine, problems),
      pressure,
      thrash,
    ],
  };
}
