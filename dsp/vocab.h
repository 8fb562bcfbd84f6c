// SPDX-License-Identifier: GPL-3.0-or-later
// The event vocabulary (DESIGN.md): tokens <-> musical events on a tick grid.
// Two layouts.  Version 1 (n_dur == 0), token ids in order:
//   0                      START (the input before the first real token)
//   1                      END   (end of a piece; masked at run time)
//   2 ..                   NOTE_ON(p)  for p = pitch_lo .. pitch_hi
//   ..                     NOTE_OFF(p) for p = pitch_lo .. pitch_hi
//   ..                     SHIFT(k)    for k = 1 .. n_shift ticks
//   ..                     VELOCITY(b) for b = 0 .. n_vel-1 (absent when n_vel = 0)
// Version 2 (n_dur > 0, n_parts 1..CANTUS_MAX_PARTS): notes carry their part
// and their length, and there is no NOTE_OFF:
//   0, 1                   START, END
//   2 ..                   NOTE(k, p)  for k = 0 .. n_parts-1, p = pitch_lo ..
//                          pitch_hi, part-major
//   ..                     DUR(j)      for j = 0 .. n_dur-1
//   ..                     SHIFT(k), VELOCITY(b) as in version 1
// A NOTE is always followed by exactly one DUR, its length; the consumer
// schedules the note-off.  Duration bins are a rule of tpq, not a table:
// every tick 1 .. 2*tpq, then every quarter 3*tpq .. 16*tpq (2*tpq + 14
// bins; 38 at tpq 12); n_dur may keep only the first n_dur of them.
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
  uint16_t n_parts; // version 2: parts 1..CANTUS_MAX_PARTS; 0 in version 1
  uint16_t n_dur;   // version 2: duration bins, 1..cantus_vocab_dur_rule_len(tpq);
                    // 0 = the version 1 layout (NOTE_ON/NOTE_OFF)
} CantusVocab;

typedef enum {
  CANTUS_EV_START,
  CANTUS_EV_END,
  CANTUS_EV_NOTE_ON,  // value: MIDI pitch
  CANTUS_EV_NOTE_OFF, // value: MIDI pitch
  CANTUS_EV_SHIFT,    // value: ticks, 1..n_shift
  CANTUS_EV_VELOCITY, // value: bin, 0..n_vel-1
  CANTUS_EV_NOTE,     // version 2, value: MIDI pitch (the part: cantus_vocab_decode_part)
  CANTUS_EV_DUR,      // version 2, value: length in ticks (the bin: token - dur_base)
  CANTUS_EV_INVALID
} CantusEventKind;

enum { CANTUS_TOK_START = 0, CANTUS_TOK_END = 1, CANTUS_TOK_FIRST_NOTE = 2 };

// The default grid and range of DESIGN.md: pitches 21..108, 48 shifts,
// no velocity, 12 ticks per quarter.
CantusVocab cantus_vocab_default(void);

// A version 2 layout of the default range and grid: n_parts parts
// (1..CANTUS_MAX_PARTS) and every duration bin of the rule at tpq 12.
CantusVocab cantus_vocab_default_v2(int n_parts);

// true when the layout is usable: pitch_lo <= pitch_hi <= 127,
// 1 <= tpq <= 96, 1 <= n_shift <= 4*tpq, n_vel <= 32, size <= CANTUS_MAX_VOCAB;
// and either n_dur == 0 and n_parts == 0 (version 1) or
// 1 <= n_dur <= cantus_vocab_dur_rule_len(tpq) and 1 <= n_parts <= CANTUS_MAX_PARTS.
bool cantus_vocab_valid(const CantusVocab *v);

