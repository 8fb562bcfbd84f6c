// SPDX-License-Identifier: GPL-3.0-or-later
// The measures of form (models/train/form.c): hand-made pieces with known
// answers for every measure (repeated bars and sections, a pickup, a final
// tonic, phrase-end chord tones, clashes, long notes, parallels, leaps),
// bar lines from the time-signature map, and edge cases (empty piece, one
// note, overlapping and drum notes, a cut after N bars).  Non-RT.
#include "form.h"
#include "test.h"

#include <math.h>
#include <string.h>

enum { TPQ = 4, BAR = 16, MAX_NOTES = 512 }; // 4/4: a quarter is 4 ticks, a bar 16

typedef struct {
  CantusMidiNote notes[MAX_NOTES];
  size_t n;
  CantusMidiTimeSig ts[4];
  size_t n_ts;
  bool by_track;
  uint32_t max_bars;
} Piece;

static void add(Piece *p, uint32_t on, uint32_t len, int pitch, int track)
{
  if (p->n < MAX_NOTES) {
    p->notes[p->n++] = (CantusMidiNote){ .on_tick = on,
                                         .off_tick = on + len,
                                         .pitch = (uint8_t)pitch,
                                         .velocity = 80,
                                         .channel = (uint8_t)track,
                                         .track = (uint16_t)track };
  }
}

static CantusFormCounts measure(const Piece *p)
{
  CantusFormCounts c;
  cantus_form_init(&c);
  CantusFormPiece fp = { .notes = p->notes,
                         .n_notes = p->n,
                         .tpq = TPQ,
                         .timesigs = p->ts,
                         .n_timesigs = p->n_ts,
                         .voices_by_track = p->by_track,
                         .max_bars = p->max_bars };
  CantusError err;
  CHECK_EQ(cantus_form_add_piece(&c, &fp, &err), CANTUS_OK);
  return c;
}

// One bar of four quarter notes starting at `bar_tick`; the first pitch
// names the bar (bars with different `first` share 3 of 4 pairs: 75 %, no
// match), the rest are a fixed G-E-C figure.
static void quarter_bar(Piece *p, uint32_t bar_tick, int first)
{
  add(p, bar_tick, TPQ, first, 1);
  add(p, bar_tick + TPQ, TPQ, 67, 1);
  add(p, bar_tick + 2 * TPQ, TPQ, 64, 1);
  add(p, bar_tick + 3 * TPQ, TPQ, 60, 1);
}

// A 24-bar tune from `start`: A = bars 1-8 all different, A again with a
// different last bar (second ending), then B = 8 new bars.
static void aab_tune(Piece *p, uint32_t start)
{
  for (int b = 0; b < 24; b++) {
    int first = b < 8 ? 70 + b : (b < 15 ? 62 + b : 40 + b);
    quarter_bar(p, start + (uint32_t)b * BAR, first);
  }
}

TEST(form_repeats_and_sections)
{
  Piece p;
  memset(&p, 0, sizeof p);
  aab_tune(&p, 0);
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.pieces, 1);
  // Bars 9-15 repeat 1-7; bar 16 (other ending) and B do not.
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 24);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 7);
  // Sections 1-8 and 9-16 have room to recur (17-24 has none); the first
  // recurs at 9-16 with 31 of 32 pairs shared, the second does not.
  CHECK_EQ(c.den[CANTUS_FORM_SECTION], 2);
  CHECK_EQ(c.num[CANTUS_FORM_SECTION], 1);
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_SECTION), 0.5, 1e-12);
}

TEST(form_bars_need_80_percent)
{
  // Five-note bars: 4 of 5 shared (80 %) is a repeat, 3 of 5 is not.
  Piece p;
  memset(&p, 0, sizeof p);
  const int bars[3][5] = { { 60, 62, 64, 65, 67 }, { 60, 62, 64, 65, 69 }, { 60, 62, 71, 65, 69 } };
  for (int b = 0; b < 3; b++) {
    for (int k = 0; k < 5; k++) {
      add(&p, (uint32_t)(b * BAR + k * 3), 3, bars[b][k], 1);
    }
  }
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 3);
  // Bar 2 matches bar 1 (4/5); bar 3 matches bar 2 (4/5), not bar 1 (3/5):
  // it still repeats an earlier bar.
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 2);
  // The same pitches a tick later do not match: onsets are part of the pair.
  Piece q;
  memset(&q, 0, sizeof q);
  for (int k = 0; k < 5; k++) {
    add(&q, (uint32_t)(k * 3), 3, bars[0][k], 1);
    add(&q, (uint32_t)(BAR + k * 3 + 1), 2, bars[0][k], 1);
  }
  c = measure(&q);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 0);
}

