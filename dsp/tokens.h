// SPDX-License-Identifier: GPL-3.0-or-later
// MIDI notes -> the model's token stream: the one definition of "What every
// model sees" (models/README.md) shared by the trainer's corpus reader and
// the engine's themes.  Notes are snapped to the vocabulary's grid (nearest
// tick, ties up; a note that snaps to zero length gets one tick), drums
// (channel 10) are skipped, two notes of one pitch that start together
// become one note, a pitch struck again while sounding ends the sounding
// note there; then, tick by tick, every NOTE_OFF in ascending pitch, then
// every NOTE_ON in ascending pitch, and SHIFT tokens to the next tick with
// an event (a gap over n_shift ticks becomes several shifts, each as long
// as possible).
// Version 2 vocabularies (v->n_dur > 0): each note carries its part, from
// opt->part (notes mapped to no part are left out); the unison merge and
// the re-strike cut apply within one part (the same pitch in two parts is
// kept: unisons in chorales); then, at each tick with onsets, every note in
// ascending part, then ascending pitch, as NOTE(part, pitch) DUR(bin of its
// length, cantus_vocab_dur_bin, but never running into the next onset of
// its pitch in its part: then the longest bin that fits), and SHIFTs to the
// next onset tick.  There are no trailing shifts: END follows the last
// onset's notes.  So notes -> tokens -> notes -> tokens is the identity.
// Allocation contract: cantus_tokens_from_notes() allocates scratch memory
// for the notes and frees it before returning; the token buffer belongs to
// the caller.  Thread class: non-RT (malloc, qsort).
#ifndef CANTUS_TOKENS_H
#define CANTUS_TOKENS_H

#include "midifile.h"
#include "status.h"
#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  bool keep_drums;   // keep MIDI channel 10 (0-based 9); default skipped
  bool fold_pitches; // a pitch outside the range moves by octaves into it
                     // (then clamps, for ranges under an octave); default dropped
  bool start_end;    // START first and END after the last event (a training piece)
  bool velocities;   // with v->n_vel > 0: a VELOCITY token before each NOTE_ON
                     // whose bin differs from the last one written
  bool truncate;     // a stream longer than the buffer is cut before the first
                     // NOTE_ON whose note (and every sounding one) could no longer
                     // be closed in it; false: CANTUS_ERR_TOO_LARGE instead
  uint64_t end_tick; // grid ticks; notes starting at or after it are left out
                     // and longer ones end there (0 = no limit)
  // Track filter: called for each note that is not a skipped drum; a note it
  // returns false for is left out (counted in n_filtered).  NULL keeps all.
  bool (*keep)(const CantusMidiNote *note, void *user);
  void *keep_user;
  // Part of a note, version 2 only: 0..v->n_parts-1, or -1 to leave it out
  // (counted in n_no_part).  Called after the track filter.  NULL puts every
  // note in part 0.  Ignored with a version 1 vocabulary.
  int (*part)(const CantusMidiNote *note, void *user);
  void *part_user;
} CantusTokensOptions;

// A ready-made opt->part: the part is the index in names[] of the note's
// track name (case-insensitive), -1 when no name matches.  Used with
// part_user = a CantusTokensPartNames.
typedef struct {
  const CantusMidiFile *mf;            // the notes' file (its track names)
  const char *names[CANTUS_MAX_PARTS]; // part k's track name; NULL = none
} CantusTokensPartNames;
int cantus_tokens_part_by_track_name(const CantusMidiNote *note, void *user);

