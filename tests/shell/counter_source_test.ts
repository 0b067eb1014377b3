/**
 * The covered cgroups' counters as the counter source reads them from a
 * cgroup filesystem (here a tree of files shaped like cgroup v2 with
 * memory_localevents), the walk's refusals said, names from the tree
 * escaped; and on the real cgroup filesystem, each cgroup told by its
 * counter file.
 */

import assert from "node:assert/strict";
import type { Observation } from "../../src/core/detector.ts";
import { Problems } from "../../src/core/problems.ts";
import { Logger, ProblemLog } from "../../src/shell/log.ts";
import { CounterSource } from "../../src/shell/sources/counter_source.ts";
import type { Wake } from "../../src/shell/sources/source.ts";
import { describeMachine } from "../../src/core/machine.ts";
import { FixtureMachine } from "../helpers/fixture_machine.ts";
import { MEMCG, MemoryCgroup } from "../helpers/memcg.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";

const wake = (): Wake => ({
  nowMs: 0,
  revents: () => 0,
  sampleDue: true,
  memoryWanted: false,
});

/** What a periodic read of `source` says of the covered counters. */
function coveredOf(
  source: CounterSource,
): Extract<Observation, { kind: "covered-oom-kills" }> {
  const seen = source.read(wake()).find((o) => o.kind === "covered-oom-kills");
  assert.ok(seen?.kind === "covered-oom-kills");
  return seen;
}

function events(directory: string, oomKills: number): void {
  Deno.mkdirSync(directory, { recursive: true });
  Deno.writeTextFileSync(
    `${directory}/memory.events`,
    `low 0\nhigh 0\nmax 1\noom 1\noom_kill ${oomKills}\noom_group_kill 0\n`,
  );
}

Deno.test("the counter source walks the covered subtree, skips planted symlinks, and says (escaped) which names it cannot read", () => {
  const fixture = FixtureMachine.create();
  try {
    const hierarchy = `${fixture.dir}/cgroup`;
    Deno.writeTextFileSync(
      fixture.machine.mountinfo,
      `26 22 0:23 / ${hierarchy} rw - cgroup2 cgroup2 rw,memory_localevents\n`,
    );
    events(`${hierarchy}/db`, 1);
    events(`${hierarchy}/db/worker`, 2);
    // Elsewhere, with many kills: a symlink to it is not a cgroup.
    events(`${fixture.dir}/elsewhere`, 50);
    Deno.symlinkSync(`${fixture.dir}/elsewhere`, `${hierarchy}/db/link`);
    let logged = "";
    const problems = new ProblemLog(
      new Problems(),
      new Logger("info", { journal: false }, "oomwatch", (line) => {
        logged += line;
      }),
    );
    const source = new CounterSource(
      fixture.machine,
      { memcgOom: { kind: "prefixes", prefixes: ["/db"] } },
      problems,
    );
    const first = coveredOf(source);
    assert.equal(first.complete, true);
    assert.deepEqual(
      first.counters.map(({ cgroup, value }) => [cgroup, value]).sort(),
      [["/db", 1], ["/db/worker", 2]],
    );
    // A cgroup named with a terminal escape, holding one whose name is not
    // UTF-8 (Deno reads that name with U+FFFD: a path that does not exist).
    const red = `${hierarchy}/db/\x1b[31mred`;
    events(red, 0);
    const mkdir = new Deno.Command("python3", {
      args: [
        "-c",
        "import os, sys; os.mkdir(os.fsencode(sys.argv[1]) + b'/bad\\xff')",
        red,
      ],
    }).outputSync();
    assert.equal(mkdir.code, 0, new TextDecoder().decode(mkdir.stderr));
    const later = coveredOf(source);
    assert.equal(
      later.complete,
      true,
      "one unreadable name leaves the rest complete",
    );
    assert.ok(
      later.counters.some((c) => c.cgroup === "/db/\x1b[31mred"),
      "the escape's cgroup is read",
    );
    assert.match(
      logged,
      /\/db\/\\x1b\[31mred holds a cgroup whose name is not UTF-8/,
    );
    assert.ok(!logged.includes("\x1b"), "no raw escape in the log");
  } finally {
    fixture.remove();
  }
});

privilegedTest(
  "on the real cgroup filesystem a cgroup removed and made again at the same path is another counter; the same cgroup keeps its id",
  [ROOT, MEMCG],
  () => {
    const cgroup = MemoryCgroup.create(48 * 1024 * 1024);
    let remade = false;
    try {
      const source = new CounterSource(
        describeMachine(() => undefined),
        { memcgOom: { kind: "prefixes", prefixes: [cgroup.kernelName] } },
        new ProblemLog(
          new Problems(),
          new Logger("info", { journal: false }, "oomwatch", () => {}),
        ),
      );
      const idOf = (): string | undefined => {
        const seen = coveredOf(source);
        assert.equal(seen.complete, true);
        return seen.counters.find((c) => c.cgroup === cgroup.kernelName)?.id;
      };
      const first = idOf();
      assert.ok(first !== undefined);
      assert.equal(idOf(), first);
      // What systemd does on a service's restart: the same name, anew. (On
      // this host's ext4 /tmp a file made again got the inode just freed;
      // kernfs hands out ids cyclically, so it does not.)
      Deno.removeSync(cgroup.path);
      Deno.mkdirSync(cgroup.path);
      remade = true;
      const second = idOf();
      assert.ok(second !== undefined);
      assert.notEqual(second, first);
    } finally {
      if (remade) Deno.removeSync(cgroup.path);
      else cgroup.destroy();
    }
  },
);
