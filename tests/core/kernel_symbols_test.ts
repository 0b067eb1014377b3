import assert from "node:assert/strict";
import {
  KallsymsScanner,
  type OomSymbols,
  scopeOfCallchain,
} from "../../src/core/kernel_symbols.ts";

const KALLSYMS = Deno.readTextFileSync(
  new URL("../fixtures/tracepoint/kallsyms-6.18.txt", import.meta.url),
);

function scan(text: string, pieces = 1): OomSymbols | { missing: string } {
  const scanner = new KallsymsScanner();
  const size = Math.ceil(text.length / pieces);
  for (let at = 0; at < text.length; at += size) {
    scanner.feed(new TextEncoder().encode(text.slice(at, at + size)));
  }
  return scanner.result();
}

Deno.test("KallsymsScanner finds 6.18's OOM paths, .cold parts included, in one piece or many", () => {
  const expected = {
    memcg: [[0xffffffff8168bab0n, 0xffffffff8168bbc0n]],
    global: [
      [0xffffffff8161e720n, 0xffffffff8161f510n],
      [0xffffffff81212482n, 0xffffffff8121248en],
      [0xffffffff815981f0n, 0xffffffff81598260n],
    ],
  };
  const sorted = (symbols: OomSymbols | { missing: string }) => {
    assert.ok(
      !("missing" in symbols),
      "missing" in symbols ? symbols.missing : "",
    );
    return {
      memcg: [...symbols.memcg],
      global: [...symbols.global].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    };
  };
  expected.global.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  assert.deepEqual(sorted(scan(KALLSYMS)), expected);
  assert.deepEqual(sorted(scan(KALLSYMS, 17)), expected);
});

Deno.test("KallsymsScanner says why when addresses are hidden or a marker is missing", () => {
  const hidden = KALLSYMS.replace(/^[0-9a-f]{16}/gm, "0000000000000000");
  const result = scan(hidden);
  assert.ok("missing" in result);
  assert.match(result.missing, /kptr_restrict/);
  const noMemcg = KALLSYMS.replace(
    " t mem_cgroup_out_of_memory\n",
    " t other\n",
  );
  const missing = scan(noMemcg);
  assert.ok("missing" in missing);
  assert.match(missing.missing, /no mem_cgroup_out_of_memory/);
});

Deno.test("KallsymsScanner ignores a marker name in a module and a span too wide to be one function", () => {
  const text = [
    "ffffffffc0000000 t mem_cgroup_out_of_memory\t[evil]",
    "ffffffff81000000 t mem_cgroup_out_of_memory",
    "ffffffff82000000 t far_away",
    "ffffffff81598000 T pagefault_out_of_memory",
    "ffffffff81598100 T next",
  ].join("\n");
  const result = scan(text);
  assert.ok("missing" in result, "the only memcg range was too wide");
});

Deno.test("scopeOfCallchain(): memcg wins over a page fault's global marker; neither says null", () => {
  const symbols: OomSymbols = {
    memcg: [[0x1000n, 0x1100n]],
    global: [[0x2000n, 0x2100n]],
  };
  const context = 0xffffffffffffff80n; // PERF_CONTEXT_KERNEL
  assert.equal(scopeOfCallchain([context, 0x10n, 0x1050n], symbols), "memcg");
  assert.equal(
    scopeOfCallchain([context, 0x2050n, 0x1050n], symbols),
    "memcg",
  );
  assert.equal(scopeOfCallchain([context, 0x2000n], symbols), "global");
  assert.equal(scopeOfCallchain([context, 0x2100n, 0x1100n], symbols), null);
  assert.equal(scopeOfCallchain([], symbols), null);
});
