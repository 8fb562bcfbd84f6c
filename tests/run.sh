#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the shell suites (tests/*/t_*.sh, artifact checks and real hosts), then
# the C runner, lists every skip with its reason, and prints one closing line
# over all of them:
#   tests: N passed, N failed, N skipped
# A suite's own last "N passed, N failed[, N skipped]" line (tests/lib.sh) is
# added to the totals, its "SKIP KEY: REASON" lines name its skipped cases; a
# suite without a summary counts as one case by its exit status; exit 77 skips
# the whole suite (its reason: its "SKIP all: REASON" line).
#
# Where everything must run (CI), skips are failures:
#   CANTUS_REQUIRE=all           no skip is allowed, except the ones named in
#   CANTUS_ALLOW_SKIP="NAME..."  (words, spaces or commas)
#   CANTUS_REQUIRE="NAME..."     only the named ones must not skip
# A NAME is a suite (t_lv2_jalv: the suite or any case of it), one case of a
# suite (t_lv2_host:valgrind), or a C runner case (cantus-tests:CASE, or
# cantus-tests for all of them).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
export CANTUS_BUILD=${CANTUS_BUILD:-$B} CANTUS_CORPUS=${CANTUS_CORPUS:-../shared/corpus}
REQUIRE=${CANTUS_REQUIRE:-} ALLOW=${CANTUS_ALLOW_SKIP:-}
passed=0 failed=0 skipped=0
skip_lines=() refused=()
log=$B/test-logs
mkdir -p "$log"

in_list() {  # WORD LIST
  local w
  for w in ${2//,/ }; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# note_skip SUITE KEY REASON: counts a skip (KEY empty: the whole suite), or
# a failure when CANTUS_REQUIRE forbids it; status 1 then.
note_skip() {
  local name=$1${2:+:$2} forbidden=0
  if [ "$REQUIRE" = all ]; then
    in_list "$1" "$ALLOW" || in_list "$name" "$ALLOW" || forbidden=1
  elif in_list "$1" "$REQUIRE" || in_list "$name" "$REQUIRE"; then
    forbidden=1
  fi
  if [ "$forbidden" -eq 1 ]; then
    refused+=("FAIL $name: skipped ($3), but CANTUS_REQUIRE=$REQUIRE requires it")
    failed=$((failed + 1))
    return 1
  fi
  skip_lines+=("SKIP $name: $3")
  skipped=$((skipped + 1))
}

# count_log SUITE LOGFILE RC: adds a finished suite's counts; sets p f s.
count_log() {
  local name=$1 file=$2 rc=$3 line n key reason
  p=0 f=0 s=0
  if [ "$rc" -eq 77 ]; then
    reason=$(sed -n 's/^SKIP all: //p' "$file" | tail -1)
    [ -n "$reason" ] || reason=$(grep -v '^[[:space:]]*$' "$file" | tail -1)
    note_skip "$name" "" "${reason:-no reason given}" || f=1
    s=$((1 - f))
    return
  fi
  line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$file" | tail -1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/^([a-z-]+: )?([0-9]+) passed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([a-z-]+: )?[0-9]+ passed, ([0-9]+) failed.*/\2/' <<<"$line")
    n=$(sed -nE 's/.* failed, ([0-9]+) skipped$/\1/p' <<<"$line")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  elif [ "$rc" -eq 0 ]; then
    p=1
  else
    f=1
  fi
  passed=$((passed + p)) failed=$((failed + f))
  while IFS= read -r line; do
    key=${line#SKIP } key=${key%%: *} reason=${line#SKIP *: }
    if note_skip "$name" "$key" "$reason"; then s=$((s + 1)); else f=$((f + 1)); fi
  done < <(grep -E '^SKIP [^ :]+: ' "$file")
  # Skips the summary counts but no SKIP line names still count.
  n=$((${n:-0} - $(grep -cE '^SKIP [^ :]+: ' "$file")))
  for ((; n > 0; n--)); do
    if note_skip "$name" "" "skipped without a SKIP line (see $file)"; then
      s=$((s + 1))
    else
      f=$((f + 1))
    fi
  done
}

for t in tests/tools/t_*.sh tests/hosts/t_*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  start=$(date +%s)
  bash "$t" >"$log/$name.log" 2>&1
  rc=$?
  count_log "$name" "$log/$name.log" "$rc"
  secs=$(($(date +%s) - start))
  if [ "$f" -ne 0 ]; then
    echo "FAIL $name ($p passed, $f failed, $s skipped, $secs s) — log $log/$name.log:"
    grep -B4 -E 'FAIL|error|Error' "$log/$name.log" | head -40 | sed 's/^/    /'
  elif [ "$rc" -eq 77 ]; then
    echo "skip $name (the whole suite, $secs s)"
  else
    echo "ok   $name ($p passed, $s skipped, $secs s)"
  fi
done

"$B/bin/cantus-tests" | tee "$log/c-runner.log" | grep -vE '^(tests: |SKIP )'
rc=${PIPESTATUS[0]}
line=$(tail -1 "$log/c-runner.log")
if [[ "$line" =~ ^tests:\ [0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
  count_log cantus-tests "$log/c-runner.log" "$rc"
else
  echo "FAIL c-runner: no summary line (crashed?)"
  failed=$((failed + 1))
fi

for l in "${skip_lines[@]}" "${refused[@]}"; do echo "$l"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
