// SPDX-License-Identifier: GPL-3.0-or-later
// Test models with seeded random weights (tests/unit/fixtures.h).  The generator
// is a private xorshift32, so a seed gives the same bytes on every machine;
// tests/data/tiny.cantus is cantus_fixture_model(tiny, 1, ...) saved, and a
// test checks it still is.  Non-RT (allocates).
#include "fixtures.h"

#include "chord.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CantusDims cantus_fixture_dims_tiny(void)
{
  CantusVocab v = cantus_vocab_default();
  v.pitch_lo = 48;
  v.pitch_hi = 84;
  return (CantusDims){ .n_layers = 2,
                       .n_hidden = 32,
                       .n_embed = 16,
                       .n_style_dim = 8,
                       .n_styles = 3,
                       .n_pos_tick = 12,
                       .n_pos_beat = 8,
                       .vocab = v };
}

CantusDims cantus_fixture_dims_tiny2(void)
{
  CantusDims d = cantus_fixture_dims_tiny();
  d.vocab.n_parts = 2;
  d.vocab.n_dur = (uint16_t)cantus_vocab_dur_rule_len(d.vocab.tpq);
  d.lookback_lags = 0xf;
  d.n_phrase = CANTUS_PHRASE_BARS;
  d.n_bars_left = CANTUS_BARS_LEFT_CLASSES;
  return d;
}

CantusDims cantus_fixture_dims_tinyc(void)
{
  CantusDims d = cantus_fixture_dims_tiny2();
  d.n_chord = CANTUS_CHORD_INPUTS;
  return d;
}

static uint32_t next(uint32_t *s)
{
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

// Uniform in [-scale, scale), 24-bit resolution; exact in fp32.
static float uniform(uint32_t *s, float scale)
{
  const float u = (float)(next(s) >> 8) * (1.0f / 16777216.0f);
  return (2.0f * u - 1.0f) * scale;
}

static bool is_tiny(const CantusDims *d)
{
  const CantusDims t = cantus_fixture_dims_tiny(), t2 = cantus_fixture_dims_tiny2(),
                   tc = cantus_fixture_dims_tinyc();
  return !memcmp(d, &t, sizeof t) || !memcmp(d, &t2, sizeof t2) || !memcmp(d, &tc, sizeof tc);
}

CantusModel *cantus_fixture_model(const CantusDims *d, uint32_t seed, CantusWeightType wt)
{
  CantusModelOptions opt = cantus_model_options_default();
  opt.weights = wt;
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_model_create(d, &opt, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    abort();
  }
  uint32_t s = seed * 2654435761u ^ 0x9e3779b9u;
  if (!s) {
    s = 0x9e3779b9u;
  }
  const float scale = 1.0f / sqrtf((float)d->n_hidden);
  float *w = m->p.tok_emb; // every parameter, in layout order
  for (uint32_t i = 0; i < m->n_params; i++) {
    w[i] = uniform(&s, scale);
  }
  // Output bias so that sampling gives music-like streams: notes start and
  // stop, time moves in musical steps (SHIFT 3, 6, 12), START and END are
  // unlikely.  The engine masks what is invalid at each step.
  const CantusVocab *v = &d->vocab;
  const int np = cantus_vocab_n_pitch(v);
  float *b = m->p.b_out;
  b[CANTUS_TOK_START] = -4.0f;
  b[CANTUS_TOK_END] = -4.0f;
  if (cantus_vocab_is_v2(v)) {
    // NOTE(part, pitch) a little likely; the DUR after it is forced by the
    // consumer, so its bias only shapes the lengths (quarter notes).
    for (int i = 0; i < cantus_vocab_n_note_tokens(v); i++) {
      b[cantus_vocab_on_base(v) + i] += 0.25f;
    }
    b[cantus_vocab_dur(v, cantus_vocab_dur_bin(v, v->tpq))] += 2.5f;
  } else {
    for (int i = 0; i < np; i++) {
      b[cantus_vocab_on_base(v) + i] += 0.25f;
      b[cantus_vocab_off_base(v) + i] += 2.5f;
    }
  }
  for (int k = 1; k <= v->n_shift; k++) {
    const bool musical = k == 3 || k == 6 || k == 12;
    b[cantus_vocab_shift(v, k)] += musical ? 3.0f : -1.0f;
  }
  // Forget gates open a little (bias +1), as trained LSTMs usually have.
  for (uint32_t k = 0; k < d->n_layers; k++) {
    for (uint32_t j = 0; j < d->n_hidden; j++) {
      m->p.layer[k].b[d->n_hidden + j] += 1.0f;
    }
  }
  const bool tiny = is_tiny(d);
  if (tiny) {
    cantus_model_set_style_name(m, 0, "alpha");
    cantus_model_set_style_name(m, 1, "beta");
    cantus_model_set_style_name(m, 2, "gamma");
  }
  static const char *const part_names[CANTUS_MAX_PARTS] = { "melody", "bass", "alto", "tenor" };
  for (int k = 0; k < v->n_parts; k++) {
    cantus_model_set_part_name(m, k, part_names[k]);
  }
  snprintf(m->name,
           sizeof m->name,
           "%s",
           !tiny        ? "fixture"
           : d->n_chord ? "tinyc"
           : v->n_parts ? "tiny2"
                        : "tiny");
  char meta[256];
  snprintf(meta,
           sizeof meta,
           "fixture: %s\nseed: %u\nweights: uniform +-1/sqrt(H), xorshift32\n"
           "note: random weights with a note-friendly output bias, not trained\n",
           tiny ? "tiny" : "custom",
           (unsigned)seed);
  if (cantus_model_set_meta(m, meta, &err) != CANTUS_OK) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    abort();
  }
  cantus_model_finish(m);
  return m;
}
