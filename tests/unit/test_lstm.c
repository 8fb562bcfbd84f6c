// SPDX-License-Identifier: GPL-3.0-or-later
// The LSTM step and cell update against a double-precision reference written
// here straight from the math in lstm.h (with the same fp16-rounded weights
// when the run-time storage is fp16; for int8 a reference with the same
// quantisation, and every family bit for bit against the scalar one), for
// every kernel family the CPU has, several sizes and multi-step sequences;
// plus set_style, reset, the state layout and the bounds of the caller's
// memory.  Models are built by hand in
// a flat float buffer so this file depends only on lstm.h.
#include "lstm.h"
#include "test.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---- test model --------------------------------------------------------------

typedef struct {
  CantusDims d;
  CantusParams p;
  float *flat;
  float *style; // (S) current style vector
} Model;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static void rng_seed(uint64_t s)
{
  rng_state = s * 0x9e3779b97f4a7c15ull + 1;
}

static double urand(void) // [0, 1)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static float frand(double scale)
{
  return (float)((2.0 * urand() - 1.0) * scale);
}

static int irand(int n)
{
  return (int)(urand() * n);
}

// A vocabulary of exactly V tokens (V >= 5).
static CantusVocab vocab_of_size(int V)
{
  CantusVocab v = { .pitch_lo = 40, .pitch_hi = 40, .n_shift = 1, .n_vel = 0, .tpq = 12 };
  int rest = V - 2; // 2*np + n_shift + n_vel
  int np = (rest - 1) / 2;
  if (np > 100) {
    np = 100;
  }
  v.pitch_hi = (uint8_t)(v.pitch_lo + np - 1);
  rest -= 2 * np;
  v.n_shift = (uint16_t)(rest > 48 ? 48 : rest);
  v.n_vel = (uint16_t)(rest - v.n_shift);
  return v;
}

static CantusDims make_dims(int L, int H, int V)
{
  CantusDims d = { .n_layers = (uint32_t)L,
                   .n_hidden = (uint32_t)H,
                   .n_embed = 12,
                   .n_style_dim = 5,
                   .n_styles = 3,
                   .n_pos_tick = 12,
                   .n_pos_beat = 7 };
  d.vocab = vocab_of_size(V);
  return d;
}

// Weights uniform in +-2/sqrt(fan-in) so gates span their whole range, and
// a few large biases so some units saturate.
static void model_init(Model *m, const CantusDims *d, uint64_t seed)
{
  const size_t H = d->n_hidden, G = 4 * H, E = d->n_embed, S = d->n_style_dim;
  const size_t V = (size_t)cantus_vocab_size(&d->vocab);
  size_t n = V * E + d->n_styles * S + V * H + V;
  for (uint32_t k = 0; k < d->n_layers; k++) {
    n += G * cantus_dims_input(d, k) + G * H + G;
  }
  memset(m, 0, sizeof *m);
  m->d = *d;
  m->flat = malloc(n * sizeof(float));
  m->style = calloc(S, sizeof(float));
  rng_seed(seed);
  float *at = m->flat;
  m->p.tok_emb = at;
  at += V * E;
  m->p.style_emb = at;
  at += d->n_styles * S;
  for (uint32_t k = 0; k < d->n_layers; k++) {
    m->p.layer[k].w_ih = at;
    at += G * cantus_dims_input(d, k);
    m->p.layer[k].w_hh = at;
    at += G * H;
    m->p.layer[k].b = at;
    at += G;
  }
  m->p.w_out = at;
  at += V * H;
  m->p.b_out = at;
  at += V;
  CHECK_EQ(at - m->flat, n);
  for (size_t i = 0; i < V * E; i++) {
    m->p.tok_emb[i] = frand(1.0);
  }
  for (size_t i = 0; i < d->n_styles * S; i++) {
    m->p.style_emb[i] = frand(1.0);
  }
  for (uint32_t k = 0; k < d->n_layers; k++) {
    size_t in = cantus_dims_input(d, k);
    double sc = 2.0 / sqrt((double)(k == 0 ? E + S + 2 : 2 * H));
    for (size_t i = 0; i < G * in; i++) {
      m->p.layer[k].w_ih[i] = frand(sc);
    }
    for (size_t i = 0; i < G * H; i++) {
      m->p.layer[k].w_hh[i] = frand(2.0 / sqrt((double)H));
    }
    for (size_t i = 0; i < G; i++) {
      m->p.layer[k].b[i] = frand(i % 13 == 0 ? 6.0 : 0.5);
    }
  }
  for (size_t i = 0; i < V * H; i++) {
    m->p.w_out[i] = frand(2.0 / sqrt((double)H));
  }
  for (size_t i = 0; i < V; i++) {
    m->p.b_out[i] = frand(1.0);
  }
  // Weights that land on fp16 subnormals, zero and larger exponents, so the
  // conversions' edge cases take part in every comparison.
  static const float odd[] = { 3e-6f, -5.9e-5f, 1e-8f, -2.98e-8f, 6.1e-5f, 2.5f, -7.75f, 0.0f };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    m->p.layer[0].w_hh[(i * 7919) % (G * H)] = odd[i];
    m->p.w_out[(i * 104729) % (V * H)] = odd[i];
  }
}

static void model_free(Model *m)
{
  free(m->flat);
  free(m->style);
}

// ---- double reference -------------------------------------------------------------

// Round to IEEE half (nearest even), written independently of lstm.c: keep
// 11 significant bits, or a multiple of 2^-24 below the normal range.
static double round_f16(float x)
{
  double v = (double)x;
  double a = fabs(v);
  double q;
  if (a < 0x1p-14) {
    q = nearbyint(a * 0x1p24) * 0x1p-24;
  } else {
    int e;
    double mnt = frexp(a, &e); // a = mnt * 2^e, mnt in [0.5, 1)
    q = ldexp(nearbyint(ldexp(mnt, 11)), e - 11);
  }
  if (q > 65504.0) {
    q = INFINITY;
  }
  return v < 0 ? -q : q;
}

