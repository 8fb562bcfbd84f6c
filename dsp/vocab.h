// SPDX-License-Identifier: GPL-3.0-or-later
// The event vocabulary (DESIGN.md): tokens <-> musical events on a tick grid.
// Token ids, in order:
//   0                      START (the input before the first real token)
//   1                      END   (end of a piece; masked at run time)
//   2 ..                   NOTE_ON(p)  for p = pitch_lo .. pitch_hi
//   ..                     NOTE_OFF(p) for p = pitch_lo .. pitch_hi
//   ..                     SHIFT(k)    for k = 1 .. n_shift ticks
//   ..                     VELOCITY(b) for b = 0 .. n_vel-1 (absent when n_vel = 0)
// Allocation contract: none; every function is pure arithmetic on a
// CantusVocab passed by pointer.  Thread class: [RT] (all of it).
#ifndef CANTUS_VOCAB_H
#define CANTUS_VOCAB_H

#include "rt.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uint8_t pitch_lo; // lowest MIDI pitch with a token
  uint8_t pitch_hi; // highest MIDI pitch with a token (inclusive)
  uint16_t n_shift; // SHIFT(1..n_shift) ticks; at most one 4/4 bar
  uint16_t n_vel;   // velocity bins, 0 = no velocity tokens
  uint16_t tpq;     // grid ticks per quarter note
} CantusVocab;

typedef enum {
  CANTUS_EV_START,
  CANTUS_EV_END,
  CANTUS_EV_NOTE_ON,  // value: MIDI pitch
  CANTUS_EV_NOTE_OFF, // value: MIDI pitch
  CANTUS_EV_SHIFT,    // value: ticks, 1..n_shift
  CANTUS_EV_VELOCITY, // value: bin, 0..n_vel-1
  CANTUS_EV_INVALID
} CantusEventKind;

enum { CANTUS_TOK_START = 0, CANTUS_TOK_END = 1, CANTUS_TOK_FIRST_NOTE = 2 };

// The default grid and range of DESIGN.md: pitches 21..108, 48 shifts,
// no velocity, 12 ticks per quarter.
CantusVocab cantus_vocab_default(void);

// true when the layout is usable: pitch_lo <= pitch_hi <= 127,
// 1 <= tpq <= 96, 1 <= n_shift <= 4*tpq, n_vel <= 32, size <= CANTUS_MAX_VOCAB.
bool cantus_vocab_valid(const CantusVocab *v);

static inline int cantus_vocab_n_pitch(const CantusVocab *v)
{
  return v->pitch_hi - v->pitch_lo + 1;
}
static inline int cantus_vocab_size(const CantusVocab *v)
{
  return 2 + 2 * cantus_vocab_n_pitch(v) + v->n_shift + v->n_vel;
}
static inline int cantus_vocab_on_base(const CantusVocab *v)
{
  (void)v;
  return CANTUS_TOK_FIRST_NOTE;
}
static inline int cantus_vocab_off_base(const CantusVocab *v)
{
  return CANTUS_TOK_FIRST_NOTE + cantus_vocab_n_pitch(v);
}
static inline int cantus_vocab_shift_base(const CantusVocab *v)
{
  return CANTUS_TOK_FIRST_NOTE + 2 * cantus_vocab_n_pitch(v);
}
static inline int cantus_vocab_vel_base(const CantusVocab *v)
{
  return cantus_vocab_shift_base(v) + v->n_shift;
}

// Token of an event; -1 when the value is outside the layout.
int cantus_vocab_note_on(const CantusVocab *v, int pitch);
int cantus_vocab_note_off(const CantusVocab *v, int pitch);
int cantus_vocab_shift(const CantusVocab *v, int ticks); // 1..n_shift
int cantus_vocab_velocity(const CantusVocab *v, int bin);

// Event of a token; CANTUS_EV_INVALID (value 0) outside the vocabulary.
CantusEventKind cantus_vocab_decode(const CantusVocab *v, int token, int *value);

// Velocity 1..127 <-> bin 0..n_vel-1 (equal-width bins; a bin plays its centre).
int cantus_vocab_vel_to_bin(const CantusVocab *v, int velocity);
int cantus_vocab_bin_to_vel(const CantusVocab *v, int bin);

// Human-readable token, e.g. "ON60", "OFF60", "SHIFT3", "VEL2", "START", "END".
// Writes at most n bytes including the NUL.  Non-RT (snprintf).
void cantus_vocab_name(const CantusVocab *v, int token, char *buf, int n);

#endif
