import assert from "node:assert/strict";
import { isoTimestamp } from "../../src/core/time.ts";

Deno.test("isoTimestamp() prints what Date.toISOString() prints", () => {
  const samples = [
    0,
    1,
    951_782_400_000, // 2000-02-29
    1_709_164_800_000, // 2024-02-29
    1_798_761_599_999, // 2026-12-31T23:59:59.999Z
    4_102_444_800_000, // 2100-01-01 (not a leap year)
    253_402_300_799_999, // 9999-12-31T23:59:59.999Z
  ];
  for (let i = 0; i < 2000; i++) {
    samples.push(Math.floor(Math.random() * 253_402_300_799_999));
  }
  for (const ms of samples) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
  }
});
