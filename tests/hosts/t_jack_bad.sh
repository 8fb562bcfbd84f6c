#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack refuses bad input with one clear line on stderr and a
# non-zero exit status, before it connects to JACK: no server is running
# here (JACK_DEFAULT_SERVER names none, JACK_NO_START_SERVER=1), so a client
# that tried to connect would say so instead.  Cases: missing, truncated,
# bad-magic and corrupted models, a missing default model, an unknown style
# or a style number outside 1..N (styles are numbered from 1, as the view
# lists them), an unknown scale, a note that is not one and an upside-down
# --range, a channel outside 1..16, bad CC map lines (unknown control, bad
# CC, CC twice, range, word count, style bound 0), a missing map file, bad
# option values, an unwritable --record
# path, an unmatched --midi-out device (PortMidi fake with devices), and no
# JACK server (the one case that gets as far as connecting).
# Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
for x in "$JT_BIN" "$JT_PMFAKE"; do
  [ -e "$x" ] || fail_suite "missing $x (make test B=$B builds it)"
done
export JACK_DEFAULT_SERVER="cantus_no_such_server_$$" JACK_NO_START_SERVER=1

# expect_bad NAME REGEX ARGS...: non-zero exit, exactly one stderr line
# matching REGEX, nothing on stdout, no sign of a JACK connection attempt.
expect_bad() {
  local name=$1 re=$2; shift 2
  "$JT_BIN" --no-ui "$@" >"$W/out" 2>"$W/err" </dev/null
  local rc=$?
  local n; n=$(wc -l <"$W/err")
  echo "  [$name] exit $rc: $(cat "$W/err")"
  [ "$rc" -ne 0 ] && [ "$n" -eq 1 ] && grep -qE -- "$re" "$W/err" && [ ! -s "$W/out" ] &&
    ! grep -qiE 'jack server|cannot connect' "$W/err"
  jt_check "$name" $?
}

M="$JT_MODEL"
expect_bad missing-model "/nonexistent/x\.cantus" --model /nonexistent/x.cantus
head -c 300 "$M" >"$W/trunc.cantus"
expect_bad truncated-model "trunc\.cantus.*truncat" --model "$W/trunc.cantus"
head -c 4096 /dev/urandom >"$W/noise.cantus"
expect_bad bad-magic-model "noise\.cantus" --model "$W/noise.cantus"
cp "$M" "$W/flip.cantus"
size=$(stat -c %s "$W/flip.cantus")
printf '\x55' | dd of="$W/flip.cantus" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect_bad corrupt-model "flip\.cantus" --model "$W/flip.cantus"
# A copy of the program away from the build tree's data folder ($B/share/cantus,
# found beside $B/bin) looks in the folder compiled in.
mkdir -p "$W/empty" "$W/away/bin"
cp "$JT_BIN" "$W/away/bin/"
datadir=$("$W/away/bin/cantus-jack" --help | sed -n 's/^Data folder (the shipped models): //p')
if [ -z "$datadir" ]; then
  jt_check no-default-model 1
elif [ ! -e "$datadir/models/default.cantus" ]; then
  (cd "$W/empty" && JT_BIN="$W/away/bin/cantus-jack" \
    expect_bad no-default-model "no model: models/default.cantus not found here or in $datadir/models; pass --model FILE")
else
  skip no-default-model "an installed model exists: $datadir/models/default.cantus"
fi
expect_bad unknown-style "^cantus-jack: option --style: unknown style 'nosuch' \(1:alpha 2:beta 3:gamma\)$" --model "$M" --style nosuch
expect_bad style-number "^cantus-jack: option --style-b: style 4 is outside 1\.\.3 \(1:alpha 2:beta 3:gamma\)$" --model "$M" --style-b 4
expect_bad not-a-note "option --note-lo: 'H4' is not a note" --model "$M" --note-lo H4
expect_bad range-upside-down "option --range: 'C5-C3' is not LO-HI" --model "$M" --range C5-C3
expect_bad channel-range "option --channel: 17 is outside 1\.\.16" --model "$M" --channel 17
expect_bad unknown-scale "unknown scale 'lydian7'" --model "$M" --scale lydian7
expect_bad temperature-range "option --temperature: 9 is outside 0\.\.2 \(see cantus-jack --help\)" --model "$M" --temperature 9
printf '1 temperature\n\n7 tempx  # typo\n' >"$W/map1"
expect_bad ccmap-unknown-control "map1:3: unknown control 'tempx'" --model "$M" --cc-map "$W/map1"
printf '128 temperature\n' >"$W/map2"
expect_bad ccmap-bad-cc "map2:1: '128' is not a CC number" --model "$M" --cc-map "$W/map2"
printf '1 temperature\n1 density\n' >"$W/map3"
expect_bad ccmap-cc-twice "map3:2: CC 1 is mapped twice" --model "$M" --cc-map "$W/map3"
printf '1 temperature 0 5\n' >"$W/map4"
expect_bad ccmap-range "map4:1: range 0..5 is outside temperature" --model "$M" --cc-map "$W/map4"
printf '1 temperature 0\n' >"$W/map5"
expect_bad ccmap-words "map5:1: expected 'CC CONTROL \[LO HI\]'" --model "$M" --cc-map "$W/map5"
printf '14 style 0 2\n' >"$W/map6"
expect_bad ccmap-style-from-1 "map6:1: style bound: style 0 is outside 1\.\.64" --model "$M" --cc-map "$W/map6"
expect_bad ccmap-missing "nomap.*cannot open" --model "$M" --cc-map "$W/nomap"
expect_bad unknown-option "^cantus-jack: unknown option '--frobnicate' \(see cantus-jack --help\)$" --model "$M" --frobnicate
expect_bad bad-meter "--meter: '7/3' is not N/D" --model "$M" --meter 7/3
expect_bad record-dir "nodir/x\.mid: cannot write" --model "$M" --record "$W/nodir/x.mid"
expect_bad theme-missing "nosuch\.mid" --model "$M" --theme "$W/nosuch.mid"
expect_bad theme-format2 "format2\.mid.*format 2" --model "$M" --theme "$JT_ROOT/tests/data/midi/format2.mid"
LD_PRELOAD="$JT_PMFAKE" ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" \
  expect_bad midi-out-no-match "no PortMidi MIDI output matches 'Moog'" --model "$M" --midi-out Moog
# The one case that reaches JACK: no server.
"$JT_BIN" --no-ui --model "$M" >"$W/out" 2>"$W/err" </dev/null
rc=$?
echo "  [no-server] exit $rc: $(cat "$W/err")"
[ "$rc" -ne 0 ] && [ "$(wc -l <"$W/err")" -eq 1 ] &&
  grep -q "cannot connect to the JACK server '$JACK_DEFAULT_SERVER'" "$W/err" &&
  ! grep -q '^ready' "$W/out"
jt_check no-server $?
jt_finish
