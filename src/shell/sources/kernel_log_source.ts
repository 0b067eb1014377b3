/**
 * The kernel log as a source: its records, as soon as they are there (poll
 * wakes on them), for the detector to pair into kills with their scope,
 * victim and cgroup (core/kill_correlator.ts). Where the log cannot be read,
 * the `oom_kill` counter's fallback decides, and the status says so
 * (check: WARNING).
 *
 * @module
 */

import { POLLIN } from "../../../ffi/libc.ts";
import { describeError } from "../../core/errors.ts";
import { KernelLogReader } from "../kernel_log_reader.ts";
import type { ProblemLog } from "../log.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

function fallbackNote(path: string, reason: string): string {
  return `kernel log unreadable (${reason}): OOM kills are noticed through /proc/vmstat oom_kill, ` +
    `and a kill counts as global when MemAvailable was below 5% of MemTotal around it (see README); ` +
    `run oomwatch as root (CAP_SYSLOG) to read ${path}`;
}

export class KernelLogSource implements Source {
  #reader: KernelLogReader | null;
  readonly #path: string;
  readonly #problems: ProblemLog;

  private constructor(
    reader: KernelLogReader | null,
    path: string,
    problems: ProblemLog,
  ) {
    this.#reader = reader;
    this.#path = path;
    this.#problems = problems;
  }

  /** Opens the log at its end; a failure is reported, not thrown. */
  static open(path: string, problems: ProblemLog): KernelLogSource {
    try {
      return new KernelLogSource(KernelLogReader.open(path), path, problems);
    } catch (error) {
      problems.report(
        "kernel-log",
        "warning",
        fallbackNote(path, describeError(error)),
      );
      return new KernelLogSource(null, path, problems);
    }
  }

  get witnessesKills(): boolean {
    return this.#reader !== null;
  }

  /** Records the kernel overwrote before they were read. */
  get lost(): number {
    return this.#reader?.lost ?? 0;
  }

  waitFds(): PollRequest[] {
    const reader = this.#reader;
    return reader?.pollable ? [{ fd: reader.fd, events: POLLIN }] : [];
  }

  read(_wake: Wake): Observation[] {
    const reader = this.#reader;
    if (!reader) return [];
    let records;
    try {
      records = reader.drain();
    } catch (error) {
      reader.close();
      this.#reader = null;
      this.#problems.report(
        "kernel-log",
        "warning",
        fallbackNote(this.#path, `reading it failed: ${describeError(error)}`),
      );
      return [];
    }
    return records.length > 0 ? [{ kind: "kernel-records", records }] : [];
  }

  describe(): string | null {
    return this.#reader ? `the kernel log (${this.#path})` : null;
  }

  close(): void {
    this.#reader?.close();
    this.#reader = null;
  }
}
