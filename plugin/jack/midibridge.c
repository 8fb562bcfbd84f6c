// SPDX-License-Identifier: GPL-3.0-or-later
// The JACK <-> PortMidi bridge (see midibridge.h): fixed-size records in two
// mlocked jack_ringbuffers, single producer and single consumer each.
// Counters are C11 atomics with relaxed order: they are statistics.
// Thread class: send/receive/place [RT]; post/take on the PortMidi thread.
#include "midibridge.h"

#include <jack/ringbuffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(CantusBridgeEvent) == 16, "bridge record is 16 bytes");

struct CantusMidiBridgeImpl {
  jack_ringbuffer_t *out; // RT -> PortMidi
  jack_ringbuffer_t *in;  // PortMidi -> RT
  atomic_uint_fast64_t out_sent, out_dropped, in_posted, in_dropped;
};

CantusStatus cantus_midibridge_new(size_t capacity, CantusMidiBridge **out, CantusError *err)
{
  *out = NULL;
  if (capacity < 2 || capacity > (1u << 20)) {
    return cantus_error(
      err, CANTUS_ERR_ARGUMENT, "MIDI bridge: capacity %zu outside 2..2^20", capacity);
  }
  CantusMidiBridge *b = calloc(1, sizeof *b);
  if (!b) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "MIDI bridge: out of memory");
  }
  // jack_ringbuffer keeps one byte free: one record more than asked.
  const size_t bytes = (capacity + 1) * sizeof(CantusBridgeEvent);
  b->out = jack_ringbuffer_create(bytes);
  b->in = jack_ringbuffer_create(bytes);
  if (!b->out || !b->in) {
    cantus_midibridge_free(b);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "MIDI bridge: out of memory");
  }
  // mlock may fail without privileges; the bridge still works, it may page.
  (void)jack_ringbuffer_mlock(b->out);
  (void)jack_ringbuffer_mlock(b->in);
  *out = b;
  return CANTUS_OK;
}

void cantus_midibridge_free(CantusMidiBridge *b)
{
  if (!b) {
    return;
  }
  if (b->out) {
    jack_ringbuffer_free(b->out);
  }
  if (b->in) {
    jack_ringbuffer_free(b->in);
  }
  free(b);
}

static bool put(jack_ringbuffer_t *rb, int64_t t, const uint8_t *data, uint32_t size)
{
  if (size < 1 || size > 3 || jack_ringbuffer_write_space(rb) < sizeof(CantusBridgeEvent)) {
    return false;
  }
  CantusBridgeEvent ev = { .time = t, .size = (uint8_t)size };
  memcpy(ev.data, data, size);
  jack_ringbuffer_write(rb, (const char *)&ev, sizeof ev);
  return true;
}

static size_t get(jack_ringbuffer_t *rb, CantusBridgeEvent *ev, size_t max)
{
  size_t n = 0;
  while (n < max && jack_ringbuffer_read_space(rb) >= sizeof *ev) {
    jack_ringbuffer_read(rb, (char *)&ev[n], sizeof *ev);
    n++;
  }
  return n;
}

CANTUS_RT bool cantus_midibridge_send(CantusMidiBridge *b,
                                      int64_t frame,
                                      const uint8_t *data,
                                      uint32_t size)
{
  if (put(b->out, frame, data, size)) {
    atomic_fetch_add_explicit(&b->out_sent, 1, memory_order_relaxed);
    return true;
  }
  atomic_fetch_add_explicit(&b->out_dropped, 1, memory_order_relaxed);
  return false;
}

size_t cantus_midibridge_take(CantusMidiBridge *b, CantusBridgeEvent *ev, size_t max)
{
  return get(b->out, ev, max);
}

size_t cantus_midibridge_pending(const CantusMidiBridge *b)
{
  return jack_ringbuffer_read_space(b->out) / sizeof(CantusBridgeEvent);
}

bool cantus_midibridge_post(CantusMidiBridge *b, int64_t usecs, const uint8_t *data, uint32_t size)
{
  if (put(b->in, usecs, data, size)) {
    atomic_fetch_add_explicit(&b->in_posted, 1, memory_order_relaxed);
    return true;
  }
  atomic_fetch_add_explicit(&b->in_dropped, 1, memory_order_relaxed);
  return false;
}

CANTUS_RT uint32_t cantus_midibridge_receive(CantusMidiBridge *b,
                                             CantusBridgeEvent *ev,
                                             uint32_t max)
{
  return (uint32_t)get(b->in, ev, max);
}

CANTUS_RT uint32_t cantus_midibridge_place(uint32_t ev_frame,
                                           uint32_t cycle_frame,
                                           uint32_t n_frames,
                                           uint32_t prev)
{
  if (n_frames == 0) {
    return 0;
  }
  // Signed distance on the wrapping 32-bit frame clock.
  int64_t off = (int64_t)(int32_t)(ev_frame - cycle_frame) + (int64_t)n_frames;
  if (off < (int64_t)prev) {
    off = prev;
  }
  if (off > (int64_t)n_frames - 1) {
    off = (int64_t)n_frames - 1;
  }
  return (uint32_t)off;
}

int32_t cantus_midibridge_timestamp(int64_t event_usecs, int64_t t0_usecs, int64_t latency_usecs)
{
  int64_t ms = (event_usecs + latency_usecs - t0_usecs) / 1000;
  if (ms < 0) {
    ms = 0;
  }
  return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}

void cantus_midibridge_stats(const CantusMidiBridge *b, CantusBridgeStats *s)
{
  s->out_sent = atomic_load_explicit(&b->out_sent, memory_order_relaxed);
  s->out_dropped = atomic_load_explicit(&b->out_dropped, memory_order_relaxed);
  s->in_posted = atomic_load_explicit(&b->in_posted, memory_order_relaxed);
  s->in_dropped = atomic_load_explicit(&b->in_dropped, memory_order_relaxed);
}
