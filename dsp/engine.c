// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's real-time half: one call per block follows the transport,
// runs a bounded number of LSTM steps to keep the lookahead filled, and
// emits the queued notes that fall inside the block (engine.h documents the
// behaviour).  Everything here is [RT]: no allocation, no locks, no I/O; the
// only library calls are memcpy and libm; every loop is bounded by the block
// length, a CANTUS_MAX_* / ENGINE_* constant or the model's sizes.
#include "controls.h"
#include "engine_impl.h"

#include <math.h>
#include <string.h>

#define TOL_TICKS 0.125       // transport positions closer than this are "continuous"
#define MIN_NOTE_TICKS 0.0625 // shortest note after gate
#define QUEUE_RESERVE 160     // free queue slots a step needs (one event, or offs at a bar restore)
#define HOLD_PER_BLOCK 256    // held-loop notes scheduled per block at most
#define LOOP_GUARD (CANTUS_MAX_STEPS_PER_RUN + ENGINE_FIFO_CAP + CANTUS_MAX_THEME + 64)

enum { SRC_GEN = 0, SRC_THEME, SRC_PLAYER };
enum { FLAG_REPLAY = 2 }; // queued by a held loop (with CANTUS_SCHED_KEEP)
#define THEME_ABANDONED UINT32_MAX

// ---- small helpers ------------------------------------------------------------

static int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) {
    q--;
  }
  return q;
}

static int64_t mod64(int64_t a, int64_t b)
{
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// Smallest integer tick >= t, forgiving float rounding just above a tick.
static int64_t ceil_tick(double t)
{
  return (int64_t)ceil(t - 1e-6);
}

static const CantusVocab *vocab(const CantusEngine *e)
{
  return &e->model->net.dims.vocab;
}

static bool listening(const CantusControls *c)
{
  return c->listen || c->call_response;
}

// ---- snapshots (bar checkpoints and the rollback ring) --------------------------

static EngineSnapHdr *snap_hdr(uint8_t *slot)
{
  return (EngineSnapHdr *)(void *)slot;
}

static void snap_store(CantusEngine *e, uint8_t *slot)
{
  EngineSnapHdr *h = snap_hdr(slot);
  h->g = e->g;
  memcpy(slot + e->lay.hdr_size, e->model->state.hc, e->lay.state_floats * sizeof(float));
}

static void snap_load(CantusEngine *e, uint8_t *slot)
{
  e->g = snap_hdr(slot)->g;
  memcpy(e->model->state.hc, slot + e->lay.hdr_size, e->lay.state_floats * sizeof(float));
}

static uint8_t *ckpt_slot(CantusEngine *e, int64_t bar)
{
  return e->ckpt + (size_t)mod64(bar, CANTUS_TIMELINE_BARS) * e->lay.snap_size;
}

// Validity lives in the engine's compact table (bar and timeline id per
// slot), so forgetting bars touches 16 KiB, not every snapshot.
static bool ckpt_valid(CantusEngine *e, int64_t bar)
{
  const size_t i = (size_t)mod64(bar, CANTUS_TIMELINE_BARS);
  return e->ck_id[i] == e->timeline_id && e->ck_bar[i] == bar;
}

static void ckpt_store(CantusEngine *e, int64_t bar)
{
  const size_t i = (size_t)mod64(bar, CANTUS_TIMELINE_BARS);
  snap_store(e, ckpt_slot(e, bar));
  e->ck_bar[i] = bar;
  e->ck_id[i] = e->timeline_id;
}

// Forgets the checkpoints of every bar after `bar`.
static void ckpt_invalidate_after(CantusEngine *e, int64_t bar)
{
  for (uint32_t i = 0; i < CANTUS_TIMELINE_BARS; i++) {
    if (e->ck_bar[i] > bar) {
      e->ck_id[i] = 0;
    }
  }
}

// Forgets the timeline after a rollback to a tick in bar `bar`: the bars
// after it, and `bar` itself when the generator now stands before its line
// (a shift across the line was undone, or the generator had not reached
// it), so that re-entering the bar writes a new checkpoint instead of
// restoring the old stream.
static void ckpt_invalidate_ahead(CantusEngine *e, int64_t bar)
{
  const int64_t at = floor_div(e->g.ns.tick, e->bar_ticks);
  ckpt_invalidate_after(e, at < bar ? at : bar);
}

static uint8_t *ring_slot(CantusEngine *e, uint32_t i)
{
  return e->ring + (size_t)((e->ring_head + i) % ENGINE_RING_CAP) * e->lay.snap_size;
}

static int64_t ring_tick(CantusEngine *e, uint32_t i)
{
  return i < e->ring_n ? snap_hdr(ring_slot(e, i))->g.ns.tick : e->g.ns.tick;
}

// Keeps the newest snapshot whose cursor is before `tick` and everything
// after it: rollbacks never go further back than the play head.
static void ring_trim(CantusEngine *e, int64_t tick)
{
  for (uint32_t k = 0; k < ENGINE_RING_CAP && e->ring_n > 0 && ring_tick(e, 1) < tick; k++) {
    e->ring_head = (e->ring_head + 1) % ENGINE_RING_CAP;
    e->ring_n--;
  }
}

// ---- note history (what a held loop repeats) --------------------------------------

static EngineHistNote *hist_at(CantusEngine *e, uint32_t i)
{
  return &e->hist[(e->hist_head + i) % ENGINE_HIST_CAP];
}

static void hist_add(CantusEngine *e, int64_t on, uint8_t key, uint8_t vel)
{
  if (e->hist_n == ENGINE_HIST_CAP) {
    e->hist_head = (e->hist_head + 1) % ENGINE_HIST_CAP;
    e->hist_n--;
  }
  *hist_at(e, e->hist_n++) = (EngineHistNote){ .on = on, .off = -1, .key = key, .vel = vel };
}

static void hist_close(CantusEngine *e, uint8_t key, int64_t off)
{
  for (uint32_t i = e->hist_n; i-- > 0;) {
    EngineHistNote *h = hist_at(e, i);
    if (h->key == key && h->off < 0) {
      h->off = off;
      return;
    }
  }
}

// Undoes the history of tokens at or after `tick` (a rollback).
static void hist_cut(CantusEngine *e, int64_t tick)
{
  while (e->hist_n > 0 && hist_at(e, e->hist_n - 1)->on >= tick) {
    e->hist_n--;
  }
  for (uint32_t i = 0; i < e->hist_n; i++) {
    EngineHistNote *h = hist_at(e, i);
    if (h->off >= tick) {
      h->off = -1;
    }
  }
}

// ---- output -------------------------------------------------------------------------

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
  const CantusSchedVoice *v = &e->tr.v[i];
  out_write(e, out, frame, (uint8_t)(0x80 | v->channel), v->pitch, 0);
  cantus_schedule_tracker_remove(&e->tr, i);
}

