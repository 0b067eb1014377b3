import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/core/config.ts";
import {
  type Action,
  PANIC_RETRY_MS,
  PANIC_TAKEDOWN_MS,
  REARM_RETRY_MS,
  SIGNAL_HOLD_MS,
  type WatchdogConfig,
} from "../../src/core/episode.ts";
import { Watchdog } from "../../src/core/watchdog.ts";
import { rearmRoom } from "../../src/core/reserve_room.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const plenty = { memTotal: 8 * GIB, memAvailable: 6 * GIB };
const kill = {
  kind: "global-oom" as const,
  detail: "kill of hog (pid 9)",
  victim: "hog (pid 9)",
};

function watchdog(overrides: Partial<WatchdogConfig> = {}): Watchdog {
  return new Watchdog({ ...DEFAULT_CONFIG, ...overrides }, 32 * MIB);
}

/** The kinds of the actions, logs left out, in order. */
function kinds(actions: Action[]): string[] {
  return actions.filter((action) => action.kind !== "log").map((a) => a.kind);
}

Deno.test("the first signal releases the reserve, then writes the flag, then logs", () => {
  const dog = watchdog();
  const actions = dog.signal(kill, 1000);
  assert.deepEqual(actions.map((a) => a.kind), [
    "release-reserve",
    "write-crash-flag",
    "log",
  ]);
  assert.equal(dog.phase, "episode");
  assert.equal(dog.reserveBytes, 0);
  assert.equal(dog.episode?.startedAtMs, 1000);
  assert.equal(dog.counters.releases, 1);
});

Deno.test("with crashflag 0 no flag is written or removed", () => {
  const dog = watchdog({ crashflag: false, resettime: 1 });
  assert.deepEqual(kinds(dog.signal(kill, 0)), ["release-reserve"]);
  assert.deepEqual(kinds(dog.tick(1000, plenty)), ["create-reserve"]);
});

Deno.test("with bufsize 0 an episode runs without a reserve and nothing is re-armed", () => {
  const dog = new Watchdog(
    { ...DEFAULT_CONFIG, bufsize: 0, resettime: 1 },
    0,
  );
  assert.equal(dog.phase, "reserve-disabled");
  assert.deepEqual(kinds(dog.signal(kill, 0)), ["write-crash-flag"]);
  assert.deepEqual(kinds(dog.tick(1000, plenty)), ["remove-crash-flag"]);
  assert.equal(dog.phase, "reserve-disabled");
});

Deno.test("signals within an episode only restart the quiet period", () => {
  const dog = watchdog({ resettime: 10 });
  dog.signal(kill, 0);
  assert.deepEqual(kinds(dog.signal(kill, 5000)), []);
  assert.deepEqual(kinds(dog.tick(14_999, plenty)), []);
  assert.equal(dog.phase, "episode");
  assert.equal(dog.episode?.signals, 2);
  assert.equal(dog.nextDeadlineMs(), 15_000);
});

Deno.test("resettime quiet seconds end the episode: flag removed, reserve re-created", () => {
  const dog = watchdog({ resettime: 2 });
  dog.signal(kill, 0);
  assert.deepEqual(kinds(dog.tick(1999, plenty)), []);
  const actions = dog.tick(2000, plenty);
  assert.deepEqual(kinds(actions), ["remove-crash-flag", "create-reserve"]);
  assert.deepEqual(actions.find((a) => a.kind === "create-reserve"), {
    kind: "create-reserve",
    bytes: 32 * MIB,
  });
  assert.equal(dog.phase, "recovering");
  dog.reserveCreated(32 * MIB, 2000);
  assert.equal(dog.phase, "armed");
  assert.equal(dog.episode, null);
});

Deno.test("re-arm is refused while memory is short, and retried until there is room", () => {
  const dog = watchdog({ resettime: 1 });
  dog.signal(kill, 0);
  const tight = { memTotal: 1 * GIB, memAvailable: 80 * MIB };
  const first = dog.tick(1000, tight);
  assert.deepEqual(kinds(first), ["remove-crash-flag"]);
  assert.ok(
    first.some((a) => a.kind === "log" && a.message.includes("deferred")),
  );
  assert.equal(dog.phase, "recovering");
  assert.deepEqual(dog.tick(2000, tight), [], "said once, not every tick");
  assert.deepEqual(dog.tick(3000, null), [], "no re-arm without a reading");
  const room = rearmRoom(32 * MIB, GIB);
  assert.deepEqual(
    kinds(dog.tick(4000, { memTotal: GIB, memAvailable: 32 * MIB + room })),
    ["create-reserve"],
  );
});

