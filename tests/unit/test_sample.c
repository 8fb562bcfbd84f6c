// SPDX-License-Identifier: GPL-3.0-or-later
// Sampler tests: the PRNG against reference xorshift64*/splitmix64 values
// (computed with Python integers), argmax and its tie rule, the nucleus cut,
// agreement of empirical frequencies with the softmax at two temperatures,
// every mask, the forced note-off, density, hostile logits, and zero
// allocations or locks over 10,000 draws.
#include "alloc_guard.h"
#include "sample.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { N_DRAWS = 10000 };

static CantusSampleParams open_params(void)
{
  return (CantusSampleParams){ .temperature = 1.0f,
                               .top_p = 1.0f,
                               .density = 0.0f,
                               .pitch_lo = 0,
                               .pitch_hi = 127,
                               .scale_mask = 0xFFF,
                               .key_root = 0,
                               .max_voices = CANTUS_MAX_VOICES,
                               .max_note_ticks = 0,
                               .allow_velocity = true,
                               .allow_end = false };
}

static void fill(float* logits, int n, float value)
{
  for (int i = 0; i < n; i++) {
    logits[i] = value;
  }
}

// Draws n tokens from the same logits and note state (logits are copied per
// draw because the sampler masks them in place); counts[token]++.
static void draw_many(const CantusVocab* v,
                      const float* logits,
                      const CantusSampleParams* sp,
                      const CantusNoteState* ns,
                      uint64_t seed,
                      int n,
                      int* counts)
{
  const int n_tok = cantus_vocab_size(v);
  float work[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusRng rng;
  cantus_rng_seed(&rng, seed);
  memset(counts, 0, sizeof(int) * (size_t)n_tok);
  for (int k = 0; k < n; k++) {
    memcpy(work, logits, sizeof(float) * (size_t)n_tok);
    const int t = cantus_sample_token(v, work, scratch, sp, ns, &rng, NULL);
    if (t >= 0 && t < n_tok) {
      counts[t]++;
    }
  }
}

// Pearson chi-square of counts against probabilities prob[] over tokens with
// prob > 0; returns the statistic, *df the degrees of freedom.
static double chi_square(const int* counts, const double* prob, int n_tok, int n, int* df)
{
  double chi = 0.0;
  int cells = 0;
  for (int i = 0; i < n_tok; i++) {
    if (prob[i] > 0.0) {
      const double e = prob[i] * n;
      chi += (counts[i] - e) * (counts[i] - e) / e;
      cells++;
    }
  }
  *df = cells - 1;
  return chi;
}

// A small vocabulary: pitches 60..71, 8 shifts, 4 velocity bins (V = 38).
static CantusVocab small_vocab(void)
{
  return (CantusVocab){ .pitch_lo = 60, .pitch_hi = 71, .n_shift = 8, .n_vel = 4, .tpq = 4 };
}

TEST(sample_rng_xorshift64star_reference)
{
  // Raw xorshift64* from state 1 (Vigna's generator, multiplier 2685821657736338717).
  CantusRng r = { .s = 1 };
  CHECK(cantus_rng_next(&r) == 0x47e4ce4b896cdd1dull);
  CHECK(cantus_rng_next(&r) == 0xabcfa6a8e079651dull);
  CHECK(cantus_rng_next(&r) == 0xb9d10d8feb731f57ull);
  CHECK(cantus_rng_next(&r) == 0x4db418a0bb1b019dull);
  // cantus_rng_seed: state = splitmix64(seed), then xorshift64*.
  cantus_rng_seed(&r, 42);
  CHECK(r.s == 0xbdd732262feb6e95ull);
  CHECK(cantus_rng_next(&r) == 0x31b0ece7c4f697a2ull);
  CHECK(cantus_rng_next(&r) == 0x9008a3b1cb686f03ull);
  CHECK(cantus_rng_next(&r) == 0x7c7173abd97be16full);
}

TEST(sample_rng_seed_zero_works)
{
  CantusRng r;
  cantus_rng_seed(&r, 0);
  CHECK(r.s != 0);
  CHECK(cantus_rng_next(&r) == 0x7bbcb40d550682d0ull);
  uint64_t prev = cantus_rng_next(&r);
  int n_same = 0;
  for (int i = 0; i < 1000; i++) {
    const uint64_t x = cantus_rng_next(&r);
    n_same += x == prev;
    prev = x;
  }
  CHECK_EQ(n_same, 0);
  // A zeroed struct (never seeded) must not get stuck at zero either.
  CantusRng z = { .s = 0 };
  CHECK(cantus_rng_next(&z) != 0);
  CHECK(z.s != 0);
}

TEST(sample_rng_uniform_range_and_spread)
{
  CantusRng r;
  cantus_rng_seed(&r, 7);
  int bins[10] = { 0 };
  double sum = 0.0;
  float lo = 1.0f, hi = 0.0f;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    const float u = cantus_rng_uniform(&r);
    CHECK(u >= 0.0f && u < 1.0f);
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
    sum += (double)u;
    const int b = (int)(u * 10.0f);
    bins[b < 10 ? b : 9]++;
  }
  CHECK_NEAR(sum / n, 0.5, 0.005);
  CHECK(lo < 0.001f);
  CHECK(hi > 0.999f);
  double chi = 0.0;
  for (int b = 0; b < 10; b++) {
    chi += (bins[b] - n / 10.0) * (bins[b] - n / 10.0) / (n / 10.0);
  }
  CHECK_MSG(chi < 30.0, "chi-square %g over 9 df", chi); // p < 0.0005 for 9 df
  // The top 24 bits: uniform * 2^24 is an integer.
  cantus_rng_seed(&r, 7);
  const float u = cantus_rng_uniform(&r) * 16777216.0f;
  CHECK(u == floorf(u));
}

