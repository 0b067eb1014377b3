import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/core/config.ts";
import { Detector } from "../../src/core/detector.ts";
import {
  THRASH_AVAILABLE_SHARE,
  THRASH_MAJOR_FAULTS_PER_SECOND,
  ThrashMeter,
  thrashSignal,
} from "../../src/core/thrash.ts";

const MIB = 1024 ** 2;
/** The VM guest of the thrash scenarios: 512 MiB, as /proc/meminfo says. */
const TOTAL = 472 * MIB;

/**
 * Ten seconds of one-second readings as the VM suite measured them (the
 * figures per load: medians of tables from tests/e2e/thrash/table.ts).
 */
function tenSeconds(
  ioFullPercent: number,
  faultsPerSecond: number,
  availablePercent: number,
): ReturnType<ThrashMeter["add"]> {
  const meter = new ThrashMeter(10);
  let figures = null;
  for (let s = 0; s <= 10; s++) {
    figures = meter.add(s * 1000, {
      ioFullTotalMicros: s * ioFullPercent * 10_000,
      majorFaults: s * faultsPerSecond,
      memAvailable: TOTAL * availablePercent / 100,
      memTotal: TOTAL,
    });
  }
  return figures;
}

Deno.test("the meter measures the io share, the fault rate and MemAvailable over the window", () => {
  const figures = tenSeconds(93, 27, 1.6);
  assert.ok(figures);
  assert.equal(figures.ioFullShare.toFixed(1), "93.0");
  assert.equal(figures.majorFaultsPerSecond, 27);
  assert.equal(figures.availablePercent.toFixed(1), "1.6");
  assert.equal(
    new ThrashMeter(10).add(0, {
      ioFullTotalMicros: 0,
      majorFaults: 0,
      memAvailable: 1,
      memTotal: 2,
    }),
    null,
    "one reading measures nothing",
  );
});

Deno.test("the hang measured in the VM is a thrash signal; every healthy load measured beside it is not", () => {
  const hang = thrashSignal(tenSeconds(93, 27, 1.6), 70, 10);
  assert.deepEqual(hang, {
    kind: "memory-thrash",
    detail:
      "I/O full stall 93% of the last 10 s with 27 major faults/s and MemAvailable at 1.6%",
  });
  // The weakest second of the hang that the rule must still see.
  assert.ok(thrashSignal(tenSeconds(71, 21, 1.8), 70, 10));
  const healthy: [string, number, number, number][] = [
    ["a large file copy", 93, 0.1, 84.3],
    ["a file read with 16 MB left", 86, 0.1, 2.6],
    ["a thrash inside a memory cgroup", 89, 26, 73.8],
    ["a compile-like load", 10, 1, 84.5],
    ["idle", 1, 0, 84.6],
  ];
  for (const [load, io, faults, available] of healthy) {
    assert.equal(
      thrashSignal(tenSeconds(io, faults, available), 70, 10),
      null,
      load,
    );
  }
});

Deno.test("each condition is needed, at its documented bound; 0 turns the signal off", () => {
  const justUnder = THRASH_AVAILABLE_SHARE * 100 - 0.1;
  assert.ok(
    thrashSignal(
      tenSeconds(70, THRASH_MAJOR_FAULTS_PER_SECOND, justUnder),
      70,
      10,
    ),
  );
  assert.equal(thrashSignal(tenSeconds(69, 27, 1.6), 70, 10), null);
  assert.equal(
    thrashSignal(
      tenSeconds(93, THRASH_MAJOR_FAULTS_PER_SECOND - 1, 1.6),
      70,
      10,
    ),
    null,
  );
  assert.equal(
    thrashSignal(tenSeconds(93, 27, THRASH_AVAILABLE_SHARE * 100), 70, 10),
    null,
  );
  assert.equal(thrashSignal(tenSeconds(93, 27, 1.6), 0, 10), null);
  assert.equal(thrashSignal(null, 70, 10), null);
});

Deno.test("the detector judges a thrash reading with the memory of the same wake, and counts it", () => {
  const detector = new Detector(DEFAULT_CONFIG, 0);
  // Without memory figures there is nothing to judge.
  assert.deepEqual(
    detector.observe(
      { kind: "thrash", ioFullTotalMicros: 0, majorFaults: 0 },
      0,
      true,
    )
      .signals,
    [],
  );
  const signals = [];
  for (let s = 0; s <= 10; s++) {
    detector.observe(
      {
        kind: "memory",
        info: { memTotal: TOTAL, memAvailable: TOTAL * 0.016 },
      },
      s * 1000,
      true,
    );
    signals.push(
      ...detector.observe(
        {
          kind: "thrash",
          ioFullTotalMicros: s * 930_000,
          majorFaults: s * 27,
        },
        s * 1000,
        true,
      ).signals,
    );
  }
  assert.ok(signals.length > 0);
  assert.ok(signals.every((signal) => signal.kind === "memory-thrash"));
  assert.equal(detector.counters.thrashes, signals.length);
  assert.equal(detector.lastThrash?.majorFaultsPerSecond, 27);
  detector.configure({ ...DEFAULT_CONFIG, thrashIoFull: 0 });
  detector.observe(
    {
      kind: "memory",
      info: { memTotal: TOTAL, memAvailable: TOTAL * 0.016 },
    },
    11_000,
    true,
  );
  assert.deepEqual(
    detector.observe(
      { kind: "thrash", ioFullTotalMicros: 11 * 930_000, majorFaults: 11 * 27 },
      11_000,
      true,
    ).signals,
    [],
  );
});
