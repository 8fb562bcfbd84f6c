#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make run` (plugin/run.sh, the README's first quick-start command), both ways:
#   offline-*   no JACK server: cantus-gen renders $B/run/cantus.mid and .svg with
#               the default model and says where they are and how to play live
#   live-*      a JACK server with a MIDI sink (a private jackd -R -d dummy): run.sh
#               starts cantus-jack with the default model, free-running, connected to
#               the sink's port; notes arrive, and after Ctrl-C none is left sounding
#   nosynth-*   the server without any MIDI playback port and no synth installed
#               (CANTUS_FLUIDSYNTH names a missing program): the one apt-get line,
#               and every port named in the hints exists
#   synth-*     the same server with fluidsynth installed: run.sh starts it as the
#               JACK client cantus-synth (audio to system:playback_*), connects
#               cantus:midi_out to its MIDI port, notes flow, and SIGINT stops
#               both quietly; Ctrl-C on make run's recipe line in a pseudo-terminal
#               prints only the exit line (skipped without fluidsynth: apt-get
#               install fluidsynth timgm6mb-soundfont)
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

# hint_ports FILE: 0 when every JACK port a hint line names (CLIENT:midi_*)
# exists now; prints the names.
hint_ports() {
  local p bad=0 ports
  ports=$(grep -oE '[A-Za-z0-9_-]+:midi_[a-z0-9_]+' "$1" | sort -u)
  for p in $ports; do
    if jack_lsp | grep -qx "$p"; then echo "  port $p exists"; else echo "  port $p: no such port"; bad=1; fi
  done
  [ -n "$ports" ] && [ $bad -eq 0 ]
}

# run_live NAME [ENV=VALUE...]: run.sh on the server with stdin held open,
# output in $W/NAME.out/.err, as a terminal runs it: its own process group
# with SIGINT at its default (a background job of this script would ignore
# it); waits for "ready".  RUN_PID holds its PID (= its process group).
run_live() {
  local name=$1; shift
  rm -f "$W/$name.fifo"; mkfifo "$W/$name.fifo"
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' env "$@" B="$B" "$RUN" \
    <"$W/$name.fifo" >"$W/$name.out" 2>"$W/$name.err" &
  RUN_PID=$!
  JT_PIDS+=($RUN_PID)
  exec {RUN_FD}>"$W/$name.fifo"
  jt_wait "$W/$name.out" '^ready$' 20
}
# stop_live: SIGINT to run.sh's process group, as Ctrl-C sends it; RUN_RC
# holds its exit status.
stop_live() {
  kill -INT -- "-$RUN_PID" 2>/dev/null
  wait "$RUN_PID"
  RUN_RC=$?
  exec {RUN_FD}>&-
}
# Lines that are neither ours nor the exit summary: libjack's or a synth's noise.
noise() { cat "$@" | grep -vE '^(cantus|        |ready$|no terminal: )' | grep -v '^ *$'; }

# ---- no MIDI playback port, no synth: the apt-get line -------------------------------------
run_live nosynth CANTUS_FLUIDSYNTH=/nonexistent/fluidsynth
ready=$?
hint_ports "$W/nosynth.out" >"$W/nosynth.ports"
hp=$?
stop_live
cat "$W/nosynth.out" "$W/nosynth.ports"
[ $ready -eq 0 ] && grep -q 'MIDI alone makes no sound' "$W/nosynth.out" &&
  grep -qx '        Install one, then make run again: sudo apt-get install fluidsynth fluid-soundfont-gm' \
    "$W/nosynth.out"
jt_check nosynth-says-the-apt-get-line $?
[ $hp -eq 0 ]
jt_check nosynth-hints-name-real-ports $?

# ---- no MIDI playback port, fluidsynth installed: run.sh starts it -------------------------
if ! command -v fluidsynth >/dev/null; then
  skip synth "fluidsynth not installed (apt-get install fluidsynth timgm6mb-soundfont)"
