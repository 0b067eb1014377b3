/**
 * `oomwatch selftest`: checks on this machine, without causing an OOM, that
 * every part oomwatch relies on works, and prints a table of pass/warn/fail
 * (core/selftest.ts judges; this module gathers the facts). The exit code
 * says the worst: 0 all pass, 1 a warning, 2 a failure.
 *
 * Nothing is written to the SysRq trigger: its access is judged from its
 * mode and the user, never by a write.
 *
 * @module
 */

import type { Config } from "../core/config.ts";
import { describeError } from "../core/errors.ts";
import type { Machine } from "../core/machine.ts";
import {
  judgeSelftest,
  selftestExitCode,
  type SelftestFacts,
} from "../core/selftest.ts";
import { CrashFlagFile } from "../shell/crash_flag_file.ts";
import { flagDirectoryHealth } from "../shell/health_checks.ts";
import { instanceRunning, lockPathFor } from "../shell/instance_lock.ts";
import { KernelLogReader } from "../shell/kernel_log_reader.ts";
import { Logger } from "../shell/log.ts";
import { panicUnavailable } from "../shell/panic_action.ts";
import { PressureTrigger, TriggerRefused } from "../shell/pressure_trigger.ts";
import {
  readKernelPanicTimeout,
  readMeminfo,
  readPressure,
  readStatusBytes,
  readVmstat,
} from "../shell/procfs.ts";
import { Reserve, ReserveError } from "../shell/reserve.ts";
import { tmpfsReserveBytes } from "../shell/reserve_tmpfs.ts";
import { statLink } from "../shell/safe_file.ts";
import { watchdogSysfs } from "../shell/watchdog_device.ts";
import { S_IF } from "../../ffi/libc.ts";
import { protectFromOomKiller } from "../shell/self_protection.ts";
import {
  TracepointReader,
  TracepointRefused,
} from "../shell/tracepoint_reader.ts";

const MIB = 1024 * 1024;

function reserveFact(
  config: Config,
  machine: Machine,
): SelftestFacts["reserve"] {
  const mib = config.bufsize > 0 ? config.bufsize : 2;
  const vmLck = () => readStatusBytes("self", "VmLck", machine.proc) ?? 0;
  const before = vmLck();
  const reserve = new Reserve(machine);
  try {
    reserve.create(mib * MIB);
  } catch (error) {
    if (!(error instanceof ReserveError)) throw error;
    return { mib, error: error.message };
  }
  const lockedBytes = vmLck() - before;
  reserve.release();
  return { mib, lockedBytes, leftBytes: vmLck() - before };
}

/**
 * The tmpfs reserve taken and given back on a tmpfs of its own in a
 * temporary directory (a running daemon's mount is left alone), or why not.
 */
function tmpfsFact(
  config: Config,
  machine: Machine,
): SelftestFacts["tmpfsReserve"] {
  if (config.reserveBacking !== "tmpfs") return null;
  const mib = config.bufsize > 0 ? config.bufsize : 2;
  const directory = Deno.makeTempDirSync({ prefix: "oomwatch-selftest-" });
  const reserve = new Reserve(machine, { kind: "tmpfs", directory });
  try {
    reserve.create(mib * MIB);
    const heldBytes = tmpfsReserveBytes(directory) ?? 0;
    reserve.release();
    return { mib, heldBytes, leftBytes: tmpfsReserveBytes(directory) ?? 0 };
  } catch (error) {
    if (!(error instanceof ReserveError)) throw error;
    return { mib, error: error.message };
  } finally {
    reserve.close();
    Deno.removeSync(directory);
  }
}

function tracepointFact(
  config: Config,
  machine: Machine,
): SelftestFacts["tracepoint"] {
  if (!config.tracepoint) return null;
  try {
    const reader = TracepointReader.open(machine);
    reader.close();
    return { cpus: reader.cpus, tracefs: reader.tracefs };
  } catch (error) {
    if (!(error instanceof TracepointRefused)) throw error;
    return { refused: error.message };
  }
}

function watchdogFact(
  config: Config,
  machine: Machine,
): SelftestFacts["watchdogDevice"] {
  const path = config.watchdogDevice;
  if (path === "") return null;
  let error: string | null = null;
  try {
    const info = statLink(path);
    if (info === null) {
      error =
        `${path} is missing: load a watchdog driver (modprobe softdog, or the board's)`;
    } else if (info.type !== S_IF.CHR) {
      error = `${path} is not a character device, so not a watchdog device`;
    }
  } catch (caught) {
    error = `${path}: ${describeError(caught)}`;
  }
  if (error !== null) return { path, error };
  const sysfs = watchdogSysfs(machine, path);
  return {
    path,
    identity: sysfs.identity,
    timeoutSeconds: sysfs.timeoutSeconds,
    nowayout: sysfs.nowayout,
  };
}

