#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian packages Cantus needs (as root), or prints the exact
# apt-get line to run (otherwise).  Usage: .ci/deps.sh run|test|all
set -u
RUN_PKGS="gcc make pkg-config lv2-dev liblilv-dev libjack-jackd2-dev libportmidi-dev libopenblas-dev jackd2"
TEST_PKGS="$RUN_PKGS lilv-utils sordi jalv ardour clang libclang-rt-14-dev valgrind python3 python3-mido fluidsynth timgm6mb-soundfont"
case "${1:-all}" in
  run) want=$RUN_PKGS ;;
  *) want=$TEST_PKGS ;;
esac
missing=
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "cantus: installing missing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null || {
    echo "cantus: apt-get install failed; run: apt-get install$missing" >&2
    exit 1
  }
else
  echo "cantus: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install$missing" >&2
  exit 1
fi
