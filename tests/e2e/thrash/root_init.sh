#!/bin/sh
# /init on the ext4 root of the thrash guest (after stage1.sh's switch_root):
# one scenario per boot, chosen on the kernel command line
# (oomwatch.scenario=NAME). Markers go to /dev/kmsg, so the kernel stamps
# them on the clock it stamps the heartbeats and the monitor's lines with;
# the crash flag disk is /dev/vdb, mounted at /mnt.
export PATH=/bin HOME=/tmp NO_COLOR=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t ext4 /dev/vdb /mnt || echo "E2E: cannot mount the flag disk /dev/vdb"
echo 1 > /proc/sys/kernel/panic

mark() { echo "E2E: $*" > /dev/kmsg; }
uptime_s() { cut -d. -f1 /proc/uptime; }
scenario=$(sed -n 's/.*oomwatch\.scenario=\([a-z0-9-]*\).*/\1/p' /proc/cmdline)
mark "scenario $scenario on the ext4 root, boot $(cat /proc/sys/kernel/random/boot_id), $(grep MemTotal /proc/meminfo)"
cat /proc/sys/kernel/random/boot_id > /mnt/boot_id
sync

WARMUP=75  # seconds both beaters beat before the pin
HOLD=140   # seconds the pin holds before it powers the guest off
LEAVE=8192 # kB of MemAvailable the pin leaves
SETTLE=25  # seconds the probe runs before a healthy load starts
LOAD=60    # seconds of a healthy load
TIGHT=16384 # kB of MemAvailable the pin leaves under measure-tight-read

