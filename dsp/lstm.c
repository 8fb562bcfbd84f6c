// SPDX-License-Identifier: GPL-3.0-or-later
// The stacked LSTM at run time: the weight layout built by
// cantus_lstm_prepare (non-RT), the state, and the inference step and cell
// update with their portable scalar kernels (all [RT]).  The x86 SIMD
// kernels live in lstm_x86.c; this file picks a family once at load time
// from the CPU and dispatches to it.
//
// Weight layout ("panels"): every matrix the step multiplies, (M, N) with M
// rows, is stored as ceil(M/16) panels of 16 rows; a panel holds its N
// columns one after the other, 16 row values per column:
//   elem(r, j) = w[(r/16)*16*N + j*16 + r%16]
// so y += W x streams each panel once, one 16-wide vector per x[j].  Rows past
// M are zero.  The same layout serves the scalar, AVX2 (two 8-wide halves)
// and AVX-512 kernels, so the family can change without re-preparing.  fp16
// storage keeps the same element order in IEEE half precision (round to
// nearest even, saturating at +-65504 rather than becoming Inf); the math is
// fp32 in every family.
// Layer k > 0 stores [W_ih_k | W_hh_k] as one (4H, 2H) matrix.
// tok_proj rows are W_ih0[:, 0:E] tok_emb[v] accumulated in double and
// rounded once to float; l0_static likewise (set_style).
// The step calls no libm and allocates nothing; the cell update flushes
// denormal c (the contract) and denormal h (so the next products stay
// normal).
#include "lstm.h"
#include "chord.h"
#include "lstm_x86.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#  include <cpuid.h>
#endif

enum { PANEL = 16 };

static size_t align64(size_t n)
{
  return (n + 63) & ~(size_t)63;
}

// Hands out the next `bytes` of caller memory, keeping 64-byte alignment.
static void *take(unsigned char **at, size_t bytes)
{
  void *p = *at;
  *at += align64(bytes);
  return p;
}

static uint32_t round_panel(uint32_t m)
{
  return (m + PANEL - 1) / PANEL * PANEL;
}

// ---- IEEE half precision in plain C ---------------------------------------

// float -> half, round to nearest even; Inf and NaN kept (NaN quieted).
static uint16_t f32_to_f16(float f)
{
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {
    return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
  }
  if (ax >= 0x477ff000u) { // >= 65520 rounds to infinity
    return (uint16_t)(sign | 0x7c00u);
  }
  if (ax <= 0x33000000u) { // <= 2^-25 rounds to zero (the tie goes to even)
    return (uint16_t)sign;
  }
  uint32_t h, rem, half;
  if (ax < 0x38800000u) { // half subnormal: value / 2^-24, rounded
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; // 14..24
    h = m >> shift;
    rem = m & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  } else {
    h = (ax - 0x38000000u) >> 13; // rebias 127 -> 15
    rem = ax & 0x1fffu;
    half = 0x1000u;
  }
  if (rem > half || (rem == half && (h & 1u))) {
    h++; // may carry into the exponent, which is still the right answer
  }
  return (uint16_t)(sign | h);
}

// ---- activations, scalar ----------------------------------------------------
// The same polynomials as the SIMD kernels (Cephes expf/tanhf, ~1-2 ulp), so
// every family computes the same function and the scalar path needs no libm.

// c ? a : b as a bit mask: GCC (with its default -ftrapping-math) will not
// if-convert a float ?: that feeds arithmetic, and a branch stops the
// vectoriser.
static inline float select_f(int c, float a, float b)
{
  uint32_t m = 0u - (uint32_t)c, ab, bb;
  memcpy(&ab, &a, sizeof ab);
  memcpy(&bb, &b, sizeof bb);
  ab = (ab & m) | (bb & ~m);
  memcpy(&a, &ab, sizeof a);
  return a;
}

