import assert from "node:assert/strict";
import {
  type KernelRecord,
  parseKernelRecord,
} from "../../src/core/kernel_log.ts";
import { KillWitnesses, VICTIM_GRACE_MS } from "../../src/core/witnesses.ts";

const records = (name: string): KernelRecord[] =>
  Deno.readTextFileSync(
    new URL(`../fixtures/kmsg/${name}`, import.meta.url),
  ).split("\n")
    .filter((line) => line !== "" && !line.startsWith(" "))
    .map(parseKernelRecord)
    .filter((record): record is KernelRecord => record !== null);

const isKillLine = (record: KernelRecord): boolean =>
  /Killed process/.test(record.text);

/** No scope is judged without the log. */
const never = (): boolean => false;
const globalOnly = (scope: string): boolean => scope === "global";

const MEMCG =
  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1b9a4e_2f1d_4c7a_9b55_0d6c1e2f3a4b.slice/cri-containerd-5d41402abc4b2a76b9719d911017c592ae8f1c3e9b6a0f2d7c4e8b1a9f3d6c20.scope";

Deno.test("a victim marked after its summary was read is judged at once, with the tracepoint's time, and its kill line is not judged again", () => {
  const all = records("kmsg_6.18_memcg.txt");
  const witnesses = new KillWitnesses();
  // The summary is stored before mark_victim fires; the kill line after.
  assert.deepEqual(witnesses.records(all.filter((r) => !isKillLine(r)), 0), []);
  const kill = witnesses.victim(
    { pid: 40961, name: "python3", kernelMicros: 45012305500 },
    0,
    never,
  );
  assert.deepEqual(kill, {
    scope: "memcg",
    source: "tracepoint",
    kernelMicros: 45012305500,
    victim: { pid: 40961, name: "python3" },
    memcg: MEMCG,
  });
  assert.equal(witnesses.waiting, false);
  assert.deepEqual(witnesses.records(all.filter(isKillLine), 1), []);
});

Deno.test("a victim marked before the log was read waits for its records, then keeps the tracepoint's time and name", () => {
  const witnesses = new KillWitnesses();
  assert.equal(
    witnesses.victim({ pid: 2210, kernelMicros: 7200111233000 }, 0, never),
    null,
  );
  assert.equal(witnesses.waiting, true);
  const kills = witnesses.records(records("kmsg_6.18_global.txt"), 2);
  assert.equal(kills.length, 1);
  assert.equal(kills[0].scope, "global");
  assert.equal(kills[0].source, "tracepoint");
  assert.equal(kills[0].kernelMicros, 7200111233000);
  assert.deepEqual(kills[0].victim, { pid: 2210, name: "postgres" });
  assert.equal(kills[0].constraint, "CONSTRAINT_NONE");
  assert.equal(witnesses.waiting, false);
});

Deno.test("without the rate-limited summary, a waiting victim is judged on its kill line's wording", () => {
  const witnesses = new KillWitnesses();
  assert.equal(
    witnesses.victim(
      { pid: 9001, name: "worker", kernelMicros: 1 },
      0,
      never,
    ),
    null,
  );
  const [first] = records("kmsg_6.18_memcg_ratelimited.txt");
  const kills = witnesses.records([first], 1);
  assert.deepEqual(
    kills.map((k) => [k.scope, k.source, k.victim?.pid, k.kernelMicros]),
    [["memcg", "tracepoint", 9001, 1]],
  );
});

Deno.test("a victim the log never explains is forgotten after the grace, leaving the kill to the counter", () => {
  const witnesses = new KillWitnesses();
  assert.equal(witnesses.victim({ pid: 77, kernelMicros: 5 }, 0, never), null);
  witnesses.tick(VICTIM_GRACE_MS - 1);
  assert.equal(witnesses.waiting, true);
  witnesses.tick(VICTIM_GRACE_MS + 1);
  assert.equal(witnesses.waiting, false);
  // Its kill line, should it come after all, is judged by the log alone.
  const late = records("kmsg_6.18_global.txt").map((r) =>
    r.text.includes("2210")
      ? { ...r, text: r.text.replaceAll("2210", "77") }
      : r
  );
  const kills = witnesses.records(late, VICTIM_GRACE_MS + 2);
  assert.deepEqual(kills.map((k) => [k.victim?.pid, k.source]), [[
    77,
    "kernel log",
  ]]);
});

Deno.test("kills only the log saw are the log's; a victim marked twice counts once", () => {
  const witnesses = new KillWitnesses();
  const kills = witnesses.records(records("kmsg_6.18_memcg.txt"), 0);
  assert.deepEqual(kills.map((k) => [k.scope, k.source]), [[
    "memcg",
    "kernel log",
  ]]);
  assert.equal(witnesses.victim({ pid: 5, kernelMicros: 1 }, 0, never), null);
  assert.equal(witnesses.victim({ pid: 5, kernelMicros: 2 }, 0, never), null);
  const again = records("kmsg_6.18_global.txt").map((r) => ({
    ...r,
    text: r.text.replaceAll("2210", "5"),
  }));
  assert.deepEqual(
    witnesses.records(again, 1).map((k) => [k.victim?.pid, k.kernelMicros]),
    [[5, 1]],
  );
});

Deno.test("a victim whose callchain shows a global OOM is judged at once; a memcg one waits for its cgroup, then goes on its scope", () => {
  const witnesses = new KillWitnesses();
  assert.deepEqual(
    witnesses.victim(
      { pid: 8, name: "db", kernelMicros: 3, scope: "global" },
      0,
      globalOnly,
    ),
    {
      scope: "global",
      source: "tracepoint",
      kernelMicros: 3,
      victim: { pid: 8, name: "db" },
    },
  );
  assert.equal(
    witnesses.victim(
      { pid: 9, kernelMicros: 4, scope: "memcg" },
      0,
      globalOnly,
    ),
    null,
  );
  assert.deepEqual(witnesses.tick(VICTIM_GRACE_MS), []);
  assert.deepEqual(
    witnesses.tick(VICTIM_GRACE_MS + 1).map((
      k,
    ) => [k.scope, k.victim?.pid, k.memcg]),
    [["memcg", 9, undefined]],
  );
  assert.equal(witnesses.waiting, false);
});

Deno.test("a victim whose kill line the log judged first is not judged again when its mark_victim record comes late", () => {
  const witnesses = new KillWitnesses();
  const kills = witnesses.records(records("kmsg_6.18_memcg.txt"), 0);
  assert.equal(kills.length, 1);
  const pid = kills[0].victim?.pid ?? -1;
  assert.equal(
    witnesses.victim(
      { pid, kernelMicros: 1, scope: "memcg" },
      5,
      () => true,
    ),
    null,
    "the same kill, seen late by the tracepoint",
  );
  assert.equal(witnesses.waiting, false);
  assert.deepEqual(witnesses.tick(VICTIM_GRACE_MS * 20), []);
});
