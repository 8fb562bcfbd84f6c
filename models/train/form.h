// SPDX-License-Identifier: GPL-3.0-or-later
// Measures of form (issue 10, section 7): how much a piece repeats itself
// bar by bar and in 8-bar sections, whether it ends on the tonic and
// cadences at phrase ends, and, for four-part writing, clashing beats,
// over-long notes and parallel fifths or octaves.  The same code measures
// real corpus pieces and generated ones, so the two compare.  Every
// measure is defined in "Measures of form" in models/README.md and beside
// its code in form.c.
//
// Allocation contract: CantusFormCounts is a plain value; a measurement
// allocates scratch arrays and frees them before returning; nothing keeps
// pointers into the caller's notes.  Thread class: non-RT.  It needs only
// dsp/ (no OpenBLAS).
#ifndef CANTUS_FORM_H
#define CANTUS_FORM_H

#include "chord.h"
#include "midifile.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// One piece to measure.  Notes may come in any order; MIDI channel 10
// (0-based 9, drums) is ignored.  Bar lines fall where the time-signature
// map puts them: every num * 4 * tpq / den ticks from tick 0, restarting at
// each signature change (4/4 before the first one, or when there is none).
typedef struct {
  const CantusMidiNote *notes;
  size_t n_notes;
  uint32_t tpq; // ticks per quarter note, > 0
  const CantusMidiTimeSig *timesigs;
  size_t n_timesigs;
  // true: a voice is a MIDI track (real chorales: soprano, alto, tenor,
  // bass); false: voices are ranks of pitch at each onset (generated pieces,
  // which carry no parts).  Only the parallels measure uses voices.
  bool voices_by_track;
  // Measure only the first max_bars bars from the first bar with a note
  // (0 = the whole piece).  Later notes are dropped; notes still sounding at
  // the cut end there.
  uint32_t max_bars;
  // The chords the chord-fit measures test the top line against (issue
  // 11), in this piece's ticks; NULL: those measures count nothing.
  const struct CantusFormChordsImpl *chords;
} CantusFormPiece;

// A chord timeline (issue 11): chord k (a pitch-class set as
// CantusChord.pcs, 0 = no chord) holds over [tick[k], tick[k + 1]); ticks
// ascending; no chord before tick[0] or from tick[n] on.
typedef struct CantusFormChordsImpl {
  uint32_t *tick; // (n + 1)
  uint16_t *pcs;  // (n)
  size_t n;
  int kind; // the CantusChordSpanKind it was read with; -1: no chord part (or a progression)
} CantusFormChords;

// Counts behind every measure: each ratio is num / den, summed over the
// pieces of a set (pooled, so longer pieces weigh more).
typedef enum {
  CANTUS_FORM_BAR_REPEAT = 0, // bars repeating an earlier bar / bars with a note
  CANTUS_FORM_SECTION,        // 8-bar sections recurring later / sections
  CANTUS_FORM_END_TONIC,      // pieces whose last top-line note is the tonic / pieces
  CANTUS_FORM_PHRASE_END,     // phrase-end bars on a tonic/dominant chord tone / phrase ends
  CANTUS_FORM_CHORD_CHANCE,   // the same test on every bar (the chance level)
  CANTUS_FORM_CLASH,          // beats holding a semitone/major-7th clash / beats with 2+ notes
  CANTUS_FORM_LONG_NOTES,     // notes of 8 beats or more per 32 bars
  CANTUS_FORM_PARALLELS,      // parallel fifths/octaves per 100 onset ticks
  CANTUS_FORM_LEAPS,          // top-line leaps over an octave / top-line intervals
  CANTUS_FORM_CHORD_BEAT1,    // first-beat top-line notes in their chord / those under a chord
  CANTUS_FORM_CHORD_BAR,      // top-line notes in their chord / those under a chord
  CANTUS_FORM_N
} CantusFormMeasure;

typedef struct {
  double num[CANTUS_FORM_N];
  double den[CANTUS_FORM_N];
  int pieces;
} CantusFormCounts;

void cantus_form_init(CantusFormCounts *c);

// Measures one piece and adds its counts to *c (which keeps summing over a
// set).  An empty piece adds only to c->pieces.  Errors:
// CANTUS_ERR_ARGUMENT (tpq 0), CANTUS_ERR_NO_MEMORY.
CantusStatus cantus_form_add_piece(CantusFormCounts *c, const CantusFormPiece *p, CantusError *err);

// Adds every count of b to a.
void cantus_form_merge(CantusFormCounts *a, const CantusFormCounts *b);

// The measure's value: num/den as a fraction (0..1) for the ratios, or the
// rate for LONG_NOTES (per 32 bars) and PARALLELS (per 100 onset ticks).  NAN
// when the denominator is zero.
double cantus_form_value(const CantusFormCounts *c, CantusFormMeasure k);

// Short column name ("bar-repeat", "section", ...) and a one-line
// description; "?" for an unknown measure.
const char *cantus_form_name(CantusFormMeasure k);
const char *cantus_form_describe(CantusFormMeasure k);

// The estimated key of a set of notes (drums ignored): Krumhansl-Kessler
// major and minor profiles correlated with the duration-weighted
// pitch-class histogram; *tonic 0..11 (C = 0), *minor.  Returns false (and
// sets C major) when there is no note.
bool cantus_form_key(const CantusMidiNote *notes, size_t n, int *tonic, bool *minor);
// The same estimate from a pitch-class histogram (any weights): the best of
// the 24 Krumhansl-Kessler keys, ties to the lower root and to major.
void cantus_form_key_of(const double pc[12], int *tonic, bool *minor);

// ---- chords (issue 11) ---------------------------------------------------------

// The chords of a piece read from its own parts with the one window rule
// of dsp/chord.h (cantus_chord_window, cantus_chord_of_span): the notes of
// its `accompaniment` track(s) (CANTUS_CHORD_SPAN_ACCOMP: Nottingham), else
// those of its `alto`, `tenor` and `bass` tracks (CANTUS_CHORD_SPAN_VOICES:
// the chorales), track names case-insensitive, drums ignored; a piece with
// neither (a melody alone: CRE Irish) has no chord (kind -1, n 0).  One
// entry per window of every bar from bar 0 to the end of the last chord
// note, on p's bar map (bars as above; a window is cut by the bar line).
// track_names[k] is track k's name (n_tracks of them; NULL: no names).
// Errors: CANTUS_ERR_ARGUMENT (tpq 0), CANTUS_ERR_NO_MEMORY,
// CANTUS_ERR_TOO_LARGE (over a million bars).
CantusStatus cantus_form_file_chords(const CantusFormPiece *p,
                                     char (*track_names)[64],
                                     size_t n_tracks,
                                     CantusFormChords *out,
                                     CantusError *err);

// A progression laid on p's bar map from tick 0 up to `end`, cycling:
// chord k (pcs[k]) lasts beats[k] beats of the bar it starts in (the
// time signature's beat unit), or, for beats[k] == 0, up to the next bar
// line.  n >= 1.  Errors as above.
CantusStatus cantus_form_progression_chords(const CantusFormPiece *p,
                                            const uint16_t *pcs,
                                            const uint16_t *beats,
                                            size_t n,
                                            uint32_t end,
                                            CantusFormChords *out,
                                            CantusError *err);

// The chord (pitch-class set) at tick t, 0 for none.  O(log n).
uint16_t cantus_form_chords_at(const CantusFormChords *c, uint32_t t);
void cantus_form_chords_free(CantusFormChords *c);

#endif
