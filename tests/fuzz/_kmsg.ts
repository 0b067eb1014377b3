/**
 * Kernel log reports as the kernel prints them (mm/oom_kill.c, 4.9 … 6.18),
 * with the names an attacker controls — process names (15 bytes, anything
 * but NUL) and cgroup names (anything but `/`) — drawn hostile, rendered
 * as /dev/kmsg renders records.
 *
 * @module
 */

import { concatBytes, kmsgEscape, type Rng, utf8 } from "./_harness.ts";

/** Pieces that fake the kernel's own separators and anchors. */
const NAME_FRAGMENTS: readonly (string | readonly number[])[] = [
  ")",
  "(",
  ") ",
  " total-vm:",
  "x) total-vm:1kB",
  ", anon-rss:",
  "kB",
  ",pid=",
  ",pid=1,uid=0",
  ",uid=",
  ",task=",
  ",task_memcg=",
  ",oom_memcg=",
  ",global_oom",
  "oom-kill:",
  "Task in ",
  "Killed process ",
  "Out of memory: ",
  " score 1 or sacrifice child",
  " killed as a result of limit of ",
  " are going to be killed due to memory.oom.group set",
  "Memory cgroup out of memory: ",
  "\n",
  "\r",
  "\t",
  "\\",
  "\\x41",
  "\\x0a",
  "=",
  ",",
  " ",
  "caf\u00e9",
  "\u00e9",
  "\u202e",
  "\u{1f600}",
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0xc2, 0x85],
  [0xc2, 0x9b],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe0, 0x80, 0xaf],
  [0x1b],
  [0x7f],
];

function fragmentBytes(fragment: string | readonly number[]): Uint8Array {
  return typeof fragment === "string"
    ? utf8(fragment)
    : Uint8Array.from(fragment);
}

/**
 * Hostile bytes of length `min` to `max`: fragments that fake the kernel's
 * anchors, random bytes and ASCII, never a byte in `forbidden`.
 */
export function hostileBytes(
  rng: Rng,
  min: number,
  max: number,
  forbidden: readonly number[],
): Uint8Array {
  const length = rng.chance(0.2) ? max : rng.int(min, max);
  const parts: Uint8Array[] = [];
  let total = 0;
  while (total < length) {
    const roll = rng.float();
    const part = roll < 0.5
      ? fragmentBytes(rng.pick(NAME_FRAGMENTS))
      : roll < 0.8
      ? Uint8Array.of(rng.int(0x20, 0x7e))
      : Uint8Array.of(rng.int(0, 255));
    parts.push(part);
    total += part.length;
  }
  const bytes = concatBytes(parts).slice(0, length);
  for (let i = 0; i < bytes.length; i++) {
    while (forbidden.includes(bytes[i])) bytes[i] = rng.int(0, 255);
  }
  return bytes;
}

/** A process name (`comm`): 1–15 bytes, anything but NUL (rarely empty). */
export function commBytes(rng: Rng): Uint8Array {
  return rng.chance(0.02) ? new Uint8Array(0) : hostileBytes(rng, 1, 15, [0]);
}

/** A cgroup name: anything but `/` and NUL, not `.` or `..`. */
export function cgroupNameBytes(rng: Rng): Uint8Array {
  const max = rng.chance(0.1) ? 255 : 40;
  for (;;) {
    const name = hostileBytes(rng, 1, max, [0x2f, 0]);
    const text = String.fromCharCode(...name);
    if (text !== "." && text !== "..") return name;
  }
}

/** `/a/b` from names. */
export function cgroupPath(names: readonly Uint8Array[]): Uint8Array {
  return names.length === 0
    ? utf8("/")
    : concatBytes(names.flatMap((name) => [utf8("/"), name]));
}

/** The cgroups the kernel's own configuration puts above an attacker's. */
export const CGROUP_BASES: readonly (readonly string[])[] = [
  [],
  ["user.slice", "user-1000.slice", "user@1000.service"],
  ["kubepods.slice", "kubepods-burstable.slice"],
  ["system.slice", "db.service"],
];

/** Which kernel's wording a report uses. */
export type KernelForm =
  /** 4.9–4.18: no summary; chosen line, bare kill line; memcg header. */
  | "4.9"
  /** 4.19: as 4.9, with memory.oom.group. */
  | "4.19"
  /** 5.0: summary (CONSTRAINT_NONE for memcg), chosen line, bare kill line. */
  | "5.0"
  /** 5.1: summary (CONSTRAINT_NONE for memcg), prefixed four-field kill line. */
  | "5.1"
  /** 5.2–5.3: summary, prefixed four-field kill line. */
  | "5.2"
  /** 5.4+: summary, kill line with UID, pgtables, oom_score_adj. */
  | "5.4";

