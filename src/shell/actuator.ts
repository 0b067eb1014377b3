/**
 * Carries out what the watchdog decided, in the order given, and reports
 * each outcome back to it: the reserve released or re-created, the crash
 * flag written or removed, the panic action, the --exec-on-oom hook, the
 * log. The one module that acts on the machine.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import {
  type Action,
  type Episode,
  type OomSignal,
  PANIC_RETRY_MS,
} from "../core/episode.ts";
import type { Watchdog } from "../core/watchdog.ts";
import type { CrashFlag } from "../core/crash_flag.ts";
import { takePostMortem } from "./post_mortem.ts";
import type { CrashFlagFile } from "./crash_flag_file.ts";
import { runExecOnOom } from "./exec_hook.ts";
import type { Logger, ProblemLog } from "./log.ts";
import { runPanicAction } from "./panic_action.ts";
import { type Reserve, ReserveError } from "./reserve.ts";

const MIB = 1024 * 1024;

/** What the actuator works with; `config` and `crashFlag` change on reload. */
export interface ActuatorParts {
  machine: Machine;
  config: () => Config;
  crashFlag: () => CrashFlagFile;
  reserve: Reserve;
  watchdog: Watchdog;
  problems: ProblemLog;
  log: Logger;
  bootId: string;
  /** Monotonic milliseconds. */
  nowMs: () => number;
  /** The wall-clock ISO time of a monotonic instant. */
  wallClockOf: (monotonicMs: number) => string;
}

export class Actuator {
  readonly #parts: ActuatorParts;
  readonly #watchLog: Logger;
  /** From the kernel's report to munmap returned, for the last release. */
  lastLatencyMs: number | null = null;

  constructor(parts: ActuatorParts) {
    this.#parts = parts;
    this.#watchLog = parts.log.child("watchdog");
  }