elif ! ls /usr/share/sounds/sf2/*.sf2 /usr/share/sounds/sf3/*.sf3 >/dev/null 2>&1; then
  skip synth "no General MIDI soundfont (apt-get install timgm6mb-soundfont)"
else
  run_live synth
  ready=$?
  sleep 0.5
  jack_lsp -c >"$W/synth.graph"
  hint_ports "$W/synth.out" >"$W/synth.ports"
  hp=$?
  # A capture beside the synth: the notes that go to it.
  jt_capture tap
  jack_connect cantus:midi_out tap:in
  sleep 3
  stop_live
  sleep 0.3
  jt_stop_capture tap
  left=$(jack_lsp | grep -c '^cantus-synth:')
  cat "$W/synth.out" "$W/synth.err" "$W/synth.ports"
  [ $ready -eq 0 ] && grep -q '^cantus: started fluidsynth with .* (JACK client cantus-synth' "$W/synth.out" &&
    grep -q 'playing live through JACK into cantus-synth:midi_00' "$W/synth.out"
  jt_check synth-started $?
  awk '/^cantus:midi_out$/ { f = 1; next } /^[^ ]/ { f = 0 } f && /cantus-synth:midi_00/ { n++ }
    END { exit !n }' "$W/synth.graph" &&
    awk '/^cantus-synth:left$/ { f = 1; next } /^[^ ]/ { f = 0 } f && /system:playback_1/ { n++ }
    END { exit !n }' "$W/synth.graph"
  jt_check synth-connected-midi-in-audio-out $?
  [ $hp -eq 0 ]
  jt_check synth-hints-name-real-ports $?
  n=$(awk '$2 ~ /^9/ && $4 != "00"' "$W/tap.txt" | wc -l)
  $CHK balance "$W/tap.txt" >/dev/null && [ "$n" -gt 0 ]
  jt_check "synth-notes-flow ($n note-ons)" $?
  noise "$W/synth.out" "$W/synth.err" >"$W/synth.noise"
  [ "$RUN_RC" -eq 0 ] && [ "$left" -eq 0 ] && [ ! -s "$W/synth.noise" ] &&
    grep -q '^cantus-jack: stopped after' "$W/synth.out"
  r=$?
  jt_check "synth-sigint-stops-both-quietly (exit $RUN_RC, $left synth ports left, $(
    wc -l <"$W/synth.noise") other lines $(head -1 "$W/synth.noise"))" $r

  # Ctrl-C in a terminal: make run's recipe line (the Makefile's, with $(B))
  # through /bin/sh on a pseudo-terminal; after Ctrl-C only the exit line
  # comes, the shell exits 0 (it died of SIGINT before: make printed
  # "*** [run] Interrupt"), and the synth is gone.
  recipe=$(sed -n '/^run:/,/^$/p' "$JT_ROOT/Makefile" | grep 'plugin/run.sh' | sed 's/^\t@//; s/\$(B)/$B/g')
  echo "recipe: $recipe"
  (cd "$JT_ROOT" && B="$B" python3 - "$recipe" >"$W/tty.out" 2>&1 <<'PY'
import os, pty, re, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", sys.argv[1]])
out = bytearray()
def pump(seconds, until=None):
    end = time.time() + seconds
    while time.time() < end:
        if until and re.search(until, out):
            return
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            out.extend(data)
pump(20, rb"\nready\r?\n")
pump(2)
mark = len(out)
os.write(fd, b"\x03")
pump(5)
_, status = os.waitpid(pid, 0)
tail = out[mark:]
tail = tail[tail.rfind(b"\x1b[?1049l") + 8:] if b"\x1b[?1049l" in tail else tail
lines = [l for l in tail.decode("utf-8", "replace").replace("\r", "").split("\n") if l.strip()]
print("exit %d" % os.waitstatus_to_exitcode(status))
for l in lines:
    print("after ctrl-c: " + l)
PY
  )
  cat "$W/tty.out"
  left=$(jack_lsp | grep -c '^cantus-synth:')
  grep -qx 'exit 0' "$W/tty.out" && [ "$(grep -c '^after ctrl-c: ' "$W/tty.out")" -eq 1 ] &&
    grep -q '^after ctrl-c: cantus-jack: stopped after' "$W/tty.out" && [ "$left" -eq 0 ]
  jt_check "make-run-ctrl-c-ends-quietly ($left synth ports left)" $?
fi

jt_finish
