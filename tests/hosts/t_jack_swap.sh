#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Model hot swap while playing, on a private `jackd -R -d dummy` server:
# cantus-jack plays at 200 bpm (jack_transport master) while its stdin asks
# for 12 model loads, alternating tiny.cantus and a second fixture model
# (tests/jack_mkmodel, other weights), every 0.4 s; a missing and a corrupt
# model in between must be refused with a message while it keeps playing.
#   swaps-installed  the audio thread installed all 12 (status "model-changes 12")
#   bad-swap-refused both bad files are reported, the model is unchanged
#   no-xrun          no xrun caused by cantus-jack (jackd's log blames no
#                    cycle on it) and its xrun count is explained by the
#                    dummy driver's own timer (usually 0)
#   no-stuck-note    every note-on of the capture has its note-off, and
#                    cantus-jack's count of sounding notes is 0 at exit
#   still-playing    notes after the last swap
#   sighup-reload    SIGHUP reloads the model file
#   sigint-exit      SIGINT stops it cleanly (exit status 0)
# Then swaps while MIDI CCs and program changes arrive (cc-swap-*, below),
# and the style across a swap (swap-keeps-style, swap-default-style) with
# the exit summary's count (exit-summary-counts), at the end.
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
  echo "$st" | grep -q ' model-changes 12 '
  r=$?
  jt_pcheck "swaps-installed ($(echo "$st" | grep -o 'model-changes [0-9]*'))" $r
  grep -q "model not changed: $W/missing.cantus: cannot open" "$W/hs.out" &&
    grep -q "model not changed: $W/broken.cantus: truncated" "$W/hs.out"
  jt_pcheck bad-swap-refused $?
  jt_xruns hs "$W/hs.out"
  jt_pcheck "no-xrun ($JT_XRUN_MSG)" $?
  $CHK balance "$W/cap.txt"
  r=$?
  grep -q 'none left sounding' "$W/hs.out" && [ $r -eq 0 ]
  jt_pcheck no-stuck-note $?
  # a note-on after the last swap (transport frame of the last request)
  swap_frame=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 48000 }')
  last=$(awk '$1 >= 0 && $2 ~ /^9/ && $4 != "00" {f=$1} END {print f+0}' "$W/cap.txt")
  [ "$last" -gt "$swap_frame" ]
  jt_pcheck "still-playing (last note-on at frame $last, last swap about $swap_frame)" $?
  st2=$(grep '^status:' "$W/hs.out" | tail -1)
  echo "$st2" | grep -q ' model-changes 13 '
  r=$?
  jt_pcheck "sighup-reload ($(echo "$st2" | grep -o 'model-changes [0-9]*'))" $r
  [ "$rc_int" -eq 0 ]
  jt_pcheck "sigint-exit (exit status $rc_int)" $?
}
jt_phase swap phase_swap

