// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's block times for `make bench` (called by tests/bench/bench.c):
// 64-frame blocks at 48 kHz (a 1.33 ms period), 120 and 300 bpm, a 2x256
// model (fixture weights, fp16 run-time storage, the default 226-token
// vocabulary), free-running for 60 s of audio each.  Prints the mean and
// the worst block time as a share of the block period, the worst block
// that ran the full step budget, and the LSTM steps per block.  Also a
// stress row: a regenerate every beat, so the budget is used up again and
// again.  Last, the machine's noise floor: one fixed LSTM step per real
// (slept) block period, which shows how far the worst single block of any
// work is set by the machine (idle cores, a shared VM) rather than by the
// engine.  `cantus-bench --engine` runs this part alone.
// Informational, never pass/fail.  Non-RT (it reads the clock).
#include "engine.h"
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cantus_bench_engine(void);

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// Thread CPU time: what the block itself cost, without the time the
// scheduler gave to other processes on a shared machine.
static double cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static CantusModel *model_2x256(void)
{
  const CantusDims d = { .n_layers = 2,
                         .n_hidden = 256,
                         .n_embed = 64,
                         .n_style_dim = 16,
                         .n_styles = 4,
                         .n_pos_tick = 12,
                         .n_pos_beat = 8,
                         .vocab = cantus_vocab_default() };
  CantusModel *src = cantus_fixture_model(&d, 3, CANTUS_WEIGHTS_F16);
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_engine_adopt_model(src, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "bench_engine: %s\n", err.msg);
    exit(1);
  }
  cantus_model_free(src);
  return m;
}

static int cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run(CantusModel *m, double bpm, bool stress, const char *label)
{
  enum { N = 64 };
  const double rate = 48000, period_us = N / rate * 1e6;
  CantusEngine *e = NULL;
  CantusError err;
  if (cantus_engine_new(1.0, &e, &err) != CANTUS_OK) {
    exit(1);
  }
  cantus_engine_install_model(e, m);
  CantusBlockIn in = { .n_frames = N, .sample_rate = rate, .controls = cantus_controls_default() };
  in.controls.bpm = (float)bpm;
  in.controls.density = 0.5f;
  CantusBlockOut *out = malloc(sizeof *out);
  const int blocks = (int)(60 * rate / N);
  const int beat_blocks = (int)(60.0 / bpm * rate / N);
  double *t = malloc(sizeof *t * (size_t)blocks), *full = malloc(sizeof *full * (size_t)blocks);
  int nt = 0, nf = 0;
  long notes = 0;
  double worst_cpu = 0;
  int over = 0, worst_steps = 0; // blocks over 5 % of the period (CPU time)
  CantusStats before, after;
  for (int b = 0; b < blocks; b++) {
    in.controls.regenerate = stress && b % beat_blocks == 0;
    cantus_engine_get_stats(e, &before);
    const double c0 = cpu_ns();
    const double t0 = now_ns();
    cantus_engine_process(e, &in, out);
    const double dt = (now_ns() - t0) / 1e3;
    const double dc = (cpu_ns() - c0) / 1e3;
    cantus_engine_get_stats(e, &after);
    if (b >= 100) { // past the first lookahead fill
      t[nt++] = dt;
      if (dc > worst_cpu) {
        worst_cpu = dc;
        worst_steps = (int)(after.steps - before.steps);
      }
      over += dc > 0.05 * period_us;
      if (after.steps - before.steps == cantus_engine_step_budget(N, 48000.0)) {
        full[nf++] = dt;
      }
    }
    for (uint32_t i = 0; i < out->n_events; i++) {
      notes += (out->events[i].data[0] & 0xF0) == 0x90;
    }
  }
  double sum = 0;
  for (int i = 0; i < nt; i++) {
    sum += t[i];
  }
  qsort(t, (size_t)nt, sizeof *t, cmp_double);
  qsort(full, (size_t)nf, sizeof *full, cmp_double);
  const double mean = sum / nt, p999 = t[(int)(nt * 0.999)], worst = t[nt - 1];
  const double full_med = nf ? full[nf / 2] : 0;
  printf("%-22s %4.0f %7.1f %5.1f%% %7.1f %5.1f%% %7.1f %6.1f%% %7.1f %5.1f%% %7.1f %5.1f%% %5d "
         "%7.3f %4u %6llu %5llu %5ld\n",
         label,
         bpm,
         mean,
         100 * mean / period_us,
         p999,
         100 * p999 / period_us,
         worst,
         100 * worst / period_us,
         worst_cpu,
         100 * worst_cpu / period_us,
         full_med,
         100 * full_med / period_us,
         nf,
         (double)after.steps / blocks,
         after.max_block_steps,
         (unsigned long long)after.steps_starved,
         (unsigned long long)after.late_events,
         notes);
  printf(
    "%-22s      %d blocks over 5%% in CPU time; the worst ran %d steps\n", "", over, worst_steps);
  cantus_engine_install_model(e, NULL);
  cantus_engine_free(e);
  free(out);
  free(t);
  free(full);
}