static void all_off(CantusEngine *e, CantusBlockOut *out, uint32_t frame)
{
  for (int k = 0; k < CANTUS_MAX_VOICES && e->tr.n > 0; k++) {
    voice_off(e, out, e->tr.n - 1, frame);
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

static void emit_on(CantusEngine *e,
                    CantusBlockOut *out,
                    const CantusSchedEvent *ev,
                    uint32_t frame,
                    bool late)
{
  const CantusControls *c = &e->ctl;
  const int p = ev->key + c->transpose;
  if (!pitch_allowed(c, p)) {
    return; // range, key or transpose changed since it was generated
  }
  int i = cantus_schedule_tracker_find_key(&e->tr, ev->key);
  if (i >= 0) {
    voice_off(e, out, i, frame);
  }
  i = cantus_schedule_tracker_find_out(&e->tr, (uint8_t)c->channel, (uint8_t)p);
  if (i >= 0) {
    voice_off(e, out, i, frame); // never strike a sounding pitch: end it first
  }
  if (e->tr.n >= c->max_voices) {
    return;
  }
  // Room for this note-on and the note-off of every voice, so offs never drop.
  if (out->n_events + 2u + (uint32_t)e->tr.n > CANTUS_MAX_EVENTS) {
    e->st.events_dropped++;
    return;
  }
  out_write(e, out, frame, (uint8_t)(0x90 | c->channel), (uint8_t)p, (uint8_t)out_velocity(e, ev));
  const CantusSchedVoice v = {
    .key = ev->key, .channel = (uint8_t)c->channel, .pitch = (uint8_t)p, .onset = ev->time
  };
  cantus_schedule_tracker_add(&e->tr, &v);
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
  const int i = cantus_schedule_tracker_find_key(&e->tr, ev->key);
  if (i < 0) {
    return; // never sounded, or already ended (stop, panic, re-strike)
  }
  voice_off(e, out, i, frame);
  if (late) {
    e->st.late_events++;
  }
}

// ---- time ---------------------------------------------------------------------------

// The metric position input of a step at `tick`.
static void position(const CantusEngine *e, int64_t tick, int *pt, int *pb)
{
  const CantusDims *d = &e->model->net.dims;
  cantus_engine_position(
    tick, e->bar_ticks, d->vocab.tpq, (int)d->n_pos_tick, (int)d->n_pos_beat, pt, pb);
}

// Swing: a monotone warp of each quarter note that moves its second 8th
// later by swing * an 8th; the first half stretches, the second compresses.
static double warp(const CantusEngine *e, double t)
{
  const double sw = (double)e->ctl.swing;
  if (!(sw > 0.0)) {
    return t;
  }
  const double q = (double)vocab(e)->tpq;
  const double base = floor(t / q) * q;
  const double x = t - base, h = 0.5 * q, h2 = h * (1.0 + sw);
  return base + (x < h ? x * h2 / h : h2 + (x - h) * (q - h2) / (q - h));
}

static double max_note_ticks(const CantusEngine *e)
{
  return e->ctl.max_note_beats * e->tpb;
}

// ---- scheduling -------------------------------------------------------------------------

static uint32_t queue_free(const CantusEngine *e)
{
  return CANTUS_SCHED_CAP - e->q.n;
}

static void push_event(CantusEngine *e,
                       double time,
                       int64_t src,
                       int64_t hum,
                       uint8_t kind,
                       uint8_t key,
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
  if (!cantus_schedule_queue_push(&e->q, &ev)) {
    e->st.events_dropped++;
  }
}

static void sched_on(CantusEngine *e,
                     int64_t tick,
                     int64_t hum,
                     uint8_t key,
                     uint8_t vel,
                     uint8_t flags)
{
  const double w = warp(e, (double)tick);
  cantus_schedule_queue_clip_off(&e->q, key, w); // a gated note ends before its re-strike
  push_event(e, w, tick, hum, CANTUS_SCHED_ON, key, vel, flags);
}

// Note-off of a note from `on` whose OFF token came at `off`: gate scales
// the length (a zero-length note lasts one tick); a gate above 1 never makes
// it longer than max_note_beats (or its own length, if that is longer); it
// never ends before it starts.  A shorter gate cannot act earlier than a
// lookahead before the OFF token: the length is only known when the token is
// generated, and the generator runs at most a lookahead ahead.
static void sched_off(CantusEngine *e,
                      int64_t on,
                      int64_t off,
                      int64_t src,
                      uint8_t key,
                      uint8_t flags)
{
  const double raw = (double)(off > on ? off - on : 1);
  double len = raw * (double)e->ctl.gate;
  const double cap = max_note_ticks(e) > raw ? max_note_ticks(e) : raw;
  len = len > cap ? cap : len;
  const double earliest = (double)off - e->lookahead_beats * e->tpb - (double)on;
  len = len < earliest ? earliest : len;
  len = len < MIN_NOTE_TICKS ? MIN_NOTE_TICKS : len;
  push_event(e, warp(e, (double)on + len), src, on, CANTUS_SCHED_OFF, key, 0, flags);
}

static void fifo_push(CantusEngine *e, int64_t tick, int token, int kind);

// ---- generator ---------------------------------------------------------------------------

static void reseed(CantusEngine *e, uint64_t index)
{
  cantus_rng_seed(&e->g.rng, cantus_rng_mix(cantus_rng_mix(e->ctl.seed, e->epoch), index));
}

static bool theme_usable(const CantusEngine *e)
{
  const CantusVocab *a = &e->theme_vocab, *b = vocab(e);
  return e->theme_set && a->pitch_lo == b->pitch_lo && a->pitch_hi == b->pitch_hi &&
         a->n_shift == b->n_shift && a->n_vel == b->n_vel && a->tpq == b->tpq;
}

// A new start of the token stream at bar `bar`: zero state, START token,
// the RNG of (seed, regenerate count, bar), the theme from that bar on.
static void fresh_start(CantusEngine *e, int64_t bar)
{
  const int64_t t0 = bar * e->bar_ticks;
  cantus_lstm_reset(&e->model->net, &e->model->state);
  cantus_notes_reset(&e->g.ns, t0);
  reseed(e, (uint64_t)bar);
  e->g.last_token = CANTUS_TOK_START;
  e->g.vel = 0;
  uint32_t pos = 0;
  if (theme_usable(e)) {
    while (pos < e->n_theme && e->theme[pos].tick < t0) {
      pos++;
    }
  }
  e->g.theme_pos = pos;
}

// Rolls the generator back so that every token at or after `tick` is decided
// again: restores the newest snapshot before it and drops what the undone
// tokens scheduled.  Never undoes tokens before the play head (the ring is
// trimmed there), so what already sounded stays consistent.
static void rollback(CantusEngine *e, int64_t tick)
{
  if (e->g.ns.tick < tick || e->ring_n == 0) {
    return; // nothing at or after tick decided yet (or nothing to undo)
  }
  uint32_t j = 0;
  for (uint32_t i = e->ring_n; i-- > 0;) {
    if (snap_hdr(ring_slot(e, i))->g.ns.tick < tick) {
      j = i;
      break;
    }
  }
  snap_load(e, ring_slot(e, j));
  e->ring_n = j;
  const int64_t cut = e->g.ns.tick > tick ? e->g.ns.tick : tick;
  cantus_schedule_queue_drop_from(&e->q, cut, -1);
  hist_cut(e, cut);
  if (e->g.ns.tick < tick) {
    // The undone token was the shift across `tick`; it is fed again as an
    // observed token, so a new decision cannot land before `tick`.
    fifo_push(e, tick, 0, FIFO_MOVE);
  }
}

// Entering bar `bar` while generating.  A checkpoint written on an earlier
// pass is restored (the timeline is remembered), unless the music is being
// shaped by a player (listen); otherwise this bar's checkpoint is written.
static void bar_enter(CantusEngine *e, int64_t bar, int64_t at)
{
  if (e->hold_state != HOLD_OFF && at >= e->hold_le) {
    return; // the generator freezes here for a held loop
  }
  uint8_t *slot = ckpt_slot(e, bar);
  if (!ckpt_valid(e, bar) || listening(&e->ctl)) {
    ckpt_store(e, bar);
    return;
  }
  // Notes this stream has sounding that the remembered one does not would
  // never get their OFF token: end them at the bar line.
  const EngineSnapHdr *h = snap_hdr(slot);
  const CantusVocab *v = vocab(e);
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    if (e->g.ns.on[p] && !h->g.ns.on[p] && e->g.ns.onset_tick[p] >= e->suppress_before) {
      push_event(
        e, warp(e, (double)at), at, e->g.ns.onset_tick[p], CANTUS_SCHED_OFF, (uint8_t)p, 0, 0);
    }
  }
  snap_load(e, slot);
}

static void consume(CantusEngine *e, int token, int src)
{
  const CantusVocab *v = vocab(e);
  int val = 0;
  const CantusEventKind kind = cantus_vocab_decode(v, token, &val);
  const int64_t c0 = e->g.ns.tick;
  const bool audible = src != SRC_PLAYER;
  switch (kind) {
  case CANTUS_EV_NOTE_ON:
    if (!e->g.ns.on[val] && audible && c0 >= e->suppress_before) {
      sched_on(e, c0, c0, (uint8_t)val, (uint8_t)e->g.vel, 0);
      hist_add(e, c0, (uint8_t)val, (uint8_t)e->g.vel);
    }
    cantus_notes_apply(&e->g.ns, v, token);
    break;
  case CANTUS_EV_NOTE_OFF: {
    const bool was_on = e->g.ns.on[val] != 0;
    const int64_t onset = e->g.ns.onset_tick[val];
    cantus_notes_apply(&e->g.ns, v, token);
    if (was_on && audible && onset >= e->suppress_before) {
      sched_off(e, onset, c0, c0, (uint8_t)val, 0);
      hist_close(e, (uint8_t)val, c0);
    }
    break;
  }
  case CANTUS_EV_SHIFT: {
    cantus_notes_apply(&e->g.ns, v, token);
    const int64_t b0 = floor_div(c0, e->bar_ticks), b1 = floor_div(e->g.ns.tick, e->bar_ticks);
    e->g.last_token = token;
    if (b1 > b0) {
      bar_enter(e, b1, e->g.ns.tick);
    }
    return;
  }
  case CANTUS_EV_VELOCITY:
    e->g.vel = cantus_vocab_bin_to_vel(v, val);
    break;
  default:
    break;
  }
  e->g.last_token = token;
}

// One LSTM step: consumes the previous token at the cursor's metric
// position, then takes `token` (observed) or samples one (token < 0).
static void do_step(CantusEngine *e, int token, int src)
{
  CantusModel *m = e->model;
  if (e->ring_n < ENGINE_RING_CAP) {
    snap_store(e, ring_slot(e, e->ring_n));
    e->ring_n++;
  }
  // The input token's own tick (a shift's start), as the trainer feeds it.
  int64_t at = e->g.ns.tick;
  int shift = 0;
  if (cantus_vocab_decode(vocab(e), e->g.last_token, &shift) == CANTUS_EV_SHIFT) {
    at -= shift;
  }
  int pt = 0, pb = 0;
  position(e, at, &pt, &pb);
  cantus_lstm_step(&m->net, &m->state, e->g.last_token, pt, pb, m->logits);
  if (token < 0) {
    float lp = 0.0f;
    token = cantus_sample_token(vocab(e), m->logits, e->scratch, &e->sp, &e->g.ns, &e->g.rng, &lp);
    int val = 0;
    if (cantus_vocab_decode(vocab(e), token, &val) == CANTUS_EV_NOTE_ON) {
      e->surprise = -lp;
    }
  }
  consume(e, token, src);
  e->st.steps++;
}

static int shift_token(const CantusEngine *e, int64_t gap)
{
  const int n = vocab(e)->n_shift;
  return cantus_vocab_shift(vocab(e), gap > n ? n : (int)gap);
}

// The next theme token at the cursor (a shift towards the next theme event,
// or the event), or -1 once the theme is over.  Events that do not fit the
// note state (a hostile theme) are skipped.
static int theme_next(CantusEngine *e)
{
  if (!theme_usable(e)) {
    return -1;
  }
  const CantusVocab *v = vocab(e);
  const int64_t c = e->g.ns.tick;
  for (uint32_t k = 0; k <= CANTUS_MAX_THEME && e->g.theme_pos < e->n_theme; k++) {
    const EngineThemeEvent *ev = &e->theme[e->g.theme_pos];
    if (ev->tick > c) {
      return shift_token(e, ev->tick - c);
    }
    int val = 0;
    const CantusEventKind kind = cantus_vocab_decode(v, ev->token, &val);
    e->g.theme_pos++;
    if ((kind == CANTUS_EV_NOTE_ON && !e->g.ns.on[val]) ||
        (kind == CANTUS_EV_NOTE_OFF && e->g.ns.on[val]) || kind == CANTUS_EV_VELOCITY) {
      return ev->token;
    }
  }
  if (e->g.theme_pos != THEME_ABANDONED && e->g.theme_pos >= e->n_theme && c < e->theme_end) {
    return shift_token(e, e->theme_end - c);
  }
  return -1;
}

// Moves the cursor over `ticks` of silence without steps (long player
// pauses are shortened for the network to at most two bars).
static void skip_ticks(CantusEngine *e, int64_t ticks)
{
  const int64_t b0 = floor_div(e->g.ns.tick, e->bar_ticks);
  e->g.ns.tick += ticks;
  const int64_t b1 = floor_div(e->g.ns.tick, e->bar_ticks);
  if (b1 > b0) {
    ckpt_store(e, b1);
  }
}

// ---- listen and call-and-response ---------------------------------------------------------

static void fifo_push(CantusEngine *e, int64_t tick, int token, int kind)
{
  if (e->fifo_n >= ENGINE_FIFO_CAP) {
    e->st.input_dropped++;
    return;
  }
  e->fifo[(e->fifo_head + e->fifo_n) % ENGINE_FIFO_CAP] =
    (EngineFifoEntry){ .tick = tick, .token = token, .kind = kind };
  e->fifo_n++;
}

static EngineFifoEntry *fifo_front(CantusEngine *e)
{
  return &e->fifo[e->fifo_head];
}

static void fifo_pop(CantusEngine *e)
{
  e->fifo_head = (e->fifo_head + 1) % ENGINE_FIFO_CAP;
  e->fifo_n--;
}

static int64_t fifo_last_tick(CantusEngine *e)
{
  return e->fifo_n ? e->fifo[(e->fifo_head + e->fifo_n - 1) % ENGINE_FIFO_CAP].tick : INT64_MIN;
}

// The model stops at `tick`: what it generated from there is undone, its
// sounding notes end there (output and, as observed tokens, the network).
static void silence_model(CantusEngine *e, int64_t tick)
{
  rollback(e, tick);
  // When nothing could be undone (no snapshot), still start nothing of the
  // model's from here (its note-offs stay, so nothing hangs).
  cantus_schedule_queue_drop_from(&e->q, tick, CANTUS_SCHED_ON);
  const CantusVocab *v = vocab(e);
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    if (e->g.ns.on[p]) {
      push_event(e, (double)tick, tick, tick, CANTUS_SCHED_OFF, (uint8_t)p, 0, CANTUS_SCHED_KEEP);
      fifo_push(e, tick, cantus_vocab_note_off(v, p), FIFO_TOKEN);
    }
  }
}