# Swaps while MIDI controls arrive (issue 8, section 5): the main thread
# must never read a model the audio thread has handed back.  jack_send
# streams CC 1 (temperature), CC 14 (style), CC 9 (style_b) and program
# changes (style) into midi_in, about 400 a second, while stdin asks for 16
# swaps and SIGHUP for 4 reloads; each swap then lands in a main-loop pass
# that also reports controls.  Under the sanitizer build (CANTUS_SAN=1) a
# read of a freed model stops cantus-jack with an AddressSanitizer report.
#   cc-swap-clean-exit  SIGINT exit status 0, nothing from a sanitizer on stderr
#   cc-swap-installed   the audio thread installed all 20 models ("model-changes 20")
#   cc-swap-interleaved every swap message sits among "midi:" control lines
#                       (so controls were handled in the passes around it),
#                       and both CCs and program changes were reported
phase_swap_cc() {
  trap '' PIPE # a crashed cantus-jack must fail the checks, not stop this script
  jt_sender sx
  jt_cantus sc --model "$JT_MODEL" --seed 3 --free --connect-in sx:out
  local i n_req=0 rc san st n_swaps n_inter n_cc n_pc
  for i in $(seq 0 799); do
    printf 'b0 01 %02x\nc0 %02x\nb0 0e %02x\nb0 09 %02x\nsleep 10\n' \
      $((i % 128)) $((i % 3)) $(((i * 7) % 128)) $(((i * 13) % 128))
  done >"$W/sx.script"
  # in the background: the fifo only takes what jack_send has read
  local fd="JT_SFD_sx"
  cat "$W/sx.script" >&"${!fd}" &
  local feeder=$!
  sleep 0.5
  for i in $(seq 1 8); do
    jt_cmd sc "model $W/other.cantus"; n_req=$((n_req + 1))
    sleep 0.3
    jt_cmd sc "model $JT_MODEL"; n_req=$((n_req + 1))
    sleep 0.3
    if [ $((i % 2)) -eq 0 ]; then
      kill -HUP "$JT_PID_sc"; n_req=$((n_req + 1))
      sleep 0.3
    fi
  done
  jt_cmd sc status
  sleep 0.5
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
  jt_stop_sender sx
  jt_stop_cantus sc INT
  rc=$JT_RC
  trap - PIPE
  san=$(grep -m1 -oE '(ERROR|WARNING): [A-Za-z]+Sanitizer: [a-z-]+|runtime error: .*' "$W/sc.err")
  [ "$rc" -eq 0 ] && [ -z "$san" ]
  jt_pcheck "cc-swap-clean-exit (exit status $rc${san:+, $san})" $?
  st=$(grep '^status:' "$W/sc.out" | tail -1)
  echo "$st" | grep -q " model-changes $n_req "
  r=$?
  jt_pcheck "cc-swap-installed ($(echo "$st" | grep -o 'model-changes [0-9]*') of $n_req)" $r
  n_swaps=$(grep -c 'loaded while playing' "$W/sc.out")
  n_inter=$(awk '/loaded while playing/ { s[NR] = 1 } /^midi: / { m[NR] = 1 }
    END { for (k in s) if (m[k - 1] && m[k + 1]) n++; print n + 0 }' "$W/sc.out")
  n_cc=$(grep -c '^midi: cc ' "$W/sc.out")
  n_pc=$(grep -c '^midi: program ' "$W/sc.out")
  [ "$n_swaps" -eq "$n_req" ] && [ "$n_inter" -eq "$n_swaps" ] && [ "$n_cc" -gt 100 ] &&
    [ "$n_pc" -gt 100 ]
  jt_pcheck "cc-swap-interleaved ($n_inter of $n_swaps swaps among control lines; $n_cc CC, $n_pc program lines)" $?
}
jt_phase swap-cc phase_swap_cc

# A swap keeps the style by name (issue 9, section 5): beta stays beta in a
# model that has a beta at another index; a model without it starts on its
# own default style (metadata default_style), not on the first.
#   swap-keeps-style      tiny (beta = index 1) -> beta,gamma,alpha: beta
#   swap-default-style    -> reel,jig,waltz with default_style waltz: waltz
"$B/tests/jack_mkmodel" 6 "$W/reorder.cantus" beta,gamma,alpha &&
  "$B/tests/jack_mkmodel" 7 "$W/dances.cantus" reel,jig,waltz waltz ||
  fail_suite "jack_mkmodel could not write the style models"
jt_cantus st --model "$JT_MODEL" --seed 4 --free
jt_cmd st "set style beta"
sleep 0.3
jt_cmd st "model $W/reorder.cantus"
jt_wait "$W/st.out" "reorder.cantus: .*loaded while playing" 5
sleep 0.3
jt_cmd st status
jt_wait "$W/st.out" '^status:' 5
jt_cmd st "model $W/dances.cantus"
jt_wait "$W/st.out" "dances.cantus: .*loaded while playing" 5
sleep 0.3
jt_cmd st status
sleep 0.5
jt_stop_cantus st INT
grep -E 'loaded while playing|^status:' "$W/st.out" | sed 's/^/  /'
s1=$(grep '^status:' "$W/st.out" | head -1)
s2=$(grep '^status:' "$W/st.out" | sed -n 2p)
grep -q 'reorder.cantus: .*style beta (kept)' "$W/st.out" && [[ "$s1" =~ \ style\ [^\ ]*beta ]]
r=$?
jt_check "swap-keeps-style ($(grep -o 'style [^ ]*' <<<"$s1" | head -1))" $r
grep -q "dances.cantus: .*style waltz (the model's default)" "$W/st.out" &&
  [[ "$s2" =~ \ style\ [^\ ]*waltz ]]
r=$?
jt_check "swap-default-style ($(grep -o 'style [^ ]*' <<<"$s2" | head -1))" $r
grep -q "^cantus-jack: stopped after [0-9]*:[0-9][0-9]\. Played [0-9]* notes, none left sounding\. 2 model changes\. Audio dropouts (xruns): [0-9]*\." "$W/st.out"
r=$?
jt_check "exit-summary-counts ($(grep -o '[0-9]* model changes\?' "$W/st.out"))" $r

jt_finish
