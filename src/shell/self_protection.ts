/**
 * Keeps the OOM killer away from oomwatch itself.
 *
 * @module
 */

import {
  dropMappedPages,
  LibcError,
  lockOnFault,
  trimMallocHeap,
} from "../../ffi/libc.ts";
import { describeError } from "../core/errors.ts";
import { codeMappings, type Mapping, parseMaps } from "../core/maps.ts";
import { parseSmaps, sheddableMappings } from "../core/smaps.ts";
import type { Logger } from "./log.ts";
import { readKernelText, SMAPS_MAX_BYTES } from "./procfs.ts";
import { appendRecord } from "./safe_file.ts";

export const OOM_SCORE_ADJ_MIN = -1000;

function ownCodeMappings(proc: string): Mapping[] {
  const maps = readKernelText(`${proc}/self/maps`);
  return maps.ok ? codeMappings(parseMaps(maps.value)) : [];
}

/**
 * Asks for `oom_score_adj` -1000. Lowering it needs CAP_SYS_RESOURCE, which
 * root may lack (containers, these machines): then warn once, naming the fix,
 * and go on. Returns the value in force afterwards, or null if unreadable.
 */
export function protectFromOomKiller(
  log: Logger,
  proc = "/proc",
): number | null {
  const path = `${proc}/self/oom_score_adj`;
  try {
    appendRecord(path, new TextEncoder().encode(String(OOM_SCORE_ADJ_MIN)));
  } catch (error) {
    const reason = describeError(error);
    log.warn(
      `cannot set oom_score_adj to ${OOM_SCORE_ADJ_MIN} (${reason}): lowering it needs CAP_SYS_RESOURCE; ` +
        `the OOM killer may pick oomwatch. Start it from systemd with OOMScoreAdjust=-1000 ` +
        `(the shipped unit does), or grant it CAP_SYS_RESOURCE`,
    );
  }
  const value = readKernelText(path);
  return value.ok ? Number(value.value.trim()) : null;
}

/**
 * Locks the pages of the daemon's own code as they are used (mlock2 with
 * MLOCK_ONFAULT on its file-backed read-only mappings), so a thrashing
 * machine cannot evict them and stall the daemon on every instruction.
 * `mlockall` is not an option: V8 aborts when its own madvise calls fail on
 * locked heap pages. Returns how many mappings were locked; a refusal
 * (RLIMIT_MEMLOCK without CAP_IPC_LOCK) is a warning, not a failure.
 */
export function lockOwnCode(log: Logger, proc = "/proc"): number {
  const mappings = ownCodeMappings(proc);
  let locked = 0;
  let refusal: string | null = null;
  for (const mapping of mappings) {
    try {
      lockOnFault(mapping.start, mapping.end - mapping.start);
      locked += 1;
    } catch (error) {
      if (!(error instanceof LibcError)) throw error;
      refusal ??= `${error.code} on ${mapping.path}`;
    }
  }
  if (refusal !== null) {
    log.warn(
      `could not lock ${
        mappings.length - locked
      } of ${mappings.length} code mappings (${refusal}): under memory pressure the kernel may evict oomwatch's code. ` +
        "Run it as root with CAP_IPC_LOCK, or raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity)",
    );
  }
  return locked;
}

/**
 * Gives back what the daemon no longer uses: the program text and read-only
 * data touched only while starting (module loading, FFI set-up, V8's start-up
 * snapshot; ~10 MB of text and ~4 MB of data, the latter measured against a
 * bare Deno at rest) or during an episode just ended (its code paths: ~5
 * MB), and glibc's free heap pages (malloc_trim; the Rust side of Deno
 * allocates through it: ~3 MB after an episode, measured here). These are
 * clean file pages the kernel re-reads on a touch, so what the daemon runs
 * next faults back in and its resident code stays its working set;
 * `--lock-code` pins that instead, and then they are left alone
 * (`codeLocked`). Which mappings: smaps decides (sheddableMappings) — never
 * one holding a page written since it was mapped, such as the relocated
 * pointers of a RELRO segment, which only the file's copy would replace.
 * Returns the number of mappings trimmed.
 */
export function shedIdleMemory(proc = "/proc", codeLocked = false): number {
  trimMallocHeap();
  return codeLocked ? 0 : dropCodePages(proc);
}

function dropCodePages(proc: string): number {
  const smaps = readKernelText(`${proc}/self/smaps`, SMAPS_MAX_BYTES);
  if (!smaps.ok) return 0;
  let trimmed = 0;
  for (const mapping of sheddableMappings(parseSmaps(smaps.value))) {
    try {
      dropMappedPages(mapping.start, mapping.end - mapping.start);
      trimmed += 1;
    } catch {
      // advisory: a mapping that refuses keeps its pages
    }
  }
  return trimmed;
}
