/**
 * Fuzz targets of the kernel log: the record parser, the OOM message
 * classifier, the kill correlator on random streams, and the two
 * properties that matter: a victim's name cannot change which kill is
 * read, and cgroup names cannot attribute a kill to another cgroup.
 *
 * @module
 */

import {
  classifyOomMessage,
  type KernelRecord,
  parseConstraint,
  parseKernelRecord,
  parseMemcgHeader,
} from "../../src/core/kernel_log.ts";
import {
  KillCorrelator,
  type KillObservation,
} from "../../src/core/kill_correlator.ts";
import {
  displayBytes,
  escapeControl,
  unescapeKernelBytes,
} from "../../src/core/text.ts";
import {
  check,
  concatBytes,
  expectOnly,
  type FuzzCase,
  type FuzzTarget,
  hostileFragment,
  kmsgEscape,
  mutateText,
  randomBytes,
  randomString,
  type Rng,
  timed,
  UNSAFE,
  utf8,
} from "./_harness.ts";
import {
  CGROUP_BASES,
  cgroupNameBytes,
  cgroupPath,
  chosenLine,
  commBytes,
  fragmented,
  groupLine,
  hasChosenLine,
  hasSummary,
  hostileBytes,
  KERNEL_FORMS,
  type KernelForm,
  kernelRecord,
  killLine,
  killPrefix,
  memcgHeaderPieces,
  noiseRecord,
  type RawRecord,
  renderRecords,
  summaryPieces,
} from "./_kmsg.ts";

/** Accepts no exception: the call must not throw at all. */
function nothing(_error: unknown): _error is never {
  return false;
}

/** A name "shown safely": no control character, every backslash an `\xNN`. */
function checkShownSafely(what: string, text: string): void {
  check(!UNSAFE.test(text), `${what} holds a control character: ${text}`);
  check(
    text.replace(/\\x[0-9a-f]{2}/g, "").indexOf("\\") < 0,
    `${what} holds a bare backslash: ${text}`,
  );
}

function checkObservation(kill: KillObservation): void {
  check(
    kill.scope === "global" || kill.scope === "memcg",
    `bad scope ${kill.scope}`,
  );
  check(kill.source === "kernel log", `bad source ${kill.source}`);
  if (kill.victim) {
    check(
      Number.isSafeInteger(kill.victim.pid) && kill.victim.pid >= 0,
      `bad pid ${kill.victim.pid}`,
    );
    checkShownSafely("the victim's name", kill.victim.name);
  }
  if (kill.memcg !== undefined) {
    check(kill.scope === "memcg", "a global kill names a memcg");
    check(kill.memcg.startsWith("/"), `memcg ${kill.memcg} is not a path`);
    checkShownSafely("the memcg", kill.memcg);
  }
}

/** Parses rendered records (each must parse) and feeds them to a correlator. */
function correlate(rendered: readonly string[]): KillObservation[] {
  const correlator = new KillCorrelator();
  const kills: KillObservation[] = [];
  for (const raw of rendered) {
    const record = timed("parseKernelRecord", () => parseKernelRecord(raw));
    check(record !== null, `a well-formed record did not parse: ${raw}`);
    const kill = timed("KillCorrelator.add", () => correlator.add(record));
    if (kill) {
      checkObservation(kill);
      kills.push(kill);
    }
  }
  return kills;
}

// ---------------------------------------------------------------------------
// Messages of an OOM report, in every form

/** An attacker's cgroup path: a base the kernel's configuration made, then hostile names. */
function hostilePath(rng: Rng): Uint8Array {
  const names = [...rng.pick(CGROUP_BASES)].map(utf8);
  const extra = rng.int(names.length === 0 ? 1 : 0, 3);
  for (let i = 0; i < extra; i++) names.push(cgroupNameBytes(rng));
  return cgroupPath(names);
}

