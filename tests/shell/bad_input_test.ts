// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Bad input stops the daemon with exit code 2 and a message naming the key
 * and the value, before any side effect: no reserve, no flag, no file.
 */

import assert from "node:assert/strict";
import { DaemonProcess, temporaryDirectory } from "../helpers/daemon.ts";

interface Case {
  name: string;
  args: (dir: string) => string[];
  config?: string;
  /** What the message must name. */
  names: RegExp[];
}

const memTotalMiB = Math.floor(
  Number(
    /^MemTotal:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1],
  ) / 1024,
);

const cases: Case[] = [
  {
    name: "an unknown flag",
    args: () => ["--bogus-flag", "1"],
    names: [/bogus-flag/],
  },
  {
    name: "a negative bufsize",
    args: () => ["--bufsize", "-5"],
    names: [/bufsize/, /'-5'/],
  },
  {
    name: "a non-numeric gracetime",
    args: () => ["--gracetime", "soon"],
    names: [/gracetime/, /'soon'/],
  },
  {
    name: "a bufsize larger than MemTotal",
    args: () => ["--bufsize", String(memTotalMiB + 1)],
    names: [/bufsize/, new RegExp(`'${memTotalMiB + 1}'`), /MemTotal/],
  },
  {
    name: "an unknown config key",
    args: () => [],
    config: "bufsize = 8\nvm.oom_ext.bufsiz = 16\n",
    names: [/'bufsiz'/, /:2/],
  },
  {
    name: "an invalid config value",
    args: () => [],
    config: "vm.oom_ext.resettime = forever\n",
    names: [/resettime/, /'forever'/],
  },
  {
    name: "a config file that does not exist",
    args: (dir) => ["--config", `${dir}/missing.conf`],
    names: [/--config/, /missing\.conf/, /no such file/],
  },
  {
    name: "a crash-flag path whose directory does not exist",
    args: (dir) => ["--crashflag-name", `${dir}/no/such/dir/flag`],
    names: [/crashflag_name/, /no\/such\/dir\/flag/, /does not exist/],
  },
  {
    name: "an unknown panic action",
    args: () => ["--panic-action", "explode"],
    names: [/panic_action/, /'explode'/, /panic, reboot, poweroff, none/],
  },
  {
    name: "an unknown command",
    args: () => ["frobnicate"],
    names: [/frobnicate/],
  },
];

for (const testCase of cases) {
  Deno.test(`bad input exits 2 before any side effect: ${testCase.name}`, async () => {
    const dir = temporaryDirectory();
    const flag = `${dir}/flag`;
    try {
      const configArgs: string[] = [];
      if (testCase.config !== undefined) {
        const configPath = `${dir}/oomwatch.conf`;
        Deno.writeTextFileSync(configPath, testCase.config);
        configArgs.push("--config", configPath);
      }
      const args = testCase.args(dir);
      const withFlag = args.includes("--crashflag-name")
        ? []
        : ["--crashflag-name", flag];
      const daemon = new DaemonProcess([...args, ...configArgs, ...withFlag]);
      const { status, log } = await daemon.finished();
      assert.equal(status.code, 2, log);
      for (const name of testCase.names) assert.match(log, name);
      assert.doesNotMatch(log, /started \(pid|locked/, "nothing started");
      const left = [...Deno.readDirSync(dir)].map((entry) => entry.name)
        .filter((name) => name !== "oomwatch.conf");
      assert.deepEqual(left, [], "no flag or file left behind");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("--help and --version exit 0 and print to stdout", async () => {
  const { runFlags, ENTRY_PATH } = await import("../../scripts/run_flags.ts");
  const { VERSION } = await import("../../src/version.ts");
  const run = (arg: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...runFlags(), ENTRY_PATH, arg],
    }).output();
  const version = await run("--version");
  assert.equal(version.code, 0);
  assert.equal(
    new TextDecoder().decode(version.stdout).trim(),
    `oomwatch ${VERSION}`,
  );
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /Usage: oomwatch/);
});
