// SPDX-License-Identifier: GPL-3.0-or-later
// The stacked LSTM: sizes, parameters, the run-time weight layout and one
// inference step (batch 1).  Gate order i,f,g,o (PyTorch).
//
// At step t the layer-0 input is [emb(token) | style | onehot(pos_tick) |
// onehot(pos_beat)], and in format version 2 (the form inputs of
// lookback.h) also [lb_emb(look[i]) for each lag i in lookback_lags |
// onehot(phrase_bar) | onehot(bars_left) | chord (issue 11: 0 or 13 columns,
// cantus_chord_input of dsp/chord.h)].
// Its projection is lookups and a once-per-change vector, so per step
// layer 0 costs only its recurrent product:
//   pre0 = tok_proj[token] + pos_tick_proj[pt] + pos_beat_proj[pb]
//        + l0_static + W_hh0 h0          with l0_static = b0 + W_style s,
// plus in version 2  sum_i lb_proj[i][look[i]] + phrase_proj[pb16]
//        + bars_left_proj[bl]            (tables built by cantus_lstm_prepare)
//        + chord_sum(form->chord)        with n_chord = 13: the sum of chord_proj's
// pitch-class rows in ascending pitch-class order, or its no-chord row, kept
// in the state and recomputed from scratch only when the chord changes.
// Layers k > 0: pre_k = b_k + W_ih_k h_{k-1} + W_hh_k h_k; logits = W_out h_L + b_out.
//
// Allocation contract: none.  cantus_lstm_prepare() lays the run-time
// weights into caller memory of cantus_lstm_net_size() bytes (64-byte
// aligned); cantus_lstm_state_init() lays a state into caller memory of
// cantus_lstm_state_size() bytes.  The model allocation (model.h) holds both.
// Thread class: prepare/state_init/force_isa are non-RT; everything marked
// [RT] is allocation-free, lock-free and bounded by the model's sizes.
#ifndef CANTUS_LSTM_H
#define CANTUS_LSTM_H

#include "lookback.h"
#include "rt.h"
#include "vocab.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t n_layers;    // L, 1..CANTUS_MAX_LAYERS
  uint32_t n_hidden;    // H, multiple of 16, 16..CANTUS_MAX_HIDDEN
  uint32_t n_embed;     // E, token embedding width
  uint32_t n_style_dim; // S, style vector width
  uint32_t n_styles;    // NS, 1..CANTUS_MAX_STYLES
  uint32_t n_pos_tick;  // one-hot classes of the tick within the quarter (= vocab.tpq)
  uint32_t n_pos_beat;  // one-hot classes of the quarter within the bar
  CantusVocab vocab;    // V = cantus_vocab_size(&vocab)
  // Form inputs (format version 2, issue 10); all 0 with a version 1 vocabulary.
  uint32_t lookback_lags; // bit i: lookback at cantus_lookback_lag(i) bars (i = 0..3)
  uint32_t n_phrase;      // phrase-bar classes: 0 or CANTUS_PHRASE_BARS (16)
  uint32_t n_bars_left;   // bars-left classes: 0 or CANTUS_BARS_LEFT_CLASSES (18)
  uint32_t n_chord;       // chord input width: 0 or CANTUS_CHORD_INPUTS (13, dsp/chord.h)
} CantusDims;

// A version 2 network: its vocabulary is the version 2 layout.
static inline bool cantus_dims_is_v2(const CantusDims *d)
{
  return cantus_vocab_is_v2(&d->vocab);
}
// Lookback inputs (set bits of lookback_lags, at most 4).
static inline uint32_t cantus_dims_n_lags(const CantusDims *d)
{
  uint32_t n = 0;
  for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
    n += (d->lookback_lags >> i) & 1u;
  }
  return n;
}
// Rows of lb_emb: V + 1 (the last is NONE) when there are lookback inputs, else 0.
static inline uint32_t cantus_dims_lb_rows(const CantusDims *d)
{
  return d->lookback_lags ? (uint32_t)cantus_vocab_size(&d->vocab) + 1u : 0u;
}
// First layer-0 column of the lookback inputs (lag after lag, E each), then
// phrase one-hot, bars-left one-hot, chord.
static inline uint32_t cantus_dims_col_lookback(const CantusDims *d)
{
  return d->n_embed + d->n_style_dim + d->n_pos_tick + d->n_pos_beat;
}
static inline uint32_t cantus_dims_col_phrase(const CantusDims *d)
{
  return cantus_dims_col_lookback(d) + cantus_dims_n_lags(d) * d->n_embed;
}
static inline uint32_t cantus_dims_col_bars_left(const CantusDims *d)
{
  return cantus_dims_col_phrase(d) + d->n_phrase;
}
static inline uint32_t cantus_dims_col_chord(const CantusDims *d)
{
  return cantus_dims_col_bars_left(d) + d->n_bars_left;
}

// Input width of layer k.
static inline uint32_t cantus_dims_input(const CantusDims *d, uint32_t k)
{
  return k == 0 ? cantus_dims_col_chord(d) + d->n_chord : d->n_hidden;
}

// Parameters, fp32, as stored in the file.
typedef struct {
  float *tok_emb;   // (V, E)   token embedding
  float *style_emb; // (NS, S)  style vectors
  float *lb_emb;    // (V+1, E) lookback embedding shared by the lags (row V = NONE);
                    // NULL without lookback inputs (version 1)
  struct {
    float *w_ih; // (4H, Ik) input weights; layer 0 columns: [emb | style | pos_tick |
                 // pos_beat | lb_emb x n_lags | phrase | bars_left | chord]
    float *w_hh; // (4H, H)  recurrent weights
    float *b;    // (4H)     b_ih + b_hh
  } layer[CANTUS_MAX_LAYERS];
  float *w_out; // (V, H)
  float *b_out; // (V)
} CantusParams;

