// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Hang insurance on the host, as far as it can go without a real panic: the
 * post-mortem in a real crash flag, the reboot-loop guard against planted
 * flags of earlier boots, `status` reading an earlier boot's post-mortem,
 * and watchdog devices that must be refused. (A real watchdog device, and
 * the thrash hang, are the VM suite's: softdog would reset this host.)
 */

import assert from "node:assert/strict";
import { formatCrashFlag, parseCrashFlag } from "../../src/core/crash_flag.ts";
import { parsePostMortem } from "../../src/core/post_mortem.ts";
import { parseStatus } from "../../src/core/status.ts";
import { waitFor, withScenario } from "../helpers/daemon.ts";
import { MEMCG } from "../helpers/memcg.ts";
import { asNobody, SETPRIV, stickyDirectory } from "../helpers/nobody.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const MIB = 1024 * 1024;
const CGROUP_LIMIT = 48 * MIB;
const EARLIER_BOOT = "0b8c3a6e-1111-2222-3333-444455556666";

function earlierFlag(minutesAgo: number, n: number): string {
  const at = new Date(Date.now() - minutesAgo * 60_000).toISOString();
  return formatCrashFlag({
    started: at,
    trigger: "global-oom",
    detail: `kill of hog (pid ${n})`,
    bootId: `${EARLIER_BOOT.slice(0, -1)}${n}`,
    pid: 100 + n,
    episode: 1,
    panicAt: at,
  });
}

privilegedTest(
  "before the panic action the crash flag gets the panic's time and a full post-mortem: meminfo, PSI, counters, the top processes",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag, dir }) => {
      const trigger = `${dir}/sysrq-trigger`;
      Deno.writeTextFileSync(trigger, "");
      const daemon = start(
        ["--bufsize", "8", "--memcg-oom", "--gracetime", "1"],
        { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
      );
      await daemon.waitForLocked(8);
      await cgroup.killUntil(() => Deno.readTextFileSync(trigger) === "c");
      const text = Deno.readTextFileSync(flag);
      const parsed = parseCrashFlag(text);
      assert.ok(parsed.panicAt !== undefined, text);
      assert.ok(Date.parse(parsed.panicAt) >= Date.parse(parsed.started ?? ""));
      const postMortem = parsePostMortem(text);
      assert.ok(postMortem !== null, text);
      assert.equal(postMortem.moment, "panic");
      assert.deepEqual(
        postMortem.meminfo.slice(0, 3).map(([name]) => name),
        ["MemTotal", "MemFree", "MemAvailable"],
      );
      assert.deepEqual(postMortem.pressure.map((p) => p.resource), [
        "memory",
        "io",
      ]);
      assert.ok(postMortem.vmstat.some(([name]) => name === "oom_kill"));
      // The ten largest, or all there are: a container may run fewer
      // (tests/shell/post_mortem_test.ts checks the count on a fixture).
      assert.ok(postMortem.processes.length <= 10, text);
      assert.ok(
        postMortem.processes.length === 10 ||
          postMortem.processes.some((p) => p.pid === daemon.pid),
        `a short list holds every process, the daemon too:\n${text}`,
      );
      const rss = postMortem.processes.map((p) => p.rssKb);
      assert.deepEqual(rss, [...rss].sort((a, b) => b - a), "largest first");
      assert.ok(postMortem.processes.every((p) => p.cgroup !== null));
      assert.ok(new TextEncoder().encode(text).length <= 17 * 1024);
      assert.match(
        daemon.log,
        /crash flag written to \S+ with a post-mortem \(panic, taken in \d+ ms/,
      );
      assert.match(
        daemon.log,
        /crash flag written to \S+ with a post-mortem \(episode-start, taken in \d+ ms/,
      );
    }),
);

privilegedTest(
  "the reboot-loop guard: three panics kept from earlier boots within the hour suppress the panic, check is CRITICAL, and the flag stays",
  [ROOT, MEMCG],
  () =>
    withScenario(
      CGROUP_LIMIT,
      async ({ start, cgroup, flag, dir, cli, statusFile }) => {
        for (const [n, minutes] of [[1, 50], [2, 30], [3, 10]]) {
          Deno.writeTextFileSync(
            `${flag}.boot-${EARLIER_BOOT.slice(0, -1)}${n}`,
            earlierFlag(minutes, n),
          );
        }
        const trigger = `${dir}/sysrq-trigger`;
        Deno.writeTextFileSync(trigger, "");
        const daemon = start(
          [
            "--bufsize",
            "8",
            "--memcg-oom",
            "--gracetime",
            "1",
            "--resettime",
            "2",
          ],
          { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
        );
        await daemon.waitForLocked(8);
        await cgroup.killUntil(() => /suppressed: 3 panics/.test(daemon.log));
        assert.match(
          daemon.log,
          /panic action 'panic' suppressed: 3 panics by oomwatch within 1h \(.*\) reach --max-panics 3\/1h/,
        );
        assert.equal(Deno.readTextFileSync(trigger), "", "no key written");
        const check = await cli(["check"]);
        assert.equal(check.code, 2, check.stdout);
        assert.match(check.stdout, /CRITICAL.*panic suppressed: 3 panics/);
        assert.match(
          parseCrashFlag(Deno.readTextFileSync(flag)).panicSuppressed ?? "",
          /^\S+Z 3 panics/,
        );
        // The episode ends; the flag stays, and so does the problem.
        await daemon.waitForLocked(8, 15_000);
        await daemon.waitForLog(
          /panic action suppressed by the reboot-loop guard \(the crash flag stays\)/,
        );
        assert.ok(Deno.statSync(flag).isFile);
        const status = parseStatus(Deno.readTextFileSync(statusFile));
        assert.ok(status.problems.some((p) => p.id === "panic-suppressed"));
      },
    ),
);

privilegedTest(
  "two earlier panics (or older ones) do not hold the third back",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag, dir }) => {
      for (const [n, minutes] of [[1, 90], [2, 30], [3, 10]]) {
        Deno.writeTextFileSync(
          `${flag}.boot-${EARLIER_BOOT.slice(0, -1)}${n}`,
          earlierFlag(minutes, n),
        );
      }
      const trigger = `${dir}/sysrq-trigger`;
      Deno.writeTextFileSync(trigger, "");
      const daemon = start(
        ["--bufsize", "8", "--memcg-oom", "--gracetime", "1"],
        { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
      );
      await daemon.waitForLocked(8);
      await cgroup.killUntil(() => Deno.readTextFileSync(trigger) === "c");
      assert.equal(Deno.readTextFileSync(trigger), "c");
      assert.doesNotMatch(daemon.log, /suppressed/);
    }),
);

