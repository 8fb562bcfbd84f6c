#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-train and cantus-eval end to end, on a small slice of the shared
# corpus (Nottingham jigs and reels, melody track, its own split): a short
# run whose held-out loss beats the Kneser-Ney n-gram, whose model loads in
# cantus-info and generates with cantus-gen (the same notes as
# `cantus-train --sample`); outputs (CSV, SVG, checkpoint); Ctrl-C and
# --resume; --add-style leaving the other styles untouched; the honest advice
# (a small flat folder: advice before training, validation on 2 pieces or
# more or off, the n-gram baseline and the verdict in words in cantus-train
# and cantus-eval, the time limit as given, output folders checked before
# the corpus is read); usage errors and hostile corpora.  Last line:
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
train=$B/bin/cantus-train
eval=$B/bin/cantus-eval
corpus=${CANTUS_CORPUS:-../shared/corpus}
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh

for x in "$train" "$eval" "$B/bin/cantus-info" "$B/bin/cantus-gen"; do
  [ -x "$x" ] || fail_suite "$x not built (make all B=$B)"
done
[ -f "$corpus/nottingham/split.tsv" ] || skip_suite "corpus not found at $corpus (set CANTUS_CORPUS)"

# ---- the slice: 60 train + 12 valid + 12 test pieces per style ----------------------
slice=$tmp/slice
mkdir -p "$slice"
printf 'file\tstyle\tsplit\n' >"$slice/split.tsv"
for st in jig reel; do
  mkdir -p "$slice/$st"
  for sp in train valid test; do
    n=12
    [ $sp = train ] && n=60
    awk -F'\t' -v s=$st -v p=$sp '$2 == s && $3 == p { print $1 }' "$corpus/nottingham/split.tsv" |
      head -n $n | while read -r f; do
      ln -s "$(cd "$corpus/nottingham" && pwd)/$f" "$slice/$f"
      printf '%s\t%s\t%s\n' "$f" "$st" "$sp" >>"$slice/split.tsv"
    done
  done
done
check "slice: 168 files" test "$(find "$slice" -name '*.mid' | wc -l)" -eq 168

# --format 1: the checks below sample through the engine (cantus-train --sample, cantus-gen,
# cantus-eval's generated pieces), which plays format 1 models until its format 2 support lands;
# the format 2 checks are at the end.
args=(--tracks melody --pitch-range 48-96 -q --hidden 96 --embed 32 --style-dim 8 --batch 16
  --bptt 32 --epochs 25 --lr 6e-3 --warmup 50 --dropout 0.1 --patience 0 --seed 3 --threads 1
  --format 1)
# A default style that is not in the corpus: refused before any training.
"$train" "$slice" -o "$tmp/bad.cantus" "${args[@]}" --default-style polka >/dev/null 2>"$tmp/bad.err"
check "train: --default-style not a style: exit 1" test $? -eq 1
check "train: --default-style not a style: says which exist" \
  grep -q "default-style 'polka' is not one of the styles (jig, reel)" "$tmp/bad.err"
check "train: --default-style not a style: no model, no epoch" \
  test ! -e "$tmp/bad.cantus" -a "$(grep -c '^epoch' "$tmp/bad.err")" -eq 0
