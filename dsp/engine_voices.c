// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's scheduling and output: tokens become note events in the
// time-sorted lookahead queue (gate, swing), and the events inside a block
// become MIDI through the note tracker (voices, range, key, velocity,
// humanise), with a safety net for notes that outlived max_note_beats.
// Everything here is [RT].
#include "engine_impl.h"

#include <math.h>

#define MIN_NOTE_TICKS 0.0625 // shortest note after gate

static void out_write(CantusEngine *e,
                      CantusBlockOut *out,
                      uint32_t frame,
                      uint8_t a,
                      uint8_t b,
                      uint8_t c)
{
  if (out->n_events >= CANTUS_MAX_EVENTS) {
    e->st.events_dropped++;
    return;
  }
  CantusMidiEvent *ev = &out->events[out->n_events++];
  ev->frame = frame;
  ev->size = 3;
  ev->data[0] = a;
  ev->data[1] = b;
  ev->data[2] = c;
}

static void voice_off(CantusEngine *e, CantusBlockOut *out, int i, uint32_t frame)
{
  const CantusSchedVoice *v = &e->voices.tr.v[i];
  out_write(e, out, frame, (uint8_t)(0x80 | v->channel), v->pitch, 0);
  cantus_schedule_tracker_remove(&e->voices.tr, i);
}

void engine_voices_all_off(CantusEngine *e, CantusBlockOut *out, uint32_t frame)
{
  for (int k = 0; k < CANTUS_MAX_VOICES && e->voices.tr.n > 0; k++) {
    voice_off(e, out, e->voices.tr.n - 1, frame);
  }
}

static int out_velocity(const CantusEngine *e, const CantusSchedEvent *ev)
{
  const CantusControls *c = &e->ctl;
  int v = c->velocity >= 1 ? c->velocity : (vocab(e)->n_vel > 0 && ev->vel > 0 ? ev->vel : 96);
  if (c->humanise > 0.0f) {
    // A hash of (seed, onset, pitch): the same note gets the same spread on
    // every pass, at any block size.
    const uint64_t r = cantus_rng_mix((uint64_t)c->seed ^ 0x68756d616e697365ull,
                                      (uint64_t)ev->hum_tick * 131u + ev->key);
    const float u = (float)(r >> 40) * (1.0f / 16777216.0f);
    v += (int)lrintf(c->humanise * 32.0f * (2.0f * u - 1.0f));
  }
  return v < 1 ? 1 : v > 127 ? 127 : v;
}

static bool pitch_allowed(const CantusControls *c, int p)
{
  if (p < c->note_lo || p > c->note_hi) {
    return false;
  }
  const int pc = ((p - c->key_root) % 12 + 12) % 12;
  return (cantus_scale_mask(c->scale) >> pc) & 1u;
}

// Output channel 0..15 of part k, -1 when the part is muted.
static int part_channel(const CantusControls *c, int k)
{
  const int ch = k == 1 ? c->part2_channel : k == 2 ? c->part3_channel : c->part4_channel;
  return k == 0 ? c->channel : ch >= 1 && ch <= 16 ? ch - 1 : -1;
}

static void emit_on(CantusEngine *e,
                    CantusBlockOut *out,
                    const CantusSchedEvent *ev,
                    uint32_t frame,
                    bool late)
{
  const CantusControls *c = &e->ctl;
  const int p = (ev->key & 127) + c->transpose;
  const int channel = part_channel(c, ev->key >> 7);
  if (!pitch_allowed(c, p) || channel < 0) {
    return; // range, key or transpose changed since it was generated; a muted part
  }
  int i = cantus_schedule_tracker_find_key(&e->voices.tr, ev->key);
  if (i >= 0) {
    voice_off(e, out, i, frame);
  }
  i = cantus_schedule_tracker_find_out(&e->voices.tr, (uint8_t)channel, (uint8_t)p);
  if (i >= 0) {
    voice_off(e, out, i, frame); // never strike a sounding pitch: end it first
  }
  if (e->voices.tr.n >= c->max_voices) {
    return;
  }
  // Room for this note-on and the note-off of every voice, so offs never drop.
  if (out->n_events + 2u + (uint32_t)e->voices.tr.n > CANTUS_MAX_EVENTS) {
    e->st.events_dropped++;
    return;
  }
  out_write(e, out, frame, (uint8_t)(0x90 | channel), (uint8_t)p, (uint8_t)out_velocity(e, ev));
  const CantusSchedVoice v = {
    .key = ev->key, .channel = (uint8_t)channel, .pitch = (uint8_t)p, .onset = ev->time
  };
  cantus_schedule_tracker_add(&e->voices.tr, &v);
  if (late) {
    e->st.late_events++;
  }
}

