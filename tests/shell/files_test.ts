import assert from "node:assert/strict";
import { removeOwnFile, writeFileAtomic } from "../../src/shell/safe_file.ts";
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
