/**
 * `oomwatch status`: the daemon's status for a person, or `--json` for
 * scripts (the status file's content as the daemon wrote it, the crash
 * flags on disk, and the check's verdict). It never prints a stack trace:
 * a damaged status file is reported as such.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { judgeHealth } from "../core/health.ts";
import type { Machine } from "../core/machine.ts";
import { escapeControl } from "../core/text.ts";
import type { CrashFlag } from "../core/crash_flag.ts";
import {
  describePostMortem,
  parsePostMortem,
  type PostMortem,
} from "../core/post_mortem.ts";
import { findFlags, type FoundFlag } from "../shell/crash_flag_file.ts";
import { readBootId } from "../shell/procfs.ts";
import { gatherFacts } from "./check.ts";

const MIB = 1024 * 1024;

/** Prints the status; returns the exit code of `check` for the same facts. */
export function runStatus(
  config: Config,
  machine: Machine,
  json: boolean,
): number {
  const facts = gatherFacts(config, machine);
  const verdict = judgeHealth(facts);
  const status = facts.status;
  const flags = config.crashflag ? findFlags(config.crashflagName) : [];
  const lastCrash = lastEarlierCrash(flags, readBootId(machine));
  if (json) {
    console.log(JSON.stringify(
      {
        check: { code: verdict.code, line: verdict.line },
        status: "unreadable" in status ? null : status,
        statusUnreadable: "unreadable" in status ? status.unreadable : null,
        crashFlags: flags.map((found) =>
          "flag" in found
            ? { path: found.path, ...found.flag }
            : { path: found.path, unreadable: found.unreadable }
        ),
        lastCrash,
      },
      null,
      2,
    ));
    return verdict.code;
  }
  const lines = [verdict.line, ""];
  if ("unreadable" in status) {
    lines.push(`status:      ${escapeControl(status.unreadable)}`);
  } else {
    const episode = status.episode;
    lines.push(
      `daemon:      pid ${status.pid}, oomwatch ${
        escapeControl(status.version)
      }, started ${escapeControl(status.startedAt)}`,
      `state:       ${status.state}`,
      `reserve:     ${status.reserve.heldBytes / MIB} of ${
        status.reserve.configuredBytes / MIB
      } MiB held`,
      `episode:     ${
        episode
          ? escapeControl(
            `${episode.number} since ${episode.startedAt} (${episode.trigger}: ${episode.detail}), ${episode.signals} signal(s)${
              episode.countdownSeconds !== null
                ? `, panic action in ${episode.countdownSeconds.toFixed(0)} s`
                : ""
            }${
              episode.panicError
                ? `, panic action failed: ${episode.panicError}`
                : ""
            }`,
          )
          : "none"
      }`,
      `OOM kills:   ${status.counters.globalOomKills} global, ${status.counters.memcgOomKills} in memory cgroups`,
      `episodes:    ${status.counters.episodes} (${status.counters.releases} releases, ${status.counters.rearmFailures} failed re-arms)`,
      `latency:     ${
        status.lastReactionLatencyMs === null
          ? "no release yet"
          : `${status.lastReactionLatencyMs.toFixed(3)} ms (last release)`
      }`,
      `kills seen:  first by the ${status.killSource}${
        status.counters.tracepointLost > 0
          ? ` (${status.counters.tracepointLost} tracepoint records lost)`
          : ""
      }`,
      `waiting on:  ${escapeControl(status.sources.join(", "))}`,
      `watchdog:    ${
        status.watchdogDevice === null
          ? "no device"
          : `${escapeControl(status.watchdogDevice.path)} (${
            escapeControl(status.watchdogDevice.identity)
          }), timeout ${status.watchdogDevice.timeoutSeconds} s, ${
            status.watchdogDevice.petting
              ? `petted (last ${status.watchdogDevice.lastPetAt ?? "never"})`
              : "no longer petted: it resets the machine"
          }`
      }`,
      `heartbeat:   ${
        escapeControl(status.heartbeatAt)
      } (every ${status.heartbeatSeconds} s)`,
    );
    for (const problem of status.problems) {
      lines.push(
        `problem:     ${problem.severity}: ${escapeControl(problem.message)}`,
      );
    }
  }
  for (const found of flags) {
    lines.push(
      `crash flag:  ${escapeControl(found.path)}: ${
        "flag" in found
          ? escapeControl(
            `boot ${found.flag.bootId ?? "unknown"}, started ${
              found.flag.started ?? "?"
            } by ${found.flag.trigger ?? "?"} (${found.flag.detail ?? "?"})`,
          )
          : escapeControl(found.unreadable)
      }`,
    );
  }
  if (lastCrash !== null) {
    lines.push(
      `last crash:  ${escapeControl(lastCrash.path)}: ${
        escapeControl(
          `boot ${lastCrash.flag.bootId ?? "unknown"}, started ${
            lastCrash.flag.started ?? "?"
          }${
            lastCrash.flag.panicAt
              ? `, panic action at ${lastCrash.flag.panicAt}`
              : ""
          }${
            lastCrash.flag.panicSuppressed
              ? `, panic suppressed ${lastCrash.flag.panicSuppressed}`
              : ""
          }`,
        )
      }`,
    );
    const described = lastCrash.postMortem === null
      ? ["none in the flag"]
      : describePostMortem(lastCrash.postMortem);
    lines.push(
      ...described.map((line, i) =>
        `${i === 0 ? "post-mortem: " : "             "}${escapeControl(line)}`
      ),
    );
  }
  console.log(lines.join("\n"));
  return verdict.code;
}

/** The crash flag of an earlier boot that started last, with its post-mortem. */
function lastEarlierCrash(
  flags: FoundFlag[],
  bootId: string,
):
  | { path: string; flag: Partial<CrashFlag>; postMortem: PostMortem | null }
  | null {
  const earlier = flags.flatMap((found) =>
    "flag" in found && found.flag.bootId !== bootId ? [found] : []
  ).sort((a, b) => (a.flag.started ?? "").localeCompare(b.flag.started ?? ""));
  const last = earlier.at(-1);
  return last
    ? {
      path: last.path,
      flag: last.flag,
      postMortem: parsePostMortem(last.text),
    }
    : null;
}