static inline __attribute__((always_inline)) float exp_poly(float x)
{
  x = select_f(x > CANTUS_ACT_EXP_HI, CANTUS_ACT_EXP_HI, x);
  x = select_f(x < CANTUS_ACT_EXP_LO, CANTUS_ACT_EXP_LO, x);
  // n = x log2 e rounded to nearest by the 1.5 * 2^23 trick (|x log2 e| <
  // 2^22); the sum's low mantissa bits then hold n + 2^22, which gives the
  // exponent of 2^n with integer operations only (no libm floorf, no float
  // -> int conversion, so the chunk loops vectorise).
  float m = x * CANTUS_ACT_LOG2E + 0x1.8p23f;
  float n = m - 0x1.8p23f;
  uint32_t mb;
  memcpy(&mb, &m, sizeof mb);
  float r = x - n * CANTUS_ACT_LN2_HI;
  r = r - n * CANTUS_ACT_LN2_LO;
  float z = r * r;
  float y = CANTUS_ACT_EP0;
  y = y * r + CANTUS_ACT_EP1;
  y = y * r + CANTUS_ACT_EP2;
  y = y * r + CANTUS_ACT_EP3;
  y = y * r + CANTUS_ACT_EP4;
  y = y * r + CANTUS_ACT_EP5;
  y = y * z + r + 1.0f;
  uint32_t bits = (mb - 0x4b400000u + 127u) << 23; // 2^n, n in -126..127
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

static inline __attribute__((always_inline)) float sigmoid_poly(float x)
{
  return 1.0f / (1.0f + exp_poly(-x));
}

// Both branches and a select, so the chunk loops below vectorise.
static inline __attribute__((always_inline)) float tanh_poly(float x)
{
  float ax = fabsf(x);
  float z = x * x;
  float y = CANTUS_ACT_TP0;
  y = y * z + CANTUS_ACT_TP1;
  y = y * z + CANTUS_ACT_TP2;
  y = y * z + CANTUS_ACT_TP3;
  y = y * z + CANTUS_ACT_TP4;
  float small = y * z * x + x;
  float t = 1.0f - 2.0f / (exp_poly(2.0f * ax) + 1.0f);
  float big = copysignf(t, x);
  return select_f(ax < CANTUS_ACT_TANH_SPLIT, small, big);
}

static inline float flush_denormal(float v)
{
  return fabsf(v) < FLT_MIN ? 0.0f : v;
}

static void gates_scalar(int n,
                         const float *pre,
                         const float *c_prev,
                         float *c,
                         float *h,
                         float *act)
{
  enum { CHUNK = 16 };
  // Fixed-size chunks of plain loops: the compiler vectorises them with
  // whatever the baseline ISA offers (SSE2, NEON).
  for (int j0 = 0; j0 < n; j0 += CHUNK) {
    float a[4][CHUNK] = { { 0 } }, cv[CHUNK] = { 0 }, hv[CHUNK];
    const int len = n - j0 < CHUNK ? n - j0 : CHUNK;
    for (int g = 0; g < 4; g++) {
      memcpy(a[g], pre + g * n + j0, (size_t)len * sizeof(float));
    }
    memcpy(cv, c_prev + j0, (size_t)len * sizeof(float));
    for (int j = 0; j < CHUNK; j++) {
      a[0][j] = sigmoid_poly(a[0][j]);
      a[1][j] = sigmoid_poly(a[1][j]);
      a[2][j] = tanh_poly(a[2][j]);
      a[3][j] = sigmoid_poly(a[3][j]);
    }
    for (int j = 0; j < CHUNK; j++) {
      cv[j] = flush_denormal(a[1][j] * cv[j] + a[0][j] * a[2][j]);
    }
    for (int j = 0; j < CHUNK; j++) {
      // h is flushed too: a denormal h would make the next products denormal.
      hv[j] = flush_denormal(a[3][j] * tanh_poly(cv[j]));
    }
    memcpy(c + j0, cv, (size_t)len * sizeof(float));
    memcpy(h + j0, hv, (size_t)len * sizeof(float));
    if (act) {
      for (int g = 0; g < 4; g++) {
        memcpy(act + g * n + j0, a[g], (size_t)len * sizeof(float));
      }
    }
  }
}

// ---- matrix-vector products, scalar ------------------------------------------

// Half -> float, exact for every half (checked against F16C for all 65536),
// with integer masks instead of branches so the compiler vectorises the
// panel loop.  A subnormal half is built as 2^-14 (1 + m/1024) - 2^-14, from
// normal floats only, so the result does not depend on DAZ/FTZ.
static inline float f16_to_f32(uint16_t h)
{
  uint32_t em = h & 0x7fffu;
  uint32_t sub = 0u - (uint32_t)(em < 0x400u);   // all ones for zero/subnormal
  uint32_t inf = 0u - (uint32_t)(em >= 0x7c00u); // all ones for Inf/NaN
  // Rebias the exponent 15 -> 127 (Inf/NaN: to 255; subnormal: as if e = 1).
  uint32_t bits = (em << 13) + 0x38000000u + (sub & 0x00800000u) + (inf & 0x38000000u);
  uint32_t k_bits = sub & 0x38800000u; // 2^-14 or +0
  float f, k;
  memcpy(&f, &bits, sizeof f);
  memcpy(&k, &k_bits, sizeof k);
  f -= k;
  memcpy(&bits, &f, sizeof bits);
  bits |= (uint32_t)(h & 0x8000u) << 16;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// acc[0:16] += the panel's n columns from wp times x[0:n].  The local copy
// keeps the accumulators in registers (acc might alias x as far as the
// compiler knows).
static void panel_f32(float *acc, const float *wp, const float *x, int n)
{
  float a[PANEL];
  memcpy(a, acc, sizeof a);
  for (int j = 0; j < n; j++) {
    const float *wj = wp + (size_t)j * PANEL;
    const float xj = x[j];
    for (int i = 0; i < PANEL; i++) {
      a[i] += wj[i] * xj;
    }
  }
  memcpy(acc, a, sizeof a);
}

static void panel_f16(float *acc, const uint16_t *wp, const float *x, int n)
{
  float a[PANEL];
  memcpy(a, acc, sizeof a);
  for (int j = 0; j < n; j++) {
    const uint16_t *wj = wp + (size_t)j * PANEL;
    const float xj = x[j];
    for (int i = 0; i < PANEL; i++) {
      a[i] += f16_to_f32(wj[i]) * xj;
    }
  }
  memcpy(acc, a, sizeof a);
}

// y = bias + W [x1; x2] for W (m, n1+n2) in panel layout; bias may alias y.
static void matvec_f32_scalar(const float *w,
                              int m,
                              const float *x1,
                              int n1,
                              const float *x2,
                              int n2,
                              const float *bias,
                              float *y)
{
  int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const float *wp = w + (size_t)r0 * (size_t)n;
    int rows = m - r0 < PANEL ? m - r0 : PANEL;
    float acc[PANEL];
    for (int i = 0; i < PANEL; i++) {
      acc[i] = i < rows ? bias[r0 + i] : 0.0f;
    }
    panel_f32(acc, wp, x1, n1);
    panel_f32(acc, wp + (size_t)n1 * PANEL, x2, n2);
    for (int i = 0; i < rows; i++) {
      y[r0 + i] = acc[i];
    }
  }
}

static void matvec_f16_scalar(const uint16_t *w,
                              int m,
                              const float *x1,
                              int n1,
                              const float *x2,
                              int n2,
                              const float *bias,
                              float *y)
{
  int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const uint16_t *wp = w + (size_t)r0 * (size_t)n;
    int rows = m - r0 < PANEL ? m - r0 : PANEL;
    float acc[PANEL];
    for (int i = 0; i < PANEL; i++) {
      acc[i] = i < rows ? bias[r0 + i] : 0.0f;
    }
    panel_f16(acc, wp, x1, n1);
    panel_f16(acc, wp + (size_t)n1 * PANEL, x2, n2);
    for (int i = 0; i < rows; i++) {
      y[r0 + i] = acc[i];
    }
  }
}

