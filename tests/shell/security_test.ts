// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Safe as root: what a user, a file or a path hands oomwatch cannot turn it
 * against the machine. Each test is an attack that worked before: real
 * symlinks, hard links and FIFOs planted by `nobody`, devices, a directory
 * where a file belongs, a removed status directory, evidence of an earlier
 * boot, a reserve larger than the machine can spare, a damaged status file.
 */

import assert from "node:assert/strict";
import { quietKernelLog, waitFor, withScenario } from "../helpers/daemon.ts";
import { MEMCG } from "../helpers/memcg.ts";
import { asNobody, SETPRIV, stickyDirectory } from "../helpers/nobody.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const MIB = 1024 * 1024;
const CGROUP_LIMIT = 48 * MIB;
const OTHER_BOOT = "00000000-0000-0000-0000-000000000000";

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A root-only file with a secret, and a check that it is as it was. */
function precious(dir: string): { path: string; intact: () => void } {
  const path = `${dir}/precious`;
  Deno.writeTextFileSync(path, "root's secret\n", { mode: 0o600 });
  return {
    path,
    intact: () => {
      assert.equal(Deno.readTextFileSync(path), "root's secret\n");
      assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    },
  };
}

const bootId = (): string =>
  Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();

privilegedTest(
  "the instance lock is never written through a symlink or a hard link planted at its path",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const target = precious(dir);
      for (const plant of ["symlink", "hardlink"] as const) {
        const lock = `${dir}/oomwatch.lock`;
        if (plant === "symlink") Deno.symlinkSync(target.path, lock);
        else Deno.linkSync(target.path, lock);
        const daemon = start(["--bufsize", "0"]);
        const { status, log } = await daemon.finished();
        assert.equal(status.code, 1, log);
        assert.match(
          log,
          plant === "symlink"
            ? /the instance lock .*oomwatch.lock is a symbolic link; oomwatch does not follow it/
            : /the instance lock .*oomwatch.lock is a file with 2 hard links/,
        );
        target.intact();
        Deno.removeSync(lock);
      }
    }),
);

privilegedTest(
  "a status directory another user can write is refused before anything is written in it",
  [ROOT, SETPRIV],
  () =>
    withScenario(null, async ({ start, dir }) => {
      Deno.chmodSync(dir, 0o755);
      const target = precious(dir);
      const owned = `${dir}/owned`;
      Deno.mkdirSync(owned);
      Deno.chownSync(owned, 65534, 65534);
      await asNobody('ln -s "$1" "$2/oomwatch.lock"', target.path, owned);
      const open = `${dir}/open`;
      Deno.mkdirSync(open);
      Deno.chmodSync(open, 0o777);
      for (
        const [directory, why] of [[
          owned,
          /owned by uid 65534|writable by its owner, uid 65534/,
        ], [open, /writable by everyone/]] as const
      ) {
        const daemon = start([
          "--bufsize",
          "0",
          "--status-file",
          `${directory}/status.json`,
        ]);
        const { status, log } = await daemon.finished();
        assert.equal(status.code, 1, log);
        assert.match(log, /refusing the status directory/);
        assert.match(log, why);
        assert.ok(
          !exists(`${directory}/status.json`),
          "no status written there",
        );
      }
      target.intact();
    }),
);

privilegedTest(
  "a FIFO or /dev/zero as the config file exits 2 at once, never blocks or reads without end",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const fifo = `${dir}/oomwatch.conf`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      for (
        const [config, what] of [
          [fifo, /is a FIFO, not a regular file/],
          ["/dev/zero", /is a character device, not a regular file/],
        ] as const
      ) {
        const began = Date.now();
        const daemon = start(["--config", config]);
        const { status, log } = await daemon.finished();
        assert.equal(status.code, 2, log);
        assert.match(log, what);
        assert.ok(Date.now() - began < 10_000, "it did not wait on the file");
      }
    }),
);

privilegedTest(
  "a config file replaced by a FIFO or a link to /dev/zero: the reload is refused and the daemon still answers",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, dir, cgroup }) => {
      const config = `${dir}/oomwatch.conf`;
      Deno.writeTextFileSync(
        config,
        `bufsize = 8\nmemcg_oom = ${cgroup.kernelName}\n`,
      );
      const daemon = start(["--config", config]);
      await daemon.waitForLocked(8);
      Deno.removeSync(config);
      await new Deno.Command("mkfifo", { args: [config] }).output();
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(
        /reload refused: .*oomwatch.conf is a FIFO, not a regular file.*the running configuration stays in force/,
      );
      Deno.removeSync(config);
      Deno.symlinkSync("/dev/zero", config);
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(/reload refused: .*is a character device/);
      // Still watching: a memcg kill (a signal, by the running config) releases.
      const hog = await cgroup.runHog();
      assert.equal(hog.signal, "SIGKILL");
      await daemon.waitForLocked(0);
      const { status, log } = await daemon.stop();
      assert.equal(status.code, 0, log);
    }),
);

