import assert from "node:assert/strict";
import { codeMappings, parseMaps } from "../../src/core/maps.ts";

const MAPS = `55d0c0000000-55d0c2000000 r--p 00000000 fd:01 1234 /usr/bin/deno
55d0c2000000-55d0c6000000 r-xp 02000000 fd:01 1234 /usr/bin/deno
55d0c6000000-55d0c6100000 rw-p 06000000 fd:01 1234 /usr/bin/deno
55d0c7000000-55d0c7100000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0002000000 rw-p 00000000 00:00 0
7f1000000000-7f1000020000 r-xp 00000000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1000100000-7f1000101000 r-xp 00000000 fd:01 77 /tmp/gone.so (deleted)
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
7ffd0000`;

Deno.test("parseMaps() reads addresses, permissions and paths, skipping a cut line", () => {
  const mappings = parseMaps(MAPS);
  assert.equal(mappings.length, 8);
  assert.deepEqual(mappings[1], {
    start: 0x55d0c2000000n,
    end: 0x55d0c6000000n,
    permissions: "r-xp",
    path: "/usr/bin/deno",
  });
  assert.equal(mappings[4].path, "");
  assert.equal(mappings[3].path, "[heap]");
});

Deno.test("codeMappings() keeps the read-only file-backed mappings only", () => {
  assert.deepEqual(
    codeMappings(parseMaps(MAPS)).map((m) => `${m.permissions} ${m.path}`),
    [
      "r--p /usr/bin/deno",
      "r-xp /usr/bin/deno",
      "r-xp /usr/lib/x86_64-linux-gnu/libc.so.6",
    ],
  );
});

Deno.test("parseMaps() reads this process's real maps", () => {
  const mappings = parseMaps(Deno.readTextFileSync("/proc/self/maps"));
  assert.ok(codeMappings(mappings).some((m) => m.path === Deno.execPath()));
});
