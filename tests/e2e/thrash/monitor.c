/*
 * monitor: once a second, one line to /dev/kmsg (so the kernel stamps it):
 * uptime, PSI memory and io (some and full: avg10 and the cumulative total
 * in microseconds), workingset_refault_file, workingset_restore_file,
 * pgmajfault, oom_kill and MemAvailable. Static and mlocked: it keeps its
 * beat while the programs on the disk thrash.
 *
 * mon: up=12.34 mem=S/ST/F/FT io=S/ST/F/FT refault=N restore=N majflt=N
 *   oom_kill=N avail=KB cpu=BUSY/IOWAIT/IDLE
 *
 * (S and F are avg10 in percent, ST and FT the totals; cpu is cumulative
 * jiffies of all CPUs from /proc/stat.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static char text[16384];

static const char *slurp(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return "";
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  text[n > 0 ? n : 0] = 0;
  return text;
}

/* The number after `key` (which includes its separator), or -1. */
static long long field(const char *body, const char *key) {
  const char *at = strstr(body, key);
  return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

/* "avg10/total" of the `kind` line ("some" or "full") of a PSI file. */
static void pressure(const char *body, const char *kind, char *out,
                     size_t size) {
  const char *line = strstr(body, kind);
  double avg10 = -1;
  long long total = -1;
  if (line) {
    const char *avg = strstr(line, "avg10=");
    const char *tot = strstr(line, "total=");
    if (avg) avg10 = strtod(avg + 6, NULL);
    if (tot) total = strtoll(tot + 6, NULL, 10);
  }
  snprintf(out, size, "%.2f/%lld", avg10, total);
}

int main(void) {
  int kmsg = open("/dev/kmsg", O_WRONLY);
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    dprintf(kmsg >= 0 ? kmsg : 2, "E2E: monitor: mlockall failed\n");
  }
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (;;) {
    char mem_some[64], mem_full[64], io_some[64], io_full[64], up[32];
    const char *body = slurp("/proc/uptime");
    snprintf(up, sizeof up, "%.2f", strtod(body, NULL));
    body = slurp("/proc/pressure/memory");
    pressure(body, "some", mem_some, sizeof mem_some);
    pressure(body, "full", mem_full, sizeof mem_full);
    body = slurp("/proc/pressure/io");
    pressure(body, "some", io_some, sizeof io_some);
    pressure(body, "full", io_full, sizeof io_full);
    body = slurp("/proc/vmstat");
    long long refault = field(body, "\nworkingset_refault_file ");
    long long restore = field(body, "\nworkingset_restore_file ");
    long long majflt = field(body, "\npgmajfault ");
    long long kills = field(body, "\noom_kill ");
    body = slurp("/proc/meminfo");
    long long available = field(body, "MemAvailable:");
    long long cpu[8] = {0};
    body = slurp("/proc/stat");
    if (strncmp(body, "cpu ", 4) == 0) {
      char *at = (char *)body + 4;
      for (int i = 0; i < 8; i++) cpu[i] = strtoll(at, &at, 10);
    }
    /* user nice system idle iowait irq softirq steal */
    long long busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7];
    char line[512];
    int n = snprintf(line, sizeof line,
                     "mon: up=%s mem=%s/%s io=%s/%s refault=%lld "
                     "restore=%lld majflt=%lld oom_kill=%lld avail=%lld "
                     "cpu=%lld/%lld/%lld\n",
                     up, mem_some, mem_full, io_some, io_full, refault,
                     restore, majflt, kills, available, busy, cpu[4], cpu[3]);
    if (kmsg < 0 || write(kmsg, line, n) < 0) {
      if (write(1, line, n) < 0) return 1;
    }
    next.tv_sec += 1;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
    }
  }
}
