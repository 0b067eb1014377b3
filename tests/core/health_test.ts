import assert from "node:assert/strict";
import {
  CRITICAL,
  type HealthFacts,
  judgeHealth,
  OK,
  UNKNOWN,
  WARNING,
} from "../../src/core/health.ts";
import { parseLockedMappings, reserveIsLocked } from "../../src/core/smaps.ts";
import { ARMED_STATUS, NOW } from "../helpers/status_fixture.ts";
import { parseStatus, StatusError } from "../../src/core/status.ts";

const status = ARMED_STATUS;
const healthy: HealthFacts = {
  running: true,
  status,
  nowEpochMs: NOW,
  reserveLocked: true,
  crashFlags: [],
  currentBootId: "b",
};

Deno.test("judgeHealth(): OK with one line and performance data", () => {
  const verdict = judgeHealth(healthy);
  assert.equal(verdict.code, OK);
  assert.match(
    verdict.line,
    /^OOMWATCH OK - armed, reserve 32 MiB locked, pid 42, heartbeat 2 s ago \| heartbeat_age=2s reserve=33554432B;;;0;33554432 episodes=0c/,
  );
});

Deno.test("judgeHealth(): each fact that matters, and the worst wins", () => {
  const cases: [Partial<HealthFacts>, number, RegExp][] = [
    [
      { running: false },
      CRITICAL,
      /daemon not running: pid 42 ended without a clean stop; its last heartbeat was at 2027-01-15T08:30:00.000Z/,
    ],
    [
      { running: false, status: { ...status, state: "stopped" } },
      CRITICAL,
      /daemon not running: pid 42 stopped cleanly at 2027-01-15T08:30:00.000Z/,
    ],
    [
      { running: false, status: { unreadable: "x: no such file" } },
      CRITICAL,
      /^OOMWATCH CRITICAL - daemon not running$/,
    ],
    [
      { status: { unreadable: "x: no such file" } },
      UNKNOWN,
      /status unreadable: x: no such file/,
    ],
    [{ nowEpochMs: NOW + 20_000 }, CRITICAL, /heartbeat stale: last 22 s ago/],
    [{ reserveLocked: false }, CRITICAL, /should be locked/],
    [{ reserveLocked: null }, OK, /not verified: run as root/],
    [
      { crashFlags: [{ path: "/oomflag", bootId: "a", kept: false }] },
      CRITICAL,
      /from boot a: the machine went down.*oomwatch ack/,
    ],
    [
      { crashFlags: [{ path: "/oomflag.boot-a", bootId: "a", kept: true }] },
      CRITICAL,
      /crash flag \/oomflag.boot-a is from boot a: the machine went down/,
    ],
    [
      { crashFlags: [{ path: "/oomflag", bootId: "b", kept: false }] },
      WARNING,
      /crash flag \/oomflag from this boot/,
    ],
    [
      {
        status: {
          ...status,
          problems: [{
            id: "kernel-log",
            severity: "warning",
            message: "kernel log unreadable (EACCES)",
            sinceEpochMs: NOW,
          }],
        },
      },
      WARNING,
      /^OOMWATCH WARNING - kernel log unreadable \(EACCES\)/,
    ],
    [
      {
        status: {
          ...status,
          problems: [{
            id: "panic-failed",
            severity: "critical",
            message: "panic action failed: no trigger",
            sinceEpochMs: NOW,
          }],
        },
      },
      CRITICAL,
      /^OOMWATCH CRITICAL - panic action failed: no trigger/,
    ],
    [{ status: { ...status, state: "recovering" } }, WARNING, /recovering/],
    [
      {
        crashFlags: [{ path: "/oomflag", bootId: "a", kept: false }],
        status: { unreadable: "?" },
      },
      CRITICAL,
      /went down.*; status unreadable/,
    ],
  ];
  for (const [change, code, pattern] of cases) {
    const verdict = judgeHealth({ ...healthy, ...change });
    assert.equal(verdict.code, code, verdict.line);
    assert.match(verdict.line, pattern);
  }
});

Deno.test("judgeHealth(): a reserve is not expected when none is configured or in an episode", () => {
  for (const state of ["reserve-disabled", "episode"] as const) {
    const verdict = judgeHealth({
      ...healthy,
      reserveLocked: false,
      status: {
        ...status,
        state,
        reserve: {
          configuredBytes: state === "episode" ? 1 : 0,
          heldBytes: 0,
          backing: "locked",
        },
      },
    });
    assert.doesNotMatch(verdict.line, /should be locked/);
  }
});

Deno.test("parseStatus() names the first field that is wrong", () => {
  assert.deepEqual(parseStatus(JSON.stringify(status)), status);
  assert.throws(() => parseStatus("{"), StatusError);
  assert.throws(() => parseStatus("[]"), /not a JSON object/);
  assert.throws(
    () => parseStatus(JSON.stringify({ ...status, pid: "x" })),
    /'pid'/,
  );
  assert.throws(
    () => parseStatus(JSON.stringify({ ...status, state: "odd" })),
    /'state'/,
  );
  assert.throws(
    () => parseStatus(JSON.stringify({ ...status, reserve: null })),
    /'reserve'/,
  );
});

Deno.test("parseLockedMappings() finds the locked anonymous reserve in smaps text", () => {
  const smaps = [
    "7f0000000000-7f0002000000 rw-p 00000000 00:00 0 ",
    "Size:              32768 kB",
    "Rss:               32768 kB",
    "Locked:            32768 kB",
    "55d0c2000000-55d0c6000000 r-xp 02000000 fd:01 1234                       /usr/bin/deno",
    "Size:              65536 kB",
    "Locked:             9000 kB",
    "7f1000000000-7f1000100000 rw-p 00000000 00:00 0 ",
    "Size:               1024 kB",
    "Locked:                0 kB",
  ].join("\n");
  const mappings = parseLockedMappings(smaps);
  assert.equal(mappings.length, 2);
  assert.ok(reserveIsLocked(mappings, 32 * 1024 * 1024));
  assert.ok(!reserveIsLocked(mappings, 64 * 1024 * 1024));
  assert.ok(
    !reserveIsLocked(mappings.slice(1), 8 * 1024 * 1024),
    "code is not the reserve",
  );
});