TEST(sample_rng_mix_streams)
{
  CHECK(cantus_rng_mix(7, 0) == 0xb8b4c2977eabce45ull);
  CHECK(cantus_rng_mix(7, 1) == 0x3d41bf495cd3075full);
  CHECK(cantus_rng_mix(7, 1) == cantus_rng_mix(7, 1));
  CHECK(cantus_rng_mix(7, 1) != cantus_rng_mix(8, 1));
  // Streams of neighbouring indices share no early outputs.
  CantusRng a, b;
  cantus_rng_seed(&a, cantus_rng_mix(7, 3));
  cantus_rng_seed(&b, cantus_rng_mix(7, 4));
  uint64_t xa[64], xb[64];
  for (int i = 0; i < 64; i++) {
    xa[i] = cantus_rng_next(&a);
    xb[i] = cantus_rng_next(&b);
  }
  int shared = 0;
  for (int i = 0; i < 64; i++) {
    for (int j = 0; j < 64; j++) {
      shared += xa[i] == xb[j];
    }
  }
  CHECK_EQ(shared, 0);
  int n_distinct = 0;
  for (uint64_t i = 0; i < 100; i++) {
    n_distinct += cantus_rng_mix(7, i) != cantus_rng_mix(7, i + 1);
  }
  CHECK_EQ(n_distinct, 100);
}

TEST(sample_notes_apply)
{
  const CantusVocab v = cantus_vocab_default();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 100);
  CHECK_EQ(ns.tick, 100);
  CHECK_EQ(ns.n_on, 0);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 60));
  CHECK_EQ(ns.on[60], 1);
  CHECK_EQ(ns.onset_tick[60], 100);
  CHECK_EQ(ns.n_on, 1);
  cantus_notes_apply(&ns, &v, cantus_vocab_shift(&v, 5));
  CHECK_EQ(ns.tick, 105);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 60)); // already on: ignored
  CHECK_EQ(ns.n_on, 1);
  CHECK_EQ(ns.onset_tick[60], 100);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 64));
  CHECK_EQ(ns.onset_tick[64], 105);
  CHECK_EQ(ns.n_on, 2);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_off(&v, 72)); // silent: ignored
  CHECK_EQ(ns.n_on, 2);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_off(&v, 60));
  CHECK_EQ(ns.on[60], 0);
  CHECK_EQ(ns.n_on, 1);
  cantus_notes_apply(&ns, &v, CANTUS_TOK_START);
  cantus_notes_apply(&ns, &v, CANTUS_TOK_END);
  cantus_notes_apply(&ns, &v, -3);
  cantus_notes_apply(&ns, &v, cantus_vocab_size(&v));
  CHECK_EQ(ns.n_on, 1);
  CHECK_EQ(ns.tick, 105);
  cantus_notes_apply(&ns, &v, cantus_vocab_shift(&v, 48));
  CHECK_EQ(ns.tick, 153);
}