/** Every wording, oldest first. */
export const KERNEL_FORMS: readonly KernelForm[] = [
  "4.9",
  "4.19",
  "5.0",
  "5.1",
  "5.2",
  "5.4",
];

/** Whether the form prints the `oom-kill:` summary. */
export function hasSummary(form: KernelForm): boolean {
  return form !== "4.9" && form !== "4.19";
}

/** Whether the form announces the victim with a chosen line and a bare kill line. */
export function hasChosenLine(form: KernelForm): boolean {
  return form === "4.9" || form === "4.19" || form === "5.0";
}

/** One record before rendering: its text as the kernel's raw bytes. */
export interface RawRecord {
  level: number;
  /** 0 for the kernel; userspace writers of /dev/kmsg get 1 and up. */
  facility: number;
  flag: "-" | "c" | "+";
  caller?: string;
  bytes: Uint8Array;
}

/** A record of the kernel, level `level`, text `text` (bytes or ASCII). */
export function kernelRecord(
  level: number,
  text: Uint8Array | string,
  caller?: string,
): RawRecord {
  const record: RawRecord = {
    level,
    facility: 0,
    flag: "-",
    bytes: typeof text === "string" ? utf8(text) : text,
  };
  if (caller !== undefined) record.caller = caller;
  return record;
}

/** Renders records as read(2) of /dev/kmsg returns them, numbered from `firstSeq`. */
export function renderRecords(
  records: readonly RawRecord[],
  firstSeq: number,
): string[] {
  return records.map((record, index) =>
    `${record.facility * 8 + record.level},${firstSeq + index},${
      1_000_000 + index * 1000
    },${record.flag}${
      record.caller === undefined ? "" : `,caller=${record.caller}`
    };${kmsgEscape(record.bytes)}\n`
  );
}

/**
 * A message printed in `pieces` (one printk, then pr_cont calls) split
 * where printk may split it, between pieces: the first piece a record of
 * its own, the rest continuation records of the same caller, other records
 * of other callers possibly between them.
 */
export function fragmented(
  rng: Rng,
  level: number,
  pieces: readonly Uint8Array[],
  caller: string | undefined,
  between: () => RawRecord,
): RawRecord[] {
  const records: RawRecord[] = [];
  const split = rng.chance(0.4);
  let pending: Uint8Array[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const record = kernelRecord(level, concatBytes(pending), caller);
    if (records.length > 0) {
      record.flag = "c";
      if (rng.chance(0.3)) records.push(between());
    }
    records.push(record);
    pending = [];
  };
  for (const piece of pieces) {
    if (split && pending.length > 0 && rng.chance(0.3)) flush();
    pending.push(piece);
  }
  flush();
  return records;
}

/** A kill line's numbers after the name, as the form prints them. */
export function killTail(rng: Rng, form: KernelForm): string {
  const kb = (): string => `${rng.int(0, 9_999_999)}kB`;
  const four =
    `total-vm:${kb()}, anon-rss:${kb()}, file-rss:${kb()}, shmem-rss:${kb()}`;
  return form === "5.4"
    ? `${four}, UID:${rng.int(0, 65534)} pgtables:${kb()} oom_score_adj:${
      rng.int(-1000, 1000)
    }`
    : four;
}

/** The kill line's prefix for a scope. */
export function killPrefix(rng: Rng, memcg: boolean): string {
  if (memcg) return "Memory cgroup out of memory";
  return rng.chance(0.8)
    ? "Out of memory"
    : "Out of memory (oom_kill_allocating_task)";
}

/** `Killed process P (T) …`, prefixed where the form prefixes it. */
export function killLine(
  rng: Rng,
  form: KernelForm,
  prefix: string | null,
  pid: number,
  comm: Uint8Array,
): Uint8Array {
  return concatBytes([
    utf8(`${prefix === null ? "" : `${prefix}: `}Killed process ${pid} (`),
    comm,
    utf8(`) ${killTail(rng, form)}`),
  ]);
}