TEST(form_pickup_bar)
{
  // The same tune after a one-beat pickup (padded as the corpora are: the
  // first full bar starts at one bar): the same counts, the pickup bar
  // taking no part.  Counting it as bar 1 would misalign the sections.
  Piece p;
  memset(&p, 0, sizeof p);
  add(&p, 3 * TPQ, TPQ, 67, 1);
  aab_tune(&p, BAR);
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 24);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 7);
  CHECK_EQ(c.den[CANTUS_FORM_SECTION], 2);
  CHECK_EQ(c.num[CANTUS_FORM_SECTION], 1);
}

// C major, 8 full bars after a pickup G: a sustained low C-E in every bar
// (the key), a melody whose downbeat is C5 in bars 4 and 8 (counted from
// the first full bar) and F5 elsewhere, then G5 on the other beats; the
// last melody note is `last`.
static void cadence_tune(Piece *p, int last)
{
  memset(p, 0, sizeof *p);
  add(p, 3 * TPQ, TPQ, 67, 1);
  for (int b = 1; b <= 8; b++) {
    uint32_t t = (uint32_t)b * BAR;
    add(p, t, BAR, 48, 2);
    add(p, t, BAR, 52, 2);
    add(p, t, TPQ, b % 4 == 0 ? 72 : 77, 1);
    add(p, t + TPQ, TPQ, 67, 1);
    add(p, t + 2 * TPQ, TPQ, 67, 1);
    add(p, t + 3 * TPQ, TPQ, b == 8 ? last : 67, 1);
  }
}

TEST(form_key_phrase_ends_and_final_tonic)
{
  Piece p;
  cadence_tune(&p, 72);
  int tonic = -1;
  bool minor = true;
  CHECK(cantus_form_key(p.notes, p.n, &tonic, &minor));
  CHECK_EQ(tonic, 0);
  CHECK(!minor);
  CantusFormCounts c = measure(&p);
  // Phrase ends are bars 4 and 8 of the full bars, both on C; with the
  // pickup bar counted they would be F.
  CHECK_EQ(c.den[CANTUS_FORM_PHRASE_END], 2);
  CHECK_EQ(c.num[CANTUS_FORM_PHRASE_END], 2);
  // Every bar: 2 of 8 downbeats are chord tones (F is neither I nor V).
  CHECK_EQ(c.den[CANTUS_FORM_CHORD_CHANCE], 8);
  CHECK_EQ(c.num[CANTUS_FORM_CHORD_CHANCE], 2);
  CHECK_EQ(c.den[CANTUS_FORM_END_TONIC], 1);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 1);

  // Ending on D: not the tonic, even with a low C struck under the held D
  // (the held, higher D stays the top line).
  cadence_tune(&p, 74);
  p.notes[p.n - 1].off_tick += 2 * TPQ;
  add(&p, 9 * BAR, TPQ, 48, 2);
  c = measure(&p);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 0);
  // Ending on a low C after the melody has stopped: that C is the top line.
  cadence_tune(&p, 74);
  add(&p, 9 * BAR, TPQ, 48, 2);
  c = measure(&p);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 1);
}

TEST(form_minor_chord_tones)
{
  // A minor: tonic triad A C E held; the melody's downbeats at bars 4 and 8
  // are G (b7: the minor v chord's third) and G# (the major V's).
  Piece p;
  memset(&p, 0, sizeof p);
  for (int b = 0; b < 8; b++) {
    uint32_t t = (uint32_t)b * BAR;
    add(&p, t, BAR, 45, 2);
    add(&p, t, BAR, 48, 2);
    add(&p, t, BAR, 52, 2);
    add(&p, t, BAR / 2, b == 3 ? 79 : (b == 7 ? 80 : 77), 1); // G, G#, else F (b6)
    add(&p, t + BAR / 2, BAR / 2, 69, 1);
  }
  int tonic = -1;
  bool minor = false;
  cantus_form_key(p.notes, p.n, &tonic, &minor);
  CHECK_EQ(tonic, 9);
  CHECK(minor);
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_PHRASE_END], 2);
  CHECK_EQ(c.num[CANTUS_FORM_PHRASE_END], 2);
  CHECK_EQ(c.num[CANTUS_FORM_CHORD_CHANCE], 2); // F is no chord tone in A minor
}

