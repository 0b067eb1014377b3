import assert from "node:assert/strict";
import {
  cgroupDirectory,
  memoryHierarchyOf,
  oomKillFile,
} from "../../src/core/cgroup_fs.ts";
import { DEFAULT_CONFIG } from "../../src/core/config.ts";
import { Detector, type Observation } from "../../src/core/detector.ts";
import { parseKernelRecord } from "../../src/core/kernel_log.ts";
import {
  type CoveredCounter,
  CoveredKillCounts,
} from "../../src/core/kill_ledger.ts";
import {
  coveredCgroups,
  mayRaiseCovered,
  memcgKillIsSignal,
} from "../../src/core/memcg_policy.ts";

// This machine's mounts (cgroup v1) and a systemd host's (cgroup v2).
const V1 = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
].join("\n");
const V2 =
  "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

Deno.test("memoryHierarchyOf(): the v1 memory mount, else the cgroup2 one; only a mount of the root; escapes undone", () => {
  assert.deepEqual(memoryHierarchyOf(V1), {
    version: 1,
    mountPoint: "/sys/fs/cgroup/memory",
    ownTasksOnly: true,
  });
  assert.deepEqual(memoryHierarchyOf(V2), {
    version: 2,
    mountPoint: "/sys/fs/cgroup",
    ownTasksOnly: false,
  });
  // A v1 memory mount wins over a cgroup2 one listed first (hybrid hosts:
  // the controller is bound to v1 then).
  assert.equal(memoryHierarchyOf(`${V2}${V1}`)?.version, 1);
  assert.deepEqual(
    memoryHierarchyOf(
      "50 22 0:40 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw,memory_localevents\n",
    ),
    { version: 2, mountPoint: "/mnt/cg two", ownTasksOnly: true },
  );
  // A container's view of a subtree names cgroups from elsewhere.
  assert.equal(
    memoryHierarchyOf(
      "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
    ),
    null,
  );
  assert.equal(
    memoryHierarchyOf("31 23 0:28 / /tmp rw - tmpfs tmpfs rw\n"),
    null,
  );
  assert.equal(memoryHierarchyOf(""), null);
  const v1 = memoryHierarchyOf(V1)!;
  assert.equal(oomKillFile(v1), "memory.oom_control");
  assert.equal(oomKillFile(memoryHierarchyOf(V2)!), "memory.events");
  assert.equal(cgroupDirectory(v1, "/db"), "/sys/fs/cgroup/memory/db");
  assert.equal(cgroupDirectory(v1, "/"), "/sys/fs/cgroup/memory");
});

Deno.test("coveredCgroups(): the prefixes, none below another; none for all, none or /", () => {
  assert.deepEqual(
    coveredCgroups({
      kind: "prefixes",
      prefixes: ["/a/b", "/a", "/c", "/ab", "/c"],
    }),
    ["/a", "/ab", "/c"],
  );
  assert.deepEqual(coveredCgroups({ kind: "all" }), []);
  assert.deepEqual(coveredCgroups({ kind: "none" }), []);
  assert.deepEqual(
    coveredCgroups({ kind: "prefixes", prefixes: ["/a", "/"] }),
    [],
  );
  // `/` covers the cgroup the log did not name too.
  assert.equal(
    memcgKillIsSignal({ kind: "prefixes", prefixes: ["/"] }, undefined),
    true,
  );
});

Deno.test("mayRaiseCovered(): which judged kills can explain a rise of the covered counters", () => {
  const policy = { kind: "prefixes", prefixes: ["/db", "/a/b"] } as const;
  const cases: [Parameters<typeof mayRaiseCovered>[1], boolean][] = [
    [{ scope: "global" }, true],
    [{ scope: "memcg", memcg: "/db/x" }, true],
    [{ scope: "memcg", memcg: "/a" }, true], // the victim may be in /a/b
    [{ scope: "memcg", memcg: "/web" }, false],
    [{ scope: "memcg", victimMemcg: "/db" }, true],
    [{ scope: "memcg", victimMemcg: "/web" }, false],
    [{ scope: "memcg" }, false], // the one the counters are read for
  ];
  for (const [kill, expected] of cases) {
    assert.equal(mayRaiseCovered(policy, kill), expected, JSON.stringify(kill));
  }
});