static void listen_input(CantusEngine *e, const CantusBlockIn *in)
{
  if (!listening(&e->ctl)) {
    return;
  }
  const CantusVocab *v = vocab(e);
  const uint32_t n_in = in->n_midi_in < CANTUS_MAX_EVENTS ? in->n_midi_in : CANTUS_MAX_EVENTS;
  const int64_t t_min = ceil_tick(e->play_tick);
  for (uint32_t i = 0; in->midi_in && i < n_in; i++) {
    const CantusMidiEvent *ev = &in->midi_in[i];
    if (ev->size < 3) {
      continue;
    }
    const int st = ev->data[0] & 0xF0, note = ev->data[1] & 0x7F, vel = ev->data[2] & 0x7F;
    const bool on = st == 0x90 && vel > 0, off = st == 0x80 || (st == 0x90 && vel == 0);
    if (!on && !off) {
      continue;
    }
    const uint32_t fr = ev->frame < in->n_frames ? ev->frame : in->n_frames - 1;
    const double t_raw = cantus_schedule_clock_tick(&e->clock, e->frame_now + fr);
    if (on && !e->held_in[note]) {
      e->held_in[note] = 1;
      e->n_held_in++;
    } else if (off && e->held_in[note]) {
      e->held_in[note] = 0;
      e->n_held_in--;
    }
    e->last_input_tick = t_raw;
    e->have_input = true;
    const int mp = note - e->ctl.transpose;
    if (e->hold_state != HOLD_OFF || mp < v->pitch_lo || mp > v->pitch_hi) {
      continue;
    }
    int64_t t = (int64_t)llround(t_raw);
    t = t < t_min ? t_min : t;
    if (on && (e->listen_mode == LISTEN_GEN || e->listen_mode == LISTEN_ANSWER)) {
      // The player takes over: the model's lookahead is undone from here.
      silence_model(e, t);
      e->g.theme_pos = THEME_ABANDONED; // the player's music replaces the theme
      e->listen_mode = LISTEN_FOLLOW;
    } else if (on && e->listen_mode == LISTEN_WAIT) {
      e->listen_mode = LISTEN_FOLLOW;
    }
    if (e->listen_mode != LISTEN_FOLLOW) {
      continue;
    }
    const int64_t last = fifo_last_tick(e);
    t = t < last ? last : t;
    t = t < e->g.ns.tick ? e->g.ns.tick : t;
    fifo_push(e, t, on ? cantus_vocab_note_on(v, mp) : cantus_vocab_note_off(v, mp), FIFO_TOKEN);
  }
  // The player is idle after wait_beats without input and with no note held
  // (a note held longer than max_note_beats counts as released).
  if (e->listen_mode == LISTEN_FOLLOW && e->have_input) {
    const double quiet = e->play_tick - e->last_input_tick;
    if (quiet >= e->ctl.wait_beats * e->tpb && (e->n_held_in == 0 || quiet >= max_note_ticks(e))) {
      const double r0 = e->last_input_tick + e->ctl.wait_beats * e->tpb;
      int64_t r = ceil_tick(ceil(r0 / e->tpb - 1e-9) * e->tpb); // on the next beat
      r = r < t_min ? t_min : r;
      fifo_push(e, r, 0, FIFO_MOVE);
      memset(e->held_in, 0, sizeof e->held_in);
      e->n_held_in = 0;
      if (e->ctl.call_response) {
        e->listen_mode = LISTEN_ANSWER;
        e->answer_end = r + (int64_t)e->ctl.response_bars * e->bar_ticks;
      } else {
        e->listen_mode = LISTEN_GEN;
      }
    }
  }
}