// ---- dispatch ------------------------------------------------------------------

// CPUID and XGETBV directly (no libgcc __cpu_model, which would also be an
// extra dynamic symbol in the plugin): a family is usable when the CPU has
// its instructions and the OS saves its register state.
static CantusIsa detect_isa(void)
{
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) {
    return CANTUS_ISA_SCALAR;
  }
  const bool fma = c & bit_FMA, f16c = c & bit_F16C, osxsave = c & bit_OSXSAVE;
  if (!osxsave || !(c & bit_AVX) || !fma || !f16c) {
    return CANTUS_ISA_SCALAR;
  }
  unsigned xlo, xhi;
  __asm__ __volatile__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  (void)xhi;
  if ((xlo & 0x6u) != 0x6u || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    return CANTUS_ISA_SCALAR; // no YMM state
  }
  const unsigned avx512 = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
  if ((b & avx512) == avx512 && (xlo & 0xe6u) == 0xe6u) { // + opmask, ZMM state
    return CANTUS_ISA_AVX512;
  }
  if (b & bit_AVX2) {
    return CANTUS_ISA_AVX2;
  }
#endif
  return CANTUS_ISA_SCALAR;
}

// The family in use.  Set before main() by the constructor (so the audio
// thread only ever reads it) and changed only by cantus_lstm_force_isa.
static CantusIsa isa_best = CANTUS_ISA_SCALAR;
static CantusIsa isa_cur = CANTUS_ISA_SCALAR;

