// SPDX-License-Identifier: GPL-3.0-or-later
// The offline trainer (models/train/): the batched forward/backward against
// PyTorch reference vectors (tests/data/train_ref.bin, written once by
// tests/ref/gen_train_ref.py), a finite-difference gradient check, the
// trainer's forward against the plugin's cantus_lstm_step, corpus
// tokenisation (order of events, positions, snapping, hostile files), the
// n-gram baseline, AdamW, and short training runs (determinism, resume,
// loss falling below the n-gram).  OpenBLAS runs on one thread here.
#include "fixtures.h"
#include "midifile.h"
#include "model.h"
#include "sample.h"
#include "test.h"
#include "train.h"
#include "train_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Trainer tests run on one OpenBLAS thread.  OpenBLAS reads
// OPENBLAS_NUM_THREADS when the library loads, before this constructor, so
// the count is also set through its API (train_row_threads_match switches
// to two threads on purpose and back).
void openblas_set_num_threads(int num_threads);

__attribute__((constructor)) static void one_blas_thread(void)
{
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  openblas_set_num_threads(1);
}

// ---- helpers --------------------------------------------------------------------

typedef struct {
  CantusDims d;
  int B, T;
  float *params, *grads;  // flat, cantus_model_layout order
  float *state0, *state1; // 2*L*B*H
  int32_t *tok, *tgt, *style, *pt, *pb;
  float *logits;
  float loss;
  size_t n_params;
} Ref;

static bool read_exact(FILE *f, void *p, size_t n)
{
  return fread(p, 1, n, f) == n;
}

static bool load_ref(Ref *r)
{
  memset(r, 0, sizeof *r);
  FILE *f = fopen("tests/data/train_ref.bin", "rb");
  if (!f) {
    printf("cannot open tests/data/train_ref.bin\n");
    return false;
  }
  int32_t hdr[14];
  bool ok = read_exact(f, hdr, sizeof hdr) && hdr[0] == 0x46525443 && hdr[1] == 1;
  if (ok) {
    CantusVocab v = { .pitch_lo = (uint8_t)hdr[7],
                      .pitch_hi = (uint8_t)hdr[8],
                      .n_shift = (uint16_t)hdr[9],
                      .n_vel = 0,
                      .tpq = (uint16_t)hdr[10] };
    r->d = (CantusDims){ .n_layers = (uint32_t)hdr[2],
                         .n_hidden = (uint32_t)hdr[3],
                         .n_embed = (uint32_t)hdr[4],
                         .n_style_dim = (uint32_t)hdr[5],
                         .n_styles = (uint32_t)hdr[6],
                         .n_pos_tick = (uint32_t)hdr[10],
                         .n_pos_beat = (uint32_t)hdr[11],
                         .vocab = v };
    r->B = hdr[12];
    r->T = hdr[13];
    r->n_params = cantus_model_param_count(&r->d);
    size_t R = (size_t)r->B * (size_t)r->T, V = (size_t)cantus_vocab_size(&v);
    size_t ns = 2 * (size_t)r->d.n_layers * (size_t)r->B * r->d.n_hidden;
    r->params = malloc(r->n_params * 4);
    r->grads = malloc(r->n_params * 4);
    r->state0 = malloc(ns * 4);
    r->state1 = malloc(ns * 4);
    r->logits = malloc(R * V * 4);
    int32_t **ints[5] = { &r->tok, &r->tgt, &r->style, &r->pt, &r->pb };
    ok = read_exact(f, r->params, r->n_params * 4) && read_exact(f, r->state0, ns * 4);
    for (int i = 0; i < 5 && ok; i++) {
      *ints[i] = malloc(R * 4);
      ok = read_exact(f, *ints[i], R * 4);
    }
    ok = ok && read_exact(f, r->logits, R * V * 4) && read_exact(f, &r->loss, 4) &&
         read_exact(f, r->grads, r->n_params * 4) && read_exact(f, r->state1, ns * 4);
    char extra;
    ok = ok && fread(&extra, 1, 1, f) == 0;
  }
  fclose(f);
  if (!ok) {
    printf("tests/data/train_ref.bin: bad or truncated\n");
  }
  return ok;
}

static void free_ref(Ref *r)
{
  free(r->params);
  free(r->grads);
  free(r->state0);
  free(r->state1);
  free(r->logits);
  free(r->tok);
  free(r->tgt);
  free(r->style);
  free(r->pt);
  free(r->pb);
}

static void fill_chunk(CantusLstmTrain *n, const Ref *r)
{
  CantusChunk *c = cantus_lstm_train_chunk(n);
  for (int i = 0; i < r->B * r->T; i++) {
    c->tok[i] = r->tok[i];
    c->tgt[i] = r->tgt[i];
    c->style[i] = (int16_t)r->style[i];
    c->pos_tick[i] = (uint8_t)r->pt[i];
    c->pos_beat[i] = (uint8_t)r->pb[i];
  }
  memcpy(cantus_lstm_train_state(n), r->state0, cantus_lstm_train_state_floats(n) * 4);
}

static double max_abs_diff(const float *a, const float *b, size_t n, size_t *at)
{
  double m = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || isnan(d)) {
      m = isnan(d) ? (double)INFINITY : d;
      if (at) {
        *at = i;
      }
    }
  }
  return m;
}

// Uniform in [-1, 1) from the project's generator (dsp/sample.h).
static float unif(CantusRng *r)
{
  return 2.0f * cantus_rng_uniform(r) - 1.0f;
}

// ---- PyTorch reference -------------------------------------------------------------

TEST(train_torch_reference)
{
  Ref r;
  if (!load_ref(&r)) {
    CHECK(0);
    return;
  }
  CantusLstmTrain *n = NULL;
  CantusError err;
  CHECK_EQ(cantus_lstm_train_new(&r.d, r.B, r.T, &n, &err), CANTUS_OK);
  CantusParams p, g;
  float *grads = calloc(r.n_params, 4);
  cantus_model_layout(&r.d, r.params, &p);
  cantus_model_layout(&r.d, grads, &g);
  fill_chunk(n, &r);
  int scored = 0;
  double sum = cantus_lstm_train_forward(n, &p, 0.0f, 0, NULL, &scored);
  size_t R = (size_t)r.B * (size_t)r.T, V = (size_t)cantus_vocab_size(&r.d.vocab);
  CHECK_EQ(scored, 16);
  CHECK_NEAR(sum / scored, r.loss, 1e-5);
  size_t at = 0;
  double dl = max_abs_diff(cantus_lstm_train_logits(n), r.logits, R * V, &at);
  CHECK_MSG(dl <= 1e-5, "logits differ by %g at %zu", dl, at);
  double ds =
    max_abs_diff(cantus_lstm_train_state(n), r.state1, cantus_lstm_train_state_floats(n), &at);
  CHECK_MSG(ds <= 1e-5, "carried state differs by %g at %zu", ds, at);
  cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
  // Every tensor separately, so a failure names it.
  CantusTensorSpan spans[3 + 3 * CANTUS_MAX_LAYERS + 2];
  int ns = cantus_adamw_spans(&r.d, CANTUS_GRAD_ALL, spans);
  CHECK_EQ(ns, 3 + 3 * 2 + 1);
  for (int i = 0; i < ns; i++) {
    double dg = max_abs_diff(grads + spans[i].offset, r.grads + spans[i].offset, spans[i].len, &at);
    CHECK_MSG(dg <= 1e-4,
              "gradient of tensor %d differs by %g at %zu (%g vs %g)",
              i,
              dg,
              at,
              (double)grads[spans[i].offset + at],
              (double)r.grads[spans[i].offset + at]);
  }
  // The reference has non-trivial gradients everywhere that matters.
  CHECK(cantus_adamw_grad_norm(r.grads, spans, ns) > 0.1);
  // Only the style / output groups: the others stay untouched.
  memset(grads, 0, r.n_params * 4);
  fill_chunk(n, &r);
  cantus_lstm_train_forward(n, &p, 0.0f, 0, NULL, NULL);
  cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_STYLE);
  CHECK(max_abs_diff(grads + spans[1].offset, r.grads + spans[1].offset, spans[1].len, NULL) <=
        1e-4);
  CHECK(cantus_adamw_grad_norm(grads, spans + 2, ns - 2) == 0.0);
  CHECK(cantus_adamw_grad_norm(grads, spans, 1) == 0.0);
  free(grads);
  cantus_lstm_train_free(n);
  free_ref(&r);
}

// The hidden units split over two threads (unit blocks in permuted gate
// order, see lstm_train.c) give the same numbers.

TEST(train_row_threads_match)
{
  Ref r;
  if (!load_ref(&r)) {
    CHECK(0);
    return;
  }
  CantusError err;
  CantusParams p, g;
  cantus_model_layout(&r.d, r.params, &p);
  float *grads[2];
  float *logits[2];
  size_t R = (size_t)r.B * (size_t)r.T, V = (size_t)cantus_vocab_size(&r.d.vocab);
  for (int th = 0; th < 2; th++) {
    openblas_set_num_threads(th + 1);
    CantusLstmTrain *n = NULL;
    CHECK_EQ(cantus_lstm_train_new(&r.d, r.B, r.T, &n, &err), CANTUS_OK);
    grads[th] = calloc(r.n_params, 4);
    logits[th] = malloc(R * V * 4);
    cantus_model_layout(&r.d, grads[th], &g);
    fill_chunk(n, &r);
    cantus_lstm_train_forward(n, &p, 0.0f, 0, NULL, NULL);
    memcpy(logits[th], cantus_lstm_train_logits(n), R * V * 4);
    cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
    cantus_lstm_train_free(n);
  }
  openblas_set_num_threads(1);
  size_t at = 0;
  CHECK(max_abs_diff(logits[1], r.logits, R * V, &at) <= 1e-5);
  double dg = max_abs_diff(grads[1], r.grads, r.n_params, &at);
  CHECK_MSG(dg <= 1e-4, "two threads: gradient differs from PyTorch by %g", dg);
  dg = max_abs_diff(grads[1], grads[0], r.n_params, &at);
  CHECK_MSG(dg <= 1e-6, "two threads vs one: gradient differs by %g", dg);
  for (int th = 0; th < 2; th++) {
    free(grads[th]);
    free(logits[th]);
  }
  free_ref(&r);
}