"$train" "$slice" -o "$tmp/m.cantus" "${args[@]}" --default-style REEL >"$tmp/train.out" 2>"$tmp/train.err"
check "train: exit 0" test $? -eq 0
check "train: corpus table" grep -qE "^jig +84 +60/12/12" "$tmp/train.err"
check "train: snapping summary" grep -q "onsets moved" "$tmp/train.err"
check "train: OpenBLAS core printed" grep -qE "OpenBLAS [A-Za-z0-9]+ core, 1 thread" "$tmp/train.err"
check "train: epoch lines" test "$(grep -cE '^epoch [0-9]+: train' "$tmp/train.err")" -eq 25
check "train: model written" test -s "$tmp/m.cantus"
check "train: csv, one line per epoch" test "$(wc -l <"$tmp/m.csv")" -eq 26
check "train: csv columns" grep -q "^epoch,steps,tokens,seconds,lr,train_loss,valid_loss,tokens_per_s,valid_jig,valid_reel$" "$tmp/m.csv"
check "train: svg plot" grep -q "<polyline" "$tmp/m.svg"
check "train: checkpoint" test -s "$tmp/m.ckpt"
check "train: n-gram baseline stated before the first epoch" test \
  "$(grep -nE '^baseline: a simple note-statistics model|^epoch 1: ' "$tmp/train.err" | head -n 1 | cut -d: -f2)" = baseline
check "train: verdict in plain words, better than the baseline" \
  grep -q "^verdict: better than a simple note-statistics model (validation loss" "$tmp/train.err"

# ---- held-out loss beats the n-gram, per style ---------------------------------------
"$eval" "$tmp/m.cantus" "$slice" -q --split valid --pieces 2 --bars 8 --json >"$tmp/eval.json" 2>"$tmp/eval.err"
check "eval: exit 0" test $? -eq 0
check "eval: model beats the n-gram on every style" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["styles"]) == 2
for s in d["styles"]:
    assert s["tokens"] > 1000, s
    assert s["loss"] < s["ngram_loss"], s
assert d["all"]["loss"] < 0.95 * d["all"]["ngram_loss"], d["all"]
assert 0.3 < d["all"]["accuracy"] < 1.0
' "$tmp/eval.json"
check "eval: generated pieces have notes and distances" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["styles"]:
    g = s["generated"]
    assert g["notes_per_quarter"] > 0.2 and 0 <= g["all"] < 1, s
' "$tmp/eval.json"
check "eval: measures of form, generated beside real, in the style's metre" python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
names = ["bar-repeat", "section", "end-tonic", "phrase-end", "chord-chance", "clash",
         "long/32", "par/100", "leaps"]
for s in d["styles"]:
    f = s["form"]
    assert f["metre"] == {"jig": "6/8", "reel": "4/4"}[s["style"]], f
    assert f["generated"]["pieces"] == 2 and f["real"]["pieces"] == s["pieces"] >= 10, (s["style"], f)
    for k in names:
        for v in (f["generated"][k], f["real"][k]):
            assert v is None or v >= 0, (k, v)
    assert "parallels-by-rank" in f["real"]
    # real Nottingham tunes repeat their bars (about 0.6 over the test split)
    assert f["real"]["bar-repeat"] > 0.3, f["real"]
' "$tmp/eval.json"
"$eval" "$tmp/m.cantus" "$slice" -q --split valid --pieces 1 --bars 8 --form-bars 4 >"$tmp/evalf.txt" 2>&1
check "eval: form table, first 4 bars" bash -c "grep -q 'Measures of form\", first 4 bars' '$tmp/evalf.txt' && grep -qE '^jig +6/8 +gen +1 ' '$tmp/evalf.txt' && grep -qE '^reel +4/4 +real +1[0-9] ' '$tmp/evalf.txt'"
"$eval" "$tmp/m.cantus" "$slice" -q --pieces 0 >"$tmp/eval.txt" 2>&1
check "eval: text table" grep -qE "^jig +12 +[0-9]+ +[0-9.]+ +[0-9.]+% +[0-9.]+" "$tmp/eval.txt"
check "eval: verdict in plain words" \
  grep -q "^verdict: better than a simple note-statistics model on every style scored" "$tmp/eval.txt"
check "eval: no jargon verdict" test "$(grep -c "NOT BETTER" "$tmp/eval.txt")" -eq 0

