// SPDX-License-Identifier: GPL-3.0-or-later
// AVX2+FMA+F16C and AVX-512 kernels for the LSTM step: matrix-vector
// products over lstm.c's 16-row panels (fp32 or fp16 storage, fp32 math)
// and the vectorised cell update.  Every function carries its own target
// attribute; nothing here runs unless lstm.c found the instruction set at
// load time.  Thread class: [RT], all of it.
//
// The activations are the same Cephes polynomials as lstm.c's scalar path
// (exp: range reduction by ln 2 in two parts, degree-5 polynomial, ~1 ulp;
// tanh: odd polynomial below |x| 0.625, 1 - 2/(e^2x + 1) above), evaluated
// with FMA, so they agree with the scalar path to a few ulp.  AVX2 and
// AVX-512 perform the same operations in the same order (an AVX2 panel is
// two 8-wide halves, its accumulators pair up like the AVX-512 ones), so
// those two agree bit for bit; test_lstm checks it, keep it so when tuning.
#include "lstm_x86.h"

#if defined(__x86_64__)

#  include <float.h>
#  include <immintrin.h>
#  include <stdbool.h>
#  include <string.h>

#  define TGT2 __attribute__((target("avx2,fma,f16c")))
#  define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#  define INL static inline __attribute__((always_inline))

enum { PANEL = 16 };
// Longest int8 activation vector (one segment: a layer's hidden size).
#  define CANTUS_MAX_HIDDEN_X 1024

// ==== AVX2 ======================================================================

// acc[0..7] (lo/hi halves of a 16-row panel, 4 columns in flight) += W x.
// The accumulators live in locals for the loop: with the array itself GCC
// stores all eight back to the stack every iteration, and those stores,
// not the FMAs, set the speed (the loads, FMAs and their order are the
// same either way, so the results are too).
INL TGT2 void seg_f32_avx2(const float *wp, const float *x, int n, __m256 acc[8])
{
  __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  __m256 a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *w = wp + (size_t)j * PANEL;
    __m256 x0 = _mm256_broadcast_ss(x + j), x1 = _mm256_broadcast_ss(x + j + 1);
    __m256 x2 = _mm256_broadcast_ss(x + j + 2), x3 = _mm256_broadcast_ss(x + j + 3);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 0), x0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), x0, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 16), x1, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 24), x1, a3);
    a4 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 32), x2, a4);
    a5 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 40), x2, a5);
    a6 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 48), x3, a6);
    a7 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 56), x3, a7);
  }
  for (; j < n; j++) {
    const float *w = wp + (size_t)j * PANEL;
    __m256 xj = _mm256_broadcast_ss(x + j);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 0), xj, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), xj, a1);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  acc[4] = a4;
  acc[5] = a5;
  acc[6] = a6;
  acc[7] = a7;
}

INL TGT2 __m256 h2f_avx2(const uint16_t *p)
{
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

INL TGT2 void seg_f16_avx2(const uint16_t *wp, const float *x, int n, __m256 acc[8])
{
  __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  __m256 a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const uint16_t *w = wp + (size_t)j * PANEL;
    __m256 x0 = _mm256_broadcast_ss(x + j), x1 = _mm256_broadcast_ss(x + j + 1);
    __m256 x2 = _mm256_broadcast_ss(x + j + 2), x3 = _mm256_broadcast_ss(x + j + 3);
    a0 = _mm256_fmadd_ps(h2f_avx2(w + 0), x0, a0);
    a1 = _mm256_fmadd_ps(h2f_avx2(w + 8), x0, a1);
    a2 = _mm256_fmadd_ps(h2f_avx2(w + 16), x1, a2);
    a3 = _mm256_fmadd_ps(h2f_avx2(w + 24), x1, a3);
    a4 = _mm256_fmadd_ps(h2f_avx2(w + 32), x2, a4);
    a5 = _mm256_fmadd_ps(h2f_avx2(w + 40), x2, a5);
    a6 = _mm256_fmadd_ps(h2f_avx2(w + 48), x3, a6);
    a7 = _mm256_fmadd_ps(h2f_avx2(w + 56), x3, a7);
  }
  for (; j < n; j++) {
    const uint16_t *w = wp + (size_t)j * PANEL;
    __m256 xj = _mm256_broadcast_ss(x + j);
    a0 = _mm256_fmadd_ps(h2f_avx2(w + 0), xj, a0);
    a1 = _mm256_fmadd_ps(h2f_avx2(w + 8), xj, a1);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  acc[4] = a4;
  acc[5] = a5;
  acc[6] = a6;
  acc[7] = a7;
}

// Starts a panel's accumulators from the bias (the partial last panel reads
// only its `rows` values).
INL TGT2 void panel_begin_avx2(const float *bias, int rows, __m256 acc[8])
{
  if (rows == PANEL) {
    acc[0] = _mm256_loadu_ps(bias);
    acc[1] = _mm256_loadu_ps(bias + 8);
  } else {
    float b[PANEL] = { 0 };
    for (int i = 0; i < rows; i++) {
      b[i] = bias[i];
    }
    acc[0] = _mm256_loadu_ps(b);
    acc[1] = _mm256_loadu_ps(b + 8);
  }
  for (int i = 2; i < 8; i++) {
    acc[i] = _mm256_setzero_ps();
  }
}

INL TGT2 void panel_end_avx2(__m256 acc[8], int rows, float *y)
{
  __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[4], acc[6]));
  __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[3]), _mm256_add_ps(acc[5], acc[7]));
  if (rows == PANEL) {
    _mm256_storeu_ps(y, lo);
    _mm256_storeu_ps(y + 8, hi);
  } else {
    float t[PANEL];
    _mm256_storeu_ps(t, lo);
    _mm256_storeu_ps(t + 8, hi);
    for (int i = 0; i < rows; i++) {
      y[i] = t[i];
    }
  }
}