// The same at a size where the unit blocks are whole panels (H 64: two
// blocks of 32 units), with dropout and pieces starting mid-chunk: one and
// two threads agree on the loss and on every gradient.
TEST(train_threads_match_h64)
{
  CantusDims d = cantus_fixture_dims_tiny();
  d.n_hidden = 64;
  d.n_layers = 2;
  enum { B = 8, T = 24 };
  const size_t np = cantus_model_param_count(&d);
  float *params = malloc(np * 4);
  cantus_train_init_params(&d, 5, params);
  CantusParams p, g;
  cantus_model_layout(&d, params, &p);
  const int V = cantus_vocab_size(&d.vocab);
  float *grads[2];
  double loss[2];
  for (int th = 0; th < 2; th++) {
    openblas_set_num_threads(th + 1);
    CantusLstmTrain *n = NULL;
    CantusError err;
    CHECK_EQ(cantus_lstm_train_new(&d, B, T, &n, &err), CANTUS_OK);
    CantusChunk *c = cantus_lstm_train_chunk(n);
    CantusRng s;
    cantus_rng_seed(&s, 11);
    for (int r = 0; r < B * T; r++) {
      c->tok[r] =
        r % 37 == 3 ? CANTUS_TOK_START : 2 + (int)((unif(&s) + 1.0f) * 0.49f * (float)(V - 3));
      c->tgt[r] = r % 5 == 0 ? -1 : 2 + (int)((unif(&s) + 1.0f) * 0.49f * (float)(V - 3));
      c->style[r] = (int16_t)(r % (int)d.n_styles);
      c->pos_tick[r] = (uint8_t)(r % (int)d.n_pos_tick);
      c->pos_beat[r] = (uint8_t)(r % (int)d.n_pos_beat);
    }
    grads[th] = calloc(np, 4);
    cantus_model_layout(&d, grads[th], &g);
    loss[th] = cantus_lstm_train_forward(n, &p, 0.2f, 9, NULL, NULL);
    cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
    cantus_lstm_train_free(n);
  }
  openblas_set_num_threads(1);
  CHECK_NEAR(loss[0], loss[1], 1e-9 * fabs(loss[0]) + 1e-6);
  size_t at = 0;
  double dg = max_abs_diff(grads[1], grads[0], np, &at);
  CHECK_MSG(dg <= 1e-6, "two threads vs one at H 64: gradient differs by %g at %zu", dg, at);
  double norm = 0.0;
  for (size_t i = 0; i < np; i++) {
    norm += (double)grads[0][i] * (double)grads[0][i];
  }
  CHECK(norm > 1e-6); // the gradients are not trivially zero
  free(grads[0]);
  free(grads[1]);
  free(params);
}

// ---- finite differences ----------------------------------------------------------

static double chunk_loss(CantusLstmTrain *n, const Ref *r, const CantusParams *p)
{
  fill_chunk(n, r);
  int scored = 0;
  double s = cantus_lstm_train_forward(n, p, 0.0f, 0, NULL, &scored);
  return s / scored;
}

TEST(train_gradient_finite_differences)
{
  Ref r;
  if (!load_ref(&r)) {
    CHECK(0);
    return;
  }
  CantusLstmTrain *n = NULL;
  CantusError err;
  CHECK_EQ(cantus_lstm_train_new(&r.d, r.B, r.T, &n, &err), CANTUS_OK);
  CantusParams p, g;
  float *grads = calloc(r.n_params, 4);
  cantus_model_layout(&r.d, r.params, &p);
  cantus_model_layout(&r.d, grads, &g);
  chunk_loss(n, &r, &p);
  cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
  // Central differences on a spread of parameters of every tensor.
  int checked = 0, bad = 0;
  const float eps = 2e-3f;
  for (size_t i = 0; i < r.n_params; i += 7) {
    float keep = r.params[i];
    r.params[i] = keep + eps;
    double lp = chunk_loss(n, &r, &p);
    r.params[i] = keep - eps;
    double lm = chunk_loss(n, &r, &p);
    r.params[i] = keep;
    double fd = (lp - lm) / (2.0 * (double)eps);
    double an = (double)grads[i];
    double tol = 2e-4 + 0.02 * fabs(fd);
    if (fabs(fd - an) > tol) {
      if (bad < 5) {
        printf("param %zu: finite difference %.6g, backward %.6g\n", i, fd, an);
      }
      bad++;
    }
    checked++;
  }
  CHECK(checked > 500);
  CHECK_EQ(bad, 0);
  free(grads);
  cantus_lstm_train_free(n);
  free_ref(&r);
}

// ---- the per-step product with packed weights ---------------------------------------

// cantus_panel_gemm against a double-precision product, for shapes with
// row and column tails (M not a multiple of 8, N not of 16 or 32), both
// packing orders, writing and accumulating.
TEST(train_panel_gemm_matches_reference)
{
  static const int shapes[][3] = { { 32, 512, 256 }, { 5, 40, 33 }, { 9, 8, 1024 }, { 1, 17, 3 } };
  CantusRng s;
  cantus_rng_seed(&s, 7);
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
    float *A = malloc(sizeof(float) * (size_t)M * (size_t)K);
    float *Wnk = malloc(sizeof(float) * (size_t)N * (size_t)K);
    float *Wkn = malloc(sizeof(float) * (size_t)N * (size_t)K);
    float *C = malloc(sizeof(float) * (size_t)M * (size_t)N);
    float *C0 = malloc(sizeof(float) * (size_t)M * (size_t)N);
    float *panel =
      aligned_alloc(64, (cantus_panel_floats(K, N) * sizeof(float) + 63) & ~(size_t)63);
    for (int j = 0; j < M * K; j++) {
      A[j] = unif(&s);
    }
    for (int n = 0; n < N; n++) {
      for (int k = 0; k < K; k++) {
        Wnk[n * K + k] = Wkn[k * N + n] = unif(&s);
      }
    }
    for (int j = 0; j < M * N; j++) {
      C0[j] = unif(&s);
    }
    for (int order = 0; order < 2; order++) {
      if (order == 0) {
        cantus_panel_pack(panel, Wnk, K, K, N, true);
      } else {
        cantus_panel_pack(panel, Wkn, N, K, N, false);
      }
      for (int acc = 0; acc < 2; acc++) {
        memcpy(C, C0, sizeof(float) * (size_t)M * (size_t)N);
        cantus_panel_gemm(M, N, K, A, K, panel, C, N, acc);
        double worst = 0.0;
        for (int m = 0; m < M; m++) {
          for (int n = 0; n < N; n++) {
            double ref = acc ? (double)C0[m * N + n] : 0.0;
            for (int k = 0; k < K; k++) {
              ref += (double)A[m * K + k] * (double)Wnk[n * K + k];
            }
            double e = fabs((double)C[m * N + n] - ref) / (1.0 + fabs(ref));
            worst = e > worst ? e : worst;
          }
        }
        CHECK_MSG(
          worst <= 1e-5, "M %d N %d K %d order %d acc %d: off by %g", M, N, K, order, acc, worst);
      }
    }
    free(A);
    free(Wnk);
    free(Wkn);
    free(C);
    free(C0);
    free(panel);
  }
}

// ---- trainer forward == plugin step ---------------------------------------------------

TEST(train_forward_matches_plugin_step)
{
  CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, 7, CANTUS_WEIGHTS_F32);
  enum { B = 2, T = 40 };
  CantusLstmTrain *n = NULL;
  CantusError err;
  CHECK_EQ(cantus_lstm_train_new(&d, B, T, &n, &err), CANTUS_OK);
  CantusChunk *c = cantus_lstm_train_chunk(n);
  const int V = cantus_vocab_size(&d.vocab);
  // Row 0: one piece of style 1 throughout; row 1: style 2, a new piece
  // (START) at step 17 with style 0.
  uint32_t s = 12345;
  int tokens[2][T];
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      s = s * 1664525u + 1013904223u;
      int tok = 1 + (int)((s >> 8) % (uint32_t)(V - 1));
      if (t == 0 || (b == 1 && t == 17)) {
        tok = CANTUS_TOK_START;
      }
      tokens[b][t] = tok;
      size_t r = (size_t)t * B + (size_t)b;
      c->tok[r] = tok;
      c->tgt[r] = 2;
      c->style[r] = (int16_t)(b == 0 ? 1 : (t < 17 ? 2 : 0));
      c->pos_tick[r] = (uint8_t)((t * 5) % 12);
      c->pos_beat[r] = (uint8_t)((t / 3) % 8);
    }
  }
  cantus_lstm_train_reset(n);
  cantus_lstm_train_forward(n, &m->p, 0.0f, 0, NULL, NULL);
  const float *lg = cantus_lstm_train_logits(n);
  double worst = 0.0;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      size_t r = (size_t)t * B + (size_t)b;
      if (tokens[b][t] == CANTUS_TOK_START) {
        cantus_lstm_reset(&m->net, &m->state);
        cantus_lstm_set_style(
          &m->net, &m->state, m->p.style_emb + (size_t)c->style[r] * d.n_style_dim);
      }
      cantus_lstm_step(&m->net, &m->state, tokens[b][t], c->pos_tick[r], c->pos_beat[r], m->logits);
      double e = max_abs_diff(m->logits, lg + r * (size_t)V, (size_t)V, NULL);
      worst = e > worst ? e : worst;
    }
  }
  CHECK_MSG(worst <= 1e-5, "trainer and plugin logits differ by %g", worst);
  // A second chunk continues from the carried state.
  for (size_t r = 0; r < (size_t)B * T; r++) {
    c->tok[r] = 3 + (int)(r % 50);
    c->style[r] = (int16_t)(r % B == 0 ? 1 : 0);
  }
  cantus_lstm_train_forward(n, &m->p, 0.0f, 0, NULL, NULL);
  worst = 0.0;
  for (int t = 0; t < T; t++) {
    size_t r = (size_t)t * B + 1; // row 1, whose plugin state is current
    cantus_lstm_step(&m->net, &m->state, c->tok[r], c->pos_tick[r], c->pos_beat[r], m->logits);
    double e = max_abs_diff(m->logits, lg + r * (size_t)V, (size_t)V, NULL);
    worst = e > worst ? e : worst;
  }
  CHECK_MSG(worst <= 1e-5, "carried state: logits differ by %g", worst);
  cantus_lstm_train_free(n);
  cantus_model_free(m);
}

// ---- format version 2: form inputs ----------------------------------------------------

// Random version 2 inputs for a chunk: tokens, styles, positions, and form
// inputs over their whole ranges (lookback NONE = V included).
static void fill_chunk_v2(CantusChunk *c, const CantusDims *d, int B, int T, uint32_t seed)
{
  const int V = cantus_vocab_size(&d->vocab);
  uint32_t s = seed;
#define NEXT(n) ((s = s * 1664525u + 1013904223u), (int)((s >> 8) % (uint32_t)(n)))
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const size_t r = (size_t)t * (size_t)B + (size_t)b;
      c->tok[r] = t == 0 ? CANTUS_TOK_START : 1 + NEXT(V - 1);
      c->tgt[r] = 1 + NEXT(V - 1);
      c->style[r] = (int16_t)NEXT(d->n_styles);
      c->pos_tick[r] = (uint8_t)NEXT(d->n_pos_tick);
      c->pos_beat[r] = (uint8_t)NEXT(d->n_pos_beat);
      for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
        c->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i] = (uint16_t)NEXT(V + 1);
      }
      c->phrase[r] = (uint8_t)NEXT(CANTUS_PHRASE_BARS);
      c->bars_left[r] = (uint8_t)NEXT(CANTUS_BARS_LEFT_CLASSES);
      if (d->n_chord) {
        // Chords that hold for a few steps and change, no chord among them.
        c->chord[r] = t % 5 && t ? c->chord[r - (size_t)B] : NEXT(4) ? (uint16_t)NEXT(4096) : 0;
      }
    }
  }
#undef NEXT
}

