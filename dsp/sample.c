// SPDX-License-Identifier: GPL-3.0-or-later
// The sampler: xorshift64* per instance, splitmix64 stream mixing, the note
// state the masks read, and the draw of one token from masked, biased,
// tempered logits with an optional nucleus (top-p) cut.  The nucleus is found
// with an in-place binary heap over a fixed stack index array (no qsort, no
// allocation): O(V + k log V) for a nucleus of k tokens.  Every function is
// [RT]; the only libm calls are expf and logf.
//
// Fixed choices the engine's determinism relies on:
// - a stochastic draw consumes exactly one cantus_rng_uniform(); argmax
//   (temperature 0), a forced note-off and the all-masked fallback consume
//   none;
// - ties rank the lower token id first (argmax and the nucleus order);
// - density adds density * f(k) to the logit of SHIFT(k) before the
//   temperature, with f(k) = 2 * (1 - 2 * (k - 1) / (n_shift - 1)), i.e. +2
//   for SHIFT(1) falling linearly to -2 for SHIFT(n_shift) (f = 0 when
//   n_shift = 1); density is clamped to [-1, 1];
// - temperature is clamped to [0.05, 100]; 0, negative or NaN means argmax;
// - top_p >= 1 or NaN keeps every allowed token; top_p <= 0 keeps only the
//   most probable one;
// - max_note_ticks <= 0 disables the forced note-off;
// - the pitch pulls add pull[k] to the allowed note logits of their pitch
//   classes, then subtract log(sum exp(pulled) / sum exp(unpulled)) over the
//   allowed notes from every allowed note logit (the notes' mass is kept);
//   without an active pull nothing is computed.
#include "sample.h"

#include <math.h>

#define GOLDEN64 0x9E3779B97F4A7C15ull
#define T_MIN 0.05f
#define T_MAX 100.0f

// The first output of a splitmix64 generator started at x.
static uint64_t splitmix64_step(uint64_t x)
{
  return cantus_splitmix64_next(&x);
}

void cantus_rng_seed(CantusRng *rng, uint64_t seed)
{
  // splitmix64 spreads small neighbouring seeds; xorshift needs a non-zero state
  const uint64_t s = splitmix64_step(seed);
  rng->s = s ? s : GOLDEN64;
}

