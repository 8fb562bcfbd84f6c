#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack following chords (issue 11) on a private `jackd -R -d dummy`:
# a test client (tests/jack_send) plays a chord track, C F G Am C F, one
# chord a bar at 120 bpm on channel 3 (on the transport's bar lines), into
# cantus-jack and into the capture client, which records both (transport
# frames).  The fit is the share of
# cantus-jack's note-ons that are tones of the chord held at the time (and a
# beat before: the lookahead; jack_check.py chordfit).
#   chord-in-follows     --chord-in SENDER:out --chord-strength 1 (chord
#                        source input implied): the fit is at least 0.15
#                        above the same run with --chord-source off and at
#                        least 0.4
#   chord-source-off     --chord-source off with --chord-in: the baseline
#                        (the explicit option wins over the implied one)
#   split-follows        --chord-source split --chord-split C4 with the
#                        chords on midi_in: fits like chord-in
#   chord-device-follows --chord-device (the PortMidi stand-in's "Fake Chord
#                        In", fed by the wall clock): the music is not that
#                        of chord source off
#   chord-in-missing     --chord-in to a port that does not exist: one line
#                        on stderr, cantus-jack runs on, exits 0
#   chord-device-errors  no such device: one line, exit 1; the --midi-in
#                        device again: one line, exit 1; no devices at all:
#                        one line, runs on the JACK ports
# The model is the shipped one (tiny.cantus plays too few notes to measure).
# Timing phases run again (up to 4 times) if a check failed while jackd
# logged an xrun.  Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
[ -f "$JT_PMFAKE" ] || fail_suite "missing $JT_PMFAKE (make test B=$B builds it)"
export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
RATE=48000
BPM=120
MARGIN=0.15
MIN_FIT=0.4
# The shipped model: it plays enough notes in six bars to measure (tiny.cantus plays few).
CH_MODEL=$JT_ROOT/models/default.cantus

jt_server_start "$RATE" 256 || fail_suite "jackd did not start"

PROG=("48 52 55" "53 57 48" "43 47 50" "45 48 52" "48 52 55" "53 57 48")
BAR_FRAMES=$((RATE * 240 / BPM))

# chords_at SENDER: the chord track on the transport's bar lines (jack_send
# "@FRAME" lines: sent when the rolling transport reaches FRAME), one chord
# a bar, each let go 48 frames before the next.
chords_at() {
  local k=0 c p on off
  for c in "${PROG[@]}"; do
    on=$((k * BAR_FRAMES)) off=$(((k + 1) * BAR_FRAMES - 48))
    for p in $c; do jt_send "$1" "$(printf '@%d 92 %02x 5a' $on "$p")"; done
    for p in $c; do jt_send "$1" "$(printf '@%d 82 %02x 00' $off "$p")"; done
    k=$((k + 1))
  done
}

# chords SENDER [PMFILE]: the chord track by the wall clock, to the sender
# (and appended to the PortMidi stand-in's chord input file), one chord
# every 2 s (a bar) from now.
chords() {
  local c p
  for c in "${PROG[@]}"; do
    for p in $c; do
      jt_send "$1" "$(printf '92 %02x 5a' "$p")"
      [ -n "${2:-}" ] && printf -- '-1 92 %02x 5a\n' "$p" >>"$2"
    done
    sleep 2
    for p in $c; do
      jt_send "$1" "$(printf '82 %02x 00' "$p")"
      [ -n "${2:-}" ] && printf -- '-1 82 %02x 00\n' "$p" >>"$2"
    done
  done
}

# take NAME TO_CANTUS PMFILE CANTUS_ARGS...: one take of the chord track;
# TO_CANTUS: chord_in, midi_in or none (the sender feeds the capture only);
# without PMFILE the chords come on the bar lines (chords_at), with it by
# the wall clock (chords).  Sets FIT (empty when chordfit found too few
# notes).
take() {
  local name=$1 to=$2 pm=$3 tp
  shift 3
  jt_capture "cap_$name"
  jt_sender "snd_$name"
  if [ -n "$pm" ]; then
    : >"$pm"
    PM_FAKE_CHORD_INPUT="$pm" LD_PRELOAD="$JT_PMFAKE" \
      jt_cantus "$name" --model "$CH_MODEL" --seed 2 --connect-out "cap_$name:in" "$@"
  else
    jt_cantus "$name" --model "$CH_MODEL" --seed 2 --connect-out "cap_$name:in" "$@"
  fi
  [ "$to" = none ] || jack_connect "snd_$name:out" "$name:$to"
  jack_connect "snd_$name:out" "cap_$name:in"
  { printf 'master\ntempo %s\nlocate 0\nplay\n' $BPM; sleep 13; printf 'stop\n'; sleep 0.3; } \
    | jack_transport >>"$W/transport.log" 2>&1 &
  tp=$!
  if [ -n "$pm" ]; then
    sleep 0.5
    chords "snd_$name" "$pm"
  else
    chords_at "snd_$name"
  fi
  wait $tp
  jt_stop_capture "cap_$name"
  jt_stop_sender "snd_$name"
  jt_stop_cantus "$name"
  local rc
  $CHK chordfit "$W/cap_$name.txt" 3 $BPM $RATE >"$W/$name.fit"
  rc=$?
  cat "$W/$name.fit"
  FIT=$(sed -n 's/^chordfit: .*: \([0-9.]*\)$/\1/p' "$W/$name.fit")
  [ $rc -eq 0 ] || FIT=
  $CHK balance "$W/cap_$name.txt" >/dev/null
  BALANCED=$?
}

