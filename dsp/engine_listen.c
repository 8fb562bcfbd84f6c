// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's listen and call-and-response: MIDI input becomes observed
// tokens in a FIFO that the generator consumes at their ticks; a player
// note-on silences the model's lookahead, and an idle player hands back to
// the model.  Everything here is [RT].
#include "engine_impl.h"

#include <math.h>
#include <string.h>

void engine_fifo_push(CantusEngine *e, int64_t tick, int token, int kind)
{
  if (e->listen.fifo_n >= ENGINE_FIFO_CAP) {
    e->st.input_dropped++;
    return;
  }
  e->listen.fifo[(e->listen.fifo_head + e->listen.fifo_n) % ENGINE_FIFO_CAP] =
    (EngineFifoEntry){ .tick = tick, .token = token, .kind = kind, .dur = -1 };
  e->listen.fifo_n++;
}

EngineFifoEntry *engine_fifo_front(CantusEngine *e)
{
  return &e->listen.fifo[e->listen.fifo_head];
}

void engine_fifo_pop(CantusEngine *e)
{
  e->listen.fifo_head = (e->listen.fifo_head + 1) % ENGINE_FIFO_CAP;
  e->listen.fifo_n--;
}

// Format 2: the length of the player's held note at pitch mp (model
// pitch), ended at `tick`; every held note with tick < 0.
static void fifo_note_end(CantusEngine *e, int mp, int64_t tick)
{
  for (uint32_t i = e->listen.fifo_n; i-- > 0;) {
    EngineFifoEntry *f = &e->listen.fifo[(e->listen.fifo_head + i) % ENGINE_FIFO_CAP];
    if (f->kind != FIFO_NOTE || f->dur >= 0) {
      continue;
    }
    int pitch = 0;
    cantus_vocab_decode(vocab(e), f->token, &pitch);
    if (tick < 0 || pitch == mp) {
      const int64_t end = tick < 0 ? -tick : tick;
      f->dur = end > f->tick ? end - f->tick : 1;
      if (tick >= 0) {
        return;
      }
    }
  }
}

static int64_t fifo_last_tick(CantusEngine *e)
{
  return e->listen.fifo_n
           ? e->listen.fifo[(e->listen.fifo_head + e->listen.fifo_n - 1) % ENGINE_FIFO_CAP].tick
           : INT64_MIN;
}

// The model stops at `tick`: what it generated from there is undone, its
// sounding notes end there (output and, as observed tokens, the network).
void engine_listen_silence(CantusEngine *e, int64_t tick)
{
  engine_rollback(e, tick);
  // When nothing could be undone (no snapshot), still start nothing of the
  // model's from here (its note-offs stay, so nothing hangs).
  cantus_schedule_queue_drop_from(&e->voices.q, tick, CANTUS_SCHED_ON);
  const CantusVocab *v = vocab(e);
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    for (int k = 0; k < 8; k++) { // (format 1: on[p] is 1, part 0)
      if ((e->gen.cur.ns.on[p] >> k) & 1u) {
        engine_sched_push(
          e, (double)tick, tick, tick, CANTUS_SCHED_OFF, note_key(p, k), 0, CANTUS_SCHED_KEEP);
      }
    }
    if (e->gen.cur.ns.on[p]) {
      if (!e->gen.form) { // (format 2 has no NOTE_OFF: see the cut below)
        engine_fifo_push(e, tick, cantus_vocab_note_off(v, p), FIFO_TOKEN);
      }
    }
  }
  if (e->gen.form) {
    cantus_notes_cut(&e->gen.cur.ns, tick); // they end for the network too
  }
}

