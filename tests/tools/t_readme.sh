#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The README's claims, checked mechanically (tests/tools/readme_check.py):
#  - every --option it names for cantus-gen, cantus-jack, cantus-train,
#    cantus-eval or cantus-info is in that program's --help (an option
#    belongs to the program named last before it in its paragraph or code
#    line, else to the program its section's heading names; after another
#    program in code, e.g. `jalv -n`, it is not checked);
#  - every `make TARGET` it names is a target of the Makefile;
#  - every relative link resolves, #anchors included (also in the READMEs
#    beside the code: dsp/, plugin/, models/, models/train/, tests/);
#  - its styles table ("The styles") explains exactly the styles of the
#    shipped models (cantus-info --json models/*.cantus), with the default
#    model's numbers;
#  - the quick start is still `make run` then `make test`, which CI's
#    fresh-Debian check (.ci/fresh-debian.sh) runs.
# A failure names the README line, the word and where it was looked for.
# Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${CANTUS_BUILD:-${B:-build}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh
export JACK_DEFAULT_SERVER="cantus_no_such_server_$$" JACK_NO_START_SERVER=1

command -v python3 >/dev/null || skip_suite "python3 not installed (apt-get install python3)"
check=tests/tools/readme_check.py

for tool in cantus-gen cantus-jack cantus-train cantus-eval cantus-info; do
  [ -x "$B/bin/$tool" ] || fail_suite "$B/bin/$tool missing (make all)"
  "$B/bin/$tool" --help </dev/null >"$tmp/help.$tool" 2>&1
done

# The Makefile's targets (the rules make knows, minus files and patterns).
make -qp B="$B" 2>/dev/null |
  awk -F: '/^[a-zA-Z0-9][^$#\/\t=%]*:([^=]|$)/ { n = split($1, a, " "); for (i = 1; i <= n; i++) print a[i] }' |
  sort -u >"$tmp/targets"
check "the Makefile's targets are listed ($(wc -l <"$tmp/targets"))" grep -qx install-user "$tmp/targets"

# The shipped models' styles: file, number, name.
for m in models/*.cantus; do
  "$B/bin/cantus-info" --json "$m" >"$tmp/info.json" 2>"$tmp/info.err" ||
    { ko "cantus-info --json $m: $(head -1 "$tmp/info.err")"; continue; }
  python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["styles"]:
    print("%s\t%d\t%s" % (sys.argv[2], s["number"], s["name"]))' "$tmp/info.json" "$m" >>"$tmp/styles.tsv"
done
check "the shipped models have styles ($(wc -l <"$tmp/styles.tsv" 2>/dev/null || echo 0))" test -s "$tmp/styles.tsv"

python3 "$check" README.md "$tmp" dsp/README.md plugin/README.md models/README.md \
  models/train/README.md tests/README.md >"$tmp/out" 2>&1 || ko "readme_check.py failed: $(tail -1 "$tmp/out")"
while IFS= read -r line; do
  case $line in
    "ok   "*) ok "${line#ok   }" ;;
    "FAIL "*) ko "${line#FAIL }" ;;
    *) ko "readme_check.py: $line" ;;
  esac
done <"$tmp/out"

# The checks themselves: a README with a wrong option, target, link, anchor,
# style and quick start fails each (the test cannot pass by finding nothing).
mkdir -p "$tmp/fake"
cat >"$tmp/fake/README.md" <<'EOF'
# Fake

## Quick start

```sh
make all
```

## The styles

| style | what |
|---|---|
| `nosuchstyle` (1) | none |

Play with `cantus-gen --no-such-option 3` and `cantus-jack --bpm 90`, see [a](nosuchfile.md)
and [b](#no-such-heading), then `make no-such-target`.
EOF
python3 "$check" "$tmp/fake/README.md" "$tmp" >"$tmp/fake.out" 2>&1
for want in "cantus-gen --no-such-option is not an option of cantus-gen" \
            "make no-such-target: the Makefile has no target" \
            "link nosuchfile.md: no such file" \
            "link #no-such-heading: .* has no heading with the anchor" \
            "style nosuchstyle is explained, but no shipped model has it" \
            "is not explained in the styles table" \
            "quick start's code block runs \['make all'\]" \
            "every option named for cantus-jack is in its --help (1)"; do
  check "readme_check.py catches: $want" grep -q -- "$want" "$tmp/fake.out"
done
summary
