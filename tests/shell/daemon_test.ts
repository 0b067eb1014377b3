// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * The real daemon, as a process: its reserve seen through VmLck, real OOM
 * kills in a child memory cgroup, real signals.
 */

import assert from "node:assert/strict";
import { readStatusBytes } from "../../src/shell/procfs.ts";
import {
  temporaryDirectory,
  testEnvironment,
  waitFor,
  withoutSysBoot,
  withScenario,
} from "../helpers/daemon.ts";
import { awaitFullOomReports, MEMCG } from "../helpers/memcg.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const CGROUP_LIMIT = 48 * 1024 * 1024;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

privilegedTest(
  "the daemon locks a 32 MiB reserve and releases it on SIGTERM",
  [ROOT],
  () =>
    withScenario(null, async ({ start, statusFile, cli }) => {
      const daemon = start(["--bufsize", "32"]);
      await daemon.waitForLocked(32, 5_000);
      const armed = await waitFor("the armed status", () => {
        try {
          const status = JSON.parse(Deno.readTextFileSync(statusFile));
          return status.state === "armed" ? status : undefined;
        } catch {
          return undefined;
        }
      });
      assert.equal(armed.reserve.heldBytes, 32 * 1024 * 1024);
      const { status, log } = await daemon.stop();
      assert.equal(status.code, 0, log);
      assert.match(log, /SIGTERM: reserve of 32 MiB released/);
      assert.equal(
        daemon.lockedMiB(),
        null,
        "gone: nothing of it stays locked",
      );
      const written = JSON.parse(Deno.readTextFileSync(statusFile));
      assert.equal(written.state, "stopped", "the status file says so");
      assert.equal(written.reserve.heldBytes, 0);
      const check = await cli(["check"]);
      assert.equal(check.code, 2, check.stdout);
      assert.match(
        check.stdout,
        /^OOMWATCH CRITICAL - daemon not running: pid \d+ stopped cleanly at \d{4}-/,
      );
    }),
);

privilegedTest(
  "with --bufsize 0 the daemon locks nothing",
  [ROOT],
  () =>
    withScenario(null, async ({ start }) => {
      const daemon = start(["--bufsize", "0"]);
      await daemon.waitForLog(/started \(pid \d+\)/);
      assert.equal(daemon.lockedMiB(), 0);
      const { status } = await daemon.stop();
      assert.equal(status.code, 0);
    }),
);

privilegedTest(
  "a memcg OOM kill is logged and changes nothing else by default",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag }) => {
      const daemon = start(["--bufsize", "32", "--resettime", "2"]);
      await daemon.waitForLocked(32);
      // The line names the cgroup from the log's summary of the kill.
      await awaitFullOomReports();
      const hog = await cgroup.runHog();
      assert.equal(hog.signal, "SIGKILL", "the hog was OOM-killed");
      const line = await daemon.waitForLog(
        /memcg OOM kill of python3 \(pid \d+\) in (\S+)/,
      );
      assert.equal(line[1], cgroup.kernelName);
      assert.match(daemon.log, /not an OOM signal/);
      assert.equal(daemon.lockedMiB(), 32, "the reserve is still locked");
      assert.equal(exists(flag), false, "no crash flag");
      assert.doesNotMatch(daemon.log, /episode/);
    }),
);

privilegedTest(
  "with --memcg-oom a kill releases the reserve and writes the flag; resettime re-arms",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag }) => {
      const daemon = start([
        "--bufsize",
        "32",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "2",
      ]);
      await daemon.waitForLocked(32);
      const hog = await cgroup.runHog();
      assert.equal(hog.signal, "SIGKILL");
      await daemon.waitForLocked(0);
      await waitFor("the crash flag", () => exists(flag));
      const content = Deno.readTextFileSync(flag);
      assert.match(content, /^trigger=memcg-oom$/m);
      assert.match(content, /^victim=python3 \(pid \d+\)$/m);
      const bootId = Deno.readTextFileSync(
        "/proc/sys/kernel/random/boot_id",
      ).trim();
      assert.match(content, new RegExp(`^boot_id=${bootId}$`, "m"));
      assert.match(
        daemon.log,
        /reserve of 32 MiB released, -?[\d.]+ ms after the kernel's (?:report|oom:mark_victim tracepoint)/,
      );
      await daemon.waitForLocked(32, 8_000);
      await daemon.waitForLog(/reserve of 32 MiB re-armed/);
      assert.equal(exists(flag), false, "flag removed at the episode's end");
      // By the daemon's own clock: the episode lasted its quiet period after
      // its one signal, and the re-arm came at its end.
      const ended = /OOM episode 1 ended after ([\d.]+) s: 1 signal\(s\)/.exec(
        daemon.log,
      );
      assert.ok(ended && Number(ended[1]) >= 2.0, daemon.log);
      assert.ok(
        daemon.log.indexOf("reserve of 32 MiB re-armed") >
          daemon.log.indexOf("OOM episode 1 ended"),
        "re-armed after the end",
      );
      const { status, log } = await daemon.stop();
      assert.equal(status.code, 0);
      assert.match(log, /SIGTERM: reserve of 32 MiB released; exiting/);
    }),
);

