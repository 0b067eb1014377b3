/**
 * Parsers of kernel log records (`/dev/kmsg`) and of the OOM killer's report
 * lines, which tell a global OOM kill from one inside a memory cgroup.
 *
 * Forms recognised (mm/oom_kill.c):
 * - `oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/a,task_memcg=/a/b,task=x,pid=1,uid=0`
 *   (Linux ≥ 4.19; printed by dump_header, which is rate-limited, so it may be missing)
 * - `Out of memory: Killed process 1 (x) ...` and
 *   `Memory cgroup out of memory: Killed process 1 (x) ...` (Linux ≥ 4.19;
 *   printed for every kill)
 * - `Out of memory: Kill process 1 (x) score 9 or sacrifice child` and its
 *   memcg twin (older kernels, which then print a bare `Killed process` line
 *   that is not counted again).
 *
 * @module
 */

/** One record of `/dev/kmsg` (Documentation/ABI/testing/dev-kmsg). */
export interface KernelRecord {
  /** Syslog facility; 0 is the kernel itself (userspace cannot write facility 0). */
  facility: number;
  level: number;
  seq: number;
  /** Microseconds since boot, on the kernel's local clock. */
  timestampMicros: number;
  message: string;
}

/**
 * Parses one record as `read(2)` of `/dev/kmsg` returns it:
 * `PRI,SEQ,TIMESTAMP,FLAGS[,...];MESSAGE` and optional ` KEY=VALUE`
 * continuation lines. Returns null for text that is not a record.
 *
 * @example
 * ```ts
 * parseKernelRecord("6,339,5140900,-;NET: Registered protocol family 10\n")?.seq; // 339
 * ```
 */
export function parseKernelRecord(raw: string): KernelRecord | null {
  const match = /^(\d+),(\d+),(\d+),[^;]*;([^\n]*)/.exec(raw);
  if (!match) return null;
  const priority = Number(match[1]);
  return {
    facility: priority >> 3,
    level: priority & 7,
    seq: Number(match[2]),
    timestampMicros: Number(match[3]),
    message: unescapeKernelText(match[4]),
  };
}

/** Undoes the `\xNN` escapes /dev/kmsg applies to non-printable bytes. */
function unescapeKernelText(text: string): string {
  return text.replace(
    /\\x([0-9a-f]{2})/gi,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

/** Where an OOM kill happened. */
export type OomScope = "global" | "memcg";

/** The summary line the kernel prints before a kill (may be rate-limited away). */
export interface OomConstraint {
  constraint: string;
  /** The memory cgroup whose limit was hit (memcg OOM), else absent. */
  oomMemcg?: string;
  taskMemcg?: string;
  task?: string;
  pid?: number;
}

/** An OOM kill as the kernel log reports it. */
export interface OomKillReport {
  scope: OomScope;
  pid: number;
  task: string;
}

/** What one kernel log message says about OOM, if anything. */
export type OomLogLine =
  | { kind: "constraint"; constraint: OomConstraint }
  | { kind: "kill"; kill: OomKillReport }
  | null;

/**
 * Classifies a kernel log message. Returns null for anything that is not an
 * OOM killer report worth counting (the bare `Killed process` line of old
 * kernels included: it follows a `Kill process` line already counted).
 *
 * @example
 * ```ts
 * classifyOomMessage("Memory cgroup out of memory: Killed process 1767 (python3) total-vm:1kB");
 * // { kind: "kill", kill: { scope: "memcg", pid: 1767, task: "python3" } }
 * ```
 */
export function classifyOomMessage(message: string): OomLogLine {
  if (message.startsWith("oom-kill:")) {
    const fields = new Map<string, string>();
    for (const part of message.slice("oom-kill:".length).split(",")) {
      const equals = part.indexOf("=");
      if (equals > 0) fields.set(part.slice(0, equals), part.slice(equals + 1));
    }
    const constraint = fields.get("constraint");
    if (constraint === undefined) return null;
    const pid = Number(fields.get("pid"));
    const result: OomConstraint = { constraint };
    const oomMemcg = fields.get("oom_memcg");
    if (oomMemcg !== undefined) result.oomMemcg = oomMemcg;
    const taskMemcg = fields.get("task_memcg");
    if (taskMemcg !== undefined) result.taskMemcg = taskMemcg;
    const task = fields.get("task");
    if (task !== undefined) result.task = task;
    if (Number.isInteger(pid) && pid > 0) result.pid = pid;
    return { kind: "constraint", constraint: result };
  }
  // The task name (comm) is at most 15 bytes but may hold spaces or ')':
  // prefer the ')' that the kernel's own text follows, else the first one.
  const kill =
    /^(Out of memory|Memory cgroup out of memory): Kill(?:ed)? process (\d+) (?:\((.{0,16}?)\)(?= total-vm:| score |$)|\((.{0,16}?)\)(?: |$))/i
      .exec(message);
  if (!kill) return null;
  return {
    kind: "kill",
    kill: {
      scope: /^memory cgroup/i.test(kill[1]) ? "memcg" : "global",
      pid: Number(kill[2]),
      task: kill[3] ?? kill[4] ?? "",
    },
  };
}
