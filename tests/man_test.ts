import assert from "node:assert/strict";
import { HELP } from "../src/cli.ts";
import { VERSION } from "../src/version.ts";
import { commandsNeed, privilegedTest } from "./helpers/privilege.ts";

const MAN_PAGE = new URL("../docs/oomwatch.8", import.meta.url).pathname;
const page = Deno.readTextFileSync(MAN_PAGE);

/** An option name as a word: `--name` or `-X`, not inside another word. */
const OPTION = /(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z](?![\w-]))/g;
const LONG_OPTION = /(?<![\w-])--[A-Za-z][\w-]*/g;

/**
 * The options HELP defines: the names that open its option lines
 * (`  --bufsize MIB …`, `  -h, --help …`).
 */
function helpOptions(help: string): Set<string> {
  const options = new Set<string>();
  for (const line of help.split("\n")) {
    const head = /^ {2}((?:-[A-Za-z], )?--[a-z][a-z0-9-]*)/.exec(line);
    if (head) head[1].split(", ").forEach((name) => options.add(name));
  }
  return options;
}

/** The commands of HELP's usage lines (`oomwatch [run] …`, `oomwatch check …`). */
function helpCommands(help: string): Set<string> {
  const commands = new Set<string>();
  for (const line of help.split("\n")) {
    const usage = /^(?:Usage:)?\s+oomwatch \[?([a-z]+)\]?/.exec(line);
    if (usage) commands.add(usage[1]);
  }
  return commands;
}

