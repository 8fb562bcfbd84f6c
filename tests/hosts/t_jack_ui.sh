#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack's terminal view and --record, on a private `jackd -R -d dummy`:
#   view-*, key-*, quit-restores-terminal   the view on a pseudo-terminal
#       (tests/hosts/jack_ui_drive.py): model, styles, tempo, bar, piano roll and
#       controls drawn; keys change style, temperature, hold; m loads another
#       model while playing; q quits and restores the terminal
#   view-lists-every-style-from-1, view-style-list-fits-80-columns,
#   key-*-style      the shipped 11-style model on an 80x24 view
#       (tests/hosts/jack_ui_styles.py): every style listed as "N:name",
#       wrapped within 80 columns; ] and [ step through all of them
#   view-*-80x24, view-*-120x40   the chorale model's view replayed through a
#       small terminal: the header stays on the top rows (nothing scrolls),
#       the piano roll covers every pitch played, key messages land in the
#       message area, q quits
#   record-file      --record FILE.mid: a MIDI file with the notes played
#                    (as many as the capture saw), the tempo (200 bpm) and
#                    the meter
#   no-ui-stdin-eof  --no-ui with stdin at EOF (systemd) keeps running
# Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
"$B/tests/jack_mkmodel" 9 "$W/other.cantus" || fail_suite "jack_mkmodel could not write a model"
jt_server_start 48000 256 || fail_suite "jackd did not start"

# ---- the view --------------------------------------------------------------------------------
{ printf 'master\ntempo 200\nlocate 0\nplay\n'; sleep 9; printf 'stop\n'; sleep 0.2; } \
  | jack_transport >>"$W/transport.log" 2>&1 &
TP=$!
python3 "$JT_ROOT/tests/hosts/jack_ui_drive.py" "$JT_BIN" "$JT_MODEL" "$W/other.cantus" "$W/ui.log" \
  -- --seed 2 >"$W/ui.txt" 2>&1
cat "$W/ui.txt"
T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$W/ui.txt")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/ui.txt")))
wait $TP

# ---- every style on an 80-column view ----------------------------------------------------------
python3 "$JT_ROOT/tests/hosts/jack_ui_styles.py" "$JT_BIN" "$JT_ROOT/models/default.cantus" \
  "$W/ui_styles.log" >"$W/ui_styles.txt" 2>&1
cat "$W/ui_styles.txt"
T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$W/ui_styles.txt")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/ui_styles.txt")))
# ---- the view fits the terminal: 80x24 and 120x40 with the chorale model ------------------
# (models/chorales.cantus: four voices over three octaves; the transport
# plays 6 s at 160 bpm, then stops; the capture tells the roll's range)
jt_capture lay
for size in "24 80" "40 120"; do
  { printf 'master\ntempo 160\nlocate 0\nplay\n'; sleep 6; printf 'stop\n'; sleep 8; } \
    | jack_transport >>"$W/transport.log" 2>&1 &
  TP=$!
  python3 "$JT_ROOT/tests/hosts/jack_ui_drive.py" --layout $size "$JT_BIN" \
    "$JT_ROOT/models/chorales.cantus" "$W/lay.txt" "$W/lay-${size// /x}.log" -- --seed 3 \
    --connect-out lay:in >"$W/lay.ui" 2>&1
  cat "$W/lay.ui"
  T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$W/lay.ui")))
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$W/lay.ui")))
  kill $TP 2>/dev/null; wait $TP 2>/dev/null
done
jt_stop_capture lay

# ---- --record ----------------------------------------------------------------------------------
jt_capture cap
jt_cantus rec --model "$JT_MODEL" --seed 2 --record "$W/take.mid" --connect-out cap:in
jt_transport master "tempo 200" "locate 0" play "sleep 3" stop "sleep 0.3"
jt_stop_cantus rec
jt_stop_capture cap
cat "$W/rec.out"
n_cap=$(awk '$2 ~ /^9/ && $4 != "00"' "$W/cap.txt" | wc -l)
n_rec=$(sed -n 's/.*recorded \([0-9]*\) notes.*/\1/p' "$W/rec.out")
python3 "$JT_ROOT/tests/hosts/jack_check.py" midifile "$W/take.mid" "$n_cap" 200 4 4
r=$?
[ $r -eq 0 ] && [ "${n_rec:-x}" = "$n_cap" ]; jt_check "record-file ($n_cap notes captured, ${n_rec:-?} recorded)" $?

# ---- headless with stdin at EOF ------------------------------------------------------------
# (--server names the server explicitly here, as a user would)
env -u JACK_DEFAULT_SERVER "$JT_BIN" --no-ui --server "$JT_SERVER" --name eof --model "$JT_MODEL" \
  </dev/null >"$W/eof.out" 2>&1 &
EP=$!
JT_PIDS+=($EP)
jt_wait "$W/eof.out" '^ready$' 10
sleep 1
kill -0 $EP 2>/dev/null; r=$?
kill -TERM $EP; wait $EP; rc=$?
[ $r -eq 0 ] && [ $rc -eq 0 ]; jt_check "no-ui-stdin-eof (exit $rc)" $?
jt_finish