deno_run() { # copy of the binary, then its arguments; always run with &
  bin=$1; shift
  DENO_DIR=/tmp/deno-${bin#/} exec "$bin" run -A --no-config --no-lock "$@"
}

OOMWATCH="deno_run /deno --v8-flags=--max-old-space-size=32,--single-threaded /e2e/oomwatch.js"
[ -x /oomwatch ] && OOMWATCH=/oomwatch

start_monitor() { /bin/monitor & }

start_probe() {
  deno_run /deno --v8-flags=--max-old-space-size=32,--single-threaded /e2e/probe.js --lock-code &
}

start_oomwatch() {
  mkdir -p /tmp/run
  $OOMWATCH --crashflag-name /mnt/oomflag --status-file /tmp/run/status.json "$@" 2>&1 &
  OOMWATCH_PID=$!
  for i in $(seq 1 1200); do [ -f /tmp/run/status.json ] && break; sleep 0.1; done
  mark "oomwatch up: $(grep VmLck /proc/$OOMWATCH_PID/status), oom_score_adj $(cat /proc/$OOMWATCH_PID/oom_score_adj)"
}

start_beaters() {
  deno_run /deno-a /e2e/beater.ts a &
  deno_run /deno-b /e2e/beater.ts b &
  for i in $(seq 1 180); do
    dmesg | grep -q 'beat a 1 ' && dmesg | grep -q 'beat b 1 ' && break
    sleep 1
  done
  mark "both beaters beat; the pin comes in $WARMUP s"
}

# The pin holds the memory, then powers off; if it dies (an OOM kill),
# this shell powers off instead.
pin_and_hold() { # extra arguments of pin
  sleep $WARMUP
  /bin/pin $LEAVE $HOLD "$@"
  mark "pin ended ($?), $(grep oom_kill /proc/vmstat)"
  poweroff -f
}

healthy() { # the load, as a shell function (after $PREPARE, if set)
  start_monitor
  start_probe
  sleep $SETTLE
  [ -n "$PREPARE" ] && $PREPARE
  mark "load start"
  "$@"
  mark "load end"
  sleep 3
  sync
  poweroff -f
}

# Compile-like: many short processes reading files (a source tree on the
# root disk) and burning CPU beside a CPU-bound awk; each source gives an
# "object" written back to the disk, and each round reads a part of a
# program it has not read before (a new library to link).
busy_load() {
  awk 'BEGIN { while (1) x = x + 1 }' &
  burner=$!
  mkdir -p /build
  end=$(( $(uptime_s) + LOAD ))
  rounds=0
  while [ "$(uptime_s)" -lt "$end" ]; do
    for f in $(find /srctree -type f -name '*.ts'); do
      [ "$(uptime_s)" -lt "$end" ] || break
      md5sum "$f" > /dev/null
      grep -c function "$f" > /dev/null
      sed -n 's/export //p' "$f" | sort | wc -l > /dev/null
      gzip -1 -c "$f" > "/build/$(basename "$f").$rounds.gz"
    done
    dd if=/deno-b bs=1M count=2 skip=$((rounds * 2)) 2>/dev/null | md5sum > /dev/null
    tar cf - /srctree /lib 2>/dev/null | gzip -1 | wc -c > /dev/null
    rounds=$((rounds + 1))
  done
  kill $burner
  mark "busy: $rounds rounds over the source tree, $(du -sk /build | cut -f1) kB of objects"
  rm -rf /build
}

# A large file written, dropped from the page cache, copied and read.
copy_load() {
  dd if=/dev/zero of=/big bs=1M count=200 conv=fsync 2>/dev/null
  mark "copy: 200 MB written; $(grep MemAvailable /proc/meminfo)"
  echo 3 > /proc/sys/vm/drop_caches
  cp /big /big2
  sync
  mark "copy: copied; $(grep MemAvailable /proc/meminfo)"
  echo 3 > /proc/sys/vm/drop_caches
  cat /big2 > /dev/null
  mark "copy: read back; $(grep MemAvailable /proc/meminfo)"
  rm -f /big /big2
}

cgroup_v2() {
  mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup
  echo +memory > /sys/fs/cgroup/cgroup.subtree_control
}

# The stall scenario's load: memory.high far below what the task allocates.
stall_load() {
  cgroup_v2
  mkdir /sys/fs/cgroup/slow && echo 8M > /sys/fs/cgroup/slow/memory.high
  sh -c 'echo $$ > /sys/fs/cgroup/slow/cgroup.procs && exec awk "BEGIN { s = \"x\"; while (1) s = s s }"' &
  hog=$!
  sleep $LOAD
  kill $hog
  mark "stall: $(tr '\n' ' ' < /sys/fs/cgroup/slow/memory.events)"
}

# The memcg scenario's load, again and again: a hog in /hog (memory.max 64M)
# OOM-killed inside its cgroup.
memcg_load() {
  cgroup_v2
  mkdir /sys/fs/cgroup/hog && echo 64M > /sys/fs/cgroup/hog/memory.max
  end=$(( $(uptime_s) + LOAD ))
  while [ "$(uptime_s)" -lt "$end" ]; do
    sh -c 'echo $$ > /sys/fs/cgroup/hog/cgroup.procs && exec awk "BEGIN { s = \"x\"; while (1) s = s s }"'
  done
  mark "memcg: $(tr '\n' ' ' < /sys/fs/cgroup/hog/memory.events)"
}

idle_load() { sleep $LOAD; }

# A large file read on a machine with little memory to spare (a backup or a
# scan): the file is written and dropped from the page cache first, then the
# pin leaves TIGHT kB, and the reads stream through what is left. (Writing
# on so little memory is no healthy load: dirty pages that a 4 MiB/s disk
# cannot clean in time end in an OOM kill.)
tight_pin() {
  dd if=/dev/zero of=/big bs=1M count=200 conv=fsync 2>/dev/null
  echo 3 > /proc/sys/vm/drop_caches
  /bin/pin $TIGHT 3600 &
  for i in $(seq 1 120); do dmesg | grep -q 'E2E: pinned' && break; sleep 1; done
  sleep 10
}

tight_read_load() {
  cat /big > /dev/null
  mark "tight read: read once; $(grep MemAvailable /proc/meminfo)"
  md5sum /big > /dev/null
  mark "tight read: read twice; $(grep MemAvailable /proc/meminfo), $(grep oom_kill /proc/vmstat)"
}

# A thrash confined to a memory cgroup: the two beaters in /box, whose
# memory.max is then set to their anonymous memory plus 8 MB, so their code
# is evicted and read back inside the cgroup while the machine has plenty.
memcg_thrash_prepare() {
  cgroup_v2
  mkdir /sys/fs/cgroup/box
  echo $$ > /sys/fs/cgroup/box/cgroup.procs
  start_beaters
  echo $$ > /sys/fs/cgroup/cgroup.procs
  sleep $WARMUP
}

memcg_thrash_load() {
  anon=$(sed -n 's/^anon //p' /sys/fs/cgroup/box/memory.stat)
  echo $((anon + 8388608)) > /sys/fs/cgroup/box/memory.max
  mark "memcg thrash: /box memory.max $(cat /sys/fs/cgroup/box/memory.max) (anon $anon), current $(cat /sys/fs/cgroup/box/memory.current)"
  sleep 120
  mark "memcg thrash: $(tr '\n' ' ' < /sys/fs/cgroup/box/memory.events)"
}

case "$scenario" in
  thrash-baseline)
    start_monitor
    start_beaters
    pin_and_hold
    ;;
  thrash-measure)
    start_monitor
    start_probe
    start_beaters
    pin_and_hold
    ;;
  thrash-mild)
    # The measurement on a milder squeeze: the pin leaves 16 MB.
    LEAVE=16384
    start_monitor
    start_probe
    start_beaters
    pin_and_hold
    ;;
  thrash)
    # oomwatch with its default signals, a countdown and its code locked;
    # the pin takes back whatever the released reserve frees.
    start_monitor
    start_oomwatch --gracetime 30 --lock-code 1
    start_beaters
    pin_and_hold 16384
    ;;
  healthy)
    # oomwatch as in thrash (default signals, a countdown, code locked)
    # through the healthy loads that must raise no episode: idle, a
    # compile-like load, a large file copy, one after the other.
    start_monitor
    start_oomwatch --gracetime 30 --lock-code 1
    LOAD=30
    mark "load start: idle"; idle_load
    LOAD=60
    mark "load start: busy"; busy_load
    mark "load start: copy"; copy_load
    mark "loads done; oomwatch $(kill -0 $OOMWATCH_PID && echo running || echo gone), $(grep -c . /mnt/oomflag 2>/dev/null || echo 0) flag lines"
    sync
    poweroff -f
    ;;
  thrash-watchdog)
    # The hang with oomwatch's code NOT locked and --panic-action none: the
    # watchdog device must end it, whether oomwatch catches the thrash (then
    # it stops petting 10 s after gracetime) or is starved of its own code
    # (then it misses its pets).
    insmod /modules/watchdog.ko && insmod /modules/softdog.ko soft_margin=120 \
      || mark "cannot load softdog"
    for i in $(seq 1 50); do [ -c /dev/watchdog0 ] && break; sleep 0.1; done
    start_monitor
    start_oomwatch --gracetime 30 --panic-action none \
      --watchdog-device /dev/watchdog0 --watchdog-timeout 20
    start_beaters
    pin_and_hold 16384
    ;;
  measure-idle) healthy idle_load ;;
  measure-busy) healthy busy_load ;;
  measure-copy) healthy copy_load ;;
  measure-stall) healthy stall_load ;;
  measure-memcg) healthy memcg_load ;;
  measure-tight-read) PREPARE=tight_pin healthy tight_read_load ;;
  measure-memcg-thrash) PREPARE=memcg_thrash_prepare healthy memcg_thrash_load ;;
  *)
    mark "unknown scenario '$scenario'"
    poweroff -f
    ;;
esac