// ---- hold ------------------------------------------------------------------------------------

static int64_t next_bar_line(const CantusEngine *e, int64_t tick)
{
  return -floor_div(-tick, e->bar_ticks) * e->bar_ticks;
}

static void hold_engage(CantusEngine *e)
{
  const int64_t le = next_bar_line(e, ceil_tick(e->play_tick));
  rollback(e, le);
  e->hold_le = le;
  e->hold_len = (int64_t)e->ctl.hold_bars * e->bar_ticks;
  e->hold_ls = le - e->hold_len;
  e->hold_state = HOLD_FILL;
}

// The generator reached the end of the held bars: copy them out of the
// history, end the notes still sounding there, and start looping.
static void hold_freeze(CantusEngine *e)
{
  e->n_hold = 0;
  for (uint32_t i = 0; i < e->hist_n && e->n_hold < ENGINE_HOLD_CAP; i++) {
    const EngineHistNote *h = hist_at(e, i);
    if (h->on < e->hold_ls || h->on >= e->hold_le) {
      continue;
    }
    const int64_t off = h->off < 0 || h->off > e->hold_le ? e->hold_le : h->off;
    e->hold[e->n_hold++] = (EngineHoldNote){
      .on = h->on - e->hold_ls, .off = off - e->hold_ls, .hum = h->on, .key = h->key, .vel = h->vel
    };
  }
  const CantusVocab *v = vocab(e);
  for (int p = v->pitch_lo; p <= v->pitch_hi; p++) {
    if (e->g.ns.on[p]) {
      push_event(e,
                 (double)e->hold_le,
                 e->hold_le,
                 e->hold_le,
                 CANTUS_SCHED_OFF,
                 (uint8_t)p,
                 0,
                 CANTUS_SCHED_KEEP);
    }
  }
  e->rep_base = e->hold_le;
  e->rep_idx = 0;
  e->hold_state = HOLD_LOOP;
}

