/**
 * `oomwatch selftest`: checks on this machine, without causing an OOM, that
 * every part oomwatch relies on works, and prints a table of pass/warn/fail.
 * The exit code says the worst: 0 all pass, 1 a warning, 2 a failure.
 *
 * Nothing is written to the SysRq trigger: its access is judged from its
 * mode and the user, never by a write.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { dirname } from "../core/paths.ts";
import { removeFileDurably, writeFileAtomic } from "../shell/atomic_file.ts";
import { instanceRunning, lockPathFor } from "../shell/instance_lock.ts";
import { KernelLogReader } from "../shell/kernel_log_reader.ts";
import { Logger } from "../shell/log.ts";
import { sysrqTriggerPath } from "../shell/panic_action.ts";
import { PressureTrigger, TriggerRefused } from "../shell/pressure_trigger.ts";
import {
  readKernelPanicTimeout,
  readMeminfo,
  readOomKillCounter,
  readPressure,
  readStatusBytes,
} from "../shell/procfs.ts";
import { Reserve, ReserveError } from "../shell/reserve.ts";
import { protectFromOomKiller } from "../shell/self_protection.ts";
import { daemonEnvironment } from "../shell/daemon.ts";

type Result = "pass" | "warn" | "fail";
interface Row {
  result: Result;
  check: string;
  detail: string;
}

const MIB = 1024 * 1024;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reserveRow(config: Config): Row {
  const mib = config.bufsize > 0 ? config.bufsize : 2;
  const check = "reserve lock and release";
  const before = readStatusBytes("self", "VmLck") ?? 0;
  const reserve = new Reserve();
  try {
    reserve.create(mib * MIB);
  } catch (error) {
    if (!(error instanceof ReserveError)) throw error;
    return { result: "fail", check, detail: error.message };
  }
  const locked = (readStatusBytes("self", "VmLck") ?? 0) - before;
  reserve.release();
  const after = (readStatusBytes("self", "VmLck") ?? 0) - before;
  if (locked < mib * MIB || after !== 0) {
    return {
      result: "fail",
      check,
      detail: `VmLck rose by ${locked / MIB} MiB for a ${mib} MiB reserve and ${
        after / MIB
      } MiB stayed after release`,
    };
  }
  return {
    result: "pass",
    check,
    detail: `${mib} MiB locked (VmLck +${locked / MIB} MiB) and released`,
  };
}

function procRows(config: Config): Row[] {
  const rows: Row[] = [];
  try {
    const counter = readOomKillCounter();
    rows.push(
      counter === null
        ? {
          result: "warn",
          check: "/proc/vmstat oom_kill",
          detail:
            "missing (kernel older than 4.13): kills are seen in the kernel log only",
        }
        : {
          result: "pass",
          check: "/proc/vmstat oom_kill",
          detail: `${counter} kills since boot`,
        },
    );
  } catch (error) {
    rows.push({
      result: "fail",
      check: "/proc/vmstat oom_kill",
      detail: errorText(error),
    });
  }
  try {
    const info = readMeminfo();
    rows.push({
      result: "pass",
      check: "/proc/meminfo",
      detail: `MemAvailable ${Math.floor(info.memAvailable / MIB)} of ${
        Math.floor(info.memTotal / MIB)
      } MiB`,
    });
  } catch (error) {
    rows.push({
      result: "fail",
      check: "/proc/meminfo",
      detail: errorText(error),
    });
  }
  const pressure = readPressure();
  rows.push(
    pressure?.full
      ? {
        result: "pass",
        check: "/proc/pressure/memory",
        detail: `full avg10 ${pressure.full.avg10}%`,
      }
      : {
        result: config.psiFull > 0 ? "warn" : "pass",
        check: "/proc/pressure/memory",
        detail:
          "no PSI (kernel without it, or psi=0): the memory-stall signal is off; boot with psi=1",
      },
  );
  return rows;
}

function kernelLogRow(): Row {
  const path = daemonEnvironment().kmsgPath;
  try {
    KernelLogReader.open(path).close();
    return { result: "pass", check: "kernel log", detail: `${path} readable` };
  } catch (error) {
    return {
      result: "warn",
      check: "kernel log",
      detail: `${path}: ${
        errorText(error)
      }; kills are then attributed by the fallback (README). Run as root (CAP_SYSLOG)`,
    };
  }
}

function triggerRow(config: Config): Row {
  const check = "PSI trigger";
  if (config.psiFull === 0) {
    return { result: "pass", check, detail: "off (psi_full 0)" };
  }
  try {
    const trigger = PressureTrigger.arm(config.psiFull, config.psiWindow);
    trigger.close();
    return {
      result: "pass",
      check,
      detail: `'${trigger.description}' accepted`,
    };
  } catch (error) {
    if (!(error instanceof TriggerRefused)) throw error;
    return {
      result: "warn",
      check,
      detail: `${error.message}; pressure is then read periodically`,
    };
  }
}

function sysrqRow(config: Config): Row {
  const check = "SysRq trigger";
  const path = sysrqTriggerPath();
  try {
    const info = Deno.statSync(path);
    const mode = info.mode ?? 0;
    const writable = Deno.uid() === info.uid
      ? (mode & 0o200) !== 0
      : (mode & 0o002) !== 0;
    if (!writable && Deno.uid() !== 0) {
      return {
        result: config.gracetime > 0 && config.panicAction !== "none"
          ? "fail"
          : "warn",
        check,
        detail:
          `${path} is not writable by uid ${Deno.uid()}: the panic action needs root`,
      };
    }
    return { result: "pass", check, detail: `${path} writable (not written)` };
  } catch (error) {
    // Only a panic that can happen needs the trigger.
    const needed = config.gracetime > 0 && config.panicAction !== "none";
    return {
      result: needed ? "fail" : "warn",
      check,
      detail: `${path}: ${
        errorText(error)
      } (kernel without CONFIG_MAGIC_SYSRQ?); ${
        needed
          ? "the panic action cannot run"
          : "needed only once gracetime is set"
      }`,
    };
  }
}

function crashFlagRow(config: Config): Row {
  const check = "crash flag directory";
  if (!config.crashflag) {
    return { result: "pass", check, detail: "crash flag off" };
  }
  const probe = `${
    dirname(config.crashflagName)
  }/.oomwatch-selftest-${Deno.pid}`;
  try {
    writeFileAtomic(probe, "selftest\n");
    removeFileDurably(probe);
    return {
      result: "pass",
      check,
      detail: `${dirname(config.crashflagName)} writable, fsync works`,
    };
  } catch (error) {
    return {
      result: "fail",
      check,
      detail: `${dirname(config.crashflagName)}: ${errorText(error)}`,
    };
  }
}

function kernelPanicRow(config: Config): Row {
  const value = readKernelPanicTimeout();
  const check = "kernel.panic";
  if (value === 0 && config.panicAction === "panic") {
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

function oomScoreRow(): Row {
  const warnings: string[] = [];
  const value = protectFromOomKiller(
    new Logger("warn", "selftest", (line) => warnings.push(line)),
  );
  return value === -1000
    ? { result: "pass", check: "oom_score_adj", detail: "-1000 accepted" }
    : {
      result: "warn",
      check: "oom_score_adj",
      detail:
        `-1000 refused (stays ${value}): needs CAP_SYS_RESOURCE; the systemd unit sets OOMScoreAdjust=-1000`,
    };
}

function daemonRow(config: Config): Row {
  const running = (() => {
    try {
      return instanceRunning(lockPathFor(config.statusFile));
    } catch {
      return false;
    }
  })();
  return running
    ? {
      result: "pass",
      check: "daemon",
      detail: `running (lock ${lockPathFor(config.statusFile)} held)`,
    }
    : {
      result: "pass",
      check: "daemon",
      detail: "not running (not needed here)",
    };
}

/** Runs every check, prints the table, returns the exit code. */
export function runSelftest(config: Config): number {
  const rows: Row[] = [
    reserveRow(config),
    ...procRows(config),
    kernelLogRow(),
    triggerRow(config),
    sysrqRow(config),
    crashFlagRow(config),
    kernelPanicRow(config),
    oomScoreRow(),
    daemonRow(config),
  ];
  const width = Math.max(...rows.map((row) => row.check.length));
  console.log(`${"RESULT".padEnd(6)}  ${"CHECK".padEnd(width)}  DETAIL`);
  for (const row of rows) {
    console.log(
      `${row.result.padEnd(6)}  ${row.check.padEnd(width)}  ${row.detail}`,
    );
  }
  const worst = rows.some((row) => row.result === "fail")
    ? 2
    : rows.some((row) => row.result === "warn")
    ? 1
    : 0;
  console.log(`\nselftest: ${["all pass", "warnings", "failures"][worst]}`);
  return worst;
}
