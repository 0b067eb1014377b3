/**
 * The libc boundary: every call oomwatch makes into the C library, and the
 * only module in the project that calls `Deno.dlopen`.
 *
 * Each function turns a failed call into a {@link LibcError} that carries the
 * errno, its symbolic name and the call that failed, so callers can explain
 * the failure to a person (an mlock refused by RLIMIT_MEMLOCK, say).
 *
 * errno is read right after the synchronous call that set it: Deno has no API
 * for it, and after a non-blocking (threaded) call it belongs to another
 * thread, so `poll` reports through its return value and `revents` only.
 *
 * @module
 */

const library = Deno.dlopen("libc.so.6", {
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  mlock: { parameters: ["pointer", "usize"], result: "i32" },
  mlock2: { parameters: ["pointer", "usize", "u32"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  usleep: { parameters: ["u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // Runs on a worker thread so the event loop (signals, timers) stays free
  // while the daemon waits; the call cannot be cancelled, so callers must
  // always pass a finite timeout.
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
});

const symbols = library.symbols;

/** Symbolic names of the errno values oomwatch can meet (x86_64/aarch64). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  32: "EPIPE",
  38: "ENOSYS",
};

/** The errno name of `errno`, or `errno N` for one this table lacks. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** A libc call that returned failure; `errno` says why. */
export class LibcError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;

  constructor(call: string, errno: number) {
    super(`${call} failed: ${errnoName(errno)}`);
    this.name = "LibcError";
    this.call = call;
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

function lastErrno(): number {
  const location = symbols.__errno_location();
  if (location === null) return 0;
  return new Deno.UnsafePointerView(location).getInt32();
}

// Linux x86_64 and aarch64 share these values (asm-generic / x86 headers).
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MADV_DONTNEED = 4;
const MADV_HUGEPAGE = 14;
const MAP_FAILED = 0xffffffffffffffffn;
const RLIMIT_MEMLOCK = 8;
const RLIM_INFINITY = 0xffffffffffffffffn;
const O_RDONLY = 0;
const O_RDWR = 2;
const O_NONBLOCK = 0x800;
const O_CLOEXEC = 0x80000;
const O_CREAT = 0x40;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
const SEEK_END = 2;
const CLOCK_MONOTONIC = 1;
const MLOCK_ONFAULT = 1;

/** Event bits of `poll(2)`. */
export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLERR = 0x8;

/** A mapping made by {@link mapAnonymous}. */
export interface Mapping {
  readonly address: Deno.PointerObject;
  readonly bytes: number;
}

/**
 * Maps `bytes` of private anonymous memory, not yet populated, and asks for
 * transparent huge pages: unmapping 32 MiB of 2 MiB pages takes ~0.1 ms
 * where 4 KiB pages take ~3 ms (measured here), and that time is the
 * reserve's release latency. Where THP is off the kernel uses small pages.
 * Throws {@link LibcError} (ENOMEM when the kernel cannot find the space).
 */
export function mapAnonymous(bytes: number): Mapping {
  const address = symbols.mmap(
    null,
    BigInt(bytes),
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0n,
  );
  const errno = lastErrno();
  if (address === null || Deno.UnsafePointer.value(address) === MAP_FAILED) {
    throw new LibcError("mmap", errno);
  }
  // Advisory: EINVAL where THP is compiled out changes nothing.
  symbols.madvise(address, BigInt(bytes), MADV_HUGEPAGE);
  return { address, bytes };
}

/**
 * Locks a mapping into RAM, faulting in every page (mlock populates).
 * Throws {@link LibcError} (EPERM/ENOMEM/EAGAIN).
 */
export function lockMapping(mapping: Mapping): void {
  const result = symbols.mlock(mapping.address, BigInt(mapping.bytes));
  if (result !== 0) throw new LibcError("mlock", lastErrno());
}

/**
 * Locks the pages of `[address, address + bytes)` as they are faulted in
 * (MLOCK_ONFAULT), without reading in the rest: for the daemon's own code,
 * whose used pages must stay resident while the machine thrashes.
 */
export function lockOnFault(address: bigint, bytes: bigint): void {
  const pointer = Deno.UnsafePointer.create(address);
  const result = symbols.mlock2(pointer, bytes, MLOCK_ONFAULT);
  if (result !== 0) throw new LibcError("mlock2", lastErrno());
}

/**
 * Drops the pages of `[address, address + bytes)` from this process's page
 * tables (MADV_DONTNEED). Only for mappings of files that are never written,
 * such as program text: their pages stay in the page cache and come back on
 * the next touch, while written private pages would be lost.
 */
export function dropMappedPages(address: bigint, bytes: bigint): void {
  const pointer = Deno.UnsafePointer.create(address);
  const result = symbols.madvise(pointer, bytes, MADV_DONTNEED);
  if (result !== 0) throw new LibcError("madvise", lastErrno());
}

/** Unmaps a mapping; its pages, locked or not, go back to the kernel. */
export function unmap(mapping: Mapping): void {
  const result = symbols.munmap(mapping.address, BigInt(mapping.bytes));
  if (result !== 0) throw new LibcError("munmap", lastErrno());
}

/** A resource limit; `null` stands for RLIM_INFINITY. */
export interface ResourceLimit {
  soft: bigint | null;
  hard: bigint | null;
}

function fromRlim(value: bigint): bigint | null {
  return value === RLIM_INFINITY ? null : value;
}

/** The process's RLIMIT_MEMLOCK in bytes. */
export function getMemlockLimit(): ResourceLimit {
  const buffer = new BigUint64Array(2);
  const result = symbols.getrlimit(
    RLIMIT_MEMLOCK,
    new Uint8Array(buffer.buffer),
  );
  if (result !== 0) throw new LibcError("getrlimit", lastErrno());
  return { soft: fromRlim(buffer[0]), hard: fromRlim(buffer[1]) };
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/**
 * Opens `path` read-only and non-blocking (Deno's own files block, and a
 * blocking read of `/dev/kmsg` would tie a thread up until the kernel logs
 * something). Returns the file descriptor.
 */
export function openReadNonBlocking(path: string): number {
  const fd = symbols.open(cString(path), O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw new LibcError(`open ${path}`, lastErrno());
  return fd;
}

/** Opens `path` read-write and non-blocking (a PSI trigger). Returns the fd. */
export function openReadWriteNonBlocking(path: string): number {
  const fd = symbols.open(cString(path), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw new LibcError(`open ${path}`, lastErrno());
  return fd;
}

/** One `write(2)` of all of `bytes`; a short or failed write throws. */
export function writeFd(fd: number, bytes: Uint8Array): void {
  const result = symbols.write(fd, bytes, BigInt(bytes.byteLength));
  if (result < 0n) throw new LibcError("write", lastErrno());
  if (Number(result) !== bytes.byteLength) {
    throw new LibcError("write (short)", 5);
  }
}

/**
 * Opens (creating if needed, mode 0644) a lock file read-write; or, with
 * `readOnly`, an existing one for reading (enough for a shared lock).
 */
export function openLockFile(path: string, readOnly = false): number {
  const flags = readOnly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC;
  const fd = symbols.open(cString(path), flags, 0o644);
  if (fd < 0) throw new LibcError(`open ${path}`, lastErrno());
  return fd;
}

/**
 * Takes an flock(2) without waiting: exclusive or shared. Returns false when
 * another process holds a conflicting lock. The kernel drops the lock when
 * the holder exits, however it exits (SIGKILL included), so it never goes
 * stale.
 */
export function tryLock(fd: number, exclusive: boolean): boolean {
  const result = symbols.flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  if (result === 0) return true;
  const errno = lastErrno();
  if (errno === EWOULDBLOCK) return false;
  throw new LibcError("flock", errno);
}

/** Replaces the content of an open file with `text` (the lock file's pid). */
export function replaceContent(fd: number, text: string): void {
  if (symbols.ftruncate(fd, 0n) !== 0) {
    throw new LibcError("ftruncate", lastErrno());
  }
  if (symbols.lseek(fd, 0n, 0) < 0n) throw new LibcError("lseek", lastErrno());
  writeFd(fd, new TextEncoder().encode(text));
}

/**
 * A non-blocking pipe for waking a poll from a signal handler: write a byte
 * to `writeFd`, poll `readFd` for POLLIN, drain it with readNonBlocking.
 */
export function makeWakePipe(): { readFd: number; writeFd: number } {
  const fds = new Int32Array(2);
  const result = symbols.pipe2(
    new Uint8Array(fds.buffer),
    O_NONBLOCK | O_CLOEXEC,
  );
  if (result !== 0) throw new LibcError("pipe2", lastErrno());
  return { readFd: fds[0], writeFd: fds[1] };
}

/** Moves a descriptor to the end of its file (for `/dev/kmsg`: the newest record). */
export function seekToEnd(fd: number): void {
  const result = symbols.lseek(fd, 0n, SEEK_END);
  if (result < 0n) throw new LibcError("lseek", lastErrno());
}

/** Outcome of one non-blocking read. */
export type ReadResult =
  | { kind: "data"; bytes: number }
  | { kind: "again" }
  | { kind: "error"; error: LibcError };

/** One `read(2)` into `buffer`; EAGAIN is "nothing now", not a failure. */
export function readNonBlocking(fd: number, buffer: Uint8Array): ReadResult {
  const result = symbols.read(fd, buffer, BigInt(buffer.byteLength));
  if (result >= 0) return { kind: "data", bytes: Number(result) };
  const errno = lastErrno();
  if (errno === 11) return { kind: "again" };
  return { kind: "error", error: new LibcError("read", errno) };
}

/** Closes a descriptor opened here; errors are ignored (nothing to undo). */
export function closeFd(fd: number): void {
  symbols.close(fd);
}

/**
 * Waits until one of `fds` has one of its `events`, or `timeoutMs` passes
 * (which must be finite: a pending poll cannot be cancelled). Resolves to the
 * `revents` of each descriptor, all 0 on timeout.
 */
export async function pollFds(
  fds: readonly { fd: number; events: number }[],
  timeoutMs: number,
): Promise<number[]> {
  // With no descriptors, poll is a plain sleep (the buffer must not be empty).
  const table = new Uint8Array(8 * Math.max(1, fds.length));
  const view = new DataView(table.buffer);
  fds.forEach((entry, index) => {
    view.setInt32(index * 8, entry.fd, true);
    view.setInt16(index * 8 + 4, entry.events, true);
  });
  const timeout = Math.max(0, Math.min(Math.ceil(timeoutMs), 2 ** 31 - 1));
  const ready = await symbols.poll(table, BigInt(fds.length), timeout);
  // A failed poll (EINTR) reads as "nothing ready": the caller's loop re-reads
  // every source on each wake anyway.
  if (ready <= 0) return fds.map(() => 0);
  return fds.map((_, index) => view.getInt16(index * 8 + 6, true));
}

/**
 * CLOCK_MONOTONIC in microseconds: the clock of the kernel log's timestamps
 * (printk uses local_clock, which tracks it), so a latency measured from a
 * kernel record to now uses one clock.
 */
export function monotonicMicros(): bigint {
  const buffer = new BigInt64Array(2);
  symbols.clock_gettime(CLOCK_MONOTONIC, new Uint8Array(buffer.buffer));
  return buffer[0] * 1_000_000n + buffer[1] / 1000n;
}

/** Sleeps the calling thread (blocking); for measurement loops, not the daemon. */
export function sleepMicros(micros: number): void {
  symbols.usleep(micros);
}
