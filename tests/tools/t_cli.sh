#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One set of conventions in every command-line tool (cantus-gen, cantus-info,
# cantus-jack, cantus-train, cantus-eval): --version prints "TOOL VERSION"
# with the Makefile's CANTUS_VERSION; an unknown option, a missing value and
# a value out of range are worded the same way in each ("TOOL: unknown
# option '--x' (see TOOL --help)", "TOOL: option --x: 5 is outside 0..2
# (see TOOL --help)"), exit status 2; sizes have limits (--bars, --epochs,
# --pieces); channels count 1..16 and velocity 0 is the model's in both
# generators; --help names --version.  No JACK server is needed: every case
# stops before cantus-jack connects.
# Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh
export JACK_DEFAULT_SERVER="cantus_no_such_server_$$" JACK_NO_START_SERVER=1
tiny=tests/data/tiny.cantus
minor=$(sed -n 's/^CANTUS_MINOR := //p' Makefile)
micro=$(sed -n 's/^CANTUS_MICRO := //p' Makefile)
version="0.$minor.$micro"
check "the Makefile defines the version ($version)" test -n "$minor" -a -n "$micro"

# run NAME TOOL ARGS...: stdout in $tmp/out, stderr in $tmp/err, status in rc.
run() {
  "$B/bin/$1" "${@:2}" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
}

# usage_error NAME TOOL WANT ARGS...: exit 2, stderr exactly "TOOL: WANT
# (see TOOL --help)", nothing on stdout.
usage_error() {
  local name=$1 tool=$2 want=$3
  shift 3
  run "$tool" "$@"
  local got
  got=$(cat "$tmp/err")
  if [ "$rc" -eq 2 ] && [ "$got" = "$tool: $want (see $tool --help)" ] && [ ! -s "$tmp/out" ]; then
    ok "$name"
  else
    ko "$name (exit $rc, stderr '$got')"
  fi
}

for tool in cantus-gen cantus-info cantus-jack cantus-train cantus-eval; do
  if [ ! -x "$B/bin/$tool" ]; then
    ko "$tool: missing (make all)"
    continue
  fi
  run "$tool" --version
  check "$tool --version: '$tool $version', exit 0" \
    test "$rc" -eq 0 -a "$(cat "$tmp/out")" = "$tool $version" -a ! -s "$tmp/err"
  usage_error "$tool: unknown option" "$tool" "unknown option '--frobnicate'" --frobnicate
  run "$tool" --help
  check "$tool --help: exit 0, names --version" grep -q -- "--version" "$tmp/out"
done

# Values out of range say the range; values that are not numbers say so.
usage_error "gen: out of range" cantus-gen "option --temperature: 5 is outside 0..2" \
  --model "$tiny" --temperature 5
usage_error "gen: not a number" cantus-gen "option --temperature: 'hot' is not a number (0..2)" \
  --model "$tiny" --temperature hot
usage_error "jack: out of range" cantus-jack "option --temperature: 5 is outside 0..2" \
  --model "$tiny" --temperature 5
usage_error "eval: out of range" cantus-eval "option --temperature: 5 is outside 0..2" \
  "$tiny" . --temperature 5
usage_error "train --sample: out of range" cantus-train "option --temperature: 5 is outside 0..2" \
  --sample "$tiny" -o "$tmp/s.mid" --temperature 5
usage_error "gen: missing value" cantus-gen "option --bars needs a value" --model "$tiny" --bars
usage_error "jack: missing value" cantus-jack "option --theme needs a value" --model "$tiny" --theme
usage_error "train: missing value" cantus-train "option --epochs needs a value" x -o y --epochs
usage_error "eval: missing value" cantus-eval "option --pieces needs a value" "$tiny" . --pieces

# Sizes with limits: refused at once, the limit named.
start=$(date +%s)
usage_error "gen: --bars 100000 refused" cantus-gen "option --bars: 100000 is outside 1..1000" \
  --model "$tiny" --bars 100000 -o "$tmp/x.mid"
check "gen: --bars 100000 refused at once, nothing written" \
  test $(($(date +%s) - start)) -lt 5 -a ! -e "$tmp/x.mid"
usage_error "gen: --theme-bars limit" cantus-gen "option --theme-bars: 5000 is outside 1..1000" \
  --model "$tiny" --theme-bars 5000
usage_error "jack: --theme-bars limit" cantus-jack "option --theme-bars: 5000 is outside 0..1000" \
  --model "$tiny" --theme-bars 5000
usage_error "train: --epochs limit" cantus-train "option --epochs: 100000 is outside 1..10000" \
  x -o y --epochs 100000
usage_error "train --sample: --bars limit" cantus-train "option --bars: 5000 is outside 1..1000" \
  --sample "$tiny" -o "$tmp/s.mid" --bars 5000
usage_error "eval: --pieces limit" cantus-eval "option --pieces: 1000 is outside 0..100" \
  "$tiny" . --pieces 1000
usage_error "eval: --bars limit" cantus-eval "option --bars: 5000 is outside 1..1000" \
  "$tiny" . --bars 5000

# Channels 1..16 and velocity 0 (the model's) in both generators.
run cantus-gen --model "$tiny" --bars 1 --channel 16 --velocity 0 -q -o "$tmp/c.mid"
check "gen: --channel 16 --velocity 0 accepted" test "$rc" -eq 0 -a -s "$tmp/c.mid"
usage_error "gen: --channel 0 refused" cantus-gen "option --channel: 0 is outside 1..16" \
  --model "$tiny" --channel 0
usage_error "jack: --channel 17 refused" cantus-jack "option --channel: 17 is outside 1..16" \
  --model "$tiny" --channel 17
# --channel 16 --velocity 0 pass cantus-jack's checks: it gets as far as
# looking for the (absent) JACK server.
run cantus-jack --no-ui --model "$tiny" --channel 16 --velocity 0
check "jack: --channel 16 --velocity 0 accepted (stops at the missing server)" \
  grep -q "cannot connect to the JACK server" "$tmp/err"

summary
