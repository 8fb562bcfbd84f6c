// SPDX-License-Identifier: GPL-3.0-or-later
// The sampler: a per-instance RNG, and the draw of the next token from the
// network's logits under temperature, top-p and the masks that keep the
// event stream valid and inside the musician's constraints.
//
// Allocation contract: none; all state lives in caller-owned structs.
// Thread class: [RT] (all of it): no allocation, no qsort, no rand(),
// every loop bounded by the vocabulary size (<= CANTUS_MAX_VOCAB).
#ifndef CANTUS_SAMPLE_H
#define CANTUS_SAMPLE_H

#include "rt.h"
#include "vocab.h"

#include <stdbool.h>
#include <stdint.h>

// xorshift64* (Vigna); never seeded to zero.
typedef struct {
  uint64_t s;
} CantusRng;

CANTUS_RT void cantus_rng_seed(CantusRng *rng, uint64_t seed);
CANTUS_RT uint64_t cantus_rng_next(CantusRng *rng);
CANTUS_RT float cantus_rng_uniform(CantusRng *rng); // [0, 1), 24-bit resolution
// Independent stream for a (seed, index) pair, e.g. one per bar: splitmix64.
CANTUS_RT uint64_t cantus_rng_mix(uint64_t seed, uint64_t index);

// splitmix64 (Steele, Lea, Flood; Vigna's constants), the project's one
// copy: the output function, a bijective 64-bit hash, and the generator,
// which advances *state by the golden-ratio gamma and returns its hash.
// The sampler seeds and mixes streams with it, the trainer draws its
// initial weights, shuffles and dropout masks from it.  Inline because the
// trainer calls it per mask element.  [RT]
CANTUS_RT static inline uint64_t cantus_splitmix64_mix(uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

CANTUS_RT static inline uint64_t cantus_splitmix64_next(uint64_t *state)
{
  *state += 0x9E3779B97F4A7C15ull;
  return cantus_splitmix64_mix(*state);
}

// Model-level note state: which pitches the token stream has sounding, and
// since when.  Updated by cantus_notes_apply() with each consumed token.
// Version 2 (notes with part and duration): a note sounds from its DUR
// token's tick until onset + length; on[p] holds a bit per part (1 << k),
// ends[] the sounding notes' ends (at most CANTUS_NOTES_MAX_SOUNDING; a
// note beyond that is not taken and NOTE is masked while the list is full),
// pending the NOTE token still waiting for its DUR (-1: none).
#define CANTUS_NOTES_MAX_SOUNDING CANTUS_MAX_VOICES
typedef struct {
  int64_t end; // tick the note stops sounding for the model
  uint8_t part, pitch;
} CantusNoteEnd;

typedef struct {
  uint8_t on[128];         // version 1: 1 = sounding; version 2: bit k = sounding in part k
  int64_t onset_tick[128]; // tick of its NOTE_ON (version 2: of the latest DUR at p)
  int n_on;                // number of sounding notes
  int64_t tick;            // tick of the stream (sum of shifts consumed)
  int32_t pending;         // version 2: the NOTE token waiting for its DUR, -1 none
  int32_t n_ends;          // version 2: entries of ends
  CantusNoteEnd ends[CANTUS_NOTES_MAX_SOUNDING];
} CantusNoteState;

CANTUS_RT void cantus_notes_reset(CantusNoteState *ns, int64_t tick);
// Advances the state by one token (shift moves the tick, on/off toggle;
// version 2: NOTE waits for its DUR, DUR starts the note, a shift ends the
// notes whose end it reaches).
CANTUS_RT void cantus_notes_apply(CantusNoteState *ns, const CantusVocab *v, int token);
// Version 2: every sounding note ends at `tick` at the latest (those it
// reached already stop now).  No effect on a version 1 state.  [RT]
CANTUS_RT void cantus_notes_cut(CantusNoteState *ns, int64_t tick);

typedef struct {
  float temperature;      // 0 = argmax; else logits / T (clamped to >= 0.05)
  float top_p;            // keep the smallest set of tokens with mass >= top_p (1 = all)
  float density;          // -1..1: bias on SHIFT(k) logits, + favours short shifts (more notes)
  int pitch_lo, pitch_hi; // allowed NOTE_ON pitches in model pitch space (inclusive)
  uint16_t scale_mask;    // allowed pitch classes relative to key_root (bit 0 = root)
  int key_root;           // 0..11, in model pitch space
  int max_voices;         // NOTE_ON masked while n_on >= max_voices
  int64_t max_note_ticks; // a note older than this forces its NOTE_OFF
  bool allow_velocity;    // VELOCITY tokens allowed
  bool allow_end;         // END allowed (false at run time: endless stream)
  // Soft pulls toward pitch classes (chords and keys, issue 11): a NOTE_ON
  // (version 2: NOTE of any part) whose pitch class, in model pitch space
  // (C = 0, not relative to key_root), is in pull_pcs[k] gets pull[k]
  // nats added to its logit; then every note logit is shifted by one
  // amount so that the notes' total probability is unchanged (the pull
  // chooses among pitches, never between a note and a shift).  Never a
  // mask.  pull[k] <= 0 (or NaN) or pull_pcs[k] == 0: no pull; with no
  // pull the draw is exactly the one without these fields.
  uint16_t pull_pcs[2];
  float pull[2];
} CantusSampleParams;

// Masks logits in place, applies temperature, top-p and density, draws a
// token with rng, and returns it.  Masks: START never; END unless allowed;
// NOTE_ON of a sounding pitch, outside [pitch_lo, pitch_hi], outside the
// scale, or at max voices; NOTE_OFF of a silent pitch.  When a note has
// sounded longer than max_note_ticks only the NOTE_OFF of the oldest such
// note is allowed.  If the masks leave nothing (cannot happen with a sane
// vocabulary, but a hostile model must not break it) the smallest allowed
// SHIFT is returned.  Version 2: right after a NOTE only DUR is allowed,
// DUR nowhere else; NOTE(k, p) is masked when p sounds in part k, at max
// voices, and by range and scale (whatever the part); there is no forced
// note-off (the engine ends each note at its DUR, capped by the longest
// note).  The pitch pulls (pull_pcs, pull) are applied after the masks and
// density, before the temperature.  *logp receives the log-probability of the drawn token
// under the masked, tempered distribution (for the "surprise" output), when
// non-NULL.  scratch must hold V floats.
CANTUS_RT int cantus_sample_token(const CantusVocab *v,
                                  float *logits,
                                  float *scratch,
                                  const CantusSampleParams *sp,
                                  const CantusNoteState *ns,
                                  CantusRng *rng,
                                  float *logp);

#endif
