/**
 * The oom:mark_victim tracepoint source for real: the fallback where perf
 * is refused, and a ring that overflows while the daemon is stopped.
 */

import assert from "node:assert/strict";
import { readVmstat } from "../../src/shell/procfs.ts";
import { TracepointReader } from "../../src/shell/tracepoint_reader.ts";
import { describeMachine } from "../../src/core/machine.ts";
import { parseStatus } from "../../src/core/status.ts";
import {
  type DaemonProcess,
  waitFor,
  withScenario,
} from "../helpers/daemon.ts";
import { awaitFullOomReports, MEMCG, MemoryCgroup } from "../helpers/memcg.ts";
import { commandsNeed, privilegedTest, ROOT } from "../helpers/privilege.ts";
import { TRACEPOINT } from "../helpers/tracing.ts";
import {
  FixtureMachine,
  whileLoopFree,
  withDaemon,
} from "../helpers/fixture_machine.ts";

const MIB = 1024 * 1024;
const CGROUP_LIMIT = 48 * MIB;
const SETPRIV = commandsNeed(["setpriv", "taskset"], "util-linux");
const MACHINE = describeMachine(() => undefined);

function oomKills(): number {
  const vmstat = readVmstat(MACHINE);
  if (!vmstat.ok || vmstat.value.oomKill === null) {
    throw new Error("no oom_kill counter");
  }
  return vmstat.value.oomKill;
}

privilegedTest(
  "where perf is refused (no CAP_PERFMON, no CAP_SYS_ADMIN) the daemon says so once and a real memcg kill still releases the reserve from the kernel log",
  [ROOT, MEMCG, TRACEPOINT, SETPRIV],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, statusFile }) => {
      const daemon = start(
        ["--bufsize", "8", "--memcg-oom", cgroup.kernelName],
        {
          wrapper: [
            "setpriv",
            "--bounding-set=-perfmon,-sys_admin",
            "--inh-caps=-perfmon,-sys_admin",
            "--",
          ],
        },
      );
      await daemon.waitForLocked(8);
      await daemon.waitForLog(/started .*waiting on the kernel log/);
      assert.doesNotMatch(
        daemon.log,
        /waiting on the kernel's oom:mark_victim/,
      );
      const refusals = daemon.log.match(/no OOM tracepoint \(/g) ?? [];
      assert.equal(refusals.length, 1, daemon.log);
      assert.match(
        daemon.log,
        /no OOM tracepoint \(perf refused the tracepoint \((EACCES|EPERM)\): it needs CAP_PERFMON .*\): waking on the kernel log/,
      );
      const status = await waitFor("the status", () => {
        try {
          return parseStatus(Deno.readTextFileSync(statusFile));
        } catch {
          return undefined;
        }
      });
      assert.equal(status.killSource, "kernel log");
      // Without the tracepoint only the log's summary names the cgroup.
      await awaitFullOomReports();
      assert.equal((await cgroup.runHog()).signal, "SIGKILL");
      await daemon.waitForLocked(0);
      await daemon.waitForLog(
        /reserve of 8 MiB released, -?[\d.]+ ms after the kernel's report/,
      );
      assert.equal(
        (daemon.log.match(/no OOM tracepoint \(/g) ?? []).length,
        1,
        "said once",
      );
    }),
);

privilegedTest(
  "where perf is refused, a kill in a --memcg-oom cgroup whose report the kernel's rate limit dropped is still a signal, from that cgroup's oom_kill counter",
  [ROOT, MEMCG, TRACEPOINT, SETPRIV],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup }) => {
      const neighbour = MemoryCgroup.create(CGROUP_LIMIT);
      try {
        const daemon = start(
          ["--bufsize", "8", "--memcg-oom", cgroup.kernelName],
          {
            wrapper: [
              "setpriv",
              "--bounding-set=-perfmon,-sys_admin",
              "--inh-caps=-perfmon,-sys_admin",
              "--",
            ],
          },
        );
        await daemon.waitForLocked(8);
        await daemon.waitForLog(/started .*waiting on the kernel log/);
        // mm/oom_kill.c prints at most 10 reports per 5 s (oom_rs): a burst
        // of kills in an uncovered cgroup spends them, so the next kill's
        // report — the summary naming its cgroup — is dropped, its kill
        // line kept.
        for (let i = 0; i < 14; i++) {
          assert.equal((await neighbour.runHog()).signal, "SIGKILL");
        }
        assert.equal(
          daemon.lockedMiB(),
          8,
          "the neighbour's kills are not signals",
        );
        assert.equal((await cgroup.runHog()).signal, "SIGKILL");
        await daemon.waitForLocked(0);
        const started = await daemon.waitForLog(
          /OOM episode 1 started by memcg-oom kill in (\S+) \(from its memory cgroup's oom_kill counter/,
        );
        assert.equal(started[1], cgroup.kernelName, daemon.log);
        // The premise: the kernel did drop the covered kill's summary.
        const dmesg = await new Deno.Command("dmesg", { stdout: "piped" })
          .output();
        assert.doesNotMatch(
          new TextDecoder().decode(dmesg.stdout),
          new RegExp(`oom_memcg=${cgroup.kernelName}[,\\s]`),
          "the summary of the covered kill was printed: the burst did not spend the rate limit",
        );
      } finally {
        neighbour.destroy();
      }
    }),
);

