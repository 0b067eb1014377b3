import assert from "node:assert/strict";
import { runFlags } from "../scripts/run_flags.ts";
import { commandsNeed, privilegedTest } from "./helpers/privilege.ts";

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

const SYSTEMD_ANALYZE = commandsNeed(["systemd-analyze"], "systemd");

privilegedTest("the systemd unit passes systemd-analyze verify", [
  SYSTEMD_ANALYZE,
], async () => {
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-unit-" });
  try {
    const unit = await Deno.readTextFile(
      new URL("../scripts/oomwatch.service", import.meta.url),
    );
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/oomwatch /m);
    for (
      const line of [
        "OOMScoreAdjust=-1000",
        "LimitMEMLOCK=infinity",
        "Restart=always",
      ]
    ) {
      assert.match(unit, new RegExp(`^${line}$`, "m"));
    }
    for (
      const forbidden of [
        "ProtectKernelTunables=yes",
        "ProtectKernelLogs=yes",
        "MemoryDenyWriteExecute=yes",
        "ProtectSystem=strict",
      ]
    ) {
      assert.doesNotMatch(
        unit,
        new RegExp(`^${forbidden}$`, "m"),
        `${forbidden} would break oomwatch`,
      );
    }
    // verify checks that ExecStart exists: point it at a binary that does.
    await Deno.writeTextFile(
      `${dir}/oomwatch.service`,
      unit.replace(
        /^ExecStart=\/usr\/local\/bin\/oomwatch/m,
        `ExecStart=${Deno.execPath()}`,
      ),
    );
    const result = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/oomwatch.service`],
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    assert.equal(stderr.trim(), "", "no warnings");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install.sh copies a binary that is oomwatch and its man page, and refuses a binary that is not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oomwatch-install-" });
  try {
    const script = new URL("../scripts/install.sh", import.meta.url).pathname;
    const fake = `${dir}/oomwatch`;
    await Deno.writeTextFile(fake, "#!/bin/sh\necho 'oomwatch 0.1.0'\n");
    await Deno.chmod(fake, 0o755);
    const run = (args: string[]) =>
      new Deno.Command("sh", {
        args: [script, ...args],
        env: { DESTDIR: `${dir}/root` },
      }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

    const help = await run(["--help"]);
    assert.equal(help.code, 0, decode(help.stderr));
    const usage = decode(help.stdout);
    assert.match(usage, /^Usage: /);
    for (const word of ["--binary PATH", "--enable", "DESTDIR", "oomwatch.8"]) {
      assert.ok(usage.includes(word), `--help names ${word}:\n${usage}`);
    }
    assert.match(usage, /[.!]\n$/, "--help ends with a full sentence");
    await assert.rejects(() => Deno.stat(`${dir}/root`), Deno.errors.NotFound);

    const installed = await run(["--binary", fake]);
    assert.equal(installed.code, 0, decode(installed.stderr));
    assert.equal(
      (await Deno.stat(`${dir}/root/usr/local/bin/oomwatch`)).mode! & 0o777,
      0o755,
    );
    const manPage = `${dir}/root/usr/local/share/man/man8/oomwatch.8`;
    assert.equal((await Deno.stat(manPage)).mode! & 0o777, 0o644);
    assert.equal(
      await Deno.readTextFile(manPage),
      await Deno.readTextFile(new URL("../docs/oomwatch.8", import.meta.url)),
    );
    assert.match(decode(installed.stdout), /installed .*\/man8\/oomwatch\.8/);
    await assert.rejects(() =>
      Deno.stat(`${dir}/root/etc/systemd/system/oomwatch.service`)
    );
    const enabled = await run(["--binary", fake, "--enable"]);
    assert.equal(enabled.code, 0);
    await Deno.stat(`${dir}/root/etc/systemd/system/oomwatch.service`);
    await Deno.writeTextFile(fake, "#!/bin/sh\necho 'deno 2.9.6'\n");
    const refused = await run(["--binary", fake]);
    assert.equal(refused.code, 1);
    assert.match(
      decode(refused.stderr),
      /not oomwatch's version; refusing/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
