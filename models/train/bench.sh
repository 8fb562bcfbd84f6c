#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# `make bench-train`: training tokens per second of cantus-train against the
# PyTorch CPU twin (models/train/bench_torch.py, Debian python3-torch under
# /usr/bin/python3, skipped when torch is missing) on the same network,
# batch, BPTT and thread counts, measured in one run.  Informational only.
# Usage: bench.sh CANTUS_TRAIN [STEPS]
set -u
train=$1
steps=${2:-20}
py=/usr/bin/python3
here=$(dirname "$0")
sizes=(--hidden 256 --layers 2 --batch 32 --bptt 64 --dropout 0.1)
nproc=$(nproc)
threads=(1)
[ "$nproc" -ge 2 ] && threads+=(2)
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; $nproc cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
have_torch=0
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
  have_torch=1
else
  echo "PyTorch not installed (apt-get install python3-torch): C trainer only"
fi
# PyTorch uses two thread pools: its own (OpenMP, torch.set_num_threads) and
# OpenBLAS's.  With N cores it gets its best of (torch N, OpenBLAS 1) and
# (torch 1, OpenBLAS N); both are measured.
declare -A c_rate t_rate
for th in "${threads[@]}"; do
  line=$("$train" --bench "${sizes[@]}" --threads "$th" --steps "$steps") || exit 1
  echo "$line"
  c_rate[$th]=$(sed -E 's/.*: ([0-9]+) tokens\/s$/\1/' <<<"$line")
  if [ $have_torch = 1 ]; then
    best=0
    for cfg in "$th 1" "1 $th"; do
      set -- $cfg
      [ "$th" = 1 ] && [ "$2" = 1 ] && [ "$cfg" = "1 1" ] && [ $best -gt 0 ] && continue
      line=$(OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$py" "$here/bench_torch.py" "${sizes[@]}" \
        --threads "$1" --steps "$steps") || exit 1
      echo "$line, OpenBLAS $2 thread(s)"
      r=$(sed -E 's/.*: ([0-9]+) tokens\/s$/\1/' <<<"$line")
      [ "$r" -gt "$best" ] && best=$r
    done
    t_rate[$th]=$best
  fi
done
echo
echo "| cores | cantus-train tokens/s | PyTorch tokens/s (best config) | ratio |"
echo "|---|---|---|---|"
best_c=0 best_t=0
for th in "${threads[@]}"; do
  c=${c_rate[$th]} t=${t_rate[$th]:-}
  [ "$c" -gt "$best_c" ] && best_c=$c
  if [ -n "$t" ]; then
    [ "$t" -gt "$best_t" ] && best_t=$t
    echo "| $th | $c | $t | $(awk -v a="$c" -v b="$t" 'BEGIN { printf "%.2fx", a / b }') |"
  else
    echo "| $th | $c | - | - |"
  fi
done
if [ "$best_t" -gt 0 ]; then
  echo "| best | $best_c | $best_t | $(awk -v a="$best_c" -v b="$best_t" 'BEGIN { printf "%.2fx", a / b }') |"
fi