TEST(sample_temperature_zero_is_argmax)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  sp.temperature = 0.0f;
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusRng rng;
  cantus_rng_seed(&rng, 1);
  const uint64_t s0 = rng.s;
  for (int trial = 0; trial < 50; trial++) {
    for (int i = 0; i < n_tok; i++) {
      logits[i] = cantus_rng_uniform(&rng) * 4.0f - 2.0f;
    }
    // the winner: a random allowed NOTE_ON or SHIFT
    const int want =
      trial % 2 ? cantus_vocab_note_on(&v, 21 + trial) : cantus_vocab_shift(&v, 1 + trial % 48);
    logits[want] = 3.0f;
    const uint64_t before = rng.s;
    float logp = -1.0f;
    CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), want);
    CHECK(rng.s == before); // argmax draws nothing
    CHECK(logp == 0.0f);
  }
  CHECK(rng.s != s0);
  // Ties go to the lowest id, wherever they sit.
  fill(logits, n_tok, 0.0f);
  const int a = cantus_vocab_shift(&v, 3), b = cantus_vocab_note_on(&v, 80),
            c = cantus_vocab_shift(&v, 1);
  logits[a] = logits[b] = logits[c] = 5.0f;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL), b);
  // A masked maximum (START) does not win; the best allowed token does.
  fill(logits, n_tok, 0.0f);
  logits[CANTUS_TOK_START] = 50.0f;
  logits[c] = 1.0f;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL), c);
  // Negative temperature also means argmax.
  sp.temperature = -1.0f;
  fill(logits, n_tok, 0.0f);
  logits[a] = 1.0f;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL), a);
}

// Logits giving probabilities 0.4, 0.3, 0.2, 0.05, 0.05 on SHIFT(1..5); the
// rest masked by -inf.
static void crafted(const CantusVocab* v, float* logits, double* prob)
{
  static const double p[5] = { 0.4, 0.3, 0.2, 0.05, 0.05 };
  const int n_tok = cantus_vocab_size(v);
  fill(logits, n_tok, -INFINITY);
  for (int i = 0; i < n_tok; i++) {
    prob[i] = 0.0;
  }
  for (int k = 0; k < 5; k++) {
    const int t = cantus_vocab_shift(v, k + 1);
    logits[t] = (float)log(p[k]) + 1.5f; // any common offset
    prob[t] = p[k];
  }
}

