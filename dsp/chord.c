// SPDX-License-Identifier: GPL-3.0-or-later
// Chords (dsp/chord.h): the network's chord input, transposition, the
// chord of a span of notes and the window rule that says which spans the
// trainer and the engine take.  The symbol and progression parsers and the
// live chord reader live in chord_read.c.  Everything here is [RT]: no
// allocation, no libm, loops bounded by the arguments.
#include "chord.h"

#include <stdbool.h>

CANTUS_RT void cantus_chord_input(CantusChord c, float x[CANTUS_CHORD_INPUTS])
{
  const uint16_t pcs = c.pcs & 0xfffu;
  for (int p = 0; p < 12; p++) {
    x[p] = (pcs >> p) & 1u ? 1.0f : 0.0f;
  }
  x[CANTUS_CHORD_NONE_COL] = pcs ? 0.0f : 1.0f;
}

static int pc_mod(int p)
{
  const int m = p % 12;
  return m < 0 ? m + 12 : m;
}

// The 12-bit set rotated up by s (0..11) semitones.
static uint16_t rotate_pcs(uint16_t pcs, int s)
{
  pcs &= 0xfffu;
  return (uint16_t)(((pcs << s) | (pcs >> (12 - s))) & 0xfffu);
}

CANTUS_RT CantusChord cantus_chord_transpose(CantusChord c, int semitones)
{
  const int s = pc_mod(semitones);
  CantusChord out = c;
  out.pcs = rotate_pcs(c.pcs, s);
  out.root = c.root >= 0 && c.root < 12 ? (int8_t)pc_mod(c.root + s) : (int8_t)-1;
  out.bass = c.bass >= 0 && c.bass < 12 ? (int8_t)pc_mod(c.bass + s) : (int8_t)-1;
  if (!out.pcs) {
    out = cantus_chord_none();
  }
  return out;
}

CANTUS_RT CantusChord cantus_chord_of_span(const int64_t *on,
                                           const int64_t *off,
                                           const uint8_t *pitch,
                                           size_t n,
                                           int64_t t0,
                                           int64_t t1,
                                           int64_t min_overlap)
{
  CantusChord c = cantus_chord_none();
  if (t1 <= t0) {
    return c;
  }
  int low = 128;
  for (size_t i = 0; i < n; i++) {
    if (pitch[i] > 127 || off[i] <= on[i]) {
      continue;
    }
    const int64_t a = on[i] > t0 ? on[i] : t0;
    const int64_t b = off[i] < t1 ? off[i] : t1;
    if (b <= a) {
      continue; // does not sound in the span
    }
    const int64_t len = off[i] - on[i];
    const int64_t need = min_overlap < len ? min_overlap : len;
    if (b - a < need) {
      continue; // a note that only grazes the span
    }
    c.pcs |= (uint16_t)(1u << (pitch[i] % 12));
    if (pitch[i] < low) {
      low = pitch[i];
    }
  }
  if (c.pcs) {
    c.bass = (int8_t)(low % 12);
  }
  return c;
}

CANTUS_RT CantusChordWindow cantus_chord_window(int num, int den, int tpq, CantusChordSpanKind kind)
{
  CantusChordWindow w = { 1, 1 };
  if (tpq < 1) {
    tpq = 1;
  }
  if (num < 1 || num > 64) {
    num = 4;
  }
  if (den != 1 && den != 2 && den != 4 && den != 8 && den != 16 && den != 32) {
    den = 4;
  }
  const int64_t q = tpq;
  // The bar as models/train/corpus.c lays it: num den-notes, rounded.
  int64_t bar = ((int64_t)num * 4 * q + den / 2) / den;
  bar = bar > 0 ? bar : 1;
  const bool compound = den >= 8 && num % 3 == 0 && num > 3;
  const int64_t dotted = (int64_t)12 * q / den; // three den-notes: a dotted quarter in x/8
  int64_t span;
  if (kind == CANTUS_CHORD_SPAN_VOICES) {
    // The chorales' lower voices: one chord per beat (a dotted beat in
    // compound metres).
    span = compound ? dotted : 4 * q / den;
    w.min_overlap = span / 2;
  } else {
    // An oom-pah accompaniment: one bass-and-chord cycle.  Two quarters in
    // metres of whole half notes (4/4, 2/2, 2/4, 6/4, 3/2), a dotted
    // quarter in compound metres (6/8, 9/8, 12/8), else the whole bar
    // (3/4: bass and two chords; 5/4, 7/8 ...).
    if (compound) {
      span = dotted;
    } else if (den <= 4 && bar % (2 * q) == 0) {
      span = 2 * q;
    } else {
      span = bar;
    }
    w.min_overlap = span / 4;
  }
  w.span = span > 0 ? span : 1;
  if (w.span > bar) {
    w.span = bar;
  }
  if (w.min_overlap < 1) {
    w.min_overlap = 1;
  }
  return w;
}