__attribute__((constructor)) static void init_isa(void)
{
  isa_best = detect_isa();
  isa_cur = isa_best;
}

CantusIsa cantus_lstm_isa(void)
{
  return isa_cur;
}

const char *cantus_lstm_isa_name(CantusIsa isa)
{
  switch (isa) {
  case CANTUS_ISA_AVX2:
    return "avx2";
  case CANTUS_ISA_AVX512:
    return "avx512";
  case CANTUS_ISA_SCALAR:
  default:
    return "scalar";
  }
}

CantusIsa cantus_lstm_force_isa(CantusIsa isa)
{
  if (isa < CANTUS_ISA_SCALAR) {
    isa = CANTUS_ISA_SCALAR;
  }
  isa_cur = isa > isa_best ? isa_best : isa;
  return isa_cur;
}

static void matvec(CantusWeightType wt,
                   const void *w,
                   int m,
                   const float *x1,
                   int n1,
                   const float *x2,
                   int n2,
                   const float *bias,
                   float *y)
{
#if defined(__x86_64__)
  if (isa_cur == CANTUS_ISA_AVX512) {
    if (wt == CANTUS_WEIGHTS_F16) {
      cantus_lstm_x86_matvec_f16_avx512(w, m, x1, n1, x2, n2, bias, y);
    } else {
      cantus_lstm_x86_matvec_f32_avx512(w, m, x1, n1, x2, n2, bias, y);
    }
    return;
  }
  if (isa_cur == CANTUS_ISA_AVX2) {
    if (wt == CANTUS_WEIGHTS_F16) {
      cantus_lstm_x86_matvec_f16_avx2(w, m, x1, n1, x2, n2, bias, y);
    } else {
      cantus_lstm_x86_matvec_f32_avx2(w, m, x1, n1, x2, n2, bias, y);
    }
    return;
  }
#endif
  if (wt == CANTUS_WEIGHTS_F16) {
    matvec_f16_scalar(w, m, x1, n1, x2, n2, bias, y);
  } else {
    matvec_f32_scalar(w, m, x1, n1, x2, n2, bias, y);
  }
}

CANTUS_RT void cantus_lstm_gates(int n_hidden,
                                 const float *pre,
                                 const float *c_prev,
                                 float *c,
                                 float *h,
                                 float *act)
{
#if defined(__x86_64__)
  if (isa_cur == CANTUS_ISA_AVX512) {
    cantus_lstm_x86_gates_avx512(n_hidden, pre, c_prev, c, h, act);
    return;
  }
  if (isa_cur == CANTUS_ISA_AVX2) {
    cantus_lstm_x86_gates_avx2(n_hidden, pre, c_prev, c, h, act);
    return;
  }
#endif
  gates_scalar(n_hidden, pre, c_prev, c, h, act);
}

// ---- layout ----------------------------------------------------------------------

static size_t wsize(CantusWeightType wt)
{
  return wt == CANTUS_WEIGHTS_F16 ? 2 : 4;
}

// Columns of layer k's run-time matrix: H for layer 0 (recurrent only), 2H
// above (input and recurrent fused).
static uint32_t rec_cols(const CantusDims *d, uint32_t k)
{
  return k == 0 ? d->n_hidden : 2 * d->n_hidden;
}

