/*
 * pin: the memory hog of the thrash scenarios. Pins anonymous memory in
 * 1 MiB steps (mmap, touch every page, mlock) and reads MemAvailable again
 * before each step, until at most LEAVE_KB are left: a size computed once
 * overshoots, because the page cache the pin pushes out shrinks MemAvailable
 * as it goes, and ends in an OOM kill instead of a hang. Then it holds the
 * memory for HOLD_S seconds and powers the machine off (its own code is
 * locked, so it keeps time through the hang). With FOLLOW_KB > 0 it keeps
 * pinning whenever MemAvailable rises above LEAVE_KB + FOLLOW_KB (memory
 * that someone freed, such as a released reserve, is taken again).
 *
 * usage: pin LEAVE_KB HOLD_S [FOLLOW_KB]
 * Reports go to /dev/kmsg, so the kernel stamps them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define STEP (1024 * 1024)

static int kmsg = -1;

static void report(const char *format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (kmsg < 0 || write(kmsg, line, n) < 0) {
    if (write(2, line, n) < 0) return;
  }
}

static long mem_available_kb(void) {
  static char text[8192];
  int fd = open("/proc/meminfo", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  char *at = strstr(text, "MemAvailable:");
  return at ? strtol(at + strlen("MemAvailable:"), NULL, 10) : -1;
}

/* Pins until at most leave_kb are available; returns the MiB pinned. */
static long pin_down_to(long leave_kb, int *failed) {
  long pinned = 0;
  for (;;) {
    long available = mem_available_kb();
    if (available < 0 || available <= leave_kb) break;
    char *block = mmap(NULL, STEP, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) {
      report("E2E: pin: mmap failed after %ld MiB\n", pinned);
      *failed = 1;
      break;
    }
    for (long i = 0; i < STEP; i += 4096) block[i] = 1;
    if (mlock(block, STEP) != 0) {
      report("E2E: pin: mlock failed after %ld MiB\n", pinned);
      *failed = 1;
      break;
    }
    pinned += 1;
  }
  return pinned;
}

static double uptime_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_BOOTTIME, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: pin LEAVE_KB HOLD_S [FOLLOW_KB]\n");
    return 2;
  }
  long leave_kb = strtol(argv[1], NULL, 10);
  long hold_s = strtol(argv[2], NULL, 10);
  long follow_kb = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
  kmsg = open("/dev/kmsg", O_WRONLY);
  if (mlockall(MCL_CURRENT) != 0) report("E2E: pin: mlockall failed\n");
  report("E2E: pin start (to leave %ld kB), MemAvailable %ld kB\n", leave_kb,
         mem_available_kb());
  int failed = 0;
  long pinned = pin_down_to(leave_kb, &failed);
  report("E2E: pinned %ld MiB, MemAvailable %ld kB\n", pinned,
         mem_available_kb());
  double end = uptime_now() + hold_s;
  while (uptime_now() < end) {
    struct timespec second = {1, 0};
    nanosleep(&second, NULL);
    if (follow_kb > 0 && !failed &&
        mem_available_kb() > leave_kb + follow_kb) {
      long more = pin_down_to(leave_kb, &failed);
      pinned += more;
      report("E2E: pinned %ld MiB more (%ld in all), MemAvailable %ld kB\n",
             more, pinned, mem_available_kb());
    }
  }
  report("E2E: hold of %ld s over, %ld MiB pinned: power off\n", hold_s,
         pinned);
  reboot(RB_POWER_OFF);
  return 1;
}
