#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Model hot swap while playing, on a private `jackd -R -d dummy` server:
# cantus-jack plays at 200 bpm (jack_transport master) while its stdin asks
# for 12 model loads, alternating tiny.cantus and a second fixture model
# (tests/jack_mkmodel, other weights), every 0.4 s; a missing and a corrupt
# model in between must be refused with a message while it keeps playing.
#   swaps-installed  the audio thread installed all 12 (status "models 12")
#   bad-swap-refused both bad files are reported, the model is unchanged
#   no-xrun          no xrun caused by cantus-jack (jackd's log blames no
#                    cycle on it) and its xrun count is explained by the
#                    dummy driver's own timer (usually 0)
#   no-stuck-note    every note-on of the capture has its note-off, and
#                    cantus-jack's count of sounding notes is 0 at exit
#   still-playing    notes after the last swap
#   sighup-reload    SIGHUP reloads the model file
#   sigint-exit      SIGINT stops it cleanly (exit status 0)
# Run again (up to 4 times) if a check failed while jackd logged an xrun
# (a loaded machine: jackd then blames whichever client it was waiting for).
# Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
"$B/tests/jack_mkmodel" 5 "$W/other.cantus" || fail_suite "jack_mkmodel could not write a model"
head -c 1000 "$JT_MODEL" >"$W/broken.cantus"

jt_server_start 48000 256 || fail_suite "jackd did not start"
phase_swap() {
  jt_capture cap
  jt_cantus hs --model "$JT_MODEL" --seed 2 --connect-out cap:in
  local t0 t1 i
  t0=$(date +%s.%N)
  { printf 'master\ntempo 200\nlocate 0\nplay\n'; sleep 8; printf 'stop\n'; sleep 0.3; } \
    | jack_transport >>"$W/transport.log" 2>&1 &
  local tp=$!
  sleep 0.8
  for i in 1 2 3 4 5 6; do
    jt_cmd hs "model $W/other.cantus"
    sleep 0.4
    jt_cmd hs "model $JT_MODEL"
    sleep 0.4
    [ "$i" -eq 2 ] && { jt_cmd hs "model $W/missing.cantus"; sleep 0.2; }
    [ "$i" -eq 4 ] && { jt_cmd hs "model $W/broken.cantus"; sleep 0.2; }
  done
  t1=$(date +%s.%N)
  sleep 1.5
  jt_cmd hs status
  wait $tp
  sleep 0.3
  kill -HUP "$JT_PID_hs"
  jt_wait "$W/hs.out" "model $JT_MODEL: .*loaded while playing" 5
  sleep 0.5
  jt_cmd hs status
  sleep 0.3
  jt_stop_cantus hs INT
  local rc_int=$JT_RC st st2 r last swap_frame
  jt_stop_capture cap
  grep -E '^status:|model|xruns' "$W/hs.out" | tail -8

  st=$(grep '^status:' "$W/hs.out" | head -1)
  echo "$st" | grep -q ' models 12 '
  jt_pcheck "swaps-installed ($(echo "$st" | grep -o 'models [0-9]*'))" $?
  grep -q "model not changed: $W/missing.cantus: cannot open" "$W/hs.out" &&
    grep -q "model not changed: $W/broken.cantus: truncated" "$W/hs.out"
  jt_pcheck bad-swap-refused $?
  jt_xruns hs "$W/hs.out"
  jt_pcheck "no-xrun ($JT_XRUN_MSG)" $?
  $CHK balance "$W/cap.txt"
  r=$?
  grep -q 'sounding 0,' "$W/hs.out" && [ $r -eq 0 ]
  jt_pcheck no-stuck-note $?
  # a note-on after the last swap (transport frame of the last request)
  swap_frame=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 48000 }')
  last=$(awk '$1 >= 0 && $2 ~ /^9/ && $4 != "00" {f=$1} END {print f+0}' "$W/cap.txt")
  [ "$last" -gt "$swap_frame" ]
  jt_pcheck "still-playing (last note-on at frame $last, last swap about $swap_frame)" $?
  st2=$(grep '^status:' "$W/hs.out" | tail -1)
  echo "$st2" | grep -q ' models 13 '
  jt_pcheck "sighup-reload ($(echo "$st2" | grep -o 'models [0-9]*'))" $?
  [ "$rc_int" -eq 0 ]
  jt_pcheck "sigint-exit (exit status $rc_int)" $?
}
jt_phase swap phase_swap

jt_finish