/** Counters as a reading gives them; a cgroup's id is its name unless told. */
function counters(
  ...entries: [cgroup: string, value: number, id?: string][]
): CoveredCounter[] {
  return entries.map(([cgroup, value, id]) => ({
    cgroup,
    value,
    id: id ?? cgroup,
  }));
}

Deno.test("CoveredKillCounts: a rise no judged kill explains is due at once, or after the grace while a kill waits", () => {
  const counts = new CoveredKillCounts(1_000);
  counts.reading(counters(["/db", 5]), true, 0);
  assert.deepEqual(
    counts.due(0, false),
    [],
    "the first reading is the baseline",
  );
  counts.reading(counters(["/db", 6]), true, 100);
  assert.equal(counts.pending, true);
  assert.deepEqual(counts.due(100, true), [], "a kill waits for its line");
  assert.deepEqual(counts.due(1_099, true), []);
  assert.deepEqual(counts.due(1_100, true), ["/db"], "the grace is over");
  assert.equal(counts.pending, false);
  // Explained by a judged kill, before or after the reading.
  counts.credit(2_000);
  counts.reading(counters(["/db", 7]), true, 2_000);
  assert.deepEqual(counts.due(2_000, false), []);
  counts.reading(counters(["/db", 8]), true, 3_000);
  counts.credit(3_001);
  assert.deepEqual(counts.due(3_001, false), []);
  // A credit is good for 10 s, then it explains nothing.
  counts.credit(4_000);
  counts.reading(counters(["/db", 9]), true, 14_001);
  assert.deepEqual(counts.due(14_001, false), ["/db"]);
});

Deno.test("CoveredKillCounts: a cgroup is told by its counter's id: created since counts all its kills, made anew counts from 0, renamed counts on, unreachable before is a baseline", () => {
  const counts = new CoveredKillCounts(1_000);
  counts.reading(counters(["/db", 9]), true, 0);
  counts.reading(counters(["/db", 9], ["/db/new", 2, "n1"]), true, 1_000);
  assert.deepEqual(
    counts.due(1_000, false),
    ["/db/new", "/db/new"],
    "created since the last complete reading",
  );
  // Not read once (a failure elsewhere): it keeps its value.
  counts.reading(counters(["/db", 9]), false, 2_000);
  counts.reading(counters(["/db", 9], ["/db/new", 2, "n1"]), true, 3_000);
  assert.deepEqual(counts.due(3_000, false), [], "kept through a failed read");
  // Removed, then made again (a service restarted) before the next read:
  // the same name and the same value, but a new counter: both its kills
  // are new.
  counts.reading(counters(["/db", 9], ["/db/new", 2, "n2"]), true, 4_000);
  assert.deepEqual(counts.due(4_000, false), ["/db/new", "/db/new"]);
  counts.reading(counters(["/db", 9], ["/db/new", 0, "n3"]), true, 5_000);
  assert.deepEqual(counts.due(5_000, false), [], "made anew, no kill yet");
  // Renamed (v1 and v2 allow it within the parent): its kills are old.
  counts.reading(counters(["/db", 9], ["/db/renamed", 0, "n3"]), true, 6_000);
  assert.deepEqual(counts.due(6_000, false), []);
  // A reading that stopped short (the walk's cap) may have missed cgroups
  // that existed: one first seen after it is a baseline, not new kills.
  counts.reading(counters(["/db", 9]), false, 7_000);
  counts.reading(counters(["/db", 9], ["/db/old", 3, "o1"]), true, 8_000);
  assert.deepEqual(counts.due(8_000, false), [], "unreachable before");
  counts.reading(counters(["/db", 9], ["/db/old", 4, "o1"]), true, 9_000);
  assert.deepEqual(counts.due(9_000, false), ["/db/old"], "and counted on");
});