uint64_t cantus_rng_next(CantusRng *rng)
{
  uint64_t x = rng->s ? rng->s : GOLDEN64; // a zeroed struct still works
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

float cantus_rng_uniform(CantusRng *rng)
{
  // top 24 bits: exactly representable, strictly below 1
  return (float)(cantus_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

uint64_t cantus_rng_mix(uint64_t seed, uint64_t index)
{
  return splitmix64_step(splitmix64_step(seed) ^ index);
}

void cantus_notes_reset(CantusNoteState *ns, int64_t tick)
{
  for (int p = 0; p < 128; p++) {
    ns->on[p] = 0;
    ns->onset_tick[p] = 0;
  }
  ns->n_on = 0;
  ns->tick = tick;
  ns->pending = -1;
  ns->n_ends = 0;
}

// Version 2: the notes whose end the stream reached stop sounding.
static void release_v2(CantusNoteState *ns)
{
  for (int i = ns->n_ends; i-- > 0;) {
    if (ns->ends[i].end <= ns->tick) {
      ns->on[ns->ends[i].pitch] &= (uint8_t) ~(1u << ns->ends[i].part);
      ns->ends[i] = ns->ends[--ns->n_ends];
      ns->n_on--;
    }
  }
}

void cantus_notes_cut(CantusNoteState *ns, int64_t tick)
{
  for (int i = 0; i < ns->n_ends; i++) {
    ns->ends[i].end = ns->ends[i].end > tick ? tick : ns->ends[i].end;
  }
  release_v2(ns);
}

static void notes_apply_v2(CantusNoteState *ns, const CantusVocab *v, int token)
{
  int value = 0, part = -1;
  switch (cantus_vocab_decode_part(v, token, &value, &part)) {
  case CANTUS_EV_NOTE:
    ns->pending = token;
    break;
  case CANTUS_EV_DUR:
    if (ns->pending >= 0) {
      int pitch = 0, k = 0;
      cantus_vocab_decode_part(v, ns->pending, &pitch, &k);
      const uint8_t bit = (uint8_t)(1u << k);
      if (!(ns->on[pitch] & bit) && ns->n_ends < CANTUS_NOTES_MAX_SOUNDING) {
        ns->on[pitch] |= bit;
        ns->onset_tick[pitch] = ns->tick;
        ns->ends[ns->n_ends++] =
          (CantusNoteEnd){ .end = ns->tick + value, .part = (uint8_t)k, .pitch = (uint8_t)pitch };
        ns->n_on++;
      }
    }
    ns->pending = -1;
    break;
  case CANTUS_EV_SHIFT:
    ns->tick += value;
    ns->pending = -1;
    release_v2(ns);
    break;
  default:
    ns->pending = -1;
    break;
  }
}

void cantus_notes_apply(CantusNoteState *ns, const CantusVocab *v, int token)
{
  if (cantus_vocab_is_v2(v)) {
    notes_apply_v2(ns, v, token);
    return;
  }
  int value = 0;
  switch (cantus_vocab_decode(v, token, &value)) {
  case CANTUS_EV_NOTE_ON:
    if (!ns->on[value]) {
      ns->on[value] = 1;
      ns->onset_tick[value] = ns->tick;
      ns->n_on++;
    }
    break;
  case CANTUS_EV_NOTE_OFF:
    if (ns->on[value]) {
      ns->on[value] = 0;
      ns->n_on--;
    }
    break;
  case CANTUS_EV_SHIFT:
    ns->tick += value;
    break;
  default:
    break;
  }
}

// The NOTE_OFF token of the oldest sounding note whose age reached
// max_note_ticks (ties: lowest pitch), or -1.
static int forced_note_off(const CantusVocab *v,
                           const CantusSampleParams *sp,
                           const CantusNoteState *ns)
{
  if (sp->max_note_ticks <= 0 || ns->n_on <= 0 || cantus_vocab_is_v2(v)) {
    return -1;
  }
  int oldest = -1;
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    if (ns->on[p] && ns->tick - ns->onset_tick[p] >= sp->max_note_ticks &&
        (oldest < 0 || ns->onset_tick[p] < ns->onset_tick[oldest])) {
      oldest = p;
    }
  }
  return oldest < 0 ? -1 : cantus_vocab_note_off(v, oldest);
}

static bool note_on_allowed(const CantusSampleParams *sp, const CantusNoteState *ns, int p)
{
  if (ns->on[p] || p < sp->pitch_lo || p > sp->pitch_hi) {
    return false;
  }
  const int pc = ((p - sp->key_root) % 12 + 12) % 12;
  return (sp->scale_mask >> pc) & 1u;
}

// Version 2 masks of token i (see cantus_sample_token).
static bool allowed_v2(const CantusVocab *v,
                       const CantusSampleParams *sp,
                       const CantusNoteState *ns,
                       int i,
                       bool want_dur,
                       bool voices_free)
{
  const int dur_base = cantus_vocab_dur_base(v), shift_base = cantus_vocab_shift_base(v);
  if (want_dur || (i >= dur_base && i < shift_base)) {
    return want_dur && i >= dur_base && i < shift_base;
  }
  if (i == CANTUS_TOK_START) {
    return false;
  }
  if (i == CANTUS_TOK_END) {
    return sp->allow_end;
  }
  if (i < dur_base) {
    const int np = cantus_vocab_n_pitch(v), k = (i - CANTUS_TOK_FIRST_NOTE) / np;
    const int p = v->pitch_lo + (i - CANTUS_TOK_FIRST_NOTE) % np;
    if (!voices_free || ns->n_ends >= CANTUS_NOTES_MAX_SOUNDING || (ns->on[p] >> k) & 1u ||
        p < sp->pitch_lo || p > sp->pitch_hi) {
      return false;
    }
    const int pc = ((p - sp->key_root) % 12 + 12) % 12;
    return (sp->scale_mask >> pc) & 1u;
  }
  if (i < cantus_vocab_vel_base(v)) {
    return true;
  }
  return sp->allow_velocity;
}

#define PULL_MAX 20.0f // nats; beyond this a pull would be a mask

// The most probable token (ties to the lower id) and its logit; -1 if every
// logit is -inf.
static int argmax_of(const float *logits, int n_tok, float *best)
{
  int arg = -1;
  *best = -INFINITY;
  for (int i = 0; i < n_tok; i++) {
    if (logits[i] > *best) {
      *best = logits[i];
      arg = i;
    }
  }
  return arg;
}

static bool pull_on(const CantusSampleParams *sp, int k)
{
  return sp->pull_pcs[k] != 0 && sp->pull[k] > 0.0f;
}

static bool pulls_active(const CantusSampleParams *sp)
{
  return pull_on(sp, 0) || pull_on(sp, 1);
}

// The pitch of note token i, or -1 when i is no note onset.
static int note_pitch(const CantusVocab *v, int i)
{
  const int np = cantus_vocab_n_pitch(v);
  if (cantus_vocab_is_v2(v)) {
    return i >= CANTUS_TOK_FIRST_NOTE && i < cantus_vocab_dur_base(v)
             ? v->pitch_lo + (i - CANTUS_TOK_FIRST_NOTE) % np
             : -1;
  }
  const int on_base = cantus_vocab_on_base(v);
  return i >= on_base && i < on_base + np ? v->pitch_lo + (i - on_base) : -1;
}

// Adds the pulls to the allowed note logits keeping the notes' total mass;
// returns the new argmax (ties to the lower id) and its logit in *best.
static int apply_pulls(const CantusVocab *v,
                       const CantusSampleParams *sp,
                       float *logits,
                       int n_tok,
                       float *best)
{
  float mx = -INFINITY;
  for (int i = 0; i < n_tok; i++) {
    if (note_pitch(v, i) >= 0 && logits[i] > mx) {
      mx = logits[i];
    }
  }
  if (mx == -INFINITY) {
    return argmax_of(logits, n_tok, best); // no note allowed: nothing to pull
  }
  double before = 0.0, after = 0.0;
  for (int i = 0; i < n_tok; i++) {
    const int p = note_pitch(v, i);
    if (p < 0 || logits[i] == -INFINITY) {
      continue;
    }
    float add = 0.0f;
    for (int k = 0; k < 2; k++) {
      if (pull_on(sp, k) && ((sp->pull_pcs[k] >> (p % 12)) & 1u)) {
        add += sp->pull[k] < PULL_MAX ? sp->pull[k] : PULL_MAX;
      }
    }
    const double x = (double)(logits[i] - mx);
    before += exp(x);
    after += exp(x + (double)add);
    logits[i] += add;
  }
  const float keep = (float)log(before / after);
  for (int i = 0; i < n_tok; i++) {
    if (note_pitch(v, i) >= 0 && logits[i] != -INFINITY) {
      logits[i] += keep;
    }
  }
  return argmax_of(logits, n_tok, best);
}

// p[a] ranks above p[b]: more probable, ties to the lower id.
static bool ranks_above(const float *p, int a, int b)
{
  const float pa = p[a], pb = p[b];
  return pa > pb || (pa == pb && a < b);
}

static void sift_down(uint16_t *heap, int n, int i, const float *p)
{
  // i at least doubles each round: at most log2(n) <= 10 rounds
  while (2 * i + 1 < n) {
    int c = 2 * i + 1;
    if (c + 1 < n && ranks_above(p, heap[c + 1], heap[c])) {
      c++;
    }
    if (!ranks_above(p, heap[c], heap[i])) {
      return;
    }
    const uint16_t t = heap[c];
    heap[c] = heap[i];
    heap[i] = t;
    i = c;
  }
}

int cantus_sample_token(const CantusVocab *v,
                        float *logits,
                        float *scratch,
                        const CantusSampleParams *sp,
                        const CantusNoteState *ns,
                        CantusRng *rng,
                        float *logp)
{
  int n_tok = cantus_vocab_size(v);
  if (n_tok > CANTUS_MAX_VOCAB) {
    n_tok = CANTUS_MAX_VOCAB; // an invalid layout never loads; stay in bounds anyway
  }
  const bool v2 = cantus_vocab_is_v2(v);
  const bool want_dur = v2 && ns->pending >= 0;
  const int fallback = want_dur ? cantus_vocab_dur(v, 0) : cantus_vocab_shift(v, 1);
  if (logp) {
    *logp = 0.0f;
  }

  const int forced = forced_note_off(v, sp, ns);
  if (forced >= 0) {
    return forced;
  }

  // Masks and density; a masked or non-finite logit becomes -inf.
  const int on_base = cantus_vocab_on_base(v);
  const int off_base = cantus_vocab_off_base(v);
  const int shift_base = cantus_vocab_shift_base(v);
  const int vel_base = cantus_vocab_vel_base(v);
  const bool voices_free = ns->n_on < sp->max_voices;
  float density = sp->density;
  if (!(density == density)) {
    density = 0.0f;
  }
  density = density < -1.0f ? -1.0f : density > 1.0f ? 1.0f : density;
  const float shift_step = v->n_shift > 1 ? 4.0f / (float)(v->n_shift - 1) : 0.0f;

  float best = -INFINITY;
  int arg = -1;
  for (int i = 0; i < n_tok; i++) {
    bool allowed;
    float bias = 0.0f;
    if (v2) {
      allowed = allowed_v2(v, sp, ns, i, want_dur, voices_free);
      if (allowed && i >= shift_base && i < vel_base) {
        bias = density * (2.0f - shift_step * (float)(i - shift_base));
      }
    } else if (i == CANTUS_TOK_START) {
      allowed = false;
    } else if (i == CANTUS_TOK_END) {
      allowed = sp->allow_end;
    } else if (i < off_base) {
      allowed = voices_free && note_on_allowed(sp, ns, v->pitch_lo + (i - on_base));
    } else if (i < shift_base) {
      allowed = ns->on[v->pitch_lo + (i - off_base)] != 0;
    } else if (i < vel_base) {
      allowed = true;
      bias = density * (2.0f - shift_step * (float)(i - shift_base));
    } else {
      allowed = sp->allow_velocity;
    }
    float l = allowed ? logits[i] + bias : -INFINITY;
    if (!isfinite(l)) {
      l = -INFINITY;
    }
    logits[i] = l;
    if (l > best) { // strict: ties keep the lower id
      best = l;
      arg = i;
    }
  }
  if (arg < 0) {
    return fallback;
  }
  if (pulls_active(sp)) {
    arg = apply_pulls(v, sp, logits, n_tok, &best);
  }

  float temp = sp->temperature;
  if (!(temp > 0.0f)) {
    return arg;
  }
  temp = temp < T_MIN ? T_MIN : temp > T_MAX ? T_MAX : temp;

  // Softmax numerators, max subtracted: scratch[arg] = 1, so the sum is >= 1.
  float total = 0.0f;
  for (int i = 0; i < n_tok; i++) {
    const float l = logits[i];
    const float e = l == -INFINITY ? 0.0f : expf((l - best) / temp);
    scratch[i] = e;
    total += e;
  }

  const float u = cantus_rng_uniform(rng);
  int tok = arg;
  float mass = total;
  const float top_p = sp->top_p;
  if (top_p < 1.0f) {
    // Nucleus: pop the most probable tokens off a max-heap until their mass
    // reaches top_p of the total; popped tokens collect at the heap's tail in
    // descending order.
    uint16_t heap[CANTUS_MAX_VOCAB] = { 0 }; // 2 KiB of stack, cleared for the analysers
    int n = 0;
    for (int i = 0; i < n_tok; i++) {
      if (scratch[i] > 0.0f) {
        heap[n++] = (uint16_t)i;
      }
    }
    for (int i = n / 2 - 1; i >= 0; i--) {
      sift_down(heap, n, i, scratch);
    }
    const int n_cand = n;
    const float target = top_p * total;
    float cum = 0.0f;
    for (int k = 0; k < n_cand && (k == 0 || cum < target); k++) {
      const uint16_t t = heap[0];
      heap[0] = heap[n - 1];
      heap[n - 1] = t;
      n--;
      sift_down(heap, n, 0, scratch);
      cum += scratch[t];
    }
    mass = cum;
    const float r = u * cum;
    float c = 0.0f;
    for (int k = n_cand - 1; k >= n; k--) { // the popped tokens, most probable first
      c += scratch[heap[k]];
      tok = heap[k];
      if (r < c) {
        break;
      }
    }
  } else {
    const float r = u * total;
    float c = 0.0f;
    for (int i = 0; i < n_tok; i++) {
      if (scratch[i] > 0.0f) {
        c += scratch[i];
        tok = i; // rounding can leave r >= c at the end: keep the last positive
        if (r < c) {
          break;
        }
      }
    }
  }
  if (logp) {
    *logp = logf(scratch[tok]) - logf(mass);
  }
  return tok;
}
