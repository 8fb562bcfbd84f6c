#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make run`: plays Cantus live when a JACK server is running (cantus-jack
# with the default model, connected to the first MIDI playback port), else
# renders a piece offline with cantus-gen and says how to play live.
# MIDI alone makes no sound: with JACK up and no MIDI playback port, it
# starts FluidSynth with a General MIDI soundfont as a JACK client (audio
# to the system playback ports), connects Cantus to it and stops it again
# on exit; without FluidSynth it prints the one apt-get line for it.
# Environment: B (build directory, default build); CANTUS_FLUIDSYNTH (the
# synth program, default fluidsynth); CANTUS_SOUNDFONT (a .sf2/.sf3 file).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
bin=$B/bin
synth_pkgs="fluidsynth fluid-soundfont-gm"
fluidsynth=${CANTUS_FLUIDSYNTH:-fluidsynth}

model=models/default.cantus
note=
if [ ! -f "$model" ]; then
  model=tests/data/tiny.cantus
  note="using the untrained test model ($model); run \`make models\` for the real ones"
fi
[ -n "$note" ] && echo "cantus: $note"

# A JACK server counts as up when jack_lsp answers within two seconds.
jack_up() {
  command -v jack_lsp >/dev/null 2>&1 || return 1
  timeout 2 jack_lsp >/dev/null 2>&1
}

# The first MIDI input port of another client (a synth or a hardware out;
# not Cantus itself: cantus-jack is "cantus" or another --name starting so,
# jalv's plugin is "Cantus"; a synth an earlier make run started counts).
midi_sink() {
  timeout 2 jack_lsp -t -p 2>/dev/null | awk '
    function ours(n) { n = tolower(n); return n ~ /^cantus/ && n !~ /^cantus-synth:/ }
    function check() { if (name != "" && midi && input && !ours(name)) { print name; found = 1; exit } }
    /^[^ \t]/ { check(); name = $0; midi = 0; input = 0; next }
    /properties:/ { input = ($0 ~ /input/); next }
    /midi/ { midi = 1 }
    END { if (!found) check() }'
}

# A General MIDI soundfont from Debian's packages (default-GM is the
# alternatives link to the best one installed).
soundfont() {
  local f
  for f in "${CANTUS_SOUNDFONT:-}" /usr/share/sounds/sf2/default-GM.sf2 \
    /usr/share/sounds/sf3/default-GM.sf3 /usr/share/sounds/sf2/FluidR3_GM.sf2 \
    /usr/share/sounds/sf2/TimGM6mb.sf2; do
    [ -n "$f" ] && [ -r "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

synth_pid=
stop_synth() {
  [ -n "$synth_pid" ] || return 0
  kill -TERM "$synth_pid" 2>/dev/null
  wait "$synth_pid" 2>/dev/null
  synth_pid=
}

# Starts FluidSynth as the JACK client cantus-synth (its MIDI port
# cantus-synth:midi_00; audio autoconnected to system:playback_*), its
# stdin a fifo that never ends (its shell would otherwise read the
# terminal or quit at EOF), its talk in $B/run/fluidsynth.log.  Sets
# synth_pid, and port once the MIDI port exists.
start_synth() {
  local sf=$1 log=$B/run/fluidsynth.log fifo t
  mkdir -p "$B/run"
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/cantus-synth.XXXXXX")
  mkfifo "$fifo" || return 1
  setsid "$fluidsynth" -a jack -m jack -j -o audio.jack.id=cantus-synth \
    -o midi.jack.id=cantus-synth "$sf" 0<>"$fifo" >"$log" 2>&1 &
  synth_pid=$!
  for t in $(seq 50); do
    if timeout 2 jack_lsp 2>/dev/null | grep -qx 'cantus-synth:midi_00'; then
      rm -f "$fifo"
      port=cantus-synth:midi_00
      return 0
    fi
    kill -0 "$synth_pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$fifo"
  stop_synth
  echo "cantus: fluidsynth did not start (see $log)" >&2
  return 1
}

if jack_up && [ -x "$bin/cantus-jack" ]; then
  port=$(midi_sink)
  if [ -z "$port" ]; then
    sf=
    if ! command -v "$fluidsynth" >/dev/null 2>&1; then
      echo "cantus: JACK is running but no synth is listening: MIDI alone makes no sound."
      echo "        Install one, then make run again: sudo apt-get install $synth_pkgs"
      echo "        (or connect cantus:midi_out to a synth yourself: qjackctl, jack_connect)"
    elif ! sf=$(soundfont); then
      echo "cantus: fluidsynth needs a General MIDI soundfont: sudo apt-get install fluid-soundfont-gm"
      echo "        (or connect cantus:midi_out to a synth yourself: qjackctl, jack_connect)"
    elif start_synth "$sf"; then
      echo "cantus: started fluidsynth with $sf (JACK client cantus-synth, stopped on exit)"
    fi
  fi
  # Free-running, so it plays at once even when nobody rolls the JACK
  # transport; run cantus-jack without --free to follow the transport.
  args=(--model "$model" --free)
  echo "cantus: free-running at 120 bpm (cantus-jack without --free follows the JACK transport)"
  [ -n "$port" ] && echo "cantus: playing live through JACK into $port (Ctrl-C stops)"
  [ -n "$port" ] && args+=(--connect-out "$port")
  if [ -z "$synth_pid" ]; then
    exec "$bin/cantus-jack" "${args[@]}"
  fi
  # Ctrl-C reaches cantus-jack, which ends its notes and exits; so does a
  # SIGINT or SIGTERM sent to this script alone (passed on).  Then the
  # synth stops.  (An explicit stdin: a background job's would be
  # /dev/null, and the terminal view reads keys from it.)
  "$bin/cantus-jack" "${args[@]}" <&0 &
  cj=$!
  trap 'kill -INT $cj 2>/dev/null' INT TERM
  # wait returns early (status > 128) when a trapped signal arrives; the
  # last wait gives cantus-jack's own exit status.
  while kill -0 "$cj" 2>/dev/null; do
    wait "$cj"
  done
  wait "$cj"
  rc=$?
  stop_synth
  exit $rc
fi

out=$B/run
mkdir -p "$out"
"$bin/cantus-gen" --model "$model" --bars 16 -o "$out/cantus.mid" --svg "$out/cantus.svg" || exit 1
echo "cantus: wrote $out/cantus.mid and $out/cantus.svg (open the SVG in a browser)"
if command -v "$fluidsynth" >/dev/null 2>&1 && sf=$(soundfont); then
  echo "cantus: hear the MIDI file: fluidsynth -a pulseaudio -ni $sf $out/cantus.mid"
  echo "        (-a alsa without PulseAudio or PipeWire)"
else
  echo "cantus: MIDI alone makes no sound; to hear it install a synth and a soundfont:"
  echo "        sudo apt-get install $synth_pkgs"
fi
if [ ! -x "$bin/cantus-jack" ]; then
  echo "cantus: to play live, build cantus-jack (make jack), start JACK and run make run again"
else
  echo "cantus: to play live, start a JACK server (for example: jackd -d alsa -r 48000 -p 256 &,"
  echo "        or qjackctl), then make run (it starts fluidsynth when no synth is connected)"
fi