TGT2 CANTUS_RT void cantus_lstm_x86_matvec_f32_avx2(const float *w,
                                                    int m,
                                                    const float *x1,
                                                    int n1,
                                                    const float *x2,
                                                    int n2,
                                                    const float *bias,
                                                    float *y)
{
  const int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const float *wp = w + (size_t)r0 * (size_t)n;
    const int rows = m - r0 < PANEL ? m - r0 : PANEL;
    __m256 acc[8];
    panel_begin_avx2(bias + r0, rows, acc);
    seg_f32_avx2(wp, x1, n1, acc);
    seg_f32_avx2(wp + (size_t)n1 * PANEL, x2, n2, acc);
    panel_end_avx2(acc, rows, y + r0);
  }
}

TGT2 CANTUS_RT void cantus_lstm_x86_matvec_f16_avx2(const uint16_t *w,
                                                    int m,
                                                    const float *x1,
                                                    int n1,
                                                    const float *x2,
                                                    int n2,
                                                    const float *bias,
                                                    float *y)
{
  const int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const uint16_t *wp = w + (size_t)r0 * (size_t)n;
    const int rows = m - r0 < PANEL ? m - r0 : PANEL;
    __m256 acc[8];
    panel_begin_avx2(bias + r0, rows, acc);
    seg_f16_avx2(wp, x1, n1, acc);
    seg_f16_avx2(wp + (size_t)n1 * PANEL, x2, n2, acc);
    panel_end_avx2(acc, rows, y + r0);
  }
}

// a*b + c and c - a*b: fused (one rounding) for fp32/fp16 networks, or
// unfused (two, as the scalar path) for int8 ones.  `fused` is a constant
// at every call, so each kernel compiles to one or the other.
INL TGT2 __m256 madd_avx2(__m256 a, __m256 b, __m256 c, bool fused)
{
  return fused ? _mm256_fmadd_ps(a, b, c) : _mm256_add_ps(_mm256_mul_ps(a, b), c);
}

INL TGT2 __m256 nmadd_avx2(__m256 a, __m256 b, __m256 c, bool fused)
{
  return fused ? _mm256_fnmadd_ps(a, b, c) : _mm256_sub_ps(c, _mm256_mul_ps(a, b));
}

INL TGT2 __m256 exp_avx2(__m256 x, bool fused)
{
  x = _mm256_min_ps(x, _mm256_set1_ps(CANTUS_ACT_EXP_HI));
  x = _mm256_max_ps(x, _mm256_set1_ps(CANTUS_ACT_EXP_LO));
  // n = x log2 e rounded to nearest, as the scalar path's 1.5 * 2^23 trick.
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(CANTUS_ACT_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = nmadd_avx2(n, _mm256_set1_ps(CANTUS_ACT_LN2_HI), x, fused);
  r = nmadd_avx2(n, _mm256_set1_ps(CANTUS_ACT_LN2_LO), r, fused);
  __m256 z = _mm256_mul_ps(r, r);
  __m256 y = _mm256_set1_ps(CANTUS_ACT_EP0);
  y = madd_avx2(y, r, _mm256_set1_ps(CANTUS_ACT_EP1), fused);
  y = madd_avx2(y, r, _mm256_set1_ps(CANTUS_ACT_EP2), fused);
  y = madd_avx2(y, r, _mm256_set1_ps(CANTUS_ACT_EP3), fused);
  y = madd_avx2(y, r, _mm256_set1_ps(CANTUS_ACT_EP4), fused);
  y = madd_avx2(y, r, _mm256_set1_ps(CANTUS_ACT_EP5), fused);
  y = _mm256_add_ps(madd_avx2(y, z, r, fused), _mm256_set1_ps(1.0f));
  __m256i e =
    _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

INL TGT2 __m256 sigmoid_avx2(__m256 x, bool fused)
{
  __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one,
                       _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x), fused)));
}

