import assert from "node:assert/strict";
import {
  daemonLoggedAt,
  kernelStamps,
  secondsBetween,
  untangle,
} from "./serial_log.ts";

// Lines as the stall scenario's serial log holds them (CRLF from the UART).
const DAEMON_LINE =
  "2026-11-28T04:10:29.070Z WARN  [watchdog] OOM episode 1 started by memory-stall full stall 91% of the last 10 s";
const KERNEL_COPY =
  "[   12.073643] oomwatch: OOM episode 1 started by memory-stall full stall 91% of the last 10 s";
const KERNEL_OTHER = "[   12.074001] sysrq: Trigger a crash";

Deno.test("the kernel's copy of an event printed first does not hide the daemon's own stamp", () => {
  const log = `${KERNEL_COPY}\r\n${DAEMON_LINE}\r\n`;
  assert.equal(
    daemonLoggedAt(untangle(log), /OOM episode 1 started by memory-stall/),
    Date.parse("2026-11-28T04:10:29.070Z") / 1000,
  );
});

Deno.test("kernel records that cut into a daemon line are moved out, the line reads whole", () => {
  const cut = 37;
  const log = `${DAEMON_LINE.slice(0, cut)}${KERNEL_COPY}\r\n${
    DAEMON_LINE.slice(cut, 60)
  }${KERNEL_OTHER}\r\n${DAEMON_LINE.slice(60)}\r\nE2E: done\r\n`;
  assert.equal(
    untangle(log),
    `${KERNEL_COPY}\n${KERNEL_OTHER}\n${DAEMON_LINE}\nE2E: done\n`,
  );
  assert.equal(
    daemonLoggedAt(untangle(log), /OOM episode 1 started by memory-stall/),
    Date.parse("2026-11-28T04:10:29.070Z") / 1000,
  );
});

Deno.test("a log the kernel did not cut into is left as it is", () => {
  const log = `${DAEMON_LINE}\n${KERNEL_COPY}\n`;
  assert.equal(untangle(log), log);
  assert.equal(daemonLoggedAt(log, /no such event/), null);
});

Deno.test("time between two events: the kernel's copies when both are there, else the daemon's stamps", () => {
  const panicCopy =
    "[   22.034199] oomwatch: OOM episode 1 has lasted 10.0 s: running panic action 'panic'";
  const panicLine =
    "2026-11-28T04:10:39.030Z ERROR [watchdog] OOM episode 1 has lasted 10.0 s: running panic action 'panic'";
  const started = /OOM episode 1 started/;
  const action = /running panic action/;
  const both = [DAEMON_LINE, KERNEL_COPY, panicLine, panicCopy].join("\n");
  assert.equal(secondsBetween(both, started, action)?.toFixed(6), "9.960556");
  const daemonOnly = [DAEMON_LINE, panicLine].join("\n");
  assert.equal(
    secondsBetween(daemonOnly, started, action)?.toFixed(3),
    "9.960",
  );
  // The daemon's last line lost in the tty buffer at the panic: the kernel's copies still tell.
  const lastLineLost = [DAEMON_LINE, KERNEL_COPY, panicCopy].join("\n");
  assert.equal(
    secondsBetween(lastLineLost, started, action)?.toFixed(6),
    "9.960556",
  );
  assert.equal(secondsBetween(DAEMON_LINE, started, action), null);
});

Deno.test("kernelStamps() lists the stamps of the kernel's own records that match", () => {
  const log = [
    "[    7.210374] Out of memory: Killed process 148 (awk) total-vm:95448kB",
    "2026-11-28T04:10:29.070Z WARN  [watchdog] Out of memory: Killed process quoted",
    "[    8.147072] Out of memory: Killed process 149 (awk) total-vm:111832kB",
    KERNEL_OTHER,
  ].join("\n");
  assert.deepEqual(kernelStamps(log, /^Out of memory: Killed process/), [
    7.210374,
    8.147072,
  ]);
});