privilegedTest(
  "an episode that outlasts gracetime runs the panic action after the flag is on disk",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag, dir }) => {
      const trigger = `${dir}/sysrq-trigger`;
      Deno.writeTextFileSync(trigger, "");
      const daemon = start(
        [
          "--bufsize",
          "8",
          "--memcg-oom",
          cgroup.kernelName,
          "--gracetime",
          "1",
        ],
        { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
      );
      await daemon.waitForLocked(8);
      const keyWritten = () => Deno.readTextFileSync(trigger) === "c";
      const kills = await cgroup.killUntil(keyWritten);
      assert.ok(keyWritten(), `'c' in the trigger file after ${kills} kills`);
      assert.ok(kills >= 2, `a persisting OOM: ${kills} kills`);
      assert.ok(exists(flag), "the crash flag is there");
      assert.ok(
        Deno.statSync(flag).mtime!.getTime() <=
          Deno.statSync(trigger).mtime!.getTime(),
        "the flag was written before the trigger",
      );
      const log = daemon.log;
      const written = log.indexOf("crash flag written");
      const panic = log.indexOf("running panic action 'panic'");
      assert.ok(written >= 0 && panic > written, log);
      assert.match(log, /beyond gracetime 1 s/);
      assert.equal(Deno.readTextFileSync(trigger), "c", "written once");
    }),
);

privilegedTest(
  "with --panic-action none nothing is written to the trigger and the log says what would have been",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, dir }) => {
      const trigger = `${dir}/sysrq-trigger`;
      Deno.writeTextFileSync(trigger, "");
      const daemon = start(
        [
          "--bufsize",
          "8",
          "--memcg-oom",
          cgroup.kernelName,
          "--gracetime",
          "1",
          "--panic-action",
          "none",
        ],
        { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
      );
      await daemon.waitForLocked(8);
      const said =
        /panic action is 'none': nothing done \(action 'panic' would have written 'c' to/;
      const kills = await cgroup.killUntil(() => said.test(daemon.log));
      assert.ok(kills >= 2, `a persisting OOM: ${kills} kills`);
      assert.match(daemon.log, said);
      assert.equal(Deno.readTextFileSync(trigger), "");
      const { log } = await daemon.stop();
      assert.match(
        log,
        /SIGTERM: no reserve held \(released at the start of episode 1\); exiting/,
      );
    }),
);

privilegedTest(
  "without the kernel log, a kill is still noticed through oom_kill and attributed by the fallback",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag, dir }) => {
      const daemon = start(["--bufsize", "8"], {
        env: { OOMWATCH_KMSG: `${dir}/no-kmsg` },
      });
      await daemon.waitForLog(
        /kernel log unreadable \(.*ENOENT\): OOM kills are noticed through \/proc\/vmstat oom_kill/,
      );
      await daemon.waitForLog(/started \(pid/);
      assert.equal(daemon.lockedMiB(), 8);
      const hog = await cgroup.runHog();
      assert.equal(hog.signal, "SIGKILL");
      // Plenty of memory is available, so the fallback says memcg.
      await daemon.waitForLog(
        /memcg OOM kill of unknown victim \(from the oom_kill counter\)/,
      );
      assert.equal(daemon.lockedMiB(), 8);
      assert.equal(exists(flag), false);
    }),
);

privilegedTest(
  "a crash flag left from an earlier boot is reported at start and left in place",
  [ROOT],
  () =>
    withScenario(null, async ({ start, flag }) => {
      const text = "started=2026-01-01T00:00:00.000Z\ntrigger=global-oom\n" +
        "boot_id=00000000-0000-0000-0000-000000000000\n";
      Deno.writeTextFileSync(flag, text);
      const daemon = start(["--bufsize", "0"]);
      await daemon.waitForLog(
        /crash flag .* found, written in an earlier boot \(00000000-0000-0000-0000-000000000000\): the machine went down during an OOM episode/,
      );
      await daemon.stop();
      assert.equal(Deno.readTextFileSync(flag), text);
    }),
);

function childrenOf(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim()
      .split(/\s+/).filter((p) => p !== "").map(Number);
  } catch {
    return [];
  }
}

privilegedTest(
  "'deno task start --bufsize 32' runs in the foreground, locks 32 MiB within 5 s, and exits 0 on SIGTERM",
  [ROOT],
  async () => {
    const dir = temporaryDirectory();
    // As every test's daemon: the panic action at a temporary file, and
    // reboot(2) out of reach.
    const [command, ...args] = withoutSysBoot([
      Deno.execPath(),
      "task",
      "start",
      "--bufsize",
      "32",
      "--crashflag-name",
      `${dir}/flag`,
      "--status-file",
      `${dir}/status.json`,
    ]);
    const task = new Deno.Command(command, {
      args,
      env: testEnvironment(),
      cwd: new URL("../..", import.meta.url).pathname,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(task.stderr).text();
    try {
      const started = Date.now();
      const daemonPid = await waitFor(
        "the daemon under deno task",
        () =>
          childrenOf(task.pid).find((pid) =>
            Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(
              "src/main.ts",
            )
          ),
        5_000,
      );
      await waitFor("VmLck of 32 MiB", () => {
        const locked = readStatusBytes(daemonPid, "VmLck");
        return locked !== null && Math.abs(locked / 1024 / 1024 - 32) <= 1;
      }, 5_000 - (Date.now() - started));
      task.kill("SIGTERM");
      const status = await task.status;
      assert.equal(status.code, 0, await stderr);
      await waitFor(
        "the daemon to be gone",
        () => readStatusBytes(daemonPid, "VmLck") === null,
      );
    } finally {
      // The daemon is deno task's child: kill it too, or it would keep the
      // stderr pipe (and this test) open.
      for (const pid of [...childrenOf(task.pid), task.pid]) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // exited
        }
      }
      await task.status;
      await stderr;
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