privilegedTest(
  "a FIFO planted by nobody at the crash flag's path neither hangs start-up nor check; the flag cannot go there and check says so",
  [ROOT, SETPRIV],
  () =>
    withScenario(null, async ({ start, dir, cli }) => {
      Deno.chmodSync(dir, 0o755);
      const flags = stickyDirectory(dir, "flags");
      const flag = `${flags}/oomflag`;
      await asNobody('mkfifo "$1"', flag);
      const daemon = start(["--bufsize", "0", "--crashflag-name", flag]);
      await daemon.waitForLog(/started \(pid/, 10_000);
      assert.match(
        daemon.log,
        /oomflag is a FIFO, not a regular file; it is not a crash flag oomwatch can read, and is left alone/,
      );
      const result = await waitFor("check to see the FIFO", async () => {
        const r = await cli(["check", "--crashflag-name", flag]);
        return r.code === 1 ? r : undefined;
      });
      assert.match(
        result.stdout,
        /oomflag is a FIFO, not a crash flag: the flag cannot be written there/,
      );
      const status = await cli(["status", "--crashflag-name", flag]);
      assert.equal(status.code, 1, status.stdout + status.stderr);
      assert.ok(exists(flag), "nobody's FIFO is left alone");
    }),
);

privilegedTest(
  "a directory planted at the crash flag's path: the flag write fails with a clear message and the directory is never removed",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, flag, cgroup }) => {
      Deno.mkdirSync(flag);
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "2",
      ]);
      await daemon.waitForLocked(8);
      assert.equal((await cgroup.runHog()).signal, "SIGKILL");
      await daemon.waitForLog(
        /cannot write the crash flag .*flag: .*flag is a directory; oomwatch writes only a regular file there and leaves this alone/,
      );
      await daemon.waitForLog(/OOM episode 1 ended/, 10_000);
      await daemon.waitForLocked(8);
      assert.ok(
        Deno.statSync(flag).isDirectory,
        "the directory is still there",
      );
    }),
);

privilegedTest(
  "after the status directory was removed, a second daemon finds the first by its lock on the removed file and refuses",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const statusFile = `${dir}/run/status.json`;
      // A long heartbeat: the first does not re-create its lock meanwhile.
      const first = start([
        "--bufsize",
        "0",
        "--heartbeat",
        "60",
        "--status-file",
        statusFile,
      ]);
      await first.waitForLog(/started \(pid/);
      Deno.removeSync(`${dir}/run`, { recursive: true });
      const second = start(["--bufsize", "0", "--status-file", statusFile]);
      const refused = await second.finished();
      assert.equal(refused.status.code, 1, refused.log);
      assert.match(
        refused.log,
        new RegExp(
          `another oomwatch is running \\(pid ${first.pid}, holding .*oomwatch.lock, whose file was removed\\)`,
        ),
      );
    }),
);

privilegedTest(
  "a daemon whose status directory was removed re-creates it, its lock and its status within a heartbeat; check sees it",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir, cli }) => {
      const statusFile = `${dir}/run/status.json`;
      const first = start([
        "--bufsize",
        "0",
        "--heartbeat",
        "1",
        "--status-file",
        statusFile,
      ]);
      await first.waitForLog(/started \(pid/);
      Deno.removeSync(`${dir}/run`, { recursive: true });
      await first.waitForLog(
        /the instance lock .*oomwatch.lock was removed: re-created it/,
        5_000,
      );
      await waitFor("the status file again", () => exists(statusFile), 5_000);
      const check = await cli(["check", "--status-file", statusFile]);
      assert.equal(check.code, 0, check.stdout);
      assert.match(check.stdout, new RegExp(`pid ${first.pid}`));
      const second = start(["--bufsize", "0", "--status-file", statusFile]);
      const refused = await second.finished();
      assert.equal(refused.status.code, 1, refused.log);
      assert.match(
        refused.log,
        new RegExp(`another oomwatch is running \\(pid ${first.pid}`),
      );
    }),
);

