#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack's MIDI input on a private `jackd -R -d dummy` server: a test
# client (tests/jack_send) plays notes (channel 2) and sends CCs and program
# changes into cantus-jack:midi_in; the capture client records both the
# player and cantus-jack (transport frames).
#   listen          --listen: the model's notes end when the player starts,
#                   it is silent while the player plays, and continues the
#                   phrase after the player has paused (wait_beats)
#   call-response   --call-response: silent until the player has played and
#                   paused, then answers response_bars bars, then silent
#   cc-temperature  CC 1 (default map) sets temperature; the audio thread's
#                   change is reported ("midi: cc 1 -> temperature = 0.00")
#                   and shown by `status`
#   program-style   program change 2 (1 on the wire) selects style 2 (beta),
#                   programs and styles both counted from 1
#   stdin-style     `set style 3` is the third style (gamma), `set style 0`
#                   says the range and lists the styles, `style beta` by name
#   stdin-notes     `set note_lo C4`, `set range C3-C5` take note names
#   cc-map-file     --cc-map FILE: CC 20 spans temperature 0.5..1.5
#   cc-panic        CC 123 (All Notes Off, value 0) fires panic
#   theme           --theme FILE.mid: the theme's notes open the piece, on
#                   their beats (C4 E4 G4 C5 as quarter notes in bar 1)
# Timing phases run again (up to 4 times) if a check failed while jackd
# logged an xrun.  Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
RATE=48000
BPM=200

jt_server_start "$RATE" 256 || fail_suite "jackd did not start"

phrase() {  # a four-note phrase on channel 2, about 1.2 s long
  jt_send "$1" "91 3c 64" "sleep 150" "81 3c 00" "91 3e 64" "sleep 150" "81 3e 00" \
    "91 40 64" "sleep 150" "81 40 00" "91 43 64" "sleep 600" "81 43 00"
}

# ---- listen -------------------------------------------------------------------------------
phase_listen() {
  jt_capture cap1
  jt_sender snd1
  jt_cantus l1 --model "$JT_MODEL" --seed 2 --listen --connect-out cap1:in --connect-in snd1:out
  jack_connect snd1:out cap1:in
  { printf 'master\ntempo %s\nlocate 0\nplay\n' $BPM; sleep 7; printf 'stop\n'; sleep 0.3; } \
    | jack_transport >>"$W/transport.log" 2>&1 &
  local tp=$!
  sleep 2.5
  phrase snd1
  wait $tp
  jt_stop_capture cap1
  jt_stop_sender snd1
  jt_stop_cantus l1
  TPQ=$(sed -n 's/.*, \([0-9]*\) ticks per quarter.*/\1/p' "$W/l1.out" | head -1)
  $CHK listen "$W/cap1.txt" $BPM $RATE 2 "${TPQ:-12}"
  jt_pcheck listen $?
  $CHK balance "$W/cap1.txt" >/dev/null
  jt_pcheck listen-balanced $?
}
jt_phase listen phase_listen

# ---- call and response -------------------------------------------------------------------
phase_callresp() {
  jt_capture cap2
  jt_sender snd2
  jt_cantus r1 --model "$JT_MODEL" --seed 2 --call-response --response-bars 1 \
    --connect-out cap2:in --connect-in snd2:out
  jack_connect snd2:out cap2:in
  { printf 'master\ntempo %s\nlocate 0\nplay\n' $BPM; sleep 7; printf 'stop\n'; sleep 0.3; } \
    | jack_transport >>"$W/transport.log" 2>&1 &
  local tp=$!
  sleep 2
  phrase snd2
  wait $tp
  jt_stop_capture cap2
  jt_stop_sender snd2
  jt_stop_cantus r1
  $CHK callresp "$W/cap2.txt" $BPM $RATE 2 1 4 "${TPQ:-12}"
  jt_pcheck call-response $?
  $CHK balance "$W/cap2.txt" >/dev/null
  jt_pcheck call-response-balanced $?
}
jt_phase callresp phase_callresp