/** One message of an OOM report (raw bytes), in a random form. */
function oomMessage(rng: Rng): Uint8Array {
  const form = rng.pick(KERNEL_FORMS);
  const memcg = rng.chance(0.5);
  const pid = rng.int(1, 4_194_304);
  switch (rng.int(0, 5)) {
    case 0:
      return concatBytes(summaryPieces(
        rng,
        form,
        memcg ? { oom: hostilePath(rng) } : null,
        hostilePath(rng),
        rng.chance(0.5) ? utf8("/") : cgroupNameBytes(rng),
        commBytes(rng),
        pid,
      ));
    case 1:
      return concatBytes(memcgHeaderPieces(hostilePath(rng), hostilePath(rng)));
    case 2:
      return groupLine(hostilePath(rng));
    case 3:
      return chosenLine(rng, killPrefix(rng, memcg), pid, commBytes(rng));
    case 4:
      return killLine(
        rng,
        form,
        rng.chance(0.3) ? null : killPrefix(rng, memcg),
        pid,
        commBytes(rng),
      );
    default:
      return noiseRecord(rng, () => commBytes(rng), () => hostilePath(rng))
        .bytes;
  }
}

/** A message as /dev/kmsg shows it, possibly damaged, or random text. */
function messageText(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.45) return kmsgEscape(oomMessage(rng));
  if (roll < 0.8) return mutateText(rng, kmsgEscape(oomMessage(rng)));
  if (roll < 0.9) return randomString(rng, 300);
  return kmsgEscape(randomBytes(rng, 0, 2000));
}