size_t cantus_lstm_net_size(const CantusDims *d, CantusWeightType wt)
{
  size_t g = 4 * (size_t)d->n_hidden;
  size_t v = (size_t)cantus_vocab_size(&d->vocab);
  size_t s = align64(v * g * sizeof(float));
  s += align64(d->n_pos_tick * g * sizeof(float));
  s += align64(d->n_pos_beat * g * sizeof(float));
  s += align64(d->n_style_dim * g * sizeof(float));
  s += cantus_dims_n_lags(d) * align64(cantus_dims_lb_rows(d) * g * sizeof(float));
  s += align64(d->n_phrase * g * sizeof(float));
  s += align64(d->n_bars_left * g * sizeof(float));
  s += align64(d->n_chord * g * sizeof(float));
  s += d->n_layers * align64(g * sizeof(float));
  s += align64(v * sizeof(float));
  for (uint32_t k = 0; k < d->n_layers; k++) {
    s += align64(g * rec_cols(d, k) * wsize(wt));
  }
  s += align64(round_panel((uint32_t)v) * (size_t)d->n_hidden * wsize(wt));
  return s;
}

// Writes columns col0 .. col0+ncols-1 of a panel-layout matrix with m rows
// (rows past m stay zero) and n columns, from src (m, ncols) with row stride ld.
static void pack_cols(void *dst,
                      CantusWeightType wt,
                      uint32_t m,
                      uint32_t n,
                      uint32_t col0,
                      const float *src,
                      size_t ld,
                      uint32_t ncols)
{
  for (uint32_t r = 0; r < m; r++) {
    for (uint32_t j = 0; j < ncols; j++) {
      size_t at = (size_t)(r / PANEL) * PANEL * n + (size_t)(col0 + j) * PANEL + r % PANEL;
      float v = src[(size_t)r * ld + j];
      if (wt == CANTUS_WEIGHTS_F16) {
        // Saturate: a weight past the half range must not become Inf.
        v = v > 65504.0f ? 65504.0f : v < -65504.0f ? -65504.0f : v;
        ((uint16_t *)dst)[at] = f32_to_f16(v);
      } else {
        ((float *)dst)[at] = v;
      }
    }
  }
}