function rateLimitedKill(): ReturnType<typeof parseKernelRecord> {
  // A memcg kill line with no summary before it: printk's OOM rate limit
  // (mm/oom_kill.c) dropped the report, never the kill line.
  const [line] = Deno.readTextFileSync(
    new URL(
      "../fixtures/kmsg/kmsg_6.18_memcg_ratelimited.txt",
      import.meta.url,
    ),
  ).split("\n");
  return parseKernelRecord(line);
}

const COVERING_DB = {
  ...DEFAULT_CONFIG,
  memcgOom: { kind: "prefixes", prefixes: ["/db"] },
} as const;

/** A complete reading of one covered counter. */
function coveredReading(
  cgroup: string,
  value: number,
): Extract<Observation, { kind: "covered-oom-kills" }> {
  return {
    kind: "covered-oom-kills",
    counters: counters([cgroup, value]),
    complete: true,
  };
}

Deno.test("under memcg_oom prefixes, a kill the log could not place is a signal when a covered cgroup's counter counted it", () => {
  const record = rateLimitedKill();
  assert.ok(record !== null);
  for (const [risen, signals] of [["/db/worker", 1], [null, 0]] as const) {
    const detector = new Detector(COVERING_DB, 10);
    const before: [string, number][] = [["/db", 3], ["/db/worker", 0]];
    detector.observe(
      {
        kind: "covered-oom-kills",
        counters: counters(...before),
        complete: true,
      },
      0,
      true,
    );
    const logged = detector.observe(
      { kind: "kernel-records", records: [record] },
      10,
      true,
    );
    assert.deepEqual(logged.signals, [], "the log alone cannot place it");
    assert.match(logged.logs[0].message, /in an unidentified cgroup/);
    detector.observe({ kind: "oom-kill-counter", value: 11 }, 10, true);
    const after = before.map(([cgroup, value]): [string, number] => [
      cgroup,
      cgroup === risen ? value + 1 : value,
    ]);
    const counted = detector.observe(
      {
        kind: "covered-oom-kills",
        counters: counters(...after),
        complete: true,
      },
      10,
      true,
    );
    assert.equal(counted.signals.length, signals);
    if (signals > 0) {
      assert.equal(counted.signals[0].kind, "memcg-oom");
      assert.match(
        counted.signals[0].detail,
        /^kill in \/db\/worker \(from its memory cgroup's oom_kill counter/,
      );
    }
    assert.equal(detector.counters.memcgOomKills, 1, "one kill, counted once");
  }
});

Deno.test("a kill the log placed in a covered cgroup is one signal, not two; a reload starts the counters over", () => {
  const detector = new Detector(COVERING_DB, 0);
  const reading = (value: number) => coveredReading("/db", value);
  detector.observe(reading(0), 0, true);
  const placed = detector.kill({
    scope: "memcg",
    source: "kernel log",
    victim: { pid: 7, name: "hog" },
    memcg: "/db",
  }, 10);
  assert.equal(placed.signals.length, 1);
  assert.deepEqual(detector.observe(reading(1), 10, true).signals, []);
  // A global kill of a victim there explains its rise too.
  detector.kill({ scope: "global", source: "kernel log" }, 20);
  assert.deepEqual(detector.observe(reading(2), 20, true).signals, []);
  // Newly covered cgroups' counts so far are not kills to judge.
  detector.configure({
    ...COVERING_DB,
    memcgOom: { kind: "prefixes", prefixes: ["/db", "/web"] },
  });
  const widened = {
    kind: "covered-oom-kills" as const,
    counters: counters(["/db", 2], ["/web", 40]),
    complete: true,
  };
  assert.deepEqual(detector.observe(widened, 30, true).signals, []);
  assert.equal(detector.killPending, false);
});

Deno.test("a covered counter's cgroup is named escaped in the signal: a delegated subtree's names are anyone's", () => {
  const detector = new Detector(COVERING_DB, 0);
  const reading = (value: number) => coveredReading("/db/\x1b[2Jx\ny", value);
  detector.observe(reading(0), 0, true);
  const [signal] = detector.observe(reading(1), 10, true).signals;
  assert.equal(signal.kind, "memcg-oom");
  assert.match(signal.detail, /^kill in \/db\/\\x1b\[2Jx\\x0ay \(/);
});
