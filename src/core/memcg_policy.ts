/**
 * Which memcg kills are OOM signals, and what the tracepoint's wake may
 * decide before the kernel log has told a kill's cgroup: the `memcg_oom`
 * policy as pure functions, for the detector, the witnesses and the
 * tracepoint source.
 *
 * @module
 */

import type { MemcgOomPolicy } from "./config.ts";
import type { OomScope } from "./kernel_log.ts";

/**
 * Whether a memcg kill in `memcg` is an OOM signal under `policy`: under
 * prefixes, only a kill whose OOM-ing cgroup is known and lies at or below
 * one of them (path components, so `/a/b` covers `/a/b/c`, not `/a/bc`).
 * Where the log did not tell the OOM-ing cgroup, the detector passes the
 * victim's own: it lies at or below the one that ran out, so a kill in a
 * covered cgroup counts even when its limit was an ancestor's.
 *
 * @example
 * ```ts
 * memcgKillIsSignal({ kind: "prefixes", prefixes: ["/system.slice/db.service"] }, "/system.slice/db.service/x"); // true
 * ```
 */
export function memcgKillIsSignal(
  policy: MemcgOomPolicy,
  memcg: string | undefined,
): boolean {
  switch (policy.kind) {
    case "none":
      return false;
    case "all":
      return true;
    case "prefixes":
      // `/` covers every cgroup, the one the log did not name too.
      return policy.prefixes.includes("/") ||
        (memcg !== undefined &&
          policy.prefixes.some((prefix) => covers(prefix, memcg)));
  }
}

/** Whether `cgroup` lies at or below `prefix` (path components). */
function covers(prefix: string, cgroup: string): boolean {
  return prefix === "/" || cgroup === prefix ||
    cgroup.startsWith(`${prefix}/`);
}

/**
 * The cgroups whose `oom_kill` counters tell of kills in the covered ones:
 * the policy's prefixes, none below another (its kills are counted in the
 * one above it). None when the policy has no prefixes, or covers `/`: then
 * a kill's verdict never needs its cgroup.
 *
 * @example
 * ```ts
 * coveredCgroups({ kind: "prefixes", prefixes: ["/a/b", "/a", "/c"] }); // ["/a", "/c"]
 * ```
 */
export function coveredCgroups(policy: MemcgOomPolicy): string[] {
  if (policy.kind !== "prefixes" || policy.prefixes.includes("/")) return [];
  const sorted = [...new Set(policy.prefixes)].sort();
  return sorted.filter((prefix) =>
    !sorted.some((other) => other !== prefix && covers(other, prefix))
  );
}

/**
 * Whether a judged kill may be the one a rise of the covered cgroups'
 * counters counted (core/kill_ledger.ts, CoveredKillCounts): a global kill
 * whose victim's cgroup is not known to lie elsewhere, a memcg kill whose
 * victim lies in a covered cgroup, or whose OOM-ing cgroup holds a covered
 * one (the victim may be there). A memcg kill with no cgroup known explains
 * no rise: that is the kill the counters are read for.
 */
export function mayRaiseCovered(
  policy: MemcgOomPolicy,
  kill: { scope: OomScope; memcg?: string; victimMemcg?: string },
): boolean {
  const covered = coveredCgroups(policy);
  const victim = kill.victimMemcg;
  if (victim !== undefined) {
    return covered.some((prefix) => covers(prefix, victim));
  }
  if (kill.scope === "global") return true;
  const memcg = kill.memcg;
  return memcg !== undefined &&
    covered.some((prefix) => covers(prefix, memcg) || covers(memcg, prefix));
}

/**
 * Whether a kill of `scope` (from the tracepoint's callchain) is judged
 * without its cgroup's path: a global kill is always an OOM signal; a memcg
 * kill is judged on scope alone only where every memcg kill is a signal
 * (otherwise the verdict — or its log line — needs the path).
 */
export function judgedOnScope(
  policy: MemcgOomPolicy,
  scope: OomScope,
): boolean {
  return scope === "global" || policy.kind === "all";
}

/**
 * Whether the reserve is released on the tracepoint's wake, before the rest
 * of the wake: when the kill is an OOM signal whatever it turns out to be
 * (every kill is one), or when its callchain's scope makes it one — the
 * verdict {@link judgedOnScope} leads to, so an early release always
 * belongs to an episode.
 */
export function releasesAtOnce(
  policy: MemcgOomPolicy,
  scope: OomScope | null,
): boolean {
  return policy.kind === "all" || scope === "global";
}

/**
 * The memory cgroup of a /proc/<pid>/cgroup text: the v1 `memory`
 * controller's line, else the v2 `0::` line. Null when neither is there, or
 * when the text is not one path per controller line. The kernel refuses a
 * newline in a cgroup's name (cgroup_mkdir and cgroup1_rename, "to prevent
 * making /proc/<pid>/cgroup unparsable"; measured here: EINVAL), so this is
 * a second fence: a path cut at a newline would name another cgroup, one a
 * `memcg_oom` prefix might cover.
 *
 * @example
 * ```ts
 * memoryCgroupOf("12:pids:/a\n4:memory:/db\n0::/\n"); // "/db"
 * ```
 */
export function memoryCgroupOf(text: string): string | null {
  let memory: string | null = null;
  let unified: string | null = null;
  const lines = text.endsWith("\n") ? text.slice(0, -1) : text;
  for (const line of lines.split("\n")) {
    const match = /^(\d{1,6}):([^:]*):(\/.*)$/.exec(line);
    if (!match) return null;
    if (match[2].split(",").includes("memory")) {
      if (memory !== null) return null;
      memory = match[3];
    } else if (match[1] === "0" && match[2] === "") {
      if (unified !== null) return null;
      unified = match[3];
    }
  }
  return memory ?? unified;
}