TEST(sample_top_p_nucleus_excludes_tail)
{
  const CantusVocab v = small_vocab();
  const int n_tok = cantus_vocab_size(&v);
  float logits[CANTUS_MAX_VOCAB];
  double prob[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  crafted(&v, logits, prob);
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  CantusSampleParams sp = open_params();
  sp.top_p = 0.85f; // 0.4 + 0.3 < 0.85 <= 0.4 + 0.3 + 0.2
  draw_many(&v, logits, &sp, &ns, 11, N_DRAWS, counts);
  CHECK_EQ(counts[cantus_vocab_shift(&v, 4)], 0);
  CHECK_EQ(counts[cantus_vocab_shift(&v, 5)], 0);
  // inside the nucleus the mass is renormalised: 4/9, 3/9, 2/9
  double nprob[CANTUS_MAX_VOCAB] = { 0 };
  for (int k = 0; k < 3; k++) {
    const int t = cantus_vocab_shift(&v, k + 1);
    nprob[t] = prob[t] / 0.9;
    CHECK(counts[t] > 0);
  }
  int df = 0;
  const double chi = chi_square(counts, nprob, n_tok, N_DRAWS, &df);
  CHECK_EQ(df, 2);
  CHECK_MSG(chi < 16.0, "chi-square %g over %d df", chi, df); // p ~ 0.0003
  // top_p = 0.7 + epsilon still needs the third token; top_p = 0.65 does not.
  sp.top_p = 0.65f;
  draw_many(&v, logits, &sp, &ns, 12, N_DRAWS, counts);
  CHECK_EQ(counts[cantus_vocab_shift(&v, 3)], 0);
  CHECK(counts[cantus_vocab_shift(&v, 2)] > 3000);
  // top_p = 0 keeps only the most probable token.
  sp.top_p = 0.0f;
  draw_many(&v, logits, &sp, &ns, 13, 1000, counts);
  CHECK_EQ(counts[cantus_vocab_shift(&v, 1)], 1000);
  // logp is taken under the renormalised nucleus.
  sp.top_p = 0.85f;
  float work[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusRng rng;
  cantus_rng_seed(&rng, 14);
  for (int k = 0; k < 200; k++) {
    memcpy(work, logits, sizeof(float) * (size_t)n_tok);
    float logp = 1.0f;
    const int t = cantus_sample_token(&v, work, scratch, &sp, &ns, &rng, &logp);
    CHECK_NEAR(logp, log(prob[t] / 0.9), 1e-5);
  }
}

TEST(sample_top_p_one_reaches_every_allowed_token)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  CantusSampleParams sp = open_params();
  sp.top_p = 1.0f;
  sp.max_voices = 1;
  ns.on[60] = 1; // n_on stays 0 so NOTE_ONs remain allowed; OFF60 is allowed
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  // Skewed but non-degenerate: the least likely token has ~1/(5 * n_tok).
  for (int i = 0; i < n_tok; i++) {
    logits[i] = (float)(i % 7) * 0.25f;
  }
  draw_many(&v, logits, &sp, &ns, 21, 100000, counts);
  int n_allowed = 0, n_seen = 0, n_bad = 0;
  for (int i = 0; i < n_tok; i++) {
    int value = 0;
    const CantusEventKind k = cantus_vocab_decode(&v, i, &value);
    const bool allowed = (k == CANTUS_EV_NOTE_ON && value != 60) ||
                         (k == CANTUS_EV_NOTE_OFF && value == 60) || k == CANTUS_EV_SHIFT;
    n_allowed += allowed;
    n_seen += allowed && counts[i] > 0;
    n_bad += !allowed && counts[i] > 0;
  }
  CHECK_EQ(n_allowed, 87 + 1 + 48);
  CHECK_EQ(n_seen, n_allowed);
  CHECK_EQ(n_bad, 0);
}

// Empirical frequencies against softmax(logits / T) over 40 tokens.
static void check_softmax_frequencies(float temperature, uint64_t seed)
{
  const CantusVocab v = small_vocab();
  const int n_tok = cantus_vocab_size(&v);
  float logits[CANTUS_MAX_VOCAB];
  double prob[CANTUS_MAX_VOCAB] = { 0 };
  int counts[CANTUS_MAX_VOCAB];
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  CantusSampleParams sp = open_params();
  sp.temperature = temperature;
  // allowed: NOTE_ON 60..71, SHIFT 1..8, VELOCITY 0..3 (24 tokens)
  fill(logits, n_tok, -INFINITY);
  double z = 0.0;
  double m = -1e30;
  for (int i = 0; i < n_tok; i++) {
    int value = 0;
    const CantusEventKind k = cantus_vocab_decode(&v, i, &value);
    if (k == CANTUS_EV_NOTE_ON || k == CANTUS_EV_SHIFT || k == CANTUS_EV_VELOCITY) {
      logits[i] = (float)((i * 7) % 11) * 0.2f - 1.0f;
      m = (double)logits[i] > m ? (double)logits[i] : m;
    }
  }
  for (int i = 0; i < n_tok; i++) {
    if (isfinite(logits[i])) {
      prob[i] = exp(((double)logits[i] - m) / (double)temperature);
      z += prob[i];
    }
  }
  for (int i = 0; i < n_tok; i++) {
    prob[i] /= z;
  }
  const int n = 40000;
  draw_many(&v, logits, &sp, &ns, seed, n, counts);
  int df = 0;
  const double chi = chi_square(counts, prob, n_tok, n, &df);
  CHECK_EQ(df, 23);
  // chi-square(23) exceeds 55 with p ~ 0.0002
  CHECK_MSG(chi < 55.0, "T=%g: chi-square %g over %d df", (double)temperature, chi, df);
  for (int i = 0; i < n_tok; i++) {
    if (prob[i] == 0.0) {
      CHECK_EQ(counts[i], 0);
    }
  }
  // The same counts are far from the distribution at the other temperature,
  // so this test notices an ignored temperature.
  double prob_t1[CANTUS_MAX_VOCAB] = { 0 };
  double z1 = 0.0;
  const double other = temperature == 1.0f ? 0.5 : 1.0;
  for (int i = 0; i < n_tok; i++) {
    if (isfinite(logits[i])) {
      prob_t1[i] = exp(((double)logits[i] - m) / other);
      z1 += prob_t1[i];
    }
  }
  for (int i = 0; i < n_tok; i++) {
    prob_t1[i] /= z1;
  }
  const double chi_other = chi_square(counts, prob_t1, n_tok, n, &df);
  CHECK_MSG(
    chi_other > 500.0, "T=%g vs %g: chi-square only %g", (double)temperature, other, chi_other);
}

TEST(sample_frequencies_match_softmax_t1)
{
  check_softmax_frequencies(1.0f, 31);
}

TEST(sample_frequencies_match_softmax_t05)
{
  check_softmax_frequencies(0.5f, 32);
}

TEST(sample_mask_sounding_and_silent)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 60));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 67));
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  fill(logits, n_tok, 0.0f);
  // Strongly favour ON60 (sounding), ON61 (silent), every NOTE_OFF.
  logits[cantus_vocab_note_on(&v, 60)] = 12.0f;
  logits[cantus_vocab_note_on(&v, 61)] = 8.0f;
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    logits[cantus_vocab_note_off(&v, p)] = 8.0f;
  }
  draw_many(&v, logits, &sp, &ns, 41, N_DRAWS, counts);
  CHECK_EQ(counts[cantus_vocab_note_on(&v, 60)], 0);
  CHECK(counts[cantus_vocab_note_on(&v, 61)] > 2000);
  int offs_silent = 0;
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    if (p != 60 && p != 67) {
      offs_silent += counts[cantus_vocab_note_off(&v, p)];
    }
  }
  CHECK_EQ(offs_silent, 0);
  CHECK(counts[cantus_vocab_note_off(&v, 60)] > 2000);
  CHECK(counts[cantus_vocab_note_off(&v, 67)] > 2000);
}

