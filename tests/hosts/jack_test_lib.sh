# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by tests/hosts/t_jack_*.sh: a private JACK dummy server and the
# cantus-jack test plumbing (adapted from ../shared/hosts/jack_lib.sh).
#   jt_server_start [RATE] [PERIOD]   own jackd -R -d dummy, own name; sets JT_JACKD_PID,
#                                     JT_SERVER
#   jt_server_stop                    stops it by PID
#   jt_wait TEXT_FILE REGEX [SECONDS] poll a file for a line
#   jt_capture NAME                   jack_capture -t NAME -> $W/NAME.txt, waits for ready
#   jt_cantus NAME ARGS...            cantus-jack --no-ui --name NAME, stdin from a fifo
#                                     (jt_cmd NAME "set ..."), stdout $W/NAME.out,
#                                     stderr $W/NAME.err; waits for its "ready" line
#   jt_sender NAME                    tests/jack_send as client NAME (NAME:out), fed by
#                                     jt_send NAME LINE... ; jt_stop_sender NAME
#   jt_transport CMDS                 jack_transport fed with CMDS (kept alive by a sleep)
#   jt_check NAME COND_EXIT_STATUS    counts a case: "ok NAME" / "FAIL NAME"
#   jt_finish                         stops everything, prints "N passed, N failed,
#                                     N skipped"
# Counting, skip and the summary line come from tests/lib.sh (sourced here).
# Pitfalls kept from the recipes: connect only to clients that printed
# "ready" (after jack_activate), or the jackd2 graph can wedge; jackd -R
# (realtime) so a loaded machine keeps the dummy clock steady; each suite
# has its own server name, stopped by PID.
set -u
JT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${CANTUS_BUILD:-${B:-build}}
case "$B" in /*) ;; *) B="$JT_ROOT/$B" ;; esac
JT_BIN="$B/bin/cantus-jack"
JT_CAP="$B/tests/jack_capture"
JT_SEND="$B/tests/jack_send"
JT_PMFAKE="$B/tests/libpmfake.so"
JT_MODEL="$JT_ROOT/tests/data/tiny.cantus"
W=$(mktemp -d "/tmp/cantus-jack-test.XXXXXX")
JT_PIDS=()
JT_FDS=()
. "$JT_ROOT/tests/lib.sh"
# Sanitizer builds: leaks are reported (a leaked model would show), except
# PortMidi's own (tests/hosts/jack_lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS="suppressions=$JT_ROOT/tests/hosts/jack_lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# The server name is fixed per suite and build dir: jackd2 keeps at most 8
# servers in its registry (/dev/shm/jack-shm-registry) and only reclaims a
# dead server's entry for a server of the same name, so a crashed run's entry
# is reused by the next run instead of filling the table.  While other
# programs hold every slot ("Too many servers already active"), wait.
jt_server_start() {
  local suite; suite=$(basename "$0" .sh)
  JT_SERVER="cantus_${suite#t_}_$(printf '%s' "$B" | cksum | cut -d' ' -f1)"
  export JACK_DEFAULT_SERVER="$JT_SERVER" JACK_NO_START_SERVER=1 JACK_NO_AUDIO_RESERVATION=1
  JT_JACKD_LOG="$W/jackd.log"
  for attempt in 1 2 3 4 5 6 7 8; do
    # SIGPIPE ignored: jackd 1.9.21 dies of it when it notifies a client
    # that died without closing, and then never frees its registry slot.
    (trap '' PIPE; exec jackd ${JACKD_OPTS--R} -n "$JT_SERVER" -d dummy -r "${1:-48000}" \
      -p "${2:-256}") >"$JT_JACKD_LOG" 2>&1 &
    JT_JACKD_PID=$!
    if jack_wait -w -t 10 >/dev/null 2>&1; then
      return 0
    fi
    kill -TERM "$JT_JACKD_PID" 2>/dev/null; wait "$JT_JACKD_PID" 2>/dev/null; JT_JACKD_PID=
    grep -q 'Too many servers already active' "$JT_JACKD_LOG" || break
    echo "jackd: every server slot is taken (attempt $attempt); waiting"
    sleep 4
  done
  echo "jackd did not come up:"; cat "$JT_JACKD_LOG"
  return 1
}

jt_server_stop() {
  [ -n "${JT_JACKD_PID:-}" ] || return 0
  kill -TERM "$JT_JACKD_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$JT_JACKD_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -KILL "$JT_JACKD_PID" 2>/dev/null; then
    echo "jackd needed SIGKILL (its registry entry stays until a server of the same name runs)"
  fi
  wait "$JT_JACKD_PID" 2>/dev/null
  local rc=$?
  [ "$rc" -eq 0 ] || echo "jackd exit status $rc"
  JT_JACKD_PID=
}

jt_wait() {
  local t=$(( ${3:-10} * 10 ))
  while [ "$t" -gt 0 ]; do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1; t=$((t - 1))
  done
  echo "timeout waiting for /$2/ in $1"
  return 1
}

jt_capture() {
  "$JT_CAP" -t "$1" >"$W/$1.txt" 2>"$W/$1.err" &
  JT_PIDS+=($!)
  eval "JT_PID_$1=$!"
  jt_wait "$W/$1.err" ready 10
}

# jt_cantus NAME ARGS...: runs cantus-jack; JT_PID_NAME holds its PID.
jt_cantus() {
  local name=$1; shift
  rm -f "$W/$name.fifo"; mkfifo "$W/$name.fifo"
  "$JT_BIN" --no-ui --name "$name" "$@" <"$W/$name.fifo" >"$W/$name.out" 2>"$W/$name.err" &
  local pid=$!
  JT_PIDS+=($pid)
  eval "JT_PID_$name=$pid"
  # Hold the fifo open for writing so cantus-jack's stdin stays open.
  eval "exec {JT_FD_$name}>\"$W/$name.fifo\""
  eval "JT_FDS+=(\$JT_FD_$name)"
  jt_wait "$W/$name.out" '^ready$' 15
}

# jt_sender NAME: tests/jack_send as client NAME (port NAME:out), stdin from
# a fifo held open (jt_send NAME LINE...: hex bytes or "sleep MS");
# JT_SPID_NAME holds its PID.  jt_stop_sender NAME: SIGTERM (other children
# inherit the fifo's write end, so no EOF), on which it closes its client.
jt_sender() {
  rm -f "$W/$1.fifo"; mkfifo "$W/$1.fifo"
  "$JT_SEND" "$1" <"$W/$1.fifo" 2>"$W/$1.err" &
  JT_PIDS+=($!)
  eval "JT_SPID_$1=$!"
  eval "exec {JT_SFD_$1}>\"$W/$1.fifo\""
  eval "JT_FDS+=(\$JT_SFD_$1)"
  jt_wait "$W/$1.err" ready 10
}
jt_send() { local v="JT_SFD_$1"; shift; printf '%s\n' "$@" >&"${!v}"; }
jt_stop_sender() {
  local p="JT_SPID_$1"
  kill -TERM "${!p}" 2>/dev/null
  wait "${!p}" 2>/dev/null
}

jt_cmd() {
  local fd_var="JT_FD_$1"
  printf '%s\n' "$2" >&"${!fd_var}"
}

# jt_stop_cantus NAME [SIGNAL]: signals it and waits; sets JT_RC.
jt_stop_cantus() {
  local pid_var="JT_PID_$1"
  kill -"${2:-TERM}" "${!pid_var}" 2>/dev/null
  wait "${!pid_var}"
  JT_RC=$?
}

jt_stop_capture() {
  local pid_var="JT_PID_$1"
  kill -TERM "${!pid_var}" 2>/dev/null
  wait "${!pid_var}" 2>/dev/null
}

# jt_transport "master" "tempo 120" "play" ... : one jack_transport session;
# "sleep S" lines pause it.  Runs in the foreground.
jt_transport() {
  {
    for c in "$@"; do
      case "$c" in
        sleep\ *) sleep "${c#sleep }" ;;
        *) printf '%s\n' "$c" ;;
      esac
    done
    sleep 0.2
  } | jack_transport >>"$W/transport.log" 2>&1
}

# jt_xruns NAME OUTFILE: 0 when jackd blamed no cycle on client NAME
# ("client = NAME was not finished" / "client NAME finished after current
# callback").  Xruns blamed on other clients or on the dummy driver's own
# late wake-ups (a loaded machine) are reported, not held against it.
# JT_XRUN_MSG says what was seen.
jt_xruns() {
  local blamed others counted log
  log=$(tail -n +"$((${JT_LOG_FROM:-0} + 1))" "$JT_JACKD_LOG")
  blamed=$(grep -cE "client = $1 was not finished|client $1 finished after" <<<"$log")
  others=$(grep -c 'XRun' <<<"$log")
  counted=$(sed -n 's/^cantus-jack: stopped after .*(xruns): \([0-9]*\)\..*/\1/p' "$2" | tail -1)
  JT_XRUN_MSG="cantus-jack counted ${counted:-?}; jackd blamed $1 for $blamed of $others logged"
  [ "$blamed" -eq 0 ] && [ -n "$counted" ]
}