// The machine's own noise: the same fixed work (one LSTM step on the
// engine's weights) every block period, 60 s worth, timed the same way.
// Its spread is what the engine's worst block cannot beat.
static void noise_floor(CantusModel *m)
{
  enum { N = 64 };
  const double rate = 48000, period_us = N / rate * 1e6;
  const int blocks = (int)(60 * rate / N);
  float *logits = malloc(sizeof *logits * 1024);
  void *mem = aligned_alloc(64, (cantus_lstm_state_size(&m->net.dims) + 63) & ~(size_t)63);
  double *t = malloc(sizeof *t * (size_t)blocks);
  CantusLstmState st;
  cantus_lstm_state_init(&st, mem, &m->net);
  double worst_cpu = 0;
  for (int b = 0; b < blocks; b++) {
    const double c0 = cpu_ns(), t0 = now_ns();
    cantus_lstm_step(&m->net, &st, 5 + b % 50, b % 12, b % 8, logits);
    t[b] = (now_ns() - t0) / 1e3;
    const double dc = (cpu_ns() - c0) / 1e3;
    worst_cpu = dc > worst_cpu ? dc : worst_cpu;
    const double until = t0 + period_us * 1e3; // idle like a real period
    while (now_ns() < until) {
      struct timespec ts = { 0, 200000 };
      nanosleep(&ts, NULL);
    }
  }
  qsort(t, (size_t)blocks, sizeof *t, cmp_double);
  printf("%-22s      one LSTM step per period, the machine's noise: median %.1f us, p99.9 %.1f us "
         "(%.1f%%), worst %.1f us wall (%.1f%%), %.1f us CPU (%.1f%%)\n",
         "noise floor",
         t[blocks / 2],
         t[(int)(blocks * 0.999)],
         100 * t[(int)(blocks * 0.999)] / period_us,
         t[blocks - 1],
         100 * t[blocks - 1] / period_us,
         worst_cpu,
         100 * worst_cpu / period_us);
  free(t);
  free(mem);
  free(logits);
}

void cantus_bench_engine(void)
{
  CantusModel *m = model_2x256();
  printf("\nengine: 64-frame blocks at 48 kHz (period 1333 us), 2x256 model (fp16, %s kernels),\n"
         "60 s of audio per row; block times in us and %% of the period: mean, 99.9th percentile,\n"
         "worst wall time (includes preemption on a shared machine), worst thread CPU time,\n"
         "and the median of the blocks that ran\n"
         "the whole budget of %u LSTM steps (n of them); steps per block, most in one block,\n"
         "blocks that ran out of budget, notes that came out late, notes played\n",
         cantus_lstm_isa_name(cantus_lstm_isa()),
         cantus_engine_step_budget(64, 48000.0));
  printf("%-22s %4s %7s %6s %7s %6s %7s %7s %7s %6s %7s %6s %5s %7s %4s %6s %5s %5s\n",
         "case",
         "bpm",
         "mean",
         "",
         "p99.9",
         "",
         "worst",
         "",
         "w-cpu",
         "",
         "full",
         "",
         "n",
         "st/blk",
         "max",
         "starv",
         "late",
         "notes");
  run(m, 120, false, "steady");
  run(m, 300, false, "steady");
  run(m, 120, true, "regenerate every beat");
  run(m, 300, true, "regenerate every beat");
  noise_floor(m);
  cantus_model_free(m);
}