TEST(sample_mask_range_and_scale)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  // Only NOTE_ONs and SHIFTs carry mass; NOTE_ONs far more.
  fill(logits, n_tok, -INFINITY);
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    logits[cantus_vocab_note_on(&v, p)] = 6.0f;
  }
  logits[cantus_vocab_shift(&v, 1)] = 0.0f;

  // Range 48..72, chromatic.
  sp.pitch_lo = 48;
  sp.pitch_hi = 72;
  draw_many(&v, logits, &sp, &ns, 51, N_DRAWS, counts);
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    const int c = counts[cantus_vocab_note_on(&v, p)];
    if (p < 48 || p > 72) {
      CHECK_MSG(c == 0, "pitch %d out of range drawn %d times", p, c);
    } else {
      CHECK_MSG(c > 0, "pitch %d in range never drawn", p);
    }
  }

  // C major (0xAB5: C D E F G A B): no black key over 10,000 draws.
  sp.scale_mask = 0xAB5;
  sp.key_root = 0;
  draw_many(&v, logits, &sp, &ns, 52, N_DRAWS, counts);
  int n_black = 0, n_white = 0;
  for (int p = 48; p <= 72; p++) {
    const int pc = p % 12;
    const bool black = pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10;
    const int c = counts[cantus_vocab_note_on(&v, p)];
    n_black += black ? c : 0;
    n_white += black ? 0 : c;
    if (!black) {
      CHECK_MSG(c > 0, "white key %d never drawn", p);
    }
  }
  CHECK_EQ(n_black, 0);
  CHECK(n_white > 9000);

  // D major (same mask, root 2): F# and C# allowed, F and C not.
  sp.key_root = 2;
  draw_many(&v, logits, &sp, &ns, 53, N_DRAWS, counts);
  CHECK(counts[cantus_vocab_note_on(&v, 66)] > 0);   // F#4
  CHECK(counts[cantus_vocab_note_on(&v, 61)] > 0);   // C#4
  CHECK_EQ(counts[cantus_vocab_note_on(&v, 65)], 0); // F4
  CHECK_EQ(counts[cantus_vocab_note_on(&v, 60)], 0); // C4
  CHECK_EQ(counts[cantus_vocab_note_on(&v, 70)], 0); // A#4

  // An empty scale leaves only the shift.
  sp.scale_mask = 0;
  draw_many(&v, logits, &sp, &ns, 54, 1000, counts);
  CHECK_EQ(counts[cantus_vocab_shift(&v, 1)], 1000);
}