static CantusDims small_dims_v2(void)
{
  CantusDims d = cantus_fixture_dims_tiny2();
  d.n_hidden = 16;
  d.n_embed = 4;
  d.n_style_dim = 3;
  d.vocab.pitch_lo = 60;
  d.vocab.pitch_hi = 64;
  d.vocab.n_shift = 6;
  d.vocab.n_dur = 5;
  return d;
}

static double chunk_loss_v2(CantusLstmTrain *n, const CantusDims *d, const CantusParams *p)
{
  fill_chunk_v2(cantus_lstm_train_chunk(n), d, 3, 12, 99);
  cantus_lstm_train_reset(n);
  int scored = 0;
  double s = cantus_lstm_train_forward(n, p, 0.0f, 0, NULL, &scored);
  return s / scored;
}

// The lookback embedding and layer 0's form columns (the chord columns
// too, with n_chord) get the gradient the loss has (central differences),
// and so do the other tensors.
static void check_v2_gradient(const CantusDims d)
{
  const size_t np = cantus_model_param_count(&d);
  float *params = malloc(np * sizeof(float)), *grads = calloc(np, sizeof(float));
  cantus_train_init_params(&d, 3, params);
  CantusParams p, g;
  cantus_model_layout(&d, params, &p);
  cantus_model_layout(&d, grads, &g);
  CantusLstmTrain *n = NULL;
  CantusError err;
  CHECK_EQ(cantus_lstm_train_new(&d, 3, 12, &n, &err), CANTUS_OK);
  chunk_loss_v2(n, &d, &p);
  cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
  const float eps = 2e-3f;
  const size_t lb0 = (size_t)(p.lb_emb - params), lb1 = lb0 + cantus_dims_lb_rows(&d) * d.n_embed;
  const size_t I0 = cantus_dims_input(&d, 0), c_form = cantus_dims_col_lookback(&d);
  const size_t w0 = (size_t)(p.layer[0].w_ih - params);
  int checked = 0, bad = 0, lb_nonzero = 0, form_cols = 0;
  for (size_t i = 0; i < np; i++) {
    const bool in_lb = i >= lb0 && i < lb1;
    const bool in_form = i >= w0 && i < w0 + 4 * d.n_hidden * I0 && (i - w0) % I0 >= c_form;
    // Every lb_emb weight and form column; every 13th other parameter.
    if (!in_lb && !in_form && i % 13) {
      continue;
    }
    float keep = params[i];
    params[i] = keep + eps;
    double lp = chunk_loss_v2(n, &d, &p);
    params[i] = keep - eps;
    double lm = chunk_loss_v2(n, &d, &p);
    params[i] = keep;
    double fd = (lp - lm) / (2.0 * (double)eps);
    double an = (double)grads[i];
    if (fabs(fd - an) > 2e-4 + 0.02 * fabs(fd)) {
      if (bad < 5) {
        printf("param %zu%s: finite difference %.6g, backward %.6g\n",
               i,
               in_lb     ? " (lb_emb)"
               : in_form ? " (form column)"
                         : "",
               fd,
               an);
      }
      bad++;
    }
    lb_nonzero += in_lb && fabs(an) > 1e-6;
    form_cols += in_form;
    checked++;
  }
  CHECK_EQ(bad, 0);
  CHECK(lb_nonzero > 50); // the check is not vacuous: lookups carry gradient
  CHECK_EQ(form_cols, (int)(4 * d.n_hidden * (I0 - c_form)));
  if (d.n_chord) {
    // Every chord column carries gradient (each pitch class and "none" occur).
    const size_t c0 = cantus_dims_col_chord(&d);
    for (size_t j = c0; j < I0; j++) {
      double col = 0;
      for (size_t r = 0; r < 4 * d.n_hidden; r++) {
        col += fabs((double)grads[w0 + r * I0 + j]);
      }
      CHECK_MSG(col > 1e-5, "chord column %zu has no gradient", j - c0);
    }
  }
  cantus_lstm_train_free(n);
  free(params);
  free(grads);
}

TEST(train_v2_gradient_finite_differences)
{
  check_v2_gradient(small_dims_v2());
}

TEST(train_chord_gradient_finite_differences)
{
  CantusDims d = small_dims_v2();
  d.n_chord = CANTUS_CHORD_INPUTS;
  check_v2_gradient(d);
}

TEST(train_v2_threads_match)
{
  // Two unit blocks (gate rows permuted) give the gradient one block gives,
  // the lookback tables and lb_emb included.
  const CantusDims d = small_dims_v2();
  const size_t np = cantus_model_param_count(&d);
  float *params = malloc(np * sizeof(float));
  float *grads[2] = { calloc(np, sizeof(float)), calloc(np, sizeof(float)) };
  cantus_train_init_params(&d, 4, params);
  CantusParams p, g;
  cantus_model_layout(&d, params, &p);
  double loss[2];
  for (int th = 0; th < 2; th++) {
    openblas_set_num_threads(th + 1);
    CantusLstmTrain *n = NULL;
    CantusError err;
    CHECK_EQ(cantus_lstm_train_new(&d, 3, 12, &n, &err), CANTUS_OK);
    cantus_model_layout(&d, grads[th], &g);
    loss[th] = chunk_loss_v2(n, &d, &p);
    cantus_lstm_train_backward(n, &p, &g, CANTUS_GRAD_ALL);
    cantus_lstm_train_free(n);
  }
  openblas_set_num_threads(1);
  CHECK_MSG(fabs(loss[0] - loss[1]) <= 1e-6, "loss %g vs %g", loss[0], loss[1]);
  const double dg = max_abs_diff(grads[1], grads[0], np, NULL);
  CHECK_MSG(dg <= 1e-6, "two threads vs one: gradient differs by %g", dg);
  free(params);
  free(grads[0]);
  free(grads[1]);
}

// The trainer's version 2 forward against cantus_lstm_step_form on the
// tiny v2 fixture (or the chord fixture, chords changing), form inputs and
// a START mid-chunk included.
static void check_v2_forward(CantusDims d)
{
  CantusModel *m = cantus_fixture_model(&d, 7, CANTUS_WEIGHTS_F32);
  enum { B = 2, T = 40 };
  CantusLstmTrain *n = NULL;
  CantusError err;
  CHECK_EQ(cantus_lstm_train_new(&d, B, T, &n, &err), CANTUS_OK);
  CantusChunk *c = cantus_lstm_train_chunk(n);
  const int V = cantus_vocab_size(&d.vocab);
  fill_chunk_v2(c, &d, B, T, 4242);
  c->tok[17 * B + 1] = CANTUS_TOK_START;
  for (int t = 0; t < T; t++) {
    c->style[t * B] = 1; // a style holds for a piece
    c->style[t * B + 1] = (int16_t)(t < 17 ? 2 : 0);
  }
  cantus_lstm_train_reset(n);
  cantus_lstm_train_forward(n, &m->p, 0.0f, 0, NULL, NULL);
  const float *lg = cantus_lstm_train_logits(n);
  double worst = 0.0, moved = 0.0;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const size_t r = (size_t)t * B + (size_t)b;
      if (c->tok[r] == CANTUS_TOK_START) {
        cantus_lstm_reset(&m->net, &m->state);
        cantus_lstm_set_style(
          &m->net, &m->state, m->p.style_emb + (size_t)c->style[r] * d.n_style_dim);
      }
      CantusLookbackFeatures f;
      for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
        f.look[i] = c->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i];
      }
      f.phrase_bar = c->phrase[r];
      f.bars_left = c->bars_left[r];
      f.chord = c->chord[r];
      cantus_lstm_step_form(
        &m->net, &m->state, c->tok[r], c->pos_tick[r], c->pos_beat[r], &f, m->logits);
      double e = max_abs_diff(m->logits, lg + r * (size_t)V, (size_t)V, NULL);
      worst = e > worst ? e : worst;
    }
  }
  CHECK_MSG(worst <= 1e-5, "trainer and plugin logits differ by %g", worst);
  // Without the form inputs the plugin's logits differ: the test sees them.
  cantus_lstm_reset(&m->net, &m->state);
  cantus_lstm_set_style(&m->net, &m->state, m->p.style_emb + 1 * d.n_style_dim);
  cantus_lstm_step_form(
    &m->net, &m->state, c->tok[0], c->pos_tick[0], c->pos_beat[0], NULL, m->logits);
  moved = max_abs_diff(m->logits, lg, (size_t)V, NULL);
  CHECK_MSG(moved > 1e-3, "form inputs change the logits by only %g", moved);
  cantus_lstm_train_free(n);
  cantus_model_free(m);
}

TEST(train_v2_forward_matches_plugin_step)
{
  check_v2_forward(cantus_fixture_dims_tiny2());
}

TEST(train_chord_forward_matches_plugin_step)
{
  check_v2_forward(cantus_fixture_dims_tinyc());
}

// ---- AdamW --------------------------------------------------------------------------

TEST(train_adamw_matches_closed_form)
{
  // One scalar tensor-free check of the first step: with bias correction
  // the first update is -lr * sign(g) (plus decay) for any gradient size.
  CantusDims d = cantus_fixture_dims_tiny();
  size_t np = cantus_model_param_count(&d);
  float *p = calloc(np, 4), *g = calloc(np, 4), *m = calloc(np, 4), *v = calloc(np, 4);
  CantusTensorSpan spans[3 + 3 * CANTUS_MAX_LAYERS + 2];
  int ns = cantus_adamw_spans(&d, CANTUS_GRAD_ALL, spans);
  size_t total = 0;
  for (int i = 0; i < ns; i++) {
    CHECK_EQ(spans[i].offset, total);
    total += spans[i].len;
  }
  CHECK_EQ(total, np);
  for (size_t i = 0; i < np; i++) {
    p[i] = 1.0f;
    g[i] = (i % 2) ? 3.0f : -0.001f;
  }
  CantusAdamW opt = {
    .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f
  };
  cantus_adamw_step(&opt, 0.01f, 1, 1.0f, p, g, m, v, spans, ns);
  // w_out is decayed, b_out is not.
  size_t wo = spans[ns - 2].offset, bo = spans[ns - 1].offset;
  CHECK_NEAR(p[wo + 1], 1.0 * (1.0 - 0.001) - 0.01, 1e-6);
  CHECK_NEAR(p[bo], 1.0 + 0.01, 1e-5);
  CHECK_NEAR(p[bo + 1], 1.0 - 0.01, 1e-6);
  // Frozen spans stay put.
  ns = cantus_adamw_spans(&d, CANTUS_GRAD_STYLE, spans);
  for (size_t i = 0; i < np; i++) {
    p[i] = 1.0f;
  }
  cantus_adamw_step(&opt, 0.01f, 1, 1.0f, p, g, m, v, spans, ns);
  CHECK(p[spans[0].offset] == 1.0f);
  CHECK(p[spans[1].offset] != 1.0f);
  CHECK(p[spans[ns - 1].offset] == 1.0f);
  free(p);
  free(g);
  free(m);
  free(v);
}

// ---- corpus: tokens, positions, snapping ---------------------------------------------

typedef struct {
  uint32_t on, off;
  uint8_t pitch, channel;
  uint16_t track;
} NoteSpec;