privilegedTest(
  "a tracepoint victim the kernel log never explains is judged when its grace ends, and that verdict's signal starts an episode",
  [ROOT, MEMCG, TRACEPOINT],
  async () => {
    // The real tracepoint in a fixture's world: the fixture's kernel log
    // and /proc/vmstat never hear of the kill, so only the passing of time
    // (the victim's grace, VICTIM_GRACE_MS) judges it — the path a victim
    // marked without a kill line takes (task_will_free_mem in
    // mm/oom_kill.c). `/` covers a memcg kill whose cgroup is not known.
    const fixture = FixtureMachine.create({ tracepoint: true });
    let cgroup: MemoryCgroup | null = null;
    try {
      cgroup = MemoryCgroup.create(CGROUP_LIMIT);
      const hogs = cgroup;
      await whileLoopFree(() =>
        withDaemon(
          fixture,
          { psiFull: 0, memcgOom: { kind: "prefixes", prefixes: ["/"] } },
          async (daemon) => {
            await daemon.waitForLog(/waiting on the kernel's oom:mark_victim/);
            assert.equal((await hogs.runHog()).signal, "SIGKILL");
            const started = await daemon.waitForLog(
              /OOM episode 1 started by memcg-oom (.*)/,
            );
            assert.match(started[1], /python3|hog/, daemon.log());
          },
        )
      );
    } finally {
      cgroup?.destroy();
      fixture.remove();
    }
  },
);

/** A hog on CPU 0: its kill's sample goes to CPU 0's ring. */
async function hogOnCpu0(cgroup: MemoryCgroup): Promise<Deno.CommandStatus> {
  return await new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      "sh",
      "-c",
      `echo $$ > "$1/cgroup.procs" && exec python3 -c 'bytearray(${
        2 * CGROUP_LIMIT
      })'`,
      "hog",
      cgroup.path,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
}

privilegedTest(
  "100 kills while the daemon is stopped overflow a ring: after SIGCONT every kill is counted, the lost records are reported, and the next kill releases the reserve again",
  [ROOT, MEMCG, TRACEPOINT, SETPRIV],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, statusFile }) => {
      // Every memcg kill a signal: after a storm the kernel's rate limit
      // (10 reports per 5 s) leaves kills without the record naming their
      // cgroup, which a --memcg-oom PATHS policy needs.
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        "--resettime",
        "2",
        "--heartbeat",
        "1",
      ]);
      await daemon.waitForLocked(8);
      await daemon.waitForLog(/waiting on the kernel's oom:mark_victim/);
      const before = oomKills();
      Deno.kill(daemon.pid, "SIGSTOP");
      let kills = 0;
      try {
        // On one CPU, so that one ring takes all 100 samples.
        for (let i = 0; i < 100; i++) {
          if ((await hogOnCpu0(cgroup)).signal === "SIGKILL") kills += 1;
        }
      } finally {
        Deno.kill(daemon.pid, "SIGCONT");
      }
      assert.equal(kills, 100);
      await daemon.waitForLocked(0);
      // The kernel reports the records it dropped with its next write to
      // that ring: the next kill on the same CPU.
      await daemon.waitForLocked(8, 15_000);
      assert.equal((await hogOnCpu0(cgroup)).signal, "SIGKILL");
      await daemon.waitForLocked(0);
      const total = oomKills() - before;
      const status = await waitFor("every kill counted", () => {
        const status = parseStatus(Deno.readTextFileSync(statusFile));
        const { globalOomKills, memcgOomKills } = status.counters;
        return globalOomKills + memcgOomKills >= total ? status : undefined;
      }, 15_000);
      assert.equal(
        status.counters.globalOomKills + status.counters.memcgOomKills,
        total,
      );
      assert.ok(
        status.counters.tracepointLost > 0,
        `lost records reported (${JSON.stringify(status.counters)})`,
      );
      assert.equal(status.killSource, "tracepoint");
      assert.match(
        daemon.log,
        new RegExp(
          `perf dropped ${status.counters.tracepointLost} oom:mark_victim records`,
        ),
      );
    }),
);

