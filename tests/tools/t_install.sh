#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The per-user install, as a normal user (when this runs as root, as the
# user nobody, with a HOME of its own in a temporary folder): `make
# install-user` on the finished build puts the programs in ~/.local/bin, the
# man pages in ~/.local/share/man/man1, the models in ~/.local/share/cantus
# and the plugin in ~/.lv2, without root; the installed programs' --help
# names that data folder and they find the default model there from any
# folder (the build was made for PREFIX=/usr/local: the folder is found at
# run time); lv2ls and lv2info find the plugin with LV2_PATH unset, and the
# installed bundle plays its default model (lilv_host); man finds the pages through
# PATH.  `make uninstall` with the same variables removes exactly what
# install put there: a model of the user's own in the data folder stays,
# and without one the data folder goes too.  And `make install
# LV2DIR=~/.lv2` with the default PREFIX stops before writing anything and
# names install-user.
# Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
root=$PWD
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh
uri=https://github.com/cantus-midi/cantus
tools="cantus-gen cantus-info cantus-jack cantus-train cantus-eval"

for t in $tools; do
  [ -x "$B/bin/$t" ] || fail_suite "$B/bin/$t missing (make all)"
done
[ -f "$B/cantus.lv2/manifest.ttl" ] || fail_suite "$B/cantus.lv2 missing (make all)"

home=$tmp/home
mkdir -p "$home" "$tmp/work"
# as_user CMD...: CMD as a normal user with HOME=$home, ~/.local/bin first
# on PATH, LV2_PATH and MANPATH unset; as root that user is nobody.
if [ "$(id -u)" -eq 0 ]; then
  user=nobody
  id "$user" >/dev/null 2>&1 || skip_suite "no user '$user' to install as"
  chmod 755 "$tmp"
  chown -R "$user" "$home" "$tmp/work"
  as_user() {
    setpriv --reuid="$(id -u $user)" --regid="$(id -g $user)" --clear-groups \
      env -u LV2_PATH -u MANPATH HOME="$home" PATH="$home/.local/bin:$PATH" "$@"
  }
else
  user=$(id -un)
  as_user() { env -u LV2_PATH -u MANPATH HOME="$home" PATH="$home/.local/bin:$PATH" "$@"; }
fi
check "runs as a user who is not root ($user)" test "$(as_user id -u)" != 0

# Every file under HOME, one a line: what install added and uninstall left.
files() { (cd "$home" && find . ! -type d | sort); }

# A model of the user's own in the data folder, put there before the install.
as_user mkdir -p "$home/.local/share/cantus/models"
as_user cp tests/data/tiny.cantus "$home/.local/share/cantus/models/mine.cantus"
files >"$tmp/before"

# The install of the issue: the default PREFIX, the plugin for one user.
# Unless that PREFIX is writable, it stops before writing anything, naming
# install-user (it used to stop half-way, at /usr/local/bin).
prefix=$(make -s --no-print-directory -C "$root" -pn 2>/dev/null | sed -n 's/^PREFIX ?= //p' | tail -1)
probe=$prefix
while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
if as_user test -w "$probe"; then
  skip default-prefix "$prefix is writable by $user"
else
  as_user make --no-print-directory -C "$root" install LV2DIR="$home/.lv2" B="$B" >"$tmp/install0.log" 2>&1
  check "make install LV2DIR=~/.lv2 as $user: fails" test $? -ne 0
  check "... saying to use make install-user" grep -q "make install-user" "$tmp/install0.log"
  check "... before writing anything" test "$(files)" = "$(cat "$tmp/before")" -a ! -e "$home/.lv2"
fi

as_user make --no-print-directory -C "$root" install-user B="$B" >"$tmp/install.log" 2>&1
rc=$?
check "make install-user as $user: exit 0" test "$rc" -eq 0
check "make install-user: no 'Permission denied'" bash -c "! grep -q 'Permission denied' '$tmp/install.log'"
[ "$rc" -eq 0 ] || tail -5 "$tmp/install.log"
for t in $tools; do
  check "~/.local/bin/$t" test -x "$home/.local/bin/$t"
  check "~/.local/share/man/man1/$t.1" test -f "$home/.local/share/man/man1/$t.1"
done
check "~/.lv2/cantus.lv2: manifest, library, default model" test -f "$home/.lv2/cantus.lv2/manifest.ttl" \
  -a -f "$home/.lv2/cantus.lv2/cantus.so" -a -f "$home/.lv2/cantus.lv2/models/default.cantus"