static CantusMidiFile *make_midi(const NoteSpec *ns,
                                 size_t n,
                                 uint8_t ts_num,
                                 uint8_t ts_den,
                                 uint16_t n_tracks)
{
  CantusMidiFile *m = NULL;
  CantusError err;
  if (cantus_midi_alloc(n, n_tracks, &m, &err) != CANTUS_OK) {
    return NULL;
  }
  m->tpq = 480;
  for (size_t i = 0; i < n; i++) {
    m->notes[i] = (CantusMidiNote){ .on_tick = ns[i].on,
                                    .off_tick = ns[i].off,
                                    .pitch = ns[i].pitch,
                                    .velocity = 80,
                                    .channel = ns[i].channel,
                                    .track = ns[i].track };
  }
  m->n_notes = n;
  if (ts_num) {
    m->timesigs[0] = (CantusMidiTimeSig){ 0, ts_num, ts_den };
    m->n_timesigs = 1;
  }
  return m;
}

TEST(train_corpus_token_order_and_positions)
{
  // 3/4 at 480 ticks per quarter onto a 12-tick grid (40 file ticks per grid tick).
  const NoteSpec ns[] = {
    { 0, 480, 60, 0, 1 },     // quarter
    { 0, 240, 64, 0, 1 },     // eighth, same onset: ONs ascending
    { 480, 970, 67, 0, 1 },   // offset 970 snaps to grid 24 (moved 0.25 tick)
    { 4320, 4800, 60, 0, 1 }, // after a gap of 84 ticks: SHIFT48 + SHIFT36
  };
  CantusMidiFile *mf = make_midi(ns, 4, 3, 4, 2);
  CantusCorpus c;
  memset(&c, 0, sizeof c);
  CantusCorpusOptions opt = cantus_corpus_options_default();
  c.vocab = opt.vocab;
  CantusPiece pc;
  memset(&pc, 0, sizeof pc);
  CantusError err;
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  const CantusVocab *v = &opt.vocab;
  const int want[][3] = {
    { CANTUS_TOK_START, 0, 0 },
    { cantus_vocab_note_on(v, 60), 0, 0 },
    { cantus_vocab_note_on(v, 64), 0, 0 },
    { cantus_vocab_shift(v, 6), 0, 0 },
    { cantus_vocab_note_off(v, 64), 6, 0 },
    { cantus_vocab_shift(v, 6), 6, 0 },
    { cantus_vocab_note_off(v, 60), 0, 1 }, // tick 12: OFF before ON
    { cantus_vocab_note_on(v, 67), 0, 1 },
    { cantus_vocab_shift(v, 12), 0, 1 },
    { cantus_vocab_note_off(v, 67), 0, 2 }, // tick 24
    { cantus_vocab_shift(v, 48), 0, 2 },
    { cantus_vocab_shift(v, 36), 0, 0 },   // tick 72 = bar 2
    { cantus_vocab_note_on(v, 60), 0, 0 }, // tick 108 = bar 3
    { cantus_vocab_shift(v, 12), 0, 0 },
    { cantus_vocab_note_off(v, 60), 0, 1 }, // tick 120
    { CANTUS_TOK_END, 0, 1 },
  };
  const int n_want = (int)(sizeof want / sizeof want[0]);
  CHECK_EQ(pc.n_tok, n_want);
  for (int i = 0; i < n_want && i < (int)pc.n_tok; i++) {
    char a[16], b[16];
    cantus_vocab_name(v, pc.tok[i], a, sizeof a);
    cantus_vocab_name(v, want[i][0], b, sizeof b);
    CHECK_MSG(pc.tok[i] == want[i][0] && pc.pos_tick[i] == want[i][1] &&
                pc.pos_beat[i] == want[i][2],
              "token %d: got %s@(%d,%d), want %s@(%d,%d)",
              i,
              a,
              pc.pos_tick[i],
              pc.pos_beat[i],
              b,
              want[i][1],
              want[i][2]);
  }
  CHECK_EQ(c.n_onsets, 4);
  CHECK_EQ(c.n_onsets_moved, 0);
  CHECK_EQ(c.n_offsets_moved, 1);
  CHECK_NEAR(c.offset_moved_max, 0.25, 1e-9);
  CHECK_EQ(pc.pitch_min, 60);
  CHECK_EQ(pc.pitch_max, 67);
  CHECK_EQ(pc.ts_num, 3);
  cantus_corpus_piece_free(&pc);
  cantus_midi_free(mf);
}

TEST(train_corpus_tracks_drums_range_overlaps)
{
  const NoteSpec ns[] = {
    { 0, 480, 72, 0, 1 },   // melody
    { 0, 960, 48, 1, 2 },   // bass (channel 2 in 1-based terms)
    { 0, 120, 36, 9, 3 },   // drum: skipped by default
    { 0, 480, 10, 0, 1 },   // below the pitch range: dropped
    { 240, 720, 72, 0, 1 }, // re-strike of 72 while sounding: the first is cut at 240
    { 240, 300, 48, 1, 2 }, // same pitch as the held bass, later: cuts it
    { 960, 961, 74, 0, 1 }, // shorter than a grid tick: lengthened to one tick
  };
  CantusMidiFile *mf = make_midi(ns, 7, 4, 4, 4);
  snprintf(mf->track_names[1], 64, "melody");
  snprintf(mf->track_names[2], 64, "bass");
  snprintf(mf->track_names[3], 64, "drums");
  CantusCorpusOptions opt = cantus_corpus_options_default();
  CantusCorpus c;
  memset(&c, 0, sizeof c);
  c.vocab = opt.vocab;
  CantusPiece pc;
  memset(&pc, 0, sizeof pc);
  CantusError err;
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  CHECK_EQ(c.n_drum_notes, 1);
  CHECK_EQ(c.n_out_of_range, 1);
  CHECK_EQ(c.n_merged, 2);
  CHECK_EQ(c.n_lengthened, 1);
  CHECK_EQ(pc.n_notes, 5);
  // The stream is valid: no ON of a sounding pitch, no OFF of a silent one.
  uint8_t on[128] = { 0 };
  for (uint32_t i = 1; i + 1 < pc.n_tok; i++) {
    int val;
    CantusEventKind k = cantus_vocab_decode(&opt.vocab, pc.tok[i], &val);
    if (k == CANTUS_EV_NOTE_ON) {
      CHECK(!on[val]);
      on[val] = 1;
    } else if (k == CANTUS_EV_NOTE_OFF) {
      CHECK(on[val]);
      on[val] = 0;
    }
  }
  for (int p = 0; p < 128; p++) {
    CHECK(!on[p]);
  }
  cantus_corpus_piece_free(&pc);
  // Only the melody track, by name and by channel; drums kept on request.
  memset(&c, 0, sizeof c);
  opt.tracks = "Melody";
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  CHECK_EQ(pc.n_notes, 3);
  CHECK_EQ(pc.pitch_min, 72);
  cantus_corpus_piece_free(&pc);
  opt.tracks = "ch2";
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  CHECK_EQ(pc.n_notes, 2);
  CHECK_EQ(pc.pitch_max, 48);
  cantus_corpus_piece_free(&pc);
  opt.tracks = "viola";
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_ERR_FORMAT);
  CHECK(strstr(err.msg, "kept tracks") != NULL);
  opt.tracks = NULL;
  opt.keep_drums = true;
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  CHECK_EQ(pc.n_notes, 6);
  cantus_corpus_piece_free(&pc);
  cantus_midi_free(mf);
}

TEST(train_corpus_time_signature_changes)
{
  // 4/4 for one bar (48 ticks), then 6/8 (36 ticks per bar) from tick 48.
  uint32_t ts_tick[2] = { 0, 48 }, ts_bar[2] = { 48, 36 };
  CHECK_EQ(cantus_corpus_tick_in_bar(ts_tick, ts_bar, 2, 0), 0);
  CHECK_EQ(cantus_corpus_tick_in_bar(ts_tick, ts_bar, 2, 47), 47);
  CHECK_EQ(cantus_corpus_tick_in_bar(ts_tick, ts_bar, 2, 48), 0);
  CHECK_EQ(cantus_corpus_tick_in_bar(ts_tick, ts_bar, 2, 48 + 36 + 5), 5);
  // A file without a time signature is 4/4 from tick 0; a first signature
  // after tick 0 has 4/4 before it.
  const NoteSpec ns[] = { { 0, 480, 60, 0, 0 }, { 480 * 5, 480 * 6, 62, 0, 0 } };
  CantusMidiFile *mf = make_midi(ns, 2, 0, 0, 1);
  CantusCorpusOptions opt = cantus_corpus_options_default();
  CantusCorpus c;
  memset(&c, 0, sizeof c);
  CantusPiece pc;
  memset(&pc, 0, sizeof pc);
  CantusError err;
  CHECK_EQ(cantus_corpus_tokenize(&c, mf, &opt, &pc, &err), CANTUS_OK);
  // ON62 sits at tick 60: beat 1 of bar 2 in 4/4.
  int at = -1;
  for (uint32_t i = 0; i < pc.n_tok; i++) {
    if (pc.tok[i] == cantus_vocab_note_on(&opt.vocab, 62)) {
      at = (int)i;
    }
  }
  CHECK(at > 0);
  if (at > 0) {
    CHECK_EQ(pc.pos_beat[at], 1);
    CHECK_EQ(pc.pos_tick[at], 0);
  }
  cantus_corpus_piece_free(&pc);
  cantus_midi_free(mf);
}

// ---- n-gram ---------------------------------------------------------------------------

TEST(train_ngram_normalised_and_learns)
{
  const int V = 12;
  CantusNgram *ng = NULL;
  CantusError err;
  CHECK_EQ(cantus_ngram_new(4, V, &ng, &err), CANTUS_OK);
  // A repeating pattern 2 3 4 5 2 3 4 5 ... and some noise.
  uint16_t seq[200];
  seq[0] = 0;
  for (int i = 1; i < 200; i++) {
    seq[i] = (uint16_t)(2 + (i - 1) % 4);
  }
  uint16_t noise[50];
  noise[0] = 0;
  for (int i = 1; i < 50; i++) {
    noise[i] = (uint16_t)(1 + (i * 7) % (V - 1));
  }
  cantus_ngram_add(ng, seq, 200);
  cantus_ngram_add(ng, noise, 50);
  cantus_ngram_finish(ng);
  for (int order = 1; order <= 4; order++) {
    // sum over w of p(w | 0 2 3) = 1
    uint16_t ctx[5] = { 0, 2, 3, 4, 0 };
    uint64_t n0, n1;
    double base = cantus_ngram_nll(ng, order, ctx, 4, &n0);
    double total = 0.0;
    for (int w = 0; w < V; w++) {
      ctx[4] = (uint16_t)w;
      double l = cantus_ngram_nll(ng, order, ctx, 5, &n1);
      total += exp(-(l - base));
    }
    CHECK_NEAR(total, 1.0, 1e-9);
    CHECK_EQ(n0, 3);
    CHECK_EQ(n1, 4);
  }
  // The pattern is predictable at order 4, not at order 1.
  uint64_t n;
  double l1 = cantus_ngram_nll(ng, 1, seq, 100, &n) / (double)n;
  double l4 = cantus_ngram_nll(ng, 4, seq, 100, &n) / (double)n;
  CHECK(l1 > 1.0);
  CHECK(l4 < 0.2);
  cantus_ngram_free(ng);
}