static void emit_off(CantusEngine *e,
                     CantusBlockOut *out,
                     const CantusSchedEvent *ev,
                     uint32_t frame,
                     bool late)
{
  const int i = cantus_schedule_tracker_find_key(&e->voices.tr, ev->key);
  if (i < 0) {
    return; // never sounded, or already ended (stop, panic, re-strike)
  }
  voice_off(e, out, i, frame);
  if (late) {
    e->st.late_events++;
  }
}

void engine_sched_push(CantusEngine *e,
                       double time,
                       int64_t src,
                       int64_t hum,
                       uint8_t kind,
                       uint16_t key,
                       uint8_t vel,
                       uint8_t flags)
{
  const CantusSchedEvent ev = { .time = time,
                                .src_tick = src,
                                .hum_tick = hum,
                                .kind = kind,
                                .key = key,
                                .vel = vel,
                                .flags = flags };
  if (!cantus_schedule_queue_push(&e->voices.q, &ev)) {
    e->st.events_dropped++;
  }
}

void engine_sched_on(CantusEngine *e,
                     int64_t tick,
                     int64_t hum,
                     uint16_t key,
                     uint8_t vel,
                     uint8_t flags)
{
  const double w = warp(e, (double)tick);
  cantus_schedule_queue_clip_off(&e->voices.q, key, w); // a gated note ends before its re-strike
  engine_sched_push(e, w, tick, hum, CANTUS_SCHED_ON, key, vel, flags);
}

// Note-off of a note from `on` whose OFF token came at `off`: gate scales
// the length (a zero-length note lasts one tick); a gate above 1 never makes
// it longer than max_note_beats (or its own length, if that is longer); it
// never ends before it starts.  A shorter gate cannot act earlier than a
// lookahead before the OFF token: the length is only known when the token is
// generated, and the generator runs at most a lookahead ahead.
void engine_sched_off(CantusEngine *e,
                      int64_t on,
                      int64_t off,
                      int64_t src,
                      uint16_t key,
                      uint8_t flags)
{
  const double raw = (double)(off > on ? off - on : 1);
  double len = raw * (double)e->ctl.gate;
  const double cap = max_note_ticks(e) > raw ? max_note_ticks(e) : raw;
  len = len > cap ? cap : len;
  const double earliest = (double)off - e->lookahead_beats * e->transport.tpb - (double)on;
  len = len < earliest ? earliest : len;
  len = len < MIN_NOTE_TICKS ? MIN_NOTE_TICKS : len;
  engine_sched_push(e, warp(e, (double)on + len), src, on, CANTUS_SCHED_OFF, key, 0, flags);
}

void engine_voices_emit(CantusEngine *e, CantusBlockOut *out, uint32_t n)
{
  for (uint32_t k = 0; k < CANTUS_SCHED_CAP && e->voices.q.n > 0; k++) {
    const CantusSchedEvent ev = *cantus_schedule_queue_at(&e->voices.q, 0);
    const int64_t rel =
      cantus_schedule_clock_frame(&e->transport.clock, ev.time) - e->transport.frame_now;
    if (rel >= (int64_t)n) {
      break;
    }
    cantus_schedule_queue_pop(&e->voices.q);
    const bool late = rel < 0;
    const uint32_t frame = late ? 0 : (uint32_t)rel;
    if (ev.kind == CANTUS_SCHED_ON) {
      emit_on(e, out, &ev, frame, late);
    } else {
      emit_off(e, out, &ev, frame, late);
    }
  }
}

// Safety net: a note that outlived max_note_beats by a quarter note (it can
// only happen when its OFF token is late) is ended.  Then the block's events
// are put back in frame order.
void engine_voices_guard(CantusEngine *e, CantusBlockOut *out, uint32_t n)
{
  const double limit = max_note_ticks(e) + (double)vocab(e)->tpq;
  bool added = false;
  for (int i = e->voices.tr.n; i-- > 0;) {
    const double t = e->voices.tr.v[i].onset + limit;
    if (t < e->transport.end_tick) {
      int64_t rel = cantus_schedule_clock_frame(&e->transport.clock, t) - e->transport.frame_now;
      rel = rel < 0 ? 0 : rel >= (int64_t)n ? (int64_t)n - 1 : rel;
      voice_off(e, out, i, (uint32_t)rel);
      added = true;
    }
  }
  if (!added) {
    return;
  }
  for (uint32_t i = 1; i < out->n_events; i++) {
    const CantusMidiEvent x = out->events[i];
    uint32_t j = i;
    while (j > 0 && out->events[j - 1].frame > x.frame) {
      out->events[j] = out->events[j - 1];
      j--;
    }
    out->events[j] = x;
  }
}