/** `PREFIX: Kill process P (T) score S or sacrifice child` (Linux < 5.1). */
export function chosenLine(
  rng: Rng,
  prefix: string,
  pid: number,
  comm: Uint8Array,
): Uint8Array {
  return concatBytes([
    utf8(`${prefix}: Kill process ${pid} (`),
    comm,
    utf8(`) score ${rng.int(0, 2000)} or sacrifice child`),
  ]);
}

/**
 * The `oom-kill:` summary (Linux ≥ 5.0), in the pieces the kernel prints
 * it: the constraint, then pr_cont of the cpuset name, mems_allowed, the
 * cgroup paths and the task.
 */
export function summaryPieces(
  rng: Rng,
  form: KernelForm,
  memcg: { oom: Uint8Array } | null,
  taskMemcg: Uint8Array,
  cpuset: Uint8Array,
  comm: Uint8Array,
  pid: number,
): Uint8Array[] {
  const constraint = memcg
    ? form === "5.0" || form === "5.1" ? "CONSTRAINT_NONE" : "CONSTRAINT_MEMCG"
    : rng.pick([
      "CONSTRAINT_NONE",
      "CONSTRAINT_NONE",
      "CONSTRAINT_CPUSET",
      "CONSTRAINT_MEMORY_POLICY",
    ]);
  return [
    utf8(
      `oom-kill:constraint=${constraint},nodemask=${
        rng.pick(["(null)", "0", "0-1"])
      }`,
    ),
    utf8(",cpuset="),
    cpuset,
    utf8(`,mems_allowed=${rng.pick(["0", "0-1", "0-1,3"])}`),
    ...(memcg
      ? [utf8(",oom_memcg="), memcg.oom, utf8(",task_memcg=")]
      : [utf8(",global_oom,task_memcg=")]),
    taskMemcg,
    concatBytes([
      utf8(",task="),
      comm,
      utf8(`,pid=${pid},uid=${rng.int(0, 65534)}`),
    ]),
  ];
}

/** `Task in Y killed as a result of limit of X` (Linux < 5.0, memcg OOMs), in its pieces. */
export function memcgHeaderPieces(
  taskMemcg: Uint8Array,
  oomMemcg: Uint8Array,
): Uint8Array[] {
  return [
    utf8("Task in "),
    taskMemcg,
    utf8(" killed as a result of limit of "),
    oomMemcg,
  ];
}

/** `Tasks in G are going to be killed due to memory.oom.group set`. */
export function groupLine(group: Uint8Array): Uint8Array {
  return concatBytes([
    utf8("Tasks in "),
    group,
    utf8(" are going to be killed due to memory.oom.group set"),
  ]);
}

/**
 * Records of the report around the kill that name other processes and
 * cgroups: the allocating task, the task dump, memcg stats, the reaper;
 * and a userspace record that fakes a kill.
 */
export function noiseRecord(
  rng: Rng,
  comm: () => Uint8Array,
  path: () => Uint8Array,
): RawRecord {
  switch (rng.int(0, 7)) {
    case 0:
      return kernelRecord(
        4,
        concatBytes([
          comm(),
          utf8(
            " invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
          ),
        ]),
      );
    case 1:
      return kernelRecord(
        6,
        concatBytes([comm(), utf8(" cpuset=/ mems_allowed=0")]),
      );
    case 2:
      return kernelRecord(
        6,
        concatBytes([
          utf8(`[ ${rng.int(1, 99999)}]  1000  1  5  5  4096  0  0 `),
          comm(),
        ]),
      );
    case 3:
      return kernelRecord(
        6,
        concatBytes([utf8("Memory cgroup stats for "), path(), utf8(":")]),
      );
    case 4:
      return kernelRecord(
        6,
        concatBytes([
          utf8(`oom_reaper: reaped process ${rng.int(1, 99999)} (`),
          comm(),
          utf8("), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"),
        ]),
      );
    case 5:
      return {
        ...kernelRecord(
          3,
          concatBytes([
            utf8(`Out of memory: Killed process ${rng.int(1, 99999)} (`),
            comm(),
            utf8(") total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB"),
          ]),
        ),
        facility: rng.int(1, 23),
      };
    case 6:
      // Any user can have this printed, at any time, from another CPU.
      return kernelRecord(
        6,
        concatBytes([
          comm(),
          utf8(
            `[${
              rng.int(1, 99999)
            }]: segfault at 0 ip 0000000000401000 sp 00007ffc00000000 error 4`,
          ),
        ]),
      );
    default:
      return kernelRecord(
        6,
        "memory: usage 524288kB, limit 524288kB, failcnt 1",
      );
  }
}
