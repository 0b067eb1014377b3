import assert from "node:assert/strict";
import { runFlags } from "../scripts/run_flags.ts";

Deno.test("runFlags() reads the daemon's flags from the start task", () => {
  const flags = runFlags();
  assert.ok(flags.includes("-A"), flags.join(" "));
  assert.ok(!flags.includes("src/main.ts"));
  const denoJson = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  assert.equal(denoJson.tasks.start, `deno run ${flags.join(" ")} src/main.ts`);
});

Deno.test("the compile task refuses a binary that is not oomwatch (DENORT_BIN pointing at deno)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-compile-" });
  try {
    const output = `${dir}/oomwatch`;
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile", "--output", output],
      cwd: new URL("..", import.meta.url).pathname,
      env: { DENORT_BIN: Deno.execPath() },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 1, stderr);
    assert.match(stderr, /--version printed 'deno /);
    assert.match(stderr, /expected 'oomwatch /);
    await assert.rejects(() => Deno.stat(output), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