typedef enum { CANTUS_WEIGHTS_F32 = 0, CANTUS_WEIGHTS_F16 = 1 } CantusWeightType;

// Kernel families, chosen at run time from the CPU (cantus_lstm_isa).
typedef enum { CANTUS_ISA_SCALAR = 0, CANTUS_ISA_AVX2 = 1, CANTUS_ISA_AVX512 = 2 } CantusIsa;

// Run-time layout, read-only after prepare.  Matrix storage order is the
// kernels' business; tests and tools use only the functions below.
typedef struct {
  CantusDims dims;
  CantusWeightType wtype;
  const float *tok_proj;                        // (V, 4H)
  const float *pos_tick_proj;                   // (n_pos_tick, 4H)
  const float *pos_beat_proj;                   // (n_pos_beat, 4H)
  const float *style_w;                         // (S, 4H) layer-0 style columns, transposed
  const float *b0;                              // (4H)
  const float *lb_proj[CANTUS_LOOKBACK_N_LAGS]; // (V+1, 4H) per lag in lookback_lags, else NULL
  const float *phrase_proj;                     // (n_phrase, 4H) or NULL
  const float *bars_left_proj;                  // (n_bars_left, 4H) or NULL
  const float *chord_proj;                      // (n_chord, 4H) or NULL: W_ih0's chord columns
  const void *w_rec[CANTUS_MAX_LAYERS]; // recurrent (+ input for k > 0) weights, kernel layout
  const float *b[CANTUS_MAX_LAYERS];    // (4H)
  const void *w_out;                    // (V, H) kernel layout
  const float *b_out;                   // (V)
} CantusLstmNet;

// h and c of every layer, contiguous (h0, c0, h1, c1, ...), so a checkpoint
// is one copy of cantus_lstm_state_floats() floats from `hc`.
typedef struct {
  float *hc;                   // 2*L*H
  float *h[CANTUS_MAX_LAYERS]; // (H), points into hc
  float *c[CANTUS_MAX_LAYERS]; // (H), points into hc
  float *pre;                  // (4H) scratch
  float *l0_static;            // (4H) b0 + W_style s (cantus_lstm_set_style)
  float *chord_sum;            // (4H) chord_proj rows of chord_key; NULL when n_chord = 0
  uint32_t chord_key;          // the chord (pitch-class set) chord_sum holds; UINT32_MAX none yet
} CantusLstmState;

size_t cantus_lstm_net_size(const CantusDims *d, CantusWeightType wt);
void cantus_lstm_prepare(CantusLstmNet *net,
                         void *mem,
                         const CantusDims *d,
                         const CantusParams *p,
                         CantusWeightType wt);

size_t cantus_lstm_state_floats(const CantusDims *d); // 2*L*H
size_t cantus_lstm_state_size(const CantusDims *d);   // bytes for a whole CantusLstmState
// Lays out and zeroes a state; l0_static is set to b0 (style vector zero).
void cantus_lstm_state_init(CantusLstmState *st, void *mem, const CantusLstmNet *net);

// Zeroes h and c.  [RT]
CANTUS_RT void cantus_lstm_reset(const CantusLstmNet *net, CantusLstmState *st);

// l0_static = b0 + W_style * style (S floats).  [RT]; O(4H*S).
CANTUS_RT void cantus_lstm_set_style(const CantusLstmNet *net,
                                     CantusLstmState *st,
                                     const float *style);

// One step: consumes `token` at metric position (pos_tick, pos_beat), both
// already reduced into range, updates the state, writes V logits.  [RT]
CANTUS_RT void cantus_lstm_step(const CantusLstmNet *net,
                                CantusLstmState *st,
                                int token,
                                int pos_tick,
                                int pos_beat,
                                float *logits);

// The same step for a version 2 network, with the form inputs of this
// position (cantus_lookback_features; lookback NONE = V); form may be NULL
// for "none" (every lookback NONE, phrase bar 0, bars left unknown, no
// chord).  A chord network (n_chord = 13) reads form->chord (bits above 11
// ignored, 0 = no chord); its 4H chord vector is cached in the state and
// rebuilt from the table when the chord differs from the cached one, so the
// result depends only on the inputs, never on earlier steps' chords.
// Inputs the network lacks are ignored; out-of-range values are clamped to
// a valid row.  A version 1 network takes exactly cantus_lstm_step.  [RT]
CANTUS_RT void cantus_lstm_step_form(const CantusLstmNet *net,
                                     CantusLstmState *st,
                                     int token,
                                     int pos_tick,
                                     int pos_beat,
                                     const CantusLookbackFeatures *form,
                                     float *logits);

// The one definition of the cell update, shared with the trainer:
//   i=σ(pre[0:H]) f=σ(pre[H:2H]) g=tanh(pre[2H:3H]) o=σ(pre[3H:4H])
//   c = f*c_prev + i*g,  h = o*tanh(c)
// c may alias c_prev.  act, when non-NULL, receives the 4H activations
// (i, f, g, o after their nonlinearity) for the trainer's backward pass.
// Denormal cell values are flushed to zero.  [RT]
CANTUS_RT void cantus_lstm_gates(int n_hidden,
                                 const float *pre,
                                 const float *c_prev,
                                 float *c,
                                 float *h,
                                 float *act);

// The kernel family in use, and its name ("scalar", "avx2", "avx512").
CantusIsa cantus_lstm_isa(void);
const char *cantus_lstm_isa_name(CantusIsa isa);
// Forces a family for tests and benchmarks (clamped to what the CPU has);
// returns the one in effect.  Non-RT; call before stepping.
CantusIsa cantus_lstm_force_isa(CantusIsa isa);

#endif
