#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the shell suites (tests/*/t_*.sh, artifact checks and real hosts), then
# the C runner, and prints one closing line over all of them:
#   tests: N passed, N failed
# A suite's own last "N passed, M failed" line is added to the totals; a
# suite without one counts as one case by its exit status (77 = skipped).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
export CANTUS_BUILD=${CANTUS_BUILD:-$B} CANTUS_CORPUS=${CANTUS_CORPUS:-../shared/corpus}
passed=0 failed=0
log=$B/test-logs
mkdir -p "$log"
for t in tests/tools/t_*.sh tests/hosts/t_*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  start=$(date +%s)
  bash "$t" >"$log/$name.log" 2>&1
  rc=$?
  line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log/$name.log" | tail -1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/^([a-z-]+: )?([0-9]+) passed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([a-z-]+: )?[0-9]+ passed, ([0-9]+) failed.*/\2/' <<<"$line")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  elif [ "$rc" -eq 77 ]; then
    p=0 f=0
  elif [ "$rc" -eq 0 ]; then
    p=1 f=0
  else
    p=0 f=1
  fi
  passed=$((passed + p)) failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    echo "FAIL $name ($p passed, $f failed, $(( $(date +%s) - start )) s) — log $log/$name.log:"
    grep -B4 -E 'FAIL|error|Error' "$log/$name.log" | head -40 | sed 's/^/    /'
  else
    echo "ok   $name ($p passed$([ "$rc" -eq 77 ] && echo ', skipped'), $(( $(date +%s) - start )) s)"
  fi
done
"$B/bin/cantus-tests" | tee "$log/c-runner.log" | grep -v '^tests: '
line=$(tail -1 "$log/c-runner.log")
p=$(sed -E 's/^tests: ([0-9]+) passed.*/\1/' <<<"$line")
f=$(sed -E 's/^tests: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
if ! [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
  echo "FAIL c-runner: no summary line (crashed?)"
  p=0 f=1
fi
passed=$((passed + p)) failed=$((failed + f))
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