TEST(sample_mask_max_voices)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 48));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 52));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 55));
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  fill(logits, n_tok, 0.0f);
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    logits[cantus_vocab_note_on(&v, p)] = 5.0f;
  }
  int n_on_drawn = 0;
  sp.max_voices = 3;
  draw_many(&v, logits, &sp, &ns, 61, N_DRAWS, counts);
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    n_on_drawn += counts[cantus_vocab_note_on(&v, p)];
  }
  CHECK_EQ(n_on_drawn, 0);
  CHECK(counts[cantus_vocab_note_off(&v, 52)] > 0);
  sp.max_voices = 4;
  draw_many(&v, logits, &sp, &ns, 62, N_DRAWS, counts);
  n_on_drawn = 0;
  for (int p = v.pitch_lo; p <= v.pitch_hi; p++) {
    n_on_drawn += counts[cantus_vocab_note_on(&v, p)];
  }
  CHECK(n_on_drawn > 5000);
}

TEST(sample_mask_start_end_velocity)
{
  const CantusVocab v = small_vocab();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  fill(logits, n_tok, 0.0f);
  logits[CANTUS_TOK_START] = 20.0f;
  logits[CANTUS_TOK_END] = 6.0f;
  for (int b = 0; b < v.n_vel; b++) {
    logits[cantus_vocab_velocity(&v, b)] = 6.0f;
  }
  sp.allow_end = false;
  sp.allow_velocity = false;
  draw_many(&v, logits, &sp, &ns, 71, N_DRAWS, counts);
  CHECK_EQ(counts[CANTUS_TOK_START], 0);
  CHECK_EQ(counts[CANTUS_TOK_END], 0);
  for (int b = 0; b < v.n_vel; b++) {
    CHECK_EQ(counts[cantus_vocab_velocity(&v, b)], 0);
  }
  sp.allow_end = true;
  sp.allow_velocity = true;
  draw_many(&v, logits, &sp, &ns, 72, N_DRAWS, counts);
  CHECK_EQ(counts[CANTUS_TOK_START], 0);
  CHECK(counts[CANTUS_TOK_END] > 1000);
  for (int b = 0; b < v.n_vel; b++) {
    CHECK(counts[cantus_vocab_velocity(&v, b)] > 1000);
  }
}

TEST(sample_forced_note_off_oldest)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 67)); // tick 0
  cantus_notes_apply(&ns, &v, cantus_vocab_shift(&v, 10));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 60)); // tick 10
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 72)); // tick 10
  cantus_notes_apply(&ns, &v, cantus_vocab_shift(&v, 40));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_on(&v, 64)); // tick 50
  cantus_notes_apply(&ns, &v, cantus_vocab_shift(&v, 46));   // tick 96
  float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusRng rng;
  cantus_rng_seed(&rng, 81);
  const uint64_t s0 = rng.s;
  float logp = -5.0f;

  // ages: 67 -> 96, 60 and 72 -> 86, 64 -> 46; limit 40: all four qualify, 67 is oldest
  sp.max_note_ticks = 40;
  fill(logits, n_tok, 0.0f);
  logits[cantus_vocab_note_off(&v, 64)] = 30.0f; // the network wants another note off
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp),
           cantus_vocab_note_off(&v, 67));
  CHECK(rng.s == s0); // consumes no randomness
  CHECK(logp == 0.0f);
  // with NaN logits too
  fill(logits, n_tok, NAN);
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_note_off(&v, 67));
  // after 67 is off: 60 and 72 have the same onset, the lower pitch first
  cantus_notes_apply(&ns, &v, cantus_vocab_note_off(&v, 67));
  fill(logits, n_tok, 0.0f);
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_note_off(&v, 60));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_off(&v, 60));
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_note_off(&v, 72));
  cantus_notes_apply(&ns, &v, cantus_vocab_note_off(&v, 72));
  // 64 (age 46) passes the limit 40 but not 47 (age must reach the limit)
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_note_off(&v, 64));
  sp.max_note_ticks = 46;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_note_off(&v, 64));
  CHECK(rng.s == s0);
  sp.max_note_ticks = 47;
  sp.temperature = 0.0f;
  fill(logits, n_tok, 0.0f);
  logits[cantus_vocab_shift(&v, 2)] = 1.0f;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_shift(&v, 2));
  // max_note_ticks <= 0 disables forcing
  sp.max_note_ticks = 0;
  fill(logits, n_tok, 0.0f);
  logits[cantus_vocab_shift(&v, 2)] = 1.0f;
  CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL),
           cantus_vocab_shift(&v, 2));
}

