/**
 * Tests that need root, a memory cgroup or qemu: registered as ignored with
 * a printed reason where the machine lacks what they need — unless
 * `OOMWATCH_REQUIRE_PRIVILEGED=1` (CI), where a missing need fails the test.
 */

export const REQUIRE_PRIVILEGED =
  Deno.env.get("OOMWATCH_REQUIRE_PRIVILEGED") === "1";

/** A need: its name and, when unmet here, why. */
export interface Need {
  name: string;
  missing: () => string | null;
}

export const ROOT: Need = {
  name: "root",
  missing: () =>
    Deno.uid() === 0 ? null : `runs as uid ${Deno.uid()}, not root`,
};

/** Whether `name` is an installed command (in the usual system folders). */
export function hasCommand(name: string): boolean {
  return ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

/** A need for installed commands, naming the package that brings them. */
export function commandsNeed(commands: string[], debianPackage: string): Need {
  return {
    name: commands.join(" and "),
    missing: () =>
      commands.every(hasCommand)
        ? null
        : `not installed (apt-get install ${debianPackage})`,
  };
}

/** Registers a test that runs only where every need is met. */
export function privilegedTest(
  name: string,
  needs: Need[],
  fn: () => Promise<void> | void,
): void {
  const missing = needs
    .map((need) => ({ need, why: need.missing() }))
    .filter((entry) => entry.why !== null);
  if (missing.length === 0) {
    Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
    return;
  }
  const reason = missing.map((entry) => `${entry.need.name}: ${entry.why}`)
    .join("; ");
  if (REQUIRE_PRIVILEGED) {
    Deno.test(name, () => {
      throw new Error(
        `OOMWATCH_REQUIRE_PRIVILEGED=1 but this test cannot run here (${reason})`,
      );
    });
    return;
  }
  console.log(`skipping '${name}': ${reason}`);
  Deno.test({ name, ignore: true, fn });
}