privilegedTest(
  "under --memcg-oom PATH, kills whose summary the kernel's printk rate limit dropped are judged by the victim's cgroup read at the tracepoint's wake: none in the covered cgroup is 'not an OOM signal'",
  [ROOT, MEMCG, TRACEPOINT],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup }) => {
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "30",
        "--log-level",
        "debug",
      ]);
      await daemon.waitForLocked(8);
      await daemon.waitForLog(/waiting on the kernel's oom:mark_victim/);
      // mm/oom_kill.c prints a report's header and summary at most 10 times
      // in 5 s (oom_rs, DEFAULT_RATELIMIT_*), the kill line always: kills
      // in a burst soon come without the summary naming their cgroup.
      const byVictim = new RegExp(
        `in ${cgroup.kernelName} \\(the victim's cgroup; the kernel logged no summary of the kill\\)`,
      );
      const kills = await cgroup.killUntil(() => byVictim.test(daemon.log));
      assert.ok(byVictim.test(daemon.log), `${kills} kills:\n${daemon.log}`);
      // None is misjudged: a kill that is not a signal is one whose cgroup
      // is unknown — a victim read after it began to exit, which cgroup v1
      // shows in `/` (README) — never one seen in the covered cgroup.
      const notSignals = daemon.log.split("\n").filter((line) =>
        /not an OOM signal|more memcg OOM kill/.test(line)
      );
      for (const line of notSignals) {
        assert.ok(!line.includes(cgroup.kernelName), line);
      }
    }),
);

/**
 * A daemon on an 8 MiB config file with a heartbeat of a minute: a wake
 * within seconds is a signal's.
 */
async function startWithConfig(
  start: (args: string[]) => DaemonProcess,
  dir: string,
): Promise<{ config: string; daemon: DaemonProcess }> {
  const config = `${dir}/oomwatch.conf`;
  await Deno.writeTextFile(config, "vm.oom_ext.bufsize = 8\n");
  return { config, daemon: start(["--config", config, "--heartbeat", "60"]) };
}

/** SIGTERM: the daemon exits 0 within 3 s. Resolves to its log. */
async function stopsAtOnce(daemon: DaemonProcess): Promise<string> {
  const asked = performance.now();
  const { status, log } = await daemon.stop();
  const tookMs = performance.now() - asked;
  assert.equal(status.code, 0, log);
  assert.ok(tookMs < 3_000, `stopped ${tookMs.toFixed(0)} ms after SIGTERM`);
  return log;
}

privilegedTest(
  "waiting on its own thread (the tracepoint wakes it), the daemon still takes SIGHUP and SIGTERM within moments, not at its next heartbeat",
  [ROOT, TRACEPOINT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const { config, daemon } = await startWithConfig(start, dir);
      await daemon.waitForLocked(8);
      await daemon.waitForLog(/waiting on the kernel's oom:mark_victim/);
      for (const mib of [16, 8, 16]) {
        await Deno.writeTextFile(config, `vm.oom_ext.bufsize = ${mib}\n`);
        Deno.kill(daemon.pid, "SIGHUP");
        await daemon.waitForLocked(mib, 3_000);
      }
      const log = await stopsAtOnce(daemon);
      assert.equal((log.match(/configuration reloaded/g) ?? []).length, 3);
    }),
);

privilegedTest(
  "a SIGHUP and a SIGTERM that land during the start-up, before the first wait, take effect within moments",
  [ROOT, TRACEPOINT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const { config, daemon } = await startWithConfig(start, dir);
      // The reserve is taken before the sources open and the code warms
      // up: a signal now comes while the start-up's JavaScript runs.
      await waitFor(
        "the reserve locked",
        () => daemon.lockedMiB() === 8 || undefined,
        10_000,
        1,
      );
      await Deno.writeTextFile(config, "vm.oom_ext.bufsize = 16\n");
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLocked(16, 3_000);
      assert.match(daemon.log, /started \(pid/);
      await stopsAtOnce(daemon);
    }),
);

privilegedTest(
  "a real memcg kill shows in the rings without a poll: pending() is true once mark_victim fired and false after the drain",
  [ROOT, MEMCG, TRACEPOINT],
  () =>
    withScenario(CGROUP_LIMIT, async ({ cgroup }) => {
      const reader = TracepointReader.open(MACHINE);
      try {
        reader.drain();
        assert.equal(reader.pending(), false);
        const before = oomKills();
        await cgroup.killUntil(() => oomKills() > before);
        assert.equal(reader.pending(), true);
        const records = reader.drain();
        assert.ok(records.some((record) => record.kind === "victim"));
        assert.equal(reader.pending(), false);
      } finally {
        reader.close();
      }
    }),
);
