import assert from "node:assert/strict";
import {
  formatWindow,
  panicSuppression,
  parseMaxPanics,
  printMaxPanics,
} from "../../src/core/panic_guard.ts";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-12-01T12:00:00Z");

Deno.test("parseMaxPanics() reads N/WINDOW with units, 0 for none, and round-trips", () => {
  assert.deepEqual(parseMaxPanics("3/1h"), { count: 3, windowSeconds: 3600 });
  assert.deepEqual(parseMaxPanics(" 5/30m "), {
    count: 5,
    windowSeconds: 1800,
  });
  assert.deepEqual(parseMaxPanics("2/7200"), { count: 2, windowSeconds: 7200 });
  assert.deepEqual(parseMaxPanics("1/2d"), { count: 1, windowSeconds: 172800 });
  assert.equal(parseMaxPanics("0"), null);
  for (
    const bad of [
      "",
      "3",
      "3/",
      "/1h",
      "0/1h",
      "3/0",
      "3/1w",
      "3/31d",
      "-1/1h",
      "3/1.5h",
    ]
  ) {
    assert.equal(parseMaxPanics(bad), undefined, bad);
  }
  for (const text of ["3/1h", "5/30m", "2/2h", "7/61s", "0", "1/2d"]) {
    assert.equal(printMaxPanics(parseMaxPanics(text) ?? null), text);
  }
  assert.equal(formatWindow(90), "90s");
});

Deno.test("the panic is suppressed at N panics of earlier boots within the window, not before, not by older ones", () => {
  const limit = { count: 3, windowSeconds: 3600 };
  const two = [NOW - 0.5 * HOUR, NOW - 0.2 * HOUR];
  assert.equal(panicSuppression(limit, two, NOW), null);
  const three = [...two, NOW - 0.9 * HOUR];
  const reason = panicSuppression(limit, three, NOW);
  assert.match(
    reason ?? "",
    /^3 panics by oomwatch within 1h \(2026-12-01T11:06:00.000Z, /,
  );
  assert.match(reason ?? "", /--max-panics 3\/1h/);
  assert.match(reason ?? "", /oomwatch ack/);
  // One outside the window, one from the future (a clock set back): not counted.
  assert.equal(panicSuppression(limit, [...two, NOW - 1.1 * HOUR], NOW), null);
  assert.equal(panicSuppression(limit, [...two, NOW + HOUR], NOW), null);
  assert.equal(panicSuppression(null, three, NOW), null);
});
