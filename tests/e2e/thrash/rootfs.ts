// The harness runs one external tool after another; nothing here is served
// concurrently, so synchronous file work is plain.
// deno-lint-ignore-file no-sync-fn-in-async-fn
/**
 * The ext4-root guest of the thrash scenarios: a small initramfs that only
 * mounts the root image (stage1.sh), and the root image itself — busybox,
 * three byte-identical copies of the Deno binary (two beaters, and the probe
 * or oomwatch: separate page cache each), glibc as `ldd` lists it, oomwatch
 * bundled (or dist/oomwatch), the probe bundled, the beater, the static
 * helpers (compiled here with `gcc -static -O2`), a source tree for the
 * compile-like load, and root_init.sh as /init. On the disk, all of it is
 * evictable file pages, as on a real machine.
 *
 * @module
 */

import {
  busyboxPath,
  CACHE,
  copyCompiled,
  copyDeno,
  REPO,
  sh,
} from "../host.ts";

const HERE = `${REPO}tests/e2e/thrash`;
const HELPERS = ["pin", "monitor"];
/** Free room on the root image beyond its files: the copy load writes 2 × 200 MB. */
const ROOM_MB = 640;

/** The initramfs whose /init switches to the root image. */
export async function buildStage1(modules: string): Promise<string> {
  const root = `${CACHE}/stage1`;
  await sh(`rm -rf '${root}' && mkdir -p '${root}/bin' '${root}/modules'`);
  Deno.copyFileSync(busyboxPath(), `${root}/bin/busybox`);
  Deno.copyFileSync(`${HERE}/stage1.sh`, `${root}/init`);
  Deno.chmodSync(`${root}/init`, 0o755);
  await sh(`cp '${modules}'/*.ko '${root}/modules/'`);
  const image = `${CACHE}/stage1.gz`;
  await sh(`find . | cpio -o -H newc --quiet | gzip -1 > '${image}'`, {
    cwd: root,
  });
  return image;
}

/** The root image, built once a suite run; each boot gets a fresh copy. */
export async function buildRootImage(modules: string): Promise<string> {
  const root = `${CACHE}/rootfs`;
  await sh(`rm -rf '${root}'`);
  for (
    const dir of [
      "bin",
      "e2e",
      "proc",
      "sys",
      "dev",
      "tmp",
      "mnt",
      "etc",
      "modules",
    ]
  ) {
    Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
  }
  const busybox = busyboxPath();
  Deno.copyFileSync(busybox, `${root}/bin/busybox`);
  const applets = (await sh(`'${busybox}' --list`)).split("\n")
    .filter((name) => /^[\w.-]+$/.test(name) && name !== "busybox");
  for (const applet of applets) {
    Deno.symlinkSync("busybox", `${root}/bin/${applet}`);
  }
  for (const helper of HELPERS) {
    await sh(
      `gcc -static -O2 -Wall -Wextra -o '${root}/bin/${helper}' '${HERE}/${helper}.c'`,
    );
  }
  // softdog and the watchdog core, for thrash-watchdog.
  await sh(`cp '${modules}'/*.ko '${root}/modules/'`);
  Deno.copyFileSync(`${HERE}/root_init.sh`, `${root}/init`);
  Deno.chmodSync(`${root}/init`, 0o755);
  await copyDeno(root, ["deno", "deno-a", "deno-b"]);
  copyCompiled(root);
  await sh(
    `'${Deno.execPath()}' bundle --quiet src/main.ts -o '${root}/e2e/oomwatch.js'`,
  );
  await sh(
    `'${Deno.execPath()}' bundle --quiet '${HERE}/probe.ts' -o '${root}/e2e/probe.js'`,
  );
  Deno.copyFileSync(`${HERE}/beater.ts`, `${root}/e2e/beater.ts`);
  await sh(
    `mkdir -p '${root}/srctree' && cp -r src ffi tests '${root}/srctree/'`,
  );
  const usedMb = Number((await sh(`du -sm '${root}'`)).split("\t")[0]);
  const image = `${CACHE}/root.img`;
  await sh(
    `rm -f '${image}' && mkfs.ext4 -q -F -L root -d '${root}' '${image}' ${
      usedMb + ROOM_MB
    }M`,
  );
  return image;
}

/** A fresh copy of the root image for one boot (sparse, like the original). */
export async function freshRoot(image: string, name: string): Promise<string> {
  const copy = `${CACHE}/root-${name}.img`;
  await sh(`cp --sparse=always '${image}' '${copy}'`);
  return copy;
}
