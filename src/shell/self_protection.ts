/**
 * Keeps the OOM killer away from oomwatch itself.
 *
 * @module
 */

import type { Logger } from "./log.ts";

const OOM_SCORE_ADJ_PATH = "/proc/self/oom_score_adj";
export const OOM_SCORE_ADJ_MIN = -1000;

/**
 * Asks for `oom_score_adj` -1000. Lowering it needs CAP_SYS_RESOURCE, which
 * root may lack (containers, these machines): then warn once, naming the fix,
 * and go on. Returns the value in force afterwards, or null if unreadable.
 */
export function protectFromOomKiller(log: Logger): number | null {
  try {
    Deno.writeTextFileSync(OOM_SCORE_ADJ_PATH, String(OOM_SCORE_ADJ_MIN));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log.warn(
      `cannot set oom_score_adj to ${OOM_SCORE_ADJ_MIN} (${reason}): lowering it needs CAP_SYS_RESOURCE; ` +
        `the OOM killer may pick oomwatch. Start it from systemd with OOMScoreAdjust=-1000 ` +
        `(the shipped unit does), or grant it CAP_SYS_RESOURCE`,
    );
  }
  try {
    return Number(Deno.readTextFileSync(OOM_SCORE_ADJ_PATH).trim());
  } catch {
    return null;
  }
}