typedef struct {
  const Model *m;
  CantusWeightType wt;
  double *h, *c; // (L, H)
} Ref;

static double wq(const Ref *r, float w)
{
  return r->wt == CANTUS_WEIGHTS_F16 ? round_f16(w) : (double)w;
}

static double sigm(double x)
{
  return 1.0 / (1.0 + exp(-x));
}

static void ref_init(Ref *r, const Model *m, CantusWeightType wt)
{
  size_t n = (size_t)m->d.n_layers * m->d.n_hidden;
  r->m = m;
  r->wt = wt;
  r->h = calloc(n, sizeof(double));
  r->c = calloc(n, sizeof(double));
}

static void ref_free(Ref *r)
{
  free(r->h);
  free(r->c);
}

static void ref_step(Ref *r, int token, int pt, int pb, double *logits)
{
  const CantusDims *d = &r->m->d;
  const CantusParams *p = &r->m->p;
  const size_t H = d->n_hidden, G = 4 * H, E = d->n_embed, S = d->n_style_dim;
  const size_t NT = d->n_pos_tick;
  const size_t V = (size_t)cantus_vocab_size(&d->vocab);
  double *pre = malloc(G * sizeof(double));
  double *hn = malloc(H * sizeof(double));
  for (uint32_t k = 0; k < d->n_layers; k++) {
    size_t in = cantus_dims_input(d, k);
    double *h = r->h + k * H, *c = r->c + k * H;
    for (size_t g = 0; g < G; g++) {
      double acc = (double)p->layer[k].b[g];
      const float *wi = p->layer[k].w_ih + g * in;
      if (k == 0) {
        // Layer-0 input columns stay fp32 (they become lookup tables).
        for (size_t e = 0; e < E; e++) {
          acc += (double)wi[e] * (double)p->tok_emb[(size_t)token * E + e];
        }
        for (size_t s = 0; s < S; s++) {
          acc += (double)wi[E + s] * (double)r->m->style[s];
        }
        acc += (double)wi[E + S + (size_t)pt] + (double)wi[E + S + NT + (size_t)pb];
      } else {
        for (size_t j = 0; j < H; j++) {
          acc += wq(r, wi[j]) * r->h[(k - 1) * H + j];
        }
      }
      const float *wh = p->layer[k].w_hh + g * H;
      for (size_t j = 0; j < H; j++) {
        acc += wq(r, wh[j]) * h[j];
      }
      pre[g] = acc;
    }
    for (size_t j = 0; j < H; j++) {
      double i = sigm(pre[j]), f = sigm(pre[H + j]), gg = tanh(pre[2 * H + j]);
      double o = sigm(pre[3 * H + j]);
      c[j] = f * c[j] + i * gg;
      hn[j] = o * tanh(c[j]);
    }
    memcpy(h, hn, H * sizeof(double));
  }
  const double *hl = r->h + (d->n_layers - 1) * H;
  for (size_t v = 0; v < V; v++) {
    double acc = (double)p->b_out[v];
    for (size_t j = 0; j < H; j++) {
      acc += wq(r, p->w_out[v * H + j]) * hl[j];
    }
    logits[v] = acc;
  }
  free(pre);
  free(hn);
}

// |a - b| <= tol * max(1, |b|); returns the worst ratio to the allowance.
static double worst(const float *a, const double *b, size_t n, double tol)
{
  double w = 0.0;
  for (size_t i = 0; i < n; i++) {
    double allow = tol * fmax(1.0, fabs(b[i]));
    double e = fabs((double)a[i] - b[i]) / allow;
    if (!(e <= w)) {
      w = e; // NaN sticks
    }
  }
  return w;
}

// ---- run-time net in caller memory -----------------------------------------------------

enum { GUARD = 256 };

typedef struct {
  CantusLstmNet net;
  CantusLstmState st;
  unsigned char *net_mem, *st_mem;
  size_t net_size, st_size;
} Rt;

static void rt_init(Rt *rt, const Model *m, CantusWeightType wt)
{
  rt->net_size = cantus_lstm_net_size(&m->d, wt);
  rt->st_size = cantus_lstm_state_size(&m->d);
  rt->net_mem = aligned_alloc(64, (rt->net_size + GUARD + 63) / 64 * 64);
  rt->st_mem = aligned_alloc(64, (rt->st_size + GUARD + 63) / 64 * 64);
  memset(rt->net_mem + rt->net_size, 0xa5, GUARD);
  memset(rt->st_mem + rt->st_size, 0xa5, GUARD);
  cantus_lstm_prepare(&rt->net, rt->net_mem, &m->d, &m->p, wt);
  cantus_lstm_state_init(&rt->st, rt->st_mem, &rt->net);
}

static bool guard_intact(const unsigned char *p)
{
  for (int i = 0; i < GUARD; i++) {
    if (p[i] != 0xa5) {
      return false;
    }
  }
  return true;
}

static void rt_free(Rt *rt)
{
  CHECK(guard_intact(rt->net_mem + rt->net_size));
  CHECK(guard_intact(rt->st_mem + rt->st_size));
  free(rt->net_mem);
  free(rt->st_mem);
}

static const CantusIsa all_isas[] = { CANTUS_ISA_SCALAR,
                                      CANTUS_ISA_AVX2,
                                      CANTUS_ISA_AVX512,
                                      CANTUS_ISA_AVX2_VNNI,
                                      CANTUS_ISA_AVX512_VNNI };

