// SPDX-License-Identifier: GPL-3.0-or-later
// What cantus-jack played, seen from the main thread: the events the
// process callback posts to the `played` ring become notes, kept for the
// --record MIDI file (all of them, on the performance's own continuous
// beat clock, which pauses while the transport stands) and for the
// terminal view's piano roll (the most recent ones).
//
// Allocation contract: the caller owns the CantusJackRec value; add grows
// its note and tempo arrays with realloc; cantus_jackrec_free releases
// them.  Thread class: non-RT (main thread only).
#ifndef CANTUS_JACK_REC_H
#define CANTUS_JACK_REC_H

#include "jack_app.h"
#include "midifile.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CANTUS_JACKREC_ROLL = 512 }; // notes kept for the piano roll

typedef struct {
  double on, off; // performance beats; off < 0 while sounding
  uint8_t pitch, channel;
} CantusRollNote;

typedef struct {
  bool keep;    // collect notes for the file
  uint16_t tpq; // file ticks per quarter
  double beats_per_bar;
  int beat_unit;
  CantusMidiNote *notes;
  size_t n_notes, cap_notes;
  CantusMidiTempo *tempos;
  size_t n_tempos, cap_tempos;
  int32_t open_note[16][128]; // index into notes of a sounding note, -1
  uint32_t last_tick;
  bool failed;                              // out of memory: the file would be incomplete
  CantusRollNote roll[CANTUS_JACKREC_ROLL]; // ring
  int roll_head, roll_n;
  int16_t roll_open[16][128]; // ring slot of a sounding note, -1
  uint64_t n_on, n_off;       // note-ons / note-offs seen
} CantusJackRec;

void cantus_jackrec_init(CantusJackRec *r, bool keep, double beats_per_bar, int beat_unit);
void cantus_jackrec_add(CantusJackRec *r, const CantusJackPlayed *p);
// Notes still sounding (should be 0 after a flush).
int cantus_jackrec_sounding(const CantusJackRec *r);
// Writes the notes (closing any still sounding at end_beat) as a format-1
// MIDI file with the tempo map and meter.  Non-RT.
CantusStatus cantus_jackrec_write(CantusJackRec *r,
                                  const char *path,
                                  double end_beat,
                                  CantusError *err);
void cantus_jackrec_free(CantusJackRec *r);

#endif