void cantus_lstm_prepare(CantusLstmNet *net,
                         void *mem,
                         const CantusDims *d,
                         const CantusParams *p,
                         CantusWeightType wt)
{
  const uint32_t H = d->n_hidden, G = 4 * H, E = d->n_embed, S = d->n_style_dim;
  const uint32_t NT = d->n_pos_tick, NB = d->n_pos_beat;
  const uint32_t V = (uint32_t)cantus_vocab_size(&d->vocab);
  const uint32_t I0 = cantus_dims_input(d, 0);
  const float *w0 = p->layer[0].w_ih; // (4H, I0)
  unsigned char *at = mem;

  memset(mem, 0, cantus_lstm_net_size(d, wt));
  memset(net, 0, sizeof *net);
  net->dims = *d;
  net->wtype = wt;

  float *tok = take(&at, (size_t)V * G * sizeof(float)); // (V, 4H)
  for (uint32_t r = 0; r < G; r++) { // one W_ih0 row against every (cached) embedding
    const float *row = w0 + (size_t)r * I0;
    for (uint32_t v = 0; v < V; v++) {
      const float *e = p->tok_emb + (size_t)v * E;
      double acc = 0.0;
      for (uint32_t k = 0; k < E; k++) {
        acc += (double)row[k] * (double)e[k];
      }
      tok[(size_t)v * G + r] = (float)acc;
    }
  }
  net->tok_proj = tok;

  float *pt = take(&at, (size_t)NT * G * sizeof(float)); // (NT, 4H)
  float *pb = take(&at, (size_t)NB * G * sizeof(float)); // (NB, 4H)
  float *sw = take(&at, (size_t)S * G * sizeof(float));  // (S, 4H)
  for (uint32_t r = 0; r < G; r++) {
    const float *row = w0 + (size_t)r * I0;
    for (uint32_t s = 0; s < S; s++) {
      sw[(size_t)s * G + r] = row[E + s];
    }
    for (uint32_t t = 0; t < NT; t++) {
      pt[(size_t)t * G + r] = row[E + S + t];
    }
    for (uint32_t b = 0; b < NB; b++) {
      pb[(size_t)b * G + r] = row[E + S + NT + b];
    }
  }
  net->pos_tick_proj = pt;
  net->pos_beat_proj = pb;
  net->style_w = sw;

  // Version 2 form inputs: per lag the table lb_emb x W_ih0[:, lag columns]^T
  // (accumulated in double like tok_proj), and the one-hot columns as rows.
  const uint32_t NLB = cantus_dims_lb_rows(d);
  uint32_t col = cantus_dims_col_lookback(d);
  for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
    if (!((d->lookback_lags >> i) & 1u)) {
      continue;
    }
    float *lp = take(&at, (size_t)NLB * G * sizeof(float)); // (V+1, 4H)
    for (uint32_t r = 0; r < G; r++) {
      const float *row = w0 + (size_t)r * I0 + col;
      for (uint32_t v = 0; v < NLB; v++) {
        const float *e = p->lb_emb + (size_t)v * E;
        double acc = 0.0;
        for (uint32_t k = 0; k < E; k++) {
          acc += (double)row[k] * (double)e[k];
        }
        lp[(size_t)v * G + r] = (float)acc;
      }
    }
    net->lb_proj[i] = lp;
    col += E;
  }
  if (d->n_phrase) {
    float *pp = take(&at, (size_t)d->n_phrase * G * sizeof(float)); // (16, 4H)
    const uint32_t c0 = cantus_dims_col_phrase(d);
    for (uint32_t r = 0; r < G; r++) {
      for (uint32_t j = 0; j < d->n_phrase; j++) {
        pp[(size_t)j * G + r] = w0[(size_t)r * I0 + c0 + j];
      }
    }
    net->phrase_proj = pp;
  }
  if (d->n_bars_left) {
    float *bp = take(&at, (size_t)d->n_bars_left * G * sizeof(float)); // (18, 4H)
    const uint32_t c0 = cantus_dims_col_bars_left(d);
    for (uint32_t r = 0; r < G; r++) {
      for (uint32_t j = 0; j < d->n_bars_left; j++) {
        bp[(size_t)j * G + r] = w0[(size_t)r * I0 + c0 + j];
      }
    }
    net->bars_left_proj = bp;
  }
  if (d->n_chord) {
    float *cp = take(&at, (size_t)d->n_chord * G * sizeof(float)); // (13, 4H)
    const uint32_t c0 = cantus_dims_col_chord(d);
    for (uint32_t r = 0; r < G; r++) {
      for (uint32_t j = 0; j < d->n_chord; j++) {
        cp[(size_t)j * G + r] = w0[(size_t)r * I0 + c0 + j];
      }
    }
    net->chord_proj = cp;
  }

  for (uint32_t k = 0; k < d->n_layers; k++) {
    float *b = take(&at, (size_t)G * sizeof(float)); // (4H)
    memcpy(b, p->layer[k].b, (size_t)G * sizeof(float));
    net->b[k] = b;
  }
  net->b0 = net->b[0];

  float *bo = take(&at, (size_t)V * sizeof(float)); // (V)
  memcpy(bo, p->b_out, (size_t)V * sizeof(float));
  net->b_out = bo;

  for (uint32_t k = 0; k < d->n_layers; k++) {
    uint32_t n = rec_cols(d, k);
    void *w = take(&at, (size_t)G * n * wsize(wt)); // (4H, n) panels
    if (k == 0) {
      pack_cols(w, wt, G, n, 0, p->layer[0].w_hh, H, H);
    } else {
      pack_cols(w, wt, G, n, 0, p->layer[k].w_ih, H, H);
      pack_cols(w, wt, G, n, H, p->layer[k].w_hh, H, H);
    }
    net->w_rec[k] = w;
  }

  void *wo = at; // (V, H) panels, V rounded up to 16
  pack_cols(wo, wt, V, H, 0, p->w_out, H, H);
  net->w_out = wo;
}

// ---- state ---------------------------------------------------------------------------

size_t cantus_lstm_state_floats(const CantusDims *d)
{
  return 2 * (size_t)d->n_layers * d->n_hidden;
}

size_t cantus_lstm_state_size(const CantusDims *d)
{
  size_t g = 4 * (size_t)d->n_hidden * sizeof(float);
  return align64(cantus_lstm_state_floats(d) * sizeof(float)) + (d->n_chord ? 3 : 2) * align64(g);
}

