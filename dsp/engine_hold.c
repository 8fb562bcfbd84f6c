// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's hold: the history of recent notes and the held loop that
// repeats them (engine.h: hold, hold_bars).  While a loop plays the
// generator is frozen; on release it continues from where it froze, moved
// by whole bars.  Everything here is [RT].
#include "engine_impl.h"

#define HOLD_PER_BLOCK 256 // held-loop notes scheduled per block at most
enum { FLAG_REPLAY = 2 };  // queued by a held loop (with CANTUS_SCHED_KEEP)

static EngineHistNote *hist_at(CantusEngine *e, uint32_t i)
{
  return &e->hold.hist[(e->hold.hist_head + i) % ENGINE_HIST_CAP];
}

void engine_hist_add(CantusEngine *e, int64_t on, uint16_t key, uint8_t vel)
{
  if (e->hold.hist_n == ENGINE_HIST_CAP) {
    e->hold.hist_head = (e->hold.hist_head + 1) % ENGINE_HIST_CAP;
    e->hold.hist_n--;
  }
  *hist_at(e, e->hold.hist_n++) = (EngineHistNote){ .on = on, .off = -1, .key = key, .vel = vel };
}

void engine_hist_close(CantusEngine *e, uint16_t key, int64_t off)
{
  for (uint32_t i = e->hold.hist_n; i-- > 0;) {
    EngineHistNote *h = hist_at(e, i);
    if (h->key == key && h->off < 0) {
      h->off = off;
      return;
    }
  }
}

// Undoes the history of tokens at or after `tick` (a rollback).
void engine_hist_cut(CantusEngine *e, int64_t tick)
{
  engine_chord_ending_forget(e, tick); // the ending's key came from these notes
  while (e->hold.hist_n > 0 && hist_at(e, e->hold.hist_n - 1)->on >= tick) {
    e->hold.hist_n--;
  }
  for (uint32_t i = 0; i < e->hold.hist_n; i++) {
    EngineHistNote *h = hist_at(e, i);
    if (h->off >= tick) {
      h->off = -1;
    }
  }
}

static int64_t next_bar_line(const CantusEngine *e, int64_t tick)
{
  return -floor_div(-tick, e->transport.bar_ticks) * e->transport.bar_ticks;
}

// The held loop starts and ends on phrase lines: its end le is the first
// bar line at or after the play head whose bar, counted from the phrase
// origin (a format 2 stream's first full bar, else bar 0), is a multiple
// of hold_bars; so the phrase in progress plays out and then repeats.
void engine_hold_engage(CantusEngine *e)
{
  const int64_t bt = e->transport.bar_ticks;
  int64_t le = next_bar_line(e, ceil_tick(e->transport.play_tick));
  const int64_t origin = e->gen.form ? e->gen.lb.first_full_bar : 0;
  const int64_t hb = e->ctl.hold_bars > 0 ? e->ctl.hold_bars : 1;
  int64_t r = (floor_div(le, bt) - origin) % hb;
  r = r < 0 ? r + hb : r;
  if (r != 0) {
    le += (hb - r) * bt;
  }
  engine_rollback(e, le);
  e->hold.le = le;
  e->hold.len = (int64_t)e->ctl.hold_bars * e->transport.bar_ticks;
  e->hold.ls = le - e->hold.len;
  e->hold.state = HOLD_FILL;
}

// The generator reached the end of the held bars: copy them out of the
// history, end the notes still sounding there, and start looping.
void engine_hold_freeze(CantusEngine *e)
{
  e->hold.n_notes = 0;
  for (uint32_t i = 0; i < e->hold.hist_n && e->hold.n_notes < ENGINE_HOLD_CAP; i++) {
    const EngineHistNote *h = hist_at(e, i);
    if (h->on < e->hold.ls || h->on >= e->hold.le) {
      continue;
    }
    const int64_t off = h->off < 0 || h->off > e->hold.le ? e->hold.le : h->off;
    e->hold.notes[e->hold.n_notes++] = (EngineHoldNote){
      .on = h->on - e->hold.ls, .off = off - e->hold.ls, .hum = h->on, .key = h->key, .vel = h->vel
    };
  }
  const CantusVocab *v = vocab(e);
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    for (int k = 0; k < 8; k++) { // (format 1: on[p] is 1, part 0)
      if ((e->gen.cur.ns.on[p] >> k) & 1u) {
        engine_sched_push(e,
                          (double)e->hold.le,
                          e->hold.le,
                          e->hold.le,
                          CANTUS_SCHED_OFF,
                          note_key(p, k),
                          0,
                          CANTUS_SCHED_KEEP);
      }
    }
  }
  e->hold.rep_base = e->hold.le;
  e->hold.rep_idx = 0;
  e->hold.state = HOLD_LOOP;
}

