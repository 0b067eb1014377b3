// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * What wakes the daemon: a PSI trigger on a real memory stall, the periodic
 * fallback when the kernel refuses the trigger, and its own code kept
 * resident.
 */

import assert from "node:assert/strict";
import { readLockedBytes, readStatusBytes } from "../../src/shell/procfs.ts";
import { waitFor, withScenario } from "../helpers/daemon.ts";
import { MEMCG, type MemoryCgroup } from "../helpers/memcg.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const MIB = 1024 * 1024;

const PSI = {
  name: "PSI",
  missing: () => {
    try {
      return /^full /m.test(Deno.readTextFileSync("/proc/pressure/memory"))
        ? null
        : "/proc/pressure/memory has no 'full' line";
    } catch {
      return "no /proc/pressure/memory (kernel without PSI or psi=0)";
    }
  },
};

/**
 * A real memory stall, confined to a memory cgroup: a process maps a file
 * four times the cgroup's limit and reads it page by page, so every page is
 * reclaimed and read back (thrashing). Nothing else on an idle machine runs,
 * so all non-idle tasks are stalled: system-wide PSI `full` rises.
 */
async function thrash(
  cgroup: MemoryCgroup,
  file: string,
  seconds: number,
): Promise<Deno.CommandOutput> {
  const script = [
    "import mmap, os, time",
    `fd = os.open(${JSON.stringify(file)}, os.O_RDONLY)`,
    "os.fsync(fd)",
    "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)",
    "m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)",
    "end = time.time() + " + seconds,
    "s = 0",
    "while time.time() < end:",
    "    for off in range(0, len(m), 4096): s += m[off]",
  ].join("\n");
  return await new Deno.Command("sh", {
    args: [
      "-c",
      'echo $$ > "$1/cgroup.procs" && exec python3 -c "$2"',
      "thrash",
      cgroup.path,
      script,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
}

privilegedTest(
  "a PSI trigger wakes the daemon when a real memory stall starts",
  [ROOT, MEMCG, PSI],
  () =>
    withScenario(32 * MIB, async ({ start, cgroup, dir }) => {
      const file = `${dir}/thrash.bin`;
      const data = new Uint8Array(MIB);
      const handle = Deno.openSync(file, { write: true, create: true });
      for (let i = 0; i < 128; i++) handle.writeSync(data);
      // Clean pages only: fadvise(DONTNEED) in the thrasher must be able to
      // drop them, so that every page it reads is charged to its cgroup.
      handle.syncSync();
      handle.close();
      // A 60 s heartbeat: only the trigger can wake the daemon in time.
      const daemon = start([
        "--bufsize",
        "8",
        "--psi-full",
        "5",
        "--psi-window",
        "2",
        "--heartbeat",
        "60",
        "--resettime",
        "2",
      ]);
      await daemon.waitForLog(/a PSI trigger 'full 100000 2000000'/);
      const stall = thrash(cgroup, file, 8);
      const stallStarted = Date.now();
      const line = await daemon.waitForLog(
        /OOM episode 1 started by memory-stall full stall \d+% of the last 2 s/,
        15_000,
      );
      const after = (Date.now() - stallStarted) / 1000;
      assert.ok(after < 10, `episode ${after} s after the stall began`);
      console.log(
        `  episode started ${after.toFixed(2)} s after the stall began`,
      );
      const share = Number(/full stall (\d+)%/.exec(line[0])?.[1]);
      assert.ok(share >= 5, `a share at or above the threshold: ${share}%`);
      assert.equal(daemon.lockedMiB(), 0, "reserve released");
      const status = await stall;
      assert.ok(status.success, new TextDecoder().decode(status.stderr));
    }),
);

privilegedTest(
  "when the kernel refuses the trigger, the daemon says so once and reads pressure periodically",
  [ROOT, PSI],
  () =>
    withScenario(null, async ({ start, statusFile }) => {
      // Writes to /dev/full fail with ENOSPC: the trigger cannot be armed.
      const daemon = start(["--bufsize", "0", "--heartbeat", "1"], {
        env: { OOMWATCH_PSI_TRIGGER: "/dev/full" },
      });
      await daemon.waitForLog(
        /no PSI trigger \(writing 'full 6000000 10000000' to \/dev\/full: write failed: ENOSPC\): memory pressure is read every 1 s while memory is tight/,
      );
      await daemon.waitForLog(/started .*waiting on .*the kernel log/);
      assert.doesNotMatch(daemon.log, /a PSI trigger '/);
      // It keeps going on its heartbeat: three distinct heartbeats pass.
      const beats = new Set<number>();
      await waitFor(
        "three heartbeats",
        () => {
          try {
            beats.add(
              JSON.parse(Deno.readTextFileSync(statusFile)).heartbeatEpochMs,
            );
          } catch {
            // between two writes
          }
          return beats.size >= 3;
        },
        10_000,
        100,
      );
      assert.equal(
        (daemon.log.match(/no PSI trigger/g) ?? []).length,
        1,
        "said once",
      );
      const { status } = await daemon.stop();
      assert.equal(status.code, 0);
    }),
);

privilegedTest(
  "with --lock-code 1 the daemon's code stays locked beyond the reserve and it still answers",
  [ROOT],
  () =>
    withScenario(null, async ({ start }) => {
      const daemon = start(["--bufsize", "8", "--lock-code", "1"]);
      const line = await daemon.waitForLog(/(\d+) code mappings locked/);
      assert.ok(Number(line[1]) > 0, daemon.log);
      const vmLck = readStatusBytes(daemon.pid, "VmLck") ?? 0;
      const locked = readLockedBytes(daemon.pid) ?? 0;
      assert.ok(vmLck > 8 * MIB + 8 * MIB, `VmLck ${vmLck / MIB} MiB`);
      assert.ok(locked > 8 * MIB, `Locked ${locked / MIB} MiB`);
      // With its code pinned V8 still runs: the daemon handles a signal.
      const { status, log } = await daemon.stop();
      assert.equal(status.code, 0, log);
      assert.match(log, /SIGTERM: reserve of 8 MiB released/);
    }),
);
