// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's per-step product C (M, N) (+)= A (M, K) W (K, N) with W
// packed once per chunk into panels of 16 columns, so the 64 steps of a
// chunk reuse one packing instead of OpenBLAS re-packing the weights at
// every call.  An AVX-512 kernel (8 rows x 32 columns of accumulators,
// weights streamed from the panel, A broadcast); elsewhere a plain loop
// with the same summation order (k ascending, one accumulator per output),
// so every CPU gets the same sums up to FMA contraction.  Non-RT.
#include "train.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#  include <immintrin.h>
#  define PANEL_X86 1
#endif

enum { PW = 16, RB = 8, KMAX = 4 * CANTUS_MAX_HIDDEN };

size_t cantus_panel_floats(int K, int N)
{
  return (size_t)((N + PW - 1) / PW) * (size_t)K * PW;
}

void cantus_panel_pack(float *panel, const float *W, int ldw, int K, int N, bool w_is_nk)
{
  const int np = (N + PW - 1) / PW;
  for (int p = 0; p < np; p++) {
    float *dst = panel + (size_t)p * (size_t)K * PW;
    for (int k = 0; k < K; k++) {
      for (int j = 0; j < PW; j++) {
        const int n = p * PW + j;
        float v = 0.0f;
        if (n < N) {
          v = w_is_nk ? W[(size_t)n * (size_t)ldw + (size_t)k]
                      : W[(size_t)k * (size_t)ldw + (size_t)n];
        }
        dst[(size_t)k * PW + (size_t)j] = v;
      }
    }
  }
}

static const float zero_row[KMAX];

static void gemm_plain(int M,
                       int N,
                       int K,
                       const float *A,
                       int lda,
                       const float *panel,
                       float *C,
                       int ldc,
                       bool accumulate)
{
  for (int m = 0; m < M; m++) {
    const float *a = A + (size_t)m * (size_t)lda;
    for (int n = 0; n < N; n++) {
      const float *w = panel + (size_t)(n / PW) * (size_t)K * PW + (size_t)(n % PW);
      float s = 0.0f;
      for (int k = 0; k < K; k++) {
        s += a[k] * w[(size_t)k * PW];
      }
      float *c = C + (size_t)m * (size_t)ldc + (size_t)n;
      *c = accumulate ? *c + s : s;
    }
  }
}

#ifdef PANEL_X86
__attribute__((target("avx512f"))) static void gemm_avx512(int M,
                                                           int N,
                                                           int K,
                                                           const float *A,
                                                           int lda,
                                                           const float *panel,
                                                           float *C,
                                                           int ldc,
                                                           bool accumulate)
{
  const int np = (N + PW - 1) / PW;
  for (int m0 = 0; m0 < M; m0 += RB) {
    const int nr = M - m0 < RB ? M - m0 : RB;
    const float *a[RB];
    for (int r = 0; r < RB; r++) {
      a[r] = r < nr ? A + (size_t)(m0 + r) * (size_t)lda : zero_row;
    }
    for (int p = 0; p < np; p += 2) {
      const bool two = p + 1 < np;
      const float *w0 = panel + (size_t)p * (size_t)K * PW;
      const float *w1 = two ? w0 + (size_t)K * PW : w0;
      // 16 accumulators, spelled out so they live in registers.
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
      __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
      __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00;
      const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
      const float *a4 = a[4], *a5 = a[5], *a6 = a[6], *a7 = a[7];
      for (int k = 0; k < K; k++) {
        const __m512 x0 = _mm512_load_ps(w0 + (size_t)k * PW);
        const __m512 x1 = _mm512_load_ps(w1 + (size_t)k * PW);
#  define ROW(r)                                  \
    do {                                          \
      const __m512 av = _mm512_set1_ps(a##r[k]);  \
      c##r##0 = _mm512_fmadd_ps(av, x0, c##r##0); \
      c##r##1 = _mm512_fmadd_ps(av, x1, c##r##1); \
    } while (0)
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        ROW(6);
        ROW(7);
#  undef ROW
      }
      const __m512 acc[RB][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
                                  { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
      for (int half = 0; half < (two ? 2 : 1); half++) {
        const int n0 = (p + half) * PW;
        const int cols = N - n0 < PW ? N - n0 : PW;
        const __mmask16 mk = (__mmask16)((1u << cols) - 1u);
        for (int r = 0; r < nr; r++) {
          float *c = C + (size_t)(m0 + r) * (size_t)ldc + (size_t)n0;
          __m512 v = acc[r][half];
          if (accumulate) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, c));
          }
          _mm512_mask_storeu_ps(c, mk, v);
        }
      }
    }
  }
}
#endif

bool cantus_panel_fast(void)
{
#ifdef PANEL_X86
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

void cantus_panel_gemm(int M,
                       int N,
                       int K,
                       const float *A,
                       int lda,
                       const float *panel,
                       float *C,
                       int ldc,
                       bool accumulate)
{
#ifdef PANEL_X86
  if (K <= KMAX && __builtin_cpu_supports("avx512f")) {
    gemm_avx512(M, N, K, A, lda, panel, C, ldc, accumulate);
    return;
  }
#endif
  gemm_plain(M, N, K, A, lda, panel, C, ldc, accumulate);
}