// Positions the loop's replay at the first note at or after `tick`.
void engine_hold_align(CantusEngine *e, int64_t tick)
{
  e->hold.rep_base = tick - mod64(tick - e->hold.le, e->hold.len);
  e->hold.rep_idx = 0;
  while (e->hold.rep_idx < e->hold.n_notes &&
         e->hold.rep_base + e->hold.notes[e->hold.rep_idx].on < tick) {
    e->hold.rep_idx++;
  }
  if (e->hold.rep_idx == e->hold.n_notes) {
    e->hold.rep_idx = 0;
    e->hold.rep_base += e->hold.len;
  }
}

void engine_hold_replay(CantusEngine *e)
{
  if (e->hold.state != HOLD_LOOP) {
    return;
  }
  const double horizon = e->transport.end_tick + e->lookahead_beats * e->transport.tpb;
  const uint8_t fl = CANTUS_SCHED_KEEP | FLAG_REPLAY;
  for (int k = 0; k < HOLD_PER_BLOCK; k++) {
    if (e->hold.n_notes == 0) {
      if ((double)(e->hold.rep_base + e->hold.len) > horizon) {
        break;
      }
      e->hold.rep_base += e->hold.len;
      continue;
    }
    const EngineHoldNote *h = &e->hold.notes[e->hold.rep_idx];
    const int64_t on = e->hold.rep_base + h->on;
    if ((double)on >= horizon || queue_free(e) < 4) {
      break;
    }
    engine_sched_on(e, on, h->hum, h->key, h->vel, fl);
    engine_sched_off(e, on, e->hold.rep_base + h->off, on, h->key, fl);
    if (++e->hold.rep_idx == e->hold.n_notes) {
      e->hold.rep_idx = 0;
      e->hold.rep_base += e->hold.len;
    }
  }
}

void engine_hold_release(CantusEngine *e)
{
  if (e->hold.state == HOLD_FILL) {
    e->hold.state = HOLD_OFF;
    return;
  }
  const int64_t end = next_bar_line(e, ceil_tick(e->transport.play_tick));
  // Replayed notes from the release bar line on are dropped; those sounding
  // across it end there.
  for (uint32_t i = 0, k = 0; k < CANTUS_SCHED_CAP && i < e->voices.q.n; k++) {
    const CantusSchedEvent *ev = cantus_schedule_queue_at(&e->voices.q, i);
    if ((ev->flags & FLAG_REPLAY) && ev->kind == CANTUS_SCHED_ON && ev->time >= (double)end) {
      cantus_schedule_queue_remove(&e->voices.q, i);
    } else {
      i++;
    }
  }
  for (int key = 0; key < n_keys(e); key++) {
    cantus_schedule_queue_clip_off(&e->voices.q, (uint16_t)key, (double)end);
  }
  // The generator continues from where it froze, moved by whole bars so
  // that its metric position is unchanged.
  const int64_t d = end - e->hold.le;
  e->gen.cur.ns.tick += d;
  for (int p = 0; p < 128; p++) {
    if (e->gen.cur.ns.on[p]) {
      e->gen.cur.ns.onset_tick[p] += d;
    }
  }
  for (int i = 0; i < e->gen.cur.ns.n_ends; i++) {
    e->gen.cur.ns.ends[i].end += d;
  }
  engine_gen_form_skip(e, d);
  e->timeline.ring_n = 0;
  e->hold.hist_n = 0;
  engine_ckpt_invalidate_after(
    e, floor_div(e->hold.le < end ? e->hold.le : end, e->transport.bar_ticks) - 1);
  e->hold.state = HOLD_OFF;
}