void cantus_lstm_state_init(CantusLstmState *st, void *mem, const CantusLstmNet *net)
{
  const CantusDims *d = &net->dims;
  const size_t H = d->n_hidden, G = 4 * H;
  unsigned char *at = mem;
  memset(mem, 0, cantus_lstm_state_size(d));
  memset(st, 0, sizeof *st);
  st->hc = take(&at, cantus_lstm_state_floats(d) * sizeof(float));
  for (uint32_t k = 0; k < d->n_layers; k++) {
    st->h[k] = st->hc + 2 * k * H;
    st->c[k] = st->hc + (2 * k + 1) * H;
  }
  st->pre = take(&at, G * sizeof(float));
  st->l0_static = take(&at, G * sizeof(float));
  memcpy(st->l0_static, net->b0, G * sizeof(float));
  st->chord_sum = d->n_chord ? take(&at, G * sizeof(float)) : NULL;
  st->chord_key = UINT32_MAX;
}

CANTUS_RT void cantus_lstm_reset(const CantusLstmNet *net, CantusLstmState *st)
{
  memset(st->hc, 0, cantus_lstm_state_floats(&net->dims) * sizeof(float));
}

CANTUS_RT void cantus_lstm_set_style(const CantusLstmNet *net,
                                     CantusLstmState *st,
                                     const float *style)
{
  enum { BLOCK = 64 };
  const uint32_t G = 4 * net->dims.n_hidden, S = net->dims.n_style_dim;
  // Blocks of rows with double accumulators: exact enough for any S and
  // still a sequential walk over style_w.
  for (uint32_t r0 = 0; r0 < G; r0 += BLOCK) {
    double acc[BLOCK];
    for (uint32_t i = 0; i < BLOCK; i++) {
      acc[i] = (double)net->b0[r0 + i];
    }
    for (uint32_t s = 0; s < S; s++) {
      const float *row = net->style_w + (size_t)s * G + r0;
      double x = (double)style[s];
      for (uint32_t i = 0; i < BLOCK; i++) {
        acc[i] += (double)row[i] * x;
      }
    }
    for (uint32_t i = 0; i < BLOCK; i++) {
      st->l0_static[r0 + i] = (float)acc[i];
    }
  }
}

// ---- the step -------------------------------------------------------------------------

// Layers from pre (layer 0's input part already in it) to the logits.
static void step_rest(const CantusLstmNet *net, CantusLstmState *st, float *logits)
{
  const CantusDims *d = &net->dims;
  const int H = (int)d->n_hidden, G = 4 * H;
  const int V = cantus_vocab_size(&d->vocab);
  float *pre = st->pre;
  matvec(net->wtype, net->w_rec[0], G, st->h[0], H, NULL, 0, pre, pre);
  cantus_lstm_gates(H, pre, st->c[0], st->c[0], st->h[0], NULL);

  for (uint32_t k = 1; k < d->n_layers; k++) {
    matvec(net->wtype, net->w_rec[k], G, st->h[k - 1], H, st->h[k], H, net->b[k], pre);
    cantus_lstm_gates(H, pre, st->c[k], st->c[k], st->h[k], NULL);
  }

  matvec(net->wtype, net->w_out, V, st->h[d->n_layers - 1], H, NULL, 0, net->b_out, logits);
}

// pre = tok_proj[token] + l0_static + pos_tick_proj[pt] + pos_beat_proj[pb].
static void step_input(const CantusLstmNet *net,
                       CantusLstmState *st,
                       int token,
                       int pos_tick,
                       int pos_beat)
{
  const CantusDims *d = &net->dims;
  const int G = 4 * (int)d->n_hidden;
  const int V = cantus_vocab_size(&d->vocab);
  float *pre = st->pre; // (4H)

  // The caller reduces these into range; out-of-range values must still not
  // read outside the tables.
  if (token < 0 || token >= V) {
    token = 0;
  }
  const float *tp = net->tok_proj + (size_t)token * (size_t)G;
  const float *ls = st->l0_static;
  const float *ptk = NULL, *pbt = NULL;
  if (d->n_pos_tick > 0) {
    ptk = net->pos_tick_proj +
          (size_t)(pos_tick >= 0 && pos_tick < (int)d->n_pos_tick ? pos_tick : 0) * (size_t)G;
  }
  if (d->n_pos_beat > 0) {
    pbt = net->pos_beat_proj +
          (size_t)(pos_beat >= 0 && pos_beat < (int)d->n_pos_beat ? pos_beat : 0) * (size_t)G;
  }
  for (int r = 0; r < G; r++) {
    float v = tp[r] + ls[r];
    v += ptk ? ptk[r] : 0.0f;
    v += pbt ? pbt[r] : 0.0f;
    pre[r] = v;
  }
}

