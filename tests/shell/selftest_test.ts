// deno-lint-ignore-file no-sync-fn-in-async-fn
import assert from "node:assert/strict";
import { ENTRY_PATH, runFlags } from "../../scripts/run_flags.ts";
import { withScenario } from "../helpers/daemon.ts";
import { commandsNeed, privilegedTest, ROOT } from "../helpers/privilege.ts";

const CHECKS = [
  "reserve lock and release",
  "/proc/vmstat oom_kill",
  "/proc/meminfo",
  "/proc/pressure/memory",
  "kernel log",
  "PSI trigger",
  "SysRq trigger",
  "crash flag directory",
  "kernel.panic",
  "oom_score_adj",
  "daemon",
];

privilegedTest(
  "selftest passes as root: every check listed, no failure",
  [ROOT],
  () =>
    withScenario(null, async ({ cli, dir }) => {
      Deno.writeTextFileSync(`${dir}/sysrq`, "");
      const result = await cli(["selftest", "--bufsize", "8"]);
      for (const check of CHECKS) {
        assert.match(
          result.stdout,
          new RegExp(`^(pass|warn) +${check.replace(/[./]/g, "\\$&")} `, "m"),
          check,
        );
      }
      assert.doesNotMatch(result.stdout, /^fail /m, result.stdout);
      assert.ok(result.code <= 1, `exit ${result.code}`);
      assert.match(
        result.stdout,
        /^pass +reserve lock and release +8 MiB locked \(VmLck \+8 MiB\) and released$/m,
      );
      assert.equal(
        Deno.readTextFileSync(`${dir}/sysrq`),
        "",
        "nothing written",
      );
    }),
);

const NOBODY = commandsNeed(["setpriv"], "util-linux");

privilegedTest(
  "selftest run unprivileged reports what it lacks",
  [ROOT, NOBODY],
  async () => {
    const denoDir = Deno.makeTempDirSync({ prefix: "oomwatch-deno-dir-" });
    const flagDir = Deno.makeTempDirSync({ prefix: "oomwatch-selftest-" });
    try {
      Deno.chmodSync(denoDir, 0o777);
      const output = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "--inh-caps=-all",
          "--bounding-set=-all",
          "--",
          Deno.execPath(),
          "run",
          ...runFlags(),
          ENTRY_PATH,
          "selftest",
          "--bufsize",
          "32",
          "--gracetime",
          "30",
          "--crashflag-name",
          `${flagDir}/flag`,
          "--status-file",
          `${flagDir}/status.json`,
        ],
        env: { DENO_DIR: denoDir, HOME: denoDir },
        stdin: "null",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      assert.equal(
        output.code,
        2,
        stdout + new TextDecoder().decode(output.stderr),
      );
      assert.match(
        stdout,
        /^fail +reserve lock and release +cannot lock the 32 MiB reserve: .*RLIMIT_MEMLOCK/m,
      );
      assert.match(
        stdout,
        /^fail +crash flag directory /m,
        "a root-owned directory",
      );
      assert.match(stdout, /^(warn|fail) +SysRq trigger /m);
      assert.match(stdout, /^warn +oom_score_adj /m);
    } finally {
      Deno.removeSync(denoDir, { recursive: true });
      Deno.removeSync(flagDir, { recursive: true });
    }
  },
);
