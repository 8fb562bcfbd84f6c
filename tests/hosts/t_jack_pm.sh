#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack's hardware MIDI through PortMidi, on a machine without sound
# hardware: the real PortMidi (no devices) and an LD_PRELOAD stand-in
# (tests/hosts/jack_pm_fake.c: "Fake MIDI Out" logs every write with its
# timestamp, "Fake MIDI In" reads appended lines).
#   list-no-devices      --list-devices with no devices: the clear message,
#                        exit 0 (the fake with PM_FAKE_DEVICES=0, and the
#                        real PortMidi when this machine has no devices)
#   list-fake            --list-devices shows the fake's two devices
#   out-no-devices       --midi-out with no devices: a clear message, and
#                        cantus-jack still plays on its JACK port
#   out-same-notes       --midi-out Fake: the hardware gets the notes the
#                        JACK port gets (same pitches, same order)
#   out-timing           the hardware timestamps keep the JACK timing: note-ons
#                        on the 200 bpm tick grid in ms (80 % within 1.5 ms,
#                        all within one period; see pmgrid in jack_check.py)
#   out-silenced         after SIGTERM no note sounds on the hardware
#   in-cc                --midi-in Fake: a CC typed into the fake input
#                        reaches the audio thread (temperature 2)
# The fake-output phase runs again (up to 4 times) if a check failed while
# jackd logged an xrun.  Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
[ -f "$JT_PMFAKE" ] || fail_suite "missing $JT_PMFAKE (make test B=$B builds it)"
# ASan wants to be first in the library list; the fake is preloaded.
export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
NODEV='PortMidi sees no MIDI devices .*still runs on its JACK MIDI ports'

PM_FAKE_DEVICES=0 LD_PRELOAD="$JT_PMFAKE" "$JT_BIN" --list-devices >"$W/l0" 2>&1; rc=$?
cat "$W/l0"
[ $rc -eq 0 ] && [ "$(wc -l <"$W/l0")" -eq 1 ] && grep -qE "$NODEV" "$W/l0"
jt_check "list-no-devices (fake)" $?
"$JT_BIN" --list-devices >"$W/l1" 2>&1; rc=$?
cat "$W/l1"
if grep -q 'PortMidi devices' "$W/l1"; then
  echo "this machine has MIDI devices: real no-devices case not applicable"
else
  [ $rc -eq 0 ] && [ "$(wc -l <"$W/l1")" -eq 1 ] && grep -qE "$NODEV" "$W/l1"
  jt_check "list-no-devices (real PortMidi)" $?
fi
LD_PRELOAD="$JT_PMFAKE" "$JT_BIN" --list-devices >"$W/l2" 2>&1; rc=$?
cat "$W/l2"
[ $rc -eq 0 ] && grep -qE '^ +0 +out +Fake MIDI Out' "$W/l2" && grep -qE '^ +1 +in +Fake MIDI In' "$W/l2"
jt_check list-fake $?

jt_server_start 48000 256 || fail_suite "jackd did not start"

# ---- no devices: a message, then JACK only ----------------------------------------------
jt_capture cap0
PM_FAKE_DEVICES=0 LD_PRELOAD="$JT_PMFAKE" jt_cantus n0 --model "$JT_MODEL" --seed 2 \
  --midi-out Synth --connect-out cap0:in
jt_transport master "tempo 200" "locate 0" play "sleep 2" stop "sleep 0.3"
jt_stop_cantus n0
jt_stop_capture cap0
cat "$W/n0.err"
n=$(awk '$2 ~ /^9/ && $4 != "00"' "$W/cap0.txt" | wc -l)
grep -qE "$NODEV" "$W/n0.err" && [ "$n" -gt 0 ] && [ "$JT_RC" -eq 0 ]
jt_check "out-no-devices ($n note-ons on the JACK port)" $?

# ---- the fake output ------------------------------------------------------------------------
phase_fake() {
  jt_capture cap1
  : >"$W/pm_in.txt"
  PM_FAKE_LOG="$W/pm_out.txt" PM_FAKE_INPUT="$W/pm_in.txt" LD_PRELOAD="$JT_PMFAKE" \
    jt_cantus h1 --model "$JT_MODEL" --seed 2 --gate 2 --midi-out fake --midi-in 1 \
    --connect-out cap1:in
  grep hardware "$W/h1.out"
  jt_transport master "tempo 200" "locate 0" play "sleep 3" stop "sleep 0.3"
  # MIDI in through the fake: CC 1 = 127 -> temperature 2
  echo "-1 b0 01 7f" >>"$W/pm_in.txt"
  jt_wait "$W/h1.out" 'midi: cc 1 -> temperature = 2\.00' 5
  jt_pcheck in-cc $?
  # a note sounding at SIGTERM: roll again and stop the client mid-play
  { printf 'locate 0\nplay\n'; sleep 2; } | jack_transport >>"$W/transport.log" 2>&1 &
  local tp=$! jack_ons pm_ons n1 lastts nflush
  sleep 1.2
  jt_stop_cantus h1
  wait $tp
  jt_transport stop "sleep 0.2"
  jt_stop_capture cap1
  echo "hardware log: $(wc -l <"$W/pm_out.txt") messages"
  head -4 "$W/pm_out.txt"
  jack_ons=$(awk '$1 >= 0 && $2 ~ /^9/ && $4 != "00" {print $3}' "$W/cap1.txt" | tr '\n' ' ')
  pm_ons=$(awk '$2 ~ /^9/ && $4 != "00" {print $3}' "$W/pm_out.txt" | tr '\n' ' ')
  echo "JACK: $jack_ons"
  echo "PM:   $pm_ons"
  [ -n "$pm_ons" ] && [ "$jack_ons" = "$pm_ons" ]
  jt_pcheck out-same-notes $?
  # first roll only (the capture's first pass; the second starts again at
  # 0): 3 s at 200 bpm, 12 ticks per quarter = 25 ms ticks
  n1=$(awk '$1 >= 0 { if (last != "" && $1 < last) exit; last = $1; if ($2 ~ /^9/ && $4 != "00") n++ }
            END { print n + 0 }' "$W/cap1.txt")
  awk '$2 ~ /^9/ && $4 != "00"' "$W/pm_out.txt" | head -"$n1" >"$W/pm_first.txt"
  echo "first roll: $n1 note-ons on the JACK port"
  $CHK pmgrid "$W/pm_first.txt" 25 5.33
  jt_pcheck out-timing $?
  lastts=$(tail -1 "$W/pm_out.txt" | cut -d' ' -f1)
  nflush=$(awk -v t="$lastts" '$1 == t && $2 ~ /^8/' "$W/pm_out.txt" | wc -l)
  $CHK pmbalance "$W/pm_out.txt" && [ "$JT_RC" -eq 0 ]
  jt_pcheck "out-silenced ($nflush note-offs in the last message time)" $?
}
jt_phase fake phase_fake

jt_finish
