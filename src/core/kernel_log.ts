/**
 * Parsers of kernel log records (`/dev/kmsg`) and of the OOM killer's report
 * lines, which tell a global OOM kill from one inside a memory cgroup.
 *
 * Any user can name a process (prctl PR_SET_NAME: 15 bytes, anything but
 * NUL) and, with a delegated cgroup tree, name cgroups (anything but `/`),
 * so the names inside these lines are attacker-controlled. The parsers
 * therefore work on the text as /dev/kmsg renders it — every control
 * byte, byte above 0x7e and backslash escaped as `\xNN`, so a record is one
 * line whatever the names hold — and take each decision from text the
 * kernel controls:
 * - the scope comes from the record's first field (`constraint=…`) or from
 *   the kill line's prefix, both printed before any name;
 * - pids are anchored to the kernel's own text around them;
 * - a name is taken between anchors the kernel prints after it (the kill
 *   line's `) total-vm:NkB` tail, whose rest is numbers);
 * - the OOM-ing cgroup of a memcg kill is accepted only when every way of
 *   splitting the record agrees on it ({@link parseConstraint}).
 *
 * Forms recognised (mm/oom_kill.c, read in 4.9 … 6.18; tests/fixtures/kmsg/
 * holds one report per kernel and wording):
 * - `oom-kill:constraint=C,nodemask=…,cpuset=…,mems_allowed=…,oom_memcg=X|global_oom,task_memcg=Y,task=T,pid=P,uid=U`
 *   (Linux ≥ 5.0; pr_info and pr_cont pieces inside the rate-limited
 *   dump_header, so it can be missing or arrive in fragments; 5.0 and 5.1
 *   print CONSTRAINT_NONE for memcg OOMs too);
 * - `PREFIX: Killed process P (T) total-vm:…` (Linux ≥ 5.1; printed for every
 *   kill), PREFIX `Out of memory`, `Memory cgroup out of memory` or
 *   `Out of memory (oom_kill_allocating_task)`;
 * - `PREFIX: Kill process P (T) score S or sacrifice child` — the chosen task
 *   — followed by a bare `Killed process Q (T) total-vm:…`, the kill (Linux
 *   < 5.1; Q is a child of P when one was sacrificed);
 * - `Tasks in X are going to be killed due to memory.oom.group set`, then a
 *   kill line per member (Linux ≥ 4.19; bare on 4.19 and 5.0);
 * - `Task in Y killed as a result of limit of X` (Linux < 5.0, memcg OOMs:
 *   the cgroup, before the kill line).
 *
 * @module
 */

import { displayKernelText, kernelTextBytes } from "./text.ts";

/** One record of `/dev/kmsg` (Documentation/ABI/testing/dev-kmsg). */
export interface KernelRecord {
  /** Syslog facility; 0 is the kernel itself (userspace cannot write facility 0). */
  facility: number;
  level: number;
  seq: number;
  /** Microseconds since boot, on the kernel's local clock. */
  timestampMicros: number;
  /**
   * A pr_cont fragment that could not join its line (flag `c`, or `+` on
   * 4.9): it continues an earlier record.
   */
  continuation: boolean;
  /** The printk caller (`T123`, `C1`) where CONFIG_PRINTK_CALLER adds it. */
  caller?: string;
  /** The message as /dev/kmsg renders it: escaped, one line. */
  text: string;
}

/**
 * Parses one record as `read(2)` of `/dev/kmsg` returns it:
 * `PRI,SEQ,TIMESTAMP,FLAGS[,...];MESSAGE` and optional ` KEY=VALUE`
 * continuation lines (dropped). Returns null for text that is not a record.
 *
 * @example
 * ```ts
 * parseKernelRecord("6,339,5140900,-;NET: Registered protocol family 10\n")?.seq; // 339
 * ```
 */
export function parseKernelRecord(raw: string): KernelRecord | null {
  const match =
    /^(\d{1,4}),(\d{1,20}),(\d{1,20}),([^;,\n]*)((?:,[^;\n]*)?);([^\n]*)/
      .exec(raw);
  if (!match) return null;
  const priority = Number(match[1]);
  const record: KernelRecord = {
    facility: priority >> 3,
    level: priority & 7,
    seq: Number(match[2]),
    timestampMicros: Number(match[3]),
    continuation: match[4] === "c" || match[4] === "+",
    text: match[6],
  };
  const caller = /,caller=([TC]\d{1,10})(?:,|$)/.exec(match[5])?.[1];
  if (caller !== undefined) record.caller = caller;
  return record;
}

/** Where an OOM kill happened. */
export type OomScope = "global" | "memcg";

