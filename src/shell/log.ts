/**
 * Logging to stderr: one event a line, `TIME LEVEL [category] message`.
 * Written synchronously so a line is out before whatever comes next (a
 * panic, say) can stop the process.
 *
 * Under systemd (stderr is the journal: `JOURNAL_STREAM` is set) each line
 * starts with its syslog priority instead of a time, `<3>` … `<7>`
 * (sd-daemon(3)), so `journalctl -p warning` works. Critical events also go
 * to the kernel log, prefixed `oomwatch:`, where they land beside the
 * kernel's own OOM report and survive on serial consoles and in pstore.
 *
 * @module
 */

import type { LogLevel } from "../core/config.ts";
import type { ProblemId, Problems, Severity } from "../core/problems.ts";
import { isoTimestamp } from "../core/time.ts";
import { appendRecord } from "./safe_file.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Syslog priorities: err, warning, info, debug. */
const PRIORITY: Record<LogLevel, number> = {
  debug: 7,
  info: 6,
  warn: 4,
  error: 3,
};
const encoder = new TextEncoder();

/** Where log lines go; stderr unless a test captures them. */
export type LogSink = (line: string) => void;

function stderrSink(line: string): void {
  const bytes = encoder.encode(line);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

/** How lines are written: for a terminal or file, or for the journal. */
export interface LogFormat {
  /** stderr is the journal (Machine.journal): priorities instead of times. */
  journal: boolean;
}

/** Writes one record to the kernel log; failures are for the caller to ignore. */
export type KernelLogWriter = (priority: number, message: string) => void;

/** The kernel log writer for `path` (`/dev/kmsg`); each record is one write. */
export function kernelLogWriter(path: string): KernelLogWriter {
  return (priority, message) =>
    appendRecord(path, encoder.encode(`<${priority}>oomwatch: ${message}\n`));
}

/**
 * A logger for one category. Children nest under their parent
 * (`oomwatch.reserve`), as the folders of the code do.
 */
export class Logger {
  #level: { value: LogLevel };
  readonly #category: string;
  readonly #sink: LogSink;
  readonly #format: LogFormat;
  #shared: { kernel: KernelLogWriter | null };

  constructor(
    level: LogLevel,
    format: LogFormat,
    category = "oomwatch",
    sink: LogSink = stderrSink,
  ) {
    this.#level = { value: level };
    this.#category = category;
    this.#sink = sink;
    this.#format = format;
    this.#shared = { kernel: null };
  }

  /** A logger for a sub-category that shares this one's level and sinks. */
  child(category: string): Logger {
    const child = new Logger(
      this.#level.value,
      this.#format,
      `${this.#category}.${category}`,
      this.#sink,
    );
    child.#level = this.#level;
    child.#shared = this.#shared;
    return child;
  }

  /** Where critical events go besides stderr (null: nowhere). */
  setKernelLog(writer: KernelLogWriter | null): void {
    this.#shared.kernel = writer;
  }

  /**
   * A critical event (release, crash flag, countdown, panic): logged, and
   * written to the kernel log whatever the level.
   */
  critical(level: LogLevel, message: string): void {
    this.log(level, message);
    try {
      this.#shared.kernel?.(PRIORITY[level], message);
    } catch {
      // the kernel log is a second copy; stderr has the line
    }
  }

  /** Changes the level of this logger and every child (a reload). */
  setLevel(level: LogLevel): void {
    this.#level.value = level;
  }

  log(level: LogLevel, message: string): void {
    if (RANK[level] < RANK[this.#level.value]) return;
    if (this.#format.journal) {
      this.#sink(`<${PRIORITY[level]}>[${this.#category}] ${message}\n`);
      return;
    }
    const time = isoTimestamp(Date.now());
    this.#sink(
      `${time} ${
        level.toUpperCase().padEnd(5)
      } [${this.#category}] ${message}\n`,
    );
  }

  debug(message: string): void {
    this.log("debug", message);
  }
  info(message: string): void {
    this.log("info", message);
  }
  warn(message: string): void {
    this.log("warn", message);
  }
  error(message: string): void {
    this.log("error", message);
  }
}

/**
 * The daemon's problems, each logged once when it appears or changes and
 * once when it is cured (core/problems.ts keeps them for the status).
 */
export class ProblemLog {
  readonly problems: Problems;
  readonly #log: Logger;

  constructor(problems: Problems, log: Logger) {
    this.problems = problems;
    this.#log = log;
  }

  report(id: ProblemId, severity: Severity, message: string): void {
    if (this.problems.set(id, severity, message, Date.now())) {
      this.#log.log(severity === "critical" ? "error" : "warn", message);
    }
  }

  cure(id: ProblemId, message: string): void {
    if (this.problems.clear(id)) this.#log.info(message);
  }
}
