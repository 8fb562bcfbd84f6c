// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's timeline memory: snapshots of the generator (its position,
// RNG, note state and the LSTM's h and c) as bar checkpoints, which make a
// pass over remembered bars replay them, and as the rollback ring, one per
// step ahead of the play head, which lets a change undo the lookahead.
// Everything here is [RT]: the snapshots live in the installed model's
// extra region (cantus_engine_snap_layout); nothing allocates.
#include "engine_impl.h"

#include <string.h>

void engine_snap_store(CantusEngine *e, uint8_t *slot)
{
  EngineSnapHdr *h = snap_hdr(slot);
  h->g = e->gen.cur;
  if (e->timeline.lay.lb_size) {
    memcpy(slot + e->timeline.lay.hdr_size, &e->gen.lb, sizeof e->gen.lb);
  }
  memcpy(slot + e->timeline.lay.state_off,
         e->model->state.hc,
         e->timeline.lay.state_floats * sizeof(float));
}

void engine_snap_load(CantusEngine *e, uint8_t *slot)
{
  e->gen.cur = snap_hdr(slot)->g;
  if (e->timeline.lay.lb_size) {
    memcpy(&e->gen.lb, slot + e->timeline.lay.hdr_size, sizeof e->gen.lb);
  }
  memcpy(e->model->state.hc,
         slot + e->timeline.lay.state_off,
         e->timeline.lay.state_floats * sizeof(float));
}

// Validity lives in the engine's compact table (bar and timeline id per
// slot), so forgetting bars touches 16 KiB, not every snapshot.
bool engine_ckpt_valid(CantusEngine *e, int64_t bar)
{
  const size_t i = (size_t)mod64(bar, CANTUS_TIMELINE_BARS);
  return e->timeline.ck_id[i] == e->timeline.id && e->timeline.ck_bar[i] == bar;
}

void engine_ckpt_store(CantusEngine *e, int64_t bar)
{
  const size_t i = (size_t)mod64(bar, CANTUS_TIMELINE_BARS);
  engine_snap_store(e, ckpt_slot(e, bar));
  e->timeline.ck_bar[i] = bar;
  e->timeline.ck_id[i] = e->timeline.id;
}

// Forgets the checkpoints of every bar after `bar`.
void engine_ckpt_invalidate_after(CantusEngine *e, int64_t bar)
{
  for (uint32_t i = 0; i < CANTUS_TIMELINE_BARS; i++) {
    if (e->timeline.ck_bar[i] > bar) {
      e->timeline.ck_id[i] = 0;
    }
  }
}

// Forgets the timeline after a rollback to a tick in bar `bar`: the bars
// after it, and `bar` itself when the generator now stands before its line
// (a shift across the line was undone, or the generator had not reached
// it), so that re-entering the bar writes a new checkpoint instead of
// restoring the old stream.
void engine_ckpt_invalidate_ahead(CantusEngine *e, int64_t bar)
{
  const int64_t at = floor_div(e->gen.cur.ns.tick, e->transport.bar_ticks);
  engine_ckpt_invalidate_after(e, at < bar ? at : bar);
}

static int64_t ring_tick(CantusEngine *e, uint32_t i)
{
  return i < e->timeline.ring_n ? snap_hdr(ring_slot(e, i))->g.ns.tick : e->gen.cur.ns.tick;
}

// Keeps the newest snapshot whose cursor is before `tick` and everything
// after it: rollbacks never go further back than the play head.
void engine_ring_trim(CantusEngine *e, int64_t tick)
{
  for (uint32_t k = 0; k < ENGINE_RING_CAP && e->timeline.ring_n > 0 && ring_tick(e, 1) < tick;
       k++) {
    e->timeline.ring_head = (e->timeline.ring_head + 1) % ENGINE_RING_CAP;
    e->timeline.ring_n--;
  }
}

// Rolls the generator back so that every token at or after `tick` is decided
// again: restores the newest snapshot before it and drops what the undone
// tokens scheduled.  Never undoes tokens before the play head (the ring is
// trimmed there), so what already sounded stays consistent.
static void rollback(CantusEngine *e, int64_t tick, bool observe)
{
  if (e->gen.cur.ns.tick < tick || e->timeline.ring_n == 0) {
    return; // nothing at or after tick decided yet (or nothing to undo)
  }
  uint32_t j = 0;
  for (uint32_t i = e->timeline.ring_n; i-- > 0;) {
    if (snap_hdr(ring_slot(e, i))->g.ns.tick < tick) {
      j = i;
      break;
    }
  }
  engine_snap_load(e, ring_slot(e, j));
  e->timeline.ring_n = j;
  e->gen.rolled_back = true;
  const int64_t cut = e->gen.cur.ns.tick > tick ? e->gen.cur.ns.tick : tick;
  cantus_schedule_queue_drop_from(&e->voices.q, cut, -1);
  engine_hist_cut(e, cut);
  if (observe && e->gen.cur.ns.tick < tick) {
    // The undone token was the shift across `tick`; it is fed again as an
    // observed token, so a new decision cannot land before `tick`.
    engine_fifo_push(e, tick, 0, FIFO_MOVE);
  }
}

void engine_rollback(CantusEngine *e, int64_t tick)
{
  rollback(e, tick, true);
}

void engine_rollback_redecide(CantusEngine *e, int64_t tick)
{
  rollback(e, tick, false);
}