function sysrqFact(machine: Machine): SelftestFacts["sysrq"] {
  const path = machine.sysrqTrigger;
  const uid = Deno.uid() ?? 0;
  let error: string | null = null;
  try {
    const info = statLink(path);
    if (info === null) {
      error =
        `${path} is missing (kernel without CONFIG_MAGIC_SYSRQ, or a container)`;
    } else {
      const writable = uid === info.uid
        ? (info.permissions & 0o200) !== 0
        : (info.permissions & 0o002) !== 0;
      if (!writable && uid !== 0) {
        error =
          `${path} is not writable by uid ${uid}: the panic action needs root`;
      }
    }
  } catch (caught) {
    error = `${path}: ${describeError(caught)}`;
  }
  return { path, error, uid };
}

/** Everything selftest judges, found out on this machine. */
function gatherSelftestFacts(config: Config, machine: Machine): SelftestFacts {
  const vmstat = readVmstat(machine);
  const meminfo = readMeminfo(machine);
  const pressure = readPressure(machine.pressureMemory);
  const ioPressure = readPressure(machine.pressureIo);
  const majorFaults = vmstat.ok
    ? vmstat.value.counters.get("pgmajfault")
    : undefined;
  let kernelLogError: string | null = null;
  try {
    KernelLogReader.open(machine.kernelLog).close();
  } catch (error) {
    kernelLogError = describeError(error);
  }
  let trigger: SelftestFacts["trigger"];
  try {
    const armed = PressureTrigger.arm(
      config.psiFull,
      config.psiWindow,
      machine.psiTrigger,
    );
    armed.close();
    trigger = { description: armed.description };
  } catch (error) {
    if (!(error instanceof TriggerRefused)) throw error;
    trigger = { refused: error.message };
  }
  const quiet = new Logger("error", { journal: false }, "selftest", () => {});
  let running = false;
  try {
    running = instanceRunning(lockPathFor(config.statusFile), machine.proc);
  } catch {
    running = false; // an unreadable lock: no daemon selftest can see
  }
  return {
    config,
    reserve: reserveFact(config, machine),
    tmpfsReserve: tmpfsFact(config, machine),
    tracepoint: tracepointFact(config, machine),
    watchdogDevice: watchdogFact(config, machine),
    oomKillCounter: vmstat.ok
      ? { value: vmstat.value.oomKill }
      : { error: vmstat.reason },
    meminfo: meminfo.ok ? meminfo.value : { error: meminfo.reason },
    pressureFull: pressure.ok && pressure.value.full
      ? { avg10: pressure.value.full.avg10 }
      : { error: pressure.ok ? "no 'full' line" : pressure.reason },
    thrashInputs: !ioPressure.ok
      ? { error: ioPressure.reason }
      : ioPressure.value.full === null
      ? { error: `no 'full' line in ${machine.pressureIo}` }
      : majorFaults === undefined
      ? { error: `no pgmajfault counter in ${machine.vmstat}` }
      : {
        ioFullAvg10: ioPressure.value.full.avg10,
        majorFaults,
      },
    kernelLog: { path: machine.kernelLog, error: kernelLogError },
    trigger,
    sysrq: sysrqFact(machine),
    panicUnavailable: panicUnavailable(config.panicAction, machine),
    // The same check the daemon makes of the flag's directory.
    crashFlagDirectory: config.crashflag
      ? flagDirectoryHealth(
        new CrashFlagFile(config.crashflagName, "", quiet),
        true,
      )
      : null,
    kernelPanic: readKernelPanicTimeout(machine),
    oomScoreAdj: protectFromOomKiller(quiet, machine.proc),
    daemon: { running, lockPath: lockPathFor(config.statusFile) },
  };
}

/** Runs every check, prints the table, returns the exit code. */
export function runSelftest(config: Config, machine: Machine): number {
  const rows = judgeSelftest(gatherSelftestFacts(config, machine));
  const width = Math.max(...rows.map((row) => row.check.length));
  console.log(`${"RESULT".padEnd(6)}  ${"CHECK".padEnd(width)}  DETAIL`);
  for (const row of rows) {
    console.log(
      `${row.result.padEnd(6)}  ${row.check.padEnd(width)}  ${row.detail}`,
    );
  }
  const worst = selftestExitCode(rows);
  console.log(`\nselftest: ${["all pass", "warnings", "failures"][worst]}`);
  return worst;
}
