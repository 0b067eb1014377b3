/**
 * The post-mortem in the crash flag: what the machine looked like when the
 * episode started (a short form) and right before the panic action (the
 * full one) — the top processes by memory, the /proc/meminfo lines that
 * matter under the kernel's own names, PSI memory and io, the OOM and
 * refault counters — so that the evidence survives the reboot.
 *
 * `key=value` lines after the flag's own (core/crash_flag.ts): one line
 * each, names and cgroups escaped, at most {@link POST_MORTEM_MAX_BYTES}.
 * What the time budget or a failed read left out is said in
 * `postmortem_partial=` lines. Pure: figures in, text out, and back.
 *
 * @module
 */

import { escapeControl } from "./text.ts";

/** The most bytes a post-mortem adds to the crash flag. */
export const POST_MORTEM_MAX_BYTES = 16 * 1024;
/** How many processes it lists. */
export const TOP_PROCESSES = 10;

/** The /proc/meminfo lines it keeps, in this order (kB). */
export const MEMINFO_FIELDS = [
  "MemTotal",
  "MemFree",
  "MemAvailable",
  "Buffers",
  "Cached",
  "SwapTotal",
  "SwapFree",
  "Dirty",
  "Writeback",
  "AnonPages",
  "Mapped",
  "Shmem",
  "Mlocked",
  "Unevictable",
  "SReclaimable",
  "SUnreclaim",
  "KernelStack",
  "PageTables",
  "Committed_AS",
] as const;

/** Whether a /proc/vmstat counter belongs in the post-mortem. */
export function keepsVmstatCounter(name: string): boolean {
  return name === "oom_kill" || name === "pgmajfault" ||
    name.startsWith("workingset_refault");
}

/** One process, as /proc tells it. */
export interface ProcessUsage {
  pid: number;
  /** Shown safely (escaped). */
  name: string;
  rssKb: number;
  swapKb: number | null;
  oomScoreAdj: number | null;
  /** Its memory cgroup (v1) or its cgroup (v2), shown safely; null when unread. */
  cgroup: string | null;
}

/** A PSI file's `avg10` figures. */
export interface PressureAvg10 {
  resource: "memory" | "io";
  some: number | null;
  full: number | null;
}

export type PostMortemMoment = "episode-start" | "panic";

export interface PostMortem {
  moment: PostMortemMoment;
  /** Wall clock, ISO 8601 UTC. */
  takenAt: string;
  tookMs: number;
  /** What was left out and why (the time budget, a read that failed). */
  partial: string[];
  meminfo: [name: string, kB: number][];
  pressure: PressureAvg10[];
  vmstat: [name: string, value: number][];
  processes: ProcessUsage[];
}

/** The `count` processes with the most resident memory, the largest first. */
export function topProcesses<T extends { pid: number; rssKb: number }>(
  all: readonly T[],
  count = TOP_PROCESSES,
): T[] {
  return [...all].sort((a, b) => b.rssKb - a.rssKb || a.pid - b.pid)
    .slice(0, count);
}

// Names and cgroups come escaped (escapeControl, when taken); what is
// escaped here is only what would break a line, so `\` is not doubled.
const oneLine = (text: string): string =>
  // deno-lint-ignore no-control-regex
  text.replace(/[\x00-\x1f\x7f]/g, (c) => escapeControl(c));
const figure = (value: number | null): string =>
  value === null ? "unknown" : String(value);

/**
 * The post-mortem's lines (each ending in a newline), within
 * {@link POST_MORTEM_MAX_BYTES}: processes are dropped from the end first,
 * and said to be.
 */
export function formatPostMortem(postMortem: PostMortem): string {
  const head = [
    `# post-mortem (${postMortem.moment}), taken in ${postMortem.tookMs} ms`,
    `postmortem=${postMortem.moment}`,
    `postmortem_at=${oneLine(postMortem.takenAt)}`,
    `postmortem_ms=${postMortem.tookMs}`,
  ];
  const body: string[] = [];
  for (const [name, kb] of postMortem.meminfo) {
    body.push(`meminfo.${oneLine(name)}=${kb} kB`);
  }
  for (const psi of postMortem.pressure) {
    body.push(
      `pressure.${psi.resource}=some avg10=${figure(psi.some)} full avg10=${
        figure(psi.full)
      }`,
    );
  }
  for (const [name, value] of postMortem.vmstat) {
    body.push(`vmstat.${oneLine(name)}=${value}`);
  }
  const processes = postMortem.processes.map((p, i) =>
    [
      `process.${i + 1}=pid ${p.pid} rss ${p.rssKb} kB swap ${
        figure(p.swapKb)
      } kB oom_score_adj ${figure(p.oomScoreAdj)}`,
      `process.${i + 1}.name=${oneLine(p.name)}`,
      `process.${i + 1}.cgroup=${
        p.cgroup === null ? "unknown" : oneLine(p.cgroup)
      }`,
    ].join("\n")
  );
  const partial = [...postMortem.partial];
  const size = (lines: string[]) =>
    new TextEncoder().encode(lines.join("\n")).length + 1;
  const render = () => [
    ...head,
    ...partial.map((why) => `postmortem_partial=${oneLine(why)}`),
    ...body,
    ...processes,
  ];
  let dropped = 0;
  while (processes.length > 0 && size(render()) > POST_MORTEM_MAX_BYTES) {
    processes.pop();
    dropped += 1;
    if (dropped === 1) partial.push("");
    partial[partial.length - 1] =
      `${dropped} process(es) left out to stay within ${POST_MORTEM_MAX_BYTES} bytes`;
  }
  let lines = render();
  // Partial reasons and meminfo names are short; should a kernel's be huge,
  // the text is cut rather than the limit broken.
  while (lines.length > head.length && size(lines) > POST_MORTEM_MAX_BYTES) {
    lines = lines.slice(0, -1);
  }
  return `${lines.join("\n")}\n`;
}