// ---- synthetic corpora on disk ---------------------------------------------------------

static void make_dir(const char *path)
{
  mkdir(path, 0755);
}

// A piece of `bars` bars: a scale walking up (dir > 0) or down from `start`,
// notes of `len` file ticks (480 per quarter) in num/4.
static bool write_piece(const char *path, int start, int dir, int len, int bars, int num)
{
  int n = bars * num * 480 / len;
  CantusMidiFile *m = NULL;
  CantusError err;
  if (cantus_midi_alloc((size_t)n, 2, &m, &err) != CANTUS_OK) {
    return false;
  }
  static const int scale[7] = { 0, 2, 4, 5, 7, 9, 11 };
  for (int i = 0; i < n; i++) {
    int deg = dir > 0 ? i % 7 : 6 - i % 7;
    int pitch = start + scale[deg];
    m->notes[i] = (CantusMidiNote){ .on_tick = (uint32_t)(i * len),
                                    .off_tick = (uint32_t)(i * len + len),
                                    .pitch = (uint8_t)pitch,
                                    .velocity = 80,
                                    .channel = 0,
                                    .track = 1 };
  }
  m->n_notes = (size_t)n;
  m->timesigs[0] = (CantusMidiTimeSig){ 0, (uint8_t)num, 4 };
  m->n_timesigs = 1;
  bool ok = cantus_midi_write(path, m, &err) == CANTUS_OK;
  if (!ok) {
    printf("write %s: %s\n", path, err.msg);
  }
  cantus_midi_free(m);
  return ok;
}

// Two styles ("up" in 4/4 eighths, "down" in 3/4 quarters), n pieces each.
static bool make_corpus(char *dir, size_t n_dir, int n)
{
  snprintf(dir, n_dir, "/tmp/cantus-train-test-XXXXXX");
  if (!mkdtemp(dir)) {
    return false;
  }
  char p[512];
  snprintf(p, sizeof p, "%s/up", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/down", dir);
  make_dir(p);
  bool ok = true;
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/up/u%02d.mid", dir, i);
    ok = ok && write_piece(p, 55 + i % 5, 1, 240, 4, 4);
    snprintf(p, sizeof p, "%s/down/d%02d.mid", dir, i);
    ok = ok && write_piece(p, 62 - i % 4, -1, 480, 4, 3);
  }
  return ok;
}

static void remove_tree(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) {
    printf("could not remove %s\n", dir);
  }
}

static CantusTrainConfig tiny_config(const char *const *dirs, const char *out)
{
  CantusTrainConfig cfg = cantus_train_config_default();
  cfg.corpus_dirs = dirs;
  cfg.n_corpus_dirs = 1;
  cfg.out_path = out;
  cfg.corpus.vocab.pitch_lo = 40;
  cfg.corpus.vocab.pitch_hi = 90;
  cfg.corpus.quiet = true;
  cfg.dims.n_layers = 2;
  cfg.dims.n_hidden = 32;
  cfg.dims.n_embed = 8;
  cfg.dims.n_style_dim = 4;
  cfg.batch = 4;
  cfg.bptt = 16;
  cfg.epochs = 40;
  cfg.lr = 1e-2f;
  cfg.warmup_steps = 10;
  cfg.dropout = 0.1f;
  cfg.patience = 0;
  cfg.transpose_lo = -2;
  cfg.transpose_hi = 2;
  cfg.threads = 1;
  cfg.seed = 5;
  cfg.command_line = "test";
  cfg.argv_packed = "test";
  cfg.log = NULL;
  return cfg;
}

static float *model_params(const char *path, size_t *n)
{
  CantusModel *m = NULL;
  CantusError err;
  CantusModelOptions mo = cantus_model_options_default();
  if (cantus_model_load(path, &mo, &m, &err) != CANTUS_OK) {
    printf("%s\n", err.msg);
    return NULL;
  }
  *n = cantus_model_param_count(&m->dims);
  float *p = malloc(*n * sizeof *p);
  memcpy(p, m->p.tok_emb, *n * sizeof *p);
  cantus_model_free(m);
  return p;
}

TEST(train_short_run_learns_deterministically)
{
  char dir[256], out1[300], out2[300];
  CHECK(make_corpus(dir, sizeof dir, 8));
  const char *dirs[1] = { dir };
  snprintf(out1, sizeof out1, "%s/a.cantus", dir);
  snprintf(out2, sizeof out2, "%s/b.cantus", dir);
  CantusTrainConfig cfg = tiny_config(dirs, out1);
  CantusTrainResult r1, r2;
  CantusError err;
  err.msg[0] = 0;
  CHECK_EQ(cantus_train_run(&cfg, &r1, &err), CANTUS_OK);
  CHECK_EQ(r1.epochs_done, 40);
  CHECK_EQ(r1.n_styles, 2);
  // Scales: the context decides nearly every token.  A unigram model of
  // these streams scores about 2.8 nats and the untrained network 5.0.
  CHECK_MSG(r1.best_valid < 1.5, "validation loss %g", r1.best_valid);
  cfg.out_path = out2;
  CHECK_EQ(cantus_train_run(&cfg, &r2, &err), CANTUS_OK);
  CHECK(r1.best_valid == r2.best_valid);
  size_t n1 = 0, n2 = 0;
  float *p1 = model_params(out1, &n1), *p2 = model_params(out2, &n2);
  CHECK(p1 && p2 && n1 == n2 && memcmp(p1, p2, n1 * sizeof *p1) == 0);
  // The model carries its metadata and style names.
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CHECK_EQ(cantus_model_load(out1, &mo, &m, &err), CANTUS_OK);
  if (m) {
    CHECK(cantus_model_find_style(m, "up") >= 0 && cantus_model_find_style(m, "down") >= 0);
    CHECK(strstr(m->meta, "valid_loss.up: ") != NULL);
    CHECK(strstr(m->meta, "metre.down: 3/4") != NULL);
    CHECK(strstr(m->meta, "command: test") != NULL);
    cantus_model_free(m);
  }
  // CSV (one line per epoch) and SVG exist.
  char path[400];
  snprintf(path, sizeof path, "%s/a.csv", dir);
  FILE *f = fopen(path, "r");
  int lines = 0;
  char line[1024];
  while (f && fgets(line, sizeof line, f)) {
    lines++;
  }
  if (f) {
    fclose(f);
  }
  CHECK_EQ(lines, 41);
  snprintf(path, sizeof path, "%s/a.svg", dir);
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_size > 500);
  free(p1);
  free(p2);
  remove_tree(dir);
}

TEST(train_resume_is_bit_exact)
{
  char dir[256], outa[300], outb[300], ckpt[300];
  CHECK(make_corpus(dir, sizeof dir, 6));
  const char *dirs[1] = { dir };
  snprintf(outa, sizeof outa, "%s/a.cantus", dir);
  snprintf(outb, sizeof outb, "%s/b.cantus", dir);
  snprintf(ckpt, sizeof ckpt, "%s/b.ckpt", dir);
  CantusTrainConfig cfg = tiny_config(dirs, outa);
  cfg.epochs = 4;
  cfg.max_steps = 45; // crosses epoch boundaries, stops mid-epoch
  CantusTrainResult r;
  CantusError err;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.steps, 45);
  // The same run cut in two: 17 steps, then resumed for 28.
  cfg.out_path = outb;
  cfg.max_steps = 17;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.steps, 17);
  cfg.max_steps = 28;
  cfg.resume_path = ckpt;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.steps, 45);
  size_t na = 0, nb = 0;
  float *pa = model_params(outa, &na), *pb = model_params(outb, &nb);
  CHECK(pa && pb && na == nb && memcmp(pa, pb, na * sizeof *pa) == 0);
  // A checkpoint of another configuration is refused with a reason.
  cfg.seed = 6;
  cfg.max_steps = 1;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_ERR_FORMAT);
  CHECK(strstr(err.msg, "seed") != NULL);
  // The interrupt flag stops a run with a checkpoint and no crash.
  cfg = tiny_config(dirs, outb);
  cantus_train_interrupt = 1;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK(r.interrupted);
  CHECK_EQ(r.steps, 1);
  cantus_train_interrupt = 0;
  free(pa);
  free(pb);
  remove_tree(dir);
}

// The tiny configuration with the version 2 vocabulary (the parts come
// from the corpus: its one unnamed track is "track1").
static CantusTrainConfig tiny_config_v2(const char *const *dirs, const char *out)
{
  CantusTrainConfig cfg = tiny_config(dirs, out);
  cfg.corpus.vocab.n_dur = (uint16_t)cantus_vocab_dur_rule_len(cfg.corpus.vocab.tpq);
  cfg.corpus.vocab.n_parts = 1;
  return cfg;
}

TEST(train_v2_short_run_learns_and_records_form)
{
  char dir[256], out[300];
  CHECK(make_corpus(dir, sizeof dir, 8));
  const char *dirs[1] = { dir };
  snprintf(out, sizeof out, "%s/v2.cantus", dir);
  CantusTrainConfig cfg = tiny_config_v2(dirs, out);
  cfg.epochs = 30;
  CantusTrainResult r;
  CantusError err;
  err.msg[0] = 0;
  CHECK_MSG(cantus_train_run(&cfg, &r, &err) == CANTUS_OK, "%s", err.msg);
  // The untrained network scores about log V = 5.2 nats; scales with their
  // durations are nearly all context.
  CHECK_MSG(r.best_valid < 1.5, "validation loss %g", r.best_valid);
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CHECK_EQ(cantus_model_load(out, &mo, &m, &err), CANTUS_OK);
  if (m) {
    CHECK_EQ(m->version, 2);
    CHECK(cantus_dims_is_v2(&m->dims));
    CHECK_EQ(m->dims.vocab.n_parts, 1);
    CHECK(!strcmp(m->part_names[0], "track1"));
    CHECK_EQ(m->dims.lookback_lags, 0xf);
    CHECK_EQ(m->dims.n_phrase, 16);
    CHECK_EQ(m->dims.n_bars_left, 18);
    char v[64];
    CHECK(cantus_model_meta_get(m, "meter", v, sizeof v) && !strcmp(v, "down=3/4,up=4/4"));
    CHECK(strstr(m->meta, "parts: track1\n") != NULL);
    cantus_model_free(m);
  }
  remove_tree(dir);
}

TEST(train_v2_resume_is_bit_exact)
{
  char dir[256], outa[300], outb[300], ckpt[300];
  CHECK(make_corpus(dir, sizeof dir, 6));
  const char *dirs[1] = { dir };
  snprintf(outa, sizeof outa, "%s/a.cantus", dir);
  snprintf(outb, sizeof outb, "%s/b.cantus", dir);
  snprintf(ckpt, sizeof ckpt, "%s/b.ckpt", dir);
  CantusTrainConfig cfg = tiny_config_v2(dirs, outa);
  cfg.epochs = 4;
  cfg.max_steps = 45; // crosses epoch boundaries (new end dropout draws), stops mid-epoch
  CantusTrainResult r;
  CantusError err;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.steps, 45);
  cfg.out_path = outb;
  cfg.max_steps = 17;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  cfg.max_steps = 28;
  cfg.resume_path = ckpt;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.steps, 45);
  size_t na = 0, nb = 0;
  float *pa = model_params(outa, &na), *pb = model_params(outb, &nb);
  CHECK(pa && pb && na == nb && memcmp(pa, pb, na * sizeof *pa) == 0);
  // The end dropout changes what is learnt (it is applied at all).
  cfg = tiny_config_v2(dirs, outb);
  cfg.epochs = 4;
  cfg.max_steps = 45;
  cfg.end_dropout = 0.0f;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  float *pc = model_params(outb, &nb);
  CHECK(pa && pc && na == nb && memcmp(pa, pc, na * sizeof *pa) != 0);
  free(pa);
  free(pb);
  free(pc);
  remove_tree(dir);
}

