/**
 * The fuzz targets as part of `deno task test`: a fixed seed and a short
 * budget per target (weighted: the kernel log properties get more), so a
 * run takes about ten seconds. `deno task fuzz` runs them longer, with a
 * random seed.
 *
 * @module
 */

import { formatFailure, fuzzTarget } from "./_harness.ts";
import { TARGETS } from "./targets.ts";

/** The seed of the test suite's runs; a failure prints the case to replay. */
const SEED = 20_240_611;
/** Milliseconds per target of weight 1. */
const BUDGET_MS = 600;

for (const target of TARGETS) {
  Deno.test(`fuzzing: ${target.claim}`, () => {
    const result = fuzzTarget(target, {
      seed: SEED,
      budgetMs: BUDGET_MS * (target.weight ?? 1),
    });
    if (result.failure) throw new Error(formatFailure(result.failure));
    if (result.cases < 10) {
      throw new Error(`only ${result.cases} cases of ${target.name} ran`);
    }
  });
}
