import assert from "node:assert/strict";
import { codeMappings, parseMaps } from "../../src/core/maps.ts";
import { parseSmaps, sheddableMappings } from "../../src/core/smaps.ts";

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

const SMAPS = `55d0c0000000-55d0c2000000 r--p 00000000 fd:01 1234 /usr/bin/deno
Size:              32768 kB
Rss:               11576 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
55d0c2000000-55d0c6000000 r-xp 02000000 fd:01 1234 /usr/bin/deno
Size:              65536 kB
Rss:                9424 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:             9424 kB
55d0c6000000-55d0c6100000 r--p 06000000 fd:01 1234 /usr/bin/deno
Size:               1024 kB
Rss:                1024 kB
Anonymous:          1020 kB
Swap:                  0 kB
Locked:                0 kB
55d0c6100000-55d0c6200000 rw-p 06100000 fd:01 1234 /usr/bin/deno
Size:               1024 kB
Rss:                1024 kB
Anonymous:          1024 kB
Swap:                  0 kB
55d0c6200000-55d0c6300000 r--p 06200000 fd:01 1234 /usr/bin/deno
Size:               1024 kB
Rss:                1016 kB
Anonymous:             0 kB
Swap:                  8 kB
7f1000000000-7f1000020000 r--p 00000000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                128 kB
Rss:                   0 kB
Anonymous:             0 kB
Swap:                  0 kB
7f1000020000-7f1000040000 r-xp 00020000 fd:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                128 kB
Rss:                 128 kB
`;

Deno.test("parseSmaps() reads each mapping's sizes, and null for a field a cut text lacks", () => {
  const mappings = parseSmaps(SMAPS);
  assert.equal(mappings.length, 7);
  assert.deepEqual(mappings[2], {
    start: 0x55d0c6000000n,
    end: 0x55d0c6100000n,
    permissions: "r--p",
    path: "/usr/bin/deno",
    sizeBytes: 1024 * 1024,
    rssBytes: 1024 * 1024,
    anonymousBytes: 1020 * 1024,
    swapBytes: 0,
    lockedBytes: 0,
  });
  assert.equal(mappings[1].lockedBytes, 9424 * 1024);
  assert.equal(mappings[4].swapBytes, 8 * 1024);
  assert.equal(mappings[6].rssBytes, 128 * 1024);
  assert.equal(mappings[6].anonymousBytes, null);
});

Deno.test("sheddableMappings() keeps resident read-only file pages with no written copy among them", () => {
  assert.deepEqual(
    sheddableMappings(parseSmaps(SMAPS)).map((m) => m.start),
    // Not: the RELRO-like r--p with written pages, the writable data, the
    // one whose written pages are swapped out, the mapping with nothing
    // resident, the one whose Anonymous count was cut.
    [0x55d0c0000000n, 0x55d0c2000000n],
  );
});

Deno.test("sheddableMappings() on this process's real smaps: the Deno binary's text, never a mapping with written pages", () => {
  const mappings = parseSmaps(Deno.readTextFileSync("/proc/self/smaps"));
  const sheddable = sheddableMappings(mappings);
  assert.ok(
    sheddable.some((m) =>
      m.path === Deno.execPath() && m.permissions === "r-xp"
    ),
  );
  // The Deno binary's read-only data (V8's start-up snapshot in it).
  assert.ok(
    sheddable.some((m) =>
      m.path === Deno.execPath() && m.permissions === "r--p"
    ),
  );
  // The dynamic linker's RELRO segments: read-only now, written once.
  assert.ok(
    mappings.some((m) =>
      m.permissions === "r--p" && (m.anonymousBytes ?? 0) > 0 &&
      !sheddable.includes(m)
    ),
  );
});