# better FIT BASE: FIT >= BASE + MARGIN and FIT >= MIN_FIT
better() {
  [ -n "$1" ] && [ -n "$2" ] &&
    awk -v f="$1" -v b="$2" -v m=$MARGIN -v lo=$MIN_FIT 'BEGIN { exit !(f >= b + m && f >= lo) }'
}

# ---- the baseline: chords sent, chord source off ------------------------------------------
phase_off() {
  take off none "" --chord-in "snd_off:out" --chord-source off --chord-strength 1
  BASE=$FIT
  echo "baseline fit (chord source off): ${BASE:-none}"
  [ -n "$BASE" ] && [ $BALANCED -eq 0 ] && [ "$JT_RC" -eq 0 ]
  jt_pcheck "chord-source-off (fit ${BASE:-none})" $?
}
jt_phase off phase_off

# ---- --chord-in: chord source input implied ----------------------------------------------
phase_in() {
  take cin none "" --chord-in "snd_cin:out" --chord-strength 1
  echo "chord_in fit: ${FIT:-none} (baseline ${BASE:-none})"
  better "$FIT" "$BASE" && [ $BALANCED -eq 0 ] && [ "$JT_RC" -eq 0 ]
  jt_pcheck "chord-in-follows (fit ${FIT:-none}, baseline ${BASE:-none})" $?
}
jt_phase chord-in phase_in

# ---- split: the chords below C4 on midi_in -----------------------------------------------
phase_split() {
  take spl midi_in "" --chord-source split --chord-split C4 --chord-strength 1
  echo "split fit: ${FIT:-none} (baseline ${BASE:-none})"
  better "$FIT" "$BASE" && [ $BALANCED -eq 0 ] && [ "$JT_RC" -eq 0 ]
  jt_pcheck "split-follows (fit ${FIT:-none}, baseline ${BASE:-none})" $?
}
jt_phase split phase_split

# ---- --chord-device: the PortMidi stand-in's chord input --------------------------------
# The chords come by the wall clock here, so they change at a varying
# point of the bar; how well the notes then fit varies with it (from about
# the baseline to 0.8 on this model), so the check is that the chords
# reached the engine: the music is not the music of chord source off
# (which is also the music of chord source input without chords).
phase_device() {
  take dev none "$W/pm_chords.txt" --chord-device "Chord In" --chord-strength 1
  grep -q 'hardware MIDI chords Chord In' "$W/dev.out"
  local announced=$?
  echo "chord device fit: ${FIT:-none} (baseline ${BASE:-none})"
  ! $CHK same "$W/cap_off.txt" "$W/cap_dev.txt" 0 $((5 * BAR_FRAMES)) && [ $BALANCED -eq 0 ] &&
    [ "$JT_RC" -eq 0 ] && [ $announced -eq 0 ]
  jt_pcheck "chord-device-follows (the music changed; fit ${FIT:-none}, baseline ${BASE:-none})" $?
}
jt_phase device phase_device

# ---- errors ---------------------------------------------------------------------------------
jt_cantus miss --model "$JT_MODEL" --chord-in nosuch:port
sleep 0.5
jt_stop_cantus miss
cat "$W/miss.err"
[ "$JT_RC" -eq 0 ] && [ "$(wc -l <"$W/miss.err")" -eq 1 ] &&
  grep -q '^cantus-jack: --chord-in: cannot connect nosuch:port to miss:chord_in (no such port?)$' \
    "$W/miss.err"
jt_check chord-in-missing $?

LD_PRELOAD="$JT_PMFAKE" timeout 20 "$JT_BIN" --no-ui --model "$JT_MODEL" --chord-device Nope \
  </dev/null >"$W/e1.out" 2>"$W/e1.err"
r1=$?
LD_PRELOAD="$JT_PMFAKE" timeout 20 "$JT_BIN" --no-ui --model "$JT_MODEL" --midi-in 1 \
  --chord-device 1 </dev/null >"$W/e2.out" 2>"$W/e2.err"
r2=$?
cat "$W/e1.err" "$W/e2.err"
[ $r1 -eq 1 ] && [ "$(wc -l <"$W/e1.err")" -eq 1 ] &&
  grep -q "^cantus-jack: --chord-device Nope: no PortMidi MIDI input matches 'Nope'" "$W/e1.err" &&
  [ $r2 -eq 1 ] && [ "$(wc -l <"$W/e2.err")" -eq 1 ] &&
  grep -q '^cantus-jack: --chord-device 1 is the --midi-in device' "$W/e2.err"
r=$?
PM_FAKE_DEVICES=0 LD_PRELOAD="$JT_PMFAKE" jt_cantus nodev --model "$JT_MODEL" --chord-device X
sleep 0.3
jt_stop_cantus nodev
cat "$W/nodev.err"
[ $r -eq 0 ] && [ "$JT_RC" -eq 0 ] && [ "$(wc -l <"$W/nodev.err")" -eq 1 ] &&
  grep -q '^cantus-jack: --chord-device X: PortMidi sees no MIDI devices' "$W/nodev.err"
jt_check chord-device-errors $?

jt_finish
