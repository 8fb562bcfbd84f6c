// SPDX-License-Identifier: GPL-3.0-or-later
// Standard MIDI Files: a reader for formats 0 and 1 into a note list with
// tempo and time-signature maps, and a format-1 writer.  Shared by the
// tools (themes, cantus-gen output) and the trainer (corpus reading).
//
// Allocation contract: cantus_midi_read*() returns one heap object that
// cantus_midi_free() releases with everything it points to; the reader
// never keeps a pointer into the caller's buffer.  Thread class: non-RT.
#ifndef CANTUS_MIDIFILE_H
#define CANTUS_MIDIFILE_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t on_tick;  // absolute file ticks
  uint32_t off_tick; // > on_tick (a zero-length note is given one tick)
  uint8_t pitch;     // 0..127
  uint8_t velocity;  // 1..127
  uint8_t channel;   // 0..15
  uint16_t track;    // track index in the file
} CantusMidiNote;

typedef struct {
  uint32_t tick;
  uint32_t usec_per_quarter;
} CantusMidiTempo;

typedef struct {
  uint32_t tick;
  uint8_t num; // beats per bar
  uint8_t den; // beat unit as a note value: 2, 4, 8, 16 ...
} CantusMidiTimeSig;

typedef struct {
  uint16_t format; // 0 or 1
  uint16_t n_tracks;
  uint16_t tpq;          // ticks per quarter note (division)
  uint32_t end_tick;     // last event tick of any track
  CantusMidiNote *notes; // sorted by on_tick, then track, then pitch
  size_t n_notes;
  CantusMidiTempo *tempos; // sorted by tick; empty means 120 bpm
  size_t n_tempos;
  CantusMidiTimeSig *timesigs; // sorted by tick; empty means 4/4
  size_t n_timesigs;
  char (*track_names)[64]; // [n_tracks], "" when the track has no name
  // What the reader repaired, for reports:
  size_t n_unterminated; // note-ons with no note-off (closed at track end)
  size_t n_overlaps;     // re-struck sounding pitches (previous note closed)
} CantusMidiFile;

// Reads a file.  Accepts formats 0 and 1 with running status, sysex and
// meta events skipped by their lengths, note-on velocity 0 as note-off,
// overlapping notes of one pitch, trailing garbage after the last track.
// Refuses with one line naming the file and the problem: missing file,
// not MIDI, format 2, SMPTE time division, truncated or lying chunk
// lengths, a track without end, absurd sizes (> 64 MiB, > 65535 tracks,
// > 16M notes), delta times that overflow 32 bits.
CantusStatus cantus_midi_read(const char *path, CantusMidiFile **out, CantusError *err);
CantusStatus cantus_midi_read_mem(const void *data,
                                  size_t size,
                                  const char *name,
                                  CantusMidiFile **out,
                                  CantusError *err);
void cantus_midi_free(CantusMidiFile *m);

// Writes format 1: track 0 holds tempo and time-signature maps (and the
// names), then one track per distinct note track index, notes on their
// channels.  tpq from m->tpq.  Atomic (path.tmp, then rename).
CantusStatus cantus_midi_write(const char *path, const CantusMidiFile *m, CantusError *err);

// Allocates an empty file object with room for n_notes notes, 8 tempos,
// 8 time signatures and n_tracks names; counts start at zero.
CantusStatus cantus_midi_alloc(size_t n_notes,
                               uint16_t n_tracks,
                               CantusMidiFile **out,
                               CantusError *err);

#endif
