import assert from "node:assert/strict";
import { parseVmstat } from "../../src/core/vmstat.ts";
import { MeminfoError, parseMeminfo } from "../../src/core/meminfo.ts";
import {
  parsePressure,
  StallMeter,
  triggerLine,
} from "../../src/core/pressure.ts";

const fixture = (name: string): string =>
  Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));

Deno.test("parseVmstat() reads oom_kill and the other counters from a real /proc/vmstat", () => {
  const vmstat = parseVmstat(fixture("vmstat.txt"));
  assert.equal(vmstat.oomKill, 1);
  assert.equal(vmstat.counters.size, 192);
  assert.equal(vmstat.counters.get("oom_kill"), 1);
});

Deno.test("parseVmstat() says null on kernels without oom_kill", () => {
  assert.equal(parseVmstat("nr_free_pages 1\npgfault 2\n").oomKill, null);
});

Deno.test("parseVmstat() ignores a truncated last line and look-alike names", () => {
  assert.equal(parseVmstat("oom_kill_extra 9\noom_kill 4\noom_ki").oomKill, 4);
  assert.equal(parseVmstat("pgfault 1\noom_kill 1").oomKill, 1);
  assert.equal(parseVmstat("oom_kill 7x\n").oomKill, null);
  assert.equal(parseVmstat("").oomKill, null);
});

Deno.test("parseMeminfo() reads MemTotal and MemAvailable in bytes", () => {
  assert.deepEqual(parseMeminfo(fixture("meminfo.txt")), {
    memTotal: 24684084 * 1024,
    memAvailable: 24405200 * 1024,
  });
});

Deno.test("parseMeminfo() fails clearly on a kernel without MemAvailable", () => {
  assert.throws(
    () => parseMeminfo("MemTotal:  1000 kB\nMemFree: 10 kB\n"),
    MeminfoError,
  );
  assert.throws(() => parseMeminfo("MemTotal:  10"), MeminfoError);
});

Deno.test("parseMeminfo() skips odd lines such as HugePages counts without unit", () => {
  const info = parseMeminfo(
    "MemTotal: 2048 kB\ngarbage line\nHugePages_Total:       0\nMemAvailable:    1024 kB\n",
  );
  assert.deepEqual(info, { memTotal: 2048 * 1024, memAvailable: 1024 * 1024 });
});

Deno.test("parsePressure() reads both lines of a real PSI file", () => {
  assert.deepEqual(parsePressure(fixture("pressure_memory.txt")), {
    some: { avg10: 0, avg60: 0, avg300: 0, totalMicros: 4816 },
    full: { avg10: 0, avg60: 0, avg300: 0, totalMicros: 4012 },
  });
});

Deno.test("parsePressure() parses averages and total", () => {
  const pressure = parsePressure(
    "some avg10=12.50 avg60=3.10 avg300=0.72 total=123456789\n" +
      "full avg10=9.01 avg60=2.00 avg300=0.50 total=98765432\n",
  );
  assert.deepEqual(pressure.full, {
    avg10: 9.01,
    avg60: 2,
    avg300: 0.5,
    totalMicros: 98765432,
  });
  assert.equal(pressure.some?.totalMicros, 123456789);
});

Deno.test("parsePressure() gives full=null where the kernel has no full line or the read was cut", () => {
  const old = parsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n");
  assert.equal(old.full, null);
  assert.equal(old.some?.totalMicros, 5);
  const cut = parsePressure(
    "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=0.00 avg6",
  );
  assert.equal(cut.full, null);
  assert.deepEqual(parsePressure(""), { some: null, full: null });
});

Deno.test("StallMeter computes the stalled share of its window from the total counter", () => {
  const meter = new StallMeter(10);
  assert.equal(meter.add(0, 0), null);
  // 600 ms of full stall per second for ten seconds: 60%.
  let share: number | null = null;
  for (let second = 1; second <= 10; second++) {
    share = meter.add(second * 1000, second * 600_000);
  }
  assert.ok(share !== null && Math.abs(share - 60) < 1e-9);
  // Then five calm seconds: the last 10 s hold 5 s of 60%.
  for (let second = 11; second <= 15; second++) {
    share = meter.add(second * 1000, 6_000_000);
  }
  assert.ok(share !== null && Math.abs(share - 30) < 1e-9, `share ${share}`);
});

Deno.test("StallMeter says nothing from readings further apart than its window", () => {
  const meter = new StallMeter(2);
  meter.add(0, 0);
  // 59 s of calm then a stall: averaging over a minute would hide it.
  assert.equal(meter.add(60_000, 0), null);
  assert.equal(meter.add(61_000, 500_000), 50);
});

Deno.test("StallMeter ignores stall time that accrued before it started", () => {
  const meter = new StallMeter(10);
  assert.equal(meter.add(5000, 7_800_000), null);
  assert.equal(meter.add(6000, 7_800_100), 0.01);
});

Deno.test("StallMeter starts over when the counter goes back", () => {
  const meter = new StallMeter(10);
  meter.add(0, 5_000_000);
  assert.equal(meter.add(1000, 1_000), null);
  assert.equal(meter.add(2000, 501_000), 50);
});

Deno.test("StallMeter never reports more than 100%", () => {
  const meter = new StallMeter(10);
  meter.add(0, 0);
  assert.equal(meter.add(1000, 3_000_000), 100);
});

Deno.test("triggerLine() expresses percent of a window in microseconds, NUL-terminated", () => {
  assert.equal(triggerLine(60, 10), "full 6000000 10000000\0");
  assert.equal(triggerLine(5, 2), "full 100000 2000000\0");
  assert.equal(triggerLine(0, 10), null, "0 = off");
  assert.equal(triggerLine(50, 12), null, "beyond the kernel's 10 s");
});
