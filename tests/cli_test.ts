import assert from "node:assert/strict";
import { CommandLineError, HELP, parseCommandLine } from "../src/cli.ts";
import { PARAMETER_NAMES } from "../src/core/config.ts";

Deno.test("parseCommandLine() defaults to run with no options", () => {
  assert.deepEqual(parseCommandLine([]), {
    command: "run",
    help: false,
    version: false,
    json: false,
    printConfig: false,
    flags: {},
  });
});

Deno.test("parseCommandLine() knows check, status, selftest and ack, with --json", () => {
  assert.equal(parseCommandLine(["check"]).command, "check");
  assert.equal(parseCommandLine(["selftest"]).command, "selftest");
  assert.equal(parseCommandLine(["ack"]).command, "ack");
  const status = parseCommandLine(["status", "--json", "--status-file", "/s"]);
  assert.equal(status.command, "status");
  assert.equal(status.json, true);
  assert.equal(status.flags.statusFile, "/s");
});

Deno.test("parseCommandLine() reads every parameter, each with dashes or underscores", () => {
  const values: Record<string, string> = {
    bufsize: "64",
    gracetime: "10",
    resettime: "2",
    crashflag: "0",
    crashflag_name: "/tmp/flag",
    panic_action: "none",
    psi_full: "0",
    psi_window: "20",
    thrash_io_full: "80",
    memcg_oom: "/system.slice/db.service",
    heartbeat: "3",
    lock_code: "1",
    tracepoint: "0",
    reserve_backing: "tmpfs",
    max_panics: "5/30m",
    watchdog_device: "/dev/watchdog1",
    watchdog_timeout: "30",
    status_file: "/run/x/status.json",
    metrics_file: "/var/lib/x.prom",
    exec_on_oom: "logger oom",
    log_level: "debug",
  };
  assert.deepEqual(Object.keys(values).sort(), [...PARAMETER_NAMES].sort());
  const expected = {
    bufsize: 64,
    gracetime: 10,
    resettime: 2,
    crashflag: false,
    crashflagName: "/tmp/flag",
    panicAction: "none",
    psiFull: 0,
    psiWindow: 20,
    thrashIoFull: 80,
    memcgOom: { kind: "prefixes", prefixes: ["/system.slice/db.service"] },
    heartbeat: 3,
    lockCode: true,
    tracepoint: false,
    reserveBacking: "tmpfs",
    maxPanics: { count: 5, windowSeconds: 1800 },
    watchdogDevice: "/dev/watchdog1",
    watchdogTimeout: 30,
    statusFile: "/run/x/status.json",
    metricsFile: "/var/lib/x.prom",
    execOnOom: "logger oom",
    logLevel: "debug",
  };
  for (
    const spell of [(n: string) => n.replaceAll("_", "-"), (n: string) => n]
  ) {
    const args = Object.entries(values).flatMap(([name, value]) => [
      `--${spell(name)}`,
      value,
    ]);
    assert.deepEqual(parseCommandLine(args).flags, expected, args.join(" "));
    const joined = Object.entries(values).map(([name, value]) =>
      `--${spell(name)}=${value}`
    );
    assert.deepEqual(parseCommandLine(joined).flags, expected);
  }
});

Deno.test("-h, --help, -V and --version are understood", () => {
  assert.equal(parseCommandLine(["-h"]).help, true);
  assert.equal(parseCommandLine(["--help"]).help, true);
  assert.equal(parseCommandLine(["-V"]).version, true);
  assert.equal(parseCommandLine(["check", "--version"]).version, true);
  assert.equal(parseCommandLine(["--print-config"]).printConfig, true);
});

/** The message and command of the error `args` raise. */
function refusal(args: string[]): { message: string; command: string } {
  try {
    parseCommandLine(args);
  } catch (error) {
    if (error instanceof CommandLineError) {
      return { message: error.message, command: error.command };
    }
    throw error;
  }
  throw new Error(`no error for ${args.join(" ")}`);
}

Deno.test("an option that needs a value never takes the next option as its value", () => {
  const { message } = refusal(["--bufsize", "--panic-action", "none"]);
  assert.match(
    message,
    /option '--bufsize' needs a value, found the option '--panic-action'/,
  );
  assert.match(refusal(["--gracetime"]).message, /'--gracetime' needs a value/);
  assert.match(refusal(["--config", "-h"]).message, /'--config' needs a value/);
  // A value that merely starts with a dash is taken, and judged as a value.
  assert.match(
    refusal(["--bufsize", "-5"]).message,
    /invalid value '-5' for bufsize/,
  );
});

