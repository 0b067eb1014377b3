import assert from "node:assert/strict";
import { fallbackScope, KillLedger } from "../../src/core/kill_ledger.ts";

Deno.test("KillLedger: kills the log reported are not handed over again", () => {
  const ledger = new KillLedger(10);
  ledger.logged();
  ledger.logged();
  assert.equal(ledger.counter(12, 0, true), 0);
  assert.equal(ledger.counted, 2);
});

Deno.test("KillLedger: a kill the log has not explained waits for the grace, then is handed over", () => {
  const ledger = new KillLedger(0, 1000);
  assert.equal(ledger.counter(1, 0, true), 0);
  assert.equal(ledger.counter(1, 500, true), 0);
  assert.equal(ledger.counter(1, 1000, true), 1);
  assert.equal(ledger.counter(1, 5000, true), 0, "handed over once");
});

Deno.test("KillLedger: a late log line within the grace explains the kill", () => {
  const ledger = new KillLedger(0, 1000);
  assert.equal(ledger.counter(1, 0, true), 0);
  ledger.logged();
  assert.equal(ledger.counter(1, 2000, true), 0);
});

Deno.test("KillLedger: without a readable log every new kill is handed over at once", () => {
  const ledger = new KillLedger(5);
  assert.equal(ledger.counter(8, 0, false), 3);
  assert.equal(ledger.counter(8, 1, false), 0);
});

Deno.test("fallbackScope(): global only when memory was nearly exhausted", () => {
  const total = 1000 * 1024 * 1024;
  assert.equal(fallbackScope(total * 0.01, total), "global");
  assert.equal(fallbackScope(total * 0.5, total), "memcg");
  assert.equal(fallbackScope(Infinity, total), "memcg");
});
