// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * What the daemon does when the kernel refuses it something: an mlock beyond
 * RLIMIT_MEMLOCK, an oom_score_adj below 0 without CAP_SYS_RESOURCE.
 */

import assert from "node:assert/strict";
import { withScenario } from "../helpers/daemon.ts";
import { commandsNeed, privilegedTest, ROOT } from "../helpers/privilege.ts";

const SETPRIV = commandsNeed(["setpriv", "prlimit"], "util-linux");

privilegedTest(
  "an mlock refused by RLIMIT_MEMLOCK exits 1 naming the limit and the fix",
  [ROOT, SETPRIV],
  () =>
    withScenario(null, async ({ start, dir }) => {
      // Root without CAP_IPC_LOCK is bound by RLIMIT_MEMLOCK, here 1 MiB.
      const daemon = start(["--bufsize", "32"], {
        wrapper: [
          "prlimit",
          "--memlock=1048576:1048576",
          "setpriv",
          "--bounding-set=-ipc_lock",
          "--inh-caps=-ipc_lock",
          "--",
        ],
      });
      const { status, log } = await daemon.finished();
      assert.equal(status.code, 1, log);
      assert.match(log, /cannot lock the 32 MiB reserve/);
      assert.match(log, /RLIMIT_MEMLOCK is 1 MiB/);
      assert.match(log, /CAP_IPC_LOCK/);
      assert.match(log, /LimitMEMLOCK=infinity/);
      assert.match(log, /ulimit -l unlimited/);
      // No flag, no status: only the instance lock it took before failing.
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((entry) => entry.name),
        ["oomwatch.lock"],
      );
    }),
);

privilegedTest(
  "the daemon asks for oom_score_adj -1000 and warns once, naming the fix, where the kernel refuses",
  [ROOT],
  () =>
    withScenario(null, async ({ start }) => {
      const daemon = start(["--bufsize", "0"]);
      await daemon.waitForLog(/started \(pid \d+\)/);
      const value = Number(
        Deno.readTextFileSync(`/proc/${daemon.pid}/oom_score_adj`).trim(),
      );
      const warnings = daemon.log.match(/cannot set oom_score_adj to -1000/g) ??
        [];
      if (value === -1000) {
        assert.equal(warnings.length, 0, "no warning where it worked");
      } else {
        assert.equal(warnings.length, 1, daemon.log);
        assert.match(daemon.log, /CAP_SYS_RESOURCE/);
        assert.match(daemon.log, /OOMScoreAdjust=-1000/);
        assert.match(daemon.log, new RegExp(`oom_score_adj ${value}\\b`));
      }
      const { status } = await daemon.stop();
      assert.equal(status.code, 0);
    }),
);

privilegedTest(
  "a status directory that cannot be created (a read-only filesystem) exits 1 saying so, without a stack trace",
  [ROOT],
  () =>
    withScenario(null, async ({ start, dir }) => {
      const readOnly = `${dir}/ro`;
      Deno.mkdirSync(readOnly);
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "ro,size=64k", "oomwatch-test", readOnly],
      }).output();
      assert.ok(mount.success);
      try {
        const daemon = start([
          "--bufsize",
          "8",
          "--status-file",
          `${readOnly}/run/status.json`,
        ]);
        const { status, log } = await daemon.finished();
        assert.equal(status.code, 1, log);
        assert.match(
          log,
          /cannot take the instance lock .*ro\/run\/oomwatch.lock: mkdir .*ro\/run failed: EROFS; check that .*ro\/run can be created and written, or choose another --status-file/,
        );
        assert.doesNotMatch(log, /\n {4}at /);
      } finally {
        await new Deno.Command("umount", { args: [readOnly] }).output();
      }
    }),
);