CANTUS_RT void cantus_lstm_step(const CantusLstmNet *net,
                                CantusLstmState *st,
                                int token,
                                int pos_tick,
                                int pos_beat,
                                float *logits)
{
  step_input(net, st, token, pos_tick, pos_beat);
  step_rest(net, st, logits);
}

// Row `cls` of a (n, 4H) table, clamped into 0..n-1 (fallback for out of range).
static const float *table_row(const float *t, uint32_t n, int cls, int fallback, int G)
{
  const int c = cls >= 0 && cls < (int)n ? cls : fallback;
  return t + (size_t)c * (size_t)G;
}

// The layer-0 contribution of chord `key` (a pitch-class set, 0 = no
// chord): the no-chord row, or the pitch-class rows summed in ascending
// order.  Always from the table, so the same chord gives the same floats.
static void chord_vector(const CantusLstmNet *net, float *sum, uint32_t key)
{
  const size_t G = 4 * (size_t)net->dims.n_hidden;
  const float *t = net->chord_proj;
  if (!key) {
    memcpy(sum, t + (size_t)CANTUS_CHORD_NONE_COL * G, G * sizeof(float));
    return;
  }
  bool first = true;
  for (int p = 0; p < 12; p++) {
    if (!((key >> p) & 1u)) {
      continue;
    }
    const float *restrict row = t + (size_t)p * G;
    if (first) {
      memcpy(sum, row, G * sizeof(float));
      first = false;
    } else {
      for (size_t r = 0; r < G; r++) {
        sum[r] += row[r];
      }
    }
  }
}

CANTUS_RT void cantus_lstm_step_form(const CantusLstmNet *net,
                                     CantusLstmState *st,
                                     int token,
                                     int pos_tick,
                                     int pos_beat,
                                     const CantusLookbackFeatures *form,
                                     float *logits)
{
  const CantusDims *d = &net->dims;
  step_input(net, st, token, pos_tick, pos_beat);
  if (cantus_dims_is_v2(d)) {
    const int G = 4 * (int)d->n_hidden;
    const int V = cantus_vocab_size(&d->vocab);
    const uint32_t nlb = cantus_dims_lb_rows(d);
    float *pre = st->pre;
    // The rows to add: one per lag, the phrase bar, the bars left.
    const float *row[CANTUS_LOOKBACK_N_LAGS + 2];
    int n = 0;
    for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
      if (net->lb_proj[i]) {
        row[n++] = table_row(net->lb_proj[i], nlb, form ? form->look[i] : V, V, G);
      }
    }
    if (net->phrase_proj) {
      row[n++] = table_row(net->phrase_proj, d->n_phrase, form ? form->phrase_bar : 0, 0, G);
    }
    if (net->bars_left_proj) {
      row[n++] = table_row(net->bars_left_proj,
                           d->n_bars_left,
                           form ? form->bars_left : CANTUS_BARS_LEFT_UNKNOWN,
                           CANTUS_BARS_LEFT_UNKNOWN,
                           G);
    }
    if (n == CANTUS_LOOKBACK_N_LAGS + 2) {
      // Every form input (what the trainer writes): one pass over pre.
      const float *restrict r0 = row[0], *restrict r1 = row[1], *restrict r2 = row[2],
                            *restrict r3 = row[3], *restrict r4 = row[4], *restrict r5 = row[5];
      float *restrict out = pre;
      for (int r = 0; r < G; r++) {
        out[r] += ((r0[r] + r1[r]) + (r2[r] + r3[r])) + (r4[r] + r5[r]);
      }
    } else {
      for (int j = 0; j < n; j++) {
        const float *rj = row[j];
        for (int r = 0; r < G; r++) {
          pre[r] += rj[r];
        }
      }
    }
    if (net->chord_proj) {
      const uint32_t key = form ? (uint32_t)(form->chord & 0xfffu) : 0u;
      if (key != st->chord_key) {
        chord_vector(net, st->chord_sum, key);
        st->chord_key = key;
      }
      const float *restrict cs = st->chord_sum;
      float *restrict out = pre;
      for (int r = 0; r < G; r++) {
        out[r] += cs[r];
      }
    }
  }
  step_rest(net, st, logits);
}