TEST(train_v2_corpus_form_and_transposition)
{
  // A version 2 corpus carries the form inputs of cantus_lookback_batch;
  // a transposed item moves NOTE tokens and the lookback tokens by the same
  // interval (DUR, SHIFT and NONE stay), and end dropout hides bars left.
  char dir[256];
  CHECK(make_corpus(dir, sizeof dir, 3));
  const char *dirs[1] = { dir };
  CantusTrainConfig cfg = tiny_config_v2(dirs, "unused");
  CantusCorpus c;
  CantusError err;
  CHECK_EQ(cantus_corpus_load(&c, dirs, 1, &cfg.corpus, NULL, &err), CANTUS_OK);
  CHECK_EQ(c.vocab.n_parts, 1);
  CHECK(!strcmp(c.part_names[0], "track1"));
  const CantusVocab *v = &c.vocab;
  const int V = cantus_vocab_size(v);
  const CantusPiece *pc = &c.pieces[0];
  CHECK(pc->form != NULL);
  // The stored features are the batch function's.
  const uint32_t tick0[1] = { 0 }, bar[1] = { (uint32_t)(pc->ts_num * v->tpq) };
  const CantusBarMap map = { tick0, bar, 1 };
  int64_t first = 0, last = 0;
  cantus_lookback_piece_bars(pc->tok, pc->n_tok, v, &map, &first, &last);
  CantusLookbackFeatures *f = malloc(pc->n_tok * sizeof *f);
  CHECK_EQ(cantus_lookback_batch(pc->tok, pc->n_tok, v, &map, first, last, f, &err), CANTUS_OK);
  CHECK(!memcmp(f, pc->form, pc->n_tok * sizeof *f));
  free(f);
  // Bar 0's lookback is NONE; later bars of a scale look back at notes.
  int n_note_looks = 0;
  for (uint32_t i = 0; i < pc->n_tok; i++) {
    n_note_looks += pc->form[i].look[0] < V &&
                    cantus_vocab_decode(v, pc->form[i].look[0], &(int){ 0 }) == CANTUS_EV_NOTE;
  }
  CHECK(pc->form[0].look[0] == V && n_note_looks > 4);
  CHECK_EQ(pc->form[0].bars_left, 3); // 4 bars, last note in bar 3
  Item items[2] = { { 0, 2, false, false, 0 }, { 0, 2, true, false, 0 } };
  Plan pl;
  enum { T = 64 };
  CHECK(train_plan_build(&pl, &c, items, 2, 2, T));
  CantusLstmTrain *n = NULL;
  CHECK_EQ(cantus_lstm_train_new(&cfg.dims, 2, T, &n, &err), CANTUS_OK);
  // cfg.dims carries the v1 vocabulary; the chunk buffers are what matter.
  CantusChunk *ch = cantus_lstm_train_chunk(n);
  train_plan_fill(&pl, &c, ch, T, 0.0f);
  int moved = 0, bad = 0;
  for (int t = 0; t < T && t < (int)pc->n_tok; t++) {
    for (int b = 0; b < 2; b++) {
      const size_t r = (size_t)t * 2 + (size_t)b;
      bad += ch->tok[r] != cantus_vocab_transpose(v, pc->tok[t], 2);
      for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
        const int orig = pc->form[t].look[i],
                  got = ch->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i];
        const int want = orig == V ? V : cantus_vocab_transpose(v, orig, 2);
        bad += got != want;
        int p0 = 0, p1 = 0;
        if (orig < V && cantus_vocab_decode(v, orig, &p0) == CANTUS_EV_NOTE) {
          cantus_vocab_decode(v, got, &p1);
          moved += p1 == p0 + 2;
        }
        if (orig < V && cantus_vocab_decode(v, orig, &p0) == CANTUS_EV_DUR) {
          bad += got != orig;
        }
      }
      bad += ch->phrase[r] != pc->form[t].phrase_bar;
      bad += ch->bars_left[r] != (b == 1 ? CANTUS_BARS_LEFT_UNKNOWN : pc->form[t].bars_left);
    }
  }
  CHECK_EQ(bad, 0);
  CHECK(moved > 4);
  // Over an epoch about 30 % of the pieces get end dropout.
  cfg.end_dropout = 0.3f;
  int n_order = 0, n_no_end = 0, total = 0;
  for (int e = 0; e < 50; e++) {
    Item *o = train_epoch_order(&c, &cfg, e, &n_order);
    for (int i = 0; i < n_order; i++) {
      n_no_end += o[i].no_end;
      total++;
    }
    free(o);
  }
  CHECK_MSG(n_no_end > total / 5 && n_no_end < total * 2 / 5, "%d of %d", n_no_end, total);
  cantus_lstm_train_free(n);
  train_plan_free(&pl);
  cantus_corpus_free(&c);
  remove_tree(dir);
}

TEST(train_hostile_corpus)
{
  char dir[256], p[512];
  CHECK(make_corpus(dir, sizeof dir, 3));
  // empty style folder; a style of unreadable files; a style with one
  // piece; a style whose one piece is shorter than a BPTT chunk; a stray
  // non-MIDI file.
  snprintf(p, sizeof p, "%s/empty", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/broken", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/broken/garbage.mid", dir);
  FILE *f = fopen(p, "wb");
  if (f) {
    fputs("MThd this is not really MIDI at all", f);
    fclose(f);
  }
  snprintf(p, sizeof p, "%s/broken/zero.mid", dir);
  f = fopen(p, "wb");
  if (f) {
    fclose(f);
  }
  snprintf(p, sizeof p, "%s/one", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/one/only.mid", dir);
  CHECK(write_piece(p, 60, 1, 480, 2, 4));
  snprintf(p, sizeof p, "%s/tiny", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/tiny/short.mid", dir);
  CHECK(write_piece(p, 60, 1, 1920, 1, 4)); // one note: 5 tokens
  snprintf(p, sizeof p, "%s/up/notes.txt", dir);
  f = fopen(p, "w");
  if (f) {
    fputs("not a piece\n", f);
    fclose(f);
  }
  char *logbuf = NULL;
  size_t logsize = 0;
  FILE *log = open_memstream(&logbuf, &logsize);
  const char *dirs[1] = { dir };
  CantusCorpusOptions opt = cantus_corpus_options_default();
  CantusCorpus c;
  CantusError err;
  err.msg[0] = 0;
  CHECK_EQ(cantus_corpus_load(&c, dirs, 1, &opt, log, &err), CANTUS_OK);
  fflush(log);
  CHECK_EQ(c.n_styles, 4); // broken and empty are left out
  CHECK(cantus_corpus_find_style(&c, "broken") < 0);
  CHECK(cantus_corpus_find_style(&c, "empty") < 0);
  CHECK_EQ(c.n_unreadable, 2);
  CHECK(logbuf && strstr(logbuf, "garbage.mid") != NULL);
  CHECK(logbuf && strstr(logbuf, "zero.mid") != NULL);
  CHECK(logbuf && strstr(logbuf, "'broken' has no usable pieces") != NULL);
  CHECK(logbuf && strstr(logbuf, "'empty' has no usable pieces") != NULL);
  int one = cantus_corpus_find_style(&c, "one");
  CHECK(one >= 0 && c.styles[one].n_pieces[CANTUS_SPLIT_TRAIN] == 1);
  cantus_corpus_free(&c);
  // Training on it works (short pieces, one-piece styles).
  snprintf(p, sizeof p, "%s/m.cantus", dir);
  CantusTrainConfig cfg = tiny_config(dirs, p);
  cfg.epochs = 2;
  cfg.log = log;
  CantusTrainResult r;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  CHECK_EQ(r.n_styles, 4);
  CHECK(isfinite(r.best_valid));
  // Nothing usable, and a missing folder: one clear error each.
  snprintf(p, sizeof p, "%s/broken", dir);
  const char *bad[1] = { p };
  CHECK_EQ(cantus_corpus_load(&c, bad, 1, &opt, log, &err), CANTUS_ERR_FORMAT);
  CHECK(strstr(err.msg, "no usable MIDI files") != NULL);
  const char *missing[1] = { "/nonexistent/corpus" };
  CHECK_EQ(cantus_corpus_load(&c, missing, 1, &opt, log, &err), CANTUS_ERR_IO);
  CHECK(strstr(err.msg, "/nonexistent/corpus") != NULL);
  // A style filter that matches nothing.
  opt.styles = "polka";
  CHECK_EQ(cantus_corpus_load(&c, dirs, 1, &opt, log, &err), CANTUS_ERR_FORMAT);
  fclose(log);
  free(logbuf);
  remove_tree(dir);
}

// Counts the pieces of a split in a loaded corpus.
static int count_split(const CantusCorpus *c, int split)
{
  int n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].split == split;
  }
  return n;
}

// A flat folder of n pieces named f00.mid.. (no split.tsv), in dir/name.
static bool make_flat(char *dir, size_t n_dir, const char *name, int n)
{
  snprintf(dir, n_dir, "/tmp/cantus-train-flat-XXXXXX");
  if (!mkdtemp(dir)) {
    return false;
  }
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  make_dir(p);
  bool ok = true;
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s/f%02d.mid", dir, name, i);
    ok = ok && write_piece(p, 55 + i % 5, 1, 240, 4, 4);
  }
  return ok;
}

TEST(train_corpus_flat_folder_and_files_beside_styles)
{
  char dir[256], p[512];
  CHECK(make_flat(dir, sizeof dir, "mine", 6));
  snprintf(p, sizeof p, "%s/mine", dir);
  const char *flat[1] = { p };
  CantusCorpusOptions opt = cantus_corpus_options_default();
  opt.quiet = true;
  CantusCorpus c;
  CantusError err;
  err.msg[0] = 0;
  // A flat folder of .mid files is one style named after the folder.
  CHECK_EQ(cantus_corpus_load(&c, flat, 1, &opt, NULL, &err), CANTUS_OK);
  CHECK_EQ(c.n_styles, 1);
  CHECK_EQ(c.n_pieces, 6);
  CHECK(cantus_corpus_find_style(&c, "mine") == 0);
  cantus_corpus_free(&c);
  // Files beside a style sub-folder are not dropped: they are the folder's
  // own style.
  snprintf(p, sizeof p, "%s/mine/jigs", dir);
  make_dir(p);
  snprintf(p, sizeof p, "%s/mine/jigs/j.mid", dir);
  CHECK(write_piece(p, 60, -1, 480, 4, 3));
  snprintf(p, sizeof p, "%s/mine", dir);
  CHECK_EQ(cantus_corpus_load(&c, flat, 1, &opt, NULL, &err), CANTUS_OK);
  CHECK_EQ(c.n_styles, 2);
  CHECK_EQ(c.n_pieces, 7);
  CHECK(cantus_corpus_find_style(&c, "mine") >= 0 && cantus_corpus_find_style(&c, "jigs") >= 0);
  cantus_corpus_free(&c);
  // An empty folder says what it expects, both layouts.
  snprintf(p, sizeof p, "%s/none", dir);
  make_dir(p);
  const char *none[1] = { p };
  CHECK_EQ(cantus_corpus_load(&c, none, 1, &opt, NULL, &err), CANTUS_ERR_FORMAT);
  CHECK(strstr(err.msg, "no usable MIDI files") != NULL);
  CHECK_MSG(strstr(err.msg, "in the folder itself") && strstr(err.msg, "FOLDER/STYLE/*.mid"),
            "%s",
            err.msg);
  remove_tree(dir);
}

