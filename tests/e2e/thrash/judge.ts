/**
 * The verdicts of the ext4-root scenarios, from the serial log (the
 * kernel's stamps on the heartbeats, the monitor's and the probe's lines,
 * the init's markers) and, for `thrash`, the crash flag read back from the
 * flag disk.
 *
 * @module
 */

import { secondsBetween } from "../serial_log.ts";
import {
  type GapStats,
  gapStats,
  parseRun,
  period,
  type Run,
  signals,
  spread,
} from "./measure.ts";

/** What a thrash boot must show to count as the classic hang. */
export const HANG = {
  /** Both beaters ran normally before the pin: no gap this long in the warm-up's last 30 s. */
  warmupMaxGap: 5,
  /** Seconds after the pin that the observation must cover. */
  minObserved: 120,
  /** Seconds after the pin each beater must spend in gaps of 5 s or more. */
  minInLongGaps: 60,
  longGap: 5,
} as const;

/**
 * How soon after the pin the `thrash` scenario wants the episode: the
 * signals measured on the hang fire 1-10 s after it (REPORT of the
 * thrash measurement); three times that leaves room for a loaded host.
 */
export const CATCH_SECONDS = 30;

export interface Verdict {
  pass: boolean;
  summary: string;
}

export interface BootFacts {
  log: string;
  exited: boolean;
  /** The crash flag read back from the flag disk, or null. */
  flag: string | null;
}

function failedChecks(checks: [string, boolean][]): string[] {
  return checks.filter(([, ok]) => !ok).map(([what]) => what);
}

const fixed = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n) ? "?" : n.toFixed(digits);

interface Hang {
  checks: [string, boolean][];
  text: string;
  gaps: Map<string, GapStats>;
}

/** The premise of every thrash scenario: the hang, and no OOM kill. */
function hang(run: Run, to?: number): Hang {
  const judged = period(run);
  const from = run.pinnedAt ?? NaN;
  const end = to ?? judged?.[1] ?? NaN;
  const gaps = new Map<string, GapStats>();
  const warmups: number[] = [];
  for (const name of ["a", "b"]) {
    const beats = run.beats.get(name) ?? [];
    gaps.set(name, gapStats(beats, from, end, HANG.longGap));
    const start = run.pinStartedAt ?? from;
    warmups.push(gapStats(beats, start - 30, start).maxGap);
  }
  const kills = run.monitor.map((s) => s.oomKill);
  const killed = kills.length > 0 && kills.at(-1)! > kills[0];
  const observed = end - from;
  const monitor = signals(run.monitor, run.memTotalKb)
    .filter(({ at }) => at >= from && at <= end);
  const mfull = spread(monitor.map((s) => s.memFull));
  const ifull = spread(monitor.map((s) => s.ioFull));
  const refault = spread(monitor.map((s) => s.refault));
  const [a, b] = [gaps.get("a")!, gaps.get("b")!];
  const checks: [string, boolean][] = [
    ["the pin completed", run.pinnedAt !== null],
    [
      `both beaters beat in the last 30 s before the pin (gaps under ${HANG.warmupMaxGap} s; were ${
        warmups.map((g) => fixed(g, 1)).join(", ")
      } s)`,
      warmups.every((g) => g < HANG.warmupMaxGap),
    ],
    [
      `at least ${HANG.minObserved} s observed after the pin (${
        fixed(observed)
      } s)`,
      observed >= HANG.minObserved,
    ],
    [
      `each beater spent at least ${HANG.minInLongGaps} s after the pin in gaps of ${HANG.longGap} s or more (a ${
        fixed(a.inLongGaps)
      } s, b ${fixed(b.inLongGaps)} s)`,
      a.inLongGaps >= HANG.minInLongGaps && b.inLongGaps >= HANG.minInLongGaps,
    ],
    [
      "no OOM kill (oom_kill unchanged, no kill record)",
      kills.length > 0 && !killed &&
      !run.records.some(({ text }) =>
        /^Out of memory: Killed process/.test(text)
      ),
    ],
  ];
  const text = `pinned ${run.pinnedMiB} MiB in ${
    fixed((run.pinnedAt ?? NaN) - (run.pinStartedAt ?? NaN), 1)
  } s; ${fixed(observed)} s after the pin: beater a ${a.beats} beats, max gap ${
    fixed(a.maxGap, 1)
  } s, ${
    fixed(a.inLongGaps)
  } s in gaps ≥ ${HANG.longGap} s; b ${b.beats} beats, max gap ${
    fixed(b.maxGap, 1)
  } s, ${fixed(b.inLongGaps)} s; oom_kill ${kills[0]} → ${
    kills.at(-1)
  }; mem full median ${fixed(mfull?.median)}% (max ${
    fixed(mfull?.max)
  }), io full median ${fixed(ifull?.median)}%, refaults median ${
    fixed(refault?.median)
  }/s (monitor, 10 s windows)`;
  return { checks, text, gaps };
}

