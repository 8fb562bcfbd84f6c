// SPDX-License-Identifier: GPL-3.0-or-later
// Chords (issue 11): the one definition of a chord, shared by the trainer,
// the engine, the plugin, cantus-jack and cantus-gen.
//
//  - CantusChord: a pitch-class set (bit p = pitch class p, C = 0) with a
//    bass pitch class; pcs == 0 is "no chord".
//  - The network's chord input (format 2, n_chord = CANTUS_CHORD_INPUTS):
//    12 pitch-class bits then a "no chord" flag (cantus_chord_input).
//  - Chord symbols and progressions (cantus_chord_parse,
//    cantus_progression_parse): "D G D A" is one chord per bar, cycling;
//    "D:2 G:2" gives lengths in beats (the metre's beat: a quarter in 4/4, an
//    eighth in 6/8).  Qualities: major (""), m, 7, maj7, m7, dim, aug, sus2,
//    sus4; a slash bass ("C/E"); "N" or "NC" for no chord.
//  - The chord of a span of notes (cantus_chord_of_span): the one function
//    the trainer uses on the corpora and the engine on what it hears.
//  - The live chord reader (CantusChordReader): held notes make the chord,
//    an arpeggiated or oom-pah input still reads as one chord, and a chord
//    lasts until the next.  A chord track file is read with the same reader.
//
// Allocation contract: none (cantus_chord_track_from_midi allocates
// scratch and frees it before returning).  Thread class: the parsers and the formatter
// are non-RT (no allocation, no I/O: messages go into the caller's buffer);
// cantus_chord_input, cantus_chord_transpose, cantus_chord_of_span and
// every CantusChordReader function are [RT].
#ifndef CANTUS_CHORD_H
#define CANTUS_CHORD_H

#include "midifile.h"
#include "rt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CANTUS_CHORD_INPUTS 13 // the network's chord columns: 12 pitch classes + no chord
#define CANTUS_CHORD_NONE_COL 12

typedef struct {
  uint16_t pcs; // bit p: pitch class p (0 = C .. 11 = B) is in the chord; 0 = no chord
  int8_t root;  // 0..11, -1 unknown (a chord read from notes has no named root)
  int8_t bass;  // 0..11 lowest pitch class, -1 unknown / no chord
} CantusChord;

static inline CantusChord cantus_chord_none(void)
{
  CantusChord c = { 0, -1, -1 };
  return c;
}
static inline bool cantus_chord_is_none(CantusChord c)
{
  return c.pcs == 0;
}
static inline bool cantus_chord_equal(CantusChord a, CantusChord b)
{
  return a.pcs == b.pcs && a.bass == b.bass;
}

// The network's chord input: x[0..11] the pitch-class bits, x[12] = 1 for no
// chord.  [RT]
CANTUS_RT void cantus_chord_input(CantusChord c, float x[CANTUS_CHORD_INPUTS]);

// The chord moved by `semitones` (any sign).  [RT]
CANTUS_RT CantusChord cantus_chord_transpose(CantusChord c, int semitones);

// One chord symbol: root A..G with '#'/'b', a quality, an optional "/BASS";
// "N", "NC" or "N.C." is no chord.  0 on success; -1 with one line in err
// ("bad chord 'Hm': ...").  Non-RT.
int cantus_chord_parse(const char *text, CantusChord *out, char *err, size_t err_size);
// "Dm7/A"; a chord without a root (read from notes) is named when its set
// is a known quality, else listed ("{C E G B}"); "N" for no chord.  Non-RT.
void cantus_chord_format(CantusChord c, char *buf, size_t size);

// A chord progression: chords with lengths, played in a cycle.
#define CANTUS_MAX_PROGRESSION 256
typedef struct {
  uint32_t n;                                // 1..CANTUS_MAX_PROGRESSION
  CantusChord chord[CANTUS_MAX_PROGRESSION]; //
  uint16_t beats[CANTUS_MAX_PROGRESSION];    // length in beats; 0 = one whole bar
} CantusProgression;

// "D G D A", "D:2 G:2 A7:4", separated by spaces, commas or '|'.  Lengths
// 1..64 beats.  0, or -1 with one line in err.  Non-RT.
int cantus_progression_parse(const char *text, CantusProgression *out, char *err, size_t err_size);

// The chord of a span [t0, t1) of notes (ticks of any grid): the pitch
// classes of the notes that sound in it for at least min_overlap ticks (or
// for their whole length when shorter), the bass the pitch class of the
// lowest such note; no chord when there is none.  The trainer takes half
// bars of an accompaniment part and beats of the chorales' lower voices;
// the engine the same spans of what it heard.  on/off/pitch are parallel
// arrays of n notes.  [RT] (O(n))
CANTUS_RT CantusChord cantus_chord_of_span(const int64_t *on,
                                           const int64_t *off,
                                           const uint8_t *pitch,
                                           size_t n,
                                           int64_t t0,
                                           int64_t t1,
                                           int64_t min_overlap);

