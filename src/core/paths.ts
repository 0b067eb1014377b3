/**
 * The two path operations oomwatch needs, for absolute POSIX paths (config
 * validation makes every path it handles absolute). Written here rather than
 * imported from node:path, whose Node layer costs the idle daemon 2 MB of RSS.
 *
 * @module
 */

/** The directory part: `dirname("/var/lib/oomflag")` is `/var/lib`, of `/oomflag` it is `/`. */
export function dirname(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  return trimmed.slice(0, slash);
}

/** The last component: `basename("/var/lib/oomflag")` is `oomflag`. */
export function basename(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