# ---- the model everywhere: cantus-info, cantus-gen, --sample -------------------------
"$B/bin/cantus-info" "$tmp/m.cantus" >"$tmp/info.txt" 2>&1
check "info: loads" test $? -eq 0
check "info: styles" grep -qE "^ +2:reel$" "$tmp/info.txt"
check "info: metadata" grep -q "valid_loss.jig: " "$tmp/info.txt"
check "info: default style in the metadata" grep -qE "^ +default_style: reel$" "$tmp/info.txt"
"$train" --sample "$tmp/m.cantus" -o "$tmp/s1.mid" --style jig --bars 8 --seed 4 --meter 6/8 2>"$tmp/s.err"
check "sample: exit 0" test $? -eq 0
"$B/bin/cantus-gen" --model "$tmp/m.cantus" -o "$tmp/s0.mid" --bars 2 >"$tmp/s0.out" 2>&1
check "gen: no --style plays the model's default style" grep -q "(style reel, seed 1)" "$tmp/s0.out"
"$B/bin/cantus-gen" --model "$tmp/m.cantus" -o "$tmp/s2.mid" --style jig --bars 8 --seed 4 \
  --meter 6/8 --bpm 240 --quiet
check "gen: exit 0" test $? -eq 0
cat >"$tmp/same_notes.py" <<'PY'
import sys
def notes(path):
    d = open(path, "rb").read()
    assert d[:4] == b"MThd"
    tpq = int.from_bytes(d[12:14], "big")
    pos, out = 14, []
    while pos < len(d):
        ln = int.from_bytes(d[pos + 4:pos + 8], "big")
        trk, pos, i, t, run = d[pos + 8:pos + 8 + ln], pos + 8 + ln, 0, 0, 0
        while i < len(trk):
            v = 0
            while True:
                c = trk[i]; i += 1; v = (v << 7) | (c & 127)
                if c < 128: break
            t += v
            s = trk[i]
            if s == 0xFF:
                n = 0; i += 2
                while True:
                    c = trk[i]; i += 1; n = (n << 7) | (c & 127)
                    if c < 128: break
                i += n; continue
            if s == 0xF0 or s == 0xF7:
                n = 0; i += 1
                while True:
                    c = trk[i]; i += 1; n = (n << 7) | (c & 127)
                    if c < 128: break
                i += n; continue
            if s & 0x80: run = s; i += 1
            k = run & 0xF0
            a = trk[i]; b = trk[i + 1] if k not in (0xC0, 0xD0) else 0
            i += 2 if k not in (0xC0, 0xD0) else 1
            if k == 0x90 and b > 0: out.append((t * 480 // tpq, a))
    return sorted(out)
a, b = notes(sys.argv[1]), notes(sys.argv[2])
assert len(a) > 10 and a == b, (len(a), len(b), a[:5], b[:5])
PY
check "gen: same notes as cantus-train --sample" python3 "$tmp/same_notes.py" "$tmp/s1.mid" "$tmp/s2.mid"

# ---- Ctrl-C writes a checkpoint; --resume finishes the run ----------------------------
"$train" "$slice" -o "$tmp/r.cantus" "${args[@]}" --epochs 200 >"$tmp/r.out" 2>"$tmp/r.err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "^epoch 1: train" "$tmp/r.err" 2>/dev/null && break
  sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
check "ctrl-c: exit 130" test $rc -eq 130
check "ctrl-c: message" grep -q "interrupted after" "$tmp/r.err"
check "ctrl-c: checkpoint" test -s "$tmp/r.ckpt"
"$train" --resume "$tmp/r.ckpt" --epochs 3 >"$tmp/r2.out" 2>"$tmp/r2.err"
check "resume: exit 0" test $? -eq 0
check "resume: continues" grep -q "^resuming from .*r.ckpt: epoch" "$tmp/r2.err"
check "resume: model" test -s "$tmp/r.cantus"

# ---- a new style from a small folder, the rest untouched ------------------------------
mkdir -p "$tmp/hp"
ls "$corpus/nottingham/hornpipe/"*.mid | head -n 12 | while read -r f; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$tmp/hp/"; done
"$train" --base "$tmp/m.cantus" --add-style hornpipe "$tmp/hp" -o "$tmp/add.cantus" --tracks melody \
  --epochs 3 --lr 1e-2 --warmup 0 -q --threads 1 >"$tmp/add.out" 2>"$tmp/add.err"
check "add-style: exit 0" test $? -eq 0
"$eval" "$tmp/add.cantus" "$slice" -q --split valid --pieces 0 --json >"$tmp/add.json" 2>/dev/null
check "add-style: old styles score exactly as before" python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
la = {s["style"]: s["loss"] for s in a["styles"]}
lb = {s["style"]: s["loss"] for s in b["styles"]}
assert la == lb, (la, lb)
' "$tmp/eval.json" "$tmp/add.json"
"$B/bin/cantus-info" "$tmp/add.cantus" >"$tmp/add.info" 2>&1
check "add-style: loads with three styles" grep -qE "^ +3:hornpipe$" "$tmp/add.info"
check "add-style: keeps the base's default style" grep -qE "^ +default_style: reel$" "$tmp/add.info"
"$train" --sample "$tmp/add.cantus" -o "$tmp/hp.mid" --style hornpipe --bars 4 2>/dev/null
check "add-style: the new style generates" test -s "$tmp/hp.mid"

# ---- honest advice: a small flat folder, validation, paths, time limit ------------------
# Ten hornpipes in one folder, no split.tsv: one style named after the folder, at
# least two validation pieces, advice to add the style to a trained model instead,
# and (after three steps) a verdict that says the model is worse than the n-gram.
mkdir -p "$tmp/mytunes"
ls "$corpus/nottingham/hornpipe/"*.mid | head -n 10 | while read -r f; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$tmp/mytunes/"; done
small=(--tracks melody --pitch-range 48-96 -q --hidden 32 --embed 8 --style-dim 4 --batch 4
  --bptt 16 --threads 1 --seed 1)
"$train" "$tmp/mytunes" -o "$tmp/tiny.cantus" "${small[@]}" --max-steps 3 >/dev/null 2>"$tmp/tiny.err"
check "small folder: exit 0" test $? -eq 0
check "small folder: a flat folder of .mid files is one style" grep -qE "^mytunes +10 " "$tmp/tiny.err"
check "small folder: validation on 2 pieces or more" \
  test "$(awk '$1 == "mytunes" { split($3, a, "/"); print a[2] }' "$tmp/tiny.err")" -ge 2
check "small folder: advice before training" \
  grep -q "^advice: [0-9]* training pieces .* too little music for a model trained from scratch" "$tmp/tiny.err"
check "small folder: advice names --add-style with this folder" \
  grep -qF -- "--add-style mytunes $tmp/mytunes -o mytunes.cantus" "$tmp/tiny.err"
check "small folder: verdict says worse than the n-gram" \
  grep -q "^verdict: WORSE than a simple note-statistics model (validation loss" "$tmp/tiny.err"
check "small folder: and what to do" grep -qF -- "--add-style NAME FOLDER -o NEW.cantus" "$tmp/tiny.err"
"$eval" "$tmp/tiny.cantus" "$tmp/mytunes" -q --split valid --pieces 0 >"$tmp/tiny.eval" 2>&1
check "eval: worse model gets a plain-words verdict" \
  grep -q "^verdict: WORSE than a simple note-statistics model on mytunes" "$tmp/tiny.eval"
check "eval: and what to do" grep -q "use --add-style with a" "$tmp/tiny.eval"
"$eval" "$tmp/tiny.cantus" "$tmp/mytunes" -q --split valid --pieces 0 --json >"$tmp/tiny.json" 2>/dev/null
check "eval: json says better_than_ngram false" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [s["better_than_ngram"] for s in d["styles"]] == [False], d
' "$tmp/tiny.json"
# A split.tsv with one validation piece: validation is off and the log says so.
mkdir -p "$tmp/four"
printf 'file\tstyle\tsplit\n' >"$tmp/four/split.tsv"
for f in $(ls "$tmp/mytunes" | head -n 4); do
  ln -s "$(readlink "$tmp/mytunes/$f")" "$tmp/four/$f"
  printf '%s\tfour\t%s\n' "$f" "$([ "$f" = "$(ls "$tmp/mytunes" | head -n 1)" ] && echo valid || echo train)" >>"$tmp/four/split.tsv"
done
"$train" "$tmp/four" -o "$tmp/four.cantus" "${small[@]}" --max-steps 2 >/dev/null 2>"$tmp/four.err"
check "one validation piece: exit 0" test $? -eq 0
check "one validation piece: validation off, said plainly" \
  grep -q "^validation: off (1 validation piece; at least 2 are needed)" "$tmp/four.err"
check "one validation piece: no verdict pretended" grep -q "^verdict: none; validation was off" "$tmp/four.err"
# The time limit is reported as given.
"$train" "$tmp/mytunes" -o "$tmp/timed.cantus" "${small[@]}" --epochs 10000 --patience 0 \
  --max-minutes 0.005 >/dev/null 2>"$tmp/timed.err"
check "time limit: exit 0" test $? -eq 0
check "time limit: printed as given" grep -q "^time limit of 0.005 minutes reached" "$tmp/timed.err"
# Output paths are checked before the corpus is read, let alone an epoch.
start=$(date +%s)
"$train" "$slice" -o "$tmp/no-such-dir/m.cantus" "${args[@]}" >/dev/null 2>"$tmp/nodir.err"
rc=$?
check "missing output folder: exit 1" test $rc -eq 1
check "missing output folder: says so" grep -q "the folder $tmp/no-such-dir does not exist (create it first" "$tmp/nodir.err"
check "missing output folder: before reading the corpus" test "$(grep -c -e '^style' -e '^epoch' "$tmp/nodir.err")" -eq 0
check "missing output folder: fast" test $(($(date +%s) - start)) -le 5
"$train" "$slice" -o "$tmp/ok.cantus" --log "$tmp/no-such-dir/run1" "${args[@]}" >/dev/null 2>"$tmp/nolog.err"
check "missing --log folder: exit 1" test $? -eq 1
check "missing --log folder: says so" grep -q -- "--log $tmp/no-such-dir/run1: the folder" "$tmp/nolog.err"
check "missing --log folder: nothing written" test ! -e "$tmp/ok.cantus"
"$train" "$slice" -o "$tmp/m.mid" "${args[@]}" >/dev/null 2>"$tmp/mid.err"
check "a MIDI name for the model: refused" grep -q "the output is a model, not MIDI" "$tmp/mid.err"
mkdir -p "$tmp/empty"
"$train" "$tmp/empty" -o "$tmp/x.cantus" >/dev/null 2>"$tmp/empty.err"
check "empty folder: says both layouts" grep -q "in the folder itself .* FOLDER/STYLE/\*.mid" "$tmp/empty.err"
# ---- format 2 (--format 2): parts, form inputs, add-style keeps the old styles -------
args2=(--format 2 --chords off --tracks melody --pitch-range 48-96 -q --hidden 32 --embed 16 --style-dim 8 --batch 16
  --bptt 32 --epochs 1 --max-steps 25 --seed 3 --threads 1)
"$train" "$slice" -o "$tmp/v2.cantus" "${args2[@]}" >/dev/null 2>"$tmp/v2.err"
check "format 2: exit 0" test $? -eq 0
check "format 2: parts from the track names" grep -q "^parts: 0=melody;" "$tmp/v2.err"
"$B/bin/cantus-info" "$tmp/v2.cantus" >"$tmp/v2.info" 2>&1
check "format 2: version 2 file" grep -qE "^  format +CANTUSMD version 2," "$tmp/v2.info"
check "format 2: meter metadata" grep -qE "^ +meter: jig=6/8,reel=4/4$" "$tmp/v2.info"
"$eval" "$tmp/v2.cantus" "$slice" -q --split valid --pieces 0 --json >"$tmp/v2a.json" 2>/dev/null
check "format 2: eval scores it" test -s "$tmp/v2a.json"
"$eval" "$tmp/v2.cantus" "$slice" -q --split valid --pieces 0 --chords off --weights int8 --json \
  >"$tmp/v2c.json" 2>"$tmp/v2c.err"
check "eval --chords off --weights int8: both options take their values" test -s "$tmp/v2c.json"
"$train" --base "$tmp/v2.cantus" --add-style hornpipe "$tmp/hp" -o "$tmp/v2add.cantus" --tracks melody \
  --epochs 1 --lr 1e-2 --warmup 0 -q --threads 1 >/dev/null 2>&1
check "format 2: add-style exit 0" test $? -eq 0
"$eval" "$tmp/v2add.cantus" "$slice" -q --split valid --pieces 0 --json >"$tmp/v2b.json" 2>/dev/null
check "format 2: add-style, old styles score exactly as before" python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
la = {s["style"]: s["loss"] for s in a["styles"]}
lb = {s["style"]: s["loss"] for s in b["styles"] if s["style"] in la}
assert la == lb and len(la) == 2, (la, lb)
' "$tmp/v2a.json" "$tmp/v2b.json"
"$train" --sample "$tmp/v2.cantus" -o "$tmp/v2.mid" --style jig --bars 8 --seed 5 --meter 6/8 \
  2>"$tmp/v2s.err"
check "format 2: --sample exit 0" test $? -eq 0
"$B/bin/cantus-gen" --model "$tmp/v2.cantus" -o "$tmp/v2g.mid" --style jig --bars 8 --seed 5 \
  --meter 6/8 --bpm 240 --quiet
check "format 2: cantus-gen exit 0" test $? -eq 0
check "format 2: --sample gives the same notes as cantus-gen" python3 "$tmp/same_notes.py" \
  "$tmp/v2.mid" "$tmp/v2g.mid"

# ---- usage errors and hostile input ----------------------------------------------------
"$train" --help >/dev/null 2>&1
check "help: exit 0" test $? -eq 0
"$train" "$slice" -o "$tmp/x.cantus" --bogus >/dev/null 2>"$tmp/e1"
check "unknown option: exit 2" test $? -eq 2
check "unknown option: named" grep -q -- "--bogus" "$tmp/e1"
"$train" "$slice" -o "$tmp/x.cantus" --hidden banana >/dev/null 2>"$tmp/e2"
check "bad number: exit 2" test $? -eq 2
"$train" "$tmp/does-not-exist" -o "$tmp/x.cantus" >/dev/null 2>"$tmp/e3"
check "missing corpus: exit 1" test $? -eq 1
check "missing corpus: named" grep -q "does-not-exist" "$tmp/e3"
mkdir -p "$tmp/bad/style"
head -c 100 /dev/urandom >"$tmp/bad/style/noise.mid"
: >"$tmp/bad/style/empty.mid"
"$train" "$tmp/bad" -o "$tmp/x.cantus" >/dev/null 2>"$tmp/e4"
check "unreadable corpus: exit 1" test $? -eq 1
check "unreadable corpus: files named" grep -q "noise.mid" "$tmp/e4"
check "unreadable corpus: reason" grep -q "no usable MIDI files" "$tmp/e4"
"$train" --resume "$tmp/e4" >/dev/null 2>"$tmp/e5"
check "resume from a non-checkpoint: exit 1" test $? -eq 1
"$eval" "$tmp/e4" "$slice" >/dev/null 2>"$tmp/e6"
check "eval of a non-model: exit 1" test $? -eq 1
check "no model written on failure" test ! -e "$tmp/x.cantus"

summary
