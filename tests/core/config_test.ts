import assert from "node:assert/strict";
import {
  checkAgainstMachine,
  DEFAULT_CONFIG,
  describeConfig,
  mergeConfig,
  parseParameter,
} from "../../src/core/config.ts";
import { parseConfigFile } from "../../src/core/config_file.ts";
import { UsageError } from "../../src/core/errors.ts";

Deno.test("the defaults are the original module's", () => {
  assert.equal(DEFAULT_CONFIG.bufsize, 32);
  assert.equal(DEFAULT_CONFIG.gracetime, 0);
  assert.equal(DEFAULT_CONFIG.resettime, 300);
  assert.equal(DEFAULT_CONFIG.crashflag, true);
  assert.equal(DEFAULT_CONFIG.crashflagName, "/oomflag");
  assert.equal(DEFAULT_CONFIG.panicAction, "panic");
});

Deno.test("parseConfigFile() reads an oom_ext sysctl.d file as it is", () => {
  const layer = parseConfigFile(
    [
      "# written for oom_ext",
      "vm.oom_ext.bufsize = 64",
      "vm/oom_ext/gracetime=30",
      "; another comment",
      "-vm.oom_ext.resettime = 120",
      "  vm.oom_ext.crashflag = 0  ",
      "vm.oom_ext.crashflag_name = /var/lib/oomflag",
      "",
    ].join("\n"),
    "/etc/sysctl.d/90-oom.conf",
  );
  assert.deepEqual(layer, {
    bufsize: 64,
    gracetime: 30,
    resettime: 120,
    crashflag: false,
    crashflagName: "/var/lib/oomflag",
  });
});

Deno.test("parseConfigFile() takes bare keys and oomwatch's own keys", () => {
  assert.deepEqual(
    parseConfigFile(
      "bufsize = 8\npanic_action = reboot\npsi_full = 42.5\nmemcg_oom = 1\n",
      "f",
    ),
    {
      bufsize: 8,
      panicAction: "reboot",
      psiFull: 42.5,
      memcgOom: { kind: "all" },
    },
  );
});

Deno.test("parseConfigFile() skips the other sysctls of a sysctl.d file, not a mistyped oom_ext key", () => {
  assert.deepEqual(
    parseConfigFile(
      "kernel.panic = 10\nvm/swappiness = 1\nvm.oom_ext.gracetime = 30\n",
      "/etc/sysctl.d/90-oom.conf",
    ),
    { gracetime: 30 },
  );
  for (
    const typo of [
      "vm.oom_ext_gracetime",
      "vm.oom-ext.gracetime",
      "oom_ext.gracetime",
    ]
  ) {
    assert.throws(
      () => parseConfigFile(`${typo} = 30\n`, "/etc/sysctl.d/90-oom.conf"),
      (error: Error) =>
        error instanceof UsageError && error.message.includes(`'${typo}'`),
      typo,
    );
  }
  // Real sysctls that merely mention OOM are the kernel's, not typos.
  assert.deepEqual(
    parseConfigFile(
      "vm.panic_on_oom = 0\nvm.oom_kill_allocating_task = 0\n",
      "f",
    ),
    {},
  );
});

Deno.test("parseConfigFile() names the file, line, key and value it refuses", () => {
  assert.throws(
    () => parseConfigFile("bufsize = 1\nvm.oom_ext.bogus = 3\n", "/etc/x.conf"),
    (error: Error) =>
      error instanceof UsageError &&
      error.message.includes("/etc/x.conf:2") &&
      error.message.includes("'bogus'"),
  );
  assert.throws(
    () => parseConfigFile("gracetime = -5\n", "/etc/x.conf"),
    /\/etc\/x.conf:1: invalid value '-5' for gracetime/,
  );
  assert.throws(
    () => parseConfigFile("just words\n", "/etc/x.conf"),
    /\/etc\/x.conf:1: expected 'key = value'/,
  );
});

Deno.test("parseParameter() refuses values outside what is allowed", () => {
  const refused: [string, string][] = [
    ["bufsize", "-1"],
    ["bufsize", "ten"],
    ["bufsize", "1.5"],
    ["bufsize", ""],
    ["gracetime", "86401"],
    ["resettime", "0"],
    ["crashflag", "yes"],
    ["crashflag_name", "relative/path"],
    ["crashflag_name", "/dir/"],
    ["panic_action", "halt"],
    ["psi_full", "101"],
    ["psi_window", "1"],
    ["log_level", "verbose"],
  ];
  for (const [name, value] of refused) {
    assert.throws(
      () => parseParameter(name, value, `--${name}`),
      (error: Error) =>
        error instanceof UsageError &&
        error.message.includes(`'${value}'`) &&
        error.message.includes(name) &&
        error.message.includes("allowed"),
      `${name}=${value}`,
    );
  }
});

Deno.test("parseParameter() accepts either spelling of a name", () => {
  assert.deepEqual(parseParameter("crashflag-name", "/x", "s"), {
    crashflagName: "/x",
  });
  assert.deepEqual(parseParameter("crashflag_name", "/x", "s"), {
    crashflagName: "/x",
  });
});

Deno.test("mergeConfig() lets later layers win", () => {
  const config = mergeConfig({ bufsize: 64, gracetime: 5 }, { bufsize: 16 });
  assert.equal(config.bufsize, 16);
  assert.equal(config.gracetime, 5);
  assert.equal(config.resettime, 300);
});

Deno.test("checkAgainstMachine() refuses a reserve over half of RAM", () => {
  const oneGiB = 1024 ** 3;
  checkAgainstMachine(mergeConfig({ bufsize: 512 }), oneGiB);
  assert.throws(
    () => checkAgainstMachine(mergeConfig({ bufsize: 513 }), oneGiB),
    /invalid value '513' for bufsize: at most half of MemTotal \(1024 MiB\), that is 512 MiB/,
  );
});

Deno.test("describeConfig() prints file syntax", () => {
  assert.match(describeConfig(DEFAULT_CONFIG), /^bufsize=32 gracetime=0 /);
  assert.match(describeConfig(DEFAULT_CONFIG), /crashflag=1 /);
});
