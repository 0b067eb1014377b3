// Tests read small fixture files synchronously between awaits.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * The daemon's loop in this process, on a fixture /proc tree: what it makes
 * of kernel log records the kernel cannot be made to print here (a global
 * OOM), and of kills only the oom_kill counter saw.
 */

import assert from "node:assert/strict";
import { FixtureMachine, withDaemon } from "../helpers/fixture_machine.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** /dev/kmsg's rendering: bytes < 0x20, >= 0x7f and the backslash as \xNN. */
function kmsgEscape(bytes: Uint8Array): string {
  return Array.from(
    bytes,
    (byte) =>
      byte < 0x20 || byte >= 0x7f || byte === 0x5c
        ? `\\x${byte.toString(16).padStart(2, "0")}`
        : String.fromCharCode(byte),
  ).join("");
}

let seq = 100;
function globalKill(pid: number, name: Uint8Array): string[] {
  const comm = kmsgEscape(name);
  seq += 2;
  return [
    `6,${seq},5000000,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice,task=${comm},pid=${pid},uid=1000`,
    `3,${
      seq + 1
    },5000100,-;Out of memory: Killed process ${pid} (${comm}) total-vm:800000kB, anon-rss:700000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:1500kB oom_score_adj:0`,
  ];
}

function memcgKill(pid: number, cgroup: string): string[] {
  seq += 2;
  return [
    `6,${seq},6000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${cgroup},task_memcg=${cgroup},task=hog,pid=${pid},uid=0`,
    `3,${
      seq + 1
    },6000100,-;Memory cgroup out of memory: Killed process ${pid} (hog) total-vm:100kB, anon-rss:90kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0`,
  ];
}