privilegedTest(
  "a crash flag from an earlier boot is kept aside when a new episode needs the path, stays CRITICAL, and goes only with 'oomwatch ack'",
  [ROOT, MEMCG],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, flag, cgroup, cli }) => {
      const earlier =
        `# oomwatch crash flag\nstarted=2026-01-01T00:00:00.000Z\ntrigger=global-oom\nboot_id=${OTHER_BOOT}\n`;
      Deno.writeTextFileSync(flag, earlier);
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "2",
      ]);
      await daemon.waitForLocked(8);
      assert.equal(
        Deno.readTextFileSync(flag),
        earlier,
        "left at its path at start",
      );
      assert.equal((await cgroup.runHog()).signal, "SIGKILL");
      const kept = `${flag}.boot-${OTHER_BOOT}`;
      await daemon.waitForLog(
        new RegExp(`crash flag of boot ${OTHER_BOOT} kept as ${kept}`),
      );
      assert.equal(Deno.readTextFileSync(kept), earlier, "kept as it was");
      await daemon.waitForLog(/crash flag written to /);
      assert.match(
        Deno.readTextFileSync(flag),
        new RegExp(`^boot_id=${bootId()}$`, "m"),
      );
      await daemon.waitForLog(/OOM episode 1 ended/, 10_000);
      await waitFor("the episode's flag removed", () => !exists(flag));
      assert.equal(
        Deno.readTextFileSync(kept),
        earlier,
        "never removed by the daemon",
      );
      const check = await cli(["check"]);
      assert.equal(check.code, 2, check.stdout);
      assert.match(
        check.stdout,
        new RegExp(
          `crash flag ${kept} is from boot ${OTHER_BOOT}: the machine went down`,
        ),
      );
      const ack = await cli(["ack"]);
      assert.equal(ack.code, 0, ack.stdout + ack.stderr);
      assert.match(
        ack.stdout,
        new RegExp(`acknowledged and removed ${kept}: boot ${OTHER_BOOT}`),
      );
      assert.ok(!exists(kept));
      const after = await cli(["check"]);
      assert.equal(after.code, 0, after.stdout);
    }),
);

privilegedTest(
  "a reserve that would leave too little memory is refused: exit 1, saying how much is available",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const memTotal = Number(
        /^MemTotal:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/meminfo"))
          ?.[1],
      ) * 1024;
      // 40% of RAM: allowed (at most half), but twice it must stay free after.
      const mib = Math.floor(memTotal * 0.4 / MIB);
      const daemon = start(["--bufsize", String(mib)]);
      const { status, log } = await daemon.finished();
      assert.equal(status.code, 1, log);
      assert.match(
        log,
        new RegExp(
          `refusing to lock the ${mib} MiB reserve: MemAvailable is \\d+ MiB, and \\d+ MiB must remain free after a ${mib} MiB reserve`,
        ),
      );
      assert.doesNotMatch(log, /started \(pid/);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((name) =>
          name !== "sysrq"
        ),
        ["oomwatch.lock"],
        "nothing but the lock",
      );
    }),
);

privilegedTest(
  "a reload that RLIMIT_MEMLOCK will not let grow keeps the old size, and the episode and re-arm say the truth",
  [ROOT, MEMCG, SETPRIV],
  () =>
    withScenario(CGROUP_LIMIT, async ({ start, dir, cgroup, statusFile }) => {
      const config = `${dir}/oomwatch.conf`;
      Deno.writeTextFileSync(
        config,
        `bufsize = 4\nmemcg_oom = ${cgroup.kernelName}\nresettime = 1\n`,
      );
      const daemon = start(["--config", config], {
        wrapper: [
          "prlimit",
          "--memlock=6291456:6291456",
          "setpriv",
          "--bounding-set=-ipc_lock",
          "--inh-caps=-ipc_lock",
          "--",
        ],
      });
      await daemon.waitForLocked(4);
      Deno.writeTextFileSync(
        config,
        `bufsize = 8\nmemcg_oom = ${cgroup.kernelName}\nresettime = 1\n`,
      );
      Deno.kill(daemon.pid, "SIGHUP");
      await daemon.waitForLog(
        /cannot lock the 8 MiB reserve: .*RLIMIT_MEMLOCK is 6 MiB.*; keeping the 4 MiB reserve/,
      );
      await daemon.waitForLog(/configuration reloaded: bufsize=4 /);
      await daemon.waitForLocked(4);
      assert.equal((await cgroup.runHog()).signal, "SIGKILL");
      await daemon.waitForLog(/reserve of 4 MiB released/);
      await daemon.waitForLog(/reserve of 4 MiB re-armed/, 10_000);
      const status = await waitFor("the armed status", () => {
        const s = JSON.parse(Deno.readTextFileSync(statusFile));
        return s.state === "armed" ? s : undefined;
      });
      assert.equal(status.reserve.heldBytes, 4 * MIB);
      assert.equal(status.config.bufsize, "4");
      // The limit lowered under it: the re-arm takes what the limit allows, and says so.
      await new Deno.Command("prlimit", {
        args: ["--pid", String(daemon.pid), "--memlock=2097152:2097152"],
      }).output();
      assert.equal((await cgroup.runHog()).signal, "SIGKILL");
      await daemon.waitForLog(
        /reserve re-armed with 2 of the configured 4 MiB: cannot lock the 4 MiB reserve/,
        10_000,
      );
      await daemon.waitForLocked(2);
    }),
);

