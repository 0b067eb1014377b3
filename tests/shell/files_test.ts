// Tests read small files synchronously between awaits.
// deno-lint-ignore-file no-sync-fn-in-async-fn
import assert from "node:assert/strict";
import {
  readRegularFile,
  removeOwnFile,
  writeFileAtomic,
} from "../../src/shell/safe_file.ts";
import { formatCrashFlag, parseCrashFlag } from "../../src/core/crash_flag.ts";
import { temporaryDirectory } from "../helpers/daemon.ts";

Deno.test("writeFileAtomic() replaces a symlink at the final path instead of following it", () => {
  const dir = temporaryDirectory();
  try {
    const victim = `${dir}/precious`;
    Deno.writeTextFileSync(victim, "keep me");
    Deno.symlinkSync(victim, `${dir}/flag`);
    writeFileAtomic(`${dir}/flag`, "flag text\n");
    assert.equal(Deno.readTextFileSync(victim), "keep me");
    assert.equal(Deno.lstatSync(`${dir}/flag`).isSymlink, false);
    assert.equal(Deno.readTextFileSync(`${dir}/flag`), "flag text\n");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["flag", "precious"],
      "no temporary file left",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() leaves nothing behind when the directory is missing", () => {
  const dir = temporaryDirectory();
  try {
    assert.throws(
      () => writeFileAtomic(`${dir}/none/flag`, "x"),
      /ENOENT/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("removeOwnFile() removes only the file it wrote: not a link, a directory or a replacement put there since", () => {
  const dir = temporaryDirectory();
  try {
    const flag = `${dir}/flag`;
    const written = writeFileAtomic(flag, "ours\n");
    assert.equal(removeOwnFile(flag, written), "removed");
    assert.equal(removeOwnFile(flag, written), "absent");
    const again = writeFileAtomic(flag, "ours\n");
    Deno.removeSync(flag);
    Deno.writeTextFileSync(flag, "someone else's\n");
    assert.equal(removeOwnFile(flag, again), "not-ours");
    assert.equal(Deno.readTextFileSync(flag), "someone else's\n");
    Deno.removeSync(flag);
    Deno.writeTextFileSync(`${dir}/target`, "x");
    Deno.symlinkSync(`${dir}/target`, flag);
    assert.equal(removeOwnFile(flag, again), "not-ours");
    Deno.removeSync(flag);
    Deno.mkdirSync(flag);
    assert.equal(removeOwnFile(flag, again), "not-ours");
    assert.ok(Deno.statSync(flag).isDirectory, "a directory is never removed");
    assert.equal(Deno.readTextFileSync(`${dir}/target`), "x");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a crash flag reads back as written, one value a line", () => {
  const flag = {
    started: "2026-11-28T02:00:00.000Z",
    trigger: "global-oom",
    detail: "kill of awk (pid 97)\nsecond line",
    victim: "awk (pid 97)",
    bootId: "0b8c3a6e-1111-2222-3333-444455556666",
    pid: 42,
    episode: 3,
  };
  const text = formatCrashFlag(flag);
  assert.match(text, /^boot_id=0b8c3a6e-1111-2222-3333-444455556666$/m);
  assert.deepEqual(parseCrashFlag(text), {
    ...flag,
    detail: "kill of awk (pid 97) second line",
  });
  assert.deepEqual(parseCrashFlag("garbage\npid=x\n"), {});
});

Deno.test("writeFileAtomic() takes another unpredictable name when a planted file holds the one it drew", () => {
  const dir = temporaryDirectory();
  const real = crypto.getRandomValues.bind(crypto);
  try {
    // The first name drawn is one an attacker planted; the next is free.
    const draws = [new Uint8Array(8).fill(0xab)];
    Deno.writeTextFileSync(`${dir}/.flag.abababababababab.tmp`, "planted\n");
    const draw = (array: Uint8Array): Uint8Array => {
      const next = draws.shift();
      if (next === undefined) return real(array);
      array.set(next);
      return array;
    };
    Object.defineProperty(crypto, "getRandomValues", {
      value: draw,
      configurable: true,
    });
    writeFileAtomic(`${dir}/flag`, "flag text\n");
    assert.equal(draws.length, 0, "the planted name was drawn first");
    assert.equal(Deno.readTextFileSync(`${dir}/flag`), "flag text\n");
    assert.equal(
      Deno.readTextFileSync(`${dir}/.flag.abababababababab.tmp`),
      "planted\n",
      "the planted file is left as it was",
    );
  } finally {
    Object.defineProperty(crypto, "getRandomValues", {
      value: real,
      configurable: true,
    });
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() refuses a FIFO or a directory at the path, and leaves it", async () => {
  const dir = temporaryDirectory();
  try {
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    Deno.mkdirSync(`${dir}/directory`);
    for (
      const [name, what] of [
        ["fifo", /is a FIFO/],
        ["directory", /is a directory/],
      ] as const
    ) {
      assert.throws(() => writeFileAtomic(`${dir}/${name}`, "x"), what);
      assert.ok(Deno.lstatSync(`${dir}/${name}`), `${name} left`);
    }
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["directory", "fifo"],
      "no temporary left behind",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readRegularFile() refuses a FIFO without blocking, a device, a symlink, and a file over its cap", async () => {
  const dir = temporaryDirectory();
  try {
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    Deno.writeTextFileSync(`${dir}/big`, "x".repeat(2048));
    Deno.symlinkSync(`${dir}/big`, `${dir}/link`);
    assert.throws(
      () => readRegularFile(`${dir}/fifo`),
      /is a FIFO, not a regular file/,
    );
    assert.throws(() => readRegularFile("/dev/zero"), /is a character device/);
    assert.throws(
      () => readRegularFile(`${dir}/link`),
      /is a symbolic link, which oomwatch does not follow here/,
    );
    assert.equal(
      readRegularFile(`${dir}/link`, { followSymlink: true }).length,
      2048,
    );
    assert.throws(
      () => readRegularFile(`${dir}/big`, { maxBytes: 1024 }),
      /is larger than 1024 bytes/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