TEST(train_validation_never_on_one_piece)
{
  // Flat folders of 5..16 pieces with the file-name split: validation
  // gets at least two pieces whenever three training pieces remain, and
  // from 8 pieces on here always.
  int n_short = 0;
  for (int n = 5; n <= 16; n++) {
    char dir[256], p[512];
    CHECK(make_flat(dir, sizeof dir, "few", n));
    snprintf(p, sizeof p, "%s/few", dir);
    const char *dirs[1] = { p };
    CantusCorpusOptions opt = cantus_corpus_options_default();
    opt.quiet = true;
    CantusCorpus c;
    CantusError err;
    CHECK_EQ(cantus_corpus_load(&c, dirs, 1, &opt, NULL, &err), CANTUS_OK);
    const int nv = count_split(&c, CANTUS_SPLIT_VALID), nt = count_split(&c, CANTUS_SPLIT_TRAIN);
    const bool could = nt + nv - CANTUS_MIN_VALID_PIECES >= CANTUS_MIN_TRAIN_PIECES;
    CHECK_MSG(nv >= CANTUS_MIN_VALID_PIECES || !could, "%d pieces: %d valid", n, nv);
    CHECK_MSG(nv >= CANTUS_MIN_VALID_PIECES || n < 8, "%d pieces: %d valid", n, nv);
    CHECK_MSG(nt >= CANTUS_MIN_TRAIN_PIECES, "%d pieces: %d train", n, nt);
    n_short += nv < CANTUS_MIN_VALID_PIECES;
    CHECK_EQ(c.styles[0].n_pieces[CANTUS_SPLIT_VALID], nv);
    cantus_corpus_free(&c);
    remove_tree(dir);
  }
  CHECK(n_short <= 3);
  // Three pieces cannot spare two: validation is off, the run says so and
  // gives no baseline; with a split.tsv naming one validation piece too.
  char dir[256], p[512];
  CHECK(make_flat(dir, sizeof dir, "three", 3));
  snprintf(p, sizeof p, "%s/three", dir);
  const char *dirs[1] = { p };
  char out[400];
  snprintf(out, sizeof out, "%s/m.cantus", dir);
  CantusTrainConfig cfg = tiny_config(dirs, out);
  cfg.epochs = 1;
  char *logbuf = NULL;
  size_t logsize = 0;
  cfg.log = open_memstream(&logbuf, &logsize);
  CantusTrainResult r;
  CantusError err;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  fflush(cfg.log);
  CHECK(r.validation_off);
  CHECK(isnan(r.ngram_valid));
  CHECK(logbuf && strstr(logbuf, "validation: off") != NULL);
  CHECK(logbuf && strstr(logbuf, "verdict: none; validation was off") != NULL);
  fclose(cfg.log);
  free(logbuf);
  char tsv[512];
  snprintf(tsv, sizeof tsv, "%s/three/split.tsv", dir);
  FILE *f = fopen(tsv, "w");
  if (f) {
    fputs("f00.mid\tthree\ttrain\nf01.mid\tthree\ttrain\nf02.mid\tthree\tvalid\n", f);
    fclose(f);
  }
  cfg.log = NULL;
  CHECK_MSG(cantus_train_run(&cfg, &r, &err) == CANTUS_OK, "%s", err.msg);
  CHECK(r.validation_off);
  remove_tree(dir);
}

TEST(train_outputs_checked_before_training)
{
  char dir[256], out[400];
  CHECK(make_corpus(dir, sizeof dir, 3));
  const char *dirs[1] = { dir };
  CantusTrainResult r;
  CantusError err;
  err.msg[0] = 0;
  char *logbuf = NULL;
  size_t logsize = 0;
  FILE *log = open_memstream(&logbuf, &logsize);
  // A missing folder: refused before the corpus is read (no table logged).
  snprintf(out, sizeof out, "%s/missing/m.cantus", dir);
  CantusTrainConfig cfg = tiny_config(dirs, out);
  cfg.log = log;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_ERR_IO);
  CHECK_MSG(strstr(err.msg, "does not exist") && strstr(err.msg, "mkdir -p"), "%s", err.msg);
  fflush(log);
  CHECK(logsize == 0 || strstr(logbuf, "style") == NULL);
  // The --log prefix's folder too.
  snprintf(out, sizeof out, "%s/m.cantus", dir);
  cfg.out_path = out;
  cfg.log_prefix = "/nonexistent-cantus-dir/run1";
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_ERR_IO);
  CHECK(strstr(err.msg, "--log") && strstr(err.msg, "/nonexistent-cantus-dir"));
  // A folder given as the output, and a MIDI name.
  cfg.log_prefix = NULL;
  cfg.out_path = dir;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_ERR_ARGUMENT);
  CHECK(strstr(err.msg, "is a folder") != NULL);
  snprintf(out, sizeof out, "%s/m.mid", dir);
  cfg.out_path = out;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_ERR_ARGUMENT);
  CHECK(strstr(err.msg, "not MIDI") != NULL);
  struct stat st;
  CHECK(stat(out, &st) != 0);
  fclose(log);
  free(logbuf);
  remove_tree(dir);
}

TEST(train_advice_baseline_and_verdict)
{
  char dir[256], out[400];
  CHECK(make_corpus(dir, sizeof dir, 8));
  const char *dirs[1] = { dir };
  snprintf(out, sizeof out, "%s/m.cantus", dir);
  CantusTrainConfig cfg = tiny_config(dirs, out);
  char *logbuf = NULL;
  size_t logsize = 0;
  cfg.log = open_memstream(&logbuf, &logsize);
  CantusTrainResult r;
  CantusError err;
  // Two steps: far from the baseline, and the log says so in words.
  cfg.max_steps = 2;
  CHECK_EQ(cantus_train_run(&cfg, &r, &err), CANTUS_OK);
  fflush(cfg.log);
  CHECK(!r.validation_off && isfinite(r.ngram_valid) && r.ngram_valid > 0);
  CHECK(r.best_valid > r.ngram_valid);
  CHECK(logbuf && strstr(logbuf, "advice: ") && strstr(logbuf, "--add-style"));
  CHECK(logbuf && strstr(logbuf, "baseline: a simple note-statistics model") != NULL);
  CHECK(logbuf && strstr(logbuf, "verdict: WORSE than a simple note-statistics model") != NULL);
  // (Scales are too easy for an n-gram to lose on; t_train.sh checks the
  // "better" verdict on real music.)  An --add-style run gets no advice.
  fclose(cfg.log);
  free(logbuf);
  logbuf = NULL;
  cfg.log = open_memstream(&logbuf, &logsize);
  char out2[400];
  snprintf(out2, sizeof out2, "%s/added.cantus", dir);
  cfg.base_path = out;
  cfg.add_style = "extra";
  cfg.out_path = out2;
  cfg.max_steps = 1;
  CHECK_MSG(cantus_train_run(&cfg, &r, &err) == CANTUS_OK, "%s", err.msg);
  fflush(cfg.log);
  CHECK(logbuf && strstr(logbuf, "advice: ") == NULL && strstr(logbuf, "baseline: ") != NULL);
  fclose(cfg.log);
  free(logbuf);
  remove_tree(dir);
}

// ---- chords (issue 11) --------------------------------------------------------------

// The chords of the synthetic chord corpus: C, F, G, Am as pitch-class sets.
static const uint16_t chord_pcs[4] = { 0x091, 0x221, 0x884, 0x211 };
static const int chord_root[4] = { 48, 53, 55, 57 };

// The chord of half bar h of piece `seed` (a seeded progression).
static int piece_chord(uint32_t seed, int h)
{
  uint32_t x = seed * 2654435761u + (uint32_t)h * 40503u + 1u;
  x ^= x >> 13;
  x *= 0x5bd1e995u;
  x ^= x >> 15;
  return (int)(x % 4u);
}

// A Nottingham-like piece in 4/4: track 1 "melody" plays eighths drawn from
// the chord of their half bar, track 2 "accompaniment" plays the root on
// beats 1 and 3 and the triad on beats 2 and 4 (oom-pah).  With
// accompaniment = false the melody is alone (a CRE tune); with voices =
// true the chord is held by tracks "alto", "tenor", "bass" instead.
static bool write_chord_piece(const char *path,
                              uint32_t seed,
                              int bars,
                              bool accompaniment,
                              bool voices)
{
  const int halves = 2 * bars;
  const size_t cap = (size_t)halves * 16;
  CantusMidiFile *m = NULL;
  CantusError err;
  if (cantus_midi_alloc(cap, 5, &m, &err) != CANTUS_OK) {
    return false;
  }
  snprintf(m->track_names[1], 64, "melody");
  snprintf(m->track_names[2], 64, voices ? "alto" : "accompaniment");
  snprintf(m->track_names[3], 64, "tenor");
  snprintf(m->track_names[4], 64, "bass");
  size_t n = 0;
  uint32_t r = seed * 747796405u + 1u;
  for (int h = 0; h < halves; h++) {
    const int c = piece_chord(seed, h);
    const uint32_t t0 = (uint32_t)h * 960u;
    int tones[3], k = 0;
    for (int p = 0; p < 12 && k < 3; p++) {
      if ((chord_pcs[c] >> ((chord_root[c] + p) % 12)) & 1u) {
        tones[k++] = chord_root[c] + p;
      }
    }
    for (int e = 0; e < 4; e++) { // melody: four eighths of chord tones
      r = r * 1664525u + 1013904223u;
      const int pitch = tones[(r >> 16) % 3] + 12;
      m->notes[n++] = (CantusMidiNote){
        t0 + (uint32_t)e * 240u, t0 + (uint32_t)e * 240u + 240u, (uint8_t)pitch, 80, 0, 1
      };
    }
    if (voices) {
      for (int v = 0; v < 3; v++) {
        m->notes[n++] =
          (CantusMidiNote){ t0, t0 + 960u,        (uint8_t)(tones[v] - (v == 2 ? 12 : 0)),
                            70, (uint8_t)(v + 1), (uint16_t)(2 + v) };
      }
    } else if (accompaniment) {
      m->notes[n++] = (CantusMidiNote){ t0, t0 + 240u, (uint8_t)(chord_root[c] - 12), 70, 1, 2 };
      for (int v = 0; v < 3; v++) {
        m->notes[n++] = (CantusMidiNote){ t0 + 480u, t0 + 720u, (uint8_t)tones[v], 70, 2, 2 };
      }
    }
  }
  m->n_notes = n;
  m->timesigs[0] = (CantusMidiTimeSig){ 0, 4, 4 };
  m->n_timesigs = 1;
  bool ok = cantus_midi_write(path, m, &err) == CANTUS_OK;
  cantus_midi_free(m);
  return ok;
}

