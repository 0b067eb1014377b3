/**
 * Fuzz targets for what perf and tracefs hand the daemon: the event's
 * `format` file and the bytes of a perf ring (records the kernel wrote, or
 * garbage where the control page lied).
 *
 * @module
 */

import { KallsymsScanner } from "../../src/core/kernel_symbols.ts";
import {
  parseEventFormat,
  parseRingRecords,
  type SampleLayout,
} from "../../src/core/tracepoint.ts";
import { lostRecord, ring, sampleRecord } from "../helpers/perf_ring.ts";
import {
  check,
  decodeLossy,
  expectOnly,
  type FuzzCase,
  type FuzzTarget,
  mutateLines,
  mutateText,
  randomBytes,
  randomString,
  type Rng,
  UNSAFE,
} from "./_harness.ts";

const nothing = (_error: unknown): _error is never => false;

const fixture = (name: string): string =>
  Deno.readTextFileSync(
    new URL(`../fixtures/tracepoint/${name}`, import.meta.url),
  );
const FORMATS = ["6.18", "6.1"].map((kernel) => ({
  id: fixture(`mark_victim-${kernel}.id`),
  format: fixture(`mark_victim-${kernel}.format`),
}));

function formatText(rng: Rng, text: string): string {
  const roll = rng.float();
  if (roll < 0.3) return text;
  if (roll < 0.6) return mutateLines(rng, text.split("\n")).join("\n");
  if (roll < 0.9) return mutateText(rng, text);
  return randomString(rng, 800);
}

const eventFormat: FuzzTarget = {
  name: "event-format",
  claim:
    "parseEventFormat() never throws, and a format it accepts has a 4-byte pid and offsets a format file can hold",
  weight: 0.5,
  generate(rng: Rng): FuzzCase {
    const sample = rng.pick(FORMATS);
    const id = rng.chance(0.8) ? sample.id : randomString(rng, 12);
    const text = formatText(rng, sample.format);
    return {
      input: { id, text },
      run(): void {
        const outcome = expectOnly(
          "parseEventFormat",
          () => parseEventFormat(id, text),
          nothing,
        );
        if (!outcome.ok || outcome.value === null) return;
        const format = outcome.value;
        check(Number.isSafeInteger(format.id), `id ${format.id}`);
        check(format.fields.get("pid")?.size === 4, "pid is not 4 bytes");
        for (const [name, field] of format.fields) {
          check(
            field.offset >= 0 && field.offset < 100_000 &&
              field.size >= 0 && field.size < 100_000,
            `${name} at ${field.offset}, size ${field.size}`,
          );
        }
      },
    };
  },
};

const FORMAT_618 = parseEventFormat(FORMATS[0].id, FORMATS[0].format);
const FORMAT_61 = parseEventFormat(FORMATS[1].id, FORMATS[1].format);

function someRing(rng: Rng, layout: SampleLayout): Uint8Array {
  const { format, callchain } = layout;
  const records = Array.from(
    { length: rng.int(0, 6) },
    () =>
      rng.chance(0.8)
        ? sampleRecord(
          format,
          rng.int(-5, 2 ** 31 - 1),
          randomBytes(rng, 0, 40),
          BigInt(rng.int(0, 2 ** 48)),
          callchain
            ? Array.from(
              { length: rng.int(0, 40) },
              () => BigInt(rng.int(0, 2 ** 52)) * 4096n,
            )
            : undefined,
        )
        : lostRecord(BigInt(rng.int(0, 2 ** 40)) * BigInt(rng.int(1, 2 ** 20))),
  );
  const bytes = ring(records);
  const roll = rng.float();
  if (roll < 0.4) return bytes;
  if (roll < 0.7) {
    // Flip bytes: sizes, types, data_loc words that lie.
    for (let i = rng.int(1, 8); i > 0 && bytes.length > 0; i--) {
      bytes[rng.int(0, bytes.length - 1)] = rng.int(0, 255);
    }
    return bytes;
  }
  if (roll < 0.85) return bytes.subarray(0, rng.int(0, bytes.length));
  return randomBytes(rng, 0, 600);
}

const perfRing: FuzzTarget = {
  name: "perf-ring",
  claim:
    "parseRingRecords() never throws on any ring bytes, and gives victims with pids, escaped names of one comm at most, and lost counts that are whole",
  generate(rng: Rng): FuzzCase {
    const format = rng.chance(0.7) ? FORMAT_618 : FORMAT_61;
    if (format === null) throw new Error("the fixtures' formats do not parse");
    const layout = { format, callchain: rng.chance(0.5) };
    const bytes = someRing(rng, layout);
    return {
      input: {
        format: format === FORMAT_618 ? "6.18" : "6.1",
        callchain: layout.callchain,
        ring: decodeLossy(bytes),
      },
      run(): void {
        const outcome = expectOnly(
          "parseRingRecords",
          () => parseRingRecords(bytes, layout),
          nothing,
        );
        if (!outcome.ok) return;
        check(
          outcome.value.length <= bytes.length / 8,
          "more records than bytes allow",
        );
        for (const record of outcome.value) {
          if (record.kind === "lost") {
            check(
              Number.isSafeInteger(record.count) && record.count >= 0,
              `lost ${record.count}`,
            );
            continue;
          }
          check(Number.isInteger(record.pid), `pid ${record.pid}`);
          check(record.timeNanos >= 0n, `time ${record.timeNanos}`);
          check(
            (record.callchain?.length ?? 0) <= bytes.length / 8,
            "a callchain longer than the ring",
          );
          if (record.name !== undefined) {
            // 16 bytes at most, each shown as itself or as \xNN.
            check(record.name.length <= 64, `name of ${record.name.length}`);
            check(
              !UNSAFE.test(record.name),
              `a control character in ${JSON.stringify(record.name)}`,
            );
          }
        }
      },
    };
  },
};

const KALLSYMS = fixture("kallsyms-6.18.txt");

const kallsyms: FuzzTarget = {
  name: "kallsyms",
  claim:
    "KallsymsScanner never throws, however the text is cut, and gives ranges that are one function wide",
  weight: 0.5,
  generate(rng: Rng): FuzzCase {
    const text = formatText(rng, KALLSYMS);
    const bytes = new TextEncoder().encode(text);
    const cuts = Array.from(
      { length: rng.int(0, 5) },
      () => rng.int(0, bytes.length),
    ).sort((a, b) => a - b);
    return {
      input: { text, cuts },
      run(): void {
        const outcome = expectOnly("KallsymsScanner", () => {
          const scanner = new KallsymsScanner();
          let at = 0;
          for (const cut of [...cuts, bytes.length]) {
            scanner.feed(bytes.subarray(at, cut));
            at = cut;
          }
          return scanner.result();
        }, nothing);
        if (!outcome.ok || "missing" in outcome.value) return;
        for (
          const [start, end] of [
            ...outcome.value.memcg,
            ...outcome.value.global,
          ]
        ) {
          check(start < end && end - start <= 65536n, `range ${start}-${end}`);
        }
      },
    };
  },
};

export const TRACEPOINT_TARGETS: readonly FuzzTarget[] = [
  kallsyms,
  eventFormat,
  perfRing,
];
