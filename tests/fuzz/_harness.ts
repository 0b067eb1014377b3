/**
 * The fuzz harness: a small seeded PRNG, generators of hostile text and
 * bytes, mutators, and the runner that feeds a target's cases to its
 * parser within a time budget and reports the first broken invariant with
 * what replays it (seed, target, case number, input).
 *
 * Every case draws from its own PRNG, seeded from the run's seed, the
 * target's name and the case's number, so one case can be regenerated
 * alone (`deno task fuzz --replay target:seed:case`).
 *
 * @module
 */

/** A parse slower than this is reported as a possible catastrophic backtracking. */
export const SLOW_CALL_MS = 100;

/** Longest input text a failure report shows. */
const REPORT_INPUT_CHARS = 2048;

/**
 * mulberry32: a 32-bit seeded PRNG, small and fast, good enough to pick
 * inputs (not for cryptography).
 */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** A uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** An integer in [min, max] that favours small values (log-uniform length). */
  size(min: number, max: number): number {
    const span = max - min + 1;
    return min + Math.floor(Math.pow(span, this.float())) - 1;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One of `items` (which must not be empty). */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  /** `items` in a random order (a copy). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }
}

/** FNV-1a of a string, for seeding a target's cases. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** The seed of case `index` of `target` in a run seeded with `seed`. */
export function caseSeed(seed: number, target: string, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ hashString(target);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ Math.imul(index, 0x27d4eb2d);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A fresh random seed (for `deno task fuzz` without one). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

// ---------------------------------------------------------------------------
// Generators

/**
 * Strings that break parsers: numbers out of range or spelled oddly,
 * NaN-ish words, separators, control bytes, Unicode that looks like ASCII
 * or changes direction, lone surrogates.
 */
export const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "0",
  "-0",
  "-1",
  "00",
  "007",
  "1.5",
  ".5",
  "5.",
  "+5",
  "1e3",
  "1e400",
  "-1e400",
  "0x10",
  "0b1",
  "NaN",
  "Infinity",
  "-Infinity",
  "4294967296",
  "9007199254740993",
  "18446744073709551616",
  "99999999999999999999999999999999",
  "1".repeat(400),
  "\u0661\u0662", // Arabic-Indic digits
  "\uff15", // fullwidth 5
  "null",
  "true",
  "undefined",
  "[]",
  "{}",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "\0",
  "\t",
  "\r",
  "\n",
  "\r\n",
  "\v",
  "\f",
  "\x1b[31m",
  "\x7f",
  "\x85",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u202e",
  "\ufeff",
  "\ufffd",
  "\ud800",
  "\udfff",
  "\u{1f600}",
  "caf\u00e9",
  "\\",
  "\\x41",
  "\\x0a",
  "\\x5c",
  "'",
  '"',
  "`",
  "$(reboot)",
  "=",
  "==",
  "#",
  ";",
  ",",
  ":",
  "/",
  "//",
  "/a/",
  "/a b",
  "-",
  "--",
  "---x",
];

const ASCII_PRINTABLE = Array.from(
  { length: 95 },
  (_, i) => String.fromCharCode(0x20 + i),
).join("");

/** One character of a random class: printable ASCII mostly, then controls, Latin-1, BMP, astral, lone surrogates. */
export function randomChar(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.6) {
    return ASCII_PRINTABLE[rng.int(0, ASCII_PRINTABLE.length - 1)];
  }
  if (roll < 0.75) return String.fromCharCode(rng.int(0, 0x1f));
  if (roll < 0.82) return String.fromCharCode(rng.int(0x7f, 0xff));
  if (roll < 0.92) return String.fromCharCode(rng.int(0x100, 0xd7ff));
  if (roll < 0.97) return String.fromCodePoint(rng.int(0x10000, 0x10ffff));
  return String.fromCharCode(rng.int(0xd800, 0xdfff));
}

/** A random string of up to `max` characters. */
export function randomString(rng: Rng, max: number): string {
  const length = rng.size(0, max);
  let text = "";
  for (let i = 0; i < length; i++) text += randomChar(rng);
  return text;
}

/** Random bytes, `min` to `max` of them. */
export function randomBytes(rng: Rng, min: number, max: number): Uint8Array {
  const bytes = new Uint8Array(rng.size(min, max));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
  return bytes;
}

/** Bytes as a file read with a (lossy) UTF-8 decoder would give them. */
export function decodeLossy(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The bytes of `parts`, one after the other. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A number as text, in range or far out of it. */
export function numberText(rng: Rng): string {
  switch (rng.int(0, 5)) {
    case 0:
      return String(rng.int(0, 9));
    case 1:
      return String(rng.int(0, 100_000));
    case 2:
      return String(rng.next());
    case 3:
      return "9".repeat(rng.int(10, 30));
    case 4:
      return `${rng.int(0, 100)}.${rng.int(0, 99)}`;
    default:
      return rng.pick(HOSTILE_STRINGS);
  }
}

/** Something to splice into text: a hostile string, random characters, or a long run. */
export function hostileFragment(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.5) return rng.pick(HOSTILE_STRINGS);
  if (roll < 0.8) return randomString(rng, 12);
  if (roll < 0.95) return numberText(rng);
  return rng.pick(["a", "0", " ", "=", "\\x", ",", "/", "("]).repeat(
    rng.size(100, 20_000),
  );
}