/** The summary record the kernel prints before a kill (may be rate-limited away). */
export interface OomConstraint {
  /** `CONSTRAINT_NONE`, `CONSTRAINT_CPUSET`, `CONSTRAINT_MEMORY_POLICY`, `CONSTRAINT_MEMCG`. */
  constraint: string;
  /**
   * memcg for CONSTRAINT_MEMCG, and where 5.0/5.1 said CONSTRAINT_NONE but
   * printed `oom_memcg=` in the kernel's own place for it.
   */
  scope: OomScope;
  pid: number;
  /**
   * The memory cgroup whose limit was hit (memcg OOM), shown safely; absent
   * for a global OOM, and when names inside the record make it ambiguous.
   */
  oomMemcg?: string;
}

/** An OOM kill line as the kernel log prints it. */
export interface OomKillReport {
  /** From the line's prefix; null for the bare line of Linux < 5.1. */
  scope: OomScope | null;
  pid: number;
  /** The victim's name, shown safely (control bytes as `\xNN`). */
  task: string;
}

/** What one kernel log message says about OOM, if anything. */
export type OomLogLine =
  /** An `oom-kill:` summary, possibly the first fragment of one. */
  | { kind: "summary"; text: string }
  /** `Task in … killed as a result of limit of …` (Linux < 5.0), possibly a fragment. */
  | { kind: "memcg-header"; text: string }
  /** `Tasks in X are going to be killed due to memory.oom.group set`. */
  | { kind: "group"; oomMemcg: string }
  /** `PREFIX: Kill process P (T) score S or sacrifice child` (Linux < 5.1). */
  | { kind: "chosen"; scope: OomScope; pid: number }
  | { kind: "kill"; kill: OomKillReport }
  | null;

const KILL_PREFIX =
  /^(Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory): /;
// The kill line's tail is kernel numbers only (4.9: anon/file/shmem-rss;
// 5.4 adds UID, pgtables, oom_score_adj), so anchoring on all of it ends the
// name at the kernel's own ") total-vm:", whatever the name fakes.
const KILLED =
  /^Killed process (\d{1,10}) \((.*)\) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB, shmem-rss:\d+kB(?:, UID:\d+ pgtables:\d+kB oom_score_adj:-?\d+)?$/;
const CHOSEN =
  /^Kill process (\d{1,10}) \((.*)\) score \d+ or sacrifice child$/;
const GROUP =
  /^Tasks in (\/.*) are going to be killed due to memory\.oom\.group set$/;
const TASK_COMM_BYTES = 15;

function scopeOfPrefix(prefix: string): OomScope {
  return prefix.startsWith("Memory cgroup") ? "memcg" : "global";
}

/** A name between the kernel's anchors: at most 15 bytes once unescaped. */
function taskName(text: string): string | null {
  return kernelTextBytes(text) > TASK_COMM_BYTES
    ? null
    : displayKernelText(text);
}

/** A kill or chosen line: the scope from its prefix, pid and name between anchors. */
function parseKillLine(text: string): OomLogLine {
  const prefix = KILL_PREFIX.exec(text);
  const rest = prefix ? text.slice(prefix[0].length) : text;
  const killed = KILLED.exec(rest);
  if (killed) {
    const task = taskName(killed[2]);
    if (task === null) return null;
    return {
      kind: "kill",
      kill: {
        scope: prefix ? scopeOfPrefix(prefix[1]) : null,
        pid: Number(killed[1]),
        task,
      },
    };
  }
  const chosen = prefix ? CHOSEN.exec(rest) : null;
  if (prefix && chosen && taskName(chosen[2]) !== null) {
    return {
      kind: "chosen",
      scope: scopeOfPrefix(prefix[1]),
      pid: Number(chosen[1]),
    };
  }
  return null;
}

/** Every index at which `needle` occurs in `text`. */
function occurrences(text: string, needle: string, from = 0): number[] {
  const found: number[] = [];
  for (
    let at = text.indexOf(needle, from);
    at >= 0;
    at = text.indexOf(needle, at + 1)
  ) {
    found.push(at);
  }
  return found;
}

/** Whether cgroup `ancestor` is `path` or above it. */
function containsCgroup(ancestor: string, path: string): boolean {
  return ancestor === "/" || (path.startsWith(ancestor) &&
    (path.length === ancestor.length || path[ancestor.length] === "/"));
}