// Forces isa; false (after saying so once per test) when the CPU lacks it.
static bool use_isa(CantusIsa isa)
{
  static bool said[CANTUS_ISA_N];
  if (cantus_lstm_force_isa(isa) != isa) {
    if (!said[isa]) {
      printf("  skipped %s kernels: not supported by this CPU\n", cantus_lstm_isa_name(isa));
      said[isa] = true;
    }
    return false;
  }
  return true;
}

// Steps the kernel and the reference side by side for n_steps random inputs;
// returns the worst error ratio over logits, h and c.
static double run_sequence(const Model *m, CantusWeightType wt, int n_steps, uint64_t seed)
{
  const CantusDims *d = &m->d;
  const size_t V = (size_t)cantus_vocab_size(&d->vocab);
  const size_t nhc = (size_t)d->n_layers * d->n_hidden;
  Rt rt;
  Ref ref;
  rt_init(&rt, m, wt);
  ref_init(&ref, m, wt);
  cantus_lstm_set_style(&rt.net, &rt.st, m->style);
  float *logits = malloc(V * sizeof(float));
  double *want = malloc(V * sizeof(double));
  float *h = malloc(nhc * sizeof(float)), *c = malloc(nhc * sizeof(float));
  double w = 0.0;
  rng_seed(seed);
  for (int t = 0; t < n_steps; t++) {
    int tok = irand((int)V), pt = irand((int)d->n_pos_tick), pb = irand((int)d->n_pos_beat);
    cantus_lstm_step(&rt.net, &rt.st, tok, pt, pb, logits);
    ref_step(&ref, tok, pt, pb, want);
    w = fmax(w, worst(logits, want, V, 1e-5));
    for (uint32_t k = 0; k < d->n_layers; k++) {
      memcpy(h + k * d->n_hidden, rt.st.h[k], d->n_hidden * sizeof(float));
      memcpy(c + k * d->n_hidden, rt.st.c[k], d->n_hidden * sizeof(float));
    }
    w = fmax(w, worst(h, ref.h, nhc, 1e-5));
    w = fmax(w, worst(c, ref.c, nhc, 1e-5));
  }
  free(logits);
  free(want);
  free(h);
  free(c);
  ref_free(&ref);
  rt_free(&rt);
  return w;
}

static void check_sizes(CantusWeightType wt)
{
  static const int shapes[][3] = { // L, H, V
                                   { 1, 16, 37 }, { 2, 16, 300 },  { 1, 32, 37 },  { 3, 32, 300 },
                                   { 4, 16, 37 }, { 2, 256, 300 }, { 1, 256, 37 }, { 4, 32, 64 }
  };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    CantusDims d = make_dims(shapes[s][0], shapes[s][1], shapes[s][2]);
    CHECK_EQ(cantus_vocab_size(&d.vocab), shapes[s][2]);
    Model m;
    model_init(&m, &d, 100 + s);
    for (uint32_t i = 0; i < d.n_style_dim; i++) {
      m.style[i] = frand(1.0);
    }
    for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
      if (!use_isa(all_isas[k])) {
        continue;
      }
      int steps = shapes[s][1] >= 256 ? 12 : 40;
      double w = run_sequence(&m, wt, steps, 7 + s);
      CHECK_MSG(w <= 1.0,
                "%s %s L=%d H=%d V=%d: error %.3g x the 1e-5 allowance",
                cantus_lstm_isa_name(all_isas[k]),
                wt == CANTUS_WEIGHTS_F16 ? "fp16" : "fp32",
                shapes[s][0],
                shapes[s][1],
                shapes[s][2],
                w);
      if (cantus_test_verbose) {
        printf("  %s %s L=%d H=%d V=%d: worst %.3g of allowance\n",
               cantus_lstm_isa_name(all_isas[k]),
               wt == CANTUS_WEIGHTS_F16 ? "fp16" : "fp32",
               shapes[s][0],
               shapes[s][1],
               shapes[s][2],
               w);
      }
    }
    model_free(&m);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
}

TEST(lstm_step_matches_double_reference_fp32)
{
  check_sizes(CANTUS_WEIGHTS_F32);
}

TEST(lstm_step_matches_double_reference_fp16)
{
  check_sizes(CANTUS_WEIGHTS_F16);
}

// ---- the cell update -----------------------------------------------------------------

