/** The program's version; `oomwatch --version` prints `oomwatch <VERSION>`. */
export const VERSION = "0.1.0";
