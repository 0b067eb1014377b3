import assert from "node:assert/strict";
import {
  classifyOomMessage,
  type KernelRecord,
  parseConstraint,
  parseKernelRecord,
} from "../../src/core/kernel_log.ts";
import {
  KillCorrelator,
  type KillObservation,
} from "../../src/core/kill_correlator.ts";

const fixtureRecords = (name: string): KernelRecord[] =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url))
    .split("\n")
    // Dictionary lines (" KEY=VALUE") belong to the record before them.
    .filter((line) => line !== "" && !line.startsWith(" "))
    .map(parseKernelRecord)
    .filter((record): record is KernelRecord => record !== null);

function correlate(records: KernelRecord[]): KillObservation[] {
  const correlator = new KillCorrelator();
  return records.flatMap((record) => {
    const kill = correlator.add(record);
    return kill ? [kill] : [];
  });
}

/** `scope:pid` of each kill, `@cgroup` where the report named one. */
function summary(kills: KillObservation[]): string[] {
  return kills.map((kill) =>
    `${kill.scope}:${kill.victim?.pid}${kill.memcg ? `@${kill.memcg}` : ""}`
  );
}

const K8S =
  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1b9a4e_2f1d_4c7a_9b55_0d6c1e2f3a4b.slice/cri-containerd-5d41402abc4b2a76b9719d911017c592ae8f1c3e9b6a0f2d7c4e8b1a9f3d6c20.scope";

/**
 * One OOM report per kernel and wording, 4.9 to 6.18 (tests/fixtures/kmsg/,
 * transcribed from each kernel's format strings), and what oomwatch must make
 * of it.
 */
const WORDINGS: [file: string, kills: string[]][] = [
  ["kmsg_4.9_global.txt", ["global:2817"]],
  ["kmsg_4.9_memcg.txt", ["memcg:14022@/docker/3f9c2d1e8b7a"]],
  // The memcg header in four fragments (extended console): -, c, +, +.
  ["kmsg_4.9_memcg_extcon_fragments.txt", ["memcg:14022@/docker/3f9c2d1e8b7a"]],
  // The chosen parent is 1403; its child 1499 is the one killed.
  ["kmsg_4.14_global_sacrifice_child.txt", ["global:1499"]],
  // vm.oom_kill_allocating_task=1 before 5.1: the chosen line's own prefix.
  ["kmsg_4.14_allocating_task.txt", ["global:1499"]],
  ["kmsg_4.19_global.txt", ["global:2817"]],
  ["kmsg_4.19_memcg.txt", ["memcg:3377@/system.slice/nginx.service"]],
  // memory.oom.group: bare member lines, the victim killed twice.
  ["kmsg_4.19_memcg_oom_group.txt", [
    "memcg:5101@/workload.slice/job-42",
    "memcg:5100@/workload.slice/job-42",
    "memcg:5101@/workload.slice/job-42",
    "memcg:5102@/workload.slice/job-42",
  ]],
  ["kmsg_5.0_global_sacrifice_child.txt", ["global:1499"]],
  // 5.0/5.1 print CONSTRAINT_NONE for memcg OOMs.
  ["kmsg_5.0_memcg.txt", ["memcg:14022@/docker/3f9c2d1e8b7a"]],
  ["kmsg_5.2_global.txt", ["global:2817"]],
  ["kmsg_5.3_memcg.txt", ["memcg:3377@/system.slice/nginx.service"]],
  ["kmsg_5.4_global.txt", ["global:2817"]],
  ["kmsg_5.4.0_global_pgtables_bytes_bug.txt", ["global:2817"]],
  ["kmsg_5.4_memcg.txt", [`memcg:40961@${K8S}`]],
  ["kmsg_5.10_global_oom_group.txt", [
    "global:5101",
    "global:5100",
    "global:5101",
    "global:5102",
  ]],
  ["kmsg_5.10_pagefault_global.txt", ["global:2817"]],
  ["kmsg_5.15_memcg.txt", [`memcg:40961@${K8S}`]],
  ["kmsg_6.1_global.txt", ["global:2210"]],
  ["kmsg_6.1_memcg.txt", ["memcg:3377@/system.slice/nginx.service"]],
  ["kmsg_6.1_allocating_task.txt", ["global:7781"]],
  ["kmsg_6.1_sysrq.txt", ["global:2210"]],
  ["kmsg_6.6_global_mempolicy.txt", ["global:8812"]],
  ["kmsg_6.6_global_cpuset.txt", ["global:8812"]],
  // "OOM victim … is already exiting. Skip killing the task" is no kill.
  ["kmsg_6.12_memcg_oom_group_exiting.txt", [
    "memcg:9000@/workload.slice/job-42",
    "memcg:9001@/workload.slice/job-42",
    "memcg:9002@/workload.slice/job-42",
  ]],
  ["kmsg_6.18_global.txt", ["global:2210"]],
  ["kmsg_6.18_memcg.txt", [`memcg:40961@${K8S}`]],
  ["kmsg_6.18_global_printk_caller.txt", ["global:2210"]],
  // The summary split by another record, its rest flagged c.
  ["kmsg_6.18_global_fragmented_summary.txt", ["global:2210"]],
  ["kmsg_6.18_global_dict_continuation.txt", ["global:2210"]],
  // The oom ratelimit ate the first two summaries.
  ["kmsg_6.18_memcg_ratelimited.txt", [
    "memcg:9001",
    "memcg:9002",
    "memcg:9003@/workload.slice/job-42",
  ]],
  ["kmsg_6.18_global_hostile_comm.txt", [
    "global:6001",
    "global:6002",
    "global:6003",
  ]],
];