TEST(lstm_gates_match_double_with_activations)
{
  enum { H = 83 }; // not a multiple of 16 or 8: the vector tails run too
  float pre[4 * H], c_prev[H], c[H], h[H], act[4 * H], c2[H], h2[H];
  rng_seed(3);
  for (int j = 0; j < 4 * H; j++) {
    pre[j] = frand(12.0);
  }
  // Edges: zero, the tanh polynomial's boundary, saturation, huge inputs.
  static const float edge[] = { 0.0f,   -0.0f, 0.625f, -0.625f, 0.6249f, 9.0f,  -9.0f, 20.0f,
                                -20.0f, 87.0f, -87.0f, 100.0f,  -100.0f, 1e-6f, -3e-4f };
  for (int e = 0; e < (int)(sizeof edge / sizeof edge[0]); e++) {
    for (int g = 0; g < 4; g++) {
      pre[g * H + e] = edge[e];
    }
  }
  for (int j = 0; j < H; j++) {
    c_prev[j] = frand(3.0);
  }
  for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
    if (!use_isa(all_isas[k])) {
      continue;
    }
    const char *name = cantus_lstm_isa_name(all_isas[k]);
    cantus_lstm_gates(H, pre, c_prev, c, h, act);
    double worst_act = 0.0, worst_ch = 0.0;
    for (int j = 0; j < H; j++) {
      double a[4] = { sigm(pre[j]), sigm(pre[H + j]), tanh(pre[2 * H + j]), sigm(pre[3 * H + j]) };
      for (int g = 0; g < 4; g++) {
        double x = fabs((double)pre[g * H + j]);
        // ~1e-6 relative wherever the value is a normal float; below that
        // (sigmoid of x < -87) only absolute accuracy is promised.
        double allow = x < 80.0 ? 1e-6 * fabs(a[g]) + 1e-30 : 1e-30;
        worst_act = fmax(worst_act, fabs((double)act[g * H + j] - a[g]) / allow);
      }
      double cc = a[1] * (double)c_prev[j] + a[0] * a[2];
      double hh = a[3] * tanh(cc);
      worst_ch = fmax(worst_ch, fabs((double)c[j] - cc) / (1e-6 * fmax(1.0, fabs(cc))));
      worst_ch = fmax(worst_ch, fabs((double)h[j] - hh) / (1e-6 * fmax(1.0, fabs(hh))));
    }
    CHECK_MSG(worst_act <= 1.0, "%s: activations off by %.3g x 1e-6 relative", name, worst_act);
    CHECK_MSG(worst_ch <= 1.0, "%s: c/h off by %.3g x 1e-6", name, worst_ch);
    if (cantus_test_verbose) {
      printf("  %s: act %.3g, c/h %.3g of allowance\n", name, worst_act, worst_ch);
    }
    // Without act, and with c aliasing c_prev, the results are identical.
    memcpy(c2, c_prev, sizeof c2);
    cantus_lstm_gates(H, pre, c2, c2, h2, NULL);
    CHECK(memcmp(c2, c, sizeof c) == 0);
    CHECK(memcmp(h2, h, sizeof h) == 0);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
}

TEST(lstm_gates_flush_denormal_cells)
{
  enum { H = 32 };
  float pre[4 * H], c_prev[H], c[H], h[H];
  for (int j = 0; j < H; j++) {
    pre[j] = -100.0f;                                                         // i ~ 0
    pre[H + j] = 30.0f;                                                       // f = 1
    pre[2 * H + j] = 1e-30f;                                                  // g ~ 0
    pre[3 * H + j] = 30.0f;                                                   // o = 1
    c_prev[j] = (j % 2 ? 1.0f : -1.0f) * FLT_MIN * 0.2f * (float)(j % 4 + 1); // denormal
  }
  c_prev[H - 1] = 2.0f * FLT_MIN; // normal: kept
  for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
    if (!use_isa(all_isas[k])) {
      continue;
    }
    cantus_lstm_gates(H, pre, c_prev, c, h, NULL);
    int kept = 0;
    for (int j = 0; j < H - 1; j++) {
      CHECK_MSG(c[j] == 0.0f && h[j] == 0.0f,
                "%s: unit %d c=%g h=%g",
                cantus_lstm_isa_name(all_isas[k]),
                j,
                (double)c[j],
                (double)h[j]);
      kept += c[j] != 0.0f;
    }
    CHECK_EQ(kept, 0);
    CHECK_NEAR(c[H - 1], 2.0f * FLT_MIN, (double)FLT_MIN * 1e-3);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
}

// ---- style, reset, state layout, memory bounds ------------------------------------------

TEST(lstm_set_style_changes_layer0_input)
{
  CantusDims d = make_dims(2, 32, 37);
  Model m;
  model_init(&m, &d, 11);
  Rt rt;
  rt_init(&rt, &m, CANTUS_WEIGHTS_F32);
  const size_t G = 4 * d.n_hidden;
  // After init, l0_static = b0 (style zero).
  for (size_t r = 0; r < G; r++) {
    CHECK(rt.st.l0_static[r] == m.p.layer[0].b[r]);
  }
  for (uint32_t s = 0; s < d.n_style_dim; s++) {
    m.style[s] = m.p.style_emb[1 * d.n_style_dim + s];
  }
  cantus_lstm_set_style(&rt.net, &rt.st, m.style);
  double w = 0.0;
  int moved = 0;
  for (size_t r = 0; r < G; r++) {
    double want = (double)m.p.layer[0].b[r];
    for (uint32_t s = 0; s < d.n_style_dim; s++) {
      want += (double)m.p.layer[0].w_ih[r * cantus_dims_input(&d, 0) + d.n_embed + s] *
              (double)m.style[s];
    }
    w = fmax(w, fabs((double)rt.st.l0_static[r] - want) / (1e-6 * fmax(1.0, fabs(want))));
    moved += rt.st.l0_static[r] != m.p.layer[0].b[r];
  }
  CHECK_MSG(w <= 1.0, "l0_static off by %.3g x 1e-6", w);
  CHECK(moved > (int)G / 2);
  // A whole sequence with the style set matches the reference (which reads m.style).
  for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
    if (use_isa(all_isas[k])) {
      double e = run_sequence(&m, CANTUS_WEIGHTS_F32, 10, 5);
      CHECK_MSG(e <= 1.0, "%s: %.3g", cantus_lstm_isa_name(all_isas[k]), e);
    }
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
  // Setting a zero style restores b0 exactly.
  memset(m.style, 0, d.n_style_dim * sizeof(float));
  cantus_lstm_set_style(&rt.net, &rt.st, m.style);
  CHECK(memcmp(rt.st.l0_static, m.p.layer[0].b, G * sizeof(float)) == 0);
  rt_free(&rt);
  model_free(&m);
}

