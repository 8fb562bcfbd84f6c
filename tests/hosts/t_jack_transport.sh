#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack on a private `jackd -R -d dummy` server, its output captured
# in transport frames (tests/jack_capture -t), the transport driven by
# jack_transport (play, stop, locate, tempo change; timebase master):
#   grid-200        note-ons on the tick grid of the master's 200 bpm; the
#                   timing error (frames) is printed
#   tempo-change    after `tempo 240` the note-ons follow the new grid
#   stop-silent     no note-on while the transport stands
#   balanced        every note-on gets its note-off
#   relocate-replay stop, locate 0, play: the first bars come back identical
#                   (timeline memory)
#   own-tempo       no master: --bpm 190 from transport frame 0
#   timebase-master --timebase-master --bpm 180 --meter 3/4: other clients
#                   see its tempo, notes on its grid
#   loop-replay     locate 0 while rolling (a loop): the first bars again
#   style-metre     no --meter: the own metre is the style's (model metadata
#                   "meter: beta=3/4"), as master and in --free, and follows a
#                   live style change; --meter 6/8 wins over the style
#   free-run        --free plays with the transport stopped, a whole number
#                   of 240-bpm ticks apart
#   sigterm-silent  SIGTERM while playing: every sounding note is closed,
#                   exit status 0
#   server-gone     jackd stops under it: one clear line (none from libjack),
#                   exit status 1
# Each phase runs again (up to 4 times) if a check failed while jackd
# logged an xrun (jt_phase); xruns are reported (the hot-swap suite asserts
# that none is blamed on cantus-jack).  Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
RATE=48000
# From transport frame 0 the grid must be exact (1 frame for the engine's
# frame rounding).  jack_transport's `tempo` recomputes the position from
# the frame at the new tempo, i.e. the position jumps: the engine treats it
# as a relocation and snaps a target within 1/8 model tick onto the grid
# (engine.h, Continuity), so after the change the notes may sit up to 1/8
# tick off the master's grid -- but a whole number of ticks apart (spacing
# error <= 1 frame).  Fast tempi: the tiny test model plays ~0.7 notes/beat.
TOL_EXACT=1
max_err() { sed -n 's/.*max error \([0-9.]*\) frames.*/\1/p' | head -1; }
max_space() { sed -n 's/.*spacing error \([0-9.]*\) frames.*/\1/p' | head -1; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
TPQ=12

jt_server_start "$RATE" 256 || fail_suite "jackd did not start"

# ---- follow the master: grid, tempo change, stop, balance ------------------------------------
phase_follow() {
  jt_capture cap1
  jt_cantus c1 --model "$JT_MODEL" --seed 2 --connect-out cap1:in
  TPQ=$(sed -n 's/.*, \([0-9]*\) ticks per quarter.*/\1/p' "$W/c1.out" | head -1)
  TPQ=${TPQ:-12}
  jt_transport master "tempo 200" play "sleep 3.5" "tempo 240" "sleep 3.5" stop "sleep 0.5"
  jt_stop_capture cap1
  jt_stop_cantus c1
  local chg e200 e240 s240 snap
  chg=$(sed -n 's/^# bpm 240.* at \([0-9]*\)$/\1/p' "$W/cap1.txt" | head -1)
  $CHK grid "$W/cap1.txt" auto "$TPQ" $RATE 0 "${chg:-0}" | tee "$W/grid200.txt"
  e200=$(max_err <"$W/grid200.txt")
  le "$e200" $TOL_EXACT
  jt_pcheck "grid-200 (max error ${e200:-?} frames, tolerance $TOL_EXACT)" $?
  # The tempo mark gives the change frame; check the notes after it.
  $CHK grid "$W/cap1.txt" auto "$TPQ" $RATE "${chg:-0}" | tee "$W/grid240.txt"
  e240=$(max_err <"$W/grid240.txt")
  s240=$(max_space <"$W/grid240.txt")
  snap=$(awk -v t="$TPQ" -v r=$RATE 'BEGIN { print 60 * r / (240 * t) / 8 + 1 }')
  [ -n "$chg" ] && le "$e240" "$snap" && le "$s240" $TOL_EXACT
  jt_pcheck "tempo-change 200->240 at frame ${chg:-?} (max error ${e240:-?} frames, tolerance $snap; spacing error ${s240:-?}, tolerance $TOL_EXACT)" $?
  $CHK stopped "$W/cap1.txt"
  jt_pcheck stop-silent $?
  $CHK balance "$W/cap1.txt"
  jt_pcheck balanced $?
  jt_xruns c1 "$W/c1.out"
  echo "xruns following: $JT_XRUN_MSG"
}
jt_phase follow phase_follow

# ---- relocation: stop, locate 0, play ------------------------------------------------------
phase_relocate() {
  jt_capture cap2
  jt_cantus c1 --model "$JT_MODEL" --seed 2 --connect-out cap2:in
  jt_transport master "tempo 200" "locate 0" "sleep 0.3" play "sleep 3.5" stop "sleep 0.5" \
    "locate 0" "sleep 0.3" play "sleep 3.5" stop "sleep 0.5"
  jt_stop_capture cap2
  jt_stop_cantus c1
  # three bars at 200 bpm, 4/4 = 172800 frames
  $CHK replay "$W/cap2.txt" 0 172800
  jt_pcheck relocate-replay $?
  jt_xruns c1 "$W/c1.out"
  echo "xruns relocating: $JT_XRUN_MSG"
}
jt_phase relocate phase_relocate

# ---- own tempo: nobody is master -----------------------------------------------------------
phase_own() {
  jt_capture cap4
  jt_cantus c2 --model "$JT_MODEL" --seed 2 --bpm 190 --connect-out cap4:in
  jt_transport "locate 0" "sleep 0.2" play "sleep 3" stop "sleep 0.3"
  jt_stop_capture cap4
  jt_stop_cantus c2
  local e190
  $CHK grid "$W/cap4.txt" 190 "$TPQ" $RATE | tee "$W/grid190.txt"
  e190=$(max_err <"$W/grid190.txt")
  le "$e190" $TOL_EXACT
  jt_pcheck "own-tempo 190 bpm (max error ${e190:-?} frames)" $?
  $CHK balance "$W/cap4.txt" >/dev/null
  jt_pcheck own-tempo-balanced $?
}
jt_phase own phase_own

# ---- cantus-jack as the timebase master; a loop (locate 0 while rolling) ---------------
# (jack_transport as the master wedges jackd2 1.9.21 on a locate while
# rolling: "client = jack_transport was not finished" on every cycle.)
phase_master() {
  jt_capture cap5
  jt_cantus c3 --model "$JT_MODEL" --seed 2 --timebase-master --bpm 180 --meter 3/4 \
    --connect-out cap5:in
  jt_transport "locate 0" "sleep 0.2" play "sleep 3.5" "locate 0" "sleep 3.5" stop "sleep 0.3"
  jt_stop_capture cap5
  jt_stop_cantus c3
  local e180
  grep -q '^# bpm 180' "$W/cap5.txt"
  jt_pcheck "timebase-master publishes 180 bpm" $?
  $CHK grid "$W/cap5.txt" auto "$TPQ" $RATE | tee "$W/grid180.txt"
  e180=$(max_err <"$W/grid180.txt")
  le "$e180" $TOL_EXACT
  jt_pcheck "timebase-master grid (max error ${e180:-?} frames)" $?
  # three bars of 3/4 at 180 bpm = 144000 frames
  $CHK replay "$W/cap5.txt" 0 144000
  jt_pcheck loop-replay $?
  $CHK balance "$W/cap5.txt" >/dev/null
  jt_pcheck loop-balanced $?
  jt_xruns c3 "$W/c3.out"
  echo "xruns as master: $JT_XRUN_MSG"
}
jt_phase master phase_master

# ---- the style's own metre (no --meter) --------------------------------------------
# The status line shows the metre the engine plays ("meter N/D").
"$B/tests/jack_mkmodel" 1 "$W/metre.cantus" 'meter: beta=3/4,gamma=6/8' ||
  fail_suite "jack_mkmodel could not write a model"
last_meter() { jt_cmd "$1" status; sleep 0.4; sed -n 's/^status: .* meter \([0-9]*\/[0-9]*\) .*/\1/p' "$W/$1.out" | tail -1; }
phase_metre() {
  local m1 m2 m3 m4 m5
  jt_capture cap7
  jt_cantus c7 --model "$W/metre.cantus" --seed 2 --timebase-master --bpm 180 --style beta \
    --connect-out cap7:in
  jt_transport "locate 0" "sleep 0.2" play "sleep 1"
  m1=$(last_meter c7)
  [ "$m1" = 3/4 ]
  jt_pcheck "style-metre: master on style beta plays 3/4 (status meter ${m1:-?})" $?
  jt_cmd c7 "set style alpha"
  sleep 1.5 # the change waits for the next bar line (1 s of 3/4 at 180 bpm)
  m2=$(last_meter c7)
  [ "$m2" = 4/4 ]
  jt_pcheck "style-metre: style alpha (no metre named) switches to 4/4 (status meter ${m2:-?})" $?
  jt_transport stop "sleep 0.3"
  jt_stop_capture cap7
  jt_stop_cantus c7
  $CHK balance "$W/cap7.txt" >/dev/null
  jt_pcheck style-metre-balanced $?
  jt_cantus c8 --model "$W/metre.cantus" --seed 2 --free --bpm 240 --style gamma
  sleep 0.5
  m3=$(last_meter c8)
  jt_stop_cantus c8
  [ "$m3" = 6/8 ]
  jt_pcheck "style-metre: --free on style gamma plays 6/8 (status meter ${m3:-?})" $?
  jt_cantus c9 --model "$W/metre.cantus" --seed 2 --free --bpm 240 --style beta --meter 6/8
  sleep 0.5
  m4=$(last_meter c9)
  jt_cmd c9 "set style alpha"
  sleep 1.5
  m5=$(last_meter c9)
  jt_stop_cantus c9
  [ "$m4" = 6/8 ] && [ "$m5" = 6/8 ]
  jt_pcheck "style-metre: --meter 6/8 wins over the style (status meter ${m4:-?}, then ${m5:-?})" $?
}
jt_phase metre phase_metre

# ---- --free: plays with the transport stopped -----------------------------------------
phase_free() {
  "$JT_CAP" fcap >"$W/fcap.txt" 2>"$W/fcap.err" &
  local fcap=$!
  JT_PIDS+=($fcap)
  jt_wait "$W/fcap.err" ready 10
  jt_cantus c4 --model "$JT_MODEL" --seed 2 --free --bpm 240 --connect-out fcap:in
  sleep 2
  jt_stop_cantus c4
  kill -TERM $fcap
  wait $fcap 2>/dev/null
  local n_free sfree
  n_free=$(awk '$2 ~ /^9/ && $4 != "00"' "$W/fcap.txt" | wc -l)
  # JACK frame times here (no transport): the grid is offset, the spacing
  # exact (an xrun makes the dummy driver's frame clock skip: retried)
  $CHK grid "$W/fcap.txt" 240 "$TPQ" $RATE | tee "$W/gridfree.txt"
  sfree=$(max_space <"$W/gridfree.txt")
  [ "$n_free" -gt 1 ] && le "$sfree" $TOL_EXACT
  jt_pcheck "free-run ($n_free note-ons with the transport stopped, spacing error ${sfree:-?} frames)" $?
  $CHK balance "$W/fcap.txt" >/dev/null
  jt_pcheck free-run-balanced $?
}
jt_phase free phase_free

# ---- SIGTERM while playing ----------------------------------------------------------------
phase_sigterm() {
  jt_capture cap6
  jt_cantus c5 --model "$JT_MODEL" --seed 2 --connect-out cap6:in --gate 2 --max-note-beats 4
  { printf 'master\ntempo 200\nlocate 0\nplay\n'; sleep 3; } | jack_transport >>"$W/transport.log" 2>&1 &
  local tp=$! rc r last nflush
  sleep 2.2
  jt_stop_cantus c5 TERM
  rc=$JT_RC
  wait $tp
  sleep 0.2
  jt_stop_capture cap6
  jt_transport stop "sleep 0.2"
  # events in the last frame the client sent: the flush
  last=$(awk '$1 >= 0 {f=$1} END {print f}' "$W/cap6.txt")
  nflush=$(awk -v f="$last" '$1 == f && $2 ~ /^8/' "$W/cap6.txt" | wc -l)
  echo "flush closed $nflush notes at transport frame $last; exit status $rc"
  $CHK balance "$W/cap6.txt"
  r=$?
  [ "$rc" -eq 0 ] && [ $r -eq 0 ] && grep -q 'none left sounding' "$W/c5.out"
  jt_pcheck "sigterm-silent ($nflush notes closed by the flush)" $?
}
jt_phase sigterm phase_sigterm

# ---- the server goes away --------------------------------------------------------------
jt_cantus c6 --model "$JT_MODEL"
jt_server_stop
pid_var=JT_PID_c6
wait "${!pid_var}"
rc=$?
cat "$W/c6.err"
# libjack's own complaints ("Cannot read socket fd", "CheckRes error" ...)
# are silenced: stderr holds our one line and nothing else.
other=$(grep -vc 'JACK server went away' "$W/c6.err")
[ "$rc" -eq 1 ] && grep -q 'JACK server went away' "$W/c6.err" && [ "$other" -eq 0 ]
jt_check "server-gone (exit status $rc, $other other lines on stderr)" $?

jt_finish
