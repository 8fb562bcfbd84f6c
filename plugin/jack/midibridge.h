// SPDX-License-Identifier: GPL-3.0-or-later
// The lock-free bridge between the JACK process callback and the PortMidi
// thread: two jack_ringbuffers of fixed 16-byte time-stamped MIDI records,
// `out` (audio thread -> hardware) and `in` (hardware -> audio thread).
// Out records carry the JACK frame time of the event, so the PortMidi thread
// can schedule it at that frame's wall-clock time plus a constant latency;
// in records carry the JACK microsecond time the byte arrived, so the
// audio thread places it one period later at the same relative position.
// Every write checks write_space first: a record is whole or absent, and a
// full ring drops the record and counts it.
//
// Allocation contract: cantus_midibridge_new() allocates the bridge and
// its two ringbuffers (mlocked); cantus_midibridge_free() releases them.
// Thread class: send/receive/place are [RT] (the process callback, one
// producer or consumer each); post/take run on the PortMidi thread.
#ifndef CANTUS_MIDIBRIDGE_H
#define CANTUS_MIDIBRIDGE_H

#include "rt.h"
#include "status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int64_t time; // out: JACK frame time (jack_nframes_t, widened); in: JACK usecs
  uint8_t size; // 1..3
  uint8_t data[3];
  uint8_t pad[4];
} CantusBridgeEvent; // 16 bytes, the ring's record

typedef struct CantusMidiBridgeImpl CantusMidiBridge;

// capacity: records per direction (rounded up to a power of two).  Non-RT.
CantusStatus cantus_midibridge_new(size_t capacity, CantusMidiBridge **out, CantusError *err);
void cantus_midibridge_free(CantusMidiBridge *b);

// Audio thread -> hardware: queues one event at JACK frame time `frame`.
// false (and the drop counted) when the ring is full or size is not 1..3.
// [RT]
CANTUS_RT bool cantus_midibridge_send(CantusMidiBridge *b,
                                      int64_t frame,
                                      const uint8_t *data,
                                      uint32_t size);
// PortMidi thread: takes up to max queued out events, oldest first.
size_t cantus_midibridge_take(CantusMidiBridge *b, CantusBridgeEvent *ev, size_t max);
// Out events waiting (PortMidi thread, or the main thread at shutdown).
size_t cantus_midibridge_pending(const CantusMidiBridge *b);

// Hardware -> audio thread: queues one received event stamped with the
// JACK time in microseconds.  false (counted) when full.  PortMidi thread.
bool cantus_midibridge_post(CantusMidiBridge *b, int64_t usecs, const uint8_t *data, uint32_t size);
// Audio thread: takes up to max received events, oldest first.  [RT]
CANTUS_RT uint32_t cantus_midibridge_receive(CantusMidiBridge *b,
                                             CantusBridgeEvent *ev,
                                             uint32_t max);

// Offset in the current cycle for an input event that happened at JACK
// frame time ev_frame, delivered one period late so that events keep their
// spacing: ev_frame + n_frames - cycle_frame, clamped to [prev, n_frames-1]
// (prev keeps the block sorted: pass the previous event's offset, or 0).
// Frame times wrap as 32-bit numbers.  [RT]
CANTUS_RT uint32_t cantus_midibridge_place(uint32_t ev_frame,
                                           uint32_t cycle_frame,
                                           uint32_t n_frames,
                                           uint32_t prev);

// PortMidi timestamp (ms on the bridge's clock, t0_usecs = its origin) for
// an out event whose frame starts at event_usecs of JACK time: the event
// plays latency_usecs after its frame time.  Non-RT.
int32_t cantus_midibridge_timestamp(int64_t event_usecs, int64_t t0_usecs, int64_t latency_usecs);

typedef struct {
  uint64_t out_sent, out_dropped; // records queued / refused towards hardware
  uint64_t in_posted, in_dropped; // records queued / refused towards JACK
} CantusBridgeStats;

void cantus_midibridge_stats(const CantusMidiBridge *b, CantusBridgeStats *s);

#endif
