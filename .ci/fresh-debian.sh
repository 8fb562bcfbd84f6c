#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# CI: the README's Quick start on a fresh machine.  Makes a minimal Debian of
# this machine's release (debootstrap --variant=minbase plus build-essential
# and git, from the Debian mirror this machine's apt uses), clones the commit
# under test into it with ../shared beside it (a read-only bind mount), and
# runs there, as root, exactly the README's `make run` then `make test`.
# Fails if either fails, or if `make run` did not render offline (there is no
# JACK server in the chroot).  Nothing is cached between runs: the project's
# own make must install every package it needs.
# A second fresh machine runs `make test` alone, as the first command.
# Usage: .ci/fresh-debian.sh [MAKE-ARGS...]   (CI passes none; `-j2` checks
# the parallel build).  Environment: DEBIAN_MIRROR (default: this machine's),
# CANTUS_SHARED (default: shared/ beside the repository), FRESH_MACHINES
# (default "run,test test", see the end).  Needs root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${CANTUS_SHARED:-$(dirname "$repo")/shared}
commit=$(git -C "$repo" rev-parse HEAD)
release=$(. /etc/os-release && echo "$VERSION_CODENAME")
[ "$(id -u)" -eq 0 ] || { echo "fresh-debian: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
[ -d "$shared/corpus" ] || { echo "fresh-debian: no $shared/corpus" >&2; exit 1; }
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-debian: note: uncommitted changes are not tested, only commit $commit"
fi

# The URI this machine's apt uses for a suite (one-line and deb822 sources).
host_apt_uri() {
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null || true; } | awk -v s="$1" '
    function check() {
      if (uri != "" && (" " suites " ") ~ (" " s " ")) { print uri; found = 1; exit }
      uri = ""; suites = ""
    }
    /^[ \t]*$/ { check(); next }
    /^deb[ \t]/ {
      i = 2; if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      uri = $i; suites = $(i + 1); check(); next
    }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
    END { if (!found) check() }'
}
mirror=${DEBIAN_MIRROR:-$(host_apt_uri "$release")}
mirror=${mirror:-http://deb.debian.org/debian}
updates=$(host_apt_uri "$release-updates")
security=$(host_apt_uri "$release-security")

root=
mounted_under_root() {  # deepest first
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}
teardown() {  # the current chroot: its processes, mounts, then the files
  local p m n
  [ -n "$root" ] || return 0
  # Whatever still runs inside (a jackd a suite left behind) holds the mounts.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  for n in 1 2 3; do
    for m in $(mounted_under_root); do umount "$m" 2>/dev/null || umount -l "$m"; done
    [ -z "$(mounted_under_root)" ] && break
    sleep 1
  done
  if [ -n "$(mounted_under_root)" ]; then
    echo "fresh-debian: still mounted, $root left in place:" $(mounted_under_root) >&2
    return 1
  fi
  rm -rf --one-file-system "$root" "$root.log"
  root=
}
cleanup() {
  local rc=$?
  set +e
  teardown || { [ "$rc" -eq 0 ] && rc=1; }
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

start=$SECONDS
phase() { echo "fresh-debian: $* ($((SECONDS - start)) s)"; }

# A fresh machine in $root: minbase + build-essential + git, the clone and
# ../shared, /proc, /sys, /dev, /dev/pts and a private /dev/shm (JACK's).
fresh_machine() {
  root=$(mktemp -d /var/tmp/cantus-fresh.XXXXXX)
  chmod 755 "$root"
  phase "debootstrap --variant=minbase $release from $mirror into $root"
  debootstrap --variant=minbase --include=build-essential,git "$release" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -30 "$root.log"; exit 1; }
  {
    echo "deb $mirror $release main"
    if [ -n "$updates" ]; then echo "deb $updates $release-updates main"; fi
    if [ -n "$security" ]; then echo "deb $security $release-security main"; fi
  } >"$root/etc/apt/sources.list"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # No daemons started by package scripts inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"

  phase "clone $commit with ../shared beside it"
  mkdir -p "$root/build/shared"
  git clone -q --no-hardlinks "$repo" "$root/build/cantus"
  git -C "$root/build/cantus" checkout -q --detach "$commit"
  mount --bind "$shared" "$root/build/shared"
  mount -o remount,bind,ro "$root/build/shared"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
}

in_chroot() {  # a root login's environment, in the clone
  chroot "$root" /usr/bin/env -i HOME=/root SHELL=/bin/bash TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /build/cantus && $1"
}

make_in_chroot() {  # TARGET MAKE-ARGS...: fails unless it did what the README says
  local target=$1
  shift
  phase "make $target $*"
  if ! in_chroot "timeout 3600 make $target $*" 2>&1 | tee "$root/$target.log"; then
    echo "fresh-debian: FAIL make $target"
    exit 1
  fi
  case $target in
    run) # no JACK server in the chroot: it renders offline
      grep -q '^cantus: wrote build/run/cantus.mid and build/run/cantus.svg' "$root/run.log" &&
        [ -s "$root/build/cantus/build/run/cantus.mid" ] && [ -s "$root/build/cantus/build/run/cantus.svg" ] ||
        { echo "fresh-debian: FAIL make run did not render offline"; exit 1; } ;;
    test)
      grep -qE '^tests: [0-9]+ passed, 0 failed' "$root/test.log" ||
        { echo "fresh-debian: FAIL make test printed no clean summary"; exit 1; } ;;
  esac
}

# Each word is one fresh machine; commas separate the commands run on it in
# turn.  Default: the Quick start in order, and `make test` first thing on a
# bare machine (which `make run` before it would hide: it installs most of
# the packages).
for machine in ${FRESH_MACHINES:-run,test test}; do
  fresh_machine
  for target in ${machine//,/ }; do make_in_chroot "$target" "$@"; done
  teardown || exit 1
  phase "ok: make ${machine//,/, make } on a fresh $release"
done