// true for the version 2 layout (notes with part and duration).
static inline bool cantus_vocab_is_v2(const CantusVocab *v)
{
  return v->n_dur > 0;
}
static inline int cantus_vocab_n_pitch(const CantusVocab *v)
{
  return v->pitch_hi - v->pitch_lo + 1;
}
// Tokens of the note block: 2 * n_pitch (ON, OFF) or n_parts * n_pitch (NOTE).
static inline int cantus_vocab_n_note_tokens(const CantusVocab *v)
{
  return cantus_vocab_is_v2(v) ? v->n_parts * cantus_vocab_n_pitch(v) : 2 * cantus_vocab_n_pitch(v);
}
static inline int cantus_vocab_size(const CantusVocab *v)
{
  return 2 + cantus_vocab_n_note_tokens(v) + v->n_dur + v->n_shift + v->n_vel;
}
// First NOTE_ON (version 1) or NOTE(0, pitch_lo) (version 2).
static inline int cantus_vocab_on_base(const CantusVocab *v)
{
  (void)v;
  return CANTUS_TOK_FIRST_NOTE;
}
// First NOTE_OFF; in version 2 (no NOTE_OFF) the end of the note block,
// which is the DUR base.
static inline int cantus_vocab_off_base(const CantusVocab *v)
{
  return cantus_vocab_is_v2(v) ? CANTUS_TOK_FIRST_NOTE + cantus_vocab_n_note_tokens(v)
                               : CANTUS_TOK_FIRST_NOTE + cantus_vocab_n_pitch(v);
}
// First DUR (version 2); equal to the SHIFT base in version 1 (no DUR).
static inline int cantus_vocab_dur_base(const CantusVocab *v)
{
  return CANTUS_TOK_FIRST_NOTE + cantus_vocab_n_note_tokens(v);
}
static inline int cantus_vocab_shift_base(const CantusVocab *v)
{
  return cantus_vocab_dur_base(v) + v->n_dur;
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

// Version 2: NOTE(part, pitch) and DUR(bin j); -1 outside the layout (and
// always -1 with a version 1 layout).
int cantus_vocab_note(const CantusVocab *v, int part, int pitch);
int cantus_vocab_dur(const CantusVocab *v, int bin);

// Duration bins (version 2).  cantus_vocab_dur_rule_len(tpq) = 2*tpq + 14,
// the bins of the rule.  cantus_vocab_dur_ticks: length of bin j in ticks
// (0 when j is outside 0..n_dur-1).  cantus_vocab_dur_bin: the bin nearest
// to a length in ticks, ties to the longer; lengths under one tick give
// bin 0, lengths over the last bin give the last bin (-1 with n_dur == 0).
int cantus_vocab_dur_rule_len(int tpq);
int cantus_vocab_dur_ticks(const CantusVocab *v, int bin);
int cantus_vocab_dur_bin(const CantusVocab *v, int64_t ticks);

// Event of a token; CANTUS_EV_INVALID (value 0) outside the vocabulary.
// NOTE_ON / NOTE_OFF exist only in version 1, NOTE / DUR only in version 2.
CantusEventKind cantus_vocab_decode(const CantusVocab *v, int token, int *value);

// As cantus_vocab_decode, and *part receives the part of a NOTE (0 for a
// version 1 NOTE_ON / NOTE_OFF, -1 for every other kind).
CantusEventKind cantus_vocab_decode_part(const CantusVocab *v, int token, int *value, int *part);

// The token transposed by d semitones: NOTE_ON, NOTE_OFF and NOTE move
// within their part's block; -1 when the pitch leaves the range; every
// other token is returned unchanged.
int cantus_vocab_transpose(const CantusVocab *v, int token, int d);

// Velocity 1..127 <-> bin 0..n_vel-1 (equal-width bins; a bin plays its centre).
int cantus_vocab_vel_to_bin(const CantusVocab *v, int velocity);
int cantus_vocab_bin_to_vel(const CantusVocab *v, int bin);

// Human-readable token, e.g. "ON60", "OFF60", "SHIFT3", "VEL2", "START", "END";
// version 2: "N1:60" (part 1, pitch 60), "D18" (18 ticks).
// Writes at most n bytes including the NUL.  Non-RT (snprintf).
void cantus_vocab_name(const CantusVocab *v, int token, char *buf, int n);

#endif
