// deno-lint-ignore-file no-sync-fn-in-async-fn
import assert from "node:assert/strict";
import { KernelLogReader } from "../../src/shell/kernel_log_reader.ts";
import { Reserve, ReserveError } from "../../src/shell/reserve.ts";
import { describeMachine } from "../../src/core/machine.ts";

const machine = describeMachine(() => undefined);
import { readStatusBytes } from "../../src/shell/procfs.ts";
import { privilegedTest, ROOT } from "../helpers/privilege.ts";
import { waitFor } from "../helpers/daemon.ts";

const MIB = 1024 * 1024;

privilegedTest(
  "a reserve shows in VmLck while held and leaves it when released",
  [ROOT],
  () => {
    const before = readStatusBytes("self", "VmLck") ?? 0;
    const reserve = new Reserve(machine);
    try {
      reserve.create(8 * MIB);
      assert.equal(reserve.bytes, 8 * MIB);
      assert.equal(readStatusBytes("self", "VmLck"), before + 8 * MIB);
    } finally {
      assert.equal(reserve.release(), 8 * MIB);
    }
    assert.equal(readStatusBytes("self", "VmLck"), before);
    assert.equal(reserve.release(), 0, "releasing twice gives nothing back");
  },
);

Deno.test("a reserve larger than the address space is a ReserveError that says what to do", () => {
  const reserve = new Reserve(machine);
  assert.throws(
    () => reserve.create(2 ** 52),
    (error: Error) =>
      error instanceof ReserveError && /lower --bufsize/.test(error.message),
  );
  assert.equal(reserve.held, false);
});

privilegedTest(
  "the kernel log reader sees records written after it opened, not before",
  [ROOT],
  async () => {
    const marker = `oomwatch-test-${crypto.randomUUID()}`;
    Deno.writeTextFileSync("/dev/kmsg", `${marker} before\n`);
    const reader = KernelLogReader.open("/dev/kmsg");
    try {
      assert.deepEqual(
        reader.drain().filter((r) => r.text.includes(marker)),
        [],
      );
      Deno.writeTextFileSync("/dev/kmsg", `${marker} after\n`);
      const records = await waitFor("the record", () => {
        const found = reader.drain().filter((r) => r.text.includes(marker));
        return found.length > 0 ? found : undefined;
      });
      assert.equal(records.length, 1);
      assert.equal(records[0].text, `${marker} after`);
      assert.notEqual(
        records[0].facility,
        0,
        "userspace records are not the kernel's",
      );
    } finally {
      reader.close();
    }
  },
);

Deno.test("the kernel log reader reports a path it cannot open", () => {
  assert.throws(() => KernelLogReader.open("/nonexistent/kmsg"), /ENOENT/);
});