function verdict(failed: string[], summary: string): Verdict {
  return {
    pass: failed.length === 0,
    summary: failed.length
      ? `missing: ${failed.join("; ")} — ${summary}`
      : summary,
  };
}

function poweredOff(run: Run): boolean {
  return run.records.some(({ text }) => /^reboot: Power down/.test(text));
}

function probeSummary(run: Run, from: number, to: number): string {
  const probe = signals(run.probe, run.memTotalKb)
    .filter(({ at }) => at >= from && at <= to);
  const fmt = (label: string, values: number[], digits = 0): string => {
    const s = spread(values);
    return s
      ? `${label} ${fixed(s.min, digits)}/${fixed(s.median, digits)}/${
        fixed(s.max, digits)
      }`
      : `${label} ?`;
  };
  const faults = run.probe.filter(({ at }) => at >= from && at <= to)
    .map((s) => s.selfMajflt);
  return `probe (min/median/max of ${probe.length} s): ${
    [
      fmt("late ms", probe.map((s) => s.lateMs)),
      fmt("mem some %", probe.map((s) => s.memSome)),
      fmt("mem full %", probe.map((s) => s.memFull)),
      fmt("io some %", probe.map((s) => s.ioSome)),
      fmt("io full %", probe.map((s) => s.ioFull)),
      fmt("refault/s", probe.map((s) => s.refault)),
      fmt("MemAvailable %", probe.map((s) => s.availablePct), 1),
    ].join(", ")
  }; its own major faults +${faults.length ? faults.at(-1)! - faults[0] : "?"}`;
}

