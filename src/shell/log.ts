/**
 * Logging to stderr: one event a line, `TIME LEVEL [category] message`.
 * Written synchronously so a line is out before whatever comes next (a
 * panic, say) can stop the process.
 *
 * @module
 */

import type { LogLevel } from "../core/config.ts";
import { isoTimestamp } from "../core/time.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
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

/** A logger for one category (`reserve`, `watchdog`, …). */
export class Logger {
  #level: { value: LogLevel };
  readonly #category: string;
  readonly #sink: LogSink;

  constructor(
    level: LogLevel,
    category = "oomwatch",
    sink: LogSink = stderrSink,
  ) {
    this.#level = { value: level };
    this.#category = category;
    this.#sink = sink;
  }

  /** A logger for a sub-category that shares this one's level and sink. */
  child(category: string): Logger {
    const child = new Logger(this.#level.value, category, this.#sink);
    child.#level = this.#level;
    return child;
  }

  /** Changes the level of this logger and every child (a reload). */
  setLevel(level: LogLevel): void {
    this.#level.value = level;
  }

  log(level: LogLevel, message: string): void {
    if (RANK[level] < RANK[this.#level.value]) return;
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
