import assert from "node:assert/strict";
import {
  classifyOomMessage,
  type KernelRecord,
  parseKernelRecord,
} from "../../src/core/kernel_log.ts";

const fixtureRecords = (name: string): KernelRecord[] =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url))
    .split("\n")
    .map(parseKernelRecord)
    .filter((record): record is KernelRecord => record !== null);

function kills(records: KernelRecord[]): unknown[] {
  return records.flatMap((record) => {
    const line = classifyOomMessage(record.message);
    return line?.kind === "kill" ? [line.kill] : [];
  });
}

Deno.test("parseKernelRecord() splits priority, sequence, timestamp and message", () => {
  const record = parseKernelRecord(
    "3,424,140792286,-;Memory cgroup out of memory: Killed process 1767 (python3)\n",
  );
  assert.deepEqual(record, {
    facility: 0,
    level: 3,
    seq: 424,
    timestampMicros: 140792286,
    message: "Memory cgroup out of memory: Killed process 1767 (python3)",
  });
});

Deno.test("parseKernelRecord() keeps the facility of userspace records and drops continuation lines", () => {
  const record = parseKernelRecord(
    "14,900,5000,-;Out of memory: Killed process 1 (fake)\n SUBSYSTEM=x\n DEVICE=y\n",
  );
  assert.equal(record?.facility, 1);
  assert.equal(record?.message, "Out of memory: Killed process 1 (fake)");
});

Deno.test("parseKernelRecord() unescapes \\x sequences and rejects non-records", () => {
  assert.equal(
    parseKernelRecord("6,1,2,-;tab\\x09here")?.message,
    "tab\there",
  );
  assert.equal(parseKernelRecord("not a record"), null);
  assert.equal(parseKernelRecord("6,1,2"), null);
  assert.equal(parseKernelRecord(""), null);
});

Deno.test("a real memcg OOM report (Linux 6.18) is one memcg kill with its cgroup", () => {
  const records = fixtureRecords("kmsg_memcg_oom_6.18.txt");
  assert.ok(records.length > 50);
  assert.deepEqual(kills(records), [{
    scope: "memcg",
    pid: 1767,
    task: "python3",
  }]);
  const constraints = records.flatMap((record) => {
    const line = classifyOomMessage(record.message);
    return line?.kind === "constraint" ? [line.constraint] : [];
  });
  assert.equal(constraints.length, 1);
  assert.equal(constraints[0].constraint, "CONSTRAINT_MEMCG");
  assert.equal(
    constraints[0].oomMemcg,
    "/process_api/974a51c797df12ada9ae3b1bb2895e3e/probe",
  );
  assert.equal(constraints[0].pid, 1767);
  assert.equal(constraints[0].task, "python3");
});

Deno.test("a global OOM report (Linux 6.1) is one global kill", () => {
  const records = fixtureRecords("kmsg_global_oom_6.1.txt");
  assert.deepEqual(kills(records), [{ scope: "global", pid: 97, task: "awk" }]);
  const constraint = records.map((r) => classifyOomMessage(r.message)).find((
    line,
  ) => line?.kind === "constraint");
  assert.equal(
    constraint?.kind === "constraint" && constraint.constraint.constraint,
    "CONSTRAINT_NONE",
  );
});

Deno.test("old kernels' 'Kill process … or sacrifice child' lines count once each", () => {
  assert.deepEqual(kills(fixtureRecords("kmsg_oom_4.9.txt")), [
    { scope: "global", pid: 2402, task: "java" },
    { scope: "memcg", pid: 3100, task: "node" },
  ]);
});

Deno.test("classifyOomMessage() handles task names with spaces and parentheses", () => {
  assert.deepEqual(
    classifyOomMessage(
      "Out of memory: Killed process 5 (Web Content) total-vm:1kB",
    ),
    { kind: "kill", kill: { scope: "global", pid: 5, task: "Web Content" } },
  );
  assert.deepEqual(
    classifyOomMessage("Out of memory: Killed process 6 (a) b) total-vm:1kB"),
    { kind: "kill", kill: { scope: "global", pid: 6, task: "a) b" } },
  );
});

Deno.test("classifyOomMessage() ignores look-alikes and truncated lines", () => {
  for (
    const message of [
      "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
      "Killed process 2402 (java) total-vm:4135200kB",
      "Out of memory and no killable processes...",
      "Out of memory: Killed process",
      "Out of memory: Killed process x (y)",
      "oom_reaper: reaped process 1767 (python3), now anon-rss:0kB",
      "oom-kill:nodemask=(null)",
      "",
    ]
  ) {
    assert.equal(classifyOomMessage(message), null, message);
  }
});

Deno.test("classifyOomMessage() reads a constraint line cut short", () => {
  assert.deepEqual(
    classifyOomMessage(
      "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allo",
    ),
    { kind: "constraint", constraint: { constraint: "CONSTRAINT_NONE" } },
  );
});