# jt_phase NAME FUNC: runs FUNC, which records its checks with
# `jt_pcheck LABEL STATUS` and stops the clients it started.  When a check
# failed and jackd logged an xrun meanwhile (on a loaded 2-core machine,
# sanitizer builds above all, or a virtual machine whose host steals time),
# the phase runs again on the same server after a second's pause, at most
# 4 times; the last run's checks count.
jt_phase() {
  local name=$1 fn=$2 try x0 x1 r fails
  for try in 1 2 3 4; do
    JT_PHASE_RESULTS=()
    JT_LOG_FROM=$(wc -l <"$JT_JACKD_LOG")
    x0=$(grep -c 'XRun' "$JT_JACKD_LOG")
    "$fn"
    x1=$(grep -c 'XRun' "$JT_JACKD_LOG")
    fails=0
    for r in "${JT_PHASE_RESULTS[@]}"; do [ "${r%%:*}" = 0 ] || fails=1; done
    [ $fails -eq 0 ] || [ "$x1" -eq "$x0" ] || [ $try -eq 4 ] && break
    echo "phase $name: a check failed while jackd logged $((x1 - x0)) xruns; again (try $((try + 1)))"
    for r in "${JT_PHASE_RESULTS[@]}"; do [ "${r%%:*}" = 0 ] || echo "    failed: ${r#*:}"; done
    grep XRun "$JT_JACKD_LOG" | tail -$((x1 - x0)) | sort | uniq -c | sed 's/^/    /'
    sleep 1
  done
  for r in "${JT_PHASE_RESULTS[@]}"; do jt_check "${r#*:}" "${r%%:*}"; done
}
jt_pcheck() { JT_PHASE_RESULTS+=("$2:$1"); }

jt_check() {
  local name=$1 rc=$2
  if [ "$rc" -eq 0 ]; then ok "$name"; else ko "$name"; fi
}

# Clients first (closing their stdin fifos, then SIGTERM: each closes its
# JACK client), then the server.
jt_cleanup() {
  for fd in "${JT_FDS[@]}"; do exec {fd}>&- 2>/dev/null; done
  JT_FDS=()
  for p in "${JT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${JT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  JT_PIDS=()
  jt_server_stop
}

jt_finish() {
  jt_cleanup
  if [ "$T_FAILED" -eq 0 ]; then
    rm -rf "$W"
  else
    echo "evidence kept in $W"
  fi
  summary
}
trap 'jt_cleanup' EXIT

# Prerequisites: skip (77) when the machine cannot run the suite at all.
jt_require() {
  for x in "$JT_BIN" "$JT_CAP" "$JT_SEND"; do
    [ -x "$x" ] || fail_suite "missing $x (make all)"
  done
  command -v jackd >/dev/null || skip_suite "jackd not installed (apt-get install jackd2)"
  command -v python3 >/dev/null || skip_suite "python3 not installed (apt-get install python3)"
}