static double mean_shift(const CantusVocab* v, const int* counts)
{
  double sum = 0.0;
  long n = 0;
  for (int k = 1; k <= v->n_shift; k++) {
    sum += (double)k * counts[cantus_vocab_shift(v, k)];
    n += counts[cantus_vocab_shift(v, k)];
  }
  return n ? sum / (double)n : 0.0;
}

TEST(sample_density_biases_shift_length)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  float logits[CANTUS_MAX_VOCAB];
  int counts[CANTUS_MAX_VOCAB];
  fill(logits, n_tok, -INFINITY);
  for (int k = 1; k <= v.n_shift; k++) {
    logits[cantus_vocab_shift(&v, k)] = 0.0f;
  }
  sp.density = 1.0f;
  draw_many(&v, logits, &sp, &ns, 91, N_DRAWS, counts);
  const double m_pos = mean_shift(&v, counts);
  sp.density = 0.0f;
  draw_many(&v, logits, &sp, &ns, 92, N_DRAWS, counts);
  const double m_zero = mean_shift(&v, counts);
  sp.density = -1.0f;
  draw_many(&v, logits, &sp, &ns, 93, N_DRAWS, counts);
  const double m_neg = mean_shift(&v, counts);
  CHECK_NEAR(m_zero, 24.5, 0.5);
  CHECK_MSG(m_pos < m_zero - 8.0, "density +1: mean shift %g vs %g at 0", m_pos, m_zero);
  CHECK_MSG(m_neg > m_zero + 8.0, "density -1: mean shift %g vs %g at 0", m_neg, m_zero);
  // f(1) = +2, f(n_shift) = -2: at density 1 and T = 1 SHIFT(1) : SHIFT(48) = e^4 : 1.
  fill(logits, n_tok, -INFINITY);
  logits[cantus_vocab_shift(&v, 1)] = 0.0f;
  logits[cantus_vocab_shift(&v, 48)] = 0.0f;
  sp.density = 1.0f;
  draw_many(&v, logits, &sp, &ns, 94, N_DRAWS, counts);
  const double want = exp(4.0) / (1.0 + exp(4.0));
  CHECK_NEAR(counts[cantus_vocab_shift(&v, 1)] / (double)N_DRAWS, want, 0.006);
  // Density never touches notes: with only NOTE_ONs allowed the draw is unchanged.
  fill(logits, n_tok, -INFINITY);
  logits[cantus_vocab_note_on(&v, 60)] = 0.0f;
  logits[cantus_vocab_note_on(&v, 62)] = 0.0f;
  draw_many(&v, logits, &sp, &ns, 95, N_DRAWS, counts);
  CHECK_NEAR(counts[cantus_vocab_note_on(&v, 60)] / (double)N_DRAWS, 0.5, 0.02);
}

