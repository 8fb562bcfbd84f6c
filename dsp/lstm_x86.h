// SPDX-License-Identifier: GPL-3.0-or-later
// x86 SIMD kernels behind lstm.c's dispatch (internal to dsp/; not part of
// the public contract).  Each function is compiled for its own instruction
// set with a target attribute, so the library builds without -m flags and a
// caller must only run a family the CPU has (lstm.c checks once at load).
// Allocation contract: none.  Thread class: [RT], all of it.
//
// matvec: y = bias + W [x1; x2] for W (m, n1+n2) in lstm.c's panel layout
// (16-row panels, 16 row values per column, rows past m zero); y and bias
// hold m floats and may alias.  gates: exactly cantus_lstm_gates().
//
// matvec_i8: y = (bias + (W1 x1) * (scale1 * sx1)) + (W2 x2) * (scale2 * sx2)
// row by row for W = [W1 | W2] (m, n1+n2) in lstm.c's int8 panels (scales
// and row sums after the panels), x1, x2 int8 in -127..127 (n1, n2
// multiples of 4; n2 may be 0), the integer sums exact and the float
// operations unfused, in this order, in every family.  gates_exact: the
// cell update with the scalar path's unfused operations (bit-identical to
// it); no act output.
#ifndef CANTUS_LSTM_X86_H
#define CANTUS_LSTM_X86_H

#include "rt.h"

#include <stdint.h>

// Activation constants (Cephes expf/tanhf), shared by every family so they
// all evaluate the same polynomials.
#define CANTUS_ACT_EXP_HI 88.0f
#define CANTUS_ACT_EXP_LO -87.3f
#define CANTUS_ACT_LOG2E 1.44269504088896341f
#define CANTUS_ACT_LN2_HI 0.693359375f
#define CANTUS_ACT_LN2_LO -2.12194440e-4f
#define CANTUS_ACT_EP0 1.9875691500e-4f
#define CANTUS_ACT_EP1 1.3981999507e-3f
#define CANTUS_ACT_EP2 8.3334519073e-3f
#define CANTUS_ACT_EP3 4.1665795894e-2f
#define CANTUS_ACT_EP4 1.6666665459e-1f
#define CANTUS_ACT_EP5 5.0000001201e-1f
#define CANTUS_ACT_TP0 -5.70498872745e-3f
#define CANTUS_ACT_TP1 2.06390887954e-2f
#define CANTUS_ACT_TP2 -5.37397155531e-2f
#define CANTUS_ACT_TP3 1.33314422036e-1f
#define CANTUS_ACT_TP4 -3.33332819422e-1f
#define CANTUS_ACT_TANH_SPLIT 0.625f

#if defined(__x86_64__)
CANTUS_RT void cantus_lstm_x86_matvec_i8_avx2(const int8_t *w,
                                              int m,
                                              const int8_t *x1,
                                              int n1,
                                              float sx1,
                                              const int8_t *x2,
                                              int n2,
                                              float sx2,
                                              const float *bias,
                                              float *y);
CANTUS_RT void cantus_lstm_x86_matvec_i8_avxvnni(const int8_t *w,
                                                 int m,
                                                 const int8_t *x1,
                                                 int n1,
                                                 float sx1,
                                                 const int8_t *x2,
                                                 int n2,
                                                 float sx2,
                                                 const float *bias,
                                                 float *y);
CANTUS_RT void cantus_lstm_x86_matvec_i8_avx512(const int8_t *w,
                                                int m,
                                                const int8_t *x1,
                                                int n1,
                                                float sx1,
                                                const int8_t *x2,
                                                int n2,
                                                float sx2,
                                                const float *bias,
                                                float *y);
CANTUS_RT void cantus_lstm_x86_matvec_i8_avx512vnni(const int8_t *w,
                                                    int m,
                                                    const int8_t *x1,
                                                    int n1,
                                                    float sx1,
                                                    const int8_t *x2,
                                                    int n2,
                                                    float sx2,
                                                    const float *bias,
                                                    float *y);
CANTUS_RT void cantus_lstm_x86_gates_exact_avx2(int n,
                                                const float *pre,
                                                const float *c_prev,
                                                float *c,
                                                float *h);
CANTUS_RT void cantus_lstm_x86_gates_exact_avx512(int n,
                                                  const float *pre,
                                                  const float *c_prev,
                                                  float *c,
                                                  float *h);

CANTUS_RT void cantus_lstm_x86_matvec_f32_avx2(const float *w,
                                               int m,
                                               const float *x1,
                                               int n1,
                                               const float *x2,
                                               int n2,
                                               const float *bias,
                                               float *y);
CANTUS_RT void cantus_lstm_x86_matvec_f16_avx2(const uint16_t *w,
                                               int m,
                                               const float *x1,
                                               int n1,
                                               const float *x2,
                                               int n2,
                                               const float *bias,
                                               float *y);
CANTUS_RT void cantus_lstm_x86_gates_avx2(int n,
                                          const float *pre,
                                          const float *c_prev,
                                          float *c,
                                          float *h,
                                          float *act);

CANTUS_RT void cantus_lstm_x86_matvec_f32_avx512(const float *w,
                                                 int m,
                                                 const float *x1,
                                                 int n1,
                                                 const float *x2,
                                                 int n2,
                                                 const float *bias,
                                                 float *y);
CANTUS_RT void cantus_lstm_x86_matvec_f16_avx512(const uint16_t *w,
                                                 int m,
                                                 const float *x1,
                                                 int n1,
                                                 const float *x2,
                                                 int n2,
                                                 const float *bias,
                                                 float *y);
CANTUS_RT void cantus_lstm_x86_gates_avx512(int n,
                                            const float *pre,
                                            const float *c_prev,
                                            float *c,
                                            float *h,
                                            float *act);
#endif

#endif
