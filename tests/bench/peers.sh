#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make bench`, last part: the reference stack (LSTM 96->256, LSTM 256->256,
# dense 256->300, batch 1, one step at a time, one thread) through Cantus
# (fp32, fp16, int8 weights), OpenBLAS sgemv and, when Debian's
# python3-torch is installed, PyTorch fp32 and dynamically quantised int8,
# all timed in this one run, with the ratios and the CPU's name.  Only such
# same-run ratios may be quoted (absolute figures move with the machine and
# its load).  Informational, never pass/fail.
# Usage: peers.sh CANTUS_BENCH
set -u
bench=$1
py=/usr/bin/python3
here=$(dirname "$0")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo
echo "Peers, reference stack, median us per step, one run; CPU: ${cpu:-unknown}," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$("$bench" --peers) || exit 1
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
  out+=$'\n'$("$py" "$here/bench_torch_step.py")
else
  out+=$'\n'"peer torch unavailable (apt-get install python3-torch)"
fi
awk '
  $1 == "peer" && $2 == "family" { fam = $3; next }
  $1 == "peer" && $3 ~ /^[0-9.]+$/ { name[++n] = $2; us[n] = $3; v[$2] = $3; next }
  $1 == "peer" { skipped = skipped "  " substr($0, 6) "\n" }
  END {
    printf "%-26s %10s %12s %12s\n", "implementation", "us/step", "x cantus-int8", "x cantus-fp16"
    for (i = 1; i <= n; i++) {
      label = name[i] ~ /^cantus/ ? name[i] " (" fam ")" : name[i]
      printf "%-26s %10.1f %12.2f %12.2f\n", label, us[i], us[i] / v["cantus-int8"], us[i] / v["cantus-fp16"]
    }
    printf "%s", skipped
  }' <<<"$out"
