import assert from "node:assert/strict";
import {
  parseCpuList,
  parseEventFormat,
  parseRingRecords,
  PERF_ATTR_SIZE,
  tracepointAttr,
} from "../../src/core/tracepoint.ts";
import { lostRecord, ring, sampleRecord } from "../helpers/perf_ring.ts";

const fixture = (name: string): string =>
  Deno.readTextFileSync(
    new URL(`../fixtures/tracepoint/${name}`, import.meta.url),
  );
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const format618 = parseEventFormat(
  fixture("mark_victim-6.18.id"),
  fixture("mark_victim-6.18.format"),
)!;
const layout618 = { format: format618, callchain: false };
const format61 = parseEventFormat(
  fixture("mark_victim-6.1.id"),
  fixture("mark_victim-6.1.format"),
)!;

Deno.test("parseEventFormat() reads the id and the offsets of 6.18's mark_victim, comm a __data_loc", () => {
  assert.equal(format618.id, 609);
  assert.deepEqual(format618.fields.get("pid"), {
    offset: 8,
    size: 4,
    dataLoc: false,
  });
  assert.deepEqual(format618.fields.get("comm"), {
    offset: 12,
    size: 4,
    dataLoc: true,
  });
  assert.deepEqual(format618.fields.get("oom_score_adj"), {
    offset: 64,
    size: 2,
    dataLoc: false,
  });
});

Deno.test("parseEventFormat() reads 6.1's mark_victim (pid only) and refuses a format without a 4-byte pid", () => {
  assert.equal(format61.id, 476);
  assert.equal(format61.fields.get("comm"), undefined);
  assert.equal(format61.fields.get("pid")?.offset, 8);
  assert.equal(
    parseEventFormat(
      "1",
      "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;",
    ),
    null,
  );
  assert.equal(
    parseEventFormat("1", "\tfield:short pid;\toffset:8;\tsize:2;\tsigned:1;"),
    null,
  );
  assert.equal(parseEventFormat("x1", fixture("mark_victim-6.1.format")), null);
  assert.equal(parseEventFormat("", fixture("mark_victim-6.1.format")), null);
});

Deno.test("parseCpuList() reads ranges and lists, and refuses anything else", () => {
  assert.deepEqual(parseCpuList("0-1\n"), [0, 1]);
  assert.deepEqual(parseCpuList("0,2-4,7"), [0, 2, 3, 4, 7]);
  assert.deepEqual(parseCpuList("3"), [3]);
  for (const bad of ["", "1-0", "a", "0-", "0,,1", "-1"]) {
    assert.equal(parseCpuList(bad), null, bad);
  }
});

Deno.test("tracepointAttr() asks for every hit with TIME|RAW on CLOCK_MONOTONIC, waking at each record", () => {
  const attr = tracepointAttr(609);
  const view = new DataView(attr.buffer);
  assert.equal(attr.length, PERF_ATTR_SIZE);
  assert.equal(view.getUint32(0, true), 2); // PERF_TYPE_TRACEPOINT
  assert.equal(view.getUint32(4, true), PERF_ATTR_SIZE);
  assert.equal(view.getBigUint64(8, true), 609n);
  assert.equal(view.getBigUint64(16, true), 1n);
  assert.equal(view.getBigUint64(24, true), (1n << 2n) | (1n << 10n));
  assert.equal(view.getBigUint64(40, true), 1n << 25n); // use_clockid, enabled
  assert.equal(view.getUint32(48, true), 1);
  assert.equal(view.getInt32(92, true), 1); // CLOCK_MONOTONIC
});

Deno.test("parseRingRecords() reads victims (name escaped, NUL-cut) and lost counts, in order", () => {
  const bytes = ring([
    sampleRecord(format618, 4242, text("python3"), 5_000_000n),
    lostRecord(58n),
    sampleRecord(format618, 7, text("ev\nil\x1b[31m"), 6_000_000n),
  ]);
  assert.deepEqual(parseRingRecords(bytes, layout618), [
    { kind: "victim", pid: 4242, name: "python3", timeNanos: 5_000_000n },
    { kind: "lost", count: 58 },
    {
      kind: "victim",
      pid: 7,
      name: "ev\\x0ail\\x1b[31m",
      timeNanos: 6_000_000n,
    },
  ]);
});

Deno.test("parseRingRecords() on 6.1's format gives the pid without a name", () => {
  const bytes = ring([sampleRecord(format61, 99, text(""), 1n)]);
  assert.deepEqual(
    parseRingRecords(bytes, { format: format61, callchain: false }),
    [
      { kind: "victim", pid: 99, timeNanos: 1n },
    ],
  );
});

Deno.test("parseRingRecords() stops at a record whose size cannot be right, and skips a cut one", () => {
  const good = sampleRecord(format618, 1, text("a"), 1n);
  const cut = ring([good, good.subarray(0, 16)]);
  assert.equal(parseRingRecords(cut, layout618).length, 1);
  const zeroSize = ring([good, new Uint8Array(8), good]);
  assert.equal(parseRingRecords(zeroSize, layout618).length, 1);
  // A comm location pointing past the record yields the pid alone.
  const wild = sampleRecord(format618, 5, text("x"), 1n);
  new DataView(wild.buffer).setUint32(20 + 12, (16 << 16) | 0xfff0, true);
  assert.deepEqual(parseRingRecords(wild, layout618), [
    { kind: "victim", pid: 5, timeNanos: 1n },
  ]);
  // A name longer than TASK_COMM_LEN is cut at 16 bytes.
  const long = sampleRecord(format618, 6, text("a".repeat(40)), 1n);
  const [victim] = parseRingRecords(long, layout618);
  assert.equal(victim.kind === "victim" && victim.name, "a".repeat(16));
  // A lost count beyond what a number holds is capped.
  assert.deepEqual(parseRingRecords(lostRecord(2n ** 63n), layout618), [
    { kind: "lost", count: Number.MAX_SAFE_INTEGER },
  ]);
});

Deno.test("parseRingRecords() reads a sample's kernel callchain before its raw fields", () => {
  const chain = [0xffffffffffffff80n, 0xffffffff8168bab5n, 0xffffffff81597d00n];
  const layout = { format: format618, callchain: true };
  const bytes = ring([
    sampleRecord(format618, 31, text("hog"), 9n, chain),
    lostRecord(2n),
  ]);
  assert.deepEqual(parseRingRecords(bytes, layout), [
    {
      kind: "victim",
      pid: 31,
      name: "hog",
      timeNanos: 9n,
      callchain: chain,
    },
    { kind: "lost", count: 2 },
  ]);
  // A frame count beyond the record ends that sample, not the parse.
  const lying = sampleRecord(format618, 31, text("hog"), 9n, chain);
  new DataView(lying.buffer).setBigUint64(16, 1n << 40n, true);
  assert.deepEqual(parseRingRecords(ring([lying, lostRecord(1n)]), layout), [
    { kind: "lost", count: 1 },
  ]);
});

Deno.test("tracepointAttr() with a callchain adds CALLCHAIN, excludes user frames and caps the frames", () => {
  const view = new DataView(tracepointAttr(609, true).buffer);
  assert.equal(
    view.getBigUint64(24, true),
    (1n << 2n) | (1n << 5n) | (1n << 10n),
  );
  assert.equal(view.getBigUint64(40, true), (1n << 25n) | (1n << 22n));
  assert.equal(view.getUint16(108, true), 32);
});
