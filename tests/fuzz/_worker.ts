/**
 * Runs one fuzz target off the main thread, so that `deno task fuzz` can
 * stop a parse that never returns and still name its case: the case number
 * is kept in a shared buffer the main thread reads.
 *
 * Message in: `{ target, seed, budgetMs, progress, port }`; the result
 * (a {@link FuzzResult}) goes out on `port`.
 *
 * @module
 */

import { fuzzTarget } from "./_harness.ts";
import { TARGETS } from "./targets.ts";

globalThis.addEventListener("message", (event: Event) => {
  if (!(event instanceof MessageEvent)) return;
  const data: unknown = event.data;
  if (
    typeof data !== "object" || data === null || !("port" in data) ||
    !(data.port instanceof MessagePort) || !("progress" in data) ||
    !(data.progress instanceof SharedArrayBuffer) || !("target" in data) ||
    !("seed" in data) || typeof data.seed !== "number" ||
    !("budgetMs" in data) || typeof data.budgetMs !== "number"
  ) {
    throw new TypeError("the fuzz worker got a malformed request");
  }
  const target = TARGETS.find((known) => known.name === data.target);
  if (target === undefined) {
    throw new TypeError(`no fuzz target ${String(data.target)}`);
  }
  const progress = new Int32Array(data.progress);
  const result = fuzzTarget(target, {
    seed: data.seed,
    budgetMs: data.budgetMs,
    onCase: (index) => Atomics.store(progress, 0, index),
  });
  data.port.postMessage(JSON.stringify(result));
});