  /** Runs `actions` in order; `cause` is the signal that led to them. */
  async execute(actions: Action[], cause?: OomSignal): Promise<void> {
    const { watchdog } = this.#parts;
    for (const action of actions) {
      switch (action.kind) {
        case "release-reserve":
          this.#release(cause);
          break;
        case "create-reserve":
          await this.execute(
            watchdog.reserveCreated(
              this.#create(action.bytes),
              this.#parts.nowMs(),
            ),
          );
          break;
        case "write-crash-flag":
          watchdog.crashFlagWritten(
            this.#writeFlag(action.episode, action.moment),
          );
          break;
        case "remove-crash-flag":
          this.#parts.crashFlag().remove();
          break;
        case "panic":
          await this.#panic(action);
          break;
        case "panic-suppressed":
          this.#parts.problems.report(
            "panic-suppressed",
            "critical",
            `panic suppressed: ${action.reason}`,
          );
          break;
        case "run-hook":
          this.#runHook(action.episode);
          break;
        case "log":
          if (action.critical) {
            this.#watchLog.critical(action.level, action.message);
          } else this.#watchLog.log(action.level, action.message);
          break;
      }
    }
  }

  /**
   * munmap first: the log line, with its latency, comes after. On the
   * tracepoint's wake the reserve may already be released (before the kill
   * was even classified, when every kill is a signal): that release is the
   * one reported.
   */
  #release(cause?: OomSignal): void {
    const reserve = this.#parts.reserve;
    reserve.release();
    const release = reserve.lastRelease;
    let latency = "";
    if (release && cause?.kernelMicros !== undefined) {
      // The tracepoint's stamp is on CLOCK_MONOTONIC (perf's use_clockid). A
      // kill record's is printk's local_clock(), which NTP does not slew:
      // it can run milliseconds apart from CLOCK_MONOTONIC (15.4 ms after
      // 4.3 h on a development VM), so that figure may read low, even < 0.
      this.lastLatencyMs =
        Number(release.doneMicros - BigInt(cause.kernelMicros)) / 1000;
      latency = `, ${this.lastLatencyMs.toFixed(3)} ms after the kernel's ${
        cause.kernelSource ?? "report"
      }`;
    }
    this.#parts.log.child("reserve").critical(
      "warn",
      `reserve of ${(release?.bytes ?? 0) / MIB} MiB released${latency}`,
    );
  }

  /** Re-arms; returns the bytes locked (0 on failure, said in the log). */
  #create(bytes: number): number {
    const { reserve, problems } = this.#parts;
    const log = this.#parts.log.child("reserve");
    try {
      const created = reserve.createUpTo(bytes);
      if (created.shortfall === null) {
        problems.cure(
          "reserve",
          `reserve of ${bytes / MIB} MiB locked in full again`,
        );
      } else {
        problems.report(
          "reserve",
          "warning",
          `reserve re-armed with ${created.bytes / MIB} of the configured ${
            bytes / MIB
          } MiB: ${created.shortfall}`,
        );
      }
      return created.bytes;
    } catch (error) {
      if (!(error instanceof ReserveError)) throw error;
      log.warn(`re-arm failed, will retry: ${error.message}`);
      return 0;
    }
  }

  /**
   * The flag with a post-mortem of `moment`; before the panic action, with
   * the panic's time (or why the loop guard held it back).
   */
  #writeFlag(
    episode: Readonly<Episode>,
    moment: "episode-start" | "panic",
  ): boolean {
    const { crashFlag, problems, wallClockOf, bootId, machine, nowMs } =
      this.#parts;
    const flag = crashFlag();
    const now = wallClockOf(nowMs());
    const content: CrashFlag = {
      started: wallClockOf(episode.startedAtMs),
      trigger: episode.trigger.kind,
      detail: episode.trigger.detail,
      bootId,
      pid: Deno.pid,
      episode: episode.number,
    };
    if (episode.trigger.victim) content.victim = episode.trigger.victim;
    if (moment === "panic") {
      if (episode.panicSuppressed !== null) {
        content.panicSuppressed = `${now} ${episode.panicSuppressed}`;
      } else content.panicAt = now;
    }
    // Evidence first: at the episode's start the flag goes to disk before the
    // post-mortem is taken, then again with it. In the VM's thrash hang the
    // post-mortem's first reads took 1968 ms (each /proc read allocates, and
    // an allocation waits in direct reclaim), which a panic that comes first
    // would have cost the whole flag. At the panic the flag is already there.
    const start = moment === "episode-start";
    let written = !start || flag.write(content);
    if (written) {
      const full = flag.write(content, takePostMortem(machine, moment, now));
      // A flag without its post-mortem is still the flag.
      written = full || start;
    }
    if (written) {
      problems.cure("crash-flag", `crash flag ${flag.path} written`);
    } else {
      problems.report(
        "crash-flag",
        "warning",
        `the crash flag ${flag.path} could not be written during episode ${episode.number} (see the log)`,
      );
    }
    return written;
  }

  async #panic(action: Extract<Action, { kind: "panic" }>): Promise<void> {
    const { machine, watchdog, problems } = this.#parts;
    const error = await runPanicAction(
      action.action,
      machine,
      this.#parts.log.child("panic"),
    );
    watchdog.panicResult(error, this.#parts.nowMs());
    if (error === null) {
      problems.cure(
        "panic-failed",
        `panic action '${action.action}' carried out`,
      );
    } else {
      problems.report(
        "panic-failed",
        "critical",
        `panic action failed: ${error}; retried every ${
          PANIC_RETRY_MS / 1000
        } s while the episode lasts`,
      );
    }
  }

  #runHook(episode: Readonly<Episode>): void {
    const config = this.#parts.config();
    try {
      runExecOnOom(config.execOnOom, {
        OOMWATCH_EVENT: "episode-start",
        OOMWATCH_EPISODE: String(episode.number),
        OOMWATCH_TRIGGER: episode.trigger.kind,
        OOMWATCH_DETAIL: episode.trigger.detail,
        OOMWATCH_VICTIM: episode.trigger.victim ?? "",
        OOMWATCH_CRASHFLAG: config.crashflag ? config.crashflagName : "",
        OOMWATCH_BOOT_ID: this.#parts.bootId,
      }, this.#parts.log.child("exec-on-oom"));
    } catch (error) {
      this.#parts.log.child("exec-on-oom").error(
        `cannot run '${config.execOnOom}': ${describeError(error)}`,
      );
    }
  }
}
