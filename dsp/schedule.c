// SPDX-License-Identifier: GPL-3.0-or-later
// Tick <-> frame clock, the sorted lookahead queue, the output note
// tracker and the host output gate (schedule.h).  [RT]: no allocation;
// loops bounded by CANTUS_SCHED_CAP and CANTUS_MAX_VOICES.
#include "schedule.h"

#include <math.h>
#include <string.h>

double cantus_schedule_ticks_per_frame(double bpm, double ticks_per_beat, double sample_rate)
{
  return bpm / 60.0 * ticks_per_beat / sample_rate;
}

void cantus_schedule_clock_set(CantusSchedClock *c,
                               double tick,
                               int64_t frame,
                               double ticks_per_frame)
{
  c->anchor_tick = tick;
  c->anchor_frame = frame;
  c->ticks_per_frame = ticks_per_frame;
}

double cantus_schedule_clock_tick(const CantusSchedClock *c, int64_t frame)
{
  return c->anchor_tick + (double)(frame - c->anchor_frame) * c->ticks_per_frame;
}

int64_t cantus_schedule_clock_frame(const CantusSchedClock *c, double tick)
{
  const double f = (tick - c->anchor_tick) / c->ticks_per_frame;
  // The tolerance absorbs the rounding of tick/ticks_per_frame, so a tick
  // that is exactly on a frame lands on it at any sample rate.
  return c->anchor_frame + (int64_t)ceil(f - 1e-6);
}

// ---- queue ------------------------------------------------------------------

static uint32_t slot(const CantusSchedQueue *q, uint32_t i)
{
  return (q->head + i) % CANTUS_SCHED_CAP;
}

// a sorts strictly after b
static bool after(const CantusSchedEvent *a, const CantusSchedEvent *b)
{
  return a->time > b->time || (a->time == b->time && a->kind > b->kind);
}

void cantus_schedule_queue_clear(CantusSchedQueue *q)
{
  q->head = 0;
  q->n = 0;
}

bool cantus_schedule_queue_push(CantusSchedQueue *q, const CantusSchedEvent *e)
{
  if (q->n >= CANTUS_SCHED_CAP) {
    return false;
  }
  // Generation is mostly in time order: scan from the tail.
  uint32_t i = q->n;
  while (i > 0 && after(&q->ev[slot(q, i - 1)], e)) {
    q->ev[slot(q, i)] = q->ev[slot(q, i - 1)];
    i--;
  }
  q->ev[slot(q, i)] = *e;
  q->n++;
  return true;
}

CantusSchedEvent *cantus_schedule_queue_at(CantusSchedQueue *q, uint32_t i)
{
  return &q->ev[slot(q, i)];
}

void cantus_schedule_queue_pop(CantusSchedQueue *q)
{
  if (q->n > 0) {
    q->head = (q->head + 1) % CANTUS_SCHED_CAP;
    q->n--;
  }
}

void cantus_schedule_queue_remove(CantusSchedQueue *q, uint32_t i)
{
  if (i >= q->n) {
    return;
  }
  for (uint32_t j = i; j + 1 < q->n; j++) {
    q->ev[slot(q, j)] = q->ev[slot(q, j + 1)];
  }
  q->n--;
}

uint32_t cantus_schedule_queue_drop_from(CantusSchedQueue *q, int64_t tick, int kind)
{
  uint32_t w = 0;
  const uint32_t n = q->n;
  for (uint32_t r = 0; r < n; r++) {
    const CantusSchedEvent *e = &q->ev[slot(q, r)];
    if (e->src_tick >= tick && !(e->flags & CANTUS_SCHED_KEEP) && (kind < 0 || e->kind == kind)) {
      continue;
    }
    if (w != r) {
      q->ev[slot(q, w)] = *e;
    }
    w++;
  }
  q->n = w;
  return n - w;
}

void cantus_schedule_queue_clip_off(CantusSchedQueue *q, uint16_t key, double time)
{
  // Find the offs, take them out, and re-insert them at `time`: at most a
  // few per key, so the re-insertion loop is bounded by the queue size.
  for (uint32_t i = 0; i < q->n; i++) {
    CantusSchedEvent *e = &q->ev[slot(q, i)];
    if (e->kind != CANTUS_SCHED_OFF || e->key != key || !(e->time > time)) {
      continue;
    }
    CantusSchedEvent moved = *e;
    moved.time = time;
    cantus_schedule_queue_remove(q, i);
    // Re-inserted at or before index i (it moved earlier), so the next
    // unseen event is at i + 1; the moved one is no longer later than time.
    cantus_schedule_queue_push(q, &moved); // cannot fail: one slot was freed
  }
}

// ---- tracker ----------------------------------------------------------------

void cantus_schedule_tracker_clear(CantusNoteTracker *t)
{
  t->n = 0;
}

int cantus_schedule_tracker_find_key(const CantusNoteTracker *t, uint16_t key)
{
  for (int i = 0; i < t->n; i++) {
    if (t->v[i].key == key) {
      return i;
    }
  }
  return -1;
}

int cantus_schedule_tracker_find_out(const CantusNoteTracker *t, uint8_t channel, uint8_t pitch)
{
  for (int i = 0; i < t->n; i++) {
    if (t->v[i].channel == channel && t->v[i].pitch == pitch) {
      return i;
    }
  }
  return -1;
}

bool cantus_schedule_tracker_add(CantusNoteTracker *t, const CantusSchedVoice *v)
{
  if (t->n >= CANTUS_MAX_VOICES) {
    return false;
  }
  t->v[t->n++] = *v;
  return true;
}

void cantus_schedule_tracker_remove(CantusNoteTracker *t, int i)
{
  if (i < 0 || i >= t->n) {
    return;
  }
  for (int j = i; j + 1 < t->n; j++) {
    t->v[j] = t->v[j + 1];
  }
  t->n--;
}

// ---- host output gate ----------------------------------------------------------

void cantus_schedule_gate_clear(CantusSchedGate *g)
{
  memset(g, 0, sizeof *g);
}

bool cantus_schedule_gate_pass(CantusSchedGate *g, const uint8_t *msg, uint32_t size, uint32_t room)
{
  const int st = size >= 3 ? msg[0] & 0xF0 : 0;
  const bool on = st == 0x90 && msg[2] > 0, off = st == 0x80 || (st == 0x90 && msg[2] == 0);
  // Room the buffer must keep for the note-offs of the notes let out.
  const uint32_t owed = (uint32_t)g->n_sent;
  uint8_t *s = (on || off) ? &g->state[msg[0] & 0x0F][msg[1] & 0x7F] : NULL;
  if (off && s && *s == 2) {
    *s = 0; // its note-on was held back: so is the note-off
    return false;
  }
  if (off && s && *s == 1) {
    if (room == 0) {
      g->held_back++; // only when the buffer offers fewer events than are owed
      return false;
    }
    *s = 0;
    g->n_sent--;
    return true;
  }
  if (on && *s != 1) {
    if (room >= owed + 2u) { // itself, then its own note-off and the others'
      *s = 1;
      g->n_sent++;
      return true;
    }
    *s = 2;
    g->held_back++;
    return false;
  }
  // Anything else (a re-strike of a sounding note, a stray note-off, other
  // messages) takes only room that is not owed.
  if (room > owed) {
    return true;
  }
  g->held_back++;
  return false;
}