# ---- CC and program change ----------------------------------------------------------------
jt_sender snd4
jt_cantus k1 --model "$JT_MODEL" --connect-in snd4:out
jt_send snd4 "b0 01 00"
jt_wait "$W/k1.out" 'midi: cc 1 -> temperature = 0\.00' 5; r=$?
jt_cmd k1 status
jt_wait "$W/k1.out" '^status: .*temperature 0\.00' 5 && [ $r -eq 0 ]; jt_check cc-temperature $?
jt_send snd4 "c0 01"
jt_wait "$W/k1.out" 'midi: program 2 -> style = beta' 5; r=$?
jt_cmd k1 status
sleep 0.3
grep '^status:' "$W/k1.out" | tail -1 | grep -q 'style beta' && [ $r -eq 0 ]
jt_check program-style $?
jt_send snd4 "c0 09"   # no style 10 in a 3-style model: ignored
sleep 0.3
! grep -q 'program 10' "$W/k1.out"; jt_check program-out-of-range-ignored $?
jt_cmd k1 "set style 3"
jt_wait "$W/k1.out" '^set style = gamma$' 5; r1=$?
jt_cmd k1 "set style 0"
jt_wait "$W/k1.out" '^style: style 0 is outside 1\.\.3 \(1:alpha 2:beta 3:gamma\)$' 5; r2=$?
jt_cmd k1 "style beta"
jt_wait "$W/k1.out" '^set style = beta$' 5; r3=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $r3 -eq 0 ]; jt_check stdin-style $?
jt_cmd k1 "set note_lo C4"
jt_wait "$W/k1.out" '^set note_lo = C4 \(60\)$' 5; r1=$?
jt_cmd k1 "set range C3-Bb4"
jt_wait "$W/k1.out" '^set note_hi = A#4 \(70\)$' 5; r2=$?
grep -q '^set note_lo = C3 (48)$' "$W/k1.out"; r3=$?
jt_cmd k1 "set note_hi H4"
jt_wait "$W/k1.out" "^note_hi: 'H4' is not a note" 5; r4=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $r3 -eq 0 ] && [ $r4 -eq 0 ]; jt_check stdin-notes $?
jt_send snd4 "b0 7b 00"
jt_wait "$W/k1.out" 'midi: cc 123 -> panic' 5; jt_check cc-panic $?
jt_stop_sender snd4
jt_stop_cantus k1
[ "$JT_RC" -eq 0 ]; jt_check cc-client-exit-status $?

# ---- a CC map file --------------------------------------------------------------------------
printf '# test map\n20 temperature 0.5 1.5   # knob\n21 style\n' >"$W/map.txt"
jt_sender snd3
jt_cantus m1 --model "$JT_MODEL" --cc-map "$W/map.txt" --connect-in snd3:out
jt_send snd3 "b0 14 7f" "b0 15 7f" "b0 01 00"
jt_wait "$W/m1.out" 'midi: cc 20 -> temperature = 1\.50' 5; r1=$?
jt_wait "$W/m1.out" 'midi: cc 21 -> style = gamma' 5; r2=$?
sleep 0.3
! grep -q 'midi: cc 1 ' "$W/m1.out"; r3=$?   # CC 1 is not in this map
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $r3 -eq 0 ]; jt_check cc-map-file $?
jt_stop_sender snd3
jt_stop_cantus m1

# ---- a primer theme ------------------------------------------------------------------------
$CHK mkmidi "$W/theme.mid" 60 64 67 72
phase_theme() {
  jt_capture cap4
  jt_cantus t1 --model "$JT_MODEL" --seed 2 --theme "$W/theme.mid" --connect-out cap4:in
  jt_transport master "tempo $BPM" "locate 0" "sleep 0.2" play "sleep 2" stop "sleep 0.3"
  jt_stop_capture cap4
  jt_stop_cantus t1
  # bar 1 at 200 bpm: beats every 14400 frames
  local got
  got=$($CHK notes "$W/cap4.txt" 0 57600 | awk '{printf "%d:%d ", $1, $2}')
  echo "theme bar: $got"
  [ "$got" = "0:60 14400:64 28800:67 43200:72 " ]
  jt_pcheck theme $?
}
jt_phase theme phase_theme

jt_finish