// Positions the loop's replay at the first note at or after `tick`.
static void hold_align(CantusEngine *e, int64_t tick)
{
  e->rep_base = tick - mod64(tick - e->hold_le, e->hold_len);
  e->rep_idx = 0;
  while (e->rep_idx < e->n_hold && e->rep_base + e->hold[e->rep_idx].on < tick) {
    e->rep_idx++;
  }
  if (e->rep_idx == e->n_hold) {
    e->rep_idx = 0;
    e->rep_base += e->hold_len;
  }
}

static void hold_replay(CantusEngine *e)
{
  if (e->hold_state != HOLD_LOOP) {
    return;
  }
  const double horizon = e->end_tick + e->lookahead_beats * e->tpb;
  const uint8_t fl = CANTUS_SCHED_KEEP | FLAG_REPLAY;
  for (int k = 0; k < HOLD_PER_BLOCK; k++) {
    if (e->n_hold == 0) {
      if ((double)(e->rep_base + e->hold_len) > horizon) {
        break;
      }
      e->rep_base += e->hold_len;
      continue;
    }
    const EngineHoldNote *h = &e->hold[e->rep_idx];
    const int64_t on = e->rep_base + h->on;
    if ((double)on >= horizon || queue_free(e) < 4) {
      break;
    }
    sched_on(e, on, h->hum, h->key, h->vel, fl);
    sched_off(e, on, e->rep_base + h->off, on, h->key, fl);
    if (++e->rep_idx == e->n_hold) {
      e->rep_idx = 0;
      e->rep_base += e->hold_len;
    }
  }
}

static void hold_release(CantusEngine *e)
{
  if (e->hold_state == HOLD_FILL) {
    e->hold_state = HOLD_OFF;
    return;
  }
  const int64_t end = next_bar_line(e, ceil_tick(e->play_tick));
  // Replayed notes from the release bar line on are dropped; those sounding
  // across it end there.
  for (uint32_t i = 0, k = 0; k < CANTUS_SCHED_CAP && i < e->q.n; k++) {
    const CantusSchedEvent *ev = cantus_schedule_queue_at(&e->q, i);
    if ((ev->flags & FLAG_REPLAY) && ev->kind == CANTUS_SCHED_ON && ev->time >= (double)end) {
      cantus_schedule_queue_remove(&e->q, i);
    } else {
      i++;
    }
  }
  for (int p = 0; p < 128; p++) {
    cantus_schedule_queue_clip_off(&e->q, (uint8_t)p, (double)end);
  }
  // The generator continues from where it froze, moved by whole bars so
  // that its metric position is unchanged.
  const int64_t d = end - e->hold_le;
  e->g.ns.tick += d;
  for (int p = 0; p < 128; p++) {
    if (e->g.ns.on[p]) {
      e->g.ns.onset_tick[p] += d;
    }
  }
  e->ring_n = 0;
  e->hist_n = 0;
  ckpt_invalidate_after(e, floor_div(e->hold_le < end ? e->hold_le : end, e->bar_ticks) - 1);
  e->hold_state = HOLD_OFF;
}

// ---- generation loop --------------------------------------------------------------------------

uint32_t cantus_engine_step_budget(uint32_t n_frames, double sample_rate)
{
  if (!(sample_rate >= 1.0)) {
    return 1;
  }
  const double b = floor((double)n_frames * CANTUS_STEPS_PER_SECOND / sample_rate);
  return b < 1.0 ? 1 : b > CANTUS_MAX_STEPS_PER_RUN ? CANTUS_MAX_STEPS_PER_RUN : (uint32_t)b;
}

double cantus_engine_bpm(double host_bpm, float control_bpm)
{
  double bpm = isfinite(host_bpm) && host_bpm > 0.0 ? host_bpm : (double)control_bpm;
  bpm = bpm == bpm ? bpm : 120.0;
  return bpm < 1.0 ? 1.0 : bpm > 999.0 ? 999.0 : bpm;
}

static bool gen_wanted(CantusEngine *e, double target)
{
  if (e->listen_mode == LISTEN_FOLLOW || e->listen_mode == LISTEN_WAIT ||
      e->hold_state == HOLD_LOOP) {
    return false;
  }
  return (double)e->g.ns.tick < target;
}