Deno.test("a failed re-arm is retried after a pause", () => {
  const dog = watchdog({ resettime: 1 });
  dog.signal(kill, 0);
  assert.deepEqual(kinds(dog.tick(1000, plenty)), [
    "remove-crash-flag",
    "create-reserve",
  ]);
  dog.reserveCreated(0, 1000);
  assert.equal(dog.counters.rearmFailures, 1);
  assert.deepEqual(kinds(dog.tick(1000 + REARM_RETRY_MS - 1, plenty)), []);
  assert.equal(dog.nextDeadlineMs(), 1000 + REARM_RETRY_MS);
  assert.deepEqual(kinds(dog.tick(1000 + REARM_RETRY_MS, plenty)), [
    "create-reserve",
  ]);
});

Deno.test("a signal while recovering starts a new episode with nothing to release", () => {
  const dog = watchdog({ resettime: 1 });
  dog.signal(kill, 0);
  dog.tick(1000, { memTotal: GIB, memAvailable: 10 * MIB });
  assert.equal(dog.phase, "recovering");
  assert.deepEqual(kinds(dog.signal(kill, 1500)), ["write-crash-flag"]);
  assert.equal(dog.episode?.number, 2);
  assert.equal(dog.counters.episodes, 2);
});

Deno.test("gracetime is checked on a tick, without a new signal", () => {
  const dog = watchdog({ gracetime: 10, resettime: 300 });
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  dog.signal(kill, 9000); // last signal before the deadline, still present at it
  assert.equal(dog.nextDeadlineMs(), 10_000);
  assert.deepEqual(kinds(dog.tick(9999, plenty)), []);
  const actions = dog.tick(10_000, plenty);
  assert.deepEqual(kinds(actions), ["write-crash-flag", "panic"]);
  const panic = actions.find((a) => a.kind === "panic");
  assert.ok(panic?.kind === "panic");
  assert.equal(panic.action, "panic");
  assert.equal(panic.episode.number, 1);
  assert.equal(panic.episode.signals, 2);
  assert.deepEqual(
    kinds(dog.tick(11_000, plenty)),
    [],
    "the panic action runs once",
  );
});

Deno.test("a signal after gracetime runs the panic action at once", () => {
  const dog = watchdog({ gracetime: 5, panicAction: "reboot" });
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  const actions = dog.signal(kill, 7000);
  const panic = actions.find((a) => a.kind === "panic");
  assert.deepEqual(panic && panic.kind === "panic" && panic.action, "reboot");
});

Deno.test("an OOM state that lapsed before gracetime does not panic a recovered machine", () => {
  const dog = watchdog({ gracetime: 10, resettime: 300 });
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  dog.signal(kill, 10_000 - SIGNAL_HOLD_MS - 1);
  assert.equal(dog.nextDeadlineMs(), 10_000 - SIGNAL_HOLD_MS - 1 + 300_000);
  assert.deepEqual(kinds(dog.tick(10_000, plenty)), []);
  assert.deepEqual(kinds(dog.tick(60_000, plenty)), []);
  // ... but a new signal in the same episode, past gracetime, does.
  assert.deepEqual(kinds(dog.signal(kill, 61_000)), [
    "write-crash-flag",
    "panic",
  ]);
});

Deno.test("the panic waits for the crash flag: it is written again first if it did not reach the disk", () => {
  const dog = watchdog({ gracetime: 1 });
  assert.deepEqual(kinds(dog.signal(kill, 0)), [
    "release-reserve",
    "write-crash-flag",
  ]);
  dog.crashFlagWritten(false);
  assert.deepEqual(kinds(dog.signal(kill, 1500)), [
    "write-crash-flag",
    "panic",
  ]);
});

Deno.test("the panic action is never run with gracetime 0", () => {
  const dog = watchdog({ gracetime: 0 });
  dog.signal(kill, 0);
  for (let t = 1000; t < 100_000; t += 1000) {
    assert.deepEqual(kinds(dog.signal(kill, t)), []);
  }
  assert.equal(dog.nextDeadlineMs(), 99_000 + 300_000);
});

