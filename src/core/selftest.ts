/**
 * `oomwatch selftest`: what the facts about this machine add up to, one row
 * per part oomwatch relies on, pass/warn/fail. Pure: the command gathers the
 * facts (commands/selftest.ts), as `check` does for health.
 *
 * @module
 */

import type { Config } from "./config.ts";

export type RowResult = "pass" | "warn" | "fail";

export interface SelftestRow {
  result: RowResult;
  check: string;
  detail: string;
}

/** What selftest found out on this machine, before judging it. */
export interface SelftestFacts {
  config: Pick<
    Config,
    | "bufsize"
    | "psiFull"
    | "thrashIoFull"
    | "gracetime"
    | "panicAction"
    | "crashflag"
    | "crashflagName"
  >;
  /** A reserve locked and released: MiB tried, VmLck before/held/after, or the error. */
  reserve:
    | { mib: number; lockedBytes: number; leftBytes: number }
    | { mib: number; error: string };
  /** With `reserve_backing tmpfs`: the reserve taken on a tmpfs of its own and given back. */
  tmpfsReserve:
    | null
    | { mib: number; heldBytes: number; leftBytes: number }
    | { mib: number; error: string };
  /**
   * With `watchdog_device`: the device as stat and sysfs describe it (never
   * opened: opening arms it), or why it is unusable.
   */
  watchdogDevice:
    | null
    | { path: string; error: string }
    | {
      path: string;
      identity: string | null;
      timeoutSeconds: number | null;
      nowayout: boolean | null;
    };
  /** With `tracepoint 1`: the event opened on every CPU, or why perf refused. */
  tracepoint: null | { cpus: number; tracefs: string } | { refused: string };
  /** `oom_kill` (null: the kernel has none), or why unreadable. */
  oomKillCounter: { value: number | null } | { error: string };
  meminfo: { memAvailable: number; memTotal: number } | { error: string };
  /** PSI memory `full avg10`, or why there is none. */
  pressureFull: { avg10: number } | { error: string };
  /** The thrash signal's inputs: PSI io `full avg10` and `pgmajfault`, or why missing. */
  thrashInputs: { ioFullAvg10: number; majorFaults: number } | {
    error: string;
  };
  kernelLog: { path: string; error: string | null };
  /** The trigger armed (its text), or why it was refused. */
  trigger: { description: string } | { refused: string };
  sysrq: {
    path: string;
    /** Why it cannot be used, or null (its mode allows this user to write). */
    error: string | null;
    uid: number;
  };
  /** Why the panic action cannot work here (no trigger, no CAP_SYS_BOOT), or null. */
  panicUnavailable: string | null;
  /** Why the crash flag could not be written now, or null. */
  crashFlagDirectory: string | null;
  kernelPanic: number | null;
  oomScoreAdj: number | null;
  daemon: { running: boolean; lockPath: string };
}

const MIB = 1024 * 1024;

function reserveRow(facts: SelftestFacts): SelftestRow {
  const check = "reserve lock and release";
  const reserve = facts.reserve;
  if ("error" in reserve) {
    return { result: "fail", check, detail: reserve.error };
  }
  if (reserve.lockedBytes < reserve.mib * MIB || reserve.leftBytes !== 0) {
    return {
      result: "fail",
      check,
      detail: `VmLck rose by ${
        reserve.lockedBytes / MIB
      } MiB for a ${reserve.mib} MiB reserve and ${
        reserve.leftBytes / MIB
      } MiB stayed after release`,
    };
  }
  return {
    result: "pass",
    check,
    detail: `${reserve.mib} MiB locked (VmLck +${
      reserve.lockedBytes / MIB
    } MiB) and released`,
  };
}