// Which spans make the chord of a moment: the bar is cut into windows of
// `span` ticks from its bar line (the last may be shorter), and a note
// counts in a window when it sounds there for min_overlap ticks or its
// whole length (cantus_chord_of_span).  The one rule for the trainer (the
// chord of every position of a corpus piece) and the engine.
//  - CANTUS_CHORD_SPAN_ACCOMP, an oom-pah accompaniment (Nottingham's
//    `accompaniment` track: bass on the beat, chord off it): one
//    bass-and-chord cycle, so a chord is read whole.  Two quarters in
//    metres of whole half notes (4/4, 2/2, 2/4, 6/4, 3/2), a dotted
//    quarter in compound metres (6/8, 9/8, 12/8: num a multiple of 3 over
//    3, den 8 or 16), else the whole bar (3/4: bass and two chords; 5/4,
//    7/8).  min_overlap a quarter of the span.
//  - CANTUS_CHORD_SPAN_VOICES, held chorale voices (alto, tenor, bass):
//    one beat (the den-note; a dotted beat in compound metres);
//    min_overlap half of it, so a note held a moment past the beat does not
//    count in the next.
// A span never exceeds the bar.  num 1..64 and den a power of two 1..32
// (else 4/4); tpq >= 1.  The metre, not only the bar length, is needed:
// 3/4 and 6/8 bars are equally long.  The trainer gives step i the chord
// in force at the tick where token i+1 is emitted (the point the form
// inputs describe), as CantusLookbackFeatures.chord.  [RT]
typedef enum { CANTUS_CHORD_SPAN_ACCOMP = 0, CANTUS_CHORD_SPAN_VOICES = 1 } CantusChordSpanKind;
typedef struct {
  int64_t span;        // ticks, >= 1
  int64_t min_overlap; // ticks, >= 1
} CantusChordWindow;
CANTUS_RT CantusChordWindow cantus_chord_window(int num,
                                                int den,
                                                int tpq,
                                                CantusChordSpanKind kind);

// The live chord reader.  Notes are fed with their tick; the chord changes
// when a note starts that is not in the current chord after `window` ticks
// have passed since the current chord began (the new chord is that note and
// every note still held); notes starting within `window` of a chord's start
// join it.  Releasing notes never changes the chord: it lasts until the next.
// Fixed size, no allocation; a snapshot is a struct copy.
typedef struct {
  int64_t window;         // ticks (the engine: half a bar)
  int64_t chord_tick;     // where the current chord began
  int64_t last_tick;      // the latest tick fed (ticks never go back)
  CantusChord chord;      // the current chord (none at first)
  int8_t low;             // lowest MIDI pitch of the current chord, -1 none
  uint8_t pad[3];         //
  uint32_t held_notes[4]; // bitset of held MIDI pitches 0..127
} CantusChordReader;

CANTUS_RT void cantus_chord_reader_init(CantusChordReader *r, int64_t window);
// Feeds a note-on (on = true) or note-off of MIDI pitch at tick (ticks never
// decrease).  Returns true when the current chord changed.  [RT]
CANTUS_RT bool cantus_chord_reader_note(CantusChordReader *r, int64_t tick, int pitch, bool on);
static inline CantusChord cantus_chord_reader_chord(const CantusChordReader *r)
{
  return r->chord;
}

// A chord track: the chords of a MIDI file as (tick, chord) changes, on
// the engine's grid (ticks from bar 0's downbeat); the last chord lasts to
// the end.  Fixed size (about 12 KB): setting it is a bounded copy.
#define CANTUS_MAX_CHORD_TRACK 1024
typedef struct {
  uint32_t n;                                // 0..CANTUS_MAX_CHORD_TRACK, ticks ascending
  int64_t tick[CANTUS_MAX_CHORD_TRACK];      // where each chord begins
  CantusChord chord[CANTUS_MAX_CHORD_TRACK]; //
} CantusChordTrack;

// Reads every note of a MIDI file (drums on channel 10 skipped) through a
// CantusChordReader with a window of half a bar (the file's first time
// signature, 4/4 without one) into a chord track on a grid of tpq ticks per
// quarter.  Offline, a note that joins a chord within the window joins it
// from the chord's start (live, from its own tick).  0, or -1 with one
// line in err (no notes, more than CANTUS_MAX_CHORD_TRACK changes).
// Non-RT (allocates scratch, frees it).
int cantus_chord_track_from_midi(const CantusMidiFile *mf,
                                 int tpq,
                                 CantusChordTrack *out,
                                 char *err,
                                 size_t err_size);

#endif