Deno.test("a new episode after one that panicked can panic again", () => {
  const dog = watchdog({ gracetime: 1, resettime: 1 });
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  assert.deepEqual(kinds(dog.signal(kill, 1000)), [
    "write-crash-flag",
    "panic",
  ]);
  dog.tick(2000, plenty);
  dog.reserveCreated(32 * MIB, 2000);
  dog.signal(kill, 3000);
  dog.crashFlagWritten(true);
  assert.deepEqual(kinds(dog.signal(kill, 4000)), [
    "write-crash-flag",
    "panic",
  ]);
});

Deno.test("nextDeadlineMs() is null when only a signal can change anything", () => {
  const dog = watchdog();
  assert.equal(dog.nextDeadlineMs(), null);
});

Deno.test("configure() with bufsize 0 cancels a pending re-arm", () => {
  const dog = watchdog({ resettime: 1 });
  dog.signal(kill, 0);
  dog.tick(1000, { memTotal: GIB, memAvailable: 10 * MIB });
  assert.equal(dog.phase, "recovering");
  dog.configure({ ...DEFAULT_CONFIG, bufsize: 0 }, 0);
  assert.equal(dog.phase, "reserve-disabled");
});

Deno.test("an episode's start runs the hook after the release, the flag and the log, once per episode", () => {
  const dog = watchdog({ execOnOom: "logger oom", resettime: 10 });
  const actions = dog.signal(kill, 0);
  assert.deepEqual(actions.map((a) => a.kind), [
    "release-reserve",
    "write-crash-flag",
    "log",
    "run-hook",
  ]);
  const hook = actions.at(-1);
  assert.equal(hook?.kind === "run-hook" && hook.episode.number, 1);
  assert.deepEqual(kinds(dog.signal(kill, 1000)), [], "not for a later signal");
  assert.ok(
    !kinds(watchdog().signal(kill, 0)).includes("run-hook"),
    "none without a hook",
  );
});

Deno.test("a failed panic action is retried every PANIC_RETRY_MS while the episode lasts, and its failure kept", () => {
  const dog = watchdog({ gracetime: 1, resettime: 300 });
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  assert.deepEqual(kinds(dog.signal(kill, 1000)), [
    "write-crash-flag",
    "panic",
  ]);
  // No second attempt while the first has not been reported.
  assert.deepEqual(kinds(dog.tick(5000, plenty)), []);
  dog.panicResult("no SysRq trigger", 5000);
  assert.equal(dog.episode?.panicFailures, 1);
  assert.equal(dog.episode?.panicError, "no SysRq trigger");
  assert.equal(dog.nextDeadlineMs(), 5000 + PANIC_RETRY_MS);
  assert.deepEqual(kinds(dog.tick(5000 + PANIC_RETRY_MS - 1, plenty)), []);
  // Retried even though no signal came since: the decision was made.
  const retry = dog.tick(5000 + PANIC_RETRY_MS, plenty);
  assert.deepEqual(kinds(retry), ["panic"]);
  assert.ok(
    retry.some((a) =>
      a.kind === "log" &&
      /attempt 2; the last failed: no SysRq trigger/.test(a.message)
    ),
  );
  dog.panicResult(null, 16_000);
  assert.equal(dog.episode?.panicked, true);
  assert.equal(dog.episode?.panicError, null);
  assert.deepEqual(kinds(dog.tick(60_000, plenty)), [], "done");
});

Deno.test("what the watchdog believes is what was locked: a partial re-arm, and a release of that size", () => {
  const dog = watchdog({ bufsize: 8, resettime: 1 });
  dog.signal(kill, 0);
  dog.tick(1000, plenty);
  dog.reserveCreated(6 * MIB, 1000);
  assert.equal(dog.reserveBytes, 6 * MIB);
  assert.equal(dog.phase, "armed");
  const start = dog.signal(kill, 2000);
  assert.ok(
    start.some((a) =>
      a.kind === "log" && /reserve of 6 MiB released/.test(a.message)
    ),
  );
});

const HOUR = 3_600_000;