INL TGT2 __m256 tanh_avx2(__m256 x, bool fused)
{
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 ax = _mm256_andnot_ps(sign, x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(CANTUS_ACT_TP0);
  p = madd_avx2(p, z, _mm256_set1_ps(CANTUS_ACT_TP1), fused);
  p = madd_avx2(p, z, _mm256_set1_ps(CANTUS_ACT_TP2), fused);
  p = madd_avx2(p, z, _mm256_set1_ps(CANTUS_ACT_TP3), fused);
  p = madd_avx2(p, z, _mm256_set1_ps(CANTUS_ACT_TP4), fused);
  __m256 small = madd_avx2(_mm256_mul_ps(p, z), x, x, fused);
  __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = exp_avx2(_mm256_add_ps(ax, ax), fused);
  __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  __m256 is_small = _mm256_cmp_ps(ax, _mm256_set1_ps(CANTUS_ACT_TANH_SPLIT), _CMP_LT_OQ);
  return _mm256_blendv_ps(big, small, is_small);
}

INL TGT2 __m256 flush_avx2(__m256 v)
{
  __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
  return _mm256_and_ps(v, _mm256_cmp_ps(ax, _mm256_set1_ps(FLT_MIN), _CMP_GE_OQ));
}

INL TGT2 void
gates_avx2(int n, const float *pre, const float *c_prev, float *c, float *h, float *act, bool fused)
{
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int j = 0; j < n; j += 8) {
    __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane); // lanes still in range
    __m256 i = sigmoid_avx2(_mm256_maskload_ps(pre + j, k), fused);
    __m256 f = sigmoid_avx2(_mm256_maskload_ps(pre + n + j, k), fused);
    __m256 g = tanh_avx2(_mm256_maskload_ps(pre + 2 * n + j, k), fused);
    __m256 o = sigmoid_avx2(_mm256_maskload_ps(pre + 3 * n + j, k), fused);
    __m256 cv = madd_avx2(f, _mm256_maskload_ps(c_prev + j, k), _mm256_mul_ps(i, g), fused);
    cv = flush_avx2(cv);
    __m256 hv = flush_avx2(_mm256_mul_ps(o, tanh_avx2(cv, fused)));
    _mm256_maskstore_ps(c + j, k, cv);
    _mm256_maskstore_ps(h + j, k, hv);
    if (act) {
      _mm256_maskstore_ps(act + j, k, i);
      _mm256_maskstore_ps(act + n + j, k, f);
      _mm256_maskstore_ps(act + 2 * n + j, k, g);
      _mm256_maskstore_ps(act + 3 * n + j, k, o);
    }
  }
}

TGT2 CANTUS_RT void cantus_lstm_x86_gates_avx2(int n,
                                               const float *pre,
                                               const float *c_prev,
                                               float *c,
                                               float *h,
                                               float *act)
{
  gates_avx2(n, pre, c_prev, c, h, act, true);
}

TGT2 CANTUS_RT void cantus_lstm_x86_gates_exact_avx2(int n,
                                                     const float *pre,
                                                     const float *c_prev,
                                                     float *c,
                                                     float *h)
{
  gates_avx2(n, pre, c_prev, c, h, NULL, false);
}

// ==== AVX-512 ======================================================================

INL TGT512 void seg_f32_avx512(const float *wp, const float *x, int n, __m512 acc[4])
{
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *w = wp + (size_t)j * PANEL;
    acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(w + 0), _mm512_set1_ps(x[j]), acc[0]);
    acc[1] = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16), _mm512_set1_ps(x[j + 1]), acc[1]);
    acc[2] = _mm512_fmadd_ps(_mm512_loadu_ps(w + 32), _mm512_set1_ps(x[j + 2]), acc[2]);
    acc[3] = _mm512_fmadd_ps(_mm512_loadu_ps(w + 48), _mm512_set1_ps(x[j + 3]), acc[3]);
  }
  for (; j < n; j++) {
    acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(wp + (size_t)j * PANEL), _mm512_set1_ps(x[j]), acc[0]);
  }
}

INL TGT512 __m512 h2f_avx512(const uint16_t *p)
{
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

INL TGT512 void seg_f16_avx512(const uint16_t *wp, const float *x, int n, __m512 acc[4])
{
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const uint16_t *w = wp + (size_t)j * PANEL;
    acc[0] = _mm512_fmadd_ps(h2f_avx512(w + 0), _mm512_set1_ps(x[j]), acc[0]);
    acc[1] = _mm512_fmadd_ps(h2f_avx512(w + 16), _mm512_set1_ps(x[j + 1]), acc[1]);
    acc[2] = _mm512_fmadd_ps(h2f_avx512(w + 32), _mm512_set1_ps(x[j + 2]), acc[2]);
    acc[3] = _mm512_fmadd_ps(h2f_avx512(w + 48), _mm512_set1_ps(x[j + 3]), acc[3]);
  }
  for (; j < n; j++) {
    acc[0] = _mm512_fmadd_ps(h2f_avx512(wp + (size_t)j * PANEL), _mm512_set1_ps(x[j]), acc[0]);
  }
}

INL TGT512 __mmask16 rows_mask(int rows)
{
  return rows >= PANEL ? (__mmask16)0xffff : (__mmask16)((1u << rows) - 1u);
}

TGT512 CANTUS_RT void cantus_lstm_x86_matvec_f32_avx512(const float *w,
                                                        int m,
                                                        const float *x1,
                                                        int n1,
                                                        const float *x2,
                                                        int n2,
                                                        const float *bias,
                                                        float *y)
{
  const int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const float *wp = w + (size_t)r0 * (size_t)n;
    const __mmask16 k = rows_mask(m - r0);
    __m512 acc[4] = { _mm512_maskz_loadu_ps(k, bias + r0),
                      _mm512_setzero_ps(),
                      _mm512_setzero_ps(),
                      _mm512_setzero_ps() };
    seg_f32_avx512(wp, x1, n1, acc);
    seg_f32_avx512(wp + (size_t)n1 * PANEL, x2, n2, acc);
    __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_mask_storeu_ps(y + r0, k, s);
  }
}

