#!/bin/sh
# Installs oomwatch: the binary, its man page and, only when asked with
# --enable, the systemd unit. `install.sh --help` says how.
set -eu

usage() {
  cat <<'EOF'
Usage: scripts/install.sh [--binary PATH] [--enable]

Installs oomwatch (as root, unless DESTDIR is set):
  /usr/local/bin/oomwatch                the binary (mode 0755), copied beside
                                         the old one and renamed over it, so a
                                         running oomwatch keeps its binary intact
  /usr/local/share/man/man8/oomwatch.8   the man page (mode 0644), from
                                         docs/oomwatch.8 of this checkout
  /etc/systemd/system/oomwatch.service   the systemd unit (mode 0644), only with
                                         --enable

Options:
  --binary PATH   the binary to install (default: dist/oomwatch of this
                  checkout, built by 'deno task compile'); it is refused unless
                  'PATH --version' prints oomwatch's version
  --enable        also install the systemd unit, then reload systemd and enable
                  and start oomwatch.service
  -h, --help      show this help and exit

Environment:
  DESTDIR         if set, prepended to every installed path (for packaging and
                  tests); root is then not required, and with --enable the unit
                  is installed but systemd is neither reloaded nor asked to
                  enable it.

Without --enable, start 'oomwatch --bufsize 32' from your boot scripts yourself.
EOF
}

here="$(dirname "$0")"
binary="$here/../dist/oomwatch"
manpage="$here/../docs/oomwatch.8"
enable=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "install.sh: --binary needs a PATH (see --help)" >&2
        exit 2
      fi
      binary="$2"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    --enable) enable=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

dest="${DESTDIR:-}"
if [ -z "$dest" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it writes /usr/local/bin, /usr/local/share/man and /etc/systemd/system)" >&2
  exit 1
fi
if [ ! -x "$binary" ]; then
  echo "install.sh: no executable at $binary; build it with 'deno task compile' or pass --binary PATH" >&2
  exit 1
fi
if [ ! -f "$manpage" ]; then
  echo "install.sh: no man page at $manpage; run install.sh from an oomwatch checkout" >&2
  exit 1
fi
version=$("$binary" --version 2>/dev/null || true)
case "$version" in
  "oomwatch "*) ;;
  *) echo "install.sh: $binary --version printed '$version', not oomwatch's version; refusing to install it" >&2; exit 1 ;;
esac

mkdir -p "$dest/usr/local/bin"
# Copy beside, then rename: a running oomwatch keeps its old binary intact.
install -m 0755 "$binary" "$dest/usr/local/bin/oomwatch.new"
mv -f "$dest/usr/local/bin/oomwatch.new" "$dest/usr/local/bin/oomwatch"
echo "installed $dest/usr/local/bin/oomwatch ($version)"

mkdir -p "$dest/usr/local/share/man/man8"
install -m 0644 "$manpage" "$dest/usr/local/share/man/man8/oomwatch.8"
echo "installed $dest/usr/local/share/man/man8/oomwatch.8 (man 8 oomwatch)"

if [ "$enable" -eq 1 ]; then
  mkdir -p "$dest/etc/systemd/system"
  install -m 0644 "$here/oomwatch.service" "$dest/etc/systemd/system/oomwatch.service"
  if [ -n "$dest" ]; then
    echo "installed $dest/etc/systemd/system/oomwatch.service (DESTDIR set: not enabled)"
    exit 0
  fi
  systemctl daemon-reload
  systemctl enable --now oomwatch.service
  echo "enabled and started oomwatch.service"
else
  echo "not enabled: start it from your boot scripts, or run install.sh --enable for the systemd unit"
fi