check "~/.local/share/cantus/models/default.cantus is the bundle's" \
  cmp "$home/.local/share/cantus/models/default.cantus" "$B/cantus.lv2/models/default.cantus"

# The installed programs name and use the data folder they are beside.
for t in cantus-gen cantus-jack cantus-train; do
  got=$(cd "$tmp/work" && as_user "$t" --help 2>&1 | sed -n 's/^Data folder (the shipped models): //p')
  check "$t --help names ~/.local/share/cantus ($got)" test "$got" = "$home/.local/share/cantus"
done
(cd "$tmp/work" && as_user cantus-gen --bars 2 -o "$tmp/work/x.mid" >"$tmp/gen.out" 2>&1)
check "installed cantus-gen in an empty folder plays the installed default model" \
  bash -c "test -s '$tmp/work/x.mid' && grep -q ' notes in 2 bars' '$tmp/gen.out'"
# cantus-jack finds its model, then stops at the missing JACK server.
(cd "$tmp/work" && JACK_DEFAULT_SERVER="cantus_no_such_server_$$" JACK_NO_START_SERVER=1 \
  as_user cantus-jack --no-ui </dev/null >"$tmp/jack.out" 2>&1)
check "installed cantus-jack finds the installed default model (then: no JACK server)" \
  bash -c "! grep -q 'no model' '$tmp/jack.out' && grep -qi 'jack server' '$tmp/jack.out'"

# The plugin, found the way hosts find it: ~/.lv2 on lilv's default path.
if command -v lv2ls >/dev/null && command -v lv2info >/dev/null; then
  as_user lv2ls >"$tmp/lv2ls" 2>&1
  check "lv2ls (LV2_PATH unset) lists $uri" grep -qx "$uri" "$tmp/lv2ls"
  as_user lv2info "$uri" >"$tmp/lv2info" 2>&1
  check "lv2info: the bundle in ~/.lv2" grep -q "$home/.lv2/cantus.lv2/" "$tmp/lv2info"
else
  skip lv2ls "lilv-utils not installed (apt-get install lilv-utils)"
fi
if [ -x "$B/tests/lilv_host" ]; then
  as_user "$B/tests/lilv_host" -p "$home/.lv2/cantus.lv2" -u "$uri" -s 4 >"$tmp/host.out" 2>"$tmp/host.err"
  n=$(grep -cE ' 9[0-9a-f] ' "$tmp/host.out")
  check "the installed bundle plays its default model ($n note-ons in 4 s)" test "$n" -gt 0
else
  skip lilv-host "$B/tests/lilv_host not built (make test-build)"
fi
if command -v man >/dev/null; then
  got=$(as_user man -w cantus-gen 2>/dev/null)
  check "man -w cantus-gen finds ~/.local/share/man/man1/cantus-gen.1 ($got)" \
    test "$got" = "$home/.local/share/man/man1/cantus-gen.1"
else
  skip man "man not installed (apt-get install man-db)"
fi

# Uninstall with the same variables: exactly the installed files go.
as_user make --no-print-directory -C "$root" uninstall PREFIX="$home/.local" LV2DIR="$home/.lv2" \
  B="$B" >"$tmp/uninstall.log" 2>&1
check "make uninstall PREFIX=~/.local LV2DIR=~/.lv2: exit 0" test $? -eq 0
files >"$tmp/after"
check "uninstall leaves exactly the files there before the install (the user's model)" \
  cmp "$tmp/before" "$tmp/after"
check "uninstall removes ~/.lv2/cantus.lv2" test ! -e "$home/.lv2/cantus.lv2"
# Again without a model of the user's own: the data folder goes too.
as_user rm "$home/.local/share/cantus/models/mine.cantus"
as_user make --no-print-directory -C "$root" install-user B="$B" >"$tmp/install2.log" 2>&1 &&
  as_user make --no-print-directory -C "$root" uninstall-user B="$B" >"$tmp/uninstall2.log" 2>&1
check "install-user, uninstall-user: exit 0" test $? -eq 0
check "uninstall-user removes ~/.local/share/cantus when nothing else is in it" \
  test ! -e "$home/.local/share/cantus"
check "uninstall-user leaves no file under HOME" test -z "$(files)"
summary
