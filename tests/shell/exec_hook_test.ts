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