static void generate(CantusEngine *e, uint32_t n_frames, double sample_rate)
{
  // The steady budget keeps a full lookahead; only when the stream is
  // behind this block's end (a relocation or regenerate while rolling)
  // may a block run up to CANTUS_CATCHUP_FACTOR times as many steps, so a
  // jump lands on the beat instead of late.
  const uint32_t budget = cantus_engine_step_budget(n_frames, sample_rate);
  uint32_t catchup = budget * CANTUS_CATCHUP_FACTOR;
  catchup = catchup > CANTUS_MAX_STEPS_PER_RUN ? CANTUS_MAX_STEPS_PER_RUN : catchup;
  const double target = e->end_tick + e->lookahead_beats * e->tpb;
  const CantusVocab *v = vocab(e);
  uint32_t steps = 0;
  bool starved = false;
  for (int guard = 0; guard < LOOP_GUARD; guard++) {
    if (e->hold_state == HOLD_FILL && e->g.ns.tick >= e->hold_le) {
      hold_freeze(e);
    }
    if (e->listen_mode == LISTEN_ANSWER && e->fifo_n == 0 && e->g.ns.tick >= e->answer_end) {
      silence_model(e, e->answer_end);
      e->listen_mode = LISTEN_WAIT;
    }
    const bool fifo = e->fifo_n > 0;
    if (!fifo && !gen_wanted(e, target)) {
      break;
    }
    if (steps >= (e->g.ns.tick < e->end_tick ? catchup : budget)) {
      starved = true;
      break;
    }
    if (e->ring_n >= ENGINE_RING_CAP || queue_free(e) < QUEUE_RESERVE) {
      break; // the lookahead is as deep as the memory allows
    }
    if (fifo) {
      EngineFifoEntry *f = fifo_front(e);
      const int64_t c = e->g.ns.tick;
      if (f->tick > c) {
        const int64_t gap = f->tick - c;
        if (gap > 2 * e->bar_ticks + v->n_shift) {
          skip_ticks(e, floor_div(gap - e->bar_ticks, e->bar_ticks) * e->bar_ticks);
          continue;
        }
        do_step(e, shift_token(e, gap), SRC_PLAYER);
        steps++;
        continue;
      }
      if (f->kind == FIFO_MOVE) {
        fifo_pop(e);
        continue;
      }
      int val = 0;
      const CantusEventKind kind = cantus_vocab_decode(v, f->token, &val);
      int token = f->token;
      if (kind == CANTUS_EV_NOTE_ON && e->g.ns.on[val]) {
        token = cantus_vocab_note_off(v, val); // a re-strike: end it first, keep the entry
      } else {
        fifo_pop(e);
        if ((kind == CANTUS_EV_NOTE_OFF && !e->g.ns.on[val]) ||
            (kind != CANTUS_EV_NOTE_ON && kind != CANTUS_EV_NOTE_OFF)) {
          continue;
        }
      }
      do_step(e, token, SRC_PLAYER);
      steps++;
      continue;
    }
    const int token = theme_next(e);
    do_step(e, token, token >= 0 ? SRC_THEME : SRC_GEN);
    steps++;
  }
  if (starved) {
    e->st.steps_starved++;
  }
  if (steps > e->st.max_block_steps) {
    e->st.max_block_steps = steps;
  }
}

// ---- emission ---------------------------------------------------------------------------------