/**
 * Applies 1–4 random edits to `text`: insert, delete, duplicate or repeat a
 * span, replace a character, truncate, swap spans, line ends to CRLF, NUL,
 * case flip.
 */
export function mutateText(rng: Rng, text: string): string {
  let out = text;
  const edits = rng.int(1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(0, out.length);
    const span = rng.size(0, Math.max(1, out.length - at));
    switch (rng.int(0, 10)) {
      case 0:
      case 1:
        out = out.slice(0, at) + hostileFragment(rng) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at + span);
        break;
      case 3:
        out = out.slice(0, at + span) + out.slice(at, at + span) +
          out.slice(at + span);
        break;
      case 4:
        out = out.slice(0, at) +
          out.slice(at, at + Math.min(span, 64)).repeat(rng.size(2, 300)) +
          out.slice(at + span);
        break;
      case 5:
        out = out.slice(0, at) + randomChar(rng) + out.slice(at + 1);
        break;
      case 6:
        out = out.slice(0, at);
        break;
      case 7: {
        const other = rng.int(0, out.length);
        const [a, b] = at < other ? [at, other] : [other, at];
        const mid = rng.int(a, b);
        out = out.slice(0, a) + out.slice(mid, b) + out.slice(a, mid) +
          out.slice(b);
        break;
      }
      case 8:
        out = out.replaceAll("\n", "\r\n");
        break;
      case 9:
        out = out.slice(0, at) + "\0" + out.slice(at);
        break;
      default:
        out = out.slice(0, at) + out.slice(at, at + span).toUpperCase() +
          out.slice(at + span);
    }
  }
  return out;
}

/** Drops, duplicates, swaps or inserts whole lines. */
export function mutateLines(rng: Rng, lines: readonly string[]): string[] {
  const out = [...lines];
  const edits = rng.int(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(0, Math.max(0, out.length - 1));
    switch (rng.int(0, 4)) {
      case 0:
        out.splice(at, 1);
        break;
      case 1:
        if (out.length > 0) out.splice(at, 0, out[at]);
        break;
      case 2:
        if (out.length > 1) {
          const other = rng.int(0, out.length - 1);
          [out[at], out[other]] = [out[other], out[at]];
        }
        break;
      case 3:
        out.splice(at, 0, hostileFragment(rng));
        break;
      default:
        if (out.length > 0) out[at] = mutateText(rng, out[at]);
    }
  }
  return out;
}

/**
 * Text as /dev/kmsg renders the bytes the kernel printed: every byte below
 * 0x20, from 0x7f up, and the backslash as lowercase `\xNN`.
 */
export function kmsgEscape(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    out += byte < 0x20 || byte >= 0x7f || byte === 0x5c
      ? `\\x${byte.toString(16).padStart(2, "0")}`
      : String.fromCharCode(byte);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Running

/** A broken invariant: what the parser did that it must not. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantError";
  }
}

/** A single parse took longer than {@link SLOW_CALL_MS}. */
export class SlowCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SlowCallError";
  }
}

/**
 * Runs one parser call and measures it: a call slower than
 * {@link SLOW_CALL_MS} throws {@link SlowCallError}.
 */
export function timed<T>(what: string, call: () => T): T {
  const start = performance.now();
  let value: T;
  try {
    value = call();
  } catch (error) {
    checkDuration(what, start);
    throw error;
  }
  checkDuration(what, start);
  return value;
}

function checkDuration(what: string, start: number): void {
  const elapsed = performance.now() - start;
  if (elapsed > SLOW_CALL_MS) {
    throw new SlowCallError(
      `${what} took ${
        elapsed.toFixed(0)
      } ms (limit ${SLOW_CALL_MS} ms): possible catastrophic backtracking`,
    );
  }
}

/** What a call gave: its value, or the exception it threw. */
export type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: unknown };

/**
 * Runs `call` timed and catches what it throws, except a
 * {@link SlowCallError}, which the runner must see.
 */
export function attempt<T>(what: string, call: () => T): Outcome<T> {
  try {
    return { ok: true, value: timed(what, call) };
  } catch (error) {
    if (error instanceof SlowCallError) throw error;
    return { ok: false, error };
  }
}

/** The error, with its stack, as text for a report. */
export function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    return error.stack ?? `${error.name}: ${error.message}`;
  }
  return `a thrown non-Error: ${String(error)}`;
}

/**
 * Runs `call`, which may throw only what `allowed` accepts: another
 * exception is an {@link InvariantError} naming it. Returns the value, or
 * the allowed error.
 */