TEST(lstm_state_layout_reset_and_checkpoint)
{
  CantusDims d = make_dims(3, 16, 37);
  Model m;
  model_init(&m, &d, 12);
  for (int wt = 0; wt < CANTUS_WEIGHTS_N; wt++) {
    Rt rt;
    rt_init(&rt, &m, (CantusWeightType)wt);
    const size_t H = d.n_hidden, V = 37;
    CHECK_EQ(cantus_lstm_state_floats(&d), 2 * 3 * H);
    for (uint32_t k = 0; k < d.n_layers; k++) {
      CHECK(rt.st.h[k] == rt.st.hc + 2 * k * H);
      CHECK(rt.st.c[k] == rt.st.hc + (2 * k + 1) * H);
    }
    // Every region of the state and the net is 64-byte aligned and inside its memory.
    const void *ptrs[] = { rt.st.hc, rt.st.pre, rt.st.l0_static };
    for (size_t i = 0; i < 3; i++) {
      CHECK((uintptr_t)ptrs[i] % 64 == 0);
      CHECK((const unsigned char *)ptrs[i] >= rt.st_mem &&
            (const unsigned char *)ptrs[i] < rt.st_mem + rt.st_size);
    }
    const void *np[] = {
      rt.net.tok_proj, rt.net.pos_tick_proj, rt.net.pos_beat_proj, rt.net.style_w, rt.net.b0,
      rt.net.w_rec[0], rt.net.w_rec[2],      rt.net.b[2],          rt.net.w_out,   rt.net.b_out
    };
    for (size_t i = 0; i < sizeof np / sizeof np[0]; i++) {
      CHECK((uintptr_t)np[i] % 64 == 0);
      CHECK((const unsigned char *)np[i] >= rt.net_mem &&
            (const unsigned char *)np[i] < rt.net_mem + rt.net_size);
    }
    CHECK(rt.net.wtype == (CantusWeightType)wt);
    for (uint32_t i = 0; i < 2 * 3 * H; i++) {
      CHECK(rt.st.hc[i] == 0.0f);
    }

    float first[37], again[37], l[37], ck[37];
    float *saved = malloc(2 * 3 * H * sizeof(float));
    cantus_lstm_step(&rt.net, &rt.st, 5, 1, 2, first);
    for (int t = 0; t < 6; t++) {
      cantus_lstm_step(&rt.net, &rt.st, 7 + t, t, t % 7, l);
    }
    // Checkpoint: one copy of hc; stepping from the restored copy repeats exactly.
    memcpy(saved, rt.st.hc, 2 * 3 * H * sizeof(float));
    cantus_lstm_step(&rt.net, &rt.st, 20, 3, 4, ck);
    cantus_lstm_step(&rt.net, &rt.st, 21, 4, 4, l);
    CHECK(memcmp(ck, l, sizeof l) != 0);
    memcpy(rt.st.hc, saved, 2 * 3 * H * sizeof(float));
    cantus_lstm_step(&rt.net, &rt.st, 20, 3, 4, l);
    CHECK(memcmp(ck, l, V * sizeof(float)) == 0);
    // Reset zeroes h and c: the first step repeats bit for bit.
    cantus_lstm_reset(&rt.net, &rt.st);
    for (uint32_t i = 0; i < 2 * 3 * H; i++) {
      CHECK(rt.st.hc[i] == 0.0f);
    }
    cantus_lstm_step(&rt.net, &rt.st, 5, 1, 2, again);
    CHECK(memcmp(first, again, sizeof first) == 0);
    free(saved);
    rt_free(&rt);
  }
  model_free(&m);
}

TEST(lstm_fp16_storage_saturates)
{
  CantusDims d = make_dims(1, 16, 37);
  Model m;
  model_init(&m, &d, 13);
  m.p.w_out[3] = 1e6f; // past the half range
  m.p.w_out[4] = -1e6f;
  Rt rt;
  rt_init(&rt, &m, CANTUS_WEIGHTS_F16);
  float l[37];
  for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
    if (!use_isa(all_isas[k])) {
      continue;
    }
    cantus_lstm_reset(&rt.net, &rt.st);
    for (int t = 0; t < 3; t++) {
      cantus_lstm_step(&rt.net, &rt.st, t + 2, t, t, l);
    }
    double want =
      (double)m.p.b_out[0] + 65504.0 * (double)rt.st.h[0][3] - 65504.0 * (double)rt.st.h[0][4];
    for (uint32_t j = 0; j < d.n_hidden; j++) {
      if (j != 3 && j != 4) {
        want += round_f16(m.p.w_out[j]) * (double)rt.st.h[0][j];
      }
    }
    CHECK_MSG(isfinite(l[0]) && fabs((double)l[0] - want) <= 1e-5 * fmax(1.0, fabs(want)),
              "%s: logit %g, want %g",
              cantus_lstm_isa_name(all_isas[k]),
              (double)l[0],
              want);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
  rt_free(&rt);
  model_free(&m);
}

// AVX2 and AVX-512 run the same operations in the same order (the 16-row
// panel is two 8-wide halves for AVX2), so their results agree bit for bit
// and a model generates the same notes on any AVX2-or-better machine.
TEST(lstm_avx2_and_avx512_agree_bitwise)
{
  if (!use_isa(CANTUS_ISA_AVX512) || !use_isa(CANTUS_ISA_AVX2)) {
    SKIP("this CPU lacks AVX2 or AVX-512");
  }
  CantusDims d = make_dims(3, 48, 300);
  Model m;
  model_init(&m, &d, 14);
  for (int wt = 0; wt < 2; wt++) {
    Rt a, b;
    rt_init(&a, &m, (CantusWeightType)wt);
    rt_init(&b, &m, (CantusWeightType)wt);
    float la[300], lb[300];
    int same = 1;
    for (int t = 0; t < 50; t++) {
      cantus_lstm_force_isa(CANTUS_ISA_AVX2);
      cantus_lstm_step(&a.net, &a.st, (t * 37) % 300, t % 12, t % 7, la);
      cantus_lstm_force_isa(cantus_lstm_isa_best());
      cantus_lstm_step(&b.net, &b.st, (t * 37) % 300, t % 12, t % 7, lb);
      same &= memcmp(la, lb, sizeof la) == 0;
      same &= memcmp(a.st.hc, b.st.hc, cantus_lstm_state_floats(&d) * sizeof(float)) == 0;
    }
    CHECK_MSG(same, "%s weights", wt ? "fp16" : "fp32");
    rt_free(&a);
    rt_free(&b);
  }
  model_free(&m);
}

