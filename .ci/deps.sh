#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian packages Cantus needs (as root), or prints the exact
# apt-get line to run (otherwise).  Usage: .ci/deps.sh run|test|all
# For a normal user the optional test hosts (Ardour, jalv) may be missing:
# their suites skip, and this says which and how to install them.  Root
# installs everything.
set -u
RUN_PKGS="gcc make pkg-config lv2-dev liblilv-dev libjack-jackd2-dev libportmidi-dev libopenblas-dev jackd2"
TEST_PKGS="$RUN_PKGS lilv-utils sordi clang libclang-rt-14-dev valgrind python3 python3-mido fluidsynth timgm6mb-soundfont groff-base man-db"
# package:suite that skips without it
OPTIONAL_HOSTS="ardour:t_lv2_ardour jalv:t_lv2_jalv"
case "${1:-all}" in
  run) want=$RUN_PKGS optional= ;;
  *) want=$TEST_PKGS optional=$OPTIONAL_HOSTS ;;
esac
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing= missing_opt= skips=
for p in $want; do
  installed "$p" || missing="$missing $p"
done
for ps in $optional; do
  installed "${ps%%:*}" || { missing_opt="$missing_opt ${ps%%:*}"; skips="$skips ${ps#*:}"; }
done
[ -z "$missing$missing_opt" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "cantus: installing missing Debian packages:$missing$missing_opt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing$missing_opt >/dev/null || {
    echo "cantus: apt-get install failed; run: apt-get install$missing$missing_opt" >&2
    exit 1
  }
elif [ -n "$missing" ]; then
  echo "cantus: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install$missing$missing_opt" >&2
  exit 1
else
  echo "cantus: optional test hosts not installed:$missing_opt; these suites will skip:$skips" >&2
  echo "  to run them: sudo apt-get install$missing_opt" >&2
fi