privilegedTest(
  "flags of earlier panics planted by nobody in a sticky directory anyone can write: not counted, the panic runs, check is not CRITICAL over them, ack leaves them",
  [ROOT, MEMCG, SETPRIV],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, dir, cli }) => {
      Deno.chmodSync(dir, 0o755);
      const open = stickyDirectory(dir, "open");
      const flag = `${open}/flag`;
      // A real flag of an earlier panic, kept aside by root: one panic.
      const real = `${flag}.boot-${EARLIER_BOOT.slice(0, -1)}1`;
      Deno.writeTextFileSync(real, earlierFlag(40, 1));
      for (const [n, minutes] of [[2, 30], [3, 10]]) {
        const planted = `${flag}.boot-${EARLIER_BOOT.slice(0, -1)}${n}`;
        await asNobody(
          `printf '%s' "$2" > "$1"`,
          planted,
          earlierFlag(minutes, n),
        );
        assert.equal(Deno.statSync(planted).uid, 65534);
      }
      const args = ["--crashflag-name", flag];
      const before = await cli(["check", ...args]);
      assert.doesNotMatch(
        before.stdout,
        /boot 0b8c3a6e-1111-2222-3333-44445555666[234]/,
        before.stdout,
      );
      assert.match(
        before.stdout,
        /boot 0b8c3a6e-1111-2222-3333-44445555666[1]/,
      );
      assert.match(before.stdout, /owned by uid 65534, not by uid 0/);
      const trigger = `${dir}/sysrq-trigger`;
      Deno.writeTextFileSync(trigger, "");
      const daemon = start(
        ["--bufsize", "8", "--memcg-oom", "--gracetime", "1", ...args],
        { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
      );
      await daemon.waitForLocked(8);
      await cgroup.killUntil(() => Deno.readTextFileSync(trigger) === "c");
      assert.doesNotMatch(daemon.log, /suppressed/);
      assert.match(daemon.log, /owned by uid 65534, not by uid 0/);
      await daemon.kill();
      const ack = await cli(["ack", ...args]);
      assert.equal(ack.code, 1, ack.stdout + ack.stderr);
      assert.match(
        ack.stderr,
        /owned by uid 65534: not a flag oomwatch wrote; left alone/,
      );
      assert.doesNotMatch(
        ack.stderr,
        /boot-0b8c3a6e-1111-2222-3333-444455556661/,
      );
      assert.match(
        ack.stdout,
        /acknowledged and removed .*boot-0b8c3a6e-1111-2222-3333-444455556661/,
      );
      assert.throws(() => Deno.statSync(real), Deno.errors.NotFound);
      for (const n of [2, 3]) {
        assert.ok(
          Deno.statSync(`${flag}.boot-${EARLIER_BOOT.slice(0, -1)}${n}`).isFile,
        );
      }
    }),
);

