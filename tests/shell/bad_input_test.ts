// Tests read small files synchronously between awaits; nothing here is a
// hot path.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * Bad input stops the daemon with exit code 2 and a message naming the key
 * and the value, before any side effect: no reserve, no flag, no file.
 */

import assert from "node:assert/strict";
import {
  DaemonProcess,
  runCli,
  temporaryDirectory,
} from "../helpers/daemon.ts";

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
    name: "a bufsize larger than half of MemTotal",
    args: () => ["--bufsize", String(Math.floor(memTotalMiB / 2) + 1)],
    names: [
      /bufsize/,
      new RegExp(`'${Math.floor(memTotalMiB / 2) + 1}'`),
      /at most half of MemTotal/,
    ],
  },
  {
    name: "an option that would take the next option as its value",
    args: () => ["--bufsize", "--panic-action", "none"],
    names: [
      /option '--bufsize' needs a value, found the option '--panic-action'/,
    ],
  },
  {
    name: "an option given twice",
    args: () => ["--bufsize", "abc", "--bufsize", "8"],
    names: [/option '--bufsize' is given twice/],
  },
  {
    name: "a misspelt option, with the nearest known one",
    args: () => ["--bufize", "8"],
    names: [/unknown option '--bufize'; did you mean '--bufsize'\?/],
  },
  {
    name: "a daemon line whose hook command is the word check",
    args: () => ["--exec-on-oom", "check", "--bogus"],
    names: [/unknown option '--bogus'/],
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
    name: "a crash-flag path through a regular file (ENOTDIR)",
    args: () => ["--crashflag-name", "/etc/passwd/x/oomflag"],
    names: [
      /crashflag_name/,
      /directory \/etc\/passwd\/x cannot be looked at \(.*ENOTDIR/,
    ],
  },
  {
    name: "a metrics file in a directory anyone can write (/tmp)",
    args: () => ["--metrics-file", "/tmp/oomwatch.prom"],
    names: [
      /metrics_file/,
      /'\/tmp\/oomwatch\.prom'/,
      /\/tmp \(mode 1777\) is writable by everyone/,
      /chown root DIR; chmod go-w DIR/,
    ],
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

Deno.test("-h, --help, -V and --version exit 0 and print to stdout", async () => {
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
  const short = await run("-V");
  assert.equal(
    new TextDecoder().decode(short.stdout).trim(),
    `oomwatch ${VERSION}`,
  );
  assert.match(
    new TextDecoder().decode((await run("-h")).stdout),
    /Usage: oomwatch/,
  );
});

Deno.test("a bad check line is UNKNOWN in one line; the same words after a value of the daemon's are the daemon's, exit 2", async () => {
  const check = await runCli(["check", "--bogus"]);
  assert.equal(check.code, 3);
  assert.match(check.stdout, /^OOMWATCH UNKNOWN - unknown option '--bogus'/);
  assert.equal(check.stdout.trim().split("\n").length, 1);
  const run = await runCli(["--exec-on-oom", "check", "--bogus"]);
  assert.equal(run.code, 2, run.stdout);
  assert.match(run.stderr, /^oomwatch: unknown option '--bogus'/);
});

Deno.test("--print-config prints defaults, file and options in the file's syntax, and reads back to itself", async () => {
  const dir = temporaryDirectory();
  try {
    const config = `${dir}/oomwatch.conf`;
    Deno.writeTextFileSync(
      config,
      'vm.oom_ext.bufsize = 64\nexec_on_oom = logger -t oom "$OOMWATCH_VICTIM"\nmemcg_oom = /a,/b\n',
    );
    const printed = await runCli([
      "--config",
      config,
      "--gracetime",
      "30",
      "--print-config",
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(
      printed.stdout,
      new RegExp(
        `^# oomwatch effective configuration \\(defaults, ${config}, options\\)$`,
        "m",
      ),
    );
    for (
      const line of [
        "bufsize = 64",
        "gracetime = 30",
        "resettime = 300",
        "memcg_oom = /a,/b",
        'exec_on_oom = logger -t oom "$OOMWATCH_VICTIM"',
        "metrics_file = ",
      ]
    ) {
      assert.ok(
        printed.stdout.split("\n").includes(line),
        `${line}\n${printed.stdout}`,
      );
    }
    Deno.writeTextFileSync(`${dir}/printed.conf`, printed.stdout);
    const again = await runCli([
      "--config",
      `${dir}/printed.conf`,
      "--print-config",
    ]);
    assert.equal(
      again.stdout.split("\n").slice(1).join("\n"),
      printed.stdout.split("\n").slice(1).join("\n"),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