export function judgeDiskScenario(scenario: string, boot: BootFacts): Verdict {
  const run = parseRun(boot.log);
  const judged = period(run);
  switch (scenario) {
    case "thrash-baseline": {
      const { checks, text } = hang(run);
      checks.push(
        [
          "the pin held to the end and powered off",
          /E2E: hold of \d+ s over/.test(boot.log) && boot.exited,
        ],
      );
      return verdict(failedChecks(checks), text);
    }
    case "thrash-measure": {
      const { checks, text } = hang(run);
      const locked = /probe: locked (\d+) of (\d+) code mappings/.exec(
        boot.log,
      );
      checks.push(
        [
          "the probe locked its code",
          locked !== null && locked[1] === locked[2],
        ],
        [
          "the probe measured through the hang",
          judged !== null &&
          run.probe.filter(({ at }) => at >= judged[0] && at <= judged[1])
              .length >= (judged[1] - judged[0]) * 0.8,
        ],
        ["powered off", boot.exited],
      );
      return verdict(
        failedChecks(checks),
        `${text}; ${judged ? probeSummary(run, ...judged) : ""}`,
      );
    }
    case "thrash-mild": {
      // Measured, not judged: how hard a milder squeeze hits.
      const { checks, text } = hang(run);
      const failed = failedChecks(
        checks.filter(([what]) => !/each beater spent/.test(what)),
      );
      return verdict(
        failed,
        `${text}; ${judged ? probeSummary(run, ...judged) : ""}`,
      );
    }
    case "thrash": {
      // oomwatch (default signals, --gracetime 30 --lock-code 1) must catch
      // the hang and run the panic action at gracetime.
      const started = /^oomwatch: OOM episode 1 started/;
      const startedAt = run.records.find(({ text }) => started.test(text))?.at;
      // From the release, the episode's first act: the line that says the
      // episode started follows the crash flag's writes, which a thrashing
      // disk may take seconds over.
      const elapsed = secondsBetween(
        boot.log,
        /reserve of 32 MiB released/,
        /running panic action/,
      );
      const { checks, text } = hang(run, startedAt);
      // Before the episode the hang must already be there; the pin takes
      // back the reserve, so the gaps need not reach 60 s before it starts.
      const premise = checks.filter(([what]) => !/each beater spent/.test(what))
        .filter(([what]) => !/observed after the pin/.test(what));
      const failed = failedChecks([
        ...premise,
        [
          `an episode started once the pin began, at most ${CATCH_SECONDS} s after it was complete`,
          startedAt !== undefined && run.pinStartedAt !== null &&
          run.pinnedAt !== null && startedAt > run.pinStartedAt &&
          startedAt - run.pinnedAt <= CATCH_SECONDS,
        ],
        [
          "the panic action ran 30 ± 2 s into the episode (guest clock)",
          elapsed !== null && Math.abs(elapsed - 30) <= 2,
        ],
        [
          "the kernel panicked",
          /Kernel panic - not syncing: sysrq triggered crash/.test(boot.log),
        ],
        [
          "the flag is on the flag disk: trigger memory-thrash, the panic's time, a post-mortem taken at the panic with the top processes",
          boot.flag !== null && /^trigger=memory-thrash$/m.test(boot.flag) &&
          /^panic_at=/m.test(boot.flag) &&
          /^postmortem=panic$/m.test(boot.flag) &&
          /^process\.1=pid \d+/m.test(boot.flag),
        ],
      ]);
      return verdict(
        failed,
        `episode ${
          startedAt !== undefined && run.pinnedAt !== null
            ? `${fixed(startedAt - run.pinnedAt, 1)} s after the pin`
            : "never started"
        } (trigger ${
          /^trigger=(.*)$/m.exec(boot.flag ?? "")?.[1] ?? "?"
        }), panic ${
          elapsed === null ? "never" : `${fixed(elapsed, 1)} s into it`
        }, post-mortem taken in ${
          /^postmortem_ms=(\d+)/m.exec(boot.flag ?? "")?.[1] ?? "?"
        } ms; up to the episode (or the end): ${text}`,
      );
    }
  }
  if (scenario === "thrash-watchdog") {
    const at = (pattern: RegExp): number | undefined =>
      run.records.find(({ text }) => pattern.test(text))?.at;
    const reset = at(/^softdog: Initiating system reboot/);
    const started = at(/^oomwatch: OOM episode 1 started/);
    const released = at(/^oomwatch: reserve of 32 MiB released/);
    const unpetted = at(/^oomwatch: .*no longer petted/);
    const pinned = run.pinStartedAt;
    // Two ways to the reset, both the device's job: oomwatch catches the
    // thrash and stops petting 10 s after gracetime (then the flag is on
    // disk), or, its code evicted, it is starved before its signal fires and
    // misses its pets (measured: reset 17.3 s after the pin, no episode).
    // The latest the reset may come after the pin: the signal's ~10 s,
    // gracetime, the panic action's bound, the timeout, and slack.
    const latest = 10 + 30 + 10 + 20 + 5;
    const failed = failedChecks([
      [
        "oomwatch armed the device (timeout 20 s)",
        /watchdog device \/dev\/watchdog0 \(.*\) armed: timeout 20 s/.test(
          boot.log,
        ),
      ],
      [
        "the guest ran normally up to the pin (no reset before it)",
        pinned !== null && (reset === undefined || reset > pinned),
      ],
      [
        `softdog reset the guest at most ${latest} s after the pin`,
        reset !== undefined && run.pinnedAt !== null &&
        reset - run.pinnedAt <= latest,
      ],
      [
        "the hold did not run out (the guest was reset, not powered off)",
        !/E2E: hold of \d+ s over/.test(boot.log),
      ],
      [
        "if an episode started, its flag is on the flag disk (trigger memory-thrash)",
        released === undefined ||
        (boot.flag !== null && /^trigger=memory-thrash$/m.test(boot.flag)),
      ],
    ]);
    const rel = (t: number | undefined): string =>
      t === undefined || run.pinnedAt === null
        ? "never"
        : `${fixed(t - run.pinnedAt, 1)} s`;
    return verdict(
      failed,
      `code not locked, --panic-action none: ${
        released === undefined
          ? "oomwatch starved before its signal fired (no episode, no flag), missed its pets"
          : `episode ${
            rel(started ?? released)
          } after the pin, flag on disk, petting stopped ${rel(unpetted)}`
      }; softdog reset the guest ${rel(reset)} after the pin`,
    );
  }
  if (scenario === "healthy") {
    const failed = failedChecks([
      ["oomwatch up", /E2E: oomwatch up/.test(boot.log)],
      [
        "idle, busy and copy ran to the end",
        ["idle", "busy", "copy"].every((load) =>
          boot.log.includes(`E2E: load start: ${load}`)
        ) && /E2E: copy: read back/.test(boot.log),
      ],
      ["oomwatch still running", /loads done; oomwatch running/.test(boot.log)],
      ["no OOM episode", !/OOM episode/.test(boot.log)],
      ["no crash flag", boot.flag === null],
      ["powered off", poweredOff(run) && boot.exited],
    ]);
    const busy = /E2E: busy: (\d+) rounds/.exec(boot.log)?.[1];
    return verdict(
      failed,
      `oomwatch (defaults, --gracetime 30 --lock-code 1) through idle 30 s, a compile-like load 60 s (${
        busy ?? "?"
      } rounds) and a 200 MB copy: no episode, no flag`,
    );
  }
  // The healthy loads: measured, not judged against a threshold.
  const failed = failedChecks([
    ["the load ran", judged !== null],
    [
      "the probe measured through it",
      judged !== null &&
      run.probe.filter(({ at }) => at >= judged[0] && at <= judged[1])
          .length >= (judged[1] - judged[0]) * 0.8,
    ],
    ["powered off", poweredOff(run) && boot.exited],
  ]);
  return verdict(
    failed,
    judged
      ? `${fixed(judged[1] - judged[0])} s of load; ${
        probeSummary(run, ...judged)
      }`
      : "no load period in the log",
  );
}
