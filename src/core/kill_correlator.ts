/**
 * Pairs the records of one OOM report in the kernel log into one
 * {@link KillObservation} per kill:
 * - the `oom-kill:` summary (Linux ≥ 5.0: constraint and cgroup) or the old
 *   memcg header (`Task in … limit of X`, Linux < 5.0), which come before the
 *   kill, joined from their fragments when printk could not keep a line
 *   whole (a record flagged `c`, or `+` on 4.9, continues the open one; with
 *   CONFIG_PRINTK_CALLER only one of the same caller);
 * - the chosen line of Linux < 5.1 (`… Kill process P … or sacrifice child`),
 *   whose prefix gives the scope of the bare `Killed process` line after it;
 * - the `memory.oom.group` line, whose cgroup and scope the group members'
 *   kill lines share;
 * - the kill line itself.
 *
 * A kill is memcg when its prefix or its summary says so (5.0 and 5.1 print
 * CONSTRAINT_NONE for memcg OOMs; the prefix never lies), global otherwise.
 * A bare kill line with nothing before it to give its scope (the records
 * were lost) is left to the `oom_kill` counter's fallback.
 *
 * @module
 */

import {
  classifyOomMessage,
  type KernelRecord,
  type OomScope,
  parseConstraint,
  parseMemcgHeader,
} from "./kernel_log.ts";

/** Which witness reported a kill. */
export type KillSource = "kernel log" | "oom_kill counter" | "tracepoint";

/** An OOM kill as the daemon learned of it. */
export interface KillObservation {
  scope: OomScope;
  source: KillSource;
  /** The victim (name shown safely), when the witness named it. */
  victim?: { pid: number; name: string };
  /** The cgroup that ran out (memcg kills), when known unambiguously. */
  memcg?: string;
  /**
   * The victim's own memory cgroup (the cgroup that ran out or below it),
   * when the log did not tell the one that ran out (core/witnesses.ts).
   */
  victimMemcg?: string;
  /** The kernel's constraint (`CONSTRAINT_NONE`, …) when it was logged. */
  constraint?: string;
  /** When the kernel reported it (CLOCK_MONOTONIC µs). */
  kernelMicros?: number;
}

/** A summary or memcg header, possibly still receiving fragments. */
interface OpenRecord {
  kind: "summary" | "memcg-header";
  text: string;
  caller?: string;
}

/** What the report so far says of the kills to come. */
interface ReportContext {
  /** The chosen line's scope (Linux < 5.1), for the next bare kill line. */
  chosen: OomScope | null;
  /** The chosen task's pid: a summary names it, not a sacrificed child. */
  chosenPid: number | null;
  /** The report's scope, from its chosen line, for the oom.group members. */
  report: OomScope | null;
  /** The oom.group line's cgroup, for the members. */
  group: string | null;
}

/**
 * More than the longest summary or header the kernel prints, escaped (two
 * cgroup paths of about a record each, 1000 bytes, each byte as `\xNN`):
 * a report that grows past it holds records that are not its own.
 */
const MAX_REPORT_CHARS = 16 * 1024;

/** Turns kernel records into kill observations, oldest first. */
export class KillCorrelator {
  #open: OpenRecord | null = null;
  #context: ReportContext = {
    chosen: null,
    chosenPid: null,
    report: null,
    group: null,
  };

  /** One record; the kill it completes, or null. */
  add(record: KernelRecord): KillObservation | null {
    // Only the kernel writes facility 0: userspace records cannot fake a kill.
    if (record.facility !== 0) return null;
    if (record.continuation) {
      const open = this.#open;
      const sameCaller = open?.caller === undefined ||
        record.caller === undefined || open.caller === record.caller;
      if (open && sameCaller) open.text += record.text;
      // Too long to be the kernel's: the report is unknown (and its parse
      // and memory stay bounded).
      if (open && open.text.length > MAX_REPORT_CHARS) this.#open = null;
      return null;
    }
    const line = classifyOomMessage(record.text);
    if (line === null) return null;
    switch (line.kind) {
      case "summary":
      case "memcg-header":
        // A kernel prints summaries (Linux ≥ 5.0) or memcg headers (< 5.0),
        // never both: a record that starts like a header (from a process
        // named "Task in ") does not take an open summary's place.
        if (line.kind === "memcg-header" && this.#open?.kind === "summary") {
          return null;
        }
        // The start of a new report.
        this.#open = { kind: line.kind, text: line.text };
        if (record.caller !== undefined) this.#open.caller = record.caller;
        this.#context = {
          chosen: null,
          chosenPid: null,
          report: null,
          group: null,
        };
        return null;
      case "chosen":
        // Linux < 5.1: the kill phase of a report (the group line follows).
        this.#context = {
          chosen: line.scope,
          chosenPid: line.pid,
          report: line.scope,
          group: null,
        };
        return null;
      case "group":
        this.#context.group = line.oomMemcg;
        return null;
      case "kill":
        return this.#kill(line.kill, record.timestampMicros);
    }
  }

  /**
   * The scope of a kill of `pid` that the log has announced but not yet
   * printed (the summary comes before the victim is marked, the kill line
   * after), or null when the log does not tell yet.
   */
  pendingScope(pid: number): { scope: OomScope; memcg?: string } | null {
    const summary = this.#open?.kind === "summary"
      ? parseConstraint(this.#open.text)
      : null;
    if (summary?.pid === pid) {
      return summary.oomMemcg === undefined
        ? { scope: summary.scope }
        : { scope: summary.scope, memcg: summary.oomMemcg };
    }
    if (this.#context.chosen !== null) return { scope: this.#context.chosen };
    return null;
  }

  #kill(
    kill: { scope: OomScope | null; pid: number; task: string },
    kernelMicros: number,
  ): KillObservation | null {
    const context = this.#context;
    const open = this.#open;
    const parsed = open?.kind === "summary" ? parseConstraint(open.text) : null;
    // A summary describes the kill of its own pid, or (Linux < 5.1) of the
    // child sacrificed for the chosen pid it names. Any other pairing is a
    // stale summary — one whose victim was already exiting, or whose kill
    // line was lost — and must not lend its scope to another report's kill.
    const summary = parsed !== null &&
        (parsed.pid === kill.pid ||
          (kill.scope === null && context.chosen !== null &&
            parsed.pid === context.chosenPid))
      ? parsed
      : null;
    // A memcg header (Linux < 5.0) comes right before its chosen line.
    const header = open?.kind === "memcg-header" && context.chosen !== null
      ? parseMemcgHeader(open.text)
      : null;
    const lineScope = kill.scope ?? context.chosen ??
      (context.group !== null ? context.report : null);
    // The chosen line's scope serves the one kill that follows it.
    context.chosen = null;
    if (lineScope === null) return null;
    const scope: OomScope = lineScope === "memcg" || summary?.scope === "memcg"
      ? "memcg"
      : "global";
    const observation: KillObservation = {
      scope,
      source: "kernel log",
      victim: { pid: kill.pid, name: kill.task },
      kernelMicros,
    };
    if (summary) observation.constraint = summary.constraint;
    const memcg = summary?.oomMemcg ?? header ?? context.group;
    if (scope === "memcg" && memcg) observation.memcg = memcg;
    // The summary and header describe the report's first kill; the group's
    // members keep the group's context.
    this.#open = null;
    return observation;
  }
}
