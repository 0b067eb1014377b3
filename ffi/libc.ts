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
  statx: {
    parameters: ["i32", "buffer", "i32", "u32", "buffer"],
    result: "i32",
  },
  fsync: { parameters: ["i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  sync: { parameters: [], result: "void" },
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
  },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  // long syscall(long number, ...): glibc's is assembly that moves six
  // registers, so declaring every argument as 64 bits passes them right.
  syscall: {
    parameters: ["i64", "buffer", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  malloc_trim: { parameters: ["usize"], result: "i32" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  reboot: { parameters: ["i32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, ...): the one argument used
  // here is a pointer.
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
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
  // The same call on the calling thread: no hop from a worker thread to the
  // event loop after the wake, so what runs next runs at once.
  poll_here: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
  },
});

const symbols = library.symbols;

/** Symbolic names of the errno values oomwatch can meet (x86_64/aarch64). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  95: "EOPNOTSUPP",
  122: "EDQUOT",
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

// Linux x86_64 and aarch64 share these values (asm-generic / x86 headers),
// except where OPEN_FLAGS says otherwise.
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MADV_DONTNEED = 4;
const MADV_HUGEPAGE = 14;
const MAP_FAILED = 0xffffffffffffffffn;
const RLIMIT_MEMLOCK = 8;
const RLIM_INFINITY = 0xffffffffffffffffn;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;
const SEEK_END = 2;
const CLOCK_MONOTONIC = 1;
const MLOCK_ONFAULT = 1;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
// type, mode, nlink, uid, gid, ino, size (include/uapi/linux/stat.h).
const STATX_BASIC = 0x7ff;

/**
 * open(2) flags. O_DIRECTORY and O_NOFOLLOW are the two that differ between
 * x86_64 (include/uapi/asm-generic/fcntl.h) and aarch64
 * (arch/arm64/include/uapi/asm/fcntl.h).
 */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0x40,
  EXCL: 0x80,
  NOCTTY: 0x100,
  APPEND: 0x400,
  NONBLOCK: 0x800,
  DIRECTORY: Deno.build.arch === "aarch64" ? 0x4000 : 0x10000,
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0x8000 : 0x20000,
  CLOEXEC: 0x80000,
  /** __O_TMPFILE | O_DIRECTORY: an unnamed file in a directory. */
  TMPFILE: 0x400000 | (Deno.build.arch === "aarch64" ? 0x4000 : 0x10000),
} as const;

/** Event bits of `poll(2)`. */
export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLERR = 0x8;
export const POLLNVAL = 0x20;

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

/**
 * malloc_trim(0): glibc gives the free pages of its heaps back to the
 * kernel (the Rust side of Deno allocates through it). Returns whether
 * anything was released.
 */
export function trimMallocHeap(): boolean {
  return symbols.malloc_trim(0n) === 1;
}

/** perf_event_open(2)'s number (arch/x86/entry/syscalls, include/uapi/asm-generic/unistd.h). */
const SYS_PERF_EVENT_OPEN = Deno.build.arch === "aarch64" ? 241n : 298n;
const PERF_FLAG_FD_CLOEXEC = 8n;

/**
 * perf_event_open(attr, pid -1, cpu, group -1, FD_CLOEXEC): an event that
 * counts every task on `cpu`. Returns the fd; throws LibcError (EACCES or
 * EPERM where perf is refused: no CAP_PERFMON/CAP_SYS_ADMIN, or
 * perf_event_paranoid).
 */
export function perfEventOpen(attr: Uint8Array, cpu: number): number {
  const result = symbols.syscall(
    SYS_PERF_EVENT_OPEN,
    attr,
    -1n,
    BigInt(cpu),
    -1n,
    PERF_FLAG_FD_CLOEXEC,
  );
  const errno = lastErrno();
  if (result < 0n) throw new LibcError(`perf_event_open cpu ${cpu}`, errno);
  return Number(result);
}

/**
 * Maps `bytes` of `fd` shared and read-write (a perf ring: the reader
 * writes data_tail back) and returns a view of it. The mapping lives as
 * long as the process or until {@link unmap}.
 */
export function mapShared(
  fd: number,
  bytes: number,
): { mapping: Mapping; memory: ArrayBuffer } {
  const address = symbols.mmap(
    null,
    BigInt(bytes),
    PROT_READ | PROT_WRITE,
    MAP_SHARED,
    fd,
    0n,
  );
  const errno = lastErrno();
  if (address === null || Deno.UnsafePointer.value(address) === MAP_FAILED) {
    throw new LibcError("mmap", errno);
  }
  return {
    mapping: { address, bytes },
    memory: Deno.UnsafePointerView.getArrayBuffer(address, bytes),
  };
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
 * open(2) with `flags` from {@link O}; O_CLOEXEC is always added (a child
 * such as the --exec-on-oom hook inherits no descriptor). Returns the fd.
 * Callers outside shell/safe_file.ts open only kernel interfaces this way.
 */
export function openPath(path: string, flags: number, mode = 0): number {
  const fd = symbols.open(cString(path), flags | O.CLOEXEC, mode);
  if (fd < 0) throw new LibcError(`open ${path}`, lastErrno());
  return fd;
}

/** What statx(2) says of a file: enough to tell what it is and whether it is the same one. */
export interface FileInfo {
  /** The S_IFMT bits of the mode. */
  type: number;
  /** Permission bits (07777). */
  permissions: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  size: bigint;
  /** Device as major:minor. */
  dev: string;
}

/** File types of {@link FileInfo.type} (include/uapi/linux/stat.h). */
export const S_IF = {
  FIFO: 0o010000,
  CHR: 0o020000,
  DIR: 0o040000,
  BLK: 0o060000,
  REG: 0o100000,
  LNK: 0o120000,
  SOCK: 0o140000,
} as const;

function statxInto(
  dirfd: number,
  path: string,
  flags: number,
  call: string,
): FileInfo {
  // struct statx is 256 bytes with the same layout on every architecture.
  const buffer = new Uint8Array(256);
  const result = symbols.statx(
    dirfd,
    cString(path),
    flags,
    STATX_BASIC,
    buffer,
  );
  if (result !== 0) throw new LibcError(call, lastErrno());
  const view = new DataView(buffer.buffer);
  const mode = view.getUint16(28, true);
  return {
    type: mode & 0o170000,
    permissions: mode & 0o7777,
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    nlink: view.getUint32(16, true),
    ino: view.getBigUint64(32, true),
    size: view.getBigUint64(40, true),
    dev: `${view.getUint32(136, true)}:${view.getUint32(140, true)}`,
  };
}

/** fstat of an open descriptor. */
export function statFd(fd: number): FileInfo {
  return statxInto(fd, "", AT_EMPTY_PATH, "fstat");
}

/** stat of a path; with `follow` false, of a symlink itself (lstat). */
export function statPath(path: string, follow: boolean): FileInfo {
  return statxInto(
    AT_FDCWD,
    path,
    follow ? 0 : AT_SYMLINK_NOFOLLOW,
    `stat ${path}`,
  );
}

/** fsync(2): the file's data and metadata reach the disk. */
export function syncFd(fd: number): void {
  if (symbols.fsync(fd) !== 0) throw new LibcError("fsync", lastErrno());
}

/** unlink(2): removes a name (never a directory: that is EISDIR). */
export function unlinkPath(path: string): void {
  if (symbols.unlink(cString(path)) !== 0) {
    throw new LibcError(`unlink ${path}`, lastErrno());
  }
}

/** rename(2): atomically replaces `to` (a symlink at `to` is replaced, not followed). */
export function renamePath(from: string, to: string): void {
  if (symbols.rename(cString(from), cString(to)) !== 0) {
    throw new LibcError(`rename ${from} to ${to}`, lastErrno());
  }
}

/** mkdir(2) of one directory with `mode` (the umask still applies). */
export function makeDirectory(path: string, mode: number): void {
  if (symbols.mkdir(cString(path), mode) !== 0) {
    throw new LibcError(`mkdir ${path}`, lastErrno());
  }
}

/** What statvfs(3) says of the filesystem holding a path. */
export interface FilesystemState {
  readOnly: boolean;
  /** Bytes in all, and those an unprivileged writer could still use. */
  totalBytes: bigint;
  availableBytes: bigint;
  /** Inodes in all; 0 where the filesystem has no fixed number (btrfs). */
  totalInodes: bigint;
  availableInodes: bigint;
}

/** statvfs(3): read-only, and room left (struct statvfs of 64-bit glibc). */
export function filesystemState(path: string): FilesystemState {
  const buffer = new Uint8Array(128);
  if (symbols.statvfs(cString(path), buffer) !== 0) {
    throw new LibcError(`statvfs ${path}`, lastErrno());
  }
  const view = new DataView(buffer.buffer);
  const ST_RDONLY = 1n;
  return {
    readOnly: (view.getBigUint64(72, true) & ST_RDONLY) !== 0n,
    totalBytes: view.getBigUint64(16, true) * view.getBigUint64(8, true),
    availableBytes: view.getBigUint64(32, true) * view.getBigUint64(8, true),
    totalInodes: view.getBigUint64(40, true),
    availableInodes: view.getBigUint64(56, true),
  };
}

/** mount(2) flags (include/uapi/linux/mount.h). */
export const MS = { NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32 } as const;

/** mount(2) of a filesystem of `type` at `target` with `options`. */
export function mountFilesystem(
  source: string,
  target: string,
  type: string,
  flags: number,
  options: string,
): void {
  const result = symbols.mount(
    cString(source),
    cString(target),
    cString(type),
    BigInt(flags),
    cString(options),
  );
  if (result !== 0) throw new LibcError(`mount ${target}`, lastErrno());
}

/** umount2(2) with MNT_DETACH: gone from the tree now, freed when unused. */
export function unmountLazily(target: string): void {
  const MNT_DETACH = 2;
  if (symbols.umount2(cString(target), MNT_DETACH) !== 0) {
    throw new LibcError(`umount ${target}`, lastErrno());
  }
}

/** fallocate(2): allocates `bytes` of `fd` from the start (mode 0). */
export function allocateFile(fd: number, bytes: number): void {
  if (symbols.fallocate(fd, 0, 0n, BigInt(bytes)) !== 0) {
    throw new LibcError("fallocate", lastErrno());
  }
}

/** ftruncate(2): the file's length becomes `bytes`; pages beyond are freed. */
export function truncateFile(fd: number, bytes: number): void {
  if (symbols.ftruncate(fd, BigInt(bytes)) !== 0) {
    throw new LibcError("ftruncate", lastErrno());
  }
}

/** reboot(2) commands (include/uapi/linux/reboot.h). */
export const RB = { AUTOBOOT: 0x01234567, POWER_OFF: 0x4321fedc } as const;

/**
 * sync(2), then reboot(2) with `command`: the last resort of the panic
 * action. It returns only when the kernel refused (EPERM without
 * CAP_SYS_BOOT); the LibcError says so.
 */
export function syncAndReboot(command: number): never {
  symbols.sync();
  symbols.reboot(command);
  throw new LibcError("reboot", lastErrno());
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
    O.NONBLOCK | O.CLOEXEC,
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
/**
 * The watchdog device's ioctls (include/uapi/linux/watchdog.h), encoded as
 * asm-generic's _IOR/_IOWR('W', n, …) (x86 and arm64 alike).
 */
export const WDIOC = {
  /** _IOR('W', 0, struct watchdog_info): options u32, firmware u32, identity[32]. */
  GETSUPPORT: 0x80285700,
  KEEPALIVE: 0x80045705,
  SETTIMEOUT: 0xc0045706,
  GETTIMEOUT: 0x80045707,
} as const;

/** watchdog_info.options bits. */
export const WDIOF = {
  SETTIMEOUT: 0x0080,
  MAGICCLOSE: 0x0100,
  KEEPALIVEPING: 0x8000,
} as const;

/** ioctl(fd, request, buffer); throws LibcError with errno. */
export function ioctlBuffer(
  fd: number,
  request: number,
  buffer: Uint8Array,
  what: string,
): void {
  if (symbols.ioctl(fd, BigInt(request), buffer) < 0) {
    throw new LibcError(what, lastErrno());
  }
}

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
  const { table, view, timeout } = pollTable(fds, timeoutMs);
  const ready = await symbols.poll(table, BigInt(fds.length), timeout);
  // A failed poll (EINTR) reads as "nothing ready": the caller's loop re-reads
  // every source on each wake anyway.
  if (ready <= 0) return fds.map(() => 0);
  return fds.map((_, index) => view.getInt16(index * 8 + 6, true));
}

/**
 * {@link pollFds} on the calling thread, which it blocks: nothing else in
 * this isolate runs meanwhile — timers, promises, signal listeners. A
 * signal with a handler (Deno installs one per listened signal) is taken by
 * the thread-group leader when it does not block it (complete_signal in
 * kernel/signal.c), and poll(2) is never restarted after a handler
 * (signal(7)): null then, and the caller lets the event loop turn so the
 * listener runs.
 */
export function pollFdsHere(
  fds: readonly { fd: number; events: number }[],
  timeoutMs: number,
): number[] | null {
  const { table, view, timeout } = pollTable(fds, timeoutMs);
  const ready = symbols.poll_here(table, BigInt(fds.length), timeout);
  if (ready < 0) {
    const errno = lastErrno();
    if (errno === EINTR) return null;
    throw new LibcError("poll", errno);
  }
  if (ready === 0) return fds.map(() => 0);
  return fds.map((_, index) => view.getInt16(index * 8 + 6, true));
}

function pollTable(
  fds: readonly { fd: number; events: number }[],
  timeoutMs: number,
): { table: Uint8Array; view: DataView; timeout: number } {
  // With no descriptors, poll is a plain sleep (the buffer must not be empty).
  const table = new Uint8Array(8 * Math.max(1, fds.length));
  const view = new DataView(table.buffer);
  fds.forEach((entry, index) => {
    view.setInt32(index * 8, entry.fd, true);
    view.setInt16(index * 8 + 4, entry.events, true);
  });
  const timeout = Math.max(0, Math.min(Math.ceil(timeoutMs), 2 ** 31 - 1));
  return { table, view, timeout };
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