privilegedTest(
  "a global OOM kill of a victim named 'ev\\nil' is a global OOM signal: released, flagged, the name escaped",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      await withDaemon(fixture, { psiFull: 0 }, async (daemon) => {
        await daemon.waitForLog(/started \(pid/);
        fixture.appendKernelLog(
          globalKill(4242, new TextEncoder().encode("ev\nil")),
        );
        const line = await daemon.waitForLog(
          /OOM episode 1 started by global-oom kill of (\S+) \(pid 4242\)/,
        );
        assert.equal(line[1], "ev\\x0ail");
        assert.match(daemon.log(), /reserve of 1 MiB released/);
        assert.doesNotMatch(
          daemon.log(),
          /ev\nil/,
          "no raw control byte logged",
        );
        const flag = Deno.readTextFileSync(`${fixture.dir}/flag`);
        assert.match(flag, /^victim=ev\\x0ail \(pid 4242\)$/m);
        assert.match(flag, /^trigger=global-oom$/m);
      });
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "a kill only the counter saw is judged on memory read when it was counted, not on figures from start",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      // Kernel log readable and a PSI trigger armed: an idle heartbeat reads
      // the counter only, so the fallback must read memory itself.
      await withDaemon(
        fixture,
        { heartbeat: 2, psiFull: 60, thrashIoFull: 0 },
        async (daemon) => {
          await daemon.waitForLog(/started \(pid.*a PSI trigger/);
          fixture.setMemAvailable(100 * MIB); // 1.2% of 8 GiB
          fixture.setCounter(1);
          await daemon.waitForLog(
            /OOM episode 1 started by global-oom kill of unknown victim \(from the oom_kill counter\)/,
          );
        },
      );
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "the fallback takes the lowest MemAvailable of the last seconds: memory that recovered by the kill still says global",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create({ kernelLog: false });
    try {
      await withDaemon(fixture, { psiFull: 0 }, async (daemon) => {
        await daemon.waitForLog(/kernel log unreadable/);
        await daemon.waitForLog(/started \(pid/);
        fixture.setMemAvailable(50 * MIB);
        // Read on a heartbeat while short, then back to plenty.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        fixture.setMemAvailable(6 * GIB);
        fixture.setCounter(1);
        await daemon.waitForLog(
          /OOM episode 1 started by global-oom kill of unknown victim \(from the oom_kill counter\)/,
        );
        fixture.setCounter(2);
        // Ten seconds later plenty is all it remembers: memcg, not a signal.
        await new Promise((resolve) => setTimeout(resolve, 11_000));
        fixture.setCounter(3);
        await daemon.waitForLog(
          /memcg OOM kill of unknown victim \(from the oom_kill counter\): not an OOM signal/,
          5_000,
        );
      });
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "memcg kills that are no signal are logged once, and later ones within the minute only counted",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      await withDaemon(fixture, { psiFull: 0 }, async (daemon) => {
        await daemon.waitForLog(/started \(pid/);
        for (let pid = 500; pid < 510; pid++) {
          fixture.appendKernelLog(memcgKill(pid, "/tenant/a"));
        }
        await daemon.waitForLog(
          /memcg OOM kill of hog \(pid 500\) in \/tenant\/a/,
        );
        const counted = await (async () => {
          for (let i = 0; i < 100; i++) {
            const status = daemon.status();
            const counters = status?.counters as
              | { memcgOomKills?: number }
              | undefined;
            if (counters?.memcgOomKills === 10) return true;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          return false;
        })();
        assert.ok(counted, "all ten counted in the status");
        assert.equal(
          (daemon.log().match(/memcg OOM kill of/g) ?? []).length,
          1,
          daemon.log(),
        );
        assert.doesNotMatch(daemon.log(), /OOM episode/);
      });
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "with --memcg-oom PATHS a kill in those cgroups is a signal, one in a neighbour's is not",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      await withDaemon(
        fixture,
        {
          psiFull: 0,
          memcgOom: {
            kind: "prefixes",
            prefixes: ["/system.slice/db.service"],
          },
        },
        async (daemon) => {
          await daemon.waitForLog(/started \(pid/);
          fixture.appendKernelLog(memcgKill(600, "/system.slice/db.service2"));
          await daemon.waitForLog(
            /memcg OOM kill of hog \(pid 600\) in \/system.slice\/db.service2 .*outside the --memcg-oom cgroups/,
          );
          fixture.appendKernelLog(
            memcgKill(601, "/system.slice/db.service/worker"),
          );
          await daemon.waitForLog(
            /OOM episode 1 started by memcg-oom kill of hog \(pid 601\) in \/system.slice\/db.service\/worker/,
          );
        },
      );
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "on cgroup v2, with --memcg-oom PATHS a kill the log cannot place (its summary rate-limited away) is a signal when the covered cgroup's memory.events counted it",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      const hierarchy = `${fixture.dir}/cgroup`;
      const db = `${hierarchy}/system.slice/db.service`;
      Deno.mkdirSync(db, { recursive: true });
      const events = (oomKills: number) =>
        Deno.writeTextFileSync(
          `${db}/memory.events`,
          `low 0\nhigh 0\nmax 9\noom 3\noom_kill ${oomKills}\noom_group_kill 0\n`,
        );
      events(2);
      Deno.writeTextFileSync(
        fixture.machine.mountinfo,
        `26 22 0:23 / ${hierarchy} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n`,
      );
      const rateLimited = (pid: number) => [
        memcgKill(pid, "/unnamed")[1],
      ];
      await withDaemon(
        fixture,
        {
          psiFull: 0,
          memcgOom: {
            kind: "prefixes",
            prefixes: ["/system.slice/db.service"],
          },
        },
        async (daemon) => {
          await daemon.waitForLog(/started \(pid/);
          // A kill elsewhere: the counter rises, memory.events does not.
          fixture.setCounter(1);
          fixture.appendKernelLog(rateLimited(700));
          await daemon.waitForLog(
            /memcg OOM kill of hog \(pid 700\) in an unidentified cgroup .*not an OOM signal/,
          );
          events(3);
          fixture.setCounter(2);
          fixture.appendKernelLog(rateLimited(701));
          await daemon.waitForLog(
            /OOM episode 1 started by memcg-oom kill in \/system.slice\/db.service \(from its memory cgroup's oom_kill counter: the kernel logged no summary of the kill\)/,
          );
          assert.doesNotMatch(daemon.log(), /OOM episode 2/);
        },
      );
    } finally {
      fixture.remove();
    }
  },
);

privilegedTest(
  "a thrash (I/O stalled, major faults going on, memory short) starts an episode by memory-thrash; memory short without faults does not",
  [ROOT],
  async () => {
    const fixture = FixtureMachine.create();
    try {
      await withDaemon(
        fixture,
        { heartbeat: 1, psiFull: 0, psiWindow: 2 },
        async (daemon) => {
          await daemon.waitForLog(/started \(pid/);
          fixture.setMemAvailable(100 * MIB); // 1.2% of 8 GiB
          // I/O stalled all the time, but no major faults: a copy, not a thrash.
          const started = performance.now();
          const advance = (faultsPerSecond: number): void => {
            const seconds = (performance.now() - started) / 1000;
            fixture.setIoFullStall(Math.floor(seconds * 1_000_000));
            fixture.setMajorFaults(5 + Math.floor(seconds * faultsPerSecond));
          };
          const copy = setInterval(() => advance(0), 100);
          try {
            await new Promise((resolve) => setTimeout(resolve, 3_500));
          } finally {
            clearInterval(copy);
          }
          assert.doesNotMatch(daemon.log(), /OOM episode/);
          const thrash = setInterval(() => advance(1_000), 100);
          try {
            const line = await daemon.waitForLog(
              /OOM episode 1 started by memory-thrash I\/O full stall (\d+)% of the last 2 s with (\d+) major faults\/s and MemAvailable at 1\.2%/,
              10_000,
            );
            assert.ok(Number(line[1]) >= 70, line[0]);
          } finally {
            clearInterval(thrash);
          }
          const flag = Deno.readTextFileSync(`${fixture.dir}/flag`);
          assert.match(flag, /^trigger=memory-thrash$/m);
        },
      );
    } finally {
      fixture.remove();
    }
  },
);
