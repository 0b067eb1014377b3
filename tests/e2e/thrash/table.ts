/**
 * Tabulates the serial logs of the ext4-root scenarios (thrash-baseline,
 * thrash-measure, thrash, measure-*): per load, the spread of every
 * candidate signal over the period that matters (the thrash: from the pin
 * to the end; the other loads: the whole load), and for each candidate rule
 * when it fires on the thrash (seconds after the pin, and when a daemon with
 * `--gracetime 30` would panic) and how often on the healthy loads.
 *
 * usage: deno run -A tests/e2e/thrash/table.ts e2e-results/thrash-measure-1.log …
 *
 * The signals come from the probe where the run had one (thrash-measure,
 * measure-*), otherwise from the static monitor (thrash-baseline, thrash);
 * both read the same counters once a second and share every window of 10 s
 * the way the daemon's StallMeter does.
 *
 * @module
 */

import {
  firing,
  gapStats,
  parseRun,
  period,
  type Rule,
  type Run,
  type Signals,
  signals,
  spread,
} from "./measure.ts";

interface Loaded {
  file: string;
  run: Run;
  from: number;
  to: number;
  series: Signals[];
  source: "probe" | "monitor";
}

const LOADS: Record<string, string> = {
  "thrash-baseline": "thrash",
  "thrash-measure": "thrash",
  "thrash": "thrash",
  "thrash-mild": "mild squeeze (16 MB left)",
  "warmup": "cold start & warm-up (thrash boots before the pin)",
  "measure-idle": "idle",
  "measure-busy": "busy (compile-like)",
  "measure-copy": "large file copy",
  "measure-stall": "stall (memory.high)",
  "measure-memcg": "memcg OOM loop",
  "measure-tight-read": "file read, 16 MB left",
  "measure-memcg-thrash": "thrash inside a memcg",
};

