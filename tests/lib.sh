# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the shell suites (tests/*/t_*.sh): cases counted one way, and
# the suite's last line in the shape tests/run.sh adds up.
#   ok NAME             a passed case: "ok   NAME"
#   ko NAME             a failed case: "FAIL NAME"
#   check NAME CMD...   runs CMD (output discarded): ok or ko by its exit status
#   skip KEY REASON     a case that cannot run here: "SKIP KEY: REASON" (KEY is
#                       one word; tests/run.sh knows it as SUITE:KEY)
#   skip_suite REASON   the whole suite cannot run here (a host or tool is
#                       missing): "SKIP all: REASON", exit 77
#   fail_suite REASON   the suite cannot start (a build product is missing):
#                       "FAIL REASON", the summary, exit 1
#   summary             "N passed, N failed, N skipped"; status 0 when none failed
# Whether a skip is allowed is decided by tests/run.sh (CANTUS_REQUIRE).
T_PASSED=0
T_FAILED=0
T_SKIPPED=0

ok() {
  T_PASSED=$((T_PASSED + 1))
  echo "ok   $1"
}

ko() {
  T_FAILED=$((T_FAILED + 1))
  echo "FAIL $1"
}

check() {
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$name"; else ko "$name"; fi
}

skip() {
  T_SKIPPED=$((T_SKIPPED + 1))
  echo "SKIP $1: $2"
}

summary() {
  echo "$T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
  [ "$T_FAILED" -eq 0 ]
}

skip_suite() {
  echo "SKIP all: $1"
  exit 77
}

fail_suite() {
  ko "$1"
  summary
  exit 1
}