/** The lines of one `.SH` section of a man page, without the heading. */
function section(man: string, name: string): string[] {
  const lines = man.split("\n");
  const start = lines.findIndex((line) =>
    /^\.SH\s/.test(line) && line.slice(4).replaceAll('"', "").trim() === name
  );
  assert.ok(start >= 0, `the man page has no section ${name}`);
  const end = lines.findIndex((line, i) => i > start && /^\.SH\s/.test(line));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

/** A line of roff as the reader sees its words: no request, fonts or quotes. */
function text(line: string): string {
  return line
    .replace(/^\.[A-Za-z]+\s*/, "")
    .replace(/\\f(\[[^\]]*\]|\(..|.)/g, "")
    .replaceAll("\\&", "")
    .replaceAll("\\-", "-")
    .replaceAll('"', "");
}

/**
 * The tags of a section's `.TP` entries (the line after each `.TP`), not
 * those of lists nested in an entry with `.RS`/`.RE`.
 */
function tags(lines: string[]): string[] {
  const found: string[] = [];
  let depth = 0;
  lines.forEach((line, i) => {
    if (/^\.RS\b/.test(line)) depth++;
    if (/^\.RE\b/.test(line)) depth--;
    if (depth === 0 && /^\.TP\b/.test(line) && i + 1 < lines.length) {
      found.push(text(lines[i + 1]));
    }
  });
  return found;
}

/** The options the OPTIONS section documents, each in its entry's tag. */
function pageOptions(man: string): Set<string> {
  return new Set(
    tags(section(man, "OPTIONS")).flatMap((tag) =>
      [...tag.matchAll(OPTION)].map((match) => match[1])
    ),
  );
}

/** The commands the COMMANDS section documents: the first word of each tag. */
function pageCommands(man: string): Set<string> {
  return new Set(
    tags(section(man, "COMMANDS")).map((tag) => tag.trim().split(/\s+/)[0]),
  );
}

interface Drift {
  /** In HELP, not documented in the man page. */
  undocumented: string[];
  /** Documented in the man page, not in HELP. */
  unknown: string[];
}

function drift(inHelp: Set<string>, inPage: Set<string>): Drift {
  return {
    undocumented: [...inHelp].filter((name) => !inPage.has(name)).sort(),
    unknown: [...inPage].filter((name) => !inHelp.has(name)).sort(),
  };
}

function optionDrift(help: string, man: string): Drift {
  return drift(helpOptions(help), pageOptions(man));
}

function commandDrift(help: string, man: string): Drift {
  return drift(helpCommands(help), pageCommands(man));
}

const NO_DRIFT: Drift = { undocumented: [], unknown: [] };

Deno.test("HELP's options are read from its option lines, and every option it mentions is one of them", () => {
  const options = helpOptions(HELP);
  for (
    const expected of ["--bufsize", "--crashflag-name", "--config", "-h", "-V"]
  ) {
    assert.ok(options.has(expected), `${expected} in ${[...options]}`);
  }
  const mentioned = new Set([...HELP.matchAll(LONG_OPTION)].map((m) => m[0]));
  assert.deepEqual(
    [...mentioned].filter((name) => !options.has(name)),
    [],
    "options HELP mentions without an option line",
  );
});

Deno.test("the man page's OPTIONS section documents exactly the options of HELP", () => {
  assert.deepEqual(optionDrift(HELP, page), NO_DRIFT);
  // Options the page mentions in its text are HELP's too (underscore
  // spellings are the same options).
  for (const name of ["COMMANDS", "OPTIONS"]) {
    const mentioned = section(page, name).map(text).join("\n")
      .matchAll(LONG_OPTION);
    const stale = [...mentioned].map((m) => m[0].replaceAll("_", "-"))
      .filter((option) => !helpOptions(HELP).has(option));
    assert.deepEqual(stale, [], `options mentioned in ${name} but not in HELP`);
  }
});

Deno.test("the man page's COMMANDS section documents exactly the commands of HELP", () => {
  const commands = helpCommands(HELP);
  for (const expected of ["run", "check", "ack"]) {
    assert.ok(commands.has(expected), `${expected} in ${[...commands]}`);
  }
  assert.deepEqual(commandDrift(HELP, page), NO_DRIFT);
  const synopsis = section(page, "SYNOPSIS").map(text).join(" ");
  for (const command of commands) {
    assert.match(synopsis, new RegExp(`\\b${command}\\b`), synopsis);
  }
});

Deno.test("the drift checks notice an option or a command missing on either side", () => {
  const help = [
    "Usage: oomwatch [run] [options]     run",
    "       oomwatch check [options]     check",
    "Options:",
    "  --alpha N                a, see --beta-gamma",
    "  --beta-gamma             b",
    "  -h, --help               help",
    "",
  ].join("\n");
  const man = [
    ".SH COMMANDS",
    ".TP",
    ".B run",
    "Run.",
    ".TP",
    ".B check",
    ".RS",
    ".TP",
    ".B 0",
    "OK.",
    ".RE",
    ".SH OPTIONS",
    ".TP",
    '.BI \\-\\-alpha " N"',
    "A.",
    ".TP",
    ".B \\-\\-beta\\-gamma",
    "B.",
    ".TP",
    '.BR \\-h ", " \\-\\-help',
    "Help.",
    ".SH FILES",
    "",
  ].join("\n");
  assert.deepEqual(optionDrift(help, man), NO_DRIFT);
  assert.deepEqual(commandDrift(help, man), NO_DRIFT);
  // The page loses an option, a short one, or a command: undocumented.
  assert.deepEqual(
    optionDrift(help, man.replace(".B \\-\\-beta\\-gamma", ".B beta")),
    { undocumented: ["--beta-gamma"], unknown: [] },
  );
  assert.deepEqual(
    optionDrift(help, man.replace('\\-h ", " ', "")),
    { undocumented: ["-h"], unknown: [] },
  );
  assert.deepEqual(
    commandDrift(help, man.replace(".B check", ".B verify")),
    { undocumented: ["check"], unknown: ["verify"] },
  );
  // HELP loses an option the page still documents: unknown.
  assert.deepEqual(
    optionDrift(help.replace(/^ {2}--alpha .*\n/m, ""), man),
    { undocumented: [], unknown: ["--alpha"] },
  );
  // HELP gains an option or a command: undocumented.
  assert.deepEqual(
    optionDrift(`${help}  --gamma PATH             g\n`, man),
    { undocumented: ["--gamma"], unknown: [] },
  );
  assert.deepEqual(
    commandDrift(
      help.replace("Options:", "       oomwatch ack   ack\nOptions:"),
      man,
    ),
    { undocumented: ["ack"], unknown: [] },
  );
  // The real page: its first option entry, taken out, is missed.
  const lines = page.split("\n");
  const options = lines.indexOf(".SH OPTIONS");
  const entry = lines.findIndex((line, i) =>
    i > options && lines[i - 1] === ".TP" && line.includes("\\-\\-")
  );
  assert.ok(options > 0 && entry > options, "the page has option entries");
  const lost = [...text(lines[entry]).matchAll(OPTION)].map((m) => m[1]);
  const without = [
    ...lines.slice(0, entry),
    ".B lost",
    ...lines.slice(entry + 1),
  ].join("\n");
  assert.deepEqual(optionDrift(HELP, without), {
    undocumented: lost.sort(),
    unknown: [],
  });
});

/** Requests and macros the page may use (man(7) and a few roff requests). */
const REQUESTS = new Set([
  "TH",
  "SH",
  "SS",
  "TP",
  "IP",
  "PP",
  "LP",
  "P",
  "RS",
  "RE",
  "B",
  "I",
  "BR",
  "BI",
  "IB",
  "IR",
  "RB",
  "RI",
  "SM",
  "SB",
  "nf",
  "fi",
  "br",
  "sp",
  "ad",
  "nh",
  "PD",
  '\\"',
]);

Deno.test("the man page is well-formed man(7) source for oomwatch's version", () => {
  const lines = page.split("\n");
  assert.equal(lines.at(-1), "", "ends with a newline");
  lines.forEach((line, i) => {
    const where = `docs/oomwatch.8:${i + 1}: ${line}`;
    assert.doesNotMatch(line, /\s$/, `${where}: trailing whitespace`);
    if (line.startsWith(".") || line.startsWith("'")) {
      const request = /^[.'](\\"|[A-Za-z]+)/.exec(line)?.[1] ?? "";
      assert.ok(REQUESTS.has(request), `${where}: not a known request`);
    }
    if (!line.startsWith('.\\"')) {
      assert.doesNotMatch(
        line,
        /(?<![\\\w/-])-(?=-?[A-Za-z])/,
        `${where}: an option's hyphen not written \\-`,
      );
    }
  });
  assert.match(page, /^\.TH OOMWATCH 8 /m);
  const th = lines.find((line) => line.startsWith(".TH "));
  assert.ok(th?.includes(`"oomwatch ${VERSION}"`), th);
  for (const match of page.matchAll(/oomwatch (\d+\.\d+\.\d+)/g)) {
    assert.equal(match[1], VERSION, "every version the page names");
  }
  for (
    const name of [
      "NAME",
      "SYNOPSIS",
      "DESCRIPTION",
      "COMMANDS",
      "OPTIONS",
      "CONFIGURATION FILE",
      "SIGNALS",
      "FILES",
      "ENVIRONMENT",
      "EXIT STATUS",
      "SEE ALSO",
    ]
  ) {
    assert.ok(section(page, name).length > 0, name);
  }
});

privilegedTest(
  "the man page renders with man -l without warnings",
  [commandsNeed(["man", "groff"], "man-db groff-base")],
  async () => {
    // man-db's --warnings passes -w (default: mac) to groff.
    const result = await new Deno.Command("man", {
      args: ["--warnings", "-l", MAN_PAGE],
      env: { MANWIDTH: "80", LC_ALL: "C.UTF-8", MANPAGER: "cat" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    assert.equal(stderr, "", "no warnings");
    assert.ok(stdout.includes("OOMWATCH(8)"));
    const wide = stdout.split("\n").filter((line) => line.length > 80);
    assert.deepEqual(wide, [], "lines wider than MANWIDTH");
    for (const option of helpOptions(HELP)) {
      assert.ok(stdout.includes(option), `${option} in the rendered page`);
    }
  },
);