TGT512 CANTUS_RT void cantus_lstm_x86_matvec_f16_avx512(const uint16_t *w,
                                                        int m,
                                                        const float *x1,
                                                        int n1,
                                                        const float *x2,
                                                        int n2,
                                                        const float *bias,
                                                        float *y)
{
  const int n = n1 + n2;
  for (int r0 = 0; r0 < m; r0 += PANEL) {
    const uint16_t *wp = w + (size_t)r0 * (size_t)n;
    const __mmask16 k = rows_mask(m - r0);
    __m512 acc[4] = { _mm512_maskz_loadu_ps(k, bias + r0),
                      _mm512_setzero_ps(),
                      _mm512_setzero_ps(),
                      _mm512_setzero_ps() };
    seg_f16_avx512(wp, x1, n1, acc);
    seg_f16_avx512(wp + (size_t)n1 * PANEL, x2, n2, acc);
    __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_mask_storeu_ps(y + r0, k, s);
  }
}

INL TGT512 __m512 madd_avx512(__m512 a, __m512 b, __m512 c, bool fused)
{
  return fused ? _mm512_fmadd_ps(a, b, c) : _mm512_add_ps(_mm512_mul_ps(a, b), c);
}

INL TGT512 __m512 nmadd_avx512(__m512 a, __m512 b, __m512 c, bool fused)
{
  return fused ? _mm512_fnmadd_ps(a, b, c) : _mm512_sub_ps(c, _mm512_mul_ps(a, b));
}

INL TGT512 __m512 exp_avx512(__m512 x, bool fused)
{
  x = _mm512_min_ps(x, _mm512_set1_ps(CANTUS_ACT_EXP_HI));
  x = _mm512_max_ps(x, _mm512_set1_ps(CANTUS_ACT_EXP_LO));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(CANTUS_ACT_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = nmadd_avx512(n, _mm512_set1_ps(CANTUS_ACT_LN2_HI), x, fused);
  r = nmadd_avx512(n, _mm512_set1_ps(CANTUS_ACT_LN2_LO), r, fused);
  __m512 z = _mm512_mul_ps(r, r);
  __m512 y = _mm512_set1_ps(CANTUS_ACT_EP0);
  y = madd_avx512(y, r, _mm512_set1_ps(CANTUS_ACT_EP1), fused);
  y = madd_avx512(y, r, _mm512_set1_ps(CANTUS_ACT_EP2), fused);
  y = madd_avx512(y, r, _mm512_set1_ps(CANTUS_ACT_EP3), fused);
  y = madd_avx512(y, r, _mm512_set1_ps(CANTUS_ACT_EP4), fused);
  y = madd_avx512(y, r, _mm512_set1_ps(CANTUS_ACT_EP5), fused);
  y = _mm512_add_ps(madd_avx512(y, z, r, fused), _mm512_set1_ps(1.0f));
  if (fused) {
    return _mm512_scalef_ps(y, n);
  }
  // 2^n built from its bits and multiplied, exactly as the scalar path.
  __m512i e =
    _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

INL TGT512 __m512 sigmoid_avx512(__m512 x, bool fused)
{
  __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(
    one, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x), fused)));
}

INL TGT512 __m512 tanh_avx512(__m512 x, bool fused)
{
  __m512 ax = _mm512_abs_ps(x);
  __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(CANTUS_ACT_TP0);
  p = madd_avx512(p, z, _mm512_set1_ps(CANTUS_ACT_TP1), fused);
  p = madd_avx512(p, z, _mm512_set1_ps(CANTUS_ACT_TP2), fused);
  p = madd_avx512(p, z, _mm512_set1_ps(CANTUS_ACT_TP3), fused);
  p = madd_avx512(p, z, _mm512_set1_ps(CANTUS_ACT_TP4), fused);
  __m512 small = madd_avx512(_mm512_mul_ps(p, z), x, x, fused);
  __m512 one = _mm512_set1_ps(1.0f);
  __m512 e = exp_avx512(_mm512_add_ps(ax, ax), fused);
  __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  big = _mm512_or_ps(big, _mm512_and_ps(_mm512_set1_ps(-0.0f), x));
  __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(CANTUS_ACT_TANH_SPLIT), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

INL TGT512 __m512 flush_avx512(__m512 v)
{
  __mmask16 normal = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(FLT_MIN), _CMP_GE_OQ);
  return _mm512_maskz_mov_ps(normal, v);
}