TEST(form_clash_beats)
{
  Piece p;
  memset(&p, 0, sizeof p);
  add(&p, 0, BAR, 60, 1);         // C4 through the bar
  add(&p, 0, TPQ, 73, 2);         // beat 1: C#5, a minor ninth: clash
  add(&p, TPQ, TPQ, 64, 2);       // beat 2: E4: none
  add(&p, 2 * TPQ, TPQ, 71, 2);   // beat 3: B4, a major seventh: clash
  add(&p, 3 * TPQ + 1, 2, 61, 2); // between beats 4 and the end: not sampled
  add(&p, 2 * TPQ, TPQ, 61, 9);   // drums (channel 10) are ignored
  CantusFormCounts c = measure(&p);
  // Beat 4 has C4 alone: not a beat with two notes.
  CHECK_EQ(c.den[CANTUS_FORM_CLASH], 3);
  CHECK_EQ(c.num[CANTUS_FORM_CLASH], 2);
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_CLASH), 2.0 / 3.0, 1e-12);
}

TEST(form_long_notes_per_32_bars)
{
  Piece p;
  memset(&p, 0, sizeof p);
  add(&p, 0, 8 * TPQ, 60, 1);           // 8 beats: long
  add(&p, 2 * BAR, 8 * TPQ - 1, 62, 1); // a tick short
  add(&p, 31 * BAR, TPQ, 64, 1);        // the piece spans 32 bars
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.num[CANTUS_FORM_LONG_NOTES], 1);
  CHECK_NEAR(c.den[CANTUS_FORM_LONG_NOTES], 1.0, 1e-12);
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_LONG_NOTES), 1.0, 1e-12);
  // The first 16 bars only: the note in bar 32 is dropped, so the span is
  // bars 1-4 (the last bar a note sounds in), and 1 note in 4 bars is 8 per
  // 32 bars.
  p.max_bars = 16;
  c = measure(&p);
  CHECK_NEAR(c.den[CANTUS_FORM_LONG_NOTES], 4.0 / 32.0, 1e-12);
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_LONG_NOTES), 8.0, 1e-12);
  // A long note cut by max_bars no longer counts.
  Piece q;
  memset(&q, 0, sizeof q);
  add(&q, 0, TPQ, 62, 1);
  add(&q, 15 * BAR, 8 * TPQ, 60, 1);
  q.max_bars = 16;
  c = measure(&q);
  CHECK_EQ(c.num[CANTUS_FORM_LONG_NOTES], 0);
}

TEST(form_parallels)
{
  // Track 1 C4 -> D4 over track 2 F3 -> G3: a parallel fifth; then
  // D4 -> G4 over G3 -> C3 (fifth to twelfth, contrary): none; then
  // G4 -> A4 with C3 held (oblique): none.
  Piece p;
  memset(&p, 0, sizeof p);
  p.by_track = true;
  add(&p, 0, TPQ, 60, 1);
  add(&p, 0, TPQ, 53, 2);
  add(&p, TPQ, TPQ, 62, 1);
  add(&p, TPQ, TPQ, 55, 2);
  add(&p, 2 * TPQ, TPQ, 67, 1);
  add(&p, 2 * TPQ, 2 * TPQ, 48, 2);
  add(&p, 3 * TPQ, TPQ, 69, 1);
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 1);
  CHECK_NEAR(c.den[CANTUS_FORM_PARALLELS], 0.04, 1e-12); // 4 onsets
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_PARALLELS), 25.0, 1e-9);
  // By rank (no parts): the same voices, the same answer.
  p.by_track = false;
  c = measure(&p);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 1);

  // Parallel octaves between the outer voices of three, by rank: C5/E4/C4
  // -> D5/F4/D4 counts once (the inner voice moves a semitone: no fifth).
  Piece q;
  memset(&q, 0, sizeof q);
  add(&q, 0, TPQ, 72, 1);
  add(&q, 0, TPQ, 64, 1);
  add(&q, 0, TPQ, 60, 1);
  add(&q, TPQ, TPQ, 74, 1);
  add(&q, TPQ, TPQ, 65, 1);
  add(&q, TPQ, TPQ, 62, 1);
  c = measure(&q);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 1);
  // A fourth voice entering at the second onset changes the count of
  // pitches: ranks are not compared.
  add(&q, TPQ, TPQ, 50, 1);
  c = measure(&q);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 0);
  // By track, the voices keep their identity: octaves between tracks 1, 2.
  Piece r;
  memset(&r, 0, sizeof r);
  r.by_track = true;
  add(&r, 0, TPQ, 60, 1);
  add(&r, 0, TPQ, 48, 2);
  add(&r, TPQ, TPQ, 62, 1);
  add(&r, TPQ, TPQ, 50, 2);
  add(&r, TPQ, TPQ, 40, 3); // a third track entering does not matter
  c = measure(&r);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 1);
}