for (const [file, expected] of WORDINGS) {
  Deno.test(`the kernel log of ${file} gives ${expected.join(", ")}`, () => {
    assert.deepEqual(
      summary(correlate(fixtureRecords(`kmsg/${file}`))),
      expected,
    );
  });
}

Deno.test("every kill wording of 4.9 … 6.18 is covered by a fixture", () => {
  const files = [
    ...Deno.readDirSync(new URL("../fixtures/kmsg", import.meta.url)),
  ]
    .map((entry) => entry.name).sort();
  assert.deepEqual(files, WORDINGS.map(([file]) => file).sort());
});

Deno.test("real reports captured on 6.18 (memcg), 6.1 (global) and 4.9 are read as they happened", () => {
  assert.deepEqual(
    summary(correlate(fixtureRecords("kmsg_memcg_oom_6.18.txt"))),
    [
      "memcg:1767@/process_api/974a51c797df12ada9ae3b1bb2895e3e/probe",
    ],
  );
  assert.deepEqual(
    summary(correlate(fixtureRecords("kmsg_global_oom_6.1.txt"))),
    [
      "global:97",
    ],
  );
  assert.deepEqual(summary(correlate(fixtureRecords("kmsg_oom_4.9.txt"))), [
    "global:2402",
    "memcg:3100",
  ]);
});

Deno.test("victim names with any byte are read exactly and shown escaped", () => {
  const kills = correlate(
    fixtureRecords("kmsg/kmsg_6.18_global_hostile_comm.txt"),
  );
  assert.deepEqual(kills.map((kill) => kill.victim?.name), [
    "x) total-vm:1kB",
    "echo-set\\x0a",
    "café\\x5csrv",
  ]);
});

Deno.test("parseKernelRecord() splits priority, sequence, timestamp, flag, caller and text", () => {
  assert.deepEqual(
    parseKernelRecord(
      "3,424,140792286,-;Memory cgroup out of memory: Killed process 1767 (python3)\n",
    ),
    {
      facility: 0,
      level: 3,
      seq: 424,
      timestampMicros: 140792286,
      continuation: false,
      text: "Memory cgroup out of memory: Killed process 1767 (python3)",
    },
  );
  const fragment = parseKernelRecord("4,9,10,c,caller=T2210;,global_oom");
  assert.equal(fragment?.continuation, true);
  assert.equal(fragment?.caller, "T2210");
  assert.equal(parseKernelRecord("4,9,10,+;x")?.continuation, true);
});

Deno.test("parseKernelRecord() keeps the facility of userspace records and drops continuation lines", () => {
  const record = parseKernelRecord(
    "14,900,5000,-;Out of memory: Killed process 1 (fake)\n SUBSYSTEM=x\n DEVICE=y\n",
  );
  assert.equal(record?.facility, 1);
  assert.equal(record?.text, "Out of memory: Killed process 1 (fake)");
});

Deno.test("parseKernelRecord() keeps the text escaped, as /dev/kmsg renders it, and rejects non-records", () => {
  assert.equal(parseKernelRecord("6,1,2,-;tab\\x09here")?.text, "tab\\x09here");
  assert.equal(parseKernelRecord("not a record"), null);
  assert.equal(parseKernelRecord("6,1,2"), null);
  assert.equal(parseKernelRecord(""), null);
});

Deno.test("a userspace record shaped like a kill is never one", () => {
  const fake = parseKernelRecord(
    "11,5,6,-;Out of memory: Killed process 1 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
  );
  assert.ok(fake);
  assert.equal(new KillCorrelator().add(fake), null);
});