INL TGT512 void gates_avx512(int n,
                             const float *pre,
                             const float *c_prev,
                             float *c,
                             float *h,
                             float *act,
                             bool fused)
{
  for (int j = 0; j < n; j += PANEL) {
    const __mmask16 k = rows_mask(n - j);
    __m512 i = sigmoid_avx512(_mm512_maskz_loadu_ps(k, pre + j), fused);
    __m512 f = sigmoid_avx512(_mm512_maskz_loadu_ps(k, pre + n + j), fused);
    __m512 g = tanh_avx512(_mm512_maskz_loadu_ps(k, pre + 2 * n + j), fused);
    __m512 o = sigmoid_avx512(_mm512_maskz_loadu_ps(k, pre + 3 * n + j), fused);
    __m512 cv = madd_avx512(f, _mm512_maskz_loadu_ps(k, c_prev + j), _mm512_mul_ps(i, g), fused);
    cv = flush_avx512(cv);
    __m512 hv = flush_avx512(_mm512_mul_ps(o, tanh_avx512(cv, fused)));
    _mm512_mask_storeu_ps(c + j, k, cv);
    _mm512_mask_storeu_ps(h + j, k, hv);
    if (act) {
      _mm512_mask_storeu_ps(act + j, k, i);
      _mm512_mask_storeu_ps(act + n + j, k, f);
      _mm512_mask_storeu_ps(act + 2 * n + j, k, g);
      _mm512_mask_storeu_ps(act + 3 * n + j, k, o);
    }
  }
}

TGT512 CANTUS_RT void cantus_lstm_x86_gates_avx512(int n,
                                                   const float *pre,
                                                   const float *c_prev,
                                                   float *c,
                                                   float *h,
                                                   float *act)
{
  gates_avx512(n, pre, c_prev, c, h, act, true);
}

TGT512 CANTUS_RT void cantus_lstm_x86_gates_exact_avx512(int n,
                                                         const float *pre,
                                                         const float *c_prev,
                                                         float *c,
                                                         float *h)
{
  gates_avx512(n, pre, c_prev, c, h, NULL, false);
}

// ==== int8 ======================================================================
// A 16-row int8 panel holds, per group of 4 columns, 64 bytes: row i's 4
// weights at 4i.  One 32-bit broadcast of x's 4 bytes then multiplies a
// whole group, and it is shared by a block of up to 4 panels (64 rows) at
// a time, which also gives enough independent accumulators.  AVX2 and
// AVX-512 without VNNI use vpmaddubsw, which needs an unsigned operand:
// |x| times w with x's sign moved onto w, so each pair sum is at most
// 2 * 127 * 127 and never saturates.  VNNI's vpdpbusd adds 4 products into
// 32 bits without saturation: it takes x + 128 (unsigned) and 128 times the
// row sum comes off at the end.  Either way the sums are the exact integers
// the scalar path computes.  The unfused float steps (rescale, gates_exact)
// rely on no FP contraction: -std=c11 gives GCC -ffp-contract=off, and
// clang contracts only within one C expression; test_int8 and test_lstm
// catch a build that fuses them.

#  define TGTVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#  define TGT512VNNI \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))

enum { BLOCK_PANELS = 4 };

// x's 4 bytes of group g as a 32-bit value.
static inline int32_t x4(const void *x, int g)
{
  int32_t v;
  memcpy(&v, (const unsigned char *)x + 4 * g, sizeof v);
  return v;
}

// x + 128 as unsigned bytes, for vpdpbusd (n a multiple of 4, <= 2048).
static inline void flip_x(const int8_t *x, int n, uint8_t *xu)
{
  for (int j = 0; j < n; j++) {
    xu[j] = (uint8_t)(x[j] ^ 0x80);
  }
}

// The scales after the panels: scale[2][mp] floats, then rowsum[2][mp].
static inline const float *i8_scale(const int8_t *w, int m, int n, int seg)
{
  const int mp = (m + PANEL - 1) / PANEL * PANEL;
  return (const float *)(const void *)(w + (size_t)mp * (size_t)n) + (size_t)seg * (size_t)mp;
}

static inline const int32_t *i8_rowsum(const int8_t *w, int m, int n, int seg)
{
  const int mp = (m + PANEL - 1) / PANEL * PANEL;
  return (const int32_t *)(const void *)(w + (size_t)mp * (size_t)n + 8 * (size_t)mp) +
         (size_t)seg * (size_t)mp;
}

// ---- AVX2 / AVX-VNNI: a panel is two 8-row halves of 32 bytes per group.

INL TGT2 __m256i dot4_avx2(__m256i w, __m256i xs, __m256i xa)
{
  return _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w, xs)), _mm256_set1_epi16(1));
}

// d[2p], d[2p+1] (rows 0-7, 8-15 of panel p < np) += the sums over one
// segment: n columns of x, the panels `stride` bytes apart.
INL TGT2 void seg_i8_avx2(const int8_t *wp,
                          size_t stride,
                          int np,
                          const int8_t *x,
                          int n,
                          __m256i *d)
{
  for (int g = 0; g < n / 4; g++) {
    const __m256i xs = _mm256_set1_epi32(x4(x, g)), xa = _mm256_abs_epi8(xs);
#  pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
      const __m256i *wv = (const __m256i *)(const void *)(wp + p * stride + (size_t)g * 4 * PANEL);
      d[2 * p] = _mm256_add_epi32(d[2 * p], dot4_avx2(_mm256_loadu_si256(wv), xs, xa));
      d[2 * p + 1] = _mm256_add_epi32(d[2 * p + 1], dot4_avx2(_mm256_loadu_si256(wv + 1), xs, xa));
    }
  }
}

