// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Failures that must be loud: a panic action that cannot run, a crash flag
 * that cannot be written, a kernel log that cannot be read, a metrics file
 * that cannot be kept — each is WARNING or CRITICAL in check, never OK. And
 * names chosen by users reach the log escaped.
 *
 * Every daemon here has its SysRq trigger pointed at a test file and runs
 * without CAP_SYS_BOOT (tests/helpers/daemon.ts), so the libc fallback is
 * only ever logged.
 */

import assert from "node:assert/strict";
import {
  type DaemonProcess,
  waitFor,
  withScenario,
} from "../helpers/daemon.ts";
import { MEMCG, type MemoryCgroup } from "../helpers/memcg.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";
import { TRACEPOINT } from "../helpers/tracing.ts";

const MIB = 1024 * 1024;
const CGROUP_LIMIT = 48 * MIB;

function readStatus(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return null;
  }
}

privilegedTest(
  "a panic action without a SysRq trigger fails loudly, falls back (only logged here), is retried, and check is CRITICAL until it works",
  [ROOT, MEMCG],
  () =>
    withScenario(
      CGROUP_LIMIT,
      async ({ start, dir, cgroup, cli, statusFile }) => {
        const triggerDir = `${dir}/sysrq-dir`;
        const trigger = `${triggerDir}/sysrq-trigger`;
        const daemon: DaemonProcess = start(
          [
            "--bufsize",
            "8",
            "--memcg-oom",
            cgroup.kernelName,
            "--gracetime",
            "1",
            "--resettime",
            "60",
          ],
          { env: { OOMWATCH_SYSRQ_TRIGGER: trigger } },
        );
        await daemon.waitForLocked(8);
        // Said at start, and check reports it.
        await daemon.waitForLog(
          /the panic action 'panic' cannot work here: no SysRq trigger .* and no CAP_SYS_BOOT/,
        );
        await daemon.waitForLog(/started \(pid/);
        const warning = await cli(["check"]);
        assert.equal(warning.code, 1, warning.stdout);
        assert.match(
          warning.stdout,
          /the panic action 'panic' cannot work here/,
        );
        await cgroup.killUntil(
          () => /falling back to sync\(2\)/.test(daemon.log),
        );
        assert.match(
          daemon.log,
          /writing SysRq keys to .*sysrq-trigger failed: .*ENOENT; falling back to sync\(2\) and reboot\(RB_AUTOBOOT\) — not called: the SysRq trigger was redirected/,
        );
        assert.doesNotMatch(
          daemon.log,
          /internal error|\n {4}at /,
          "no stack trace",
        );
        const critical = await waitFor("check to say CRITICAL", async () => {
          const result = await cli(["check"]);
          return result.code === 2 ? result : undefined;
        });
        assert.match(
          critical.stdout,
          /^OOMWATCH CRITICAL - panic action failed: writing SysRq keys to .* failed/,
        );
        const status = readStatus(statusFile);
        const episode = status?.episode as { panicFailures: number } | null;
        assert.ok((episode?.panicFailures ?? 0) >= 1, JSON.stringify(status));
        // The trigger becomes writable: the next attempt (10 s on) writes 'c'.
        Deno.mkdirSync(triggerDir);
        await waitFor(
          "'c' written on a retry",
          () => {
            try {
              return Deno.readTextFileSync(trigger) === "c";
            } catch {
              return false;
            }
          },
          25_000,
          200,
        );
        await daemon.waitForLog(/panic action 'panic' carried out/);
        const after = await cli(["check"]);
        assert.doesNotMatch(after.stdout, /panic action failed/);
      },
    ),
);

privilegedTest(
  "check is WARNING, not OK, while the crash flag's filesystem is read-only, the kernel log unreadable, or the metrics file unwritable",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir, cli }) => {
      const readOnly = `${dir}/ro`;
      Deno.mkdirSync(readOnly);
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "ro,size=64k", "oomwatch-test", readOnly],
      }).output();
      assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
      const metricsDir = `${dir}/metrics`;
      Deno.mkdirSync(metricsDir);
      try {
        const daemon = start([
          "--bufsize",
          "0",
          "--heartbeat",
          "1",
          "--crashflag-name",
          `${readOnly}/oomflag`,
          "--metrics-file",
          `${metricsDir}/oomwatch.prom`,
        ], { env: { OOMWATCH_KMSG: `${dir}/no-kmsg` } });
        await daemon.waitForLog(/started \(pid/);
        const flagArgs = ["--crashflag-name", `${readOnly}/oomflag`];
        let check = await waitFor("check WARNING", async () => {
          const result = await cli(["check", ...flagArgs]);
          return result.code === 1 ? result : undefined;
        });
        assert.match(
          check.stdout,
          /read-only filesystem: during an OOM episode the flag would be missing/,
        );
        assert.match(check.stdout, /kernel log unreadable/);
        Deno.removeSync(metricsDir, { recursive: true });
        check = await waitFor("check to name the metrics file", async () => {
          const result = await cli(["check", ...flagArgs]);
          return /metrics file/.test(result.stdout) ? result : undefined;
        });
        assert.equal(check.code, 1);
        assert.match(
          check.stdout,
          /cannot write the metrics file .*oomwatch.prom/,
        );
      } finally {
        await new Deno.Command("umount", { args: [readOnly] }).output();
      }
    }),
);

