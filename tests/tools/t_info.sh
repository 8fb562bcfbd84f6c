#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-info against the committed tiny model: the text fields, JSON that
# parses and carries the same numbers, refused files (one line on stderr,
# exit 1) and usage errors (exit 2).  Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
info=$B/bin/cantus-info
tiny=tests/data/tiny.cantus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh

"$info" "$tiny" >"$tmp/out" 2>"$tmp/err"
check "text: exit 0" test $? -eq 0
check "text: magic and version" grep -q "CANTUSMD version 1, 98352 bytes, payload CRC-32 0x" "$tmp/out"
check "text: network" grep -q "2 layers x 32 hidden units" "$tmp/out"
check "text: vocabulary" grep -q "124 tokens: pitches 48..84 (37), shifts 1..48 ticks, no velocity, 12 ticks per quarter" "$tmp/out"
check "text: parameters" grep -q "parameters  24276 (97104 bytes fp32" "$tmp/out"
check "text: styles numbered from 1" bash -c "grep -qE '^ +1:alpha$' '$tmp/out' && grep -qE '^ +3:gamma$' '$tmp/out'"
check "text: metadata" grep -q "    fixture: tiny" "$tmp/out"
check "text: stderr empty" test ! -s "$tmp/err"

"$info" --json "$tiny" >"$tmp/json"
check "json: exit 0" test $? -eq 0
check "json: fields" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["magic"] == "CANTUSMD" and d["version"] == 1 and d["name"] == "tiny"
assert d["layers"] == 2 and d["hidden"] == 32 and d["embed"] == 16 and d["style_dim"] == 8
assert d["vocab"] == {"size": 124, "pitch_lo": 48, "pitch_hi": 84, "n_shift": 48, "n_vel": 0, "tpq": 12}
assert d["params"] == 24276 and d["param_bytes_fp32"] == 97104 and d["file_size"] == 98352
assert [s["name"] for s in d["styles"]] == ["alpha", "beta", "gamma"]
assert [(s["number"], s["index"]) for s in d["styles"]] == [(1, 0), (2, 1), (3, 2)]
assert d["metadata"].startswith("fixture: tiny\nseed: 1\n")
assert int(d["crc32"], 16) != 0
' "$tmp/json"

# Escaping: metadata with a quote, a backslash, a tab and a control byte
# (same length, CRCs recomputed as FORMAT.md says).
python3 - "$tiny" "$tmp/esc.cantus" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
meta = struct.unpack_from("<Q", b, 120)[0]
b[meta:meta + 13] = b'q"\\\t\x01 \xc3\xa9 tiny'
hs = struct.unpack_from("<I", b, 12)[0]
struct.pack_into("<I", b, 28, zlib.crc32(bytes(b[hs:])))
struct.pack_into("<I", b, 24, 0)
struct.pack_into("<I", b, 24, zlib.crc32(bytes(b[:hs])))
open(sys.argv[2], "wb").write(b)
PY
"$info" --json "$tmp/esc.cantus" >"$tmp/json3"
check "json: escaped metadata" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["metadata"].startswith("q\"\\\t\x01 \u00e9 tiny\nseed: 1"), repr(d["metadata"])
' "$tmp/json3"

# A refused file among good ones: the others still print, exit 1.
head -c 500 "$tiny" >"$tmp/cut.cantus"
"$info" --json "$tiny" "$tmp/cut.cantus" "$tiny" >"$tmp/json2" 2>"$tmp/err"
check "refused: exit 1" test $? -eq 1
check "refused: one line naming the file" test "$(cat "$tmp/err")" = "$tmp/cut.cantus: truncated: 500 of 98352 bytes"
check "refused: array of the good ones" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 2 and all(x["name"] == "tiny" for x in d)
' "$tmp/json2"
"$info" /nonexistent.cantus >"$tmp/out" 2>"$tmp/err"
check "missing: exit 1" test $? -eq 1
check "missing: message" test "$(cat "$tmp/err")" = "/nonexistent.cantus: cannot open: No such file or directory"
check "missing: no stdout" test ! -s "$tmp/out"

"$info" >/dev/null 2>&1
check "no file: exit 2" test $? -eq 2
"$info" --frobnicate "$tiny" >/dev/null 2>&1
check "bad option: exit 2" test $? -eq 2
"$info" "$tiny" >/dev/full 2>"$tmp/err"
check "full stdout: exit 1" test $? -eq 1
check "full stdout: says so" test "$(cat "$tmp/err")" = "cantus-info: cannot write the output: No space left on device"
"$info" --help >"$tmp/out"
check "help: exit 0 and usage" grep -q "usage: cantus-info" "$tmp/out"

summary
