#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-gen end to end with the committed tiny model: a MIDI file the
# reader accepts (format 1, tempo, time signature, the notes the summary
# counts), a well-formed SVG piano roll, identical files at any block size
# and sample rate (the engine's determinism through the real binary),
# meters, themes, styles by name or number from 1, note names, and clear
# errors (unknown style, missing model, bad options).  The wording shared
# with the other tools (--version, unknown options, ranges, limits) is
# tests/tools/t_cli.sh's.  Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
gen=$B/bin/cantus-gen
tiny=tests/data/tiny.cantus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh
# Debian's python3, which has python3-mido (a test dependency): a python3
# earlier in PATH (pyenv, a venv) may lack mido, and the MIDI checks below
# were then skipped without a word.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
have_mido=0
"$py" -c 'import mido' 2>/dev/null && have_mido=1
check "python3-mido importable by $py (apt-get install python3-mido)" test "$have_mido" = 1

# Notes, time signature and tempo of a MIDI file, one line (needs mido).
midi_summary() {
  "$py" - "$1" <<'PY'
import sys, mido
f = mido.MidiFile(sys.argv[1])
notes = sum(1 for t in f.tracks for m in t if m.type == "note_on" and m.velocity > 0)
offs = sum(1 for t in f.tracks for m in t if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
ts = [(m.numerator, m.denominator) for t in f.tracks for m in t if m.type == "time_signature"]
tempo = [m.tempo for t in f.tracks for m in t if m.type == "set_tempo"]
print(f.type, f.ticks_per_beat, notes, offs, ts[0] if ts else None, tempo[0] if tempo else None)
PY
}

"$gen" --model "$tiny" --bars 8 --density 0.5 -o "$tmp/a.mid" --svg "$tmp/a.svg" >"$tmp/out" 2>"$tmp/err"
check "exit 0" test $? -eq 0
check "summary line" grep -qE "^cantus-gen: [0-9]+ notes in 8 bars \(style alpha, seed 1\) -> $tmp/a.mid, $tmp/a.svg$" "$tmp/out"
check "stderr empty" test ! -s "$tmp/err"
check "midi: header MThd, format 1" bash -c "head -c 10 '$tmp/a.mid' | od -An -tx1 | tr -d ' \n' | grep -q '^4d546864000000060001'"
n=$(sed -nE 's/^cantus-gen: ([0-9]+) notes.*/\1/p' "$tmp/out")
check "some notes" test "${n:-0}" -ge 5
if [ "$have_mido" = 1 ]; then
  s=$(midi_summary "$tmp/a.mid")
  check "midi: parses, 480 tpq, notes = summary, offs balance, 4/4, 120 bpm" \
    test "$s" = "1 480 $n $n (4, 4) 500000"
fi
if command -v xmllint >/dev/null 2>&1; then
  check "svg: well-formed" xmllint --noout "$tmp/a.svg"
else
  check "svg: well-formed (grep)" bash -c "grep -q '<svg' '$tmp/a.svg' && tail -1 '$tmp/a.svg' | grep -q '</svg>'"
fi
check "svg: one rect per note" test "$(grep -c 'stroke="#203080"' "$tmp/a.svg")" -eq "${n:-0}"
check "svg: bar lines and title" bash -c "grep -q 'stroke=\"#606070\"' '$tmp/a.svg' && grep -q '<title>cantus: alpha, 8 bars of 4/4 at 120 bpm, seed 1' '$tmp/a.svg'"

# Determinism through the binary: block sizes and rates give the same file.
for br in "1:48000" "7:44100" "1000:96000" "8192:48000" "64:22050"; do
  "$gen" --model "$tiny" --bars 8 --density 0.5 --block "${br%%:*}" --rate "${br##*:}" -q -o "$tmp/b.mid"
  check "same file at block ${br%%:*}, ${br##*:} Hz" cmp "$tmp/a.mid" "$tmp/b.mid"
done
"$gen" --model "$tiny" --bars 8 --density 0.5 --seed 2 -q -o "$tmp/c.mid"
check "another seed, other music" bash -c "! cmp -s '$tmp/a.mid' '$tmp/c.mid'"

# The style's own metre (issue 10): without --meter, the metre the model's
# metadata gives the style; --meter wins; a model naming none plays 4/4.
folk=models/default.cantus
"$gen" --model "$folk" --style waltz --bars 2 -q -o "$tmp/w.mid" --svg "$tmp/w.svg"
check "waltz without --meter: exit 0" test $? -eq 0
check "waltz without --meter: the title says 3/4" grep -q '2 bars of 3/4 at 120 bpm' "$tmp/w.svg"
"$gen" --model "$folk" --style waltz --bars 2 --meter 4/4 -q -o "$tmp/w4.mid"
"$gen" --model "$folk" --style jig --bars 2 -q -o "$tmp/j.mid"
"$gen" --model "$folk" --style jig --bars 2 --meter 6/8 -q -o "$tmp/j68.mid"
check "jig without --meter = jig with --meter 6/8 (same file)" cmp "$tmp/j.mid" "$tmp/j68.mid"
if [ "$have_mido" = 1 ]; then
  ts_of() { "$py" -c 'import sys, mido; f = mido.MidiFile(sys.argv[1]); print(*[f"{m.numerator}/{m.denominator}" for t in f.tracks for m in t if m.type == "time_signature"])' "$1"; }
  check "--style waltz writes a 3/4 time signature" test "$(ts_of "$tmp/w.mid")" = 3/4
  check "--style waltz --meter 4/4: --meter wins" test "$(ts_of "$tmp/w4.mid")" = 4/4
  check "--style jig writes 6/8" test "$(ts_of "$tmp/j.mid")" = 6/8
fi
# Styles by name or by number counted from 1 (as the view and cantus-info
# list them): --style 3 is gamma, the same file as --style gamma.
"$gen" --model "$tiny" --bars 4 --density 0.5 --style gamma --style-b beta --blend 0.5 -q -o "$tmp/g1.mid"
"$gen" --model "$tiny" --bars 4 --density 0.5 --style 3 --style-b 2 --blend 0.5 -q -o "$tmp/g2.mid"
check "style numbers from 1: --style 3 = gamma" cmp "$tmp/g1.mid" "$tmp/g2.mid"
"$gen" --model "$tiny" --bars 4 --density 0.5 --style 1 -o "$tmp/g3.mid" >"$tmp/out" 2>&1
check "style numbers from 1: --style 1 is the first (alpha)" grep -q "(style alpha, seed 1)" "$tmp/out"
# Pitches by name: the same file as by number; --key and --voices are
# aliases of --key-root and --max-voices.
"$gen" --model "$tiny" --bars 8 --density 0.5 --range 60-66 --key D --voices 3 -q -o "$tmp/n1.mid"
"$gen" --model "$tiny" --bars 8 --density 0.5 --range C4-F#4 --key-root D --max-voices 3 -q -o "$tmp/n2.mid"
"$gen" --model "$tiny" --bars 8 --density 0.5 --note-lo C4 --note-hi Gb4 --key-root D --max-voices 3 -q -o "$tmp/n3.mid"
check "note names: --range C4-F#4 = --range 60-66" cmp "$tmp/n1.mid" "$tmp/n2.mid"
check "note names: --note-lo C4 --note-hi Gb4 = --range 60-66" cmp "$tmp/n1.mid" "$tmp/n3.mid"
"$gen" --model "$tiny" --bars 8 --density 0.5 --range 60-67 --key D --voices 3 -q -o "$tmp/n4.mid"
check "note names: another range, other music" bash -c "! cmp -s '$tmp/n1.mid' '$tmp/n4.mid'"

# Options reach the engine.
"$gen" --model "$tiny" --bars 4 --meter 6/8 --bpm 90 -q -o "$tmp/m.mid"
check "6/8 exit 0" test $? -eq 0
if [ "$have_mido" = 1 ]; then
  check "6/8: time signature and tempo (90 eighths = 45 quarters a minute)" \
    bash -c "midi_summary() { $py -c 'import sys,mido; f=mido.MidiFile(sys.argv[1]); print([(m.numerator,m.denominator,) for t in f.tracks for m in t if m.type==\"time_signature\"][0], [m.tempo for t in f.tracks for m in t if m.type==\"set_tempo\"][0])' \"\$1\"; }; test \"\$(midi_summary '$tmp/m.mid')\" = '(6, 8) 1333333'"
  # (four allowed pitches: the tiny model needs a few bars to play some)
  "$gen" --model "$tiny" --bars 32 --density 0.5 --range 60-66 --scale major --key D --transpose 3 -q -o "$tmp/r.mid"
  check "range and scale respected" "$py" -c '
import sys, mido
f = mido.MidiFile(sys.argv[1])
ps = [m.note for t in f.tracks for m in t if m.type == "note_on" and m.velocity > 0]
assert ps, "no notes"
major = {0, 2, 4, 5, 7, 9, 11}
assert all(60 <= p <= 66 and (p - 2) % 12 in major for p in ps), ps' "$tmp/r.mid"
  "$gen" --model "$tiny" --bars 4 --velocity 77 --channel 3 -q -o "$tmp/v.mid"
  check "velocity and channel" "$py" -c '
import sys, mido
f = mido.MidiFile(sys.argv[1])
ons = [m for t in f.tracks for m in t if m.type == "note_on" and m.velocity > 0]
assert ons and all(m.velocity == 77 and m.channel == 2 for m in ons)' "$tmp/v.mid"
  # A theme: its notes come first.
  "$py" - "$tmp/theme.mid" <<'PY'
import sys, mido
f = mido.MidiFile(ticks_per_beat=96)
t = mido.MidiTrack(); f.tracks.append(t)
for p in (60, 62, 64, 65, 67, 65, 64, 62):
    t.append(mido.Message("note_on", note=p, velocity=80, time=0))
    t.append(mido.Message("note_off", note=p, velocity=0, time=96))
f.save(sys.argv[1])
PY
  "$gen" --model "$tiny" --bars 6 --theme "$tmp/theme.mid" -q -o "$tmp/t.mid"
  check "theme first" "$py" -c '
import sys, mido
f = mido.MidiFile(sys.argv[1])
ons = []
for t in f.tracks:
    now = 0
    for m in t:
        now += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append((now, m.note))
ons.sort()
assert [p for _, p in ons[:8]] == [60, 62, 64, 65, 67, 65, 64, 62], ons[:8]
assert [t for t, _ in ons[:8]] == [480 * i for i in range(8)], ons[:8]
assert any(t >= 8 * 480 for t, _ in ons), "nothing after the theme"' "$tmp/t.mid"
fi

# Errors: one clear line, exit 1 (bad input) or 2 (usage).
"$gen" --model "$tiny" --style nosuch -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "unknown style: exit 1" test $? -eq 1
check "unknown style: lists the styles numbered from 1" grep -qx "cantus-gen: option --style: unknown style 'nosuch' (1:alpha 2:beta 3:gamma)" "$tmp/err"
check "unknown style: one line" test "$(wc -l <"$tmp/err")" -eq 1
check "unknown style: nothing written" test ! -e "$tmp/x.mid"
"$gen" --model "$tiny" --style-b 0 -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "style 0: exit 1" test $? -eq 1
check "style 0: says the range" grep -qx "cantus-gen: option --style-b: style 0 is outside 1..3 (1:alpha 2:beta 3:gamma)" "$tmp/err"
"$gen" --model "$tiny" --range C5-C3 -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "range upside down: exit 2" test $? -eq 2
check "range upside down: says so" grep -q -- "option --range: 'C5-C3' is not LO-HI with 0 <= LO <= HI <= 127" "$tmp/err"
"$gen" --model "$tiny" --note-lo H4 -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "not a note: exit 2" test $? -eq 2
check "not a note: says so" grep -q -- "option --note-lo: 'H4' is not a note" "$tmp/err"
"$gen" --model "$tmp/missing.cantus" -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "missing model: exit 1" test $? -eq 1
check "missing model: names the file" grep -q "missing.cantus" "$tmp/err"
# The data folder: $B/share/cantus beside $B/bin (its models/ is the source
# tree's), found from any folder; a copy of the program away from it falls
# back to the folder compiled in.
(cd "$tmp" && "$OLDPWD/$gen" --bars 1 -o x.mid >out 2>err; echo $? >rc)
check "default model from the build tree's data folder, from any folder" test "$(cat "$tmp/rc")" -eq 0
datadir=$("$gen" --help | sed -n 's/^Data folder (the shipped models): //p')
check "--help names the build tree's data folder ($datadir)" \
  test "$datadir" = "$(cd "$B" && pwd -P)/share/cantus" -a "$datadir/models" -ef models
mkdir -p "$tmp/away/bin"
cp "$gen" "$tmp/away/bin/"
compiled=$("$tmp/away/bin/cantus-gen" --help | sed -n 's/^Data folder (the shipped models): //p')
check "a copy away from its data folder names the folder compiled in ($compiled)" \
  test -n "$compiled" -a "$compiled" != "$datadir"
if [ -e "$compiled/models/default.cantus" ]; then
  skip no-default-model "an installed model exists: $compiled/models/default.cantus"
else
  (cd "$tmp" && "$tmp/away/bin/cantus-gen" -o x.mid >out 2>err; echo $? >rc)
  check "no default model: exit 1" test "$(cat "$tmp/rc")" -eq 1
  check "no default model: says where it looked and what to do" grep -qF \
    "models/default.cantus not found here or in $compiled (run \`make models\`, or pass --model FILE)" "$tmp/err"
fi
mkdir -p "$tmp/away/share/cantus/models"
cp "$tiny" "$tmp/away/share/cantus/models/default.cantus"
(cd "$tmp" && "$tmp/away/bin/cantus-gen" --bars 1 -o x.mid >out 2>err; echo $? >rc)
check "a copy in PREFIX/bin finds PREFIX/share/cantus/models/default.cantus" \
  test "$(cat "$tmp/rc")" -eq 0 -a "$("$tmp/away/bin/cantus-gen" --help | tail -1)" = \
  "Data folder (the shipped models): $(cd "$tmp" && pwd -P)/away/share/cantus"
printf 'not a model' >"$tmp/bad.cantus"
"$gen" --model "$tmp/bad.cantus" >"$tmp/out" 2>"$tmp/err"
check "bad model: exit 1" test $? -eq 1
check "bad model: one line naming it" bash -c "test \"\$(wc -l <'$tmp/err')\" -eq 1 && grep -q bad.cantus '$tmp/err'"
"$gen" --model "$tiny" --theme "$tmp/missing.mid" >"$tmp/out" 2>"$tmp/err"
check "missing theme: exit 1" test $? -eq 1
check "missing theme: names it" grep -q "missing.mid" "$tmp/err"
"$gen" --model "$tiny" --bars zero >"$tmp/out" 2>"$tmp/err"
check "bad value: exit 2" test $? -eq 2
check "bad value: says which" grep -q -- "option --bars: 'zero' is not a whole number (1..1000)" "$tmp/err"
# The longest piece in the longest meter fits the MIDI file's 32-bit ticks.
"$gen" --model "$tiny" --bars 1000 --meter 32/1 --bpm 999 --rate 8000 --block 65536 \
  -q -o "$tmp/long.mid" >"$tmp/out" 2>"$tmp/err"
check "1000 bars of 32/1: exit 0" test $? -eq 0
if [ "$have_mido" = 1 ]; then
  check "1000 bars of 32/1: the file ends after bar 1000" "$py" -c '
import sys, mido
f = mido.MidiFile(sys.argv[1])
end = max(sum(m.time for m in t) for t in f.tracks)
assert end >= 1000 * 32 * 4 * 480 - 480, end  # (the last tick rounds)' "$tmp/long.mid"
fi
"$gen" --model "$tiny" --bpm 10 --meter 4/16 --bars 1 -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "tempo past 24 bits: exit 2" test $? -eq 2
check "tempo past 24 bits: says the slowest" grep -q -- '--bpm 10 in 4/16 is slower than a MIDI file holds (at least 14.31)' "$tmp/err"
"$gen" --frobnicate 1 >"$tmp/out" 2>"$tmp/err"
check "unknown option: exit 2" test $? -eq 2
check "unknown option: named" grep -qx "cantus-gen: unknown option '--frobnicate' (see cantus-gen --help)" "$tmp/err"
# Chords (issue 11): a progression or a chord track; the chord input of
# tinyc.cantus and --chord-strength change the notes, deterministically;
# bad symbols and hostile files are one line and exit 2.
tinyc=tests/data/tinyc.cantus
"$gen" --model "$tinyc" --bars 8 -q -o "$tmp/c0.mid" 2>"$tmp/err"
"$gen" --model "$tinyc" --bars 8 --chords "D G:2 A:2 | Bm" -q -o "$tmp/c1.mid" 2>"$tmp/err"
check "--chords TEXT: exit 0, nothing on stderr" bash -c "test $? -eq 0 && test ! -s '$tmp/err'"
check "--chords TEXT: the chord model plays other notes" bash -c "! cmp -s '$tmp/c0.mid' '$tmp/c1.mid'"
"$gen" --model "$tinyc" --bars 8 --chords "D G:2 A:2 | Bm" --block 1000 --rate 44100 -q -o "$tmp/c2.mid"
check "--chords TEXT: same file at block 1000, 44100 Hz" cmp "$tmp/c1.mid" "$tmp/c2.mid"
"$gen" --model "$tiny" --bars 8 --chords "C F" --chord-strength 1 -q -o "$tmp/c3.mid"
"$gen" --model "$tiny" --bars 8 -q -o "$tmp/c4.mid"
check "--chord-strength 1 moves a model without chord input" bash -c "! cmp -s '$tmp/c3.mid' '$tmp/c4.mid'"
"$gen" --model "$tiny" --bars 8 --chords "C F" -q -o "$tmp/c5.mid"
check "--chords at strength 0 leaves a model without chord input alone" cmp "$tmp/c4.mid" "$tmp/c5.mid"
"$gen" --model "$tinyc" --bars 8 --chords "$tmp/c1.mid" -q -o "$tmp/c6.mid" 2>"$tmp/err"
check "--chords FILE.mid: exit 0" test $? -eq 0
"$gen" --model "$tinyc" --bars 8 --chords "D Hm7" -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "bad chord: exit 2" test $? -eq 2
check "bad chord: one line naming it" bash -c "test \"\$(wc -l <'$tmp/err')\" -eq 1 && grep -q \"bad chord 'Hm7'\" '$tmp/err'"
head -c 300 /dev/urandom >"$tmp/hostile.mid"
printf 'MThd\0\0\0\6\0\1\0\1\1\340MTrk\177\377\377\377' >>"$tmp/hostile2.mid"
for f in hostile hostile2; do
  "$gen" --model "$tinyc" --bars 2 --chords "$tmp/$f.mid" -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
  check "hostile chord file ($f): exit 2, one line" bash -c "test $? -eq 2 && test \"\$(wc -l <'$tmp/err')\" -eq 1"
done
"$gen" --model "$tinyc" --bars 2 --chords "$tmp/missing.mid" -o "$tmp/x.mid" >"$tmp/out" 2>"$tmp/err"
check "missing chord file: exit 2, names it" bash -c "test $? -eq 2 && grep -q missing.mid '$tmp/err'"
"$gen" --help >"$tmp/out" 2>&1
check "help: exit 0" test $? -eq 0
check "help: usage" grep -q '^usage: cantus-gen' "$tmp/out"

summary
