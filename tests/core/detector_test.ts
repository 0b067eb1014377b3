import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/core/config.ts";
import {
  Detector,
  FALLBACK_MEMORY_WINDOW_MS,
  MEMCG_SUMMARY_INTERVAL_MS,
} from "../../src/core/detector.ts";
import { memcgKillIsSignal } from "../../src/core/memcg_policy.ts";
import type { KillObservation } from "../../src/core/kill_correlator.ts";
import { parseKernelRecord } from "../../src/core/kernel_log.ts";

const GIB = 1024 ** 3;
const memcgKill = (memcg: string, pid = 7): KillObservation => ({
  scope: "memcg",
  source: "kernel log",
  victim: { pid, name: "hog" },
  memcg,
  kernelMicros: 123,
});

Deno.test("memcgKillIsSignal(): none, all, or the cgroups under a prefix by whole path components", () => {
  const db = {
    kind: "prefixes",
    prefixes: ["/system.slice/db.service", "/a"],
  } as const;
  assert.equal(memcgKillIsSignal({ kind: "none" }, "/x"), false);
  assert.equal(memcgKillIsSignal({ kind: "all" }, undefined), true);
  assert.equal(memcgKillIsSignal(db, "/system.slice/db.service"), true);
  assert.equal(memcgKillIsSignal(db, "/system.slice/db.service/child"), true);
  assert.equal(memcgKillIsSignal(db, "/system.slice/db.service2"), false);
  assert.equal(memcgKillIsSignal(db, "/ab"), false);
  assert.equal(
    memcgKillIsSignal(db, undefined),
    false,
    "an unidentified cgroup is no one's",
  );
  assert.equal(
    memcgKillIsSignal({ kind: "prefixes", prefixes: ["/"] }, "/any"),
    true,
  );
});

Deno.test("a global kill is a signal with its victim and kernel time; a memcg kill only under the policy", () => {
  const detector = new Detector({ ...DEFAULT_CONFIG }, 0);
  const global = detector.kill({
    scope: "global",
    source: "kernel log",
    victim: { pid: 7, name: "hog" },
    kernelMicros: 123,
  }, 0);
  assert.deepEqual(global.signals, [{
    kind: "global-oom",
    detail: "kill of hog (pid 7) (from the kernel log)",
    kernelSource: "report",
    victim: "hog (pid 7)",
    kernelMicros: 123,
  }]);
  assert.deepEqual(detector.kill(memcgKill("/x"), 0).signals, []);
  detector.configure({ ...DEFAULT_CONFIG, memcgOom: { kind: "all" } });
  assert.equal(detector.kill(memcgKill("/x"), 0).signals[0]?.kind, "memcg-oom");
  assert.deepEqual(detector.counters, {
    globalOomKills: 1,
    memcgOomKills: 2,
    stalls: 0,
    thrashes: 0,
    tracepointLost: 0,
  });
});

Deno.test("memcg kills that are no signal: the first in a minute is logged, the rest summed up once the minute is over", () => {
  const detector = new Detector({ ...DEFAULT_CONFIG }, 0);
  const first = detector.kill(memcgKill("/a"), 1_000);
  assert.equal(first.logs.length, 1);
  assert.match(
    first.logs[0].message,
    /memcg OOM kill of hog \(pid 7\) in \/a \(from the kernel log\): not an OOM signal/,
  );
  for (let i = 0; i < 9; i++) {
    assert.deepEqual(
      detector.kill(memcgKill(i < 6 ? "/b" : "/c"), 2_000 + i).logs,
      [],
    );
  }
  assert.equal(detector.nextDeadlineMs(), 1_000 + MEMCG_SUMMARY_INTERVAL_MS);
  assert.deepEqual(
    detector.tick(1_000 + MEMCG_SUMMARY_INTERVAL_MS - 1).logs,
    [],
  );
  const summary = detector.tick(1_000 + MEMCG_SUMMARY_INTERVAL_MS).logs;
  assert.equal(summary.length, 1);
  assert.match(
    summary[0].message,
    /^9 more memcg OOM kill\(s\) in the last 60 s, not OOM signals \(busiest: \/b 6, \/c 3\); 10 since start$/,
  );
  assert.equal(detector.nextDeadlineMs(), null);
  assert.equal(
    detector.kill(memcgKill("/a"), 70_000).logs.length,
    0,
    "still within a minute of the summary",
  );
});