function load(file: string, windowSeconds: number): Loaded | null {
  const run = parseRun(Deno.readTextFileSync(file));
  const judged = period(run);
  if (!judged) return null;
  const source = run.probe.length > 0 ? "probe" : "monitor";
  const samples = source === "probe" ? run.probe : run.monitor;
  return {
    file: file.replace(/^.*\//, "").replace(/\.log$/, ""),
    run,
    from: judged[0],
    to: judged[1],
    series: signals(samples, run.memTotalKb, windowSeconds),
    source,
  };
}

/**
 * The part of a thrash boot before the pin, as a load of its own: the cold
 * start of two or three Deno processes from a 4 MiB/s disk (io `full` runs
 * high while they load) and the beaters' warm-up, memory plentiful.
 */
function warmup(l: Loaded): Loaded[] {
  if (!isThrash(l) || l.run.pinStartedAt === null) return [];
  const first = l.series[0]?.at;
  if (first === undefined) return [];
  return [{
    ...l,
    file: `${l.file} (before the pin)`,
    run: { ...l.run, scenario: "warmup" },
    from: first,
    to: l.run.pinStartedAt,
  }];
}

const COLUMNS: [label: string, pick: (s: Signals) => number, digits: number][] =
  [
    ["mem some %", (s) => s.memSome, 0],
    ["mem full %", (s) => s.memFull, 0],
    ["io some %", (s) => s.ioSome, 0],
    ["io full %", (s) => s.ioFull, 0],
    ["refault/s", (s) => s.refault, 0],
    ["restore/s", (s) => s.restore, 0],
    ["majflt/s", (s) => s.majflt, 0],
    ["MemAvail %", (s) => s.availablePct, 1],
    ["late ms", (s) => s.lateMs, 0],
  ];

function cell(values: number[], digits: number): string {
  const s = spread(values);
  if (!s) return "–";
  const f = (n: number): string => n.toFixed(digits);
  return `${f(s.min)} / ${f(s.median)} / ${f(s.max)}`;
}

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function header(cells: string[]): string {
  return `${row(cells)}\n${row(cells.map(() => "---"))}`;
}

const isThrash = (l: Loaded): boolean => LOADS[l.run.scenario] === "thrash";

function inPeriod(l: Loaded): Signals[] {
  return l.series.filter(({ at }) => at >= l.from && at <= l.to);
}

function runsTable(loaded: Loaded[]): string {
  const lines = [
    header([
      "run",
      "load",
      "period s",
      "pinned MiB (s)",
      "beater a: beats, max gap, s in gaps ≥ 5 s",
      "beater b",
      "oom_kill",
      "signals from",
    ]),
  ];
  for (const l of loaded) {
    const beaters = ["a", "b"].map((name) => {
      const beats = l.run.beats.get(name);
      if (!beats) return "–";
      const g = gapStats(beats, l.from, l.to);
      return `${g.beats}, ${g.maxGap.toFixed(1)} s, ${
        g.inLongGaps.toFixed(0)
      } s`;
    });
    const kills = l.run.monitor.map((s) => s.oomKill);
    lines.push(row([
      l.file,
      loadOf(l),
      (l.to - l.from).toFixed(0),
      l.run.pinnedMiB === null
        ? "–"
        : `${l.run.pinnedMiB} (${
          ((l.run.pinnedAt ?? 0) - (l.run.pinStartedAt ?? 0)).toFixed(1)
        })`,
      ...beaters,
      `${kills[0]} → ${kills.at(-1)}`,
      l.source,
    ]));
  }
  return lines.join("\n");
}

function spreadTable(loaded: Loaded[], perRun: boolean): string {
  const groups = new Map<string, Loaded[]>();
  for (const l of loaded) {
    const key = perRun ? l.file : loadOf(l);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(l);
  }
  const lines = [
    header([perRun ? "run" : "load", "s", ...COLUMNS.map(([label]) => label)]),
  ];
  for (const [key, members] of groups) {
    const seconds = members.flatMap(inPeriod);
    lines.push(row([
      perRun ? key : `${key} (${members.length} runs)`,
      String(seconds.length),
      ...COLUMNS.map(([, pick, digits]) => cell(seconds.map(pick), digits)),
    ]));
  }
  return lines.join("\n");
}

const today = (s: Signals): boolean => s.memFull >= 60;
const ioAndMem = (io: number, mem: number) => (s: Signals): boolean =>
  s.ioFull >= io && s.memSome >= mem;

/** The candidate rules tried on every run. */
export const RULES: Rule[] = [
  { name: "mem full ≥ 60% (today)", fires: today },
  { name: "mem full ≥ 30%", fires: (s) => s.memFull >= 30 },
  { name: "mem full ≥ 10%", fires: (s) => s.memFull >= 10 },
  { name: "mem some ≥ 10%", fires: (s) => s.memSome >= 10 },
  { name: "mem some ≥ 5%", fires: (s) => s.memSome >= 5 },
  { name: "io full ≥ 60%", fires: (s) => s.ioFull >= 60 },
  { name: "io some ≥ 90%", fires: (s) => s.ioSome >= 90 },
  {
    name: "io full ≥ 60% & MemAvail < 5%",
    fires: (s) => s.ioFull >= 60 && s.availablePct < 5,
  },
  {
    name: "refault ≥ 100/s & MemAvail < 5%",
    fires: (s) => s.refault >= 100 && s.availablePct < 5,
  },
  {
    name: "io full ≥ 50% & restore ≥ 5/s",
    fires: (s) => s.ioFull >= 50 && s.restore >= 5,
  },
  { name: "io full ≥ 30% & mem some ≥ 3%", fires: ioAndMem(30, 3) },
  { name: "io full ≥ 50% & mem some ≥ 3%", fires: ioAndMem(50, 3) },
  { name: "io full ≥ 50% & mem some ≥ 5%", fires: ioAndMem(50, 5) },
  { name: "io full ≥ 70% & mem some ≥ 3%", fires: ioAndMem(70, 3) },
  { name: "io full ≥ 70% & mem some ≥ 5%", fires: ioAndMem(70, 5) },
  { name: "io full ≥ 80% & mem some ≥ 5%", fires: ioAndMem(80, 5) },
  { name: "io full ≥ 50% & mem some ≥ 10%", fires: ioAndMem(50, 10) },
  {
    name: "io full ≥ 50% & mem full ≥ 5%",
    fires: (s) => s.ioFull >= 50 && s.memFull >= 5,
  },
  {
    name: "io full ≥ 50% & majflt ≥ 5/s & MemAvail < 10%",
    fires: (s) => s.ioFull >= 50 && s.majflt >= 5 && s.availablePct < 10,
  },
  {
    name: "io full ≥ 70% & majflt ≥ 10/s & MemAvail < 5%",
    fires: (s) => s.ioFull >= 70 && s.majflt >= 10 && s.availablePct < 5,
  },
  {
    name: "io full ≥ 70% & majflt ≥ 5/s & MemAvail < 10%",
    fires: (s) => s.ioFull >= 70 && s.majflt >= 5 && s.availablePct < 10,
  },
  {
    name: "io full ≥ 70% & majflt ≥ 5/s",
    fires: (s) => s.ioFull >= 70 && s.majflt >= 5,
  },
  {
    name: "io full ≥ 70% & mem some ≥ 5% & MemAvail < 10%",
    fires: (s) => ioAndMem(70, 5)(s) && s.availablePct < 10,
  },
  {
    name: "today OR (io full ≥ 70% & majflt ≥ 5/s & MemAvail < 10%)",
    fires: (s) =>
      today(s) || (s.ioFull >= 70 && s.majflt >= 5 && s.availablePct < 10),
  },
  { name: "probe late ≥ 1000 ms", fires: (s) => s.lateMs >= 1000 },
];

function fmt(n: number | null): string {
  return n === null ? "never" : n.toFixed(0);
}

function loadOf(l: Loaded): string {
  if (l.run.scenario !== "thrash-mild") {
    return LOADS[l.run.scenario] ?? l.run.scenario;
  }
  // The squeeze from what the pin left: 8, 16 or 24 MB.
  const left = /^E2E: pinned \d+ MiB, MemAvailable (\d+) kB/.exec(
    l.run.records.find(({ text }) => /^E2E: pinned/.test(text))?.text ?? "",
  )?.[1];
  return `mild squeeze (${
    left === undefined ? "?" : Math.round(Number(left) / 8192) * 8
  } MB left)`;
}

function rulesTable(loaded: Loaded[], gracetime: number): string {
  const thrash = loaded.filter(isThrash);
  const others = new Map<string, Loaded[]>();
  for (const l of loaded.filter((l) => !isThrash(l))) {
    const key = loadOf(l);
    if (!others.has(key)) others.set(key, []);
    others.get(key)!.push(l);
  }
  const lines = [
    header([
      "rule",
      `thrash (${thrash.length} runs): first firing, s after the pin (worst)`,
      `thrash: panic at gracetime ${gracetime}, s after the pin (worst)`,
      "thrash: seconds fired (lowest share)",
      ...[...others].map(([load, runs]) =>
        `${load} (${runs.length}): s fired (max), runs that would panic`
      ),
    ]),
  ];
  for (const rule of RULES) {
    const t = thrash.map((l) =>
      firing(l.series, rule, l.from, l.to, gracetime)
    );
    const worst = (pick: (f: ReturnType<typeof firing>) => number | null) =>
      t.some((f) => pick(f) === null)
        ? `never in ${t.filter((f) => pick(f) === null).length}`
        : fmt(Math.max(...t.map((f) => pick(f)!)));
    lines.push(row([
      rule.name,
      thrash.length ? worst((f) => f.first) : "–",
      thrash.length ? worst((f) => f.panic) : "–",
      thrash.length
        ? `${
          Math.min(...t.map((f) => (100 * f.fired) / Math.max(1, f.of)))
            .toFixed(0)
        }%`
        : "–",
      ...[...others.values()].map((runs) => {
        const f = runs.map((l) =>
          firing(l.series, rule, l.from, l.to, gracetime)
        );
        const fired = Math.max(...f.map((x) => x.fired));
        const panics = f.filter((x) => x.panic !== null).length;
        return fired === 0 ? "0" : `${fired}, ${panics}`;
      }),
    ]));
  }
  return lines.join("\n");
}

/** The rule the measurement recommends (REPORT.md), shown run by run. */
export const RECOMMENDED =
  "today OR (io full ≥ 70% & majflt ≥ 5/s & MemAvail < 10%)";

function perRunTable(loaded: Loaded[], gracetime: number): string {
  const rule = RULES.find(({ name }) => name === RECOMMENDED)!;
  const lines = [
    header([
      "run",
      "load",
      "first firing, s after the period's start",
      `panic at gracetime ${gracetime}, s after it`,
      "seconds fired",
      "longest lapse after the first firing, s",
    ]),
  ];
  for (const l of loaded) {
    const f = firing(l.series, rule, l.from, l.to, gracetime);
    const times = l.series.filter(({ at }) => at >= l.from && at <= l.to)
      .filter(rule.fires).map(({ at }) => at);
    const lapse = times.slice(1).reduce(
      (most, at, i) => Math.max(most, at - times[i]),
      0,
    );
    lines.push(row([
      l.file,
      loadOf(l),
      fmt(f.first),
      fmt(f.panic),
      `${f.fired} of ${f.of}`,
      times.length > 1 ? lapse.toFixed(0) : "–",
    ]));
  }
  return lines.join("\n");
}

/**
 * How close each load came to the combined rule: the largest memory `some`
 * share among its seconds with io `full` of 50% or more, and for the thrash
 * the smallest (after the first 10 s from the pin).
 */
function marginTable(loaded: Loaded[]): string {
  const lines = [
    header([
      "run",
      "load",
      "s with io full ≥ 50%",
      "mem some % in those s: min / median / max",
      "io full % when mem some ≥ 5%: max",
      "majflt/s in the io full ≥ 50% s: min / median / max",
    ]),
  ];
  for (const l of loaded) {
    const from = isThrash(l) ? l.from + 10 : l.from;
    const seconds = l.series.filter(({ at }) => at >= from && at <= l.to);
    const io = seconds.filter((s) => s.ioFull >= 50);
    const mem = seconds.filter((s) => s.memSome >= 5);
    lines.push(row([
      l.file,
      loadOf(l),
      String(io.length),
      cell(io.map((s) => s.memSome), 1),
      mem.length ? Math.max(...mem.map((s) => s.ioFull)).toFixed(0) : "–",
      cell(io.map((s) => s.majflt), 1),
    ]));
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const windowArg = Deno.args.find((a) => a.startsWith("--window="));
  const windowSeconds = windowArg ? Number(windowArg.slice(9)) : 10;
  const files = Deno.args.filter((a) => !a.startsWith("--"));
  const loaded = files.map((f) => load(f, windowSeconds))
    .filter((l): l is Loaded => l !== null);
  loaded.push(...loaded.flatMap(warmup));
  console.log(`## Runs\n\n${runsTable(loaded)}\n`);
  console.log(
    `## Signals per load, min / median / max over the period (window ${windowSeconds} s)\n\n${
      spreadTable(loaded, false)
    }\n`,
  );
  console.log(`## Signals per run\n\n${spreadTable(loaded, true)}\n`);
  console.log(`## Candidate rules\n\n${rulesTable(loaded, 30)}\n`);
  console.log(`## Margins of io full & mem some\n\n${marginTable(loaded)}\n`);
  console.log(
    `## The recommended rule, run by run: ${RECOMMENDED}\n\n${
      perRunTable(loaded, 30)
    }`,
  );
}