typedef struct {
  // Notes left out or repaired, in the order the checks run: drums, the
  // track filter, the pitch range, then end_tick.
  uint64_t n_drum;         // skipped on the drum channel
  uint64_t n_filtered;     // left out by opt->keep
  uint64_t n_no_part;      // version 2: opt->part gave no part
  uint64_t n_out_of_range; // pitch outside the vocabulary: dropped (or folded)
  uint64_t n_after_end;    // starting at or after opt->end_tick
  uint64_t n_lengthened;   // snapped to zero length, given one tick
  uint64_t n_merged;       // same-pitch notes merged or cut at a re-strike
  // Grid snapping of the kept notes (before merging), distances in grid ticks.
  uint64_t n_onsets_moved, n_offsets_moved;
  double onset_moved_sum, offset_moved_sum;
  double onset_moved_max, offset_moved_max;
  // Version 2: note lengths (after merging) that are not a duration bin,
  // moved to the nearest bin; distances in grid ticks.  n_dur_capped of
  // them were longer than the last bin.
  uint64_t n_dur_rounded, n_dur_capped;
  double dur_rounded_sum, dur_rounded_max;
  // The stream.
  uint32_t n_notes; // notes in the stream (after merging)
  int pitch_min;    // of those notes (127 / 0 when there is none)
  int pitch_max;
  uint64_t last_tick; // grid tick of the last note-off (0 without notes)
  size_t n_tokens;    // tokens of the whole stream, whether it fit or not
  size_t n_written;   // tokens written to the buffer
  uint64_t end_tick;  // grid tick after the written tokens (sum of their shifts)
  bool truncated;     // opt->truncate cut the stream
} CantusTokensStats;

// File ticks (file_tpq per quarter, >= 1) -> grid ticks (grid per quarter),
// rounded to the nearest grid tick, ties up; *moved receives the distance
// in grid ticks.  Pure arithmetic.
uint64_t cantus_tokens_snap(uint64_t file_tick, uint32_t file_tpq, uint32_t grid, double *moved);

// Default options: drums skipped, out-of-range pitches dropped, no START/END,
// no velocities, no truncation, no end tick, no track filter, every note in
// part 0.
CantusTokensOptions cantus_tokens_options_default(void);

// Tokenises n_notes notes of a file with file_tpq ticks per quarter
// (file_tpq >= 1) into tokens[0 .. cap) on v's grid, as described at the
// top of this file.  stats (required) is overwritten and filled even on
// CANTUS_ERR_TOO_LARGE, where stats->n_tokens tells the size needed and the
// buffer holds its first cap tokens.  tokens may be NULL when cap is 0 (a
// count only).  A piece without notes is START END (with start_end) or
// empty.  Errors: CANTUS_ERR_ARGUMENT (invalid vocabulary, file_tpq 0),
// CANTUS_ERR_NO_MEMORY, CANTUS_ERR_TOO_LARGE (without truncate).  Non-RT.
CantusStatus cantus_tokens_from_notes(const CantusMidiNote *notes,
                                      size_t n_notes,
                                      uint32_t file_tpq,
                                      const CantusVocab *v,
                                      const CantusTokensOptions *opt,
                                      uint16_t *tokens,
                                      size_t cap,
                                      CantusTokensStats *stats,
                                      CantusError *err);

// The inverse, for tests and tools: the notes of a stream of either layout,
// on the grid (on_tick, off_tick in v->tpq ticks per quarter), in the order
// of their onsets in the stream (by tick, then part, then pitch), with
// track = channel = part (0 in version 1) and velocity the centre of the
// last VELOCITY bin (96 before any).  START and END are skipped.  *n_notes
// receives the number of notes in the stream even when they do not fit in
// cap (CANTUS_ERR_TOO_LARGE; notes may be NULL with cap 0, a count only).
// Errors: CANTUS_ERR_ARGUMENT (invalid vocabulary), CANTUS_ERR_FORMAT (a
// token outside the vocabulary; version 1: NOTE_ON of a sounding pitch or
// NOTE_OFF of a silent one, a note still sounding at the end; version 2: a
// NOTE not followed by a DUR or a DUR without its NOTE), CANTUS_ERR_TOO_LARGE.
// Non-RT (no allocation, but unbounded work).
CantusStatus cantus_tokens_to_notes(const uint16_t *tokens,
                                    size_t n_tokens,
                                    const CantusVocab *v,
                                    CantusMidiNote *notes,
                                    size_t cap,
                                    size_t *n_notes,
                                    CantusError *err);

#endif
