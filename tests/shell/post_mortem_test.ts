import assert from "node:assert/strict";
import { TOP_PROCESSES } from "../../src/core/post_mortem.ts";
import { takePostMortem } from "../../src/shell/post_mortem.ts";
import { FixtureMachine } from "../helpers/fixture_machine.ts";

/** A process in the fixture /proc: statm ranks it, status details it. */
function plantProcess(
  fixture: FixtureMachine,
  pid: number,
  residentPages: number,
  { exited = false } = {},
): void {
  const dir = `${fixture.machine.proc}/${pid}`;
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(`${dir}/statm`, `9000 ${residentPages} 10 1 0 50 0\n`);
  // A process that exits between the ranking and its details leaves a
  // statm read behind and no status to read.
  if (exited) return;
  Deno.writeTextFileSync(
    `${dir}/status`,
    `Name:\tp${pid}\nVmRSS:\t${residentPages * 4} kB\nVmSwap:\t0 kB\n`,
  );
  Deno.writeTextFileSync(`${dir}/oom_score_adj`, "0\n");
  Deno.writeTextFileSync(`${dir}/cgroup`, `4:memory:/p${pid}\n`);
}

Deno.test("a post-mortem lists ten processes even when some of the largest exit while it is taken", () => {
  const fixture = FixtureMachine.create();
  try {
    // 14 processes, the largest first; two of the ten largest have exited.
    for (let n = 0; n < 14; n++) {
      plantProcess(fixture, 100 + n, 1000 - n, { exited: n === 0 || n === 5 });
    }
    const postMortem = takePostMortem(
      fixture.machine,
      "panic",
      "2026-12-02T01:00:00.000Z",
      10_000,
    );
    assert.equal(postMortem.processes.length, TOP_PROCESSES);
    assert.deepEqual(
      postMortem.processes.map((p) => p.pid),
      [101, 102, 103, 104, 106, 107, 108, 109, 110, 111],
    );
    assert.deepEqual(postMortem.processes[0], {
      pid: 101,
      name: "p101",
      rssKb: 999 * 4,
      swapKb: 0,
      oomScoreAdj: 0,
      cgroup: "/p101",
    });
  } finally {
    fixture.remove();
  }
});
