/**
 * Reading the guest's serial console. The daemon's stderr and the kernel's
 * console records share one serial line: the kernel writes its records
 * straight to the UART while the daemon's line may still sit in the tty's
 * buffer, so a kernel record can land before the daemon's own line or in
 * the middle of it. The judge must read both orders.
 *
 * @module
 */

/** A kernel console record's stamp: seconds since boot, six decimals. */
const KERNEL_STAMP = /\[\s*(\d+\.\d{6})\] /;

/**
 * The log with CRLF made LF and every kernel record that cut into another
 * line moved in front of it, so each line the daemon wrote reads whole.
 */
export function untangle(log: string): string {
  const cutIn = new RegExp(
    `^([^\\n]*[^\\n])(${KERNEL_STAMP.source}[^\\n]*\\n)`,
    "m",
  );
  let text = log.replaceAll("\r\n", "\n").replaceAll("\r", "");
  for (let match = cutIn.exec(text); match; match = cutIn.exec(text)) {
    const [whole, before, record] = match;
    text = text.slice(0, match.index) + record + before +
      text.slice(match.index + whole.length);
  }
  return text;
}

/**
 * Seconds between the first events matching `from` and `to`, both on one
 * clock of the guest. The kernel's `oomwatch:` copies come first: the kernel
 * prints them whole and flushes them even in a panic, when the daemon's own
 * last line may still sit unsent in the tty buffer. Failing that, the
 * daemon's own wall-clock stamps.
 */
export function secondsBetween(
  log: string,
  from: RegExp,
  to: RegExp,
): number | null {
  for (const stampOf of [kernelStamp, daemonStamp]) {
    const start = firstStamp(log, from, stampOf);
    const end = firstStamp(log, to, stampOf);
    if (start !== null && end !== null) return end - start;
  }
  return null;
}

/** A line as a kernel console record: its stamp and its text, or null. */
function kernelRecord(line: string): { at: number; text: string } | null {
  const record = new RegExp(`^${KERNEL_STAMP.source}(.*)$`).exec(line);
  return record ? { at: Number(record[1]), text: record[2] } : null;
}

/** Seconds since boot of every kernel record whose text matches `pattern`. */
export function kernelStamps(log: string, pattern: RegExp): number[] {
  return log.split("\n").flatMap((line) => {
    const record = kernelRecord(line);
    return record && pattern.test(record.text) ? [record.at] : [];
  });
}

/** Seconds since boot of a kernel record that oomwatch wrote. */
function kernelStamp(line: string): number | null {
  const record = kernelRecord(line);
  return record?.text.startsWith("oomwatch: ") ? record.at : null;
}

/** Wall-clock seconds of a line the daemon wrote to stderr. */
function daemonStamp(line: string): number | null {
  const stamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /.exec(line);
  return stamp ? Date.parse(stamp[1]) / 1000 : null;
}

/** Wall-clock seconds of the first daemon line that matches `pattern`. */
export function daemonLoggedAt(log: string, pattern: RegExp): number | null {
  return firstStamp(log, pattern, daemonStamp);
}

function firstStamp(
  log: string,
  pattern: RegExp,
  stampOf: (line: string) => number | null,
): number | null {
  for (const line of log.split("\n")) {
    const stamp = pattern.test(line) ? stampOf(line) : null;
    if (stamp !== null) return stamp;
  }
  return null;
}
