// SPDX-License-Identifier: GPL-3.0-or-later
// `cantus-bench --peers`: the reference stack (LSTM 96->256, LSTM 256->256,
// dense 256->300; batch 1, one step at a time) through Cantus's own step
// with fp32, fp16 and int8 weights on the best kernel family, and through
// OpenBLAS: one cblas_sgemv per matrix, one thread, scalar libm
// activations, as a plain C program would do it.  One line per figure,
// "peer <name> <us per step>", for tests/bench/peers.sh, which adds
// PyTorch and the ratios.  Cantus's layer 0 looks up its input product
// (the input is one-hot and embeddings), which is part of its design; the
// OpenBLAS stack multiplies the dense 96-wide input.  Informational only.
// This file is the only bench code linking OpenBLAS (dsp/ never does).
#include "lstm.h"
#include "model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cantus_bench_peers(void);
void openblas_set_num_threads(int n);

enum { IN = 96, H = 256, G = 4 * H, V = 300, SAMPLES = 4001 };

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_us(double *t, int n)
{
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return t[n / 2] * 1e-3;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float frand(float scale)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return scale * ((float)(rng >> 40) * 0x1p-23f - 1.0f);
}

static float *rand_vec(size_t n, float scale)
{
  float *v = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) {
    v[i] = frand(scale);
  }
  return v;
}

static float sigm(float x)
{
  return 1.0f / (1.0f + expf(-x));
}

static void cell(const float *pre, float *c, float *h)
{
  for (int j = 0; j < H; j++) {
    float i = sigm(pre[j]), f = sigm(pre[H + j]), g = tanhf(pre[2 * H + j]);
    float o = sigm(pre[3 * H + j]);
    c[j] = f * c[j] + i * g;
    h[j] = o * tanhf(c[j]);
  }
}

// The stack with one sgemv per matrix (row-major, as PyTorch stores it).
static double time_openblas(void)
{
  const float sc = 1.0f / 16.0f;
  float *wih0 = rand_vec((size_t)G * IN, sc), *whh0 = rand_vec((size_t)G * H, sc);
  float *wih1 = rand_vec((size_t)G * H, sc), *whh1 = rand_vec((size_t)G * H, sc);
  float *wout = rand_vec((size_t)V * H, sc), *b0 = rand_vec(G, sc), *b1 = rand_vec(G, sc);
  float *bout = rand_vec(V, sc), *x = rand_vec(IN, 1.0f);
  float h0[H] = { 0 }, c0[H] = { 0 }, h1[H] = { 0 }, c1[H] = { 0 }, pre[G], logits[V];
  static double t[SAMPLES];
  openblas_set_num_threads(1);
  for (int s = -50; s < SAMPLES; s++) {
    x[s & 63] = frand(1.0f);
    double t0 = now_ns();
    memcpy(pre, b0, sizeof pre);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, IN, 1.0f, wih0, IN, x, 1, 1.0f, pre, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, whh0, H, h0, 1, 1.0f, pre, 1);
    cell(pre, c0, h0);
    memcpy(pre, b1, sizeof pre);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, wih1, H, h0, 1, 1.0f, pre, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, whh1, H, h1, 1, 1.0f, pre, 1);
    cell(pre, c1, h1);
    memcpy(logits, bout, sizeof logits);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, V, H, 1.0f, wout, H, h1, 1, 1.0f, logits, 1);
    if (s >= 0) {
      t[s] = now_ns() - t0;
    }
  }
  volatile float sink = logits[0] + logits[V - 1];
  (void)sink;
  free(wih0);
  free(whh0);
  free(wih1);
  free(whh1);
  free(wout);
  free(b0);
  free(b1);
  free(bout);
  free(x);
  return median_us(t, SAMPLES);
}

// Cantus's step on a network of the same sizes: embedding 64 + style 16 +
// 12 tick + 4 beat classes = 96 inputs, V = 300.
static double time_cantus(CantusWeightType wt)
{
  CantusDims d = { .n_layers = 2,
                   .n_hidden = H,
                   .n_embed = 64,
                   .n_style_dim = 16,
                   .n_styles = 4,
                   .n_pos_tick = 12,
                   .n_pos_beat = 4 };
  d.vocab = (CantusVocab){ .pitch_lo = 10, .pitch_hi = 118, .n_shift = 48, .n_vel = 32, .tpq = 12 };
  const size_t np = cantus_model_param_count(&d);
  float *flat = rand_vec(np, 1.0f / 16.0f);
  CantusParams p;
  cantus_model_layout(&d, flat, &p);
  CantusLstmNet net;
  CantusLstmState st;
  void *nm = aligned_alloc(64, (cantus_lstm_net_size(&d, wt) + 63) / 64 * 64);
  void *sm = aligned_alloc(64, (cantus_lstm_state_size(&d) + 63) / 64 * 64);
  cantus_lstm_prepare(&net, nm, &d, &p, wt);
  cantus_lstm_state_init(&st, sm, &net);
  cantus_lstm_set_style(&net, &st, p.style_emb);
  float logits[V];
  static double t[SAMPLES];
  int tok = 0;
  for (int s = -50; s < SAMPLES; s++) {
    double t0 = now_ns();
    cantus_lstm_step(&net, &st, tok, (s & 0xffff) % 12, (s & 0xffff) % 4, logits);
    if (s >= 0) {
      t[s] = now_ns() - t0;
    }
    tok = (tok + 37) % V;
  }
  free(nm);
  free(sm);
  free(flat);
  return median_us(t, SAMPLES);
}

void cantus_bench_peers(void)
{
  const CantusIsa best = cantus_lstm_force_isa(cantus_lstm_isa_best());
  printf("peer family %s\n", cantus_lstm_isa_name(best));
  for (int w = 0; w < CANTUS_WEIGHTS_N; w++) {
    printf("peer cantus-%s %.2f\n",
           cantus_lstm_weights_name((CantusWeightType)w),
           time_cantus((CantusWeightType)w));
    fflush(stdout);
  }
  printf("peer openblas-sgemv-fp32 %.2f\n", time_openblas());
  fflush(stdout);
}
