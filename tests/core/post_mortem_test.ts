import assert from "node:assert/strict";
import { formatCrashFlag, parseCrashFlag } from "../../src/core/crash_flag.ts";
import { memoryCgroupOf } from "../../src/core/memcg_policy.ts";
import {
  describePostMortem,
  formatPostMortem,
  parsePostMortem,
  parseProcessStatus,
  POST_MORTEM_MAX_BYTES,
  type PostMortem,
  residentPages,
  topProcesses,
} from "../../src/core/post_mortem.ts";

const POST_MORTEM: PostMortem = {
  moment: "panic",
  takenAt: "2026-12-01T12:00:30.000Z",
  tookMs: 41,
  partial: ["processes ranked: 300 of 812 (the 500 ms budget was spent)"],
  meminfo: [["MemTotal", 524288], ["MemAvailable", 7800]],
  pressure: [
    { resource: "memory", some: 91.5, full: 22.04 },
    { resource: "io", some: 99, full: null },
  ],
  vmstat: [["oom_kill", 0], ["pgmajfault", 123456], [
    "workingset_refault_file",
    98765,
  ]],
  processes: [
    {
      pid: 311,
      name: "pin",
      rssKb: 401000,
      swapKb: 0,
      oomScoreAdj: 0,
      cgroup: "/",
    },
    {
      pid: 77,
      name: "ev\\x0ail name",
      rssKb: 52000,
      swapKb: null,
      oomScoreAdj: -1000,
      cgroup: null,
    },
  ],
};

const FLAG = {
  started: "2026-12-01T12:00:00.000Z",
  trigger: "memory-stall",
  detail: "full stall 72% of 10 s",
  bootId: "0b8c3a6e-1111-2222-3333-444455556666",
  pid: 42,
  episode: 1,
  panicAt: "2026-12-01T12:00:30.100Z",
};

Deno.test("a crash flag with its post-mortem reads back whole: the flag's fields and every figure", () => {
  const text = formatCrashFlag(FLAG, POST_MORTEM);
  assert.deepEqual(parseCrashFlag(text), FLAG);
  assert.deepEqual(parsePostMortem(text), POST_MORTEM);
  assert.match(text, /^meminfo\.MemTotal=524288 kB$/m);
  assert.match(text, /^pressure\.memory=some avg10=91\.5 full avg10=22\.04$/m);
  assert.match(text, /^process\.2\.name=ev\\x0ail name$/m);
  assert.equal(parsePostMortem(formatCrashFlag(FLAG)), null);
});

Deno.test("a post-mortem stays within 16 KiB: processes are left out from the end, and it says so", () => {
  const huge = {
    ...POST_MORTEM,
    processes: Array.from({ length: 10 }, (_, i) => ({
      pid: i + 1,
      name: "x".repeat(15),
      rssKb: 1000 - i,
      swapKb: 0,
      oomScoreAdj: 0,
      cgroup: "/" + "c".repeat(3000),
    })),
  };
  const text = formatPostMortem(huge);
  assert.ok(new TextEncoder().encode(text).length <= POST_MORTEM_MAX_BYTES);
  const back = parsePostMortem(text);
  assert.ok(back !== null && back.processes.length < 10);
  assert.match(
    back.partial.at(-1) ?? "",
    /process\(es\) left out to stay within 16384 bytes/,
  );
});

Deno.test("the /proc readers of the post-mortem: statm, status, cgroup v1 and v2", () => {
  assert.equal(residentPages("2543 612 400 1 0 300 0\n"), 612);
  assert.equal(residentPages("garbage"), null);
  const status = parseProcessStatus(
    "Name:\tpython3\nUmask:\t0022\nVmRSS:\t  401000 kB\nVmSwap:\t       0 kB\n",
  );
  assert.deepEqual(status, { name: "python3", rssKb: 401000, swapKb: 0 });
  assert.deepEqual(parseProcessStatus("Name:\tkthreadd\n"), {
    name: "kthreadd",
    rssKb: null,
    swapKb: null,
  });
  assert.equal(
    memoryCgroupOf("12:pids:/a\n4:memory:/process_api/x\n0::/\n"),
    "/process_api/x",
  );
  assert.equal(
    memoryCgroupOf("0::/system.slice/db.service\n"),
    "/system.slice/db.service",
  );
  assert.equal(memoryCgroupOf("nonsense"), null);
  assert.deepEqual(
    topProcesses([{ pid: 3, rssKb: 5 }, { pid: 1, rssKb: 9 }, {
      pid: 2,
      rssKb: 9,
    }], 2),
    [{ pid: 1, rssKb: 9 }, { pid: 2, rssKb: 9 }],
  );
});

Deno.test("describePostMortem() gives a person the figures and the top processes", () => {
  const lines = describePostMortem(POST_MORTEM);
  assert.match(
    lines[0],
    /^panic, taken 2026-12-01T12:00:30.000Z in 41 ms \(partial: processes ranked/,
  );
  assert.ok(lines.includes("MemTotal 524288 kB, MemAvailable 7800 kB"));
  assert.ok(
    lines.includes(
      "PSI avg10: memory some 91.5% full 22.04%, io some 99% full unknown%",
    ),
  );
  assert.ok(
    lines.some((line) => line.startsWith("pid 311 pin: rss 401000 kB")),
  );
});

Deno.test("memoryCgroupOf() refuses a text that is not one path per controller line: a name with a newline would read as another cgroup", () => {
  assert.equal(memoryCgroupOf("4:memory:/db\nx\n0::/\n"), null);
  assert.equal(memoryCgroupOf("4:memory:/evil\n4:memory:/db\n"), null);
  assert.equal(memoryCgroupOf("0::/a\n0::/b\n"), null);
  assert.equal(memoryCgroupOf(""), null);
  assert.equal(memoryCgroupOf("4:memory:/a:b c\n"), "/a:b c");
});
