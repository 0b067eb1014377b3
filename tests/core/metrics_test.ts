import assert from "node:assert/strict";
import { formatMetrics, formatSampleValue } from "../../src/core/metrics.ts";
import type { DaemonStatus } from "../../src/core/status.ts";
import { ARMED_STATUS } from "../helpers/status_fixture.ts";

const status: DaemonStatus = {
  ...ARMED_STATUS,
  counters: {
    ...ARMED_STATUS.counters,
    globalOomKills: 1,
    memcgOomKills: 2,
    stalls: 3,
    thrashes: 4,
    episodes: 5,
    releases: 5,
  },
  watchdogDevice: {
    path: "/dev/watchdog0",
    identity: "Software Watchdog",
    timeoutSeconds: 10,
    petting: true,
    lastPetAt: null,
  },
  lastReactionLatencyMs: 8.104,
};

Deno.test("formatSampleValue() writes what a person would: no binary float noise, integers as they are", () => {
  assert.equal(8.104 / 1000, 0.008103999999999998, "the noise this is about");
  assert.equal(formatSampleValue(8.104 / 1000), "0.008104");
  assert.equal(formatSampleValue(0.1 + 0.2), "0.3");
  assert.equal(formatSampleValue(33554432), "33554432");
  assert.equal(formatSampleValue(0), "0");
  assert.equal(formatSampleValue(1e-7), "1e-7");
});

Deno.test("formatMetrics(): every counter, the latency in seconds without noise, the watchdog device", () => {
  const text = formatMetrics(status);
  for (
    const line of [
      'oomwatch_oom_kills_total{scope="global"} 1',
      'oomwatch_oom_kills_total{scope="memcg"} 2',
      "oomwatch_memory_stalls_total 3",
      "oomwatch_memory_thrashes_total 4",
      "oomwatch_last_reaction_latency_seconds 0.008104",
      "oomwatch_watchdog_timeout_seconds 10",
      "oomwatch_watchdog_petting 1",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `${line}\n${text}`);
  }
  assert.doesNotMatch(text, /\.\d*(0{5,}|9{5,})\d/, "no float noise");
  const without = formatMetrics({
    ...status,
    watchdogDevice: null,
    lastReactionLatencyMs: null,
  });
  assert.doesNotMatch(without, /oomwatch_watchdog_|last_reaction_latency/);
});