function numberOr(text: string | undefined): number | null {
  if (text === undefined || !/^-?\d{1,15}$/.test(text)) return null;
  return Number(text);
}

function decimalOr(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,6}(\.\d{1,4})?$/.test(text)) return null;
  return Number(text);
}

/** The post-mortem in a crash flag's text, or null when it has none. */
export function parsePostMortem(text: string): PostMortem | null {
  const values = new Map<string, string>();
  const partial: string[] = [];
  const meminfo: [string, number][] = [];
  const vmstat: [string, number][] = [];
  const pressure: PressureAvg10[] = [];
  for (const line of text.split("\n")) {
    const equals = line.indexOf("=");
    if (line.startsWith("#") || equals <= 0) continue;
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (key === "postmortem_partial") partial.push(value);
    else if (key.startsWith("meminfo.")) {
      const kb = /^(\d{1,15}) kB$/.exec(value);
      if (kb) meminfo.push([key.slice(8), Number(kb[1])]);
    } else if (key.startsWith("vmstat.")) {
      const count = numberOr(value);
      if (count !== null) vmstat.push([key.slice(7), count]);
    } else if (key === "pressure.memory" || key === "pressure.io") {
      const avg = /^some avg10=(\S+) full avg10=(\S+)$/.exec(value);
      pressure.push({
        resource: key === "pressure.memory" ? "memory" : "io",
        some: decimalOr(avg?.[1]),
        full: decimalOr(avg?.[2]),
      });
    } else if (!values.has(key)) values.set(key, value);
  }
  const moment = values.get("postmortem");
  if (moment !== "episode-start" && moment !== "panic") return null;
  const processes: ProcessUsage[] = [];
  for (let i = 1; i <= TOP_PROCESSES; i++) {
    const usage =
      /^pid (\d{1,10}) rss (\d{1,15}) kB swap (\S+) kB oom_score_adj (\S+)$/
        .exec(values.get(`process.${i}`) ?? "");
    if (!usage) break;
    const cgroup = values.get(`process.${i}.cgroup`);
    processes.push({
      pid: Number(usage[1]),
      rssKb: Number(usage[2]),
      swapKb: numberOr(usage[3]),
      oomScoreAdj: numberOr(usage[4]),
      name: values.get(`process.${i}.name`) ?? "unknown",
      cgroup: cgroup === undefined || cgroup === "unknown" ? null : cgroup,
    });
  }
  return {
    moment,
    takenAt: values.get("postmortem_at") ?? "unknown",
    tookMs: numberOr(values.get("postmortem_ms")) ?? 0,
    partial,
    meminfo,
    pressure,
    vmstat,
    processes,
  };
}

/** Resident pages from /proc/<pid>/statm (its second field), or null. */
export function residentPages(statm: string): number | null {
  const match = /^\d{1,20} (\d{1,20}) /.exec(statm);
  return match ? Number(match[1]) : null;
}

/** `Name`, `VmRSS` and `VmSwap` from /proc/<pid>/status (kernel threads have no Vm lines). */
export function parseProcessStatus(
  text: string,
): { name: string; rssKb: number | null; swapKb: number | null } {
  const field = (name: string) =>
    new RegExp(`^${name}:\\t?(.*)$`, "m").exec(text)?.[1];
  const kb = (name: string) => {
    const match = /^\s*(\d{1,15}) kB$/.exec(field(name) ?? "");
    return match ? Number(match[1]) : null;
  };
  return {
    name: field("Name") ?? "unknown",
    rssKb: kb("VmRSS"),
    swapKb: kb("VmSwap"),
  };
}

/** A post-mortem for a person, a few lines (for `oomwatch status`). */
export function describePostMortem(postMortem: PostMortem): string[] {
  const lines = [
    `${postMortem.moment}, taken ${postMortem.takenAt} in ${postMortem.tookMs} ms${
      postMortem.partial.length > 0
        ? ` (partial: ${postMortem.partial.join("; ")})`
        : ""
    }`,
  ];
  if (postMortem.meminfo.length > 0) {
    lines.push(
      postMortem.meminfo.map(([name, kb]) => `${name} ${kb} kB`).join(", "),
    );
  }
  if (postMortem.pressure.length > 0) {
    lines.push(
      `PSI avg10: ${
        postMortem.pressure.map((psi) =>
          `${psi.resource} some ${figure(psi.some)}% full ${figure(psi.full)}%`
        ).join(", ")
      }`,
    );
  }
  if (postMortem.vmstat.length > 0) {
    lines.push(
      postMortem.vmstat.map(([name, value]) => `${name} ${value}`).join(", "),
    );
  }
  for (const p of postMortem.processes) {
    lines.push(
      `pid ${p.pid} ${p.name}: rss ${p.rssKb} kB, swap ${
        figure(p.swapKb)
      } kB, oom_score_adj ${figure(p.oomScoreAdj)}, cgroup ${
        p.cgroup ?? "unknown"
      }`,
    );
  }
  return lines;
}
