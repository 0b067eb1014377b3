/**
 * The daemon's status in the Prometheus text exposition format, for
 * node_exporter's textfile collector. Names follow Prometheus conventions:
 * `oomwatch_` prefix, base units (bytes, seconds), `_total` on counters.
 *
 * @module
 */

import { PROBLEM_IDS } from "./problems.ts";
import { type DaemonStatus, KILL_SOURCES, STATES } from "./status.ts";

/**
 * A sample value without binary float noise (`0.008104`, not
 * `0.008103999999999998`): 15 significant digits are exact for a double.
 *
 * @example
 * ```ts
 * formatSampleValue(8.104 / 1000); // "0.008104"
 * ```
 */
export function formatSampleValue(value: number): string {
  return Number.isInteger(value)
    ? String(value)
    : String(Number(value.toPrecision(15)));
}

/** The metrics text for `status`. */
export function formatMetrics(status: DaemonStatus): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: [labels: string, value: number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      lines.push(`${name}${labels} ${formatSampleValue(value)}`);
    }
  };
  const c = status.counters;
  metric(
    "oomwatch_reserve_bytes",
    "gauge",
    "Configured size of the emergency reserve.",
    [["", status.reserve.configuredBytes]],
  );
  metric(
    "oomwatch_reserve_locked_bytes",
    "gauge",
    "Bytes of the reserve currently mapped and locked.",
    [["", status.reserve.heldBytes]],
  );
  metric(
    "oomwatch_state",
    "gauge",
    "The daemon's state: 1 for the current one.",
    STATES.map((
      state,
    ) => [`{state="${state}"}`, state === status.state ? 1 : 0]),
  );
  metric("oomwatch_oom_kills_total", "counter", "OOM kills seen, by scope.", [
    ['{scope="global"}', c.globalOomKills],
    ['{scope="memcg"}', c.memcgOomKills],
  ]);
  metric(
    "oomwatch_memory_stalls_total",
    "counter",
    "Memory-stall signals (PSI full at or above the threshold).",
    [["", c.stalls]],
  );
  metric(
    "oomwatch_memory_thrashes_total",
    "counter",
    "Thrash signals (PSI io full at or above the threshold, major faults, MemAvailable short).",
    [["", c.thrashes]],
  );
  metric("oomwatch_episodes_total", "counter", "OOM episodes started.", [[
    "",
    c.episodes,
  ]]);
  metric(
    "oomwatch_reserve_releases_total",
    "counter",
    "Times the reserve was released.",
    [["", c.releases]],
  );
  metric(
    "oomwatch_rearm_failures_total",
    "counter",
    "Failed attempts to re-create the reserve.",
    [["", c.rearmFailures]],
  );
  metric(
    "oomwatch_kill_source",
    "gauge",
    "The fastest witness of OOM kills in use: 1 for it.",
    KILL_SOURCES.map((source) => [
      `{source="${source}"}`,
      source === status.killSource ? 1 : 0,
    ]),
  );
  metric(
    "oomwatch_tracepoint_records_lost_total",
    "counter",
    "oom:mark_victim records perf could not keep (the oom_kill counter still counts those kills).",
    [["", c.tracepointLost]],
  );
  metric(
    "oomwatch_kernel_log_records_lost_total",
    "counter",
    "Kernel log records overwritten before they were read.",
    [["", c.kernelLogLost]],
  );
  if (status.lastReactionLatencyMs !== null) {
    metric(
      "oomwatch_last_reaction_latency_seconds",
      "gauge",
      "From the kernel's time of the OOM kill (tracepoint or report) to the reserve released, for the last release.",
      [["", status.lastReactionLatencyMs / 1000]],
    );
  }
  const device = status.watchdogDevice;
  if (device !== null) {
    metric(
      "oomwatch_watchdog_timeout_seconds",
      "gauge",
      "The timeout the watchdog device's driver runs with.",
      [["", device.timeoutSeconds]],
    );
    metric(
      "oomwatch_watchdog_petting",
      "gauge",
      "1 while the watchdog device is petted; 0 once it was left to reset the machine.",
      [["", device.petting ? 1 : 0]],
    );
  }
  const problems = new Map(status.problems.map((p) => [p.id, p.severity]));
  metric(
    "oomwatch_problem",
    "gauge",
    "0 without this problem, 1 while it is a warning, 2 while critical.",
    PROBLEM_IDS.map((id) => [
      `{problem="${id}"}`,
      problems.get(id) === "critical" ? 2 : problems.has(id) ? 1 : 0,
    ]),
  );
  metric(
    "oomwatch_heartbeat_timestamp_seconds",
    "gauge",
    "Unix time of the daemon's last heartbeat.",
    [["", status.heartbeatEpochMs / 1000]],
  );
  return `${lines.join("\n")}\n`;
}
