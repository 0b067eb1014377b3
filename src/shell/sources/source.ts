/**
 * What every source of observations looks like to the daemon's loop: the
 * descriptors it wants waited on, and what it read on a wake. Adding a
 * source is adding a module that implements {@link Source} and one line in
 * the daemon's list.
 *
 * @module
 */

import type { Observation } from "../../core/detector.ts";

export type { Observation };

/** One descriptor to wait on, with the poll(2) events of interest. */
export interface PollRequest {
  fd: number;
  events: number;
}

/** One wake of the loop, as the sources see it (read in order). */
export interface Wake {
  /** Monotonic milliseconds. */
  nowMs: number;
  /** The poll(2) revents of `fd` on this wake (0 when it was not ready). */
  revents(fd: number): number;
  /** A periodic read is due (the cadence's interval has passed). */
  sampleDue: boolean;
  /**
   * Memory and pressure are to be read on this wake. An earlier source may
   * set it (the counter, when a kill was counted) so later ones read now.
   */
  memoryWanted: boolean;
}

export interface Source {
  /** Whether it reports each kill as it happens (the counter does not). */
  readonly witnessesKills: boolean;
  /** The descriptors to wait on before the next wake. */
  waitFds(): PollRequest[];
  /**
   * What must come before anything else on a wake: called the moment the
   * wait returns, with the descriptors' `revents`, before any source is
   * read (the tracepoint source releases the reserve there; every line of
   * code run before it is cold after a quiet spell and costs microseconds).
   */
  beforeRead?(revents: (fd: number) => number): void;
  /** What it observed on this wake, oldest first. */
  read(wake: Wake): Observation[];
  /** What it waits on, for the start line and the status; null when idle. */
  describe(): string | null;
  close(): void;
}
