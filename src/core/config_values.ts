/**
 * The parsers (and printers) of parameter values: text from a flag or a
 * config file line in, a typed value or undefined (refused) out.
 *
 * @module
 */

import type { MemcgOomPolicy } from "./config.ts";

/** Parses a value; undefined when it is not allowed. */
export type Parser<T> = (raw: string) => T | undefined;

export function wholeNumber(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  };
}

export function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => values.find((value) => value === raw.trim());
}

export const zeroOrOne: Parser<boolean> = (raw) => {
  const text = raw.trim();
  if (text === "1") return true;
  if (text === "0") return false;
  return undefined;
};

export const printFlag = (value: boolean): string => value ? "1" : "0";

/** No control characters: a path is printed in logs and status files. */
function isAbsoluteFilePath(text: string): boolean {
  return text.startsWith("/") && !text.endsWith("/") &&
    // deno-lint-ignore no-control-regex
    !/[\x00-\x1f\x7f]/.test(text);
}

export const absolutePath: Parser<string> = (raw) => {
  const text = raw.trim();
  return isAbsoluteFilePath(text) ? text : undefined;
};

/**
 * `0`, `1`, or comma-separated cgroup paths as the kernel log names them
 * (`/system.slice/db.service`): each absolute, without a trailing slash,
 * and without an empty, `.` or `..` component — the kernel never prints
 * one, and the covered cgroups' counters are read at these paths below
 * the hierarchy's mount, which `..` would leave.
 */
export const memcgPolicy: Parser<MemcgOomPolicy> = (raw) => {
  const text = raw.trim();
  if (text === "0") return { kind: "none" };
  if (text === "1") return { kind: "all" };
  const prefixes = text.split(",").map((part) => part.trim());
  const valid = prefixes.every((prefix) =>
    prefix === "/" ||
    (isAbsoluteFilePath(prefix) &&
      prefix.slice(1).split("/").every((part) =>
        part !== "" && part !== "." && part !== ".."
      ))
  );
  return valid && prefixes.length > 0
    ? { kind: "prefixes", prefixes }
    : undefined;
};

export function printMemcgPolicy(policy: MemcgOomPolicy): string {
  switch (policy.kind) {
    case "none":
      return "0";
    case "all":
      return "1";
    case "prefixes":
      return policy.prefixes.join(",");
  }
}

/** A shell command on one line (run with sh -c), or empty for none. */
export const shellCommand: Parser<string> = (raw) =>
  // deno-lint-ignore no-control-regex
  /[\x00\n\r]/.test(raw) ? undefined : raw.trim();