function tmpfsRow(facts: SelftestFacts): SelftestRow[] {
  const check = "tmpfs reserve";
  const tmpfs = facts.tmpfsReserve;
  if (tmpfs === null) return [];
  if ("error" in tmpfs) return [{ result: "fail", check, detail: tmpfs.error }];
  if (tmpfs.heldBytes < tmpfs.mib * MIB || tmpfs.leftBytes !== 0) {
    return [{
      result: "fail",
      check,
      detail: `the tmpfs held ${
        tmpfs.heldBytes / MIB
      } MiB for a ${tmpfs.mib} MiB reserve and ${
        tmpfs.leftBytes / MIB
      } MiB after release`,
    }];
  }
  return [{
    result: "pass",
    check,
    detail: `${tmpfs.mib} MiB taken on a huge-page tmpfs and released`,
  }];
}

function watchdogRow(facts: SelftestFacts): SelftestRow {
  const check = "watchdog device";
  const device = facts.watchdogDevice;
  if (device === null) {
    return { result: "pass", check, detail: "none configured" };
  }
  if ("error" in device) return { result: "fail", check, detail: device.error };
  const about = `${device.path} (${
    device.identity ?? "no sysfs identity"
  }), timeout now ${
    device.timeoutSeconds ?? "unknown"
  } s; not opened (that arms it)`;
  return device.nowayout === true
    ? {
      result: "warn",
      check,
      detail:
        `${about}; its driver was loaded with nowayout: even a clean stop leaves it armed`,
    }
    : { result: "pass", check, detail: about };
}

function tracepointRow(facts: SelftestFacts): SelftestRow {
  const check = "OOM tracepoint";
  const tracepoint = facts.tracepoint;
  if (tracepoint === null) {
    return {
      result: "pass",
      check,
      detail: "off (tracepoint 0): kills wake the daemon from the kernel log",
    };
  }
  return "refused" in tracepoint
    ? {
      result: "warn",
      check,
      detail:
        `${tracepoint.refused}; kills wake the daemon from the kernel log, milliseconds later`,
    }
    : {
      result: "pass",
      check,
      detail:
        `oom:mark_victim opened on ${tracepoint.cpus} CPUs (${tracepoint.tracefs})`,
    };
}

function procRows(facts: SelftestFacts): SelftestRow[] {
  const counter = facts.oomKillCounter;
  const meminfo = facts.meminfo;
  const pressure = facts.pressureFull;
  return [
    "error" in counter
      ? {
        result: "fail",
        check: "/proc/vmstat oom_kill",
        detail: counter.error,
      }
      : counter.value === null
      ? {
        result: "warn",
        check: "/proc/vmstat oom_kill",
        detail:
          "missing (kernel older than 4.13): kills are seen in the kernel log only",
      }
      : {
        result: "pass",
        check: "/proc/vmstat oom_kill",
        detail: `${counter.value} kills since boot`,
      },
    "error" in meminfo
      ? { result: "fail", check: "/proc/meminfo", detail: meminfo.error }
      : {
        result: "pass",
        check: "/proc/meminfo",
        detail: `MemAvailable ${Math.floor(meminfo.memAvailable / MIB)} of ${
          Math.floor(meminfo.memTotal / MIB)
        } MiB`,
      },
    "error" in pressure
      ? {
        result: facts.config.psiFull > 0 ? "warn" : "pass",
        check: "/proc/pressure/memory",
        detail:
          `${pressure.error}: the memory-stall signal is off; boot with psi=1`,
      }
      : {
        result: "pass",
        check: "/proc/pressure/memory",
        detail: `full avg10 ${pressure.avg10}%`,
      },
    thrashRow(facts),
  ];
}

function thrashRow(facts: SelftestFacts): SelftestRow {
  const check = "thrash signal";
  const inputs = facts.thrashInputs;
  if (facts.config.thrashIoFull === 0) {
    return { result: "pass", check, detail: "off (thrash_io_full 0)" };
  }
  return "error" in inputs
    ? {
      result: "warn",
      check,
      detail:
        `${inputs.error}: the thrash signal is off; boot with psi=1, or set thrash_io_full 0`,
    }
    : {
      result: "pass",
      check,
      detail:
        `PSI io full avg10 ${inputs.ioFullAvg10}%, pgmajfault ${inputs.majorFaults}`,
    };
}