export function expectOnly<T, E>(
  what: string,
  call: () => T,
  allowed: (error: unknown) => error is E,
): { ok: true; value: T } | { ok: false; error: E } {
  const outcome = attempt(what, call);
  if (outcome.ok) return outcome;
  if (allowed(outcome.error)) return { ok: false, error: outcome.error };
  throw new InvariantError(
    `${what} threw an undocumented exception: ${describeThrown(outcome.error)}`,
  );
}

/** A character that must never reach the log raw: C0, DEL and C1 controls. */
// deno-lint-ignore no-control-regex
export const UNSAFE = /[\x00-\x1f\x7f-\x9f]/;

/** Throws an {@link InvariantError} unless `condition` holds. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** One generated input and the checks on it. */
export interface FuzzCase {
  /** The input as JSON-friendly data, for the failure report. */
  readonly input: unknown;
  /** Feeds the input to the parser(s); throws on a broken invariant. */
  run(): void;
}

/** One parser (or property) under fuzzing. */
export interface FuzzTarget {
  /** Short name, for reports and `--replay`. */
  readonly name: string;
  /** What must hold, as a sentence (the Deno.test name). */
  readonly claim: string;
  /** Share of the per-target budget this target gets (default 1). */
  readonly weight?: number;
  generate(rng: Rng): FuzzCase;
}

/** How a run went wrong, with what replays it. */
export interface FuzzFailure {
  target: string;
  seed: number;
  caseIndex: number;
  /** The input, JSON-escaped, truncated to 2 KiB. */
  input: string;
  error: string;
}

/** The outcome of fuzzing one target. */
export interface FuzzResult {
  target: string;
  cases: number;
  elapsedMs: number;
  /** Cases that were slow once and fast when run again (a GC pause, a busy machine). */
  slowRetries: number;
  failure: FuzzFailure | null;
}

/** Bigints and byte arrays are shown as JSON can. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return { bytes: [...value] };
  return value;
}

/** An input for a report: JSON, at most 2 KiB of it. */
export function showInput(input: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(input, jsonReplacer) ?? String(input);
  } catch (error) {
    text = `(cannot show the input: ${describeThrown(error)})`;
  }
  return text.length > REPORT_INPUT_CHARS
    ? `${text.slice(0, REPORT_INPUT_CHARS)}… (${text.length} chars in all)`
    : text;
}

/** Regenerates case `index` of `target` for `seed`. */
export function caseOf(
  target: FuzzTarget,
  seed: number,
  index: number,
): FuzzCase {
  return target.generate(new Rng(caseSeed(seed, target.name, index)));
}

/** Generates and runs one case: its input, and the error it raised or null. */
function runCase(
  target: FuzzTarget,
  seed: number,
  index: number,
): { input: unknown; error: unknown } {
  let input: unknown = "(the generator threw before making the input)";
  try {
    const fuzzCase = caseOf(target, seed, index);
    input = fuzzCase.input;
    fuzzCase.run();
    return { input, error: null };
  } catch (error) {
    return { input, error };
  }
}

/** Options of {@link fuzzTarget}. */
export interface FuzzOptions {
  seed: number;
  budgetMs: number;
  /** Stop after this many cases even within the budget. */
  maxCases?: number;
  /** First case number (default 0). */
  firstCase?: number;
  /** Called before each case with its number (a hang watchdog's progress). */
  onCase?: (index: number) => void;
}

/**
 * Fuzzes `target` until the budget is spent or an invariant breaks. A case
 * that is slow is run twice more: it fails only when it is slow every time.
 */
export function fuzzTarget(
  target: FuzzTarget,
  options: FuzzOptions,
): FuzzResult {
  const start = performance.now();
  const maxCases = options.maxCases ?? Infinity;
  let index = options.firstCase ?? 0;
  let cases = 0;
  let slowRetries = 0;
  while (cases < maxCases && performance.now() - start < options.budgetMs) {
    options.onCase?.(index);
    const { input, error: first } = runCase(target, options.seed, index);
    let error = first;
    for (
      let retry = 0;
      retry < 2 && error instanceof SlowCallError;
      retry++
    ) {
      const again = runCase(target, options.seed, index).error;
      if (!(again instanceof SlowCallError)) {
        slowRetries++;
        error = again;
      }
    }
    cases++;
    if (error !== null) {
      return {
        target: target.name,
        cases,
        elapsedMs: performance.now() - start,
        slowRetries,
        failure: {
          target: target.name,
          seed: options.seed,
          caseIndex: index,
          input: showInput(input),
          error: describeThrown(error),
        },
      };
    }
    index++;
  }
  return {
    target: target.name,
    cases,
    elapsedMs: performance.now() - start,
    slowRetries,
    failure: null,
  };
}

/** A failure as a person reads it, with the command that replays it. */
export function formatFailure(failure: FuzzFailure): string {
  return [
    `fuzz target '${failure.target}' failed`,
    `  seed:   ${failure.seed} (case ${failure.caseIndex})`,
    `  replay: deno task fuzz --replay ${failure.target}:${failure.seed}:${failure.caseIndex}`,
    `  input:  ${failure.input}`,
    `  error:  ${failure.error.replaceAll("\n", "\n          ")}`,
  ].join("\n");
}
