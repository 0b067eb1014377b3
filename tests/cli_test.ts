import assert from "node:assert/strict";
import { HELP, parseCommandLine } from "../src/cli.ts";
import { UsageError } from "../src/core/config.ts";

Deno.test("parseCommandLine() defaults to run with no flags", () => {
  assert.deepEqual(parseCommandLine([]), {
    command: "run",
    help: false,
    version: false,
    json: false,
    flags: {},
  });
});

Deno.test("parseCommandLine() knows check and status, with --json", () => {
  assert.equal(parseCommandLine(["check"]).command, "check");
  const status = parseCommandLine(["status", "--json", "--status-file", "/s"]);
  assert.equal(status.command, "status");
  assert.equal(status.json, true);
  assert.equal(status.flags.statusFile, "/s");
});

Deno.test("parseCommandLine() reads every parameter flag, both spellings", () => {
  const request = parseCommandLine([
    "run",
    "--bufsize",
    "64",
    "--gracetime=10",
    "--resettime",
    "2",
    "--crashflag",
    "0",
    "--crashflag_name",
    "/tmp/flag",
    "--panic-action",
    "none",
    "--psi-full",
    "0",
    "--psi-window",
    "20",
    "--memcg-oom",
    "--log-level",
    "debug",
    "--config",
    "/etc/oomwatch.conf",
  ]);
  assert.deepEqual(request.flags, {
    bufsize: 64,
    gracetime: 10,
    resettime: 2,
    crashflag: false,
    crashflagName: "/tmp/flag",
    panicAction: "none",
    psiFull: 0,
    psiWindow: 20,
    memcgOom: true,
    logLevel: "debug",
  });
  assert.equal(request.configPath, "/etc/oomwatch.conf");
});

Deno.test("parseCommandLine() refuses unknown flags, commands and bad values", () => {
  for (
    const args of [
      ["--bogus"],
      ["--bufsize"],
      ["--bufsize", "-3"],
      ["--bufsize", "lots"],
      ["frobnicate"],
      ["run", "extra"],
    ]
  ) {
    assert.throws(() => parseCommandLine(args), UsageError, args.join(" "));
  }
});

Deno.test("the help text names every flag", () => {
  for (
    const flag of [
      "--bufsize",
      "--gracetime",
      "--resettime",
      "--crashflag ",
      "--crashflag-name",
      "--panic-action",
      "--psi-full",
      "--psi-window",
      "--memcg-oom",
      "--config",
      "--log-level",
      "--version",
    ]
  ) {
    assert.ok(HELP.includes(flag), flag);
  }
});

Deno.test("parseCommandLine() says what is wrong with a value that starts with a dash", () => {
  assert.throws(
    () => parseCommandLine(["--bufsize", "-5"]),
    /invalid value '-5' for bufsize/,
  );
  assert.throws(() => parseCommandLine(["--memcg-oom=1"]), /takes no value/);
  assert.throws(() => parseCommandLine(["--gracetime"]), /needs a value/);
  assert.throws(() => parseCommandLine(["-b", "1"]), /unknown option '-b'/);
});
