import assert from "node:assert/strict";
import {
  removeFileDurably,
  writeFileAtomic,
} from "../../src/shell/atomic_file.ts";
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
      Deno.errors.NotFound,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("removeFileDurably() removes a link, not its target, and says whether anything was there", () => {
  const dir = temporaryDirectory();
  try {
    Deno.writeTextFileSync(`${dir}/target`, "x");
    Deno.symlinkSync(`${dir}/target`, `${dir}/flag`);
    assert.equal(removeFileDurably(`${dir}/flag`), true);
    assert.equal(Deno.readTextFileSync(`${dir}/target`), "x");
    assert.equal(removeFileDurably(`${dir}/flag`), false);
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
