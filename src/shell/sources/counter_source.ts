/**
 * The `oom_kill` counter of /proc/vmstat as a source: the backstop that
 * misses no kill (the kernel counts each before it prints it), read on every
 * wake. When it rises, memory is read on the same wake, so a kill the log
 * does not explain is judged on fresh figures.
 *
 * Under `--memcg-oom PATHS` the same wake reads those cgroups' own
 * `oom_kill` counters (core/cgroup_fs.ts) when the machine's counter rose,
 * and on every periodic read: they count a kill whose report printk's rate
 * limit dropped, which the log never names.
 *
 * @module
 */

import {
  cgroupDirectory,
  type MemoryHierarchy,
  memoryHierarchyOf,
  oomKillFile,
} from "../../core/cgroup_fs.ts";
import type { Config } from "../../core/config.ts";
import { describeError } from "../../core/errors.ts";
import type { Machine } from "../../core/machine.ts";
import type { CoveredCounter } from "../../core/kill_ledger.ts";
import { coveredCgroups } from "../../core/memcg_policy.ts";
import { escapeControl } from "../../core/text.ts";
import { parseVmstat } from "../../core/vmstat.ts";
import type { ProblemLog } from "../log.ts";
import { readKernelText, readVmstat } from "../procfs.ts";
import {
  type FileIdentity,
  isNotFound,
  readRegularFileIdentity,
  statLink,
} from "../safe_file.ts";
import type { Observation, PollRequest, Source, Wake } from "./source.ts";

/** More cgroups than this below the covered ones are not walked (v1 sums a subtree). */
const MAX_COVERED_CGROUPS = 4_096;
/** Deeper than this below a covered cgroup is not walked. */
const MAX_COVERED_DEPTH = 32;
/** mountinfo of a container host can be long: ~150 bytes a mount. */
const MOUNTINFO_MAX_BYTES = 16 * 1024 * 1024;

type CounterConfig = Pick<Config, "memcgOom">;

/** What a reading of the covered counters found. */
interface CoveredReading {
  counters: CoveredCounter[];
  /** Why some counters could not be read, or null (the reading is incomplete). */
  failure: string | null;
  /** A cgroup left out that does not make the reading incomplete, or null. */
  notice: string | null;
}

export class CounterSource implements Source {
  readonly witnessesKills = false;
  readonly #machine: Machine;
  readonly #problems: ProblemLog;
  #last: number | null = null;
  #majorFaults: number | null = null;
  #covered: string[];
  /** The memory hierarchy, looked for until found (it may be mounted later). */
  #hierarchy: MemoryHierarchy | null = null;

  constructor(machine: Machine, config: CounterConfig, problems: ProblemLog) {
    this.#machine = machine;
    this.#problems = problems;
    this.#covered = coveredCgroups(config.memcgOom);
  }

  /** New parameters (a reload): other cgroups may be covered. */
  configure(config: CounterConfig): void {
    this.#covered = coveredCgroups(config.memcgOom);
    if (this.#covered.length === 0) {
      this.#problems.cure("memcg-counters", "no --memcg-oom cgroups to count");
    }
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
    const rose = value !== null && this.#last !== null && value !== this.#last;
    if (rose) wake.memoryWanted = true;
    const seen: Observation[] = [];
    if (value !== null) {
      this.#last = value;
      seen.push({ kind: "oom-kill-counter", value });
    }
    // After the machine's counter: the kernel counts a kill there first,
    // then in the victim's cgroup (__oom_kill_process, mm/oom_kill.c).
    if (
      this.#covered.length > 0 && (rose || wake.sampleDue || value === null)
    ) {
      const reading = this.#readCovered();
      if (reading !== null) {
        seen.push({
          kind: "covered-oom-kills",
          counters: reading.counters,
          complete: reading.failure === null,
        });
      }
    }
    return seen;
  }

