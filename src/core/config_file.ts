/**
 * The config file in sysctl.d syntax, so an `/etc/sysctl.d` file written
 * for `oom_ext` works as it is. Pure: text in, a configuration layer out.
 *
 * @module
 */

import { canonicalName, type ConfigLayer, parseParameter } from "./config.ts";
import { UsageError } from "./errors.ts";

const SYSCTL_PREFIX = "vm.oom_ext.";

/**
 * Parses a config file in sysctl.d syntax: `key = value` lines, `#` and `;`
 * comments, keys with or without the `vm.oom_ext.` prefix (also written with
 * slashes, as sysctl allows). A leading `-` (sysctl's "ignore failure") is
 * accepted and ignored. Other sysctls (`kernel.panic = 10` in the
 * `/etc/sysctl.d` file written for `oom_ext`) are sysctl's business and
 * skipped; an unknown bare key, an unknown `vm.oom_ext.` key or a dotted key
 * that names `oom_ext` in another way (a typo) is an error naming the file,
 * the line, the key and the value, as is a bad value or a key given twice.
 *
 * @example
 * ```ts
 * parseConfigFile("vm.oom_ext.bufsize = 64\n", "/etc/sysctl.d/oom.conf"); // { bufsize: 64 }
 * ```
 */
export function parseConfigFile(text: string, path: string): ConfigLayer {
  const layer: ConfigLayer = {};
  const seen = new Map<string, number>();
  text.split("\n").forEach((line, index) => {
    const where = `${path}:${index + 1}`;
    const content = line.trim();
    if (content === "" || content.startsWith("#") || content.startsWith(";")) {
      return;
    }
    const equals = content.indexOf("=");
    if (equals < 0) {
      throw new UsageError(
        `${where}: expected 'key = value', found '${content}'`,
      );
    }
    let key = content.slice(0, equals).trim().replace(/^-/, "");
    key = key.replaceAll("/", ".");
    if (key.startsWith(SYSCTL_PREFIX)) {
      key = key.slice(SYSCTL_PREFIX.length);
    } else if (key.includes(".") && !/oom[-_]?ext/i.test(key)) {
      return;
    }
    const canonical = canonicalName(key) ?? key;
    const earlier = seen.get(canonical);
    if (earlier !== undefined) {
      throw new UsageError(
        `${where}: ${canonical} is set again (first on line ${earlier}); keep one line`,
      );
    }
    seen.set(canonical, index + 1);
    Object.assign(
      layer,
      parseParameter(key, content.slice(equals + 1).trim(), where),
    );
  });
  return layer;
}
