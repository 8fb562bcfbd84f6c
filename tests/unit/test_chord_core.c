// SPDX-License-Identifier: GPL-3.0-or-later
// The chord core (dsp/chord.c): the network's chord input, transposition
// (pitch classes, root and bass rotate; 12 semitones is the identity), the
// chord of a span (overlap rule, bass, grazing notes, empty spans) and the
// window rule of every metre the corpora use, checked against the
// Nottingham accompaniment pattern it was read from.
#include "chord.h"
#include "test.h"

#include <string.h>

TEST(chord_input_bits_and_no_chord)
{
  float x[CANTUS_CHORD_INPUTS];
  const CantusChord g7 = { (1u << 7) | (1u << 11) | (1u << 2) | (1u << 5), 7, 7 };
  cantus_chord_input(g7, x);
  for (int p = 0; p < 12; p++) {
    CHECK(x[p] == (p == 7 || p == 11 || p == 2 || p == 5 ? 1.0f : 0.0f));
  }
  CHECK(x[CANTUS_CHORD_NONE_COL] == 0.0f);
  cantus_chord_input(cantus_chord_none(), x);
  for (int p = 0; p < 12; p++) {
    CHECK(x[p] == 0.0f);
  }
  CHECK(x[CANTUS_CHORD_NONE_COL] == 1.0f);
  // Bits above 11 are not pitch classes: ignored, and alone they are no chord.
  const CantusChord junk = { 0xf000, -1, -1 };
  cantus_chord_input(junk, x);
  CHECK(x[CANTUS_CHORD_NONE_COL] == 1.0f);
}

TEST(chord_transpose_rotates_everything)
{
  const CantusChord d = { (1u << 2) | (1u << 6) | (1u << 9), 2, 6 }; // D/F#
  CantusChord e = cantus_chord_transpose(d, 2);
  CHECK_EQ(e.pcs, (1u << 4) | (1u << 8) | (1u << 11)); // E G# B
  CHECK_EQ(e.root, 4);
  CHECK_EQ(e.bass, 8);
  // Down across C: D - 3 = B (B D# F#).
  CantusChord b = cantus_chord_transpose(d, -3);
  CHECK_EQ(b.pcs, (1u << 11) | (1u << 3) | (1u << 6));
  CHECK_EQ(b.root, 11);
  CHECK_EQ(b.bass, 3);
  // Any multiple of 12 is the identity; n then -n comes back.
  for (int s = -30; s <= 30; s++) {
    const CantusChord t = cantus_chord_transpose(d, s);
    const CantusChord back = cantus_chord_transpose(t, -s);
    CHECK(back.pcs == d.pcs && back.root == d.root && back.bass == d.bass);
    CHECK_EQ(__builtin_popcount(t.pcs), 3);
    if (s % 12 == 0) {
      CHECK(t.pcs == d.pcs && t.root == d.root);
    } else {
      CHECK(t.pcs != d.pcs);
    }
  }
  // Unknown root stays unknown; no chord stays no chord.
  const CantusChord read = { 0x091, -1, 0 };
  CHECK_EQ(cantus_chord_transpose(read, 5).root, -1);
  CHECK_EQ(cantus_chord_transpose(read, 5).bass, 5);
  CHECK(cantus_chord_is_none(cantus_chord_transpose(cantus_chord_none(), 7)));
  CHECK_EQ(cantus_chord_transpose(cantus_chord_none(), 7).bass, -1);
}