  /** The covered cgroups' counters, or null when the hierarchy is not found (reported). */
  #readCovered(): CoveredReading | null {
    if (this.#hierarchy === null) {
      const text = readKernelText(this.#machine.mountinfo, MOUNTINFO_MAX_BYTES);
      this.#hierarchy = text.ok ? memoryHierarchyOf(text.value) : null;
    }
    const hierarchy = this.#hierarchy;
    if (hierarchy === null) {
      this.#problems.report(
        "memcg-counters",
        "warning",
        `no memory cgroup hierarchy mounted from its root in ${this.#machine.mountinfo}: a kill in the --memcg-oom cgroups whose report the kernel's rate limit dropped is not a signal`,
      );
      return null;
    }
    const reading: CoveredReading = {
      counters: [],
      failure: null,
      notice: null,
    };
    for (const cgroup of this.#covered) {
      this.#count(hierarchy, cgroup, 0, reading);
    }
    const trouble = reading.failure ?? reading.notice;
    if (trouble === null) {
      this.#problems.cure(
        "memcg-counters",
        "the --memcg-oom cgroups' oom_kill counters are readable again",
      );
    } else {
      this.#problems.report(
        "memcg-counters",
        "warning",
        // Paths below the covered cgroups: names whoever made them chose.
        `cannot read every --memcg-oom cgroup's oom_kill counter (${
          escapeControl(trouble)
        }): a kill there whose report the kernel's rate limit dropped may not be a signal`,
      );
    }
    return reading;
  }

  /**
   * `cgroup`'s counter into `reading`, and, where each counts its own tasks
   * only (v1, or v2 with memory_localevents), those of the cgroups below
   * it. A cgroup not there (not created yet, or removed) counts nothing.
   */
  #count(
    hierarchy: MemoryHierarchy,
    cgroup: string,
    depth: number,
    reading: CoveredReading,
  ): void {
    if (reading.counters.length >= MAX_COVERED_CGROUPS) {
      reading.failure ??=
        `more than ${MAX_COVERED_CGROUPS} cgroups below the --memcg-oom ones`;
      return;
    }
    const directory = cgroupDirectory(hierarchy, cgroup);
    const file = `${directory}/${oomKillFile(hierarchy)}`;
    let read: FileIdentity;
    try {
      read = readRegularFileIdentity(file, { maxBytes: 64 * 1024 });
    } catch (error) {
      // Absent: not created yet, or removed while this ran.
      if (!isNotFound(error)) {
        reading.failure ??= `${file}: ${describeError(error)}`;
      }
      return;
    }
    const value = parseVmstat(read.text).counters.get("oom_kill");
    if (value === undefined) {
      reading.failure ??=
        `${file} has no oom_kill line (kernel older than 4.13)`;
      return;
    }
    // The counter file's inode: a cgroup made anew at this path has others.
    reading.counters.push({ cgroup, id: `${read.dev}:${read.ino}`, value });
    if (!hierarchy.ownTasksOnly) return;
    if (depth >= MAX_COVERED_DEPTH) {
      reading.failure ??=
        `${directory} is deeper than ${MAX_COVERED_DEPTH} cgroups`;
      return;
    }
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(directory)];
    } catch (error) {
      if (!isNotFound(error)) {
        reading.failure ??= `${directory}: ${describeError(error)}`;
      }
      return;
    }
    for (const entry of entries) {
      // cgroupfs holds directories (cgroups) and files, never symlinks.
      if (!entry.isDirectory || entry.isSymlink) continue;
      const child = cgroup === "/"
        ? `/${entry.name}`
        : `${cgroup}/${entry.name}`;
      // Deno hands a name that is not UTF-8 over with U+FFFD in it, a path
      // that does not exist: a cgroup that would be skipped unseen. Said,
      // but the reading stays complete (cgroups made later still count
      // from 0): what that cgroup's owner hides is its own kills.
      if (
        entry.name.includes("\uFFFD") &&
        statLink(cgroupDirectory(hierarchy, child)) === null
      ) {
        reading.notice ??=
          `${directory} holds a cgroup whose name is not UTF-8, not read`;
        continue;
      }
      this.#count(hierarchy, child, depth + 1, reading);
    }
  }

  describe(): string | null {
    return null;
  }

  close(): void {}
}
