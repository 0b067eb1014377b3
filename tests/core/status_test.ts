import assert from "node:assert/strict";
import { episodeStatus } from "../../src/core/status.ts";
import type { Episode } from "../../src/core/episode.ts";

const episode: Episode = {
  number: 2,
  startedAtMs: 50_000,
  lastSignalAtMs: 52_500,
  trigger: { kind: "global-oom", detail: "python3 (pid 1767)" },
  signals: 3,
  panicked: false,
  panicFailures: 0,
  panicError: null,
  panicDueAtMs: null,
  panicSuppressed: null,
};
const wallClock = (ms: number) => `t+${ms}`;

Deno.test("an episode's status counts down from gracetime on the watchdog's clock", () => {
  assert.deepEqual(episodeStatus(episode, 10, 53_000, wallClock), {
    number: 2,
    startedAt: "t+50000",
    trigger: "global-oom",
    detail: "python3 (pid 1767)",
    lastSignalAt: "t+52500",
    signals: 3,
    countdownSeconds: 7,
    panicked: false,
    panicFailures: 0,
    panicError: null,
    panicSuppressed: null,
  });
  assert.equal(
    episodeStatus(episode, 10, 61_000, wallClock).countdownSeconds,
    0,
    "an overdue countdown shows 0, never a negative time",
  );
});

Deno.test("no countdown without a gracetime or after the panic action ran", () => {
  assert.equal(
    episodeStatus(episode, 0, 53_000, wallClock).countdownSeconds,
    null,
  );
  assert.equal(
    episodeStatus({ ...episode, panicked: true }, 10, 61_000, wallClock)
      .countdownSeconds,
    null,
  );
});
