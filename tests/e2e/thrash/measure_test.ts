import assert from "node:assert/strict";
import {
  firing,
  gapStats,
  kernelRecords,
  parseRun,
  period,
  signals,
} from "./measure.ts";

// Lines as a thrash guest's serial log holds them (CRLF from the UART).
const LOG = [
  "[    2.771526] E2E: scenario thrash-measure on the ext4 root, boot x, MemTotal:         480016 kB",
  "[   10.000000] beat a 1 7",
  "[   10.100000] beat b 1 3",
  "[   11.000000] mon: up=10.98 mem=0.00/0/0.00/0 io=1.00/100000/1.00/90000 refault=0 restore=0 majflt=27 oom_kill=0 avail=451748 cpu=195/107/177",
  "[   12.000000] mon: up=11.98 mem=0.00/0/0.00/0 io=1.00/600000/1.00/590000 refault=10 restore=1 majflt=40 oom_kill=0 avail=449300 cpu=203/192/272",
  "[   20.000000] E2E: pin start, MemAvailable 399620 kB",
  "[   30.000000] E2E: pinned 385 MiB, MemAvailable 7396 kB",
  "[   31.000000] beat a 2 1",
  "[   32.000000] probe: late=3 msome=0.0 mfull=0.0 isome=1.0 ifull=1.0 refault=0.0 restore=0.0 majflt=1.0 avail=7000 span=1.0 selfmaj=400 raw=5000,0,0,0,0,0,0,0,0",
  "[   33.000000] probe: late=2 msome=0.0 mfull=0.0 isome=1.0 ifull=1.0 refault=0.0 restore=0.0 majflt=1.0 avail=7000 span=1.0 selfmaj=401 raw=6000,200000,100000,900000,800000,500,50,20,0",
  "[   45.000000] beat a 3 1",
  "[   50.000000] E2E: hold of 20 s over, 385 MiB pinned: power off",
  "[   50.010000] reboot: Power down",
].join("\r\n");

Deno.test("a thrash run: the scenario, the pin, the beats, the period", () => {
  const run = parseRun(LOG);
  assert.equal(run.scenario, "thrash-measure");
  assert.equal(run.memTotalKb, 480016);
  assert.equal(run.pinnedAt, 30);
  assert.equal(run.pinStartedAt, 20);
  assert.equal(run.pinnedMiB, 385);
  assert.deepEqual(run.beats.get("a"), [10, 31, 45]);
  assert.deepEqual(period(run), [30, 50]);
  assert.equal(run.monitor.length, 2);
  assert.equal(run.monitor[1].ioFull, 590000);
  assert.equal(run.monitor[1].cpuIdle, 272);
});

Deno.test("gaps: the beat before the period opens it, its end closes it", () => {
  // beats at 10 (before), 31, 45; period 30-50: gaps 10→31, 31→45, 45→50
  const g = gapStats([10, 31, 45], 30, 50);
  assert.equal(g.beats, 2);
  assert.equal(g.maxGap, 21);
  // 30-31 of the first gap, all 14 s of the second, all 5 s of the last
  assert.equal(g.inLongGaps, 1 + 14 + 5);
});

Deno.test("the probe's readings are put on the kernel's clock by their smallest offset", () => {
  const run = parseRun(LOG);
  // raw times 5.000 and 6.000 s, stamps 32 and 33: offset 27
  assert.deepEqual(run.probe.map((s) => s.at), [32, 33]);
  const [s] = signals(run.probe, run.memTotalKb);
  assert.equal(s.memSome, 20); // 200 ms of 1 s
  assert.equal(s.memFull, 10);
  assert.equal(s.ioSome, 90);
  assert.equal(s.ioFull, 80);
  assert.equal(s.refault, 500);
  assert.equal(s.lateMs, 2);
  assert.equal(s.availablePct.toFixed(2), "1.46");
});

Deno.test("windows start at the oldest reading inside them", () => {
  const at = (t: number, ioFull: number) => ({
    at: t,
    memSome: 0,
    memFull: 0,
    ioSome: ioFull,
    ioFull,
    refault: 0,
    restore: 0,
    majflt: 0,
    oomKill: 0,
    available: 1000,
  });
  // 1 s of io full stall per second from t=0 to 20 (total in µs)
  const samples = Array.from({ length: 21 }, (_, t) => at(t, t * 1e6));
  const series = signals(samples, 10_000, 10);
  assert.equal(series.at(-1)!.span, 10);
  assert.equal(series.at(-1)!.ioFull, 100);
  // a reading 15 s after the one before: measured from that one
  const late = signals([at(0, 0), at(15, 3e6)], 10_000, 10);
  assert.equal(late[0].span, 15);
  assert.equal(late[0].ioFull, 20);
});

Deno.test("firing: first time, and the panic a daemon with a gracetime would run", () => {
  const series = [0, 1, 2, 3, 20, 29, 40].map((at) => ({
    at,
    memSome: at === 20 ? 0 : 50,
    memFull: 0,
    ioSome: 0,
    ioFull: 0,
    refault: 0,
    restore: 0,
    majflt: 0,
    availablePct: 50,
    lateMs: 0,
    span: 1,
  }));
  const f = firing(
    series,
    {
      name: "some",
      fires: (s) => s.memSome >= 10,
    },
    0,
    40,
    30,
  );
  assert.equal(f.first, 0);
  assert.equal(f.fired, 6);
  // the first firing at or after 27 s is at 29: the panic at 30
  assert.equal(f.panic, 30);
  assert.deepEqual(kernelRecords("no stamps here\n"), []);
});