const classifier: FuzzTarget = {
  name: "oom-message",
  claim:
    "classifyOomMessage(), parseConstraint() and parseMemcgHeader() never throw on any message and show names safely",
  generate(rng: Rng): FuzzCase {
    const text = messageText(rng);
    return {
      input: text,
      run(): void {
        const line = expectOnly(
          "classifyOomMessage",
          () => classifyOomMessage(text),
          nothing,
        );
        if (!line.ok || line.value === null) return;
        const value = line.value;
        switch (value.kind) {
          case "kill":
            checkShownSafely("the victim's name", value.kill.task);
            check(Number.isSafeInteger(value.kill.pid), "bad pid");
            break;
          case "group":
            checkShownSafely("the group's cgroup", value.oomMemcg);
            break;
          case "summary": {
            const summary = expectOnly(
              "parseConstraint",
              () => parseConstraint(value.text),
              nothing,
            );
            const memcg = summary.ok ? summary.value?.oomMemcg : undefined;
            if (memcg !== undefined) checkShownSafely("oom_memcg", memcg);
            break;
          }
          case "memcg-header": {
            const header = expectOnly(
              "parseMemcgHeader",
              () => parseMemcgHeader(value.text),
              nothing,
            );
            if (header.ok && header.value !== null) {
              checkShownSafely("the header's cgroup", header.value);
            }
            break;
          }
          case "chosen":
            check(Number.isSafeInteger(value.pid), "bad pid");
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------
// parseKernelRecord

function recordText(rng: Rng): string {
  const header = `${rng.pick(["0", "3", "4", "6", "14", "191", "9999"])},${
    rng.int(0, 1_000_000)
  },${rng.int(0, 2 ** 40)},${rng.pick(["-", "c", "+", "", "x"])}${
    rng.pick(["", ",caller=T123", ",caller=C1", ",caller=X9", ",a=b,caller=T5"])
  };`;
  const dictionary = rng.chance(0.3)
    ? `\n SUBSYSTEM=${kmsgEscape(randomBytes(rng, 0, 20))}\n DEVICE=+x`
    : "";
  const text = `${header}${messageText(rng)}${dictionary}\n`;
  const roll = rng.float();
  if (roll < 0.5) return text;
  if (roll < 0.85) return mutateText(rng, text);
  if (roll < 0.95) return randomString(rng, 200);
  return String.fromCharCode(...randomBytes(rng, 0, 1000));
}

const records: FuzzTarget = {
  name: "kernel-record",
  claim:
    "parseKernelRecord() gives null or a record of the text's own fields, never an exception",
  generate(rng: Rng): FuzzCase {
    const raw = recordText(rng);
    return {
      input: raw,
      run(): void {
        const outcome = expectOnly(
          "parseKernelRecord",
          () => parseKernelRecord(raw),
          nothing,
        );
        if (!outcome.ok || outcome.value === null) return;
        const record = outcome.value;
        check(
          Number.isInteger(record.facility) && record.facility >= 0 &&
            record.level >= 0 && record.level <= 7,
          `bad priority ${record.facility}/${record.level}`,
        );
        check(
          Number.isFinite(record.seq) &&
            Number.isFinite(record.timestampMicros),
          "sequence or timestamp not a number",
        );
        check(
          record.text === raw.slice(raw.indexOf(";") + 1).split("\n")[0],
          `the text is not what follows the first ';': ${record.text}`,
        );
        check(
          record.caller === undefined || /^[TC]\d{1,10}$/.test(record.caller),
          `bad caller ${record.caller}`,
        );
      },
    };
  },
};

// ---------------------------------------------------------------------------
// The correlator on random streams

const SEPARATORS = [
  ",oom_memcg=/",
  ",task_memcg=/",
  ",task=",
  "/",
  " killed as a result of limit of /",
];

/**
 * A report whose summary (or header) goes on in continuation records full
 * of the separators its parser splits on, then ends as the kernel ends it,
 * and its kill line: the parser's worst case. The kernel's pieces are at
 * most about 1000 bytes, but other continuation records may join them.
 */
function separatorStorm(rng: Rng): RawRecord[] {
  const header = rng.chance(0.3);
  const records = [
    kernelRecord(
      6,
      header
        ? "Task in /"
        : "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/",
    ),
  ];
  const ordered = rng.chance(0.5);
  const pieces = rng.int(1, 24);
  for (let i = 0; i < pieces; i++) {
    const separator = ordered
      ? SEPARATORS[Math.min(2, Math.floor((3 * i) / pieces))]
      : rng.pick(SEPARATORS);
    const piece = rng.chance(0.5)
      ? separator.repeat(rng.int(1, Math.floor(1000 / separator.length)))
      : Array.from({ length: rng.int(1, 60) }, () => rng.pick(SEPARATORS))
        .join("");
    records.push({ ...kernelRecord(6, piece), flag: "c" });
  }
  records.push({
    ...kernelRecord(
      6,
      header
        ? " killed as a result of limit of /"
        : `,task=${rng.pick(["x", ",task="])},pid=7,uid=0`,
    ),
    flag: "c",
  });
  records.push(
    kernelRecord(3, killLine(rng, "5.4", killPrefix(rng, true), 7, utf8("x"))),
  );
  return records;
}

/** A stream of kernel records: reports of every form, damaged, shuffled, with stray fragments. */
function recordStream(rng: Rng): RawRecord[] {
  const stream: RawRecord[] = [];
  const count = rng.int(1, 30);
  for (let i = 0; i < count; i++) {
    const record = kernelRecord(rng.pick([3, 4, 6]), oomMessage(rng));
    if (rng.chance(0.2)) record.flag = rng.pick(["c", "+"]);
    if (rng.chance(0.2)) record.caller = `T${rng.int(1, 5)}`;
    if (rng.chance(0.05)) record.facility = rng.int(1, 23);
    if (rng.chance(0.1)) {
      record.bytes = utf8(mutateText(rng, kmsgEscape(record.bytes)));
    }
    stream.push(record);
  }
  if (rng.chance(0.15)) stream.push(...separatorStorm(rng));
  return stream;
}

const correlator: FuzzTarget = {
  name: "kill-correlator",
  claim:
    "KillCorrelator.add() and pendingScope() never throw on any stream of records, and report kills only from the kernel",
  generate(rng: Rng): FuzzCase {
    const rendered = renderRecords(recordStream(rng), rng.int(0, 1000));
    const pids = Array.from({ length: 3 }, () => rng.int(0, 4_194_304));
    return {
      input: rendered,
      run(): void {
        const correlator = new KillCorrelator();
        for (const raw of rendered) {
          const parsed = expectOnly(
            "parseKernelRecord",
            () => parseKernelRecord(raw),
            nothing,
          );
          if (!parsed.ok || parsed.value === null) continue;
          const record: KernelRecord = parsed.value;
          const kill = expectOnly(
            "KillCorrelator.add",
            () => correlator.add(record),
            nothing,
          );
          if (kill.ok && kill.value !== null) {
            check(record.facility === 0, "a userspace record made a kill");
            checkObservation(kill.value);
          }
          for (const pid of pids) {
            expectOnly(
              "KillCorrelator.pendingScope",
              () => correlator.pendingScope(pid),
              nothing,
            );
          }
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------
// Property: the victim's name cannot change which kill is read

interface Report {
  records: RawRecord[];
  /** The kills a reader must see, in order. */
  expected: { pid: number; name: Uint8Array; memcg: boolean }[];
}

/**
 * One report of one kill with a hostile victim name, in `form`: the
 * summary (or, before 5.0, the memcg header) optional, the chosen line
 * where the form has one, the records around it that name other tasks.
 */
function killReport(rng: Rng, form: KernelForm): Report {
  const memcg = rng.chance(0.5);
  const pid = rng.int(1, 4_194_304);
  const name = commBytes(rng);
  const caller = rng.chance(0.3) ? `T${rng.int(1, 4_194_304)}` : undefined;
  const noise = (): RawRecord =>
    noiseRecord(rng, () => commBytes(rng), () => hostilePath(rng));
  const records: RawRecord[] = [];
  for (let i = rng.int(0, 3); i > 0; i--) records.push(noise());
  if (hasSummary(form) && rng.chance(0.7)) {
    const taskMemcg = hostilePath(rng);
    records.push(...fragmented(
      rng,
      6,
      summaryPieces(
        rng,
        form,
        memcg ? { oom: rng.chance(0.5) ? taskMemcg : hostilePath(rng) } : null,
        taskMemcg,
        rng.chance(0.5) ? utf8("/") : cgroupNameBytes(rng),
        name,
        pid,
      ),
      caller,
      noise,
    ));
  } else if (!hasSummary(form) && memcg && rng.chance(0.7)) {
    const header = fragmented(
      rng,
      6,
      memcgHeaderPieces(hostilePath(rng), hostilePath(rng)),
      caller,
      noise,
    );
    for (const piece of header) {
      if (piece.flag === "c" && rng.chance(0.5)) piece.flag = "+";
    }
    records.push(...header);
  }
  for (let i = rng.int(0, 2); i > 0; i--) records.push(noise());
  const prefix = killPrefix(rng, memcg);
  if (hasChosenLine(form)) {
    const sacrificed = rng.chance(0.3);
    records.push(kernelRecord(
      3,
      chosenLine(
        rng,
        prefix,
        sacrificed ? rng.int(1, 4_194_304) : pid,
        sacrificed ? commBytes(rng) : name,
      ),
      caller,
    ));
    records.push(kernelRecord(3, killLine(rng, form, null, pid, name), caller));
  } else {
    records.push(
      kernelRecord(3, killLine(rng, form, prefix, pid, name), caller),
    );
  }
  for (let i = rng.int(0, 2); i > 0; i--) records.push(noise());
  return { records, expected: [{ pid, name, memcg }] };
}

const killLines: FuzzTarget = {
  name: "kill-line-property",
  claim:
    "a victim named with any bytes is read as exactly one kill, with its pid, its scope and its name shown as displayBytes() shows it",
  weight: 2,
  generate(rng: Rng): FuzzCase {
    const form = rng.pick(KERNEL_FORMS);
    const report = killReport(rng, form);
    const rendered = renderRecords(report.records, rng.int(0, 1_000_000));
    const [expected] = report.expected;
    return {
      input: {
        form,
        rendered,
        expected: { ...expected, name: displayBytes(expected.name) },
      },
      run(): void {
        const kills = correlate(rendered);
        check(
          kills.length === 1,
          `expected one kill, read ${kills.length}: ${JSON.stringify(kills)}`,
        );
        const [kill] = kills;
        check(
          kill.victim?.pid === expected.pid,
          `read pid ${kill.victim?.pid}, the kernel killed ${expected.pid}`,
        );
        const scope = expected.memcg ? "memcg" : "global";
        check(kill.scope === scope, `read scope ${kill.scope}, not ${scope}`);
        const name = displayBytes(expected.name);
        check(
          kill.victim?.name === name,
          `read name ${JSON.stringify(kill.victim?.name)}, not ${
            JSON.stringify(name)
          }`,
        );
      },
    };
  },
};

// ---------------------------------------------------------------------------
// Property: cgroup names cannot attribute a kill to another cgroup

/**
 * A cgroup name: hostile, or (benign) without the `,` and ` ` of every
 * separator the kernel prints around cgroup paths.
 */
function nameOf(rng: Rng, benign: boolean): Uint8Array {
  return benign
    ? hostileBytes(rng, 1, 30, [0x2f, 0, 0x2c, 0x20])
    : cgroupNameBytes(rng);
}

interface MemcgCase {
  form: KernelForm;
  rendered: string[];
  memcg: boolean;
  /**
   * Cgroup names free of separators (and, before 5.0, no header look-alike
   * around): then the cgroup must be read, not only "not wrong".
   */
  benign: boolean;
  oomMemcg: string;
  group: string | null;
  pids: number[];
}

function memcgCase(rng: Rng): MemcgCase {
  const form = rng.pick(KERNEL_FORMS);
  const memcg = rng.chance(0.75);
  const benign = rng.chance(0.25);
  const xNames = [...rng.pick(CGROUP_BASES)].map(utf8);
  for (let i = rng.int(xNames.length === 0 ? 1 : 0, 3); i > 0; i--) {
    xNames.push(nameOf(rng, benign));
  }
  const yNames = [...xNames];
  for (let i = rng.int(0, 3); i > 0; i--) yNames.push(nameOf(rng, benign));
  const oom = cgroupPath(xNames);
  const taskMemcg = cgroupPath(yNames);
  const caller = rng.chance(0.3) ? `T${rng.int(1, 99999)}` : undefined;
  const comm = (): Uint8Array => commBytes(rng);
  // Before 5.0 a record that starts like the memcg header (a process named
  // "Task in ") still takes the open header's place: the cgroup is unknown.
  let headerLookalike = false;
  const noise = (): RawRecord => {
    const record = noiseRecord(
      rng,
      comm,
      () => cgroupPath(rng.chance(0.5) ? xNames : yNames),
    );
    headerLookalike ||= kmsgEscape(record.bytes).startsWith("Task in ");
    return record;
  };
  const pid = rng.int(1, 4_194_304);
  const victim = comm();
  const records: RawRecord[] = [];
  for (let i = rng.int(0, 2); i > 0; i--) records.push(noise());
  if (hasSummary(form)) {
    records.push(...fragmented(
      rng,
      6,
      summaryPieces(
        rng,
        form,
        memcg ? { oom } : null,
        taskMemcg,
        rng.chance(0.3) ? utf8("/") : nameOf(rng, benign),
        victim,
        pid,
      ),
      caller,
      noise,
    ));
  } else if (memcg) {
    records.push(...fragmented(
      rng,
      6,
      memcgHeaderPieces(taskMemcg, oom),
      caller,
      noise,
    ));
  }
  for (let i = rng.int(0, 2); i > 0; i--) records.push(noise());
  const prefix = killPrefix(rng, memcg);
  const bare = hasChosenLine(form);
  if (bare) records.push(kernelRecord(3, chosenLine(rng, prefix, pid, victim)));
  records.push(
    kernelRecord(3, killLine(rng, form, bare ? null : prefix, pid, victim)),
  );
  const pids = [pid];
  let group: Uint8Array | null = null;
  if (form !== "4.9" && rng.chance(0.3)) {
    // The group is the victim's highest ancestor with memory.oom.group set,
    // inside the OOM-ing cgroup (any cgroup, for a global OOM).
    const depth = rng.int(memcg ? xNames.length : 1, yNames.length);
    group = cgroupPath(yNames.slice(0, Math.max(1, depth)));
    records.push(kernelRecord(6, groupLine(group)));
    for (let i = rng.int(1, 3); i > 0; i--) {
      const member = rng.int(1, 4_194_304);
      pids.push(member);
      const memberPrefix = form === "4.19" || form === "5.0" ? null : prefix;
      records.push(
        kernelRecord(3, killLine(rng, form, memberPrefix, member, comm())),
      );
    }
  }
  for (let i = rng.int(0, 2); i > 0; i--) records.push(noise());
  return {
    form,
    rendered: renderRecords(records, rng.int(0, 1_000_000)),
    memcg,
    benign: benign && (hasSummary(form) || !headerLookalike),
    oomMemcg: displayBytes(oom),
    group: group === null ? null : displayBytes(group),
    pids,
  };
}

const memcgAttribution: FuzzTarget = {
  name: "memcg-attribution-property",
  claim:
    "whatever cgroup names an attacker chooses, a kill's memcg is the OOM-ing cgroup (the oom.group's for its members) or unknown, never another path",
  weight: 2,
  generate(rng: Rng): FuzzCase {
    const input = memcgCase(rng);
    return {
      input,
      run(): void {
        const kills = correlate(input.rendered);
        check(
          kills.length === input.pids.length,
          `expected ${input.pids.length} kills, read ${kills.length}`,
        );
        const scope = input.memcg ? "memcg" : "global";
        kills.forEach((kill, index) => {
          check(kill.scope === scope, `kill ${index}: scope ${kill.scope}`);
          check(
            kill.victim?.pid === input.pids[index],
            `kill ${index}: pid ${kill.victim?.pid}, not ${input.pids[index]}`,
          );
          if (!input.memcg) {
            check(kill.memcg === undefined, "a global kill names a memcg");
            return;
          }
          if (index === 0) {
            check(
              kill.memcg === undefined || kill.memcg === input.oomMemcg,
              `the kill is attributed to ${
                JSON.stringify(kill.memcg)
              }, not to the OOM-ing ${JSON.stringify(input.oomMemcg)}`,
            );
            check(
              !input.benign || kill.memcg === input.oomMemcg,
              `with plain names the OOM-ing cgroup must be read, read ${
                JSON.stringify(kill.memcg)
              }`,
            );
          } else {
            check(
              kill.memcg === input.group,
              `group member attributed to ${
                JSON.stringify(kill.memcg)
              }, not to the group ${JSON.stringify(input.group)}`,
            );
          }
        });
      },
    };
  },
};

// ---------------------------------------------------------------------------
// The escapes of kernel text

const kernelText: FuzzTarget = {
  name: "kernel-text",
  claim:
    "kernel text unescapes to the bytes the kernel printed, and displayBytes() shows any bytes on one line, reversibly",
  generate(rng: Rng): FuzzCase {
    const bytes = rng.chance(0.5)
      ? randomBytes(rng, 0, 64)
      : hostileBytes(rng, 0, 64, []);
    const text = rng.chance(0.8)
      ? kmsgEscape(bytes)
      : mutateText(rng, kmsgEscape(bytes)) + hostileFragment(rng);
    return {
      input: { bytes, text },
      run(): void {
        const unescaped = expectOnly(
          "unescapeKernelBytes",
          () => unescapeKernelBytes(text),
          nothing,
        );
        if (text === kmsgEscape(bytes) && unescaped.ok) {
          check(
            unescaped.value.join() === bytes.join(),
            "unescaping the kernel's rendering does not give its bytes",
          );
        }
        const shown = expectOnly(
          "displayBytes",
          () => displayBytes(bytes),
          nothing,
        );
        if (!shown.ok) return;
        checkShownSafely("displayBytes()", shown.value);
        check(
          undisplay(shown.value).join() === bytes.join(),
          "displayBytes() loses bytes: two inputs show the same",
        );
        const escaped = expectOnly(
          "escapeControl",
          () => escapeControl(text),
          nothing,
        );
        if (escaped.ok) checkShownSafely("escapeControl()", escaped.value);
      },
    };
  },
};

/** The inverse of displayBytes(): `\xNN` a byte, anything else its UTF-8. */
function undisplay(text: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < text.length;) {
    const escape = /^\\x([0-9a-f]{2})/.exec(text.slice(i, i + 4));
    if (escape) {
      parts.push(Uint8Array.of(parseInt(escape[1], 16)));
      i += 4;
    } else {
      const char = String.fromCodePoint(text.codePointAt(i) ?? 0);
      parts.push(utf8(char));
      i += char.length;
    }
  }
  return concatBytes(parts);
}

/** The kernel log's targets. */
export const KERNEL_TARGETS: readonly FuzzTarget[] = [
  records,
  classifier,
  correlator,
  killLines,
  memcgAttribution,
  kernelText,
];