static void emit(CantusEngine *e, CantusBlockOut *out, uint32_t n)
{
  for (uint32_t k = 0; k < CANTUS_SCHED_CAP && e->q.n > 0; k++) {
    const CantusSchedEvent ev = *cantus_schedule_queue_at(&e->q, 0);
    const int64_t rel = cantus_schedule_clock_frame(&e->clock, ev.time) - e->frame_now;
    if (rel >= (int64_t)n) {
      break;
    }
    cantus_schedule_queue_pop(&e->q);
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
static void guard_notes(CantusEngine *e, CantusBlockOut *out, uint32_t n)
{
  const double limit = max_note_ticks(e) + (double)vocab(e)->tpq;
  bool added = false;
  for (int i = e->tr.n; i-- > 0;) {
    const double t = e->tr.v[i].onset + limit;
    if (t < e->end_tick) {
      int64_t rel = cantus_schedule_clock_frame(&e->clock, t) - e->frame_now;
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

// ---- controls ---------------------------------------------------------------------------------

// The table clamps every control into its range (dsp/controls.c); the
// rules particular to one control stay here.
static void sanitize(CantusEngine *e, const CantusControls *in)
{
  CantusControls *c = &e->ctl;
  *c = *in;
  const int ns = e->model ? (int)e->model->net.dims.n_styles : 1;
  c->key_root = ((c->key_root % 12) + 12) % 12; // wraps, not clamps
  if ((unsigned)c->scale >= CANTUS_N_SCALES) {
    c->scale = CANTUS_SCALE_CHROMATIC;
  }
  cantus_controls_clamp(c, ns);
  if (c->note_lo > c->note_hi) {
    const int t = c->note_lo;
    c->note_lo = c->note_hi;
    c->note_hi = t;
  }
  const int hb = c->hold_bars; // 1..8, down to 1, 2, 4 or 8
  c->hold_bars = hb >= 8 ? 8 : hb >= 4 ? 4 : hb >= 2 ? 2 : 1;
}

static void set_params(CantusEngine *e)
{
  const CantusControls *c = &e->ctl;
  const CantusVocab *v = vocab(e);
  CantusSampleParams *sp = &e->sp;
  sp->temperature = c->temperature;
  sp->top_p = c->top_p;
  sp->density = c->density;
  // The masks work in model pitch space: output = model + transpose.
  const int lo = c->note_lo - c->transpose, hi = c->note_hi - c->transpose;
  sp->pitch_lo = lo > v->pitch_lo ? lo : v->pitch_lo;
  sp->pitch_hi = hi < v->pitch_hi ? hi : v->pitch_hi;
  sp->scale_mask = cantus_scale_mask(c->scale);
  sp->key_root = ((c->key_root - c->transpose) % 12 + 12) % 12;
  sp->max_voices = c->max_voices;
  sp->max_note_ticks = (int64_t)llround(max_note_ticks(e));
  sp->allow_velocity = v->n_vel > 0;
  sp->allow_end = false;
}

static void apply_style(CantusEngine *e, CantusBlockOut *out, int64_t t, int64_t bar)
{
  const CantusControls *c = &e->ctl;
  const bool a = c->style != e->style_a, b = c->style_b != e->style_b;
  if (e->style_valid && !a && !b && c->blend == e->blend) {
    return;
  }
  const bool cut = e->style_valid && ((a && c->blend < 1.0f) || (b && c->blend > 0.0f));
  const CantusDims *d = &e->model->net.dims;
  const uint32_t s = d->n_style_dim;
  const float *ea = e->model->p.style_emb + (size_t)c->style * s;
  const float *eb = e->model->p.style_emb + (size_t)c->style_b * s;
  for (uint32_t i = 0; i < s && i < CANTUS_MAX_EMBED; i++) {
    e->style_vec[i] = (1.0f - c->blend) * ea[i] + c->blend * eb[i];
  }
  cantus_lstm_set_style(&e->model->net, &e->model->state, e->style_vec);
  e->style_a = c->style;
  e->style_b = c->style_b;
  e->blend = c->blend;
  e->style_valid = true;
  if (cut) {
    // A new style: silence, and new music from the play head on.
    all_off(e, out, 0);
    rollback(e, t);
    ckpt_invalidate_ahead(e, bar);
  }
}

static void apply_controls(CantusEngine *e, CantusBlockOut *out)
{
  const CantusControls *c = &e->ctl, *p = &e->prev;
  const int64_t t = ceil_tick(e->play_tick);
  const int64_t bar = floor_div((int64_t)floor(e->play_tick + TOL_TICKS), e->bar_ticks);
  apply_style(e, out, t, bar);
  if (c->seed != p->seed) {
    e->timeline_id++; // a new seed is a new timeline: forget every bar
    rollback(e, t);
    reseed(e, (uint64_t)t);
  }
  if ((c->regenerate && !p->regenerate) || e->regen_pending) {
    e->regen_pending = false;
    e->epoch++;
    rollback(e, t);
    ckpt_invalidate_ahead(e, bar);
    reseed(e, (uint64_t)t);
  }
  const bool was = listening(p), is = listening(c);
  if (is && (!was || (c->call_response && !p->call_response))) {
    if (c->call_response && e->listen_mode != LISTEN_FOLLOW) {
      silence_model(e, t); // the player calls first
      e->listen_mode = LISTEN_WAIT;
    }
  } else if ((!is && was) || (is && !c->call_response && p->call_response)) {
    if (e->listen_mode != LISTEN_GEN) {
      fifo_push(e, t, 0, FIFO_MOVE);
      e->listen_mode = LISTEN_GEN;
    }
  }
  if (c->hold && e->hold_state == HOLD_OFF) {
    hold_engage(e);
  } else if (!c->hold && e->hold_state != HOLD_OFF) {
    hold_release(e);
  }
}

// ---- transport -------------------------------------------------------------------------------

// Clears all scheduling state and restarts the generator at `tick`:
// the bar's checkpoint when the timeline remembers it, else a fresh start.
static void restart_at(CantusEngine *e, double tick)
{
  cantus_schedule_queue_clear(&e->q);
  e->ring_n = 0;
  e->fifo_n = 0;
  e->hist_n = 0;
  e->listen_mode = e->ctl.call_response ? LISTEN_WAIT : LISTEN_GEN;
  e->have_input = false;
  memset(e->held_in, 0, sizeof e->held_in);
  e->n_held_in = 0;
  e->suppress_before = ceil_tick(tick);
  if (e->hold_state == HOLD_LOOP) {
    hold_align(e, e->suppress_before); // a held loop keeps playing, in phase with the bars
    return;
  }
  e->hold_state = HOLD_OFF;
  const int64_t bar = floor_div((int64_t)floor(tick + TOL_TICKS), e->bar_ticks);
  if (ckpt_valid(e, bar)) {
    snap_load(e, ckpt_slot(e, bar));
  } else {
    fresh_start(e, bar);
    ckpt_store(e, bar);
  }
}

// A position within TOL_TICKS of a grid tick is that tick (hosts round).
static double snap_tick(double t)
{
  const double r = floor(t + 0.5);
  return fabs(t - r) < TOL_TICKS ? r : t;
}

static void relocate(CantusEngine *e, CantusBlockOut *out, double tick, double tpf)
{
  all_off(e, out, 0);
  tick = snap_tick(tick);
  cantus_schedule_clock_set(&e->clock, tick, e->frame_now, tpf);
  e->restart_pending = true;
  e->st.relocations++;
}

static void write_outputs(const CantusEngine *e, CantusBlockOut *out)
{
  const double t = e->shown_tick;
  out->bar = e->bar_ticks > 0 ? floor_div((int64_t)floor(t + TOL_TICKS), e->bar_ticks) : 0;
  out->surprise = e->surprise;
  out->rolling = e->rolling;
}

static double finite_or(double x, double dflt)
{
  return isfinite(x) ? x : dflt;
}

void cantus_engine_process(CantusEngine *e, const CantusBlockIn *in, CantusBlockOut *out)
{
  out->n_events = 0;
  const uint32_t n = in->n_frames;
  sanitize(e, &in->controls);
  if (!e->have_prev) {
    e->prev = e->ctl;
    e->have_prev = true;
  }
  if (n == 0) {
    write_outputs(e, out);
    return;
  }
  if (e->panic_pending || (e->ctl.panic && !e->prev.panic)) {
    all_off(e, out, 0);
    e->panic_pending = false;
  }
  if (e->reset_pending) {
    all_off(e, out, 0);
    e->reset_pending = false;
    if (e->started) {
      e->start_beats = cantus_schedule_clock_tick(&e->clock, e->frame_now) / e->tpb;
    }
    e->started = false;
    e->rolling = false;
    e->style_valid = false;
    e->timeline_id++;
    e->hold_state = HOLD_OFF;
    e->surprise = 0.0f;
  }
  if (!e->model_ok) {
    all_off(e, out, 0);
    e->frame_now += n;
    e->prev = e->ctl;
    write_outputs(e, out);
    return;
  }

  // Transport: tempo, meter and the host's position at frame 0.
  const CantusTransport *tp = &in->transport;
  const bool has_pos = tp->valid;
  const bool rolling = has_pos ? tp->rolling : true;
  double sr = finite_or(in->sample_rate, 48000.0);
  sr = sr < 1000.0 ? 1000.0 : sr > 1e6 ? 1e6 : sr;
  const double bpm = cantus_engine_bpm(has_pos ? tp->bpm : -1.0, e->ctl.bpm);
  double bpb = has_pos ? finite_or(tp->beats_per_bar, 4.0) : 4.0;
  bpb = bpb < 1.0 ? 1.0 : bpb > 64.0 ? 64.0 : bpb;
  const int unit = has_pos && tp->beat_unit >= 1 && tp->beat_unit <= 64 ? tp->beat_unit : 4;
  const double tpb = vocab(e)->tpq * 4.0 / unit;
  int64_t bt = (int64_t)llround(bpb * tpb);
  bt = bt < 1 ? 1 : bt;
  double host = 0.0;
  if (has_pos) {
    double bb = finite_or(tp->bar_beat, 0.0);
    bb = bb < 0.0 ? 0.0 : bb > 1e6 ? 1e6 : bb;
    int64_t bar = tp->bar;
    bar = bar < -1000000000 ? -1000000000 : bar > 1000000000 ? 1000000000 : bar;
    host = (double)bar * (double)bt + bb * tpb;
  }
  const double tpf = cantus_schedule_ticks_per_frame(bpm, tpb, sr);
  const bool meter_changed = e->started && (bt != e->bar_ticks || tpb != e->tpb);
  e->tpb = tpb;
  e->bar_ticks = bt;

  if (!e->started) {
    const double p0 = snap_tick(has_pos ? host : e->start_beats * tpb);
    cantus_schedule_clock_set(&e->clock, p0, e->frame_now, tpf);
    e->stop_tick = p0;
    e->shown_tick = p0;
    e->started = true;
    e->restart_pending = true;
  } else {
    const double p = cantus_schedule_clock_tick(&e->clock, e->frame_now);
    if (meter_changed) {
      e->timeline_id++; // the bar grid moved: the checkpoints no longer line up
      relocate(e, out, has_pos ? host : p, tpf);
    } else if (has_pos && rolling && e->rolling) {
      if (fabs(host - p) >= TOL_TICKS) {
        relocate(e, out, host, tpf); // seek or loop wrap
      } else if (tpf != e->clock.ticks_per_frame) {
        cantus_schedule_clock_set(&e->clock, p, e->frame_now, tpf);
      }
    } else if (has_pos && rolling) {
      if (fabs(host - e->stop_tick) >= TOL_TICKS) {
        relocate(e, out, host, tpf); // moved while stopped
      } else {
        cantus_schedule_clock_set(&e->clock, e->stop_tick, e->frame_now, tpf);
      }
    } else if (has_pos) {
      e->shown_tick = host; // stopped: follow the host's position for the bar output
    } else if (tpf != e->clock.ticks_per_frame) {
      cantus_schedule_clock_set(&e->clock, p, e->frame_now, tpf);
    }
  }

  if (!rolling) {
    if (e->rolling) {
      all_off(e, out, 0);
      e->rolling = false;
      e->shown_tick = has_pos ? host : e->stop_tick;
    }
    if (has_pos && fabs(host - e->stop_tick) >= TOL_TICKS) {
      // Moved while stopped: go there now, so the lookahead is full and the
      // first note lands exactly on time when the transport rolls.
      relocate(e, out, host, tpf);
      e->stop_tick = snap_tick(host);
    }
    cantus_schedule_clock_set(&e->clock, e->stop_tick, e->frame_now + n, tpf);
    e->play_tick = e->stop_tick;
    e->end_tick = e->stop_tick;
    if (e->style_valid) {
      if (e->restart_pending) {
        e->restart_pending = false;
        restart_at(e, e->play_tick);
      }
      set_params(e);
      generate(e, n, sr); // pre-roll: nothing is emitted while stopped
    }
    e->frame_now += n;
    // Controls changed while stopped apply when the transport rolls:
    // apply_controls() then compares seed and listen with their values
    // before the stop, and a regenerate pressed meanwhile is kept for it.
    e->regen_pending |= e->ctl.regenerate && !e->prev.regenerate;
    e->prev.regenerate = e->ctl.regenerate;
    e->prev.panic = e->ctl.panic;
    write_outputs(e, out);
    return;
  }
  if (!e->rolling) {
    e->rolling = true;
  }
  e->play_tick = cantus_schedule_clock_tick(&e->clock, e->frame_now);
  e->end_tick = cantus_schedule_clock_tick(&e->clock, e->frame_now + n);

  if (!e->style_valid) {
    apply_style(e, out, ceil_tick(e->play_tick), 0);
  }
  if (e->restart_pending) {
    e->restart_pending = false;
    restart_at(e, e->play_tick);
  }
  set_params(e);
  apply_controls(e, out);
  ring_trim(e, ceil_tick(e->play_tick));
  listen_input(e, in);
  generate(e, n, sr);
  hold_replay(e);
  emit(e, out, n);
  guard_notes(e, out, n);

  e->stop_tick = e->end_tick; // where a stop in the next block would leave the timeline
  e->shown_tick = e->play_tick;
  e->frame_now += n;
  e->prev = e->ctl;
  write_outputs(e, out);
}

// ---- the rest of the [RT] API -------------------------------------------------------------------

CantusModel *cantus_engine_install_model(CantusEngine *e, CantusModel *m)
{
  CantusModel *old = e->model;
  e->model = m;
  e->model_ok = false;
  if (m) {
    e->lay = cantus_engine_snap_layout(&m->net.dims);
    if (m->extra && m->extra_size >= e->lay.total) {
      e->ckpt = (uint8_t *)m->extra;
      e->ring = e->ckpt + (size_t)CANTUS_TIMELINE_BARS * e->lay.snap_size;
      e->model_ok = true;
    }
  }
  e->reset_pending = true;
  e->st.models_installed++;
  return old;
}

const CantusModel *cantus_engine_model(const CantusEngine *e)
{
  return e->model;
}

void cantus_engine_panic(CantusEngine *e)
{
  e->panic_pending = true;
}

void cantus_engine_flush(CantusEngine *e, CantusBlockOut *out)
{
  out->n_events = 0;
  all_off(e, out, 0);
}

void cantus_engine_set_theme(CantusEngine *e, const CantusTheme *theme)
{
  e->theme_set = false;
  e->n_theme = 0;
  e->theme_end = 0;
  if (theme) {
    const CantusVocab *v = &theme->vocab;
    const uint32_t n = theme->n_tokens < CANTUS_MAX_THEME ? theme->n_tokens : CANTUS_MAX_THEME;
    int64_t t = 0;
    for (uint32_t i = 0; i < n; i++) {
      int val = 0;
      const int tok = theme->tokens[i];
      switch (cantus_vocab_decode(v, tok, &val)) {
      case CANTUS_EV_SHIFT:
        t += val;
        break;
      case CANTUS_EV_NOTE_ON:
      case CANTUS_EV_NOTE_OFF:
      case CANTUS_EV_VELOCITY:
        e->theme[e->n_theme++] = (EngineThemeEvent){ .tick = t, .token = (uint16_t)tok };
        break;
      default:
        break;
      }
    }
    e->theme_end = t;
    e->theme_vocab = *v;
    e->theme_set = true;
  }
  e->timeline_id++;
  e->restart_pending = e->started;
}

void cantus_engine_get_stats(const CantusEngine *e, CantusStats *stats)
{
  *stats = e->st;
}