TEST(sample_hostile_logits)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  const int shift1 = cantus_vocab_shift(&v, 1);
  CantusSampleParams sp = open_params();
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusRng rng;
  cantus_rng_seed(&rng, 101);
  float logp = 7.0f;
  static const float temps[3] = { 0.0f, 1.0f, 0.3f };
  for (int ti = 0; ti < 3; ti++) {
    sp.temperature = temps[ti];
    fill(logits, n_tok, -INFINITY);
    CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), shift1);
    CHECK(isfinite(logp));
    fill(logits, n_tok, NAN);
    CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), shift1);
    CHECK(isfinite(logp));
    fill(logits, n_tok, INFINITY);
    CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), shift1);
    // Only START and END finite, both masked: still SHIFT(1).
    fill(logits, n_tok, NAN);
    logits[CANTUS_TOK_START] = 1.0f;
    logits[CANTUS_TOK_END] = 1.0f;
    CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), shift1);
    // Non-finite entries are masked; the single finite allowed token wins every time.
    for (int k = 0; k < 50; k++) {
      for (int i = 0; i < n_tok; i++) {
        logits[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
      }
      const int want = cantus_vocab_note_on(&v, 66);
      logits[want] = -3.0e38f;
      CHECK_EQ(cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp), want);
      CHECK(isfinite(logp));
    }
  }
  // Extreme finite logits, extreme temperature and top_p values: a valid token.
  sp.temperature = 1e-6f;
  sp.top_p = NAN;
  sp.density = NAN;
  for (int i = 0; i < n_tok; i++) {
    logits[i] = i % 2 ? 3.0e38f : -3.0e38f;
  }
  int t = cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp);
  CHECK(t >= 2 && t < n_tok);
  CHECK(isfinite(logp));
  sp.temperature = INFINITY;
  sp.top_p = -1.0f;
  for (int i = 0; i < n_tok; i++) {
    logits[i] = i % 2 ? 3.0e38f : -3.0e38f;
  }
  t = cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp);
  CHECK(t >= 2 && t < n_tok);
  CHECK(isfinite(logp));
}

TEST(sample_deterministic_for_seed)
{
  const CantusVocab v = cantus_vocab_default();
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  sp.top_p = 0.9f;
  sp.max_voices = 4;
  sp.max_note_ticks = 48;
  int seq[2][500];
  for (int run = 0; run < 2; run++) {
    CantusNoteState ns;
    cantus_notes_reset(&ns, 0);
    CantusRng rng;
    cantus_rng_seed(&rng, 5);
    float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
    for (int k = 0; k < 500; k++) {
      for (int i = 0; i < n_tok; i++) {
        logits[i] = (float)((i * 31 + k * 17) % 23) * 0.15f;
      }
      seq[run][k] = cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, NULL);
      cantus_notes_apply(&ns, &v, seq[run][k]);
      CHECK(ns.n_on <= 4);
    }
  }
  CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
  int n_distinct = 0;
  for (int k = 1; k < 500; k++) {
    n_distinct += seq[0][k] != seq[0][k - 1];
  }
  CHECK(n_distinct > 200);
}

TEST(sample_no_alloc_no_lock)
{
  const CantusVocab v =
    (CantusVocab){ .pitch_lo = 21, .pitch_hi = 108, .n_shift = 48, .n_vel = 8, .tpq = 12 };
  const int n_tok = cantus_vocab_size(&v);
  CantusSampleParams sp = open_params();
  sp.top_p = 0.9f;
  sp.max_voices = 6;
  sp.max_note_ticks = 96;
  sp.scale_mask = 0xAB5;
  sp.pitch_lo = 36;
  sp.pitch_hi = 96;
  sp.density = 0.3f;
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  CantusRng rng;
  cantus_rng_seed(&rng, 111);
  CantusRng lrng;
  cantus_rng_seed(&lrng, 112);
  static float table[64][CANTUS_MAX_VOCAB];
  for (int r = 0; r < 64; r++) {
    for (int i = 0; i < n_tok; i++) {
      table[r][i] = cantus_rng_uniform(&lrng) * 6.0f - 3.0f;
    }
  }
  float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  int n_notes = 0;
  float sum_logp = 0.0f;
  cantus_guard_arm();
  for (int k = 0; k < N_DRAWS; k++) {
    memcpy(logits, table[k % 64], sizeof(float) * (size_t)n_tok);
    sp.temperature = k % 5 == 0 ? 0.0f : 0.8f;
    float logp = 0.0f;
    const int t = cantus_sample_token(&v, logits, scratch, &sp, &ns, &rng, &logp);
    cantus_notes_apply(&ns, &v, t);
    n_notes += t >= cantus_vocab_on_base(&v) && t < cantus_vocab_off_base(&v);
    sum_logp += logp;
  }
  const CantusGuardCounts g = cantus_guard_disarm();
  CHECK_EQ(g.allocs, 0);
  CHECK_EQ(g.frees, 0);
  CHECK_EQ(g.locks, 0);
  CHECK(n_notes > 100);
  CHECK(sum_logp < 0.0f);
}