void engine_listen_input(CantusEngine *e, const CantusBlockIn *in)
{
  if (!listening(&e->ctl)) {
    return;
  }
  const CantusVocab *v = vocab(e);
  const uint32_t n_in = in->n_midi_in < CANTUS_MAX_EVENTS ? in->n_midi_in : CANTUS_MAX_EVENTS;
  const int64_t t_min = ceil_tick(e->transport.play_tick);
  for (uint32_t i = 0; in->midi_in && i < n_in; i++) {
    const CantusMidiEvent *ev = &in->midi_in[i];
    if (ev->size < 3) {
      continue;
    }
    const int st = ev->data[0] & 0xF0, note = ev->data[1] & 0x7F, vel = ev->data[2] & 0x7F;
    const bool on = st == 0x90 && vel > 0, off = st == 0x80 || (st == 0x90 && vel == 0);
    if ((!on && !off) || !engine_chord_heard(e, note)) {
      continue; // not a note, or a chord below the split (engine_chord.c)
    }
    const uint32_t fr = ev->frame < in->n_frames ? ev->frame : in->n_frames - 1;
    const double t_raw =
      cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now + fr);
    if (on && !e->listen.held_in[note]) {
      e->listen.held_in[note] = 1;
      e->listen.n_held_in++;
    } else if (off && e->listen.held_in[note]) {
      e->listen.held_in[note] = 0;
      e->listen.n_held_in--;
    }
    e->listen.last_input_tick = t_raw;
    e->listen.have_input = true;
    const int mp = note - e->ctl.transpose;
    if (e->hold.state != HOLD_OFF || mp < v->pitch_lo || mp > v->pitch_hi) {
      continue;
    }
    int64_t t = (int64_t)llround(t_raw);
    t = t < t_min ? t_min : t;
    if (on && (e->listen.mode == LISTEN_GEN || e->listen.mode == LISTEN_ANSWER)) {
      // The player takes over: the model's lookahead is undone from here.
      engine_listen_silence(e, t);
      e->gen.cur.theme_pos = THEME_ABANDONED; // the player's music replaces the theme
      e->listen.mode = LISTEN_FOLLOW;
      engine_chord_call_start(e);
    } else if (on && e->listen.mode == LISTEN_WAIT) {
      e->listen.mode = LISTEN_FOLLOW;
      engine_chord_call_start(e);
    }
    if (e->listen.mode != LISTEN_FOLLOW) {
      continue;
    }
    engine_chord_call_note(e, t, note, on);
    const int64_t last = fifo_last_tick(e);
    t = t < last ? last : t;
    t = t < e->gen.cur.ns.tick ? e->gen.cur.ns.tick : t;
    if (e->gen.form) {
      if (on) {
        engine_fifo_push(e, t, cantus_vocab_note(v, 0, mp), FIFO_NOTE); // the player is part 1
      } else {
        fifo_note_end(e, mp, t);
      }
      continue;
    }
    engine_fifo_push(
      e, t, on ? cantus_vocab_note_on(v, mp) : cantus_vocab_note_off(v, mp), FIFO_TOKEN);
  }
  // The player is idle after wait_beats without input and with no note held
  // (a note held longer than max_note_beats counts as released).
  if (e->listen.mode == LISTEN_FOLLOW && e->listen.have_input) {
    const double quiet = e->transport.play_tick - e->listen.last_input_tick;
    if (quiet >= e->ctl.wait_beats * e->transport.tpb &&
        (e->listen.n_held_in == 0 || quiet >= max_note_ticks(e))) {
      const double r0 = e->listen.last_input_tick + e->ctl.wait_beats * e->transport.tpb;
      // On the next beat.
      int64_t r = ceil_tick(ceil(r0 / e->transport.tpb - 1e-9) * e->transport.tpb);
      r = r < t_min ? t_min : r;
      fifo_note_end(e, 0, -r); // notes still held end here
      engine_fifo_push(e, r, 0, FIFO_MOVE);
      memset(e->listen.held_in, 0, sizeof e->listen.held_in);
      e->listen.n_held_in = 0;
      if (e->ctl.call_response) {
        e->listen.mode = LISTEN_ANSWER;
        e->listen.answer_end = r + (int64_t)e->ctl.response_bars * e->transport.bar_ticks;
        engine_chord_answer(e, r, e->listen.answer_end); // in the call's key and chords
      } else {
        e->listen.mode = LISTEN_GEN;
      }
    }
  }
}