privilegedTest(
  "check and status say UNKNOWN, in one line and without a stack trace, for a damaged status file",
  [ROOT],
  () =>
    withScenario(null, async ({ start, statusFile, cli, dir }) => {
      // Asleep for a minute: no kernel log (a file: never ready) and no PSI
      // trigger can wake it to rewrite the status file under the test.
      const daemon = start(
        ["--bufsize", "0", "--heartbeat", "60", "--psi-full", "0"],
        { env: { OOMWATCH_KMSG: quietKernelLog(dir) } },
      );
      await daemon.waitForLog(/started \(pid/);
      const good = await waitFor("the status file", () => {
        try {
          return JSON.parse(Deno.readTextFileSync(statusFile));
        } catch {
          return undefined;
        }
      });
      const damaged: [string, unknown][] = [
        ["lastReactionLatencyMs", undefined],
        ["lastReactionLatencyMs", "fast"],
        ["counters", { episodes: "1" }],
        ["problems", [{ id: "nonsense" }]],
        ["episode", 7],
      ];
      for (const [field, value] of damaged) {
        const broken = { ...good };
        if (value === undefined) delete broken[field];
        else broken[field] = value;
        Deno.writeTextFileSync(statusFile, JSON.stringify(broken));
        for (const command of [["check"], ["status"], ["status", "--json"]]) {
          const result = await cli(command);
          assert.equal(
            result.code,
            3,
            `${command} ${field}: ${result.stdout}${result.stderr}`,
          );
          assert.doesNotMatch(
            result.stdout + result.stderr,
            /TypeError|\n {4}at /,
          );
        }
        const check = await cli(["check"]);
        assert.equal(check.stdout.trim().split("\n").length, 1);
        assert.match(
          check.stdout,
          new RegExp(`^OOMWATCH UNKNOWN - status unreadable: .*'${field}`),
        );
      }
    }),
);

privilegedTest(
  "the status directory is created 0755; one below a directory others can write without the sticky bit is refused; a crash-flag directory others can write is warned about",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      Deno.chmodSync(dir, 0o755);
      // Created by the daemon: 0755, root's.
      const created = `${dir}/made/run`;
      const first = start([
        "--bufsize",
        "0",
        "--status-file",
        `${created}/status.json`,
      ]);
      await waitFor("the status file", () => exists(`${created}/status.json`));
      const info = Deno.statSync(created);
      assert.equal((info.mode ?? 0) & 0o7777, 0o755);
      assert.equal(info.uid, 0);
      await first.stop();
      // Below an open, non-sticky directory: anyone could swap it.
      const open = `${dir}/open`;
      Deno.mkdirSync(`${open}/run`, { recursive: true });
      Deno.chmodSync(open, 0o777);
      const below = start([
        "--bufsize",
        "0",
        "--status-file",
        `${open}/run/status.json`,
      ]);
      const refused = await below.finished();
      assert.equal(refused.status.code, 1, refused.log);
      assert.match(refused.log, /refusing the status directory/);
      assert.match(refused.log, /writable by everyone/);
      // The same open directory, sticky: allowed.
      Deno.chmodSync(open, 0o1777);
      const sticky = start([
        "--bufsize",
        "0",
        "--status-file",
        `${open}/run/status.json`,
      ]);
      await waitFor(
        "the status file below a sticky directory",
        () => exists(`${open}/run/status.json`),
      );
      await sticky.stop();
      // A crash flag's directory others can write, not sticky: a warning.
      const flags = `${dir}/flags`;
      Deno.mkdirSync(flags);
      Deno.chmodSync(flags, 0o777);
      const warned = start([
        "--bufsize",
        "0",
        "--crashflag-name",
        `${flags}/oomflag`,
        "--status-file",
        `${dir}/run2/status.json`,
      ]);
      await warned.waitForLog(
        /the crash flag's directory .*flags.* is writable by everyone and not sticky: another user could replace or remove the flag/,
      );
      await warned.stop();
    }),
);