privilegedTest(
  "a metrics file whose directory does not exist is refused at start with exit 2",
  [],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const daemon = start(["--metrics-file", `${dir}/missing/oomwatch.prom`]);
      const { status, log } = await daemon.finished();
      assert.equal(status.code, 2, log);
      assert.match(
        log,
        /invalid value '.*missing\/oomwatch.prom' for metrics_file: directory .*missing does not exist/,
      );
    }),
);

/** Starts, in `cgroup`, a hog whose name (comm) is `name`, and waits for its end. */
async function namedHog(
  cgroup: MemoryCgroup,
  name: string,
): Promise<Deno.CommandStatus> {
  const script = [
    "import ctypes, sys",
    "ctypes.CDLL(None).prctl(15, sys.argv[1].encode('latin-1'), 0, 0, 0)",
    `bytearray(${cgroup.limitBytes * 2})`,
  ].join("\n");
  return await new Deno.Command("sh", {
    args: [
      "-c",
      'echo $$ > "$1/cgroup.procs" && exec python3 -c "$2" "$3"',
      "hog",
      cgroup.path,
      script,
      name,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
}

// The name reaches oomwatch two ways: escaped by the kernel's printk in the
// kernel log, and as raw comm bytes in the oom:mark_victim tracepoint record
// (since 6.2 it carries comm). Both must come out escaped.
for (
  const { source, args } of [
    { source: "kernel log", args: ["--tracepoint", "0"] },
    { source: "tracepoint", args: [] },
  ]
) {
  privilegedTest(
    `a real memcg kill of a process named 'ev\\nil' is an OOM signal with --memcg-oom, and one named with a terminal escape is logged escaped (from the ${source})`,
    source === "tracepoint" ? [ROOT, MEMCG, TRACEPOINT] : [ROOT, MEMCG],
    () =>
      withScenario(CGROUP_LIMIT, async ({ start, cgroup, flag }) => {
        const from = `\\(from the ${source}\\)`;
        const quiet = start(["--bufsize", "8", ...args]);
        // Its sources open after the reserve is locked: a kill before
        // then is not the tracepoint's.
        await quiet.waitForLog(/started \(pid/);
        assert.equal(
          (await namedHog(cgroup, "\x1b[31mred")).signal,
          "SIGKILL",
        );
        const logged = await quiet.waitForLog(
          new RegExp(
            `memcg OOM kill of (\\S+) \\(pid \\d+\\) in (\\S+) ${from}: not an OOM signal`,
          ),
        );
        assert.equal(logged[1], "\\x1b[31mred");
        assert.equal(logged[2], cgroup.kernelName);
        await quiet.stop();
        const daemon = start([
          "--bufsize",
          "8",
          "--memcg-oom",
          cgroup.kernelName,
          "--resettime",
          "60",
          ...args,
        ]);
        await daemon.waitForLog(/started \(pid/);
        assert.equal((await namedHog(cgroup, "ev\nil")).signal, "SIGKILL");
        const line = await daemon.waitForLog(
          new RegExp(
            `OOM episode 1 started by memcg-oom kill of (\\S+) \\(pid \\d+\\) in (\\S+) ${from}`,
          ),
        );
        assert.equal(line[1], "ev\\x0ail");
        assert.equal(line[2], cgroup.kernelName);
        assert.match(
          Deno.readTextFileSync(flag),
          /^victim=ev\\x0ail \(pid \d+\)$/m,
        );
        for (const log of [quiet.log, daemon.log]) {
          assert.ok(
            !log.includes("\x1b") && !log.includes("ev\nil"),
            "no raw control byte in the log",
          );
        }
      }),
  );
}
