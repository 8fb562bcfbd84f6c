// SPDX-License-Identifier: GPL-3.0-or-later
// (Named schedule.h, not sched.h: with -Idsp a sched.h would shadow the
// system <sched.h> that pthread.h includes.)
// Scheduling for the engine: the tick <-> frame clock of the current tempo,
// a fixed-capacity time-sorted queue of note events (the lookahead), and
// the output note tracker that knows what is sounding so that every note-on
// gets its note-off (all-notes-off on stop, seek, model swap, panic), and
// the gate that keeps a small host output buffer from dropping a note-off.
//
// Time: "ticks" are the model's grid (vocab.tpq per quarter note), as
// doubles so that swing and gate can place events between grid points.
// "Frames" are absolute sample frames counted by the engine since it
// started (int64).  The clock is piecewise linear: an anchor (tick, frame)
// and a slope (ticks per frame); a tempo change or relocation re-anchors.
//
// Allocation contract: none; every object is a fixed-size struct owned by
// the caller (the engine embeds them).  Thread class: [RT] (all of it):
// loops are bounded by CANTUS_SCHED_CAP and CANTUS_MAX_VOICES.
#ifndef CANTUS_SCHEDULE_H
#define CANTUS_SCHEDULE_H

#include "rt.h"

#include <stdbool.h>
#include <stdint.h>

// ---- clock ------------------------------------------------------------------

typedef struct {
  double anchor_tick;     // tick at anchor_frame
  int64_t anchor_frame;   // absolute frame of the anchor
  double ticks_per_frame; // > 0
} CantusSchedClock;

// Ticks per frame at `bpm` beats per minute, ticks_per_beat ticks per beat,
// sample_rate frames per second.  Arguments must be > 0.
CANTUS_RT double cantus_schedule_ticks_per_frame(double bpm,
                                                 double ticks_per_beat,
                                                 double sample_rate);
CANTUS_RT void cantus_schedule_clock_set(CantusSchedClock *c,
                                         double tick,
                                         int64_t frame,
                                         double ticks_per_frame);
// Tick at an absolute frame.
CANTUS_RT double cantus_schedule_clock_tick(const CantusSchedClock *c, int64_t frame);
// First absolute frame at or after `tick` (a tick that falls exactly on a
// frame, within 1e-6 frames of rounding, maps to that frame).
CANTUS_RT int64_t cantus_schedule_clock_frame(const CantusSchedClock *c, double tick);

// ---- event queue ------------------------------------------------------------

#define CANTUS_SCHED_CAP 1024 // queued note events (lookahead and held loops)

enum { CANTUS_SCHED_OFF = 0, CANTUS_SCHED_ON = 1 };

// Flags of a queued event.
enum {
  CANTUS_SCHED_KEEP =
    1, // never removed by cantus_schedule_queue_drop_from (held loops, forced offs)
};

typedef struct {
  double time;      // play ticks (after swing and gate): the sort key
  int64_t src_tick; // tick of the token that produced it (rollback key)
  int64_t hum_tick; // tick that seeds its humanise draw (stable across replays)
  uint8_t kind;     // CANTUS_SCHED_OFF / CANTUS_SCHED_ON
  uint16_t key;     // model pitch | part << 7 (what the tracker matches offs by)
  uint8_t vel;      // model velocity 1..127, 0 = none given
  uint8_t flags;    // CANTUS_SCHED_KEEP ...
} CantusSchedEvent;

// A ring buffer kept sorted by (time, kind) with offs before ons at equal
// times, and insertion order among equal keys (stable), so the order never
// depends on how the work was split into blocks.
typedef struct {
  CantusSchedEvent ev[CANTUS_SCHED_CAP];
  uint32_t head; // index of the earliest event
  uint32_t n;    // events queued
} CantusSchedQueue;

CANTUS_RT void cantus_schedule_queue_clear(CantusSchedQueue *q);
// Inserts in order; false (and nothing changes) when full.
CANTUS_RT bool cantus_schedule_queue_push(CantusSchedQueue *q, const CantusSchedEvent *e);
// i-th earliest event (i < q->n).
CANTUS_RT CantusSchedEvent *cantus_schedule_queue_at(CantusSchedQueue *q, uint32_t i);
// Removes the earliest event (no-op when empty).
CANTUS_RT void cantus_schedule_queue_pop(CantusSchedQueue *q);
// Removes the i-th earliest event (i < q->n).
CANTUS_RT void cantus_schedule_queue_remove(CantusSchedQueue *q, uint32_t i);
// Removes every event with src_tick >= tick that is not flagged KEEP and,
// when kind >= 0, is of that kind; returns how many were removed.
CANTUS_RT uint32_t cantus_schedule_queue_drop_from(CantusSchedQueue *q, int64_t tick, int kind);
// Moves every queued note-off of `key` later than `time` to `time` (the
// re-strike rule: a note ends no later than the next note-on of its pitch).
CANTUS_RT void cantus_schedule_queue_clip_off(CantusSchedQueue *q, uint16_t key, double time);

// ---- output note tracker ----------------------------------------------------

typedef struct {
  uint16_t key;    // model pitch | part << 7 the note came from
  uint8_t channel; // 0..15
  uint8_t pitch;   // MIDI pitch sent
  double onset;    // play tick of its note-on
} CantusSchedVoice;

// The notes the engine has sent a note-on for and not yet a note-off, at
// most CANTUS_MAX_VOICES (the engine refuses note-ons beyond max_voices).
typedef struct {
  CantusSchedVoice v[CANTUS_MAX_VOICES];
  int n;
} CantusNoteTracker;

CANTUS_RT void cantus_schedule_tracker_clear(CantusNoteTracker *t);
// Index of the voice holding `key` / sounding (channel, pitch), or -1.
CANTUS_RT int cantus_schedule_tracker_find_key(const CantusNoteTracker *t, uint16_t key);
CANTUS_RT int cantus_schedule_tracker_find_out(const CantusNoteTracker *t,
                                               uint8_t channel,
                                               uint8_t pitch);
// Adds a voice; false when all CANTUS_MAX_VOICES are in use.
CANTUS_RT bool cantus_schedule_tracker_add(CantusNoteTracker *t, const CantusSchedVoice *v);
// Removes voice i (order of the others is kept).
CANTUS_RT void cantus_schedule_tracker_remove(CantusNoteTracker *t, int i);

// ---- host output gate -------------------------------------------------------

// A host's MIDI output buffer may take fewer events than the engine emits in
// a block, and a dropped note-off is a stuck note.  The gate decides event by
// event, given the room left (in events): a note-on goes out only if the
// buffer keeps room for the note-off of every note the gate let out, its own
// included; the note-off of a note-on it held back is held back too (no stray
// note-offs); a note-off of a note it let out then always fits, as long as
// the buffer offers at least that many events at the start of each cycle.
typedef struct {
  uint8_t state[16][128]; // per channel and pitch: 0 silent, 1 sent, 2 note-on held back
  int n_sent;             // notes let out and not yet ended
  uint64_t held_back;     // events not let out for lack of room (held-back offs not counted)
} CantusSchedGate;

CANTUS_RT void cantus_schedule_gate_clear(CantusSchedGate *g);
// True when the event (msg, size bytes) may be written now, with room for
// `room` more events in the host buffer.  The caller writes every event
// the gate passes and none it refuses.
CANTUS_RT bool cantus_schedule_gate_pass(CantusSchedGate *g,
                                         const uint8_t *msg,
                                         uint32_t size,
                                         uint32_t room);

#endif