Deno.test("before the panic action the flag is written again with the panic's moment (its post-mortem), once", () => {
  const dog = watchdog({ gracetime: 10 });
  const start = dog.signal(kill, 0);
  const first = start.find((a) => a.kind === "write-crash-flag");
  assert.ok(first?.kind === "write-crash-flag");
  assert.equal(first.moment, "episode-start");
  dog.crashFlagWritten(true);
  const actions = dog.signal(kill, 10_000);
  assert.deepEqual(kinds(actions), ["write-crash-flag", "panic"]);
  const again = actions.find((a) => a.kind === "write-crash-flag");
  assert.ok(again?.kind === "write-crash-flag");
  assert.equal(again.moment, "panic");
});

Deno.test("the reboot-loop guard: with 3 panics of earlier boots within the hour the panic is suppressed, the flag kept at the episode's end", () => {
  const dog = watchdog({ gracetime: 10, resettime: 60 });
  const epochAtZero = Date.parse("2026-12-01T12:00:00Z");
  dog.earlierPanics(
    [
      epochAtZero - 0.2 * HOUR,
      epochAtZero - 0.5 * HOUR,
      epochAtZero - 0.9 * HOUR,
    ],
    epochAtZero,
  );
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  const actions = dog.signal(kill, 10_000);
  assert.deepEqual(kinds(actions), ["write-crash-flag", "panic-suppressed"]);
  const suppressed = actions.find((a) => a.kind === "panic-suppressed");
  assert.ok(suppressed?.kind === "panic-suppressed");
  assert.match(suppressed.reason, /^3 panics by oomwatch within 1h/);
  assert.equal(dog.episode?.panicSuppressed, suppressed.reason);
  const log = actions.find((a) => a.kind === "log" && a.critical === true);
  assert.ok(log?.kind === "log");
  assert.match(log.message, /panic action 'panic' suppressed: 3 panics/);
  // Not tried again, and the device is still petted.
  assert.deepEqual(kinds(dog.signal(kill, 30_000)), []);
  assert.equal(dog.mayPetWatchdog(30_000 + PANIC_TAKEDOWN_MS), true);
  // The episode ends without removing the flag; the reserve is re-armed.
  assert.deepEqual(kinds(dog.tick(30_000 + 60_000, plenty)), [
    "create-reserve",
  ]);
});

Deno.test("the reboot-loop guard lets the panic run with fewer panics in the window, or with max_panics 0", () => {
  const epochAtZero = Date.parse("2026-12-01T12:00:00Z");
  const old = [
    epochAtZero - 2 * HOUR,
    epochAtZero - 0.5 * HOUR,
    epochAtZero - 0.1 * HOUR,
  ];
  const dog = watchdog({ gracetime: 10 });
  dog.earlierPanics(old, epochAtZero);
  dog.signal(kill, 0);
  assert.deepEqual(kinds(dog.signal(kill, 10_000)), [
    "write-crash-flag",
    "panic",
  ]);
  const off = watchdog({ gracetime: 10, maxPanics: null });
  off.earlierPanics(
    [epochAtZero - 1, epochAtZero - 2, epochAtZero - 3],
    epochAtZero,
  );
  off.signal(kill, 0);
  assert.deepEqual(kinds(off.signal(kill, 10_000)), [
    "write-crash-flag",
    "panic",
  ]);
});

Deno.test("a watchdog device is petted until the panic action has been due for PANIC_TAKEDOWN_MS with the machine still up", () => {
  const dog = watchdog({ gracetime: 10, panicAction: "none" });
  assert.equal(dog.mayPetWatchdog(0), true);
  dog.signal(kill, 0);
  dog.crashFlagWritten(true);
  assert.equal(dog.mayPetWatchdog(9_999), true, "an episode before gracetime");
  dog.signal(kill, 10_000);
  dog.panicResult(null, 10_001); // 'none': only logged
  assert.equal(dog.mayPetWatchdog(10_000 + PANIC_TAKEDOWN_MS - 1), true);
  assert.equal(dog.mayPetWatchdog(10_000 + PANIC_TAKEDOWN_MS), false);
  // An episode whose OOM state lapsed before gracetime never stops it.
  const calm = watchdog({ gracetime: 10 });
  calm.signal(kill, 0);
  assert.deepEqual(kinds(calm.tick(20_000, plenty)), []);
  assert.equal(calm.mayPetWatchdog(40_000), true);
});