TEST(lstm_force_isa_clamps_and_names)
{
  CantusIsa best = cantus_lstm_force_isa(CANTUS_ISA_AVX512);
  CHECK(best == cantus_lstm_isa());
  CHECK(cantus_lstm_force_isa(CANTUS_ISA_SCALAR) == CANTUS_ISA_SCALAR);
  CHECK(cantus_lstm_isa() == CANTUS_ISA_SCALAR);
  CHECK(strcmp(cantus_lstm_isa_name(CANTUS_ISA_SCALAR), "scalar") == 0);
  CHECK(strcmp(cantus_lstm_isa_name(CANTUS_ISA_AVX2), "avx2") == 0);
  CHECK(strcmp(cantus_lstm_isa_name(CANTUS_ISA_AVX512), "avx512") == 0);
  CHECK(strcmp(cantus_lstm_isa_name(CANTUS_ISA_AVX2_VNNI), "avx2-vnni") == 0);
  CHECK(strcmp(cantus_lstm_isa_name(CANTUS_ISA_AVX512_VNNI), "avx512-vnni") == 0);
  CHECK(cantus_lstm_force_isa(CANTUS_ISA_AVX512) == best);
  // Out of range clamps; a missing family falls back to one the CPU has.
  CHECK(cantus_lstm_force_isa((CantusIsa)-3) == CANTUS_ISA_SCALAR);
  CHECK(cantus_lstm_force_isa((CantusIsa)99) == cantus_lstm_isa_best());
  for (int i = 0; i < CANTUS_ISA_N; i++) {
    CantusIsa got = cantus_lstm_force_isa((CantusIsa)i);
    CHECK(got == (CantusIsa)i || got < (CantusIsa)i || got == CANTUS_ISA_AVX2_VNNI);
    CHECK(cantus_lstm_force_isa(got) == got); // what it returns is usable as is
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    CHECK(best == CANTUS_ISA_AVX512);
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    CHECK(best == CANTUS_ISA_AVX2);
  }
  CantusIsa top = cantus_lstm_isa_best();
  if (__builtin_cpu_supports("avx512vnni") && best == CANTUS_ISA_AVX512) {
    CHECK(top == CANTUS_ISA_AVX512_VNNI);
  }
  CHECK(cantus_lstm_force_isa(CANTUS_ISA_AVX512_VNNI) == top);
  printf("  kernels in use: %s (best %s)\n", cantus_lstm_isa_name(best), cantus_lstm_isa_name(top));
#endif
}

// ---- int8 storage ----------------------------------------------------------------------
// The reference below is written from lstm.h's description: each row of a
// matrix segment scaled so its largest |w| is 127 (rounded to nearest), the
// activations of each product scaled so their largest |x| is 127 (in float,
// as the step does), products summed exactly and rescaled; everything else
// in double.  Each layer is checked on its own from the run-time net's
// inputs (the old h of its layer, the new h of the layer below), so the two
// sides always quantise identical activations.

// Row `row` (n values) as int8 values q and its scale s (w ~ s * q).
static void ref_quant_row(const float *row, size_t n, double *q, double *s)
{
  double mx = 0.0;
  for (size_t j = 0; j < n; j++) {
    mx = fmax(mx, fabs((double)row[j]));
  }
  for (size_t j = 0; j < n; j++) {
    q[j] = mx > 0.0 ? fmax(-127.0, fmin(127.0, nearbyint((double)row[j] * 127.0 / mx))) : 0.0;
  }
  *s = (double)(float)(mx / 127.0);
}

// Activations as the step quantises them; returns the scale.
static double ref_quant_x(const float *x, size_t n, double *q)
{
  float mx = 0.0f;
  for (size_t j = 0; j < n; j++) {
    mx = fmaxf(mx, fabsf(x[j]));
  }
  float inv = mx > 1e-30f ? 127.0f / mx : 0.0f;
  for (size_t j = 0; j < n; j++) {
    q[j] = (double)nearbyintf(x[j] * inv);
  }
  return mx > 1e-30f ? (double)(mx / 127.0f) : 0.0;
}

// sum_j Wq[r, j] xq[j] * s_r * sx over one segment (W row-major (m, n)).
static double ref_seg(const float *wrow, size_t n, const double *xq, double sx, double *qbuf)
{
  double s;
  ref_quant_row(wrow, n, qbuf, &s);
  double dot = 0.0;
  for (size_t j = 0; j < n; j++) {
    dot += qbuf[j] * xq[j];
  }
  return dot * s * sx;
}