// A style "folk" of n chord pieces of 8 bars, "irish" of 2 melody-only
// pieces and "chorale" of 2 pieces with lower voices.
static bool make_chord_corpus(char *dir, size_t n_dir, int n)
{
  snprintf(dir, n_dir, "/tmp/cantus-chord-test-XXXXXX");
  if (!mkdtemp(dir)) {
    return false;
  }
  char p[512];
  bool ok = true;
  static const char *const styles[3] = { "folk", "irish", "chorale" };
  for (int s = 0; s < 3; s++) {
    snprintf(p, sizeof p, "%s/%s", dir, styles[s]);
    make_dir(p);
  }
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/folk/f%02d.mid", dir, i);
    ok = ok && write_chord_piece(p, (uint32_t)i + 1u, 8, true, false);
  }
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/irish/i%02d.mid", dir, i);
    ok = ok && write_chord_piece(p, (uint32_t)i + 100u, 8, false, false);
    snprintf(p, sizeof p, "%s/chorale/c%02d.mid", dir, i);
    ok = ok && write_chord_piece(p, (uint32_t)i + 200u, 8, false, true);
  }
  return ok;
}

static CantusTrainConfig chord_config(const char *const *dirs, const char *out, int styles)
{
  CantusTrainConfig cfg = tiny_config_v2(dirs, out);
  cfg.corpus.parts = NULL;
  cfg.corpus.styles = styles == 1 ? "folk" : NULL;
  cfg.corpus.vocab.pitch_lo = 30;
  cfg.epochs = 12;
  return cfg;
}

TEST(train_chord_corpus_positions_transposition_and_dropout)
{
  // Each position carries the chord in force where the next token is
  // emitted, read from the accompaniment by half bars (the chorale voices
  // by beats; none for a melody alone); a transposed item moves its chords
  // with the notes; chord dropout removes whole pieces and spans.
  char dir[256];
  CHECK(make_chord_corpus(dir, sizeof dir, 4));
  const char *dirs[1] = { dir };
  CantusTrainConfig cfg = chord_config(dirs, "unused", 3);
  cfg.corpus.parts = "melody,accompaniment"; // the chorale voices are left out, not their chords
  CantusCorpus c;
  CantusError err;
  CHECK_MSG(cantus_corpus_load(&c, dirs, 1, &cfg.corpus, NULL, &err) == CANTUS_OK, "%s", err.msg);
  CHECK_EQ(c.n_chord_pieces[CANTUS_CHORD_SPAN_ACCOMP], 4);
  CHECK_EQ(c.n_chord_pieces[CANTUS_CHORD_SPAN_VOICES], 2);
  const CantusVocab *v = &c.vocab;
  int checked = 0, bad = 0, chorded = 0;
  for (int i = 0; i < c.n_pieces; i++) {
    const CantusPiece *pc = &c.pieces[i];
    const bool irish = strstr(pc->path, "irish") != NULL, folk = strstr(pc->path, "folk") != NULL;
    CHECK_EQ(pc->chord_kind,
             irish  ? -1
             : folk ? CANTUS_CHORD_SPAN_ACCOMP
                    : CANTUS_CHORD_SPAN_VOICES);
    const uint32_t seed = (uint32_t)atoi(strrchr(pc->path, '/') + 2) + (irish  ? 100u
                                                                        : folk ? 1u
                                                                               : 200u);
    uint32_t tau = 0;
    for (uint32_t k = 0; k < pc->n_tok; k++) {
      int val = 0;
      if (cantus_vocab_decode(v, pc->tok[k], &val) == CANTUS_EV_SHIFT) {
        tau += (uint32_t)val;
      }
      const int h = (int)(tau / (2 * v->tpq)); // half bar (12 ticks a quarter)
      const uint16_t want = irish || h >= 16 ? 0 : chord_pcs[piece_chord(seed, h)];
      bad += pc->form[k].chord != want;
      chorded += pc->form[k].chord != 0;
      checked++;
    }
    CHECK_EQ(pc->n_chorded, (uint32_t)chorded);
    chorded = 0;
  }
  CHECK_EQ(bad, 0);
  CHECK(checked > 500);
  // The chunk: item 0 transposed by +3 with chords, item 1 without.
  int folk0 = -1;
  for (int i = 0; i < c.n_pieces && folk0 < 0; i++) {
    folk0 = strstr(c.pieces[i].path, "folk") ? i : -1;
  }
  const CantusPiece *pc = &c.pieces[folk0];
  Item items[2] = { { folk0, 3, false, false, 7 }, { folk0, 0, false, true, 7 } };
  Plan pl;
  enum { T = 200 };
  CHECK(train_plan_build(&pl, &c, items, 2, 2, T));
  CantusDims d = cantus_fixture_dims_tinyc();
  CantusLstmTrain *n = NULL;
  CHECK_EQ(cantus_lstm_train_new(&d, 2, T, &n, &err), CANTUS_OK);
  CantusChunk *ch = cantus_lstm_train_chunk(n);
  train_plan_fill(&pl, &c, ch, T, 0.0f);
  bad = 0;
  int seen = 0;
  for (int t = 0; t < T && t < (int)pc->n_tok; t++) {
    const CantusChord orig = { pc->form[t].chord, -1, -1 };
    bad += ch->chord[(size_t)t * 2] != cantus_chord_transpose(orig, 3).pcs;
    bad += ch->chord[(size_t)t * 2 + 1] != 0;
    seen += orig.pcs != 0 && cantus_chord_transpose(orig, 3).pcs != orig.pcs;
  }
  CHECK_EQ(bad, 0);
  CHECK(seen > 50);
  // Span dropout: whole spans of CHORD_SPAN_TOKENS positions lose their
  // chord, about the share asked, decided by the item's seed.
  int dropped_spans = 0, spans = 0, mixed = 0;
  for (uint32_t seed = 1; seed <= 40; seed++) {
    Item one[1] = { { folk0, 0, false, false, seed } };
    Plan p1;
    CHECK(train_plan_build(&p1, &c, one, 1, 1, T));
    CantusLstmTrain *n1 = NULL;
    CHECK_EQ(cantus_lstm_train_new(&d, 1, T, &n1, &err), CANTUS_OK);
    CantusChunk *c1 = cantus_lstm_train_chunk(n1);
    train_plan_fill(&p1, &c, c1, T, 0.25f);
    for (int s0 = 0; s0 + CHORD_SPAN_TOKENS <= T; s0 += CHORD_SPAN_TOKENS) {
      int kept = 0, had = 0;
      for (int t = s0; t < s0 + CHORD_SPAN_TOKENS; t++) {
        had += pc->form[t].chord != 0;
        kept += c1->chord[t] != 0;
        bad += c1->chord[t] && c1->chord[t] != pc->form[t].chord;
      }
      if (had > 8) {
        spans++;
        dropped_spans += kept == 0;
        mixed += kept != 0 && kept != had;
      }
    }
    cantus_lstm_train_free(n1);
    train_plan_free(&p1);
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(mixed, 0);
  CHECK_MSG(
    dropped_spans > spans / 8 && dropped_spans < spans * 2 / 5, "%d of %d", dropped_spans, spans);
  // Over epochs about --chord-dropout of the pieces see no chord.
  cfg.chord_dropout = 0.3f;
  int n_order = 0, n_none = 0, total = 0;
  for (int e = 0; e < 50; e++) {
    Item *o = train_epoch_order(&c, &cfg, e, &n_order);
    for (int i = 0; i < n_order; i++) {
      n_none += o[i].no_chord;
      total++;
    }
    free(o);
  }
  CHECK_MSG(n_none > total / 5 && n_none < total * 2 / 5, "%d of %d", n_none, total);
  cantus_lstm_train_free(n);
  train_plan_free(&pl);
  cantus_corpus_free(&c);
  remove_tree(dir);
}

TEST(train_chord_model_learns_the_chords_and_resumes_exactly)
{
  // A corpus whose melody is drawn from the chord of its half bar: the
  // chord model (n_chord 13, --chords auto) predicts it better than the
  // same model with --chords off; resuming a chord run is bit exact.
  char dir[256], outa[300], outb[300], ckpt[300];
  CHECK(make_chord_corpus(dir, sizeof dir, 12));
  const char *dirs[1] = { dir };
  snprintf(outa, sizeof outa, "%s/a.cantus", dir);
  snprintf(outb, sizeof outb, "%s/b.cantus", dir);
  snprintf(ckpt, sizeof ckpt, "%s/b.ckpt", dir);
  CantusTrainConfig cfg = chord_config(dirs, outa, 1);
  CantusTrainResult ron, roff;
  CantusError err;
  err.msg[0] = 0;
  CHECK_MSG(cantus_train_run(&cfg, &ron, &err) == CANTUS_OK, "%s", err.msg);
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CHECK_EQ(cantus_model_load(outa, &mo, &m, &err), CANTUS_OK);
  if (m) {
    CHECK_EQ(m->dims.n_chord, 13);
    CHECK(strstr(m->meta, "chords: 13 inputs") != NULL);
    cantus_model_free(m);
  }
  cfg.out_path = outb;
  cfg.chords = CANTUS_TRAIN_CHORDS_OFF;
  CHECK_EQ(cantus_train_run(&cfg, &roff, &err), CANTUS_OK);
  CHECK_EQ(cantus_model_load(outb, &mo, &m, &err), CANTUS_OK);
  if (m) {
    CHECK_EQ(m->dims.n_chord, 0);
    CHECK(strstr(m->meta, "chords: none") != NULL);
    cantus_model_free(m);
  }
  if (cantus_test_verbose) {
    printf("  validation loss with chords %.4f, without %.4f\n", ron.best_valid, roff.best_valid);
  }
  CHECK_MSG(ron.best_valid < roff.best_valid - 0.05,
            "with chords %.4f, without %.4f",
            ron.best_valid,
            roff.best_valid);
  // Resume: 45 steps at once, or 17 then 28 from the checkpoint.
  cfg = chord_config(dirs, outa, 1);
  cfg.epochs = 6;
  cfg.max_steps = 45;
  CHECK_EQ(cantus_train_run(&cfg, &ron, &err), CANTUS_OK);
  cfg.out_path = outb;
  cfg.max_steps = 17;
  CHECK_EQ(cantus_train_run(&cfg, &ron, &err), CANTUS_OK);
  cfg.max_steps = 28;
  cfg.resume_path = ckpt;
  CHECK_EQ(cantus_train_run(&cfg, &ron, &err), CANTUS_OK);
  size_t na = 0, nb = 0;
  float *pa = model_params(outa, &na), *pb = model_params(outb, &nb);
  CHECK(pa && pb && na == nb && memcmp(pa, pb, na * sizeof *pa) == 0);
  free(pa);
  free(pb);
  remove_tree(dir);
}