TEST(form_leaps)
{
  Piece p;
  memset(&p, 0, sizeof p);
  add(&p, 0, TPQ, 60, 1);
  add(&p, TPQ, TPQ, 73, 1);     // +13: a leap over an octave
  add(&p, 2 * TPQ, TPQ, 72, 1); // -1
  add(&p, 3 * TPQ, TPQ, 60, 1); // -12: an octave, not over
  add(&p, 3 * TPQ, TPQ, 40, 2); // under the top line: ignored
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_LEAPS], 3);
  CHECK_EQ(c.num[CANTUS_FORM_LEAPS], 1);
}

TEST(form_bars_follow_time_signatures)
{
  // 3/4 (12 ticks a bar): bar 2 repeats bar 1; in 4/4 the bars would not
  // line up.  Then a change to 2/4 at tick 24: bars of 8 ticks, the second
  // repeating the first.
  Piece p;
  memset(&p, 0, sizeof p);
  p.ts[0] = (CantusMidiTimeSig){ 0, 3, 4 };
  p.ts[1] = (CantusMidiTimeSig){ 24, 2, 4 };
  p.n_ts = 2;
  for (int b = 0; b < 2; b++) {
    add(&p, (uint32_t)(12 * b), 4, 60, 1);
    add(&p, (uint32_t)(12 * b + 4), 8, 65, 1);
  }
  for (int b = 0; b < 2; b++) {
    add(&p, (uint32_t)(24 + 8 * b), 2, 70, 1);
    add(&p, (uint32_t)(24 + 8 * b + 2), 6, 72, 1);
  }
  CantusFormCounts c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 4);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 2);
  p.n_ts = 0; // 4/4 throughout: bars 0-15, 16-31, 32-39; none repeats
  c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 3);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 0);
}