function kernelLogRow(facts: SelftestFacts): SelftestRow {
  const { path, error } = facts.kernelLog;
  return error === null
    ? { result: "pass", check: "kernel log", detail: `${path} readable` }
    : {
      result: "warn",
      check: "kernel log",
      detail:
        `${path}: ${error}; kills are then attributed by the fallback (README). Run as root (CAP_SYSLOG)`,
    };
}

function triggerRow(facts: SelftestFacts): SelftestRow {
  const check = "PSI trigger";
  if (facts.config.psiFull === 0) {
    return { result: "pass", check, detail: "off (psi_full 0)" };
  }
  return "description" in facts.trigger
    ? {
      result: "pass",
      check,
      detail: `'${facts.trigger.description}' accepted`,
    }
    : {
      result: "warn",
      check,
      detail: `${facts.trigger.refused}; pressure is then read periodically`,
    };
}

function sysrqRow(facts: SelftestFacts): SelftestRow {
  const check = "SysRq trigger";
  const { config, sysrq } = facts;
  // Only a panic that can happen needs the trigger.
  const needed = config.gracetime > 0 && config.panicAction !== "none";
  if (sysrq.error === null) {
    return {
      result: "pass",
      check,
      detail: `${sysrq.path} writable (not written)`,
    };
  }
  if (facts.panicUnavailable === null && needed) {
    return {
      result: "warn",
      check,
      detail:
        `${sysrq.error}; the panic action falls back to reboot(2) (CAP_SYS_BOOT)`,
    };
  }
  return {
    result: needed ? "fail" : "warn",
    check,
    detail: `${sysrq.error}; ${
      needed
        ? "the panic action cannot run"
        : "needed only once gracetime is set"
    }`,
  };
}

function crashFlagRow(facts: SelftestFacts): SelftestRow {
  const check = "crash flag directory";
  if (!facts.config.crashflag) {
    return { result: "pass", check, detail: "crash flag off" };
  }
  return facts.crashFlagDirectory === null
    ? {
      result: "pass",
      check,
      detail:
        `the flag ${facts.config.crashflagName} can be written and fsynced`,
    }
    : { result: "fail", check, detail: facts.crashFlagDirectory };
}

function kernelPanicRow(facts: SelftestFacts): SelftestRow {
  const value = facts.kernelPanic;
  const check = "kernel.panic";
  if (value === 0 && facts.config.panicAction === "panic") {
    return {
      result: "warn",
      check,
      detail:
        "0: after the panic action the machine stays halted; set sysctl kernel.panic=10",
    };
  }
  return {
    result: "pass",
    check,
    detail: value === null ? "unreadable" : `${value} s`,
  };
}

function oomScoreRow(facts: SelftestFacts): SelftestRow {
  return facts.oomScoreAdj === -1000
    ? { result: "pass", check: "oom_score_adj", detail: "-1000 accepted" }
    : {
      result: "warn",
      check: "oom_score_adj",
      detail:
        `-1000 refused (stays ${facts.oomScoreAdj}): needs CAP_SYS_RESOURCE; the systemd unit sets OOMScoreAdjust=-1000`,
    };
}

/** The rows for `facts`, in the order printed. */
export function judgeSelftest(facts: SelftestFacts): SelftestRow[] {
  return [
    reserveRow(facts),
    ...tmpfsRow(facts),
    ...procRows(facts),
    tracepointRow(facts),
    kernelLogRow(facts),
    watchdogRow(facts),
    triggerRow(facts),
    sysrqRow(facts),
    crashFlagRow(facts),
    kernelPanicRow(facts),
    oomScoreRow(facts),
    {
      result: "pass",
      check: "daemon",
      detail: facts.daemon.running
        ? `running (lock ${facts.daemon.lockPath} held)`
        : "not running (not needed here)",
    },
  ];
}

/** The exit code for `rows`: 0 all pass, 1 a warning, 2 a failure. */
export function selftestExitCode(rows: readonly SelftestRow[]): number {
  if (rows.some((row) => row.result === "fail")) return 2;
  return rows.some((row) => row.result === "warn") ? 1 : 0;
}