Deno.test("a kill only the counter saw is global when the lowest MemAvailable of the last seconds was under 5%", () => {
  const detector = new Detector({ ...DEFAULT_CONFIG }, 10);
  detector.memory({ memTotal: 8 * GIB, memAvailable: 0.2 * GIB }, 0);
  detector.memory({ memTotal: 8 * GIB, memAvailable: 6 * GIB }, 5_000);
  const judged = detector.counter(11, 5_000, false);
  assert.equal(judged.signals[0]?.kind, "global-oom");
  assert.match(
    judged.signals[0]?.detail ?? "",
    /unknown victim \(from the oom_kill counter\)/,
  );
  // The short reading has left the window: plenty is all that is known.
  detector.memory(
    { memTotal: 8 * GIB, memAvailable: 6 * GIB },
    FALLBACK_MEMORY_WINDOW_MS + 1,
  );
  assert.deepEqual(
    detector.counter(12, FALLBACK_MEMORY_WINDOW_MS + 1, false).signals,
    [],
  );
  assert.equal(detector.counters.memcgOomKills, 1);
});

Deno.test("a kill the log explains within the grace is not judged again by the fallback", () => {
  const detector = new Detector({ ...DEFAULT_CONFIG }, 0);
  assert.deepEqual(detector.counter(1, 0, true).signals, []);
  assert.equal(detector.killPending, true);
  detector.kill({ ...memcgKill("/x"), scope: "global" }, 500);
  assert.deepEqual(detector.counter(1, 2_000, true).signals, []);
  assert.equal(detector.killPending, false);
});

Deno.test("a stall is a signal at or above psi_full, counted; none when it is off", () => {
  const detector = new Detector({
    ...DEFAULT_CONFIG,
    psiFull: 50,
    psiWindow: 10,
  }, 0);
  assert.deepEqual(detector.pressure(0, 0).signals, []);
  assert.deepEqual(detector.pressure(400_000, 1_000).signals, [], "40%");
  const stalled = detector.pressure(1_000_000, 2_000).signals;
  assert.deepEqual(stalled, [{
    kind: "memory-stall",
    detail: "full stall 50% of the last 10 s",
  }]);
  assert.equal(detector.counters.stalls, 1);
  detector.configure({ ...DEFAULT_CONFIG, psiFull: 0, psiWindow: 10 });
  assert.deepEqual(detector.pressure(3_000_000, 3_000).signals, []);
});

Deno.test("under memcg_oom prefixes, a kill whose summary was rate-limited away is judged by the victim's own cgroup, read at the tracepoint's wake", () => {
  const [killLine] = Deno.readTextFileSync(
    new URL(
      "../fixtures/kmsg/kmsg_6.18_memcg_ratelimited.txt",
      import.meta.url,
    ),
  ).split("\n");
  const record = parseKernelRecord(killLine);
  assert.ok(record !== null);
  const config = {
    ...DEFAULT_CONFIG,
    memcgOom: { kind: "prefixes", prefixes: ["/workload.slice"] },
  } as const;
  for (
    const [memcg, signals] of [
      ["/workload.slice/job-42", 1],
      ["/other.slice", 0],
    ] as const
  ) {
    const detector = new Detector(config, 0);
    const victim = { pid: 9001, name: "worker", kernelMicros: 1, memcg };
    assert.deepEqual(
      detector.observe({ kind: "victim", victim }, 0, true).signals,
      [],
      "it waits for the log's summary",
    );
    const judged = detector.observe(
      { kind: "kernel-records", records: [record] },
      1,
      true,
    );
    assert.equal(judged.signals.length, signals);
    const said = [
      ...judged.signals.map((s) => s.detail),
      ...judged.logs.map((l) => l.message),
    ];
    assert.equal(said.length, 1);
    assert.match(
      said[0],
      new RegExp(
        `worker \\(pid 9001\\) in ${memcg} \\(the victim's cgroup; the kernel logged no summary of the kill\\)`,
      ),
    );
  }
  // Without the victim's cgroup (its /proc entry was gone), or with `/`
  // (cgroup v1 shows an exiting task there), as before.
  for (const memcg of [undefined, "/"]) {
    const detector = new Detector(config, 0);
    const victim = memcg === undefined
      ? { pid: 9001, kernelMicros: 1 }
      : { pid: 9001, kernelMicros: 1, memcg };
    detector.observe({ kind: "victim", victim }, 0, true);
    const judged = detector.observe(
      { kind: "kernel-records", records: [record] },
      1,
      true,
    );
    assert.deepEqual(judged.signals, []);
    assert.match(judged.logs[0]?.message ?? "", /in an unidentified cgroup/);
  }
});
