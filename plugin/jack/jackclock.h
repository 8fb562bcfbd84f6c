// SPDX-License-Identifier: GPL-3.0-or-later
// The musical clock of cantus-jack: turns what the JACK transport reports at
// the start of a cycle (rolling, frame, and BBT when a timebase master
// exists) into the engine's CantusTransport, and gives the BBT that
// cantus-jack publishes when it is the timebase master.  Plain C with no
// libjack types, so it is unit-tested without a server.
//
// Following a master: its BBT is taken as the truth whenever the position
// changes (transport start, relocation, a change of tempo or meter, the
// master appearing); between those, bar and beat are extrapolated from the
// transport frame at the master's tempo.  This is what LV2 hosts do with
// time:Position, and it keeps notes on the frame grid even with masters
// whose BBT accumulates integer ticks per cycle (jack_transport's loses
// up to one tick per cycle, about 2% at 256 frames).
//
// Own tempo (no master, or cantus-jack is the master): bar and beat are a
// piecewise-linear function of the transport frame: a tempo or meter change
// keeps the current position and continues at the new tempo; a relocation
// extends the current tempo segment (to frame * tempo when that would be
// negative, e.g. back to frame 0 after a speed-up).
//
// Allocation contract: none.  Thread class: [RT] (all of it).
#ifndef CANTUS_JACKCLOCK_H
#define CANTUS_JACKCLOCK_H

#include "engine.h"
#include "rt.h"

#include <stdbool.h>
#include <stdint.h>

// The transport at the start of a cycle, copied from jack_position_t.
typedef struct {
  bool rolling;
  uint32_t frame;     // transport frame (wraps like jack_nframes_t)
  double sample_rate; // Hz
  bool bbt;           // a timebase master supplies the fields below
  int32_t bar;        // 1-based
  int32_t beat;       // 1-based
  double tick;        // within the beat (tick_double when the master sets it)
  double ticks_per_beat;
  double beats_per_bar;
  double beat_type;
  double bpm;
} CantusJackPos;

// The tempo cantus-jack keeps itself (--bpm / --meter, CC, keys).
typedef struct {
  double bpm;
  double beats_per_bar;
  int beat_unit;
} CantusJackTempo;

typedef enum { CANTUS_CLOCK_NONE, CANTUS_CLOCK_FOLLOW, CANTUS_CLOCK_OWN } CantusClockSource;

typedef struct {
  CantusClockSource source; // what the anchor came from
  uint32_t anchor_frame;    // transport frame of the anchor
  int64_t anchor_bar;       // 0-based bar at the anchor
  double anchor_beat;       // beat within that bar, 0 <= anchor_beat < beats_per_bar
  double bpm, beats_per_bar;
  int beat_unit;
  uint32_t expect_frame; // transport frame the next cycle continues from
  bool was_rolling;
  uint64_t n_anchors; // re-anchorings (relocations, starts, tempo changes), for tests
} CantusJackClock;

CANTUS_RT void cantus_jackclock_reset(CantusJackClock *c);

// One cycle: fills *out (valid, rolling, bpm, bar and bar_beat at frame 0
// of the cycle, meter).  use_bbt false ignores any master (own tempo, or
// cantus-jack is the master itself).  n_frames: cycle length.  [RT]
CANTUS_RT void cantus_jackclock_cycle(CantusJackClock *c,
                                      const CantusJackPos *p,
                                      bool use_bbt,
                                      const CantusJackTempo *own,
                                      uint32_t n_frames,
                                      CantusTransport *out);

// Position (0-based bar, beat within the bar) at a transport frame, on the
// own-tempo clock, without changing it: what the timebase callback
// publishes.  Before the first cycle it is frame * tempo.  [RT]
CANTUS_RT void cantus_jackclock_position(const CantusJackClock *c,
                                         const CantusJackTempo *own,
                                         uint32_t frame,
                                         double sample_rate,
                                         int64_t *bar,
                                         double *bar_beat);

#endif