TEST(form_edge_cases)
{
  CantusFormCounts c;
  cantus_form_init(&c);
  CantusError err;
  CantusFormPiece empty = { .notes = NULL, .n_notes = 0, .tpq = TPQ };
  CHECK_EQ(cantus_form_add_piece(&c, &empty, &err), CANTUS_OK);
  CHECK_EQ(c.pieces, 1);
  for (int k = 0; k < CANTUS_FORM_N; k++) {
    CHECK(isnan(cantus_form_value(&c, (CantusFormMeasure)k)));
  }
  CantusFormPiece bad = { .notes = NULL, .n_notes = 0, .tpq = 0 };
  CHECK_EQ(cantus_form_add_piece(&c, &bad, &err), CANTUS_ERR_ARGUMENT);
  CHECK_EQ(c.pieces, 1);
  int tonic = -1;
  bool minor = true;
  CHECK(!cantus_form_key(NULL, 0, &tonic, &minor));
  CHECK_EQ(tonic, 0);
  CHECK(!minor);

  // One note: one bar, no repeat, ends on its own tonic, nothing else.
  Piece p;
  memset(&p, 0, sizeof p);
  add(&p, 0, TPQ, 62, 1);
  c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 1);
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 0);
  CHECK_EQ(c.den[CANTUS_FORM_SECTION], 0);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 1);
  CHECK_EQ(c.den[CANTUS_FORM_PHRASE_END], 0);
  CHECK_EQ(c.den[CANTUS_FORM_CLASH], 0);
  CHECK_EQ(c.den[CANTUS_FORM_LEAPS], 0);
  CHECK_NEAR(cantus_form_value(&c, CANTUS_FORM_PARALLELS), 0.0, 1e-12);
  // One note off the beat in its only bar: a pickup and no full bar.
  memset(&p, 0, sizeof p);
  add(&p, 5, 0, 62, 1); // zero length is given one tick
  c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 0);
  CHECK_EQ(c.den[CANTUS_FORM_END_TONIC], 1);

  // Overlapping notes of one pitch, unsorted input, a drum note: one
  // distinct pitch sounds, so no beat counts; the result does not depend on
  // the order of the notes.
  memset(&p, 0, sizeof p);
  add(&p, 4, 8, 60, 1);
  add(&p, 0, 8, 60, 1);
  add(&p, 0, 16, 61, 9);
  c = measure(&p);
  CHECK_EQ(c.den[CANTUS_FORM_CLASH], 0);
  CHECK_EQ(c.den[CANTUS_FORM_LEAPS], 1);
  CHECK_EQ(c.num[CANTUS_FORM_LEAPS], 0);

  // Pooling: two measured pieces add up.
  CantusFormCounts a, b;
  cantus_form_init(&a);
  cantus_form_init(&b);
  Piece t;
  memset(&t, 0, sizeof t);
  aab_tune(&t, 0);
  a = measure(&t);
  b = measure(&t);
  cantus_form_merge(&a, &b);
  CHECK_EQ(a.pieces, 2);
  CHECK_EQ(a.num[CANTUS_FORM_BAR_REPEAT], 14);
  CHECK_NEAR(cantus_form_value(&a, CANTUS_FORM_BAR_REPEAT), 7.0 / 24.0, 1e-12);
  CHECK(strcmp(cantus_form_name(CANTUS_FORM_SECTION), "section") == 0);
  CHECK(strcmp(cantus_form_name(CANTUS_FORM_N), "?") == 0);
}

// Two real pieces, pinned so that a change of definition shows (the
// figures for whole test splits are in models/README.md): a Nottingham
// hornpipe (pickup, AABB, B sharing half its bars with A) and a chorale.
static bool measure_file(const char *rel, bool by_track, CantusFormCounts *c)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", cantus_test_corpus_dir(), rel);
  CantusMidiFile *mf = NULL;
  CantusError err;
  if (cantus_midi_read(path, &mf, &err)) {
    printf("SKIP form_real_pieces: %s\n", err.msg);
    return false;
  }
  CantusFormPiece fp = { .notes = mf->notes,
                         .n_notes = mf->n_notes,
                         .tpq = mf->tpq,
                         .timesigs = mf->timesigs,
                         .n_timesigs = mf->n_timesigs,
                         .voices_by_track = by_track };
  cantus_form_init(c);
  CHECK_EQ(cantus_form_add_piece(c, &fp, &err), CANTUS_OK);
  cantus_midi_free(mf);
  return true;
}

TEST(form_real_pieces)
{
  CantusFormCounts c;
  if (!measure_file("nottingham/hornpipe/hpps_014_the_friendly_visit.mid", false, &c)) {
    return;
  }
  CHECK_EQ(c.den[CANTUS_FORM_BAR_REPEAT], 32); // the pickup bar is left out
  CHECK_EQ(c.num[CANTUS_FORM_BAR_REPEAT], 20);
  CHECK_EQ(c.den[CANTUS_FORM_SECTION], 3);
  CHECK_EQ(c.num[CANTUS_FORM_SECTION], 2);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 1);
  CHECK_EQ(c.den[CANTUS_FORM_PHRASE_END], 8);
  CHECK_EQ(c.num[CANTUS_FORM_PHRASE_END], 8);
  CHECK_EQ(c.num[CANTUS_FORM_LEAPS], 0);
  if (!measure_file("jsb_chorales/chorale/jsb_test_000.mid", true, &c)) {
    return;
  }
  CHECK_EQ(c.den[CANTUS_FORM_CLASH], 57);
  CHECK_EQ(c.num[CANTUS_FORM_CLASH], 0);
  CHECK_EQ(c.num[CANTUS_FORM_LONG_NOTES], 1);
  CHECK_EQ(c.num[CANTUS_FORM_PARALLELS], 0);
  CHECK_EQ(c.num[CANTUS_FORM_END_TONIC], 1);
}

