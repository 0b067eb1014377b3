/**
 * `--exec-on-oom` as it really runs: `sh -c`, its stderr, its end.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execHooksRunning, runExecOnOom } from "../../src/shell/exec_hook.ts";
import { Logger } from "../../src/shell/log.ts";
import { waitFor } from "../helpers/daemon.ts";

Deno.test("a failing hook's stderr is logged escaped on one line, cut to 2000 bytes, and a child it leaves holding the pipe neither delays the line nor piles up output", async () => {
  let logged = "";
  const log = new Logger("info", { journal: false }, "oomwatch", (line) => {
    logged += line;
  });
  const started = Date.now();
  // A forged journal record after a newline, then a background writer that
  // keeps the pipe open and writes without end, then the exit.
  runExecOnOom(
    `printf 'bad\\n<0>[oomwatch.watchdog] forged\\n' >&2; ` +
      `(while :; do printf xxxxxxxxxxxxxxxx; done >&2 2>/dev/null &) ; exit 3`,
    {},
    log,
  );
  const line = await waitFor(
    "the failure logged",
    () => logged.includes("failed (exit 3)") ? logged : undefined,
    10_000,
  );
  assert.ok(
    Date.now() - started < 5_000,
    `logged after ${Date.now() - started} ms`,
  );
  assert.equal(line.trim().split("\n").length, 1, line);
  assert.match(line, /: bad\\x0a<0>\[oomwatch\.watchdog\] forged\\x0ax+/);
  assert.ok(line.length < 2_400, `${line.length} characters`);
  assert.equal(execHooksRunning(), 0);
});

Deno.test("a hook that leaves a quiet child holding its stderr: the line comes about 1 s after its exit, and the pipe is closed then (the child's next write fails)", async () => {
  let logged = "";
  const log = new Logger("info", { journal: false }, "oomwatch", (line) => {
    logged += line;
  });
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-hook-" });
  try {
    const started = Date.now();
    runExecOnOom(
      `echo quiet >&2; ` +
        `(trap '' PIPE; sleep 2; echo late >&2 || touch "$DIR/epipe") & exit 4`,
      { DIR: dir },
      log,
    );
    await waitFor(
      "the failure logged",
      () => logged.includes("failed (exit 4)") ? true : undefined,
      10_000,
    );
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 4_000, `logged after ${took} ms`);
    assert.match(logged, /failed \(exit 4\): quiet/);
    await waitFor("the child's write to fail with EPIPE", () => {
      try {
        return Deno.statSync(`${dir}/epipe`).isFile;
      } catch {
        return undefined;
      }
    }, 10_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hook still running at its timeout is killed with the processes it started, not the shell alone", async () => {
  let logged = "";
  const log = new Logger("info", { journal: false }, "oomwatch", (line) => {
    logged += line;
  });
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-hook-" });
  let grandchild = 0;
  const alive = (pid: number): boolean => {
    try {
      // A zombie waits for init to reap it: it no longer runs.
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return !/^\d+ \(.*\) Z /s.test(stat);
    } catch {
      return false;
    }
  };
  try {
    // `wait` keeps sh itself running, so sh does not exec the sleep: the
    // sleep is a child the shell's death alone would leave behind.
    runExecOnOom(
      `sleep 300 & echo $! > "$DIR/child"; wait`,
      { DIR: dir },
      log,
      500,
    );
    grandchild = await waitFor("the hook's child to start", () => {
      try {
        const pid = Number(Deno.readTextFileSync(`${dir}/child`).trim());
        return pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    }, 10_000);
    await waitFor(
      "the hook killed",
      () => logged.includes("failed (signal SIGKILL)") ? true : undefined,
      10_000,
    );
    assert.match(
      logged,
      /'sleep 300 .*' still runs after 0\.5 s: killing it and the processes it started/,
    );
    await waitFor(
      `the hook's child ${grandchild} to be gone`,
      () => alive(grandchild) ? undefined : true,
      5_000,
    );
    assert.equal(execHooksRunning(), 0);
  } finally {
    if (grandchild > 0 && alive(grandchild)) {
      try {
        Deno.kill(grandchild, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
