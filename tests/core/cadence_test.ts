import assert from "node:assert/strict";
import {
  type CadenceState,
  readCadence,
  TIGHT_INTERVAL_MS,
  waitsOnOwnThread,
} from "../../src/core/cadence.ts";

const GIB = 1024 ** 3;
/** An idle daemon with every source working. */
const idle: CadenceState = {
  nowMs: 100_000,
  heartbeatSeconds: 5,
  inEpisode: false,
  idle: true,
  triggerArmed: true,
  stallSignalOn: true,
  thrashSignalOn: false,
  kernelLogReadable: true,
  tightUntilMs: 0,
  memory: { memTotal: 8 * GIB, memAvailable: 6 * GIB },
  lastShare: 0,
  killPending: false,
};

Deno.test("an idle daemon with the kernel log and a PSI trigger reads every heartbeat, the counter only", () => {
  assert.deepEqual(readCadence(idle), { intervalMs: 5_000, readMemory: false });
});

Deno.test("an episode, a fired trigger and a kill the log has not explained read every second", () => {
  for (
    const change of [
      { inEpisode: true, idle: false },
      { tightUntilMs: 105_000 },
      { killPending: true },
    ]
  ) {
    const cadence = readCadence({ ...idle, ...change });
    assert.equal(cadence.intervalMs, TIGHT_INTERVAL_MS, JSON.stringify(change));
  }
  assert.equal(
    readCadence({ ...idle, tightUntilMs: 100_000 }).intervalMs,
    5_000,
    "the window has passed",
  );
});

Deno.test("without a trigger, short memory or a stall being measured reads every second; plenty at the heartbeat", () => {
  const noTrigger = { ...idle, triggerArmed: false };
  assert.deepEqual(readCadence(noTrigger), {
    intervalMs: 5_000,
    readMemory: true,
  });
  assert.equal(
    readCadence({
      ...noTrigger,
      memory: { memTotal: 8 * GIB, memAvailable: 0.5 * GIB },
    }).intervalMs,
    TIGHT_INTERVAL_MS,
  );
  assert.equal(
    readCadence({ ...noTrigger, lastShare: 3 }).intervalMs,
    TIGHT_INTERVAL_MS,
  );
  assert.equal(
    readCadence({ ...noTrigger, lastShare: 3, stallSignalOn: false })
      .intervalMs,
    5_000,
    "no stall signal, nothing to measure",
  );
});

Deno.test("memory and pressure are read on every heartbeat unless the kernel tells of kills and stalls itself", () => {
  assert.equal(
    readCadence({ ...idle, kernelLogReadable: false }).readMemory,
    true,
  );
  assert.equal(readCadence({ ...idle, triggerArmed: false }).readMemory, true);
  assert.equal(
    readCadence({ ...idle, idle: false }).readMemory,
    true,
    "recovering: the re-arm needs memory",
  );
  assert.equal(
    readCadence({ ...idle, tightUntilMs: 105_000 }).readMemory,
    true,
  );
});

Deno.test("with the thrash signal on, memory is read every heartbeat, and every second while it is short", () => {
  const on = { ...idle, thrashSignalOn: true };
  assert.deepEqual(readCadence(on), { intervalMs: 5_000, readMemory: true });
  const short = { ...on, memory: { memTotal: 8 * GIB, memAvailable: GIB / 2 } };
  assert.deepEqual(readCadence(short), {
    intervalMs: TIGHT_INTERVAL_MS,
    readMemory: true,
  });
  // Off, the same short memory with a trigger armed stays on the heartbeat.
  assert.deepEqual(readCadence({ ...short, thrashSignalOn: false }), {
    intervalMs: 5_000,
    readMemory: false,
  });
});

Deno.test("the daemon waits on its own thread only where the tracepoint wakes it and no --exec-on-oom command runs", () => {
  assert.equal(
    waitsOnOwnThread({ tracepointWakes: true, hooksRunning: 0 }),
    true,
  );
  assert.equal(
    waitsOnOwnThread({ tracepointWakes: true, hooksRunning: 1 }),
    false,
    "a command's timeout and end need the event loop",
  );
  assert.equal(
    waitsOnOwnThread({ tracepointWakes: false, hooksRunning: 0 }),
    false,
    "the kernel log's wake is tick-bound: the hand-over costs nothing there",
  );
});