privilegedTest(
  "status shows the post-mortem of the last crash kept from an earlier boot, and --json gives it whole",
  [ROOT],
  () =>
    withScenario(null, async ({ flag, cli }) => {
      const text = formatCrashFlag(
        {
          started: "2026-11-30T03:00:00.000Z",
          trigger: "memory-stall",
          detail: "full stall 72% of 10 s",
          bootId: EARLIER_BOOT,
          pid: 812,
          episode: 1,
          panicAt: "2026-11-30T03:00:31.000Z",
        },
        {
          moment: "panic",
          takenAt: "2026-11-30T03:00:30.900Z",
          tookMs: 212,
          partial: [],
          meminfo: [["MemTotal", 524288], ["MemAvailable", 7800]],
          pressure: [{ resource: "memory", some: 91.5, full: 22.04 }],
          vmstat: [["oom_kill", 0]],
          processes: [{
            pid: 311,
            name: "pin",
            rssKb: 401000,
            swapKb: 0,
            oomScoreAdj: 0,
            cgroup: "/",
          }],
        },
      );
      Deno.writeTextFileSync(`${flag}.boot-${EARLIER_BOOT}`, text);
      const human = await cli(["status"]);
      assert.match(
        human.stdout,
        /^last crash: {2}\S+\.boot-0b8c3a6e-1111-2222-3333-444455556666: boot 0b8c3a6e-1111-2222-3333-444455556666, started 2026-11-30T03:00:00\.000Z, panic action at 2026-11-30T03:00:31\.000Z$/m,
      );
      assert.match(
        human.stdout,
        /^post-mortem: panic, taken 2026-11-30T03:00:30\.900Z in 212 ms$/m,
      );
      assert.match(human.stdout, /^ {13}pid 311 pin: rss 401000 kB/m);
      const json = JSON.parse((await cli(["status", "--json"])).stdout);
      assert.equal(json.lastCrash.postMortem.processes[0].pid, 311);
      assert.equal(json.lastCrash.flag.panicAt, "2026-11-30T03:00:31.000Z");
    }),
);

privilegedTest(
  "a watchdog device that is none (/dev/null), a regular file, a symlink or a FIFO is refused with the reason, never waited on; the daemon goes on and check says WARNING",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir, cli }) => {
      Deno.writeTextFileSync(`${dir}/plain`, "");
      Deno.symlinkSync("/dev/null", `${dir}/link`);
      // Opened for writing without a reader, a FIFO blocked the open (and
      // start-up with it) until O_NONBLOCK.
      const fifo = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] })
        .output();
      assert.ok(fifo.success);
      for (
        const [device, reason] of [
          [
            "/dev/null",
            /\/dev\/null does not answer the watchdog API \(WDIOC_GETSUPPORT failed: ENOTTY\)/,
          ],
          [`${dir}/plain`, /is not a character device/],
          [`${dir}/link`, /symbolic link, which oomwatch does not follow/],
          [`${dir}/fifo`, /ENXIO.*a FIFO without a reader/],
        ] as const
      ) {
        const daemon = start(["--bufsize", "0", "--watchdog-device", device]);
        await daemon.waitForLog(/started \(pid/);
        assert.match(daemon.log, reason);
        assert.match(daemon.log, /going on without the watchdog device/);
        const check = await waitFor("check WARNING", async () => {
          const result = await cli(["check"]);
          return result.code === 1 ? result : undefined;
        });
        assert.match(check.stdout, /WARNING.*watchdog device/);
        await daemon.stop();
      }
    }),
);
