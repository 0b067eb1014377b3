/**
 * The order of one wake's reads: the kernel log is drained before the
 * tracepoint's rings, so a kill whose line the log already holds is in a
 * ring when the rings are read (the kernel marks the victim before it
 * prints the kill line), and is observed from the tracepoint first; one
 * source's failure does not lose the log's records.
 */

import assert from "node:assert/strict";
import type { KernelRecord } from "../../src/core/kernel_log.ts";
import { wakeReads } from "../../src/shell/sources/index.ts";
import type {
  Observation,
  PollRequest,
  Source,
  Wake,
} from "../../src/shell/sources/source.ts";

/** A source that reads what `next` gives, and records when it was read. */
class ScriptedSource implements Source {
  readonly witnessesKills = true;
  readonly #name: string;
  readonly #reads: string[];
  readonly next: () => Observation[];

  constructor(name: string, reads: string[], next: () => Observation[]) {
    this.#name = name;
    this.#reads = reads;
    this.next = next;
  }
  waitFds(): PollRequest[] {
    return [];
  }
  read(_wake: Wake): Observation[] {
    this.#reads.push(this.#name);
    return this.next();
  }
  describe(): string {
    return this.#name;
  }
  close(): void {}
}

const killLine: KernelRecord = {
  facility: 0,
  level: 3,
  seq: 7,
  timestampMicros: 1_000_000,
  continuation: false,
  text: "Out of memory: Killed process 4242 (hog) total-vm:1kB",
};

const wake: Wake = {
  nowMs: 1000,
  revents: () => 0,
  sampleDue: false,
  memoryWanted: false,
};

Deno.test("a kill that lands while the kernel log is drained is observed from the tracepoint, before the log's line", () => {
  const reads: string[] = [];
  // The kernel as the wake meets it: the rings are empty until the log is
  // read; by then mark_victim has fired and the kill line is stored.
  let marked = false;
  const tracepoint = new ScriptedSource(
    "tracepoint",
    reads,
    () =>
      marked
        ? [{ kind: "victim", victim: { pid: 4242, kernelMicros: 999_000 } }]
        : [],
  );
  const kernelLog = new ScriptedSource("kernel log", reads, () => {
    marked = true;
    return [{ kind: "kernel-records", records: [killLine] }];
  });
  const counter = new ScriptedSource(
    "counter",
    reads,
    () => [{ kind: "oom-kill-counter", value: 1 }],
  );
  const observed = wakeReads([tracepoint, kernelLog, counter], kernelLog, wake)
    .flatMap((read) => read()).map((seen) => seen.kind);
  assert.deepEqual(observed, ["victim", "kernel-records", "oom-kill-counter"]);
  assert.deepEqual(reads, ["kernel log", "tracepoint", "counter"]);
});

Deno.test("a wake's reads are one call each: a signal is acted on before the later sources are read, and a failing read keeps the log's records", () => {
  const reads: string[] = [];
  const none = (): Observation[] => [];
  const tracepoint = new ScriptedSource("tracepoint", reads, () => {
    throw new Error("a bug in the tracepoint's read");
  });
  const kernelLog = new ScriptedSource("kernel log", reads, () => [
    { kind: "kernel-records", records: [killLine] },
  ]);
  const memory = new ScriptedSource("memory", reads, none);
  const calls = wakeReads([tracepoint, kernelLog, memory], kernelLog, wake);
  assert.deepEqual(reads, ["kernel log"]);
  assert.throws(() => calls[0]?.(), /a bug in the tracepoint's read/);
  assert.deepEqual(reads, ["kernel log", "tracepoint"]);
  assert.deepEqual(calls[1]?.().map((seen) => seen.kind), ["kernel-records"]);
  assert.deepEqual(calls[2]?.(), []);
  assert.deepEqual(reads, ["kernel log", "tracepoint", "memory"]);
});
