#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make run`: plays Cantus live when a JACK server is running (cantus-jack
# with the default model, connected to the first MIDI playback port), else
# renders a piece offline with cantus-gen and says how to play live.
# Environment: B (build directory, default build).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
bin=$B/bin

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

if jack_up && [ -x "$bin/cantus-jack" ]; then
  # The first MIDI input port of another client: a synth or a hardware out.
  port=$(timeout 2 jack_lsp -t -p 2>/dev/null | awk '
    function check() { if (name != "" && midi && input && name !~ /^cantus/) { print name; found = 1; exit } }
    /^[^ \t]/ { check(); name = $0; midi = 0; input = 0; next }
    /properties:/ { input = ($0 ~ /input/); next }
    /midi/ { midi = 1 }
    END { if (!found) check() }')
  # Free-running, so it plays at once even when nobody rolls the JACK
  # transport; run cantus-jack without --free to follow the transport.
  args=(--model "$model" --free)
  echo "cantus: free-running at 120 bpm (cantus-jack without --free follows the JACK transport)"
  if [ -n "$port" ]; then
    echo "cantus: playing live through JACK into $port (Ctrl-C stops)"
    args+=(--connect-out "$port")
  else
    echo "cantus: JACK is running but no MIDI playback port was found;"
    echo "        connect cantus-jack:midi_out to a synth yourself (qjackctl, jack_connect)"
  fi
  exec "$bin/cantus-jack" "${args[@]}"
fi

out=$B/run
mkdir -p "$out"
"$bin/cantus-gen" --model "$model" --bars 16 -o "$out/cantus.mid" --svg "$out/cantus.svg" || exit 1
echo "cantus: wrote $out/cantus.mid and $out/cantus.svg (open the SVG in a browser, play the MIDI"
echo "        with any player, e.g. timidity $out/cantus.mid)"
if [ ! -x "$bin/cantus-jack" ]; then
  echo "cantus: to play live, build cantus-jack (make jack), start JACK and run make run again"
else
  echo "cantus: to play live, start a JACK server (for example: jackd -d alsa -r 48000 -p 256 &,"
  echo "        or qjackctl), connect a synth (e.g. fluidsynth -a jack -m jack), then make run"
fi