TEST(chord_of_span_overlap_and_bass)
{
  // A 4/4 oom-pah bar at 12 ticks a quarter: bass D2 on beat 1, D major
  // off the beat, bass A1 on beat 3, A major off it; and a G held from
  // the bar before that ends one tick into this bar.
  const int64_t on[] = { 0, 12, 12, 12, 24, 36, 36, 36, -24 };
  const int64_t off[] = { 6, 18, 18, 18, 30, 42, 42, 42, 1 };
  const uint8_t pitch[] = { 38, 50, 54, 57, 45, 57, 61, 64, 55 };
  const size_t n = sizeof on / sizeof on[0];
  const CantusChordWindow w = cantus_chord_window(4, 4, 12, CANTUS_CHORD_SPAN_ACCOMP);
  CHECK_EQ(w.span, 24);
  CHECK_EQ(w.min_overlap, 6);
  CantusChord c = cantus_chord_of_span(on, off, pitch, n, 0, 24, w.min_overlap);
  CHECK_EQ(c.pcs, (1u << 2) | (1u << 6) | (1u << 9)); // D F# A, not the G
  CHECK_EQ(c.bass, 2);
  CHECK_EQ(c.root, -1);
  c = cantus_chord_of_span(on, off, pitch, n, 24, 48, w.min_overlap);
  CHECK_EQ(c.pcs, (1u << 9) | (1u << 1) | (1u << 4)); // A C# E
  CHECK_EQ(c.bass, 9);
  // The whole bar: both chords.
  c = cantus_chord_of_span(on, off, pitch, n, 0, 48, w.min_overlap);
  CHECK_EQ(c.pcs, (1u << 2) | (1u << 6) | (1u << 9) | (1u << 1) | (1u << 4));
  // With no overlap demanded, the grazing G counts (and is the bass).
  c = cantus_chord_of_span(on, off, pitch, n, 0, 24, 0);
  CHECK(c.pcs & (1u << 7));
  CHECK_EQ(c.bass, 2); // D2 (38) is still lower than G3 (55)
  // A short note wholly inside the span counts even below min_overlap.
  c = cantus_chord_of_span(on, off, pitch, n, 0, 24, 100);
  CHECK_EQ(c.pcs, (1u << 2) | (1u << 6) | (1u << 9));
  // Empty and reversed spans, no notes, zero-length notes: no chord.
  CHECK(cantus_chord_is_none(cantus_chord_of_span(on, off, pitch, n, 48, 96, 6)));
  CHECK(cantus_chord_is_none(cantus_chord_of_span(on, off, pitch, n, 24, 24, 6)));
  CHECK(cantus_chord_is_none(cantus_chord_of_span(on, off, pitch, n, 24, 0, 6)));
  CHECK(cantus_chord_is_none(cantus_chord_of_span(on, off, pitch, 0, 0, 24, 6)));
  CHECK_EQ(cantus_chord_of_span(on, off, pitch, 0, 0, 24, 6).bass, -1);
  const int64_t z_on[] = { 5 }, z_off[] = { 5 };
  const uint8_t z_p[] = { 60 };
  CHECK(cantus_chord_is_none(cantus_chord_of_span(z_on, z_off, z_p, 1, 0, 24, 1)));
}

TEST(chord_window_every_metre)
{
  static const struct {
    int num, den;
    int64_t accomp, voices; // spans at 12 ticks a quarter
  } t[] = {
    { 4, 4, 24, 12 },  // half bar
    { 2, 2, 24, 24 },  // half bar; the beat is a half note
    { 2, 4, 24, 12 },  // the whole bar: bass and chord
    { 3, 4, 36, 12 },  // the whole bar: bass and two chords
    { 6, 8, 18, 18 },  // dotted quarter
    { 9, 8, 18, 18 },  // dotted quarter
    { 12, 8, 18, 18 }, // dotted quarter
    { 6, 4, 24, 12 },  // two quarters
    { 3, 2, 24, 24 },  // two quarters
    { 5, 4, 60, 12 },  // the bar
    { 7, 8, 42, 6 },   // the bar
    { 3, 8, 18, 6 },   // the bar (not compound: num 3)
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    const CantusChordWindow a =
      cantus_chord_window(t[i].num, t[i].den, 12, CANTUS_CHORD_SPAN_ACCOMP);
    const CantusChordWindow v =
      cantus_chord_window(t[i].num, t[i].den, 12, CANTUS_CHORD_SPAN_VOICES);
    CHECK_MSG(a.span == t[i].accomp && v.span == t[i].voices,
              "%d/%d: accomp %lld voices %lld",
              t[i].num,
              t[i].den,
              (long long)a.span,
              (long long)v.span);
    CHECK_EQ(a.min_overlap, a.span / 4);
    CHECK_EQ(v.min_overlap, v.span / 2);
  }
  // Nonsense metres fall back to 4/4; tiny grids still give spans >= 1.
  CHECK_EQ(cantus_chord_window(0, 4, 12, CANTUS_CHORD_SPAN_ACCOMP).span, 24);
  CHECK_EQ(cantus_chord_window(4, 3, 12, CANTUS_CHORD_SPAN_ACCOMP).span, 24);
  const CantusChordWindow tiny = cantus_chord_window(7, 32, 1, CANTUS_CHORD_SPAN_VOICES);
  CHECK(tiny.span >= 1 && tiny.min_overlap >= 1);
  CHECK_EQ(cantus_chord_window(4, 4, 0, CANTUS_CHORD_SPAN_ACCOMP).span, 2);
}