// ---- chord fit (issue 11) -------------------------------------------------------------

static CantusFormPiece as_form_piece(const Piece *p)
{
  return (CantusFormPiece){ .notes = p->notes,
                            .n_notes = p->n,
                            .tpq = TPQ,
                            .timesigs = p->ts,
                            .n_timesigs = p->n_ts,
                            .voices_by_track = p->by_track,
                            .max_bars = p->max_bars };
}

TEST(form_file_chords_accompaniment_voices_and_none)
{
  // A 4/4 oom-pah accompaniment on track 2: D on beat 1, D major on beat 2,
  // A on beat 3, A major on beat 4; bar 2 all G.  Half-bar windows read D,
  // A, G, G; a melody alone has no chord; lower voices by beats.
  Piece p;
  memset(&p, 0, sizeof p);
  p.ts[0] = (CantusMidiTimeSig){ 0, 4, 4 };
  p.n_ts = 1;
  add(&p, 0, 2, 38, 2);
  add(&p, 4, 2, 50, 2), add(&p, 4, 2, 54, 2), add(&p, 4, 2, 57, 2);
  add(&p, 8, 2, 45, 2);
  add(&p, 12, 2, 57, 2), add(&p, 12, 2, 61, 2), add(&p, 12, 2, 64, 2);
  add(&p, 16, 2, 43, 2);
  add(&p, 20, 2, 55, 2), add(&p, 20, 2, 59, 2), add(&p, 20, 2, 62, 2);
  add(&p, 24, 2, 43, 2);
  add(&p, 28, 2, 55, 2), add(&p, 28, 2, 59, 2), add(&p, 28, 2, 62, 2);
  add(&p, 0, 16, 74, 1); // melody, track 1
  char names[3][64] = { "conductor", "melody", "Accompaniment" };
  const CantusFormPiece fp = as_form_piece(&p);
  CantusFormChords ch;
  CantusError err;
  CHECK_EQ(cantus_form_file_chords(&fp, names, 3, &ch, &err), CANTUS_OK);
  CHECK_EQ(ch.kind, CANTUS_CHORD_SPAN_ACCOMP);
  CHECK_EQ(ch.n, 4);
  const uint16_t dmaj = 0x244, amaj = 0x212, gmaj = 0x884;
  if (ch.n == 4) {
    CHECK(ch.tick[0] == 0 && ch.tick[1] == 8 && ch.tick[2] == 16 && ch.tick[3] == 24);
    CHECK_EQ(ch.tick[4], 32);
    CHECK(ch.pcs[0] == dmaj && ch.pcs[1] == amaj && ch.pcs[2] == gmaj && ch.pcs[3] == gmaj);
  }
  // The chord at a tick: the bass note alone does not make the chord.
  CHECK_EQ(cantus_form_chords_at(&ch, 0), dmaj);
  CHECK_EQ(cantus_form_chords_at(&ch, 7), dmaj);
  CHECK_EQ(cantus_form_chords_at(&ch, 8), amaj);
  CHECK_EQ(cantus_form_chords_at(&ch, 31), gmaj);
  CHECK_EQ(cantus_form_chords_at(&ch, 32), 0);
  cantus_form_chords_free(&ch);
  // Without the accompaniment's name there is no chord part.
  snprintf(names[2], 64, "piano");
  CHECK_EQ(cantus_form_file_chords(&fp, names, 3, &ch, &err), CANTUS_OK);
  CHECK(ch.kind == -1 && ch.n == 0 && cantus_form_chords_at(&ch, 4) == 0);
  CHECK_EQ(cantus_form_file_chords(&fp, NULL, 0, &ch, &err), CANTUS_OK);
  CHECK(ch.kind == -1 && ch.n == 0);
  // Chorale voices: per beat, a held note counts in every beat it covers.
  Piece v;
  memset(&v, 0, sizeof v);
  add(&v, 0, 8, 60, 1); // alto C, two beats
  add(&v, 0, 4, 55, 2); // tenor G
  add(&v, 4, 4, 57, 2); // tenor A
  add(&v, 0, 5, 48, 3); // bass C, one tick into beat 2: not counted there
  add(&v, 5, 3, 53, 3); // bass F
  add(&v, 0, 8, 76, 0); // soprano (not a chord voice)
  char vn[4][64] = { "soprano", "alto", "tenor", "bass" };
  const CantusFormPiece fv = as_form_piece(&v);
  CHECK_EQ(cantus_form_file_chords(&fv, vn, 4, &ch, &err), CANTUS_OK);
  CHECK_EQ(ch.kind, CANTUS_CHORD_SPAN_VOICES);
  CHECK_EQ(ch.n, 4); // the windows of the whole bar, the last two empty
  CHECK_EQ(cantus_form_chords_at(&ch, 8), 0);
  CHECK_EQ(cantus_form_chords_at(&ch, 0), 0x081); // C G
  CHECK_EQ(cantus_form_chords_at(&ch, 4), 0x221); // C F A
  cantus_form_chords_free(&ch);
}