// One step of the run-time int8 net checked layer by layer against the
// reference; returns the worst error ratio to a 1e-5 allowance.
static double i8_step_check(Rt *rt, const Model *m, int tok, int pt, int pb, float *logits)
{
  const CantusDims *d = &m->d;
  const CantusParams *p = &m->p;
  const size_t H = d->n_hidden, G = 4 * H, E = d->n_embed, S = d->n_style_dim;
  const size_t NT = d->n_pos_tick, L = d->n_layers;
  const size_t V = (size_t)cantus_vocab_size(&d->vocab);
  const size_t nhc = cantus_lstm_state_floats(d);
  float *old = malloc(nhc * sizeof(float));
  double *xa = malloc(H * sizeof(double)), *xb = malloc(H * sizeof(double));
  double *qb = malloc(H * sizeof(double)), *pre = malloc(G * sizeof(double));
  memcpy(old, rt->st.hc, nhc * sizeof(float));
  cantus_lstm_step(&rt->net, &rt->st, tok, pt, pb, logits);
  double w = 0.0;
  for (size_t k = 0; k < L; k++) {
    const float *h_old = old + 2 * k * H, *c_old = old + (2 * k + 1) * H;
    const size_t in = cantus_dims_input(d, k);
    const double sb = ref_quant_x(h_old, H, xb);
    double sa = 0.0;
    if (k > 0) {
      sa = ref_quant_x(rt->st.h[k - 1], H, xa);
    }
    for (size_t g = 0; g < G; g++) {
      double acc = (double)p->layer[k].b[g];
      const float *wi = p->layer[k].w_ih + g * in;
      if (k == 0) {
        for (size_t e = 0; e < E; e++) {
          acc += (double)wi[e] * (double)p->tok_emb[(size_t)tok * E + e];
        }
        for (size_t s = 0; s < S; s++) {
          acc += (double)wi[E + s] * (double)m->style[s];
        }
        acc += (double)wi[E + S + (size_t)pt] + (double)wi[E + S + NT + (size_t)pb];
      } else {
        acc += ref_seg(wi, H, xa, sa, qb);
      }
      acc += ref_seg(p->layer[k].w_hh + g * H, H, xb, sb, qb);
      pre[g] = acc;
    }
    for (size_t j = 0; j < H; j++) {
      double i = sigm(pre[j]), f = sigm(pre[H + j]), gg = tanh(pre[2 * H + j]);
      double o = sigm(pre[3 * H + j]);
      double c = f * (double)c_old[j] + i * gg, h = o * tanh(c);
      w = fmax(w, fabs((double)rt->st.c[k][j] - c) / (1e-5 * fmax(1.0, fabs(c))));
      w = fmax(w, fabs((double)rt->st.h[k][j] - h) / (1e-5 * fmax(1.0, fabs(h))));
    }
  }
  const double sl = ref_quant_x(rt->st.h[L - 1], H, xa);
  for (size_t v = 0; v < V; v++) {
    double want = (double)p->b_out[v] + ref_seg(p->w_out + v * H, H, xa, sl, qb);
    w = fmax(w, fabs((double)logits[v] - want) / (1e-5 * fmax(1.0, fabs(want))));
  }
  free(old);
  free(xa);
  free(xb);
  free(qb);
  free(pre);
  return w;
}

TEST(lstm_int8_step_matches_quantised_reference)
{
  static const int shapes[][3] = {
    { 1, 16, 37 }, { 2, 16, 300 }, { 3, 32, 300 }, { 4, 32, 64 }, { 2, 256, 300 }
  };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    CantusDims d = make_dims(shapes[s][0], shapes[s][1], shapes[s][2]);
    Model m;
    model_init(&m, &d, 200 + s);
    for (uint32_t i = 0; i < d.n_style_dim; i++) {
      m.style[i] = frand(1.0);
    }
    // A zero row (scale 0) and a row with one huge weight (coarse scale).
    memset(m.p.w_out + 5 * d.n_hidden, 0, d.n_hidden * sizeof(float));
    m.p.w_out[6 * d.n_hidden + 2] = 40.0f;
    const size_t V = (size_t)shapes[s][2];
    float *l = malloc(V * sizeof(float));
    for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
      if (!use_isa(all_isas[k])) {
        continue;
      }
      Rt rt;
      rt_init(&rt, &m, CANTUS_WEIGHTS_I8);
      cantus_lstm_set_style(&rt.net, &rt.st, m.style);
      CHECK(rt.net.wtype == CANTUS_WEIGHTS_I8);
      double w = 0.0;
      rng_seed(9 + s);
      const int steps = shapes[s][1] >= 256 ? 6 : 25;
      for (int t = 0; t < steps; t++) {
        int tok = irand((int)V), pt = irand((int)d.n_pos_tick), pb = irand((int)d.n_pos_beat);
        w = fmax(w, i8_step_check(&rt, &m, tok, pt, pb, l));
        CHECK(l[5] == m.p.b_out[5]); // the zero row adds exactly nothing
      }
      CHECK_MSG(w <= 1.0,
                "%s int8 L=%d H=%d V=%d: error %.3g x the 1e-5 allowance",
                cantus_lstm_isa_name(all_isas[k]),
                shapes[s][0],
                shapes[s][1],
                shapes[s][2],
                w);
      if (cantus_test_verbose) {
        printf("  %s int8 L=%d H=%d V=%d: worst %.3g of allowance\n",
               cantus_lstm_isa_name(all_isas[k]),
               shapes[s][0],
               shapes[s][1],
               shapes[s][2],
               w);
      }
      rt_free(&rt);
    }
    free(l);
    model_free(&m);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
}

// Greedy generation (each step feeds back the argmax token) with int8
// weights on family `isa`: the tokens, the final logits and state.
static void i8_generate(const Model *m, CantusIsa isa, int n, int *toks, float *logits, float *hc)
{
  const CantusDims *d = &m->d;
  const int V = cantus_vocab_size(&d->vocab);
  Rt rt;
  cantus_lstm_force_isa(isa);
  rt_init(&rt, m, CANTUS_WEIGHTS_I8);
  cantus_lstm_set_style(&rt.net, &rt.st, m->style);
  int tok = 1;
  for (int t = 0; t < n; t++) {
    cantus_lstm_step(&rt.net, &rt.st, tok, t % (int)d->n_pos_tick, t % (int)d->n_pos_beat, logits);
    int best = 0;
    for (int v = 1; v < V; v++) {
      best = logits[v] > logits[best] ? v : best;
    }
    // Every 7th step a fixed token instead, so the walk does not settle.
    tok = t % 7 == 6 ? (t * 31) % V : best;
    toks[t] = tok;
  }
  memcpy(hc, rt.st.hc, cantus_lstm_state_floats(d) * sizeof(float));
  rt_free(&rt);
}

