/**
 * The event loop's own descriptors, for a wait that blocks the loop's
 * thread (core/cadence.ts, `waitsOnOwnThread`): Deno's runtimes wait on
 * epoll instances, and a signal Deno handles (its handler writes to a pipe
 * registered there), a child's exit or any other I/O the loop has to take
 * makes one readable. Waiting on them too, the blocking wait ends as soon
 * as the loop has work — also for a signal that landed while a wake was
 * being handled, which interrupts no wait — and the daemon hands the wait
 * to a worker thread, so the loop runs the listener (1–11 ms measured).
 *
 * Found by their /proc/self/fd links (`anon_inode:[eventpoll]`): oomwatch
 * opens none itself. Should a Deno version wait differently, none is found,
 * and a signal that lands during a wake waits for the next one.
 *
 * @module
 */

const EVENTPOLL = "anon_inode:[eventpoll]";

/** This process's epoll descriptors, looked up now (~0.2 ms). */
export function eventLoopFds(proc = "/proc"): number[] {
  const fds: number[] = [];
  try {
    for (const entry of Deno.readDirSync(`${proc}/self/fd`)) {
      if (!/^\d{1,9}$/.test(entry.name)) continue;
      try {
        if (Deno.readLinkSync(`${proc}/self/fd/${entry.name}`) === EVENTPOLL) {
          fds.push(Number(entry.name));
        }
      } catch {
        // closed since the directory was read (the listing's own fd)
      }
    }
  } catch {
    // no /proc: the wait cannot see the loop's work (see the module's note)
  }
  return fds;
}