// The same sums with vpdpbusd on xu = x + 128; the caller takes off 128 *
// rowsum.
INL TGTVNNI void seg_i8_avxvnni(const int8_t *wp,
                                size_t stride,
                                int np,
                                const uint8_t *xu,
                                int n,
                                __m256i *d)
{
  for (int g = 0; g < n / 4; g++) {
    const __m256i xv = _mm256_set1_epi32(x4(xu, g));
#  pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
      const __m256i *wv = (const __m256i *)(const void *)(wp + p * stride + (size_t)g * 4 * PANEL);
      d[2 * p] = _mm256_dpbusd_avx_epi32(d[2 * p], xv, _mm256_loadu_si256(wv));
      d[2 * p + 1] = _mm256_dpbusd_avx_epi32(d[2 * p + 1], xv, _mm256_loadu_si256(wv + 1));
    }
  }
}

// y[0..rows) = (bias + d1 * (s1 * sx1)) + d2 * (s2 * sx2), unfused.
INL TGT2 void end_i8_avx2(const __m256i d1[2],
                          const __m256i d2[2],
                          const float *s1,
                          float sx1,
                          const float *s2,
                          float sx2,
                          const float *bias,
                          int rows,
                          float *y)
{
  float b[PANEL] = { 0 }, t[PANEL];
  const float *bp = bias;
  float *yp = y;
  if (rows < PANEL) {
    for (int i = 0; i < rows; i++) {
      b[i] = bias[i];
    }
    bp = b;
    yp = t;
  }
  for (int h = 0; h < 2; h++) {
    __m256 t1 = _mm256_mul_ps(_mm256_loadu_ps(s1 + 8 * h), _mm256_set1_ps(sx1));
    __m256 t2 = _mm256_mul_ps(_mm256_loadu_ps(s2 + 8 * h), _mm256_set1_ps(sx2));
    __m256 v =
      _mm256_add_ps(_mm256_loadu_ps(bp + 8 * h), _mm256_mul_ps(_mm256_cvtepi32_ps(d1[h]), t1));
    v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_cvtepi32_ps(d2[h]), t2));
    _mm256_storeu_ps(yp + 8 * h, v);
  }
  for (int i = 0; rows < PANEL && i < rows; i++) {
    y[i] = t[i];
  }
}

// np panels from row r0 (vnni: with xu1, xu2 and the row-sum correction).
INL TGT2 void block_i8_avx2(const int8_t *w,
                            int m,
                            int n1,
                            int n2,
                            int r0,
                            int np,
                            const int8_t *x1,
                            float sx1,
                            const int8_t *x2,
                            float sx2,
                            const float *bias,
                            float *y)
{
  const int n = n1 + n2;
  const size_t stride = (size_t)PANEL * (size_t)n;
  const int8_t *wp = w + (size_t)r0 * (size_t)n;
  __m256i d1[2 * BLOCK_PANELS], d2[2 * BLOCK_PANELS];
#  pragma GCC unroll 8
  for (int i = 0; i < 2 * np; i++) {
    d1[i] = _mm256_setzero_si256();
    d2[i] = _mm256_setzero_si256();
  }
  seg_i8_avx2(wp, stride, np, x1, n1, d1);
  seg_i8_avx2(wp + (size_t)n1 * PANEL, stride, np, x2, n2, d2);
  const float *s1 = i8_scale(w, m, n, 0), *s2 = i8_scale(w, m, n, 1);
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    const int r = r0 + p * PANEL, rows = m - r < PANEL ? m - r : PANEL;
    end_i8_avx2(d1 + 2 * p, d2 + 2 * p, s1 + r, sx1, s2 + r, sx2, bias + r, rows, y + r);
  }
}

INL TGTVNNI void block_i8_avxvnni(const int8_t *w,
                                  int m,
                                  int n1,
                                  int n2,
                                  int r0,
                                  int np,
                                  const uint8_t *xu1,
                                  float sx1,
                                  const uint8_t *xu2,
                                  float sx2,
                                  const float *bias,
                                  float *y)
{
  const int n = n1 + n2;
  const size_t stride = (size_t)PANEL * (size_t)n;
  const int8_t *wp = w + (size_t)r0 * (size_t)n;
  __m256i d1[2 * BLOCK_PANELS], d2[2 * BLOCK_PANELS];
#  pragma GCC unroll 8
  for (int i = 0; i < 2 * np; i++) {
    d1[i] = _mm256_setzero_si256();
    d2[i] = _mm256_setzero_si256();
  }
  seg_i8_avxvnni(wp, stride, np, xu1, n1, d1);
  seg_i8_avxvnni(wp + (size_t)n1 * PANEL, stride, np, xu2, n2, d2);
  const float *s1 = i8_scale(w, m, n, 0), *s2 = i8_scale(w, m, n, 1);
  const int32_t *q1 = i8_rowsum(w, m, n, 0), *q2 = i8_rowsum(w, m, n, 1);
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    const int r = r0 + p * PANEL, rows = m - r < PANEL ? m - r : PANEL;
    for (int h = 0; h < 2; h++) {
      const __m256i c1 = _mm256_loadu_si256((const __m256i *)(const void *)(q1 + r + 8 * h));
      const __m256i c2 = _mm256_loadu_si256((const __m256i *)(const void *)(q2 + r + 8 * h));
      d1[2 * p + h] = _mm256_sub_epi32(d1[2 * p + h], _mm256_slli_epi32(c1, 7));
      d2[2 * p + h] = _mm256_sub_epi32(d2[2 * p + h], _mm256_slli_epi32(c2, 7));
    }
    end_i8_avx2(d1 + 2 * p, d2 + 2 * p, s1 + r, sx1, s2 + r, sx2, bias + r, rows, y + r);
  }
}

