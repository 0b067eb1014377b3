/**
 * The daemon must keep running while the machine is starved, so its own
 * cost must not grow with what it has seen: after 50 real OOM episodes its
 * descriptors are what they were after the first, its threads no more, and its RSS
 * (the reserve left out) stays within 1.15× of a bare Deno process's.
 */

import assert from "node:assert/strict";
import { runFlags } from "../../scripts/run_flags.ts";
import { readStatusBytes } from "../../src/shell/procfs.ts";
import { waitFor, withScenario } from "../helpers/daemon.ts";
import { MEMCG } from "../helpers/memcg.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const MIB = 1024 * 1024;
const EPISODES = 50;

function count(dir: string): number {
  return [...Deno.readDirSync(dir)].length;
}

/** RSS of a bare Deno process with the daemon's V8 flags and a 5 s timer. */
async function bareDenoRss(): Promise<number> {
  const v8 = runFlags().filter((flag) => flag.startsWith("--v8-flags"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", ...v8, "setInterval(() => {}, 5000)"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return readStatusBytes(child.pid, "VmRSS") ?? NaN;
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

privilegedTest(
  `after ${EPISODES} real memcg OOM episodes the daemon's fds are unchanged, its threads no more, and its RSS without the reserve within 1.15x of bare Deno`,
  [ROOT, MEMCG],
  () =>
    withScenario(48 * MIB, async ({ start, cgroup }) => {
      const daemon = start([
        "--bufsize",
        "8",
        "--memcg-oom",
        cgroup.kernelName,
        "--resettime",
        "1",
      ]);
      await daemon.waitForLocked(8);
      let baseline: { fds: number; threads: number } | null = null;
      for (let episode = 1; episode <= EPISODES; episode++) {
        assert.equal((await cgroup.runHog()).signal, "SIGKILL");
        await daemon.waitForLog(
          new RegExp(`OOM episode ${episode} ended`),
          15_000,
        );
        await daemon.waitForLocked(8, 15_000);
        if (episode === 1) {
          baseline = {
            fds: count(`/proc/${daemon.pid}/fd`),
            threads: count(`/proc/${daemon.pid}/task`),
          };
        }
      }
      // The episode's loose ends (the hook-free status writes, a pending
      // poll) settle within a heartbeat.
      await waitFor(
        "the fds to settle",
        () => count(`/proc/${daemon.pid}/fd`) === baseline?.fds,
        10_000,
        200,
      );
      // None added; fewer is fine: Deno's blocking-pool threads exit after
      // 10 s idle, and a daemon that waits on its own thread leaves them idle.
      const threads = count(`/proc/${daemon.pid}/task`);
      assert.ok(
        threads <= (baseline?.threads ?? 0),
        `threads: ${threads}, ${baseline?.threads} after the first episode`,
      );
      const rss = (readStatusBytes(daemon.pid, "VmRSS") ?? NaN) - 8 * MIB;
      const bare = await bareDenoRss();
      console.log(
        `  after ${EPISODES} episodes: RSS without reserve ${
          (rss / MIB).toFixed(1)
        } MiB, bare Deno ${(bare / MIB).toFixed(1)} MiB (${
          (rss / bare).toFixed(2)
        }x), ${baseline?.fds} fds, ${baseline?.threads} threads`,
      );
      assert.ok(
        rss <= 1.15 * bare,
        `${(rss / MIB).toFixed(1)} MiB vs bare ${(bare / MIB).toFixed(1)} MiB`,
      );
    }),
);
