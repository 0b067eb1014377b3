/**
 * A daemon status as a healthy, armed daemon writes it: the fixture the
 * core tests vary.
 *
 * @module
 */

import type { DaemonStatus } from "../../src/core/status.ts";

/** The `heartbeatEpochMs` is {@link NOW} − 2 s. */
export const NOW = 1_800_000_000_000;

export const ARMED_STATUS: DaemonStatus = {
  pid: 42,
  version: "0.1.0",
  startedAt: "2027-01-15T08:00:00.000Z",
  bootId: "b",
  config: {},
  state: "armed",
  reserve: {
    configuredBytes: 32 * 1024 * 1024,
    heldBytes: 32 * 1024 * 1024,
    backing: "locked",
  },
  episode: null,
  counters: {
    globalOomKills: 0,
    memcgOomKills: 0,
    stalls: 0,
    thrashes: 0,
    episodes: 0,
    releases: 0,
    rearmFailures: 0,
    kernelLogLost: 0,
    tracepointLost: 0,
  },
  killSource: "kernel log",
  watchdogDevice: null,
  sources: ["the kernel log (/dev/kmsg)"],
  problems: [],
  lastReactionLatencyMs: null,
  heartbeatSeconds: 5,
  heartbeatAt: "2027-01-15T08:30:00.000Z",
  heartbeatEpochMs: NOW - 2000,
};
