/**
 * The daemon's sources, in the order a wake observes them: the tracepoint
 * first (its victims carry the kill's own time), the kernel log (the
 * records that tell their scope), then the `oom_kill` counter (the kernel counts a kill before it
 * prints it, so after the log is drained the counter can only be ahead),
 * then memory, pressure and the thrash figures (judged with that memory),
 * which the counter may ask for on the same wake. The kernel log alone is
 * read before it is observed: {@link wakeReads}.
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
import type { Observation, Source, Wake } from "./source.ts";
import { ThrashSource } from "./thrash_source.ts";
import { type ReleaseFirst, TracepointSource } from "./tracepoint_source.ts";

/** The sources, by name for those the daemon asks things of, and in order. */
export interface Sources {
  kernelLog: KernelLogSource;
  tracepoint: TracepointSource;
  counter: CounterSource;
  pressure: PressureSource;
  thrash: ThrashSource;
  /** In the order a wake observes them. */
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
  const counter = new CounterSource(machine, config, problems);
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

/**
 * One wake's reads, in the order their observations are to be taken: each
 * a call that reads its source — except the kernel log (`drainedFirst`),
 * drained before this returns, whose call hands over what it read. The
 * kernel stores a kill's line in the log after `mark_victim` has fired and
 * written the victim's record to its CPU's ring (mark_oom_victim comes
 * before the "Killed process" pr_err in __oom_kill_process, mm/oom_kill.c,
 * 6.1 and 6.18 alike). So every kill the drained log tells of whose
 * mark_victim fired (not a second kill of an oom.group victim, nor a record
 * perf lost: the witnesses' log-first path judges those) is in a ring when
 * the rings are read after it, and is judged from the tracepoint, at its
 * time. Read the other way round, a wake by the log's earlier records (the
 * summary is stored before mark_victim) could find the rings empty and the
 * kill line already there: the log's witness judged the kill, milliseconds
 * later than the kernel had told of it (seen in the VM's single-oom runs).
 * One call each, so a signal is acted on before later sources are read, and
 * a failure in one source's read or its observations does not lose the
 * log's records, already taken from the kernel.
 */
export function wakeReads(
  sources: readonly Source[],
  drainedFirst: Source,
  wake: Wake,
): (() => Observation[])[] {
  const logged = drainedFirst.read(wake);
  return sources.map((source) =>
    source === drainedFirst ? () => logged : () => source.read(wake)
  );
}
