/**
 * `deno task fuzz [seconds-per-target] [seed] [target]`: fuzzes every
 * parser of outside input for longer than `deno task test` does, with a
 * random seed unless one is given, printed first so a failure can be
 * replayed. Each target runs in a worker: a parse that never returns is
 * stopped and reported with its case.
 *
 * `deno task fuzz --replay target:seed:case` runs one case again and
 * prints its input and outcome.
 *
 * Exit status: 0 when every invariant held, 1 when one broke, 2 for bad
 * arguments.
 *
 * @module
 */

import {
  caseOf,
  describeThrown,
  formatFailure,
  type FuzzFailure,
  type FuzzResult,
  type FuzzTarget,
  randomSeed,
  showInput,
} from "./_harness.ts";
import { TARGETS } from "./targets.ts";

/** How long past its budget a target may run before it counts as hung. */
const HANG_GRACE_MS = 15_000;

const USAGE =
  "usage: deno task fuzz [seconds-per-target] [seed] [target-name-part]\n" +
  "       deno task fuzz --replay target:seed:case";

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) {
    fail(`${what} must be a whole number, not '${text}'`);
  }
  return Number(text);
}

function fieldOf(value: object, key: string): unknown {
  return Object.entries(value).find(([name]) => name === key)?.[1];
}

/** A worker's answer, checked field by field. */
function readResult(text: string): FuzzResult {
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`bad worker answer ${text}`);
  }
  const number = (key: string): number => {
    const field = fieldOf(value, key);
    if (typeof field !== "number") throw new TypeError(`bad ${key} in ${text}`);
    return field;
  };
  const string = (object: object, key: string): string => {
    const field = fieldOf(object, key);
    if (typeof field !== "string") throw new TypeError(`bad ${key} in ${text}`);
    return field;
  };
  const failure = fieldOf(value, "failure");
  let read: FuzzFailure | null = null;
  if (typeof failure === "object" && failure !== null) {
    const seed = fieldOf(failure, "seed");
    const caseIndex = fieldOf(failure, "caseIndex");
    if (typeof seed !== "number" || typeof caseIndex !== "number") {
      throw new TypeError(`bad failure in ${text}`);
    }
    read = {
      target: string(failure, "target"),
      seed,
      caseIndex,
      input: string(failure, "input"),
      error: string(failure, "error"),
    };
  }
  return {
    target: string(value, "target"),
    cases: number("cases"),
    elapsedMs: number("elapsedMs"),
    slowRetries: number("slowRetries"),
    failure: read,
  };
}

/** Fuzzes `target` in a worker; a worker that does not answer in time is a hang. */
async function fuzzInWorker(
  target: FuzzTarget,
  seed: number,
  budgetMs: number,
): Promise<FuzzResult> {
  const progress = new SharedArrayBuffer(4);
  const channel = new MessageChannel();
  const worker = new Worker(new URL("./_worker.ts", import.meta.url), {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answer = new Promise<string>((resolve, reject) => {
    channel.port1.onmessage = (event: MessageEvent) =>
      resolve(String(event.data));
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
  });
  const hang = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), budgetMs + HANG_GRACE_MS);
  });
  worker.postMessage(
    { target: target.name, seed, budgetMs, progress, port: channel.port2 },
    [channel.port2],
  );
  try {
    const text = await Promise.race([answer, hang]);
    if (text !== null) return readResult(text);
    const index = Atomics.load(new Int32Array(progress), 0);
    return {
      target: target.name,
      cases: index + 1,
      elapsedMs: budgetMs + HANG_GRACE_MS,
      slowRetries: 0,
      failure: {
        target: target.name,
        seed,
        caseIndex: index,
        input: showInput(caseOf(target, seed, index).input),
        error: `no answer ${
          HANG_GRACE_MS / 1000
        } s after the budget: the case hangs`,
      },
    };
  } finally {
    clearTimeout(timer);
    worker.terminate();
    channel.port1.close();
  }
}

/** Runs one case in this thread and says what it did. */
function replay(spec: string): number {
  const match = /^([a-z-]+):(\d+):(\d+)$/.exec(spec);
  if (!match) fail(`--replay takes target:seed:case, not '${spec}'`);
  const target = TARGETS.find((known) => known.name === match[1]);
  if (target === undefined) fail(`no fuzz target '${match[1]}'`);
  const fuzzCase = caseOf(target, Number(match[2]), Number(match[3]));
  console.log(`target: ${target.name}\ninput:  ${showInput(fuzzCase.input)}`);
  try {
    fuzzCase.run();
    console.log("passed");
    return 0;
  } catch (error) {
    console.log(`failed: ${describeThrown(error)}`);
    return 1;
  }
}

async function main(args: string[]): Promise<number> {
  if (args[0] === "--replay") return replay(args[1] ?? "");
  if (args.some((arg) => arg.startsWith("-"))) {
    fail(`unknown option in ${args}`);
  }
  const seconds = args[0] === undefined ? 10 : wholeNumber(args[0], "seconds");
  const seed = args[1] === undefined
    ? randomSeed()
    : wholeNumber(args[1], "seed");
  const filter = args[2] ?? "";
  const targets = TARGETS.filter((target) => target.name.includes(filter));
  if (targets.length === 0) fail(`no fuzz target matches '${filter}'`);
  console.log(
    `oomwatch fuzz: seed ${seed}, about ${seconds} s per target ` +
      `(again: deno task fuzz ${seconds} ${seed}${filter ? ` ${filter}` : ""})`,
  );
  let failures = 0;
  for (const target of targets) {
    const budgetMs = seconds * 1000 * (target.weight ?? 1);
    const result = await fuzzInWorker(target, seed, budgetMs);
    const retries = result.slowRetries > 0
      ? `, ${result.slowRetries} slow once and fast again`
      : "";
    console.log(
      `${result.failure ? "FAIL" : "  ok"}  ${target.name.padEnd(28)} ${
        String(result.cases).padStart(8)
      } cases in ${(result.elapsedMs / 1000).toFixed(1)} s${retries}`,
    );
    if (result.failure) {
      failures++;
      console.log(formatFailure(result.failure));
    }
  }
  console.log(
    failures === 0
      ? `every invariant held (seed ${seed})`
      : `${failures} target(s) failed (seed ${seed})`,
  );
  return failures === 0 ? 0 : 1;
}

Deno.exit(await main(Deno.args));
