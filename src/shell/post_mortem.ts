/**
 * Takes the post-mortem (core/post_mortem.ts) from /proc within a time
 * budget: on a thrashing machine every read may be slow, and a late panic
 * is worse than a partial post-mortem. The figures first (four reads), then
 * one statm read per process to rank them, then the top ten's status,
 * oom_score_adj and cgroup. A read that blocks cannot be cut short; none of
 * these takes the mm's lock (fs/proc/array.c, task_mmu.c), which a thrashing
 * process may hold.
 *
 * @module
 */

import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import { parseMeminfoFields } from "../core/meminfo.ts";
import {
  keepsVmstatCounter,
  MEMINFO_FIELDS,
  parseProcessStatus,
  type PostMortem,
  type PostMortemMoment,
  type PressureAvg10,
  type ProcessUsage,
  residentPages,
  TOP_PROCESSES,
  topProcesses,
} from "../core/post_mortem.ts";
import { parsePressure } from "../core/pressure.ts";
import { parseVmstat } from "../core/vmstat.ts";
import { escapeControl } from "../core/text.ts";
import { readKernelText, readMemoryCgroup } from "./procfs.ts";

/** The time budget of each moment (README: measured in the thrash scenario). */
export const POST_MORTEM_BUDGET_MS: Record<PostMortemMoment, number> = {
  "episode-start": 100,
  panic: 500,
};

/** Takes the post-mortem of `moment` at wall-clock `takenAt`. */
export function takePostMortem(
  machine: Machine,
  moment: PostMortemMoment,
  takenAt: string,
  budgetMs = POST_MORTEM_BUDGET_MS[moment],
): PostMortem {
  const start = performance.now();
  const spent = () => performance.now() - start;
  const partial: string[] = [];
  const text = (path: string): string | null => {
    const reading = readKernelText(path);
    if (reading.ok) return reading.value;
    partial.push(reading.reason);
    return null;
  };
  const meminfo: [string, number][] = [];
  const memText = text(machine.meminfo);
  if (memText !== null) {
    const fields = parseMeminfoFields(memText);
    for (const name of MEMINFO_FIELDS) {
      const bytes = fields.get(name);
      if (bytes !== undefined) meminfo.push([name, Math.round(bytes / 1024)]);
    }
  }
  const pressure: PressureAvg10[] = [];
  for (
    const [resource, path] of [
      ["memory", machine.pressureMemory],
      ["io", machine.pressureIo],
    ] as const
  ) {
    const psi = text(path);
    if (psi === null) continue;
    const parsed = parsePressure(psi);
    pressure.push({
      resource,
      some: parsed.some?.avg10 ?? null,
      full: parsed.full?.avg10 ?? null,
    });
  }
  const vmstat: [string, number][] = [];
  const vmText = text(machine.vmstat);
  if (vmText !== null) {
    for (const [name, value] of parseVmstat(vmText).counters) {
      if (keepsVmstatCounter(name)) vmstat.push([name, value]);
    }
  }
  const processes = topByMemory(machine, budgetMs, spent, partial);
  return {
    moment,
    takenAt,
    tookMs: Math.round(spent()),
    partial,
    meminfo,
    pressure,
    vmstat,
    processes,
  };
}

function topByMemory(
  machine: Machine,
  budgetMs: number,
  spent: () => number,
  partial: string[],
): ProcessUsage[] {
  let pids: number[];
  try {
    pids = [...Deno.readDirSync(machine.proc)]
      .filter((entry) => /^\d{1,10}$/.test(entry.name))
      .map((entry) => Number(entry.name));
  } catch (error) {
    partial.push(`processes: ${machine.proc}: ${describeError(error)}`);
    return [];
  }
  const ranked: { pid: number; rssKb: number }[] = [];
  // Ranking gets four fifths of the budget, the top ten's details the rest.
  for (const [index, pid] of pids.entries()) {
    if (spent() > budgetMs * 0.8) {
      partial.push(
        `processes ranked: ${index} of ${pids.length} (the ${budgetMs} ms budget was spent)`,
      );
      break;
    }
    const statm = readKernelText(`${machine.proc}/${pid}/statm`);
    const pages = statm.ok ? residentPages(statm.value) : null;
    // The page count ranks; the kB shown come from status below.
    if (pages !== null && pages > 0) ranked.push({ pid, rssKb: pages });
  }
  const top: ProcessUsage[] = [];
  // Walk down the whole ranking: a process ranked among the ten may exit
  // before its details are read (in an OOM episode the victims do), and the
  // next one down takes its place.
  for (const { pid } of topProcesses(ranked, ranked.length)) {
    if (top.length === TOP_PROCESSES) break;
    if (spent() > budgetMs) {
      partial.push(`processes detailed: ${top.length} (the budget was spent)`);
      break;
    }
    const status = readKernelText(`${machine.proc}/${pid}/status`);
    if (!status.ok) continue; // exited meanwhile
    const parsed = parseProcessStatus(status.value);
    const adj = readKernelText(`${machine.proc}/${pid}/oom_score_adj`);
    const adjValue = adj.ok ? Number(adj.value.trim()) : Number.NaN;
    top.push({
      pid,
      name: escapeControl(parsed.name),
      rssKb: parsed.rssKb ?? 0,
      swapKb: parsed.swapKb,
      oomScoreAdj: Number.isInteger(adjValue) ? adjValue : null,
      cgroup: readMemoryCgroup(machine.proc, pid),
    });
  }
  return top.sort((a, b) => b.rssKb - a.rssKb || a.pid - b.pid);
}
