#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make bench-chords`: issue 11's chord-following benchmark (informational,
# never a test).  The model's reels over three progressions, chord
# strength 0 (the network alone) unless given: for each progression 6
# seeds of 16 bars through cantus-gen, measured by cantus-formstat against
# the same progression (chord-beat1: top-line notes on a bar's first beat
# that are tones of the bar's chord; chord-bar: top-line notes of the whole
# bar in the chord in force; models/README.md "Measures of form"), beside
# the same pieces generated without chords (their fit to the progression is
# the chance level) and the style measures of both sets.
# Usage: chordfit.sh BIN_DIR MODEL [STRENGTH] [STYLE]
set -eu
bin=$1
model=$2
strength=${3:-0}
style=${4:-reel}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
echo "model $model, style $style, 16 bars, seeds 1-6, chord strength $strength"
"$bin/cantus-formstat" --header --label x /dev/null 2>/dev/null | head -1 | sed 's/^set  /chords/'
for prog in "D G D A" "Am Dm G E" "G C D G"; do
  tag=$(echo "$prog" | tr ' ' '_')
  for s in 1 2 3 4 5 6; do
    "$bin/cantus-gen" --model "$model" --style "$style" --bars 16 --seed "$s" \
      --chords "$prog" --chord-strength "$strength" -o "$w/${tag}_$s.mid" >/dev/null
    "$bin/cantus-gen" --model "$model" --style "$style" --bars 16 --seed "$s" \
      -o "$w/none_${tag}_$s.mid" >/dev/null
  done
  "$bin/cantus-formstat" --chords "$prog" --label "$tag" "$w/${tag}"_*.mid | tail -1
  "$bin/cantus-formstat" --chords "$prog" --label "(none)" "$w/none_${tag}"_*.mid | tail -1
done