TEST(form_chord_fit_first_beat_and_bar)
{
  // Four bars of 4/4 over D | G | D | A.  Downbeat notes: D (in D), B (in
  // G), E (not in D), A (in A) -> 3 of 4.  Whole bars: the four quarters of
  // each bar, 11 of 16 in the chord.
  Piece p;
  memset(&p, 0, sizeof p);
  p.ts[0] = (CantusMidiTimeSig){ 0, 4, 4 };
  p.n_ts = 1;
  static const int line[16] = { 74, 76, 78, 81, 71, 72, 74, 79, 76, 74, 73, 74, 69, 71, 73, 76 };
  for (int i = 0; i < 16; i++) {
    add(&p, (uint32_t)i * TPQ, TPQ, line[i], 1);
  }
  const uint16_t pcs[4] = { 0x244, 0x884, 0x244, 0x212 };
  const CantusFormPiece fp = as_form_piece(&p);
  CantusFormChords ch;
  CantusError err;
  CHECK_EQ(
    cantus_form_progression_chords(&fp, pcs, (const uint16_t[4]){ 0 }, 4, 4 * BAR, &ch, &err),
    CANTUS_OK);
  CHECK_EQ(ch.n, 4);
  CantusFormPiece with = fp;
  with.chords = &ch;
  CantusFormCounts c;
  cantus_form_init(&c);
  CHECK_EQ(cantus_form_add_piece(&c, &with, &err), CANTUS_OK);
  CHECK_EQ(c.den[CANTUS_FORM_CHORD_BEAT1], 4);
  CHECK_EQ(c.num[CANTUS_FORM_CHORD_BEAT1], 3);
  // D: D E F# A -> 3; G: B C D G -> 3; D: E D C# D -> 2; A: A B C# E -> 3.
  CHECK_EQ(c.den[CANTUS_FORM_CHORD_BAR], 16);
  CHECK_EQ(c.num[CANTUS_FORM_CHORD_BAR], 11);
  // Without chords the measures count nothing (nan).
  CantusFormCounts none = measure(&p);
  CHECK(isnan(cantus_form_value(&none, CANTUS_FORM_CHORD_BEAT1)));
  CHECK(isnan(cantus_form_value(&none, CANTUS_FORM_CHORD_BAR)));
  cantus_form_chords_free(&ch);
  // "D:2 G:2": half a bar each, cycling; the downbeats all fall on D.
  const uint16_t two[2] = { 0x244, 0x884 }, beats[2] = { 2, 2 };
  CHECK_EQ(cantus_form_progression_chords(&fp, two, beats, 2, 4 * BAR, &ch, &err), CANTUS_OK);
  CHECK_EQ(ch.n, 8);
  CHECK_EQ(cantus_form_chords_at(&ch, 0), 0x244);
  CHECK_EQ(cantus_form_chords_at(&ch, 8), 0x884);
  CHECK_EQ(cantus_form_chords_at(&ch, BAR + 7), 0x244);
  cantus_form_init(&c);
  with.chords = &ch;
  CHECK_EQ(cantus_form_add_piece(&c, &with, &err), CANTUS_OK);
  CHECK_EQ(c.num[CANTUS_FORM_CHORD_BEAT1], 2); // D, B(not in D), E(no), A(yes)
  cantus_form_chords_free(&ch);
  CHECK_EQ(cantus_form_progression_chords(&fp, two, beats, 0, 4 * BAR, &ch, &err),
           CANTUS_ERR_ARGUMENT);
}
