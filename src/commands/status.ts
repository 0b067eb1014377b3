/**
 * `oomwatch status`: the daemon's status for a person, or `--json` for
 * scripts (the status file's content as the daemon wrote it, plus the
 * check's verdict).
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { judgeHealth } from "../core/health.ts";
import { gatherFacts } from "./check.ts";

const MIB = 1024 * 1024;

/** Prints the status; returns the exit code of `check` for the same facts. */
export function runStatus(config: Config, json: boolean): number {
  const facts = gatherFacts(config);
  const verdict = judgeHealth(facts);
  const status = facts.status;
  if (json) {
    console.log(JSON.stringify(
      {
        check: { code: verdict.code, line: verdict.line },
        status: "unreadable" in status ? null : status,
      },
      null,
      2,
    ));
    return verdict.code;
  }
  const lines = [verdict.line, ""];
  if ("unreadable" in status) {
    lines.push(`status: ${status.unreadable}`);
  } else {
    const episode = status.episode;
    lines.push(
      `daemon:      pid ${status.pid}, oomwatch ${status.version}, started ${status.startedAt}`,
      `state:       ${status.state}`,
      `reserve:     ${status.reserve.heldBytes / MIB} of ${
        status.reserve.configuredBytes / MIB
      } MiB held`,
      `episode:     ${
        episode
          ? `${episode.number} since ${episode.startedAt} (${episode.trigger}: ${episode.detail}), ${episode.signals} signal(s)${
            episode.countdownSeconds !== null
              ? `, panic action in ${episode.countdownSeconds.toFixed(0)} s`
              : ""
          }`
          : "none"
      }`,
      `OOM kills:   ${status.counters.globalOomKills} global, ${status.counters.memcgOomKills} in memory cgroups`,
      `episodes:    ${status.counters.episodes} (${status.counters.releases} releases, ${status.counters.rearmFailures} failed re-arms)`,
      `latency:     ${
        status.lastReactionLatencyMs === null
          ? "no release yet"
          : `${status.lastReactionLatencyMs.toFixed(3)} ms (last release)`
      }`,
      `heartbeat:   ${status.heartbeatAt} (every ${status.heartbeatSeconds} s)`,
    );
  }
  console.log(lines.join("\n"));
  return verdict.code;
}
