// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * What an operator relies on: `oomwatch check` (Nagios exit codes) against
 * a real daemon in each situation, `status`, and the single-instance lock.
 */

import assert from "node:assert/strict";
// Test-only, pinned here and in deno.lock: the daemon's module graph never
// names it, so running oomwatch needs no download (README, Dependencies).
import parsePrometheusTextFormat from "npm:parse-prometheus-text-format@1.1.1";
import { KernelLogReader } from "../../src/shell/kernel_log_reader.ts";
import { quietKernelLog, waitFor, withScenario } from "../helpers/daemon.ts";
import { MEMCG } from "../helpers/memcg.ts";
import {
  commandsNeed,
  type Need,
  privilegedTest,
  ROOT,
} from "../helpers/privilege.ts";

/** The daemon's first status file, once it is written (after "started"). */
function waitForStatus(statusFile: string): Promise<Record<string, unknown>> {
  return waitFor("the status file", () => {
    try {
      return JSON.parse(Deno.readTextFileSync(statusFile));
    } catch {
      return undefined;
    }
  });
}

const bootId = (): string =>
  Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();

privilegedTest(
  "check is OK for a running, armed daemon and CRITICAL once it is killed",
  [ROOT],
  () =>
    withScenario(null, async ({ start, cli }) => {
      const daemon = start(["--bufsize", "16"]);
      await daemon.waitForLocked(16);
      await daemon.waitForLog(/started \(pid/);
      const ok = await cli(["check"]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(
        ok.stdout,
        /^OOMWATCH OK - armed, reserve 16 MiB locked, pid \d+, heartbeat \d+ s ago \| .*reserve=16777216B/,
      );
      assert.equal(ok.stdout.trim().split("\n").length, 1, "one line");
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      const dead = await cli(["check"]);
      assert.equal(dead.code, 2, dead.stdout);
      assert.match(
        dead.stdout,
        /^OOMWATCH CRITICAL - daemon not running: pid \d+ ended without a clean stop/,
      );
    }),
);

privilegedTest(
  "check is CRITICAL when the heartbeat goes stale (daemon stopped with SIGSTOP)",
  [ROOT],
  () =>
    withScenario(null, async ({ start, cli }) => {
      const daemon = start(["--bufsize", "0", "--heartbeat", "1"]);
      await daemon.waitForLog(/started \(pid/);
      assert.equal((await cli(["check"])).code, 0);
      Deno.kill(daemon.pid, "SIGSTOP");
      try {
        const stale = await waitFor(
          "a stale heartbeat",
          async () => {
            const result = await cli(["check"]);
            return result.code === 2 ? result : undefined;
          },
          15_000,
          500,
        );
        assert.match(
          stale.stdout,
          /CRITICAL - heartbeat stale: last \d+ s ago/,
        );
      } finally {
        Deno.kill(daemon.pid, "SIGCONT");
      }
    }),
);

privilegedTest(
  "check is CRITICAL when the kernel shows no locked reserve where the status says there should be one",
  [ROOT],
  () =>
    withScenario(null, async ({ start, cli, statusFile, dir }) => {
      // A daemon without a reserve, whose status file claims one: what check
      // would see if the reserve had vanished.
      // Asleep for a minute: no kernel log (a file: never ready) and no PSI
      // trigger can wake it to rewrite the status file under the test.
      const daemon = start(
        ["--bufsize", "0", "--heartbeat", "60", "--psi-full", "0"],
        { env: { OOMWATCH_KMSG: quietKernelLog(dir) } },
      );
      await daemon.waitForLog(/started \(pid/);
      const status = await waitForStatus(statusFile);
      status.state = "armed";
      status.reserve = {
        configuredBytes: 16 * 1024 * 1024,
        heldBytes: 16 * 1024 * 1024,
        backing: "locked",
      };
      Deno.writeTextFileSync(statusFile, JSON.stringify(status));
      const result = await cli(["check"]);
      assert.equal(result.code, 2, result.stdout);
      assert.match(
        result.stdout,
        /CRITICAL - reserve of 16 MiB should be locked but the kernel shows no such locked mapping/,
      );
    }),
);

privilegedTest(
  "check is UNKNOWN when the daemon runs but its status cannot be read",
  [ROOT],
  () =>
    withScenario(null, async ({ start, cli, statusFile, dir }) => {
      // Asleep for a minute: no kernel log (a file: never ready) and no PSI
      // trigger can wake it to rewrite the status file under the test.
      const daemon = start(
        ["--bufsize", "0", "--heartbeat", "60", "--psi-full", "0"],
        { env: { OOMWATCH_KMSG: quietKernelLog(dir) } },
      );
      await daemon.waitForLog(/started \(pid/);
      await waitForStatus(statusFile);
      Deno.writeTextFileSync(statusFile, "{ not json");
      const result = await cli(["check"]);
      assert.equal(result.code, 3, result.stdout);
      assert.match(
        result.stdout,
        /^OOMWATCH UNKNOWN - status unreadable: .*not JSON/,
      );
    }),
);

privilegedTest(
  "check reports a crash flag: CRITICAL from another boot, WARNING from this one",
  [ROOT],
  () =>
    withScenario(null, async ({ start, cli, flag }) => {
      const daemon = start(["--bufsize", "0"]);
      await daemon.waitForLog(/started \(pid/);
      Deno.writeTextFileSync(
        flag,
        "started=2026-01-01T00:00:00.000Z\ntrigger=global-oom\nboot_id=00000000-0000-0000-0000-000000000000\n",
      );
      const other = await cli(["check"]);
      assert.equal(other.code, 2, other.stdout);
      assert.match(
        other.stdout,
        /CRITICAL - crash flag .* is from boot 00000000-0000-0000-0000-000000000000: the machine went down during an OOM episode/,
      );
      Deno.writeTextFileSync(flag, `trigger=global-oom\nboot_id=${bootId()}\n`);
      const same = await cli(["check"]);
      assert.equal(same.code, 1, same.stdout);
      assert.match(same.stdout, /WARNING - crash flag .* from this boot/);
    }),
);

privilegedTest(
  "check works without a daemon: a flag from another boot is still CRITICAL news",
  [],
  () =>
    withScenario(null, async ({ cli, flag }) => {
      Deno.writeTextFileSync(
        flag,
        "boot_id=00000000-0000-0000-0000-000000000000\n",
      );
      const result = await cli(["check"]);
      assert.equal(result.code, 2);
      assert.match(
        result.stdout,
        /crash flag .* went down during an OOM episode \(once looked at: oomwatch ack\); daemon not running/,
      );
    }),
);

privilegedTest(
  "check is WARNING during an episode, and status shows it for a person and as JSON",
  [ROOT, MEMCG],
  () =>
    withScenario(48 * 1024 * 1024, async ({ start, cli, cgroup }) => {
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "60",
        "--gracetime",
        "600",
        "--panic-action",
        "none",
      ]);
      await daemon.waitForLocked(8);
      await cgroup.runHog();
      await daemon.waitForLog(/OOM episode 1 started/);
      const result = await waitFor("check to see the episode", async () => {
        const r = await cli(["check"]);
        return r.code === 1 ? r : undefined;
      });
      assert.match(
        result.stdout,
        /WARNING - OOM episode 1 going on since \S+ \(memcg-oom\)/,
      );
      const person = await cli(["status"]);
      assert.equal(person.code, 1);
      assert.match(person.stdout, /^state: +episode$/m);
      assert.match(
        person.stdout,
        /^episode: +1 since .*panic action in \d+ s/m,
      );
      const json = await cli(["status", "--json"]);
      const parsed = JSON.parse(json.stdout);
      assert.equal(parsed.check.code, 1);
      assert.equal(parsed.status.state, "episode");
      assert.equal(parsed.status.counters.memcgOomKills, 1);
      assert.equal(parsed.status.reserve.heldBytes, 0);
      assert.ok(parsed.status.lastReactionLatencyMs > 0);
    }),
);

privilegedTest(
  "a second daemon refuses to start, naming the first's pid; after SIGKILL of the first a new one starts",
  [ROOT],
  () =>
    withScenario(null, async ({ start }) => {
      const first = start(["--bufsize", "0"]);
      await first.waitForLog(/started \(pid/);
      const second = start(["--bufsize", "0"]);
      const refused = await second.finished();
      assert.equal(refused.status.code, 1, refused.log);
      assert.match(
        refused.log,
        new RegExp(
          `another oomwatch is running \\(pid ${first.pid}, holding .*oomwatch.lock\\)`,
        ),
      );
      first.child.kill("SIGKILL");
      await first.exited;
      const third = start(["--bufsize", "0"]);
      await third.waitForLog(/started \(pid/);
      const { status } = await third.stop();
      assert.equal(status.code, 0);
    }),
);

privilegedTest(
  "a bad check command line is UNKNOWN, not CRITICAL",
  [],
  () =>
    withScenario(null, async ({ cli }) => {
      const result = await cli(["check", "--bufsize", "lots"]);
      assert.equal(result.code, 3);
      assert.match(result.stdout, /^OOMWATCH UNKNOWN - .*'lots'/);
    }),
);

privilegedTest(
  "SIGHUP re-reads the config: bufsize 32 → 64 makes VmLck 64 MiB; an invalid file keeps 64 and says why",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const config = `${dir}/oomwatch.conf`;
      Deno.writeTextFileSync(config, "vm.oom_ext.bufsize = 32\n");
      const daemon = start(["--config", config]);
      await daemon.waitForLocked(32);
      await daemon.waitForLog(/started \(pid/);
      Deno.writeTextFileSync(
        config,
        "vm.oom_ext.bufsize = 64\nheartbeat = 2\n",
      );
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLocked(64, 5_000);
      await daemon.waitForLog(
        /configuration reloaded: bufsize=64 .*heartbeat=2/,
      );
      Deno.writeTextFileSync(
        config,
        "vm.oom_ext.bufsize = 16\nvm.oom_ext.gracetime = soon\n",
      );
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(
        /reload refused: .*oomwatch.conf:2: invalid value 'soon' for gracetime.*; the running configuration stays in force/,
      );
      assert.equal(daemon.lockedMiB(), 64);
      const { status } = await daemon.stop();
      assert.equal(status.code, 0);
    }),
);

privilegedTest(
  "a reload that turns the crash flag off during an episode keeps it on: the flag written goes when the episode ends",
  [ROOT, MEMCG],
  () =>
    withScenario(48 * 1024 * 1024, async ({ start, dir, flag, cgroup }) => {
      const config = `${dir}/oomwatch.conf`;
      Deno.writeTextFileSync(
        config,
        "bufsize = 8\nmemcg_oom = 1\nresettime = 10\n",
      );
      const daemon = start(["--config", config]);
      await daemon.waitForLocked(8);
      await cgroup.killUntil(() => /OOM episode 1 started/.test(daemon.log));
      await waitFor("the crash flag", () => {
        try {
          return Deno.statSync(flag).isFile;
        } catch {
          return undefined;
        }
      });
      Deno.writeTextFileSync(
        config,
        "bufsize = 8\nmemcg_oom = 1\nresettime = 10\ncrashflag = 0\n",
      );
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(
        /crashflag cannot change during an episode .*keeping it/,
      );
      await daemon.waitForLocked(8, 25_000);
      await waitFor("the flag removed at the re-arm", () => {
        try {
          Deno.statSync(flag);
          return undefined;
        } catch (error) {
          return error instanceof Deno.errors.NotFound ? true : undefined;
        }
      }, 5_000);
      // Reloaded again at rest, the change takes.
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(/configuration reloaded: .*crashflag=0/);
    }),
);

/** overlayfs, to give one process an /etc of its own without touching the real one. */
const OVERLAY: Need = {
  name: "overlayfs",
  missing: () =>
    /\toverlay$/m.test(Deno.readTextFileSync("/proc/filesystems"))
      ? null
      : "the kernel has no overlay filesystem (modprobe overlay)",
};

privilegedTest(
  "without --config the daemon reads /etc/oomwatch.conf where it exists, and SIGHUP re-reads it",
  [ROOT, OVERLAY, commandsNeed(["unshare", "mount"], "util-linux")],
  () =>
    withScenario(null, async ({ start, dir }) => {
      // The daemon gets a private mount namespace whose /etc is an overlay:
      // the config it finds there exists for it alone, and the real /etc
      // stays as it was even if the test dies half-way.
      const realConfig = (): string | null => {
        try {
          return Deno.readTextFileSync("/etc/oomwatch.conf");
        } catch {
          return null;
        }
      };
      const realBefore = realConfig();
      for (const sub of ["upper", "work"]) Deno.mkdirSync(`${dir}/${sub}`);
      Deno.writeTextFileSync(
        `${dir}/upper/oomwatch.conf`,
        "vm.oom_ext.bufsize = 8\n",
      );
      const daemon = start([], {
        wrapper: [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/upper,workdir=${dir}/work /etc && exec "$@"`,
          "sh",
        ],
      });
      await daemon.waitForLocked(8);
      await daemon.waitForLog(/started \(pid \d+\): bufsize=8 /);
      // Through the daemon's own view of /etc, as an editor on the box would.
      Deno.writeTextFileSync(
        `/proc/${daemon.pid}/root/etc/oomwatch.conf`,
        "vm.oom_ext.bufsize = 16\n",
      );
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLocked(16, 5_000);
      await daemon.waitForLog(/configuration reloaded: bufsize=16 /);
      const { status } = await daemon.stop();
      assert.equal(status.code, 0);
      assert.equal(
        realConfig(),
        realBefore,
        "the real /etc/oomwatch.conf is as it was",
      );
    }),
);

privilegedTest(
  "under journald lines carry syslog priorities, and a release is written to the kernel log",
  [ROOT, MEMCG],
  () =>
    withScenario(48 * 1024 * 1024, async ({ start, cgroup }) => {
      const kernelLog = KernelLogReader.open("/dev/kmsg");
      try {
        const daemon = start([
          "--bufsize",
          "8",
          "--memcg-oom",
          cgroup.kernelName,
        ], {
          env: { JOURNAL_STREAM: "8:12345" },
        });
        await daemon.waitForLocked(8);
        await daemon.waitForLog(/started \(pid/);
        assert.match(daemon.log, /^<6>\[oomwatch\] started \(pid/m);
        await cgroup.runHog();
        await daemon.waitForLog(
          /^<4>\[oomwatch\.reserve\] reserve of 8 MiB released/m,
        );
        assert.doesNotMatch(
          daemon.log,
          /^\d{4}-\d\d-\d\dT/m,
          "no timestamps: journald adds its own",
        );
        const records = await waitFor("the kernel log line", () => {
          const found = kernelLog.drain().filter((r) =>
            r.text.startsWith("oomwatch: reserve of 8 MiB released")
          );
          return found.length > 0 ? found : undefined;
        });
        assert.equal(records[0].level, 4);
        assert.notEqual(
          records[0].facility,
          0,
          "userspace, never mistaken for the kernel",
        );
      } finally {
        kernelLog.close();
      }
    }),
);

/** The metric samples of a textfile, parsed by a Prometheus text-format parser. */
function parseMetrics(text: string): Map<string, number> {
  const families: unknown = parsePrometheusTextFormat(text);
  assert.ok(Array.isArray(families), "the parser returns metric families");
  const samples = new Map<string, number>();
  for (
    const family of families as {
      name: string;
      metrics: { value: string; labels?: Record<string, string> }[];
    }[]
  ) {
    for (const metric of family.metrics) {
      const labels = Object.entries(metric.labels ?? {}).map(([k, v]) =>
        `${k}=${v}`
      ).join(",");
      samples.set(
        labels ? `${family.name}{${labels}}` : family.name,
        Number(metric.value),
      );
    }
  }
  return samples;
}

privilegedTest(
  "the metrics file parses as Prometheus text and changes on an episode; --exec-on-oom runs with the event",
  [ROOT, MEMCG],
  () =>
    withScenario(48 * 1024 * 1024, async ({ start, cgroup, dir }) => {
      const metricsFile = `${dir}/oomwatch.prom`;
      const hookOutput = `${dir}/hook.out`;
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--metrics-file",
        metricsFile,
        "--exec-on-oom",
        `echo "$OOMWATCH_EVENT $OOMWATCH_EPISODE $OOMWATCH_TRIGGER $OOMWATCH_VICTIM" > ${hookOutput}`,
      ]);
      await daemon.waitForLocked(8);
      const before = await waitFor("the metrics file", () => {
        try {
          return parseMetrics(Deno.readTextFileSync(metricsFile));
        } catch {
          return undefined;
        }
      });
      assert.equal(
        before.get("oomwatch_reserve_locked_bytes"),
        8 * 1024 * 1024,
      );
      assert.equal(before.get("oomwatch_state{state=armed}"), 1);
      assert.equal(before.get("oomwatch_episodes_total"), 0);
      assert.ok(
        (before.get("oomwatch_heartbeat_timestamp_seconds") ?? 0) > 1.7e9,
      );
      await cgroup.runHog();
      const after = await waitFor("an episode in the metrics", () => {
        const samples = parseMetrics(Deno.readTextFileSync(metricsFile));
        return samples.get("oomwatch_episodes_total") === 1
          ? samples
          : undefined;
      });
      assert.equal(after.get("oomwatch_reserve_locked_bytes"), 0);
      assert.equal(after.get("oomwatch_state{state=episode}"), 1);
      assert.equal(after.get("oomwatch_oom_kills_total{scope=memcg}"), 1);
      assert.ok((after.get("oomwatch_last_reaction_latency_seconds") ?? 0) > 0);
      // The whole line, not a file that echo has created but not yet written.
      const hook = await waitFor("the hook's output", () => {
        try {
          return /^episode-start 1 memcg-oom python3 \(pid \d+\)$/m.exec(
            Deno.readTextFileSync(hookOutput),
          );
        } catch {
          return undefined;
        }
      });
      assert.equal(hook.index, 0, "one line, the event's");
    }),
);

privilegedTest(
  "a failing --exec-on-oom command is logged and changes nothing else",
  [ROOT, MEMCG],
  () =>
    withScenario(48 * 1024 * 1024, async ({ start, cgroup, flag }) => {
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--exec-on-oom",
        "echo broken >&2; exit 7",
      ]);
      await daemon.waitForLocked(8);
      await cgroup.runHog();
      await daemon.waitForLog(
        /\[oomwatch\.exec-on-oom\] 'echo broken >&2; exit 7' failed \(exit 7\): broken/,
      );
      assert.equal(
        daemon.lockedMiB(),
        0,
        "the reserve was released all the same",
      );
      assert.match(Deno.readTextFileSync(flag), /trigger=memcg-oom/);
    }),
);