TGT2 CANTUS_RT void cantus_lstm_x86_matvec_i8_avx2(const int8_t *w,
                                                   int m,
                                                   const int8_t *x1,
                                                   int n1,
                                                   float sx1,
                                                   const int8_t *x2,
                                                   int n2,
                                                   float sx2,
                                                   const float *bias,
                                                   float *y)
{
  int r0 = 0;
  for (; r0 + BLOCK_PANELS * PANEL <= m; r0 += BLOCK_PANELS * PANEL) {
    block_i8_avx2(w, m, n1, n2, r0, BLOCK_PANELS, x1, sx1, x2, sx2, bias, y);
  }
  for (; r0 < m; r0 += PANEL) {
    block_i8_avx2(w, m, n1, n2, r0, 1, x1, sx1, x2, sx2, bias, y);
  }
}

TGTVNNI CANTUS_RT void cantus_lstm_x86_matvec_i8_avxvnni(const int8_t *w,
                                                         int m,
                                                         const int8_t *x1,
                                                         int n1,
                                                         float sx1,
                                                         const int8_t *x2,
                                                         int n2,
                                                         float sx2,
                                                         const float *bias,
                                                         float *y)
{
  _Alignas(64) uint8_t xu1[CANTUS_MAX_HIDDEN_X], xu2[CANTUS_MAX_HIDDEN_X];
  flip_x(x1, n1, xu1);
  flip_x(x2, n2, xu2);
  int r0 = 0;
  for (; r0 + BLOCK_PANELS * PANEL <= m; r0 += BLOCK_PANELS * PANEL) {
    block_i8_avxvnni(w, m, n1, n2, r0, BLOCK_PANELS, xu1, sx1, xu2, sx2, bias, y);
  }
  for (; r0 < m; r0 += PANEL) {
    block_i8_avxvnni(w, m, n1, n2, r0, 1, xu1, sx1, xu2, sx2, bias, y);
  }
}

// ---- AVX-512 / AVX512-VNNI: a panel group is one 64-byte vector.

INL TGT512 void seg_i8_avx512(const int8_t *wp,
                              size_t stride,
                              int np,
                              const int8_t *x,
                              int n,
                              __m512i *d)
{
  const __m512i ones = _mm512_set1_epi16(1);
  for (int g = 0; g < n / 4; g++) {
    const __m512i xs = _mm512_set1_epi32(x4(x, g)), xa = _mm512_abs_epi8(xs);
    const __mmask64 neg = _mm512_movepi8_mask(xs);
#  pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
      __m512i wv = _mm512_loadu_si512(wp + p * stride + (size_t)g * 4 * PANEL);
      wv = _mm512_mask_sub_epi8(wv, neg, _mm512_setzero_si512(), wv); // w * sign(x)
      d[p] = _mm512_add_epi32(d[p], _mm512_madd_epi16(_mm512_maddubs_epi16(xa, wv), ones));
    }
  }
}

// Two groups at a time into two sets of accumulators: vpdpbusd's latency
// needs more than 4 independent chains.
INL TGT512VNNI void seg_i8_avx512vnni(const int8_t *wp,
                                      size_t stride,
                                      int np,
                                      const uint8_t *xu,
                                      int n,
                                      __m512i *d)
{
  __m512i e[BLOCK_PANELS];
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    e[p] = _mm512_setzero_si512();
  }
  const int ng = n / 4;
  int g = 0;
  for (; g + 2 <= ng; g += 2) {
    const __m512i xv = _mm512_set1_epi32(x4(xu, g)), xw = _mm512_set1_epi32(x4(xu, g + 1));
#  pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
      const int8_t *w = wp + p * stride + (size_t)g * 4 * PANEL;
      d[p] = _mm512_dpbusd_epi32(d[p], xv, _mm512_loadu_si512(w));
      e[p] = _mm512_dpbusd_epi32(e[p], xw, _mm512_loadu_si512(w + 4 * PANEL));
    }
  }
  for (; g < ng; g++) {
    const __m512i xv = _mm512_set1_epi32(x4(xu, g));
#  pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
      d[p] =
        _mm512_dpbusd_epi32(d[p], xv, _mm512_loadu_si512(wp + p * stride + (size_t)g * 4 * PANEL));
    }
  }
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    d[p] = _mm512_add_epi32(d[p], e[p]);
  }
}

INL TGT512 void end_i8_avx512(__m512i d1,
                              __m512i d2,
                              const float *s1,
                              float sx1,
                              const float *s2,
                              float sx2,
                              const float *bias,
                              int rows,
                              float *y)
{
  const __mmask16 k = rows_mask(rows);
  __m512 t1 = _mm512_mul_ps(_mm512_loadu_ps(s1), _mm512_set1_ps(sx1));
  __m512 t2 = _mm512_mul_ps(_mm512_loadu_ps(s2), _mm512_set1_ps(sx2));
  __m512 v =
    _mm512_add_ps(_mm512_maskz_loadu_ps(k, bias), _mm512_mul_ps(_mm512_cvtepi32_ps(d1), t1));
  v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(d2), t2));
  _mm512_mask_storeu_ps(y, k, v);
}