Deno.test("an option given twice is refused, in either spelling", () => {
  assert.match(
    refusal(["--bufsize", "abc", "--bufsize", "8"]).message,
    /option '--bufsize' is given twice \(first as '--bufsize'\)/,
  );
  assert.match(
    refusal(["--crashflag-name", "/a", "--crashflag_name", "/b"]).message,
    /given twice/,
  );
  assert.match(refusal(["--json", "--json"]).message, /given twice/);
});

Deno.test("an unknown option suggests the nearest known one", () => {
  assert.match(
    refusal(["--bufize", "8"]).message,
    /unknown option '--bufize'; did you mean '--bufsize'\?/,
  );
  assert.match(
    refusal(["--crashflagname=/x"]).message,
    /did you mean '--crashflag-name'/,
  );
  assert.match(
    refusal(["--frobnicate"]).message,
    /unknown option '--frobnicate' \(see oomwatch --help\)/,
  );
  assert.match(refusal(["-b", "1"]).message, /unknown option '-b'/);
});

Deno.test("the command an error belongs to comes from the parsed line, not from a word in it", () => {
  assert.equal(refusal(["--exec-on-oom", "check", "--bogus"]).command, "run");
  assert.equal(refusal(["check", "--bogus"]).command, "check");
  assert.equal(refusal(["--bogus", "check"]).command, "check");
  assert.equal(
    refusal(["--status-file", "/s", "status", "--bufsize", "x"]).command,
    "status",
  );
  assert.equal(refusal(["frobnicate"]).command, "run");
});

Deno.test("--memcg-oom alone means all memcg kills; with paths, only those cgroups", () => {
  assert.deepEqual(parseCommandLine(["--memcg-oom"]).flags.memcgOom, {
    kind: "all",
  });
  assert.deepEqual(parseCommandLine(["--memcg_oom", "0"]).flags.memcgOom, {
    kind: "none",
  });
  assert.deepEqual(
    parseCommandLine(["--memcg-oom", "/a,/b/c", "check"]).flags.memcgOom,
    { kind: "prefixes", prefixes: ["/a", "/b/c"] },
  );
  const line = parseCommandLine(["--memcg-oom", "check"]);
  assert.equal(line.command, "check");
  assert.deepEqual(line.flags.memcgOom, { kind: "all" });
  assert.match(
    refusal(["--memcg-oom=relative"]).message,
    /invalid value 'relative' for memcg_oom/,
  );
  // The counters are read below the hierarchy's mount: no way out of it.
  for (const path of ["/a/../../../tmp/x", "/a/./b", "/a//b", "/.."]) {
    assert.match(
      refusal(["--memcg-oom", path, "check"]).message,
      /invalid value .* for memcg_oom; allowed: .*without \. or \.\./,
      path,
    );
  }
});

Deno.test("parseCommandLine() refuses unknown commands, extra words and bad values", () => {
  for (
    const args of [
      ["--bogus"],
      ["--bufsize", "lots"],
      ["frobnicate"],
      ["run", "extra"],
      ["--json=1"],
      ["--max-panics", "3"],
      ["--max-panics", "0/1h"],
      ["--max-panics", "3/1w"],
      ["--max-panics", "3/31d"],
      ["--max-panics", "101/1h"],
      ["--watchdog-device", "watchdog"],
      ["--watchdog-timeout", "2"],
      ["--watchdog-timeout", "3601"],
      ["--thrash-io-full", "101"],
      ["--thrash-io-full", "-1"],
      ["--thrash-io-full", "high"],
    ]
  ) {
    assert.throws(
      () => parseCommandLine(args),
      CommandLineError,
      args.join(" "),
    );
  }
});

Deno.test("the help text names every option", () => {
  const options = [
    ...PARAMETER_NAMES.map((name) => `--${name.replaceAll("_", "-")}`),
    "--config",
    "--print-config",
    "--json",
    "-h, --help",
    "-V, --version",
  ];
  for (const option of options) assert.ok(HELP.includes(option), option);
  for (const command of ["check", "status", "selftest", "ack"]) {
    assert.match(HELP, new RegExp(`oomwatch ${command} `));
  }
});
