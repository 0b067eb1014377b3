/**
 * `oomwatch check`: what the facts about the daemon add up to, by the
 * conventions of Nagios plugins (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;
 * one line, performance data after `|`). Pure: the shell gathers the facts.
 *
 * @module
 */

import type { DaemonStatus } from "./status.ts";
import { escapeControl } from "./text.ts";
import { formatMiB } from "./units.ts";

/** A crash flag found on disk: at the configured path or kept aside. */
export interface CrashFlagFact {
  path: string;
  /** Its boot id, or "" when it has none. */
  bootId: string;
  /** Kept aside under `<path>.boot-<id>` (not at the configured path). */
  kept: boolean;
  /** Why it is not a crash flag oomwatch can read (a FIFO, a directory …). */
  unreadable?: string;
}

export const OK = 0;
export const WARNING = 1;
export const CRITICAL = 2;
export const UNKNOWN = 3;
const NAMES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/** What `check` found out, before judging it. */
export interface HealthFacts {
  /** Whether a daemon holds the instance lock. */
  running: boolean;
  /** The status file, or why it could not be read. */
  status: DaemonStatus | { unreadable: string };
  nowEpochMs: number;
  /** From the kernel's smaps of the daemon; null where it cannot be read. */
  reserveLocked: boolean | null;
  /** Crash flags on disk (none when the crash flag is off). */
  crashFlags: CrashFlagFact[];
  currentBootId: string;
}

export interface HealthVerdict {
  code: number;
  line: string;
}

/** A heartbeat older than this many heartbeats (plus 2 s of slack) is stale. */
export const STALE_HEARTBEATS = 3;

/**
 * "daemon not running", with what the last status says of how it ended: a
 * clean stop or a death (killed, crashed) since its last heartbeat.
 */
function notRunning(status: HealthFacts["status"]): string {
  if ("unreadable" in status) return "daemon not running";
  return status.state === "stopped"
    ? `daemon not running: pid ${status.pid} stopped cleanly at ${status.heartbeatAt}`
    : `daemon not running: pid ${status.pid} ended without a clean stop; its last heartbeat was at ${status.heartbeatAt}`;
}

/** Judges the facts; the worst finding decides the code. */
export function judgeHealth(facts: HealthFacts): HealthVerdict {
  const findings: { code: number; text: string }[] = [];
  const perf: string[] = [];
  for (const flag of facts.crashFlags) {
    if (flag.unreadable !== undefined) {
      findings.push({
        code: WARNING,
        text: `${
          escapeControl(flag.unreadable)
        }: not a crash flag; remove it so the flag can be written`,
      });
    } else if (flag.bootId !== facts.currentBootId) {
      findings.push({
        code: CRITICAL,
        // The boot id is the file's text: shown escaped, whoever wrote it.
        text: `crash flag ${escapeControl(flag.path)} is from boot ${
          escapeControl(flag.bootId) || "unknown"
        }: the machine went down during an OOM episode (once looked at: oomwatch ack)`,
      });
    } else if (
      flag.kept || !facts.running || "unreadable" in facts.status ||
      facts.status.state !== "episode"
    ) {
      // During an episode the flag is the episode's own: no news.
      findings.push({
        code: WARNING,
        text: `crash flag ${flag.path} from this boot`,
      });
    }
  }
  if (!facts.running) {
    findings.push({ code: CRITICAL, text: notRunning(facts.status) });
  } else if ("unreadable" in facts.status) {
    findings.push({
      code: UNKNOWN,
      text: `status unreadable: ${facts.status.unreadable}`,
    });
  } else {
    const status = facts.status;
    const age = Math.max(
      0,
      (facts.nowEpochMs - status.heartbeatEpochMs) / 1000,
    );
    perf.push(`heartbeat_age=${age.toFixed(0)}s`);
    if (age > STALE_HEARTBEATS * status.heartbeatSeconds + 2) {
      findings.push({
        code: CRITICAL,
        text: `heartbeat stale: last ${
          age.toFixed(0)
        } s ago (pid ${status.pid})`,
      });
    }
    const expectReserve = status.state === "armed" &&
      status.reserve.heldBytes > 0;
    if (expectReserve && facts.reserveLocked === false) {
      findings.push({
        code: CRITICAL,
        text: `reserve of ${
          formatMiB(status.reserve.heldBytes)
        } should be locked but the kernel shows no such locked mapping in pid ${status.pid}`,
      });
    }
    for (const problem of status.problems) {
      findings.push({
        code: problem.severity === "critical" ? CRITICAL : WARNING,
        text: problem.message,
      });
    }
    if (status.state === "episode") {
      const episode = status.episode;
      findings.push({
        code: WARNING,
        text: `OOM episode ${episode?.number ?? "?"} going on since ${
          episode?.startedAt ?? "?"
        } (${episode?.trigger ?? "?"})`,
      });
    } else if (status.state === "recovering") {
      findings.push({
        code: WARNING,
        text: "recovering: waiting for memory to re-create the reserve",
      });
    }
    perf.push(
      `reserve=${status.reserve.heldBytes}B;;;0;${status.reserve.configuredBytes}`,
      `episodes=${status.counters.episodes}c`,
      `oom_kills_global=${status.counters.globalOomKills}c`,
      `oom_kills_memcg=${status.counters.memcgOomKills}c`,
    );
    if (status.lastReactionLatencyMs !== null) {
      perf.push(`latency=${status.lastReactionLatencyMs.toFixed(3)}ms`);
    }
    if (findings.length === 0) {
      const reserve = status.state === "reserve-disabled"
        ? "no reserve configured"
        : `reserve ${formatMiB(status.reserve.heldBytes)} locked${
          facts.reserveLocked === null ? " (not verified: run as root)" : ""
        }`;
      findings.push({
        code: OK,
        text: `${status.state}, ${reserve}, pid ${status.pid}, heartbeat ${
          age.toFixed(0)
        } s ago`,
      });
    }
  }
  // CRITICAL outranks UNKNOWN: a machine that went down is news even when
  // the status cannot be read.
  const rank = (code: number) => [0, 1, 3, 2][code];
  findings.sort((a, b) => rank(b.code) - rank(a.code));
  const code = findings[0].code;
  // The worst findings first, so a truncated notification still says them.
  const text = findings.map((f) => f.text).join("; ");
  return {
    code,
    line: `OOMWATCH ${NAMES[code]} - ${text}${
      perf.length ? ` | ${perf.join(" ")}` : ""
    }`,
  };
}