INL TGT512 void block_i8_avx512(const int8_t *w,
                                int m,
                                int n1,
                                int n2,
                                int r0,
                                int np,
                                const int8_t *x1,
                                float sx1,
                                const int8_t *x2,
                                float sx2,
                                const float *bias,
                                float *y)
{
  const int n = n1 + n2;
  const size_t stride = (size_t)PANEL * (size_t)n;
  const int8_t *wp = w + (size_t)r0 * (size_t)n;
  __m512i d1[BLOCK_PANELS], d2[BLOCK_PANELS];
#  pragma GCC unroll 8
  for (int i = 0; i < np; i++) {
    d1[i] = _mm512_setzero_si512();
    d2[i] = _mm512_setzero_si512();
  }
  seg_i8_avx512(wp, stride, np, x1, n1, d1);
  seg_i8_avx512(wp + (size_t)n1 * PANEL, stride, np, x2, n2, d2);
  const float *s1 = i8_scale(w, m, n, 0), *s2 = i8_scale(w, m, n, 1);
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    const int r = r0 + p * PANEL;
    end_i8_avx512(d1[p], d2[p], s1 + r, sx1, s2 + r, sx2, bias + r, m - r, y + r);
  }
}

INL TGT512VNNI void block_i8_avx512vnni(const int8_t *w,
                                        int m,
                                        int n1,
                                        int n2,
                                        int r0,
                                        int np,
                                        const uint8_t *xu1,
                                        float sx1,
                                        const uint8_t *xu2,
                                        float sx2,
                                        const float *bias,
                                        float *y)
{
  const int n = n1 + n2;
  const size_t stride = (size_t)PANEL * (size_t)n;
  const int8_t *wp = w + (size_t)r0 * (size_t)n;
  __m512i d1[BLOCK_PANELS], d2[BLOCK_PANELS];
#  pragma GCC unroll 8
  for (int i = 0; i < np; i++) {
    d1[i] = _mm512_setzero_si512();
    d2[i] = _mm512_setzero_si512();
  }
  seg_i8_avx512vnni(wp, stride, np, xu1, n1, d1);
  seg_i8_avx512vnni(wp + (size_t)n1 * PANEL, stride, np, xu2, n2, d2);
  const float *s1 = i8_scale(w, m, n, 0), *s2 = i8_scale(w, m, n, 1);
  const int32_t *q1 = i8_rowsum(w, m, n, 0), *q2 = i8_rowsum(w, m, n, 1);
#  pragma GCC unroll 8
  for (int p = 0; p < np; p++) {
    const int r = r0 + p * PANEL;
    __m512i c1 = _mm512_slli_epi32(_mm512_loadu_si512(q1 + r), 7);
    __m512i c2 = _mm512_slli_epi32(_mm512_loadu_si512(q2 + r), 7);
    end_i8_avx512(_mm512_sub_epi32(d1[p], c1),
                  _mm512_sub_epi32(d2[p], c2),
                  s1 + r,
                  sx1,
                  s2 + r,
                  sx2,
                  bias + r,
                  m - r,
                  y + r);
  }
}

TGT512 CANTUS_RT void cantus_lstm_x86_matvec_i8_avx512(const int8_t *w,
                                                       int m,
                                                       const int8_t *x1,
                                                       int n1,
                                                       float sx1,
                                                       const int8_t *x2,
                                                       int n2,
                                                       float sx2,
                                                       const float *bias,
                                                       float *y)
{
  int r0 = 0;
  for (; r0 + BLOCK_PANELS * PANEL <= m; r0 += BLOCK_PANELS * PANEL) {
    block_i8_avx512(w, m, n1, n2, r0, BLOCK_PANELS, x1, sx1, x2, sx2, bias, y);
  }
  for (; r0 < m; r0 += PANEL) {
    block_i8_avx512(w, m, n1, n2, r0, 1, x1, sx1, x2, sx2, bias, y);
  }
}

TGT512VNNI CANTUS_RT void cantus_lstm_x86_matvec_i8_avx512vnni(const int8_t *w,
                                                               int m,
                                                               const int8_t *x1,
                                                               int n1,
                                                               float sx1,
                                                               const int8_t *x2,
                                                               int n2,
                                                               float sx2,
                                                               const float *bias,
                                                               float *y)
{
  _Alignas(64) uint8_t xu1[CANTUS_MAX_HIDDEN_X], xu2[CANTUS_MAX_HIDDEN_X];
  flip_x(x1, n1, xu1);
  flip_x(x2, n2, xu2);
  int r0 = 0;
  for (; r0 + BLOCK_PANELS * PANEL <= m; r0 += BLOCK_PANELS * PANEL) {
    block_i8_avx512vnni(w, m, n1, n2, r0, BLOCK_PANELS, xu1, sx1, xu2, sx2, bias, y);
  }
  for (; r0 < m; r0 += PANEL) {
    block_i8_avx512vnni(w, m, n1, n2, r0, 1, xu1, sx1, xu2, sx2, bias, y);
  }
}

#else

// Keeps the translation unit non-empty (ISO C) on other architectures.
typedef int cantus_lstm_x86_unused;

#endif