/**
 * The OOM-ing cgroup of a memcg constraint record, or undefined when the
 * names in it allow more than one reading. Between `,oom_memcg=` and the
 * final `,pid=P,uid=U` the kernel prints `X,task_memcg=Y,task=T`, where X,
 * Y and T may all hold those separators; but the victim always lives under
 * the cgroup that ran out (Y lies in X), and T has at most 15 bytes. Every
 * split meeting both rules is tried: the kernel's own is among them, so a
 * single answer is the true one, and crafted names can make the answer
 * only "unknown", never a cgroup of their choosing.
 */
function oomMemcgOf(text: string, end: number): string | undefined {
  // T is at most 15 bytes, 60 characters escaped: only the last few
  // ",task=" can be its start. Names with separators make the rest
  // quadratic, so the search stops at a second answer.
  const tasks = occurrences(
    text,
    ",task=",
    Math.max(0, end - ",task=".length - 4 * TASK_COMM_BYTES),
  ).filter((t) =>
    t < end &&
    kernelTextBytes(text.slice(t + ",task=".length, end)) <= TASK_COMM_BYTES
  );
  const taskMemcgs = occurrences(text, ",task_memcg=");
  const answers = new Set<string>();
  for (const x of occurrences(text, ",oom_memcg=")) {
    for (const y of taskMemcgs) {
      if (y <= x) continue;
      const memcg = text.slice(x + ",oom_memcg=".length, y);
      if (!memcg.startsWith("/")) continue;
      for (const t of tasks) {
        const taskMemcg = text.slice(y + ",task_memcg=".length, t);
        if (t > y && containsCgroup(memcg, taskMemcg)) answers.add(memcg);
      }
      if (answers.size > 1) return undefined;
    }
  }
  return answers.size === 1 ? displayKernelText([...answers][0]) : undefined;
}

/**
 * Parses a whole `oom-kill:` summary (its fragments joined), or null when it
 * is cut short. The scope is its first field; the victim's pid the last but
 * one, anchored to the end.
 */
export function parseConstraint(text: string): OomConstraint | null {
  const head = /^oom-kill:constraint=(CONSTRAINT_[A-Z_]+),/.exec(text);
  const tail = /,pid=(\d{1,10}),uid=\d{1,10}$/.exec(text);
  if (!head || !tail) return null;
  const constraint = head[1];
  const memcg = oomMemcgOf(text, tail.index);
  const result: OomConstraint = {
    constraint,
    // 5.0/5.1 say CONSTRAINT_NONE for memcg OOMs: then an unambiguous
    // oom_memcg= (which crafted names cannot produce, see oomMemcgOf) decides.
    scope: constraint === "CONSTRAINT_MEMCG" ||
        (constraint === "CONSTRAINT_NONE" && memcg !== undefined &&
          !text.includes(",global_oom,task_memcg="))
      ? "memcg"
      : "global",
    pid: Number(tail[1]),
  };
  if (result.scope === "memcg" && memcg !== undefined) result.oomMemcg = memcg;
  return result;
}

/**
 * The old memcg header `Task in Y killed as a result of limit of X` (its
 * fragments joined): X, when every split agrees (Y lies in X), else null.
 */
export function parseMemcgHeader(text: string): string | null {
  if (!text.startsWith("Task in ")) return null;
  const separator = " killed as a result of limit of ";
  const answers = new Set<string>();
  for (const at of occurrences(text, separator)) {
    const task = text.slice("Task in ".length, at);
    const limit = text.slice(at + separator.length);
    if (limit.startsWith("/") && containsCgroup(limit, task)) {
      answers.add(limit);
    }
  }
  return answers.size === 1 ? displayKernelText([...answers][0]) : null;
}

/**
 * Classifies a kernel log message (as /dev/kmsg renders it). Returns null
 * for anything that is no part of an OOM kill report: look-alikes such as
 * `Kernel panic - not syncing: Out of memory: …`, `oom_reaper: reaped …` and
 * the 5.9+ `… OOM victim P (T) is already exiting. Skip killing the task`.
 *
 * @example
 * ```ts
 * classifyOomMessage("Memory cgroup out of memory: Killed process 1767 (python3) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB");
 * // { kind: "kill", kill: { scope: "memcg", pid: 1767, task: "python3" } }
 * ```
 */
export function classifyOomMessage(text: string): OomLogLine {
  // The summary's first record always holds "oom-kill:constraint=" whole (one
  // printk); a record that starts with a process named "oom-kill:" cannot.
  if (text.startsWith("oom-kill:constraint=")) return { kind: "summary", text };
  if (text.startsWith("Task in ")) return { kind: "memcg-header", text };
  const group = GROUP.exec(text);
  if (group) return { kind: "group", oomMemcg: displayKernelText(group[1]) };
  return parseKillLine(text);
}
