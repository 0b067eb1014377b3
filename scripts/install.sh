#!/bin/sh
# Installs oomwatch: copies the binary to /usr/local/bin and, only when asked
# with --enable, installs and enables the systemd unit.
#
#   scripts/install.sh [--binary PATH] [--enable]
#
# PATH defaults to dist/oomwatch (built by `deno task compile`). DESTDIR, if
# set, is prepended to every installed path (packaging, tests).
set -eu

binary="$(dirname "$0")/../dist/oomwatch"
enable=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --enable) enable=1; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

dest="${DESTDIR:-}"
if [ -z "$dest" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it writes /usr/local/bin and /etc/systemd/system)" >&2
  exit 1
fi
if [ ! -x "$binary" ]; then
  echo "install.sh: no executable at $binary; build it with 'deno task compile' or pass --binary PATH" >&2
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

if [ "$enable" -eq 1 ]; then
  mkdir -p "$dest/etc/systemd/system"
  install -m 0644 "$(dirname "$0")/oomwatch.service" "$dest/etc/systemd/system/oomwatch.service"
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