const kill = (prefix: string, pid: number, name: string): string =>
  `${prefix}: Killed process ${pid} (${name}) total-vm:100kB, anon-rss:90kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4kB oom_score_adj:0`;

function records(...texts: string[]): KernelRecord[] {
  return texts.map((text, seq) => ({
    facility: 0,
    level: 3,
    seq,
    timestampMicros: seq,
    continuation: false,
    text,
  }));
}

Deno.test("the scope comes from the kernel's own text: a name can make a kill neither global nor memcg", () => {
  // A memcg victim named like a global kill line, a global one named like
  // a memcg line and a summary: the prefix and constraint decide.
  const memcg = correlate(records(
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/u/e,task_memcg=/u/e,task=Out of memory:,pid=7,uid=1000",
    kill("Memory cgroup out of memory", 7, "Out of memory:"),
  ));
  assert.deepEqual(summary(memcg), ["memcg:7@/u/e"]);
  const global = correlate(records(
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/u/x,oom_memcg=/a,task_memcg=/a/b,task=m,pid=8,uid=1000",
    kill("Out of memory", 8, "Memory cgroup"),
  ));
  assert.deepEqual(summary(global), ["global:8"]);
});

Deno.test("crafted cgroup names cannot claim another cgroup's OOM: the reading is ambiguous, so no cgroup", () => {
  // The kernel prints oom_memcg=/u/e and task_memcg=/u/e/<name>/system.slice/db.service,
  // where <name> is "x,oom_memcg=" and a child dir is "db.service,task_memcg=".
  const text =
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/u/e,task_memcg=/u/e/x,oom_memcg=/system.slice/db.service,task_memcg=/system.slice/db.service,task=hog,pid=9,uid=1000";
  const constraint = parseConstraint(text);
  assert.equal(constraint?.scope, "memcg");
  assert.equal(constraint?.oomMemcg, undefined);
  const kills = correlate(
    records(text, kill("Memory cgroup out of memory", 9, "hog")),
  );
  assert.deepEqual(summary(kills), ["memcg:9"]);
});

Deno.test("a cgroup path with commas and '=' that reads one way only is kept", () => {
  const constraint = parseConstraint(
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-1,3,oom_memcg=/a,b=c,task_memcg=/a,b=c/d e,task=t,pid=10,uid=0",
  );
  assert.equal(constraint?.oomMemcg, "/a,b=c");
});

Deno.test("classifyOomMessage() ignores look-alikes, non-kills and cut lines", () => {
  for (
    const message of [
      "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
      "Out of memory and no killable processes...",
      "Out of memory: Killed process",
      "Out of memory: Killed process x (y)",
      "Out of memory: Killed process 5 (y) total-vm:1kB",
      "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled",
      "Memory cgroup out of memory: OOM victim 9001 (worker) is already exiting. Skip killing the task",
      "oom_reaper: reaped process 1767 (python3), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
      // a name longer than the kernel's 15 bytes cannot be a comm
      "Out of memory: Killed process 5 (0123456789abcdef) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
      "",
    ]
  ) {
    assert.equal(classifyOomMessage(message), null, message);
  }
});

Deno.test("a summary cut short (the kernel's 1 KiB record limit) names no pid and gives no cgroup", () => {
  assert.equal(
    parseConstraint(
      "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allo",
    ),
    null,
  );
});

Deno.test("a bare kill line with nothing before it is left to the counter's fallback", () => {
  assert.deepEqual(
    correlate(records(
      "Killed process 5 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
    )),
    [],
  );
});

Deno.test("pendingScope() tells the scope of a kill the log has announced but not printed", () => {
  const correlator = new KillCorrelator();
  for (
    const record of records(
      "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=t,pid=11,uid=0",
    )
  ) correlator.add(record);
  assert.deepEqual(correlator.pendingScope(11), {
    scope: "memcg",
    memcg: "/a",
  });
  assert.equal(correlator.pendingScope(12), null);
});

Deno.test("a stale summary (its victim was already exiting) never lends its scope to a later kill of another pid", () => {
  const kills = correlate(records(
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/tenant,task_memcg=/tenant,task=x,pid=100,uid=0",
    "Memory cgroup out of memory: OOM victim 100 (x) is already exiting. Skip killing the task",
    // The next report's summary was rate-limited away: a global kill alone.
    kill("Out of memory", 200, "db"),
  ));
  assert.deepEqual(summary(kills), ["global:200"]);
  assert.equal(kills[0].constraint, undefined);
});