// Integer sums make every family compute the same numbers: the same notes,
// bit-identical logits and state, whatever the CPU.
TEST(lstm_int8_every_family_bit_identical)
{
  static const int shapes[][3] = { { 3, 48, 300 }, { 2, 256, 300 } };
  int n_families = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    CantusDims d = make_dims(shapes[s][0], shapes[s][1], shapes[s][2]);
    Model m;
    model_init(&m, &d, 300 + s);
    for (uint32_t i = 0; i < d.n_style_dim; i++) {
      m.style[i] = frand(1.0);
    }
    enum { N = 120 };
    const size_t V = (size_t)shapes[s][2], nhc = cantus_lstm_state_floats(&d);
    int t0[N], t1[N];
    float *l0 = malloc(V * sizeof(float)), *l1 = malloc(V * sizeof(float));
    float *h0 = malloc(nhc * sizeof(float)), *h1 = malloc(nhc * sizeof(float));
    i8_generate(&m, CANTUS_ISA_SCALAR, N, t0, l0, h0);
    int distinct = 0;
    for (int t = 1; t < N; t++) {
      distinct += t0[t] != t0[t - 1];
    }
    CHECK(distinct > N / 4); // the walk really moves
    n_families = 0;
    for (size_t k = 1; k < sizeof all_isas / sizeof all_isas[0]; k++) {
      if (!use_isa(all_isas[k])) {
        continue;
      }
      n_families++;
      i8_generate(&m, all_isas[k], N, t1, l1, h1);
      CHECK_MSG(
        memcmp(t0, t1, sizeof t0) == 0, "%s: other tokens", cantus_lstm_isa_name(all_isas[k]));
      CHECK_MSG(memcmp(l0, l1, V * sizeof(float)) == 0,
                "%s: logits differ from scalar",
                cantus_lstm_isa_name(all_isas[k]));
      CHECK_MSG(memcmp(h0, h1, nhc * sizeof(float)) == 0,
                "%s: state differs from scalar",
                cantus_lstm_isa_name(all_isas[k]));
    }
    free(l0);
    free(l1);
    free(h0);
    free(h1);
    model_free(&m);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
  if (n_families == 0) {
    SKIP("no SIMD family on this CPU to compare with scalar");
  }
}

// int8 stays close to fp32 on the same model: logits within a few percent
// of their spread over a free-running sequence.
TEST(lstm_int8_close_to_fp32)
{
  CantusDims d = make_dims(2, 128, 300);
  Model m;
  model_init(&m, &d, 17);
  Rt a, b;
  rt_init(&a, &m, CANTUS_WEIGHTS_F32);
  rt_init(&b, &m, CANTUS_WEIGHTS_I8);
  float la[300], lb[300];
  double worst_rel = 0.0;
  rng_seed(4);
  for (int t = 0; t < 40; t++) {
    int tok = irand(300), pt = irand(12), pb = irand(7);
    cantus_lstm_step(&a.net, &a.st, tok, pt, pb, la);
    cantus_lstm_step(&b.net, &b.st, tok, pt, pb, lb);
    double lo = la[0], hi = la[0], e = 0.0;
    for (int v = 0; v < 300; v++) {
      lo = fmin(lo, la[v]);
      hi = fmax(hi, la[v]);
      e = fmax(e, fabs((double)la[v] - (double)lb[v]));
    }
    worst_rel = fmax(worst_rel, e / (hi - lo));
  }
  CHECK_MSG(worst_rel < 0.05, "int8 logits off by %.3g of the fp32 spread", worst_rel);
  if (cantus_test_verbose) {
    printf("  int8 vs fp32: worst %.3g of the logit spread\n", worst_rel);
  }
  rt_free(&a);
  rt_free(&b);
  model_free(&m);
}

TEST(lstm_weight_type_names)
{
  CantusWeightType wt = CANTUS_WEIGHTS_F32;
  CHECK(cantus_lstm_weights_parse("int8", &wt) && wt == CANTUS_WEIGHTS_I8);
  CHECK(cantus_lstm_weights_parse("fp16", &wt) && wt == CANTUS_WEIGHTS_F16);
  CHECK(cantus_lstm_weights_parse("f32", &wt) && wt == CANTUS_WEIGHTS_F32);
  CHECK(!cantus_lstm_weights_parse("int4", &wt) && wt == CANTUS_WEIGHTS_F32);
  CHECK(!cantus_lstm_weights_parse(NULL, &wt));
  for (int i = 0; i < CANTUS_WEIGHTS_N; i++) {
    CHECK(cantus_lstm_weights_parse(cantus_lstm_weights_name((CantusWeightType)i), &wt) &&
          wt == (CantusWeightType)i);
  }
  CHECK(cantus_lstm_weights_name((CantusWeightType)CANTUS_WEIGHTS_N) == NULL);
  // int8 storage is the smallest: a quarter of fp32 plus the row scales.
  CantusDims d = make_dims(2, 256, 300);
  CHECK(cantus_lstm_net_size(&d, CANTUS_WEIGHTS_I8) < cantus_lstm_net_size(&d, CANTUS_WEIGHTS_F16));
}
