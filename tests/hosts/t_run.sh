#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make run` (plugin/run.sh, the README's first quick-start command), both ways:
#   offline-*   no JACK server: cantus-gen renders $B/run/cantus.mid and .svg with
#               the default model and says where they are and how to play live
#   live-*      a JACK server with a MIDI sink (a private jackd -R -d dummy): run.sh
#               starts cantus-jack with the default model, free-running, connected to
#               the sink's port; notes arrive, and after Ctrl-C none is left sounding
# Last line: "N passed, N failed, N skipped".
. "$(dirname "$0")/jack_test_lib.sh"
jt_require
CHK="python3 $JT_ROOT/tests/hosts/jack_check.py"
RUN="$JT_ROOT/plugin/run.sh"

# ---- offline: no server answers -----------------------------------------------------------
rm -f "$B/run/cantus.mid" "$B/run/cantus.svg"
JACK_DEFAULT_SERVER="cantus_run_absent_$$" JACK_NO_START_SERVER=1 B="$B" "$RUN" >"$W/off.out" 2>&1
rc=$?
cat "$W/off.out"
[ $rc -eq 0 ]
jt_check "offline-exit ($rc)" $?
grep -q "wrote $B/run/cantus.mid and $B/run/cantus.svg" "$W/off.out" &&
  grep -q 'to play live, start a JACK server' "$W/off.out"
jt_check offline-says-where-and-how $?
n=$($CHK midifile "$B/run/cantus.mid" 0 120 4 4 | sed -nE 's/^midifile: ([0-9]+) note-ons.*/\1/p')
echo "offline MIDI: ${n:-no} note-ons"
[ "${n:-0}" -gt 8 ]
jt_check "offline-midi-has-notes (${n:-0})" $?
r=$(grep -c '<rect' "$B/run/cantus.svg" 2>/dev/null)
head -c 5 "$B/run/cantus.svg" | grep -q '<' && grep -q '<svg' "$B/run/cantus.svg" && [ "${r:-0}" -gt 8 ]
jt_check "offline-svg-piano-roll (${r:-0} rects)" $?

# ---- live: a server and a MIDI sink ------------------------------------------------------
jt_server_start 48000 256 || fail_suite "jackd did not start"
jt_capture sink
rm -f "$W/run.fifo"; mkfifo "$W/run.fifo"
B="$B" "$RUN" <"$W/run.fifo" >"$W/live.out" 2>"$W/live.err" &
run_pid=$!
JT_PIDS+=($run_pid)
exec {run_fd}>"$W/run.fifo" # stdin stays open, as a terminal's would
jt_wait "$W/live.out" '^ready$' 20
ready=$?
sleep 3
kill -INT $run_pid 2>/dev/null
wait $run_pid
rc=$?
exec {run_fd}>&-
sleep 0.3
jt_stop_capture sink
cat "$W/live.out" "$W/live.err" | grep -v '^ *$' | head -20
[ $ready -eq 0 ] && grep -q 'playing live through JACK into sink:' "$W/live.out"
jt_check live-connects-to-the-sink $?
$CHK balance "$W/sink.txt" && [ $rc -eq 0 ]
jt_check "live-notes-and-none-stuck-after-ctrl-c (exit $rc)" $?

jt_finish
