/**
 * Where the machine's interfaces are: the kernel log, the /proc files, the
 * PSI files, the SysRq trigger, tracefs. Built once, in main.ts, from the
 * defaults or the variables tests set, and passed down; no other module
 * reads an environment variable.
 *
 * @module
 */

/** The machine oomwatch watches, as paths (and one fact about stderr). */
export interface Machine {
  /** The kernel log, `/dev/kmsg` (a regular file of records in tests). */
  kernelLog: string;
  vmstat: string;
  meminfo: string;
  pressureMemory: string;
  pressureIo: string;
  /** Where the PSI trigger is armed (the memory PSI file). */
  psiTrigger: string;
  /** Where the panic action writes its SysRq keys. */
  sysrqTrigger: string;
  /**
   * False when the SysRq trigger was pointed elsewhere (tests): then nothing
   * real is ever called, the libc reboot fallback included (it is logged as
   * what it would have called).
   */
  realPanic: boolean;
  bootId: string;
  kernelPanic: string;
  /** The root of /proc, for `/proc/<pid>/…` and `/proc/locks`. */
  proc: string;
  /** Where tracefs may be mounted, in order of preference. */
  tracefs: readonly string[];
  /** The CPUs online (`/sys/devices/system/cpu/online`), one perf ring each. */
  cpusOnline: string;
  /** The kernel's symbols, where the OOM paths' code lies. */
  kallsyms: string;
  /** The mounts (`/proc/self/mountinfo`), where the memory cgroup hierarchy is found. */
  mountinfo: string;
  /** Where the watchdog devices describe themselves (identity, timeout, nowayout). */
  watchdogClass: string;
  /** stderr is the journal (JOURNAL_STREAM set): lines carry priorities. */
  journal: boolean;
}

export const SYSRQ_TRIGGER = "/proc/sysrq-trigger";
export const KERNEL_LOG = "/dev/kmsg";

/**
 * The machine as `env` describes it. Test variables (never needed in
 * production): OOMWATCH_KMSG, OOMWATCH_PSI_TRIGGER, OOMWATCH_SYSRQ_TRIGGER.
 *
 * @example
 * ```ts
 * describeMachine(() => undefined).sysrqTrigger; // "/proc/sysrq-trigger"
 * ```
 */
export function describeMachine(
  env: (name: string) => string | undefined,
): Machine {
  const given = (name: string): string | undefined => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const sysrq = given("OOMWATCH_SYSRQ_TRIGGER");
  return {
    kernelLog: given("OOMWATCH_KMSG") ?? KERNEL_LOG,
    vmstat: "/proc/vmstat",
    meminfo: "/proc/meminfo",
    pressureMemory: "/proc/pressure/memory",
    pressureIo: "/proc/pressure/io",
    psiTrigger: given("OOMWATCH_PSI_TRIGGER") ?? "/proc/pressure/memory",
    sysrqTrigger: sysrq ?? SYSRQ_TRIGGER,
    realPanic: sysrq === undefined,
    bootId: "/proc/sys/kernel/random/boot_id",
    kernelPanic: "/proc/sys/kernel/panic",
    proc: "/proc",
    tracefs: ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"],
    cpusOnline: "/sys/devices/system/cpu/online",
    kallsyms: "/proc/kallsyms",
    mountinfo: "/proc/self/mountinfo",
    watchdogClass: "/sys/class/watchdog",
    journal: given("JOURNAL_STREAM") !== undefined,
  };
}
