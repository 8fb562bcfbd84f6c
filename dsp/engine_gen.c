// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's generator: LSTM steps that consume the previous token and
// sample (or observe: theme, player) the next one, run until the lookahead
// is full within the block's step budget.  Everything here is [RT]; the
// only loop over steps is bounded by LOOP_GUARD and the budget.
#include "engine_impl.h"

#include <math.h>

#define QUEUE_RESERVE 160 // free queue slots a step needs (one event, or offs at a bar restore)
#define LOOP_GUARD (CANTUS_MAX_STEPS_PER_RUN + ENGINE_FIFO_CAP + CANTUS_MAX_THEME + 64)

enum { SRC_GEN = 0, SRC_THEME, SRC_PLAYER };

// The metric position input of a step at `tick`.
static void position(const CantusEngine *e, int64_t tick, int *pt, int *pb)
{
  const CantusDims *d = &e->model->net.dims;
  cantus_engine_position(
    tick, e->transport.bar_ticks, d->vocab.tpq, (int)d->n_pos_tick, (int)d->n_pos_beat, pt, pb);
}

void engine_gen_reseed(CantusEngine *e, uint64_t index)
{
  cantus_rng_seed(&e->gen.cur.rng,
                  cantus_rng_mix(cantus_rng_mix(e->ctl.seed, e->ctrl.epoch), index));
}

static bool theme_usable(const CantusEngine *e)
{
  const CantusVocab *a = &e->theme.vocab, *b = vocab(e);
  return e->theme.set && a->pitch_lo == b->pitch_lo && a->pitch_hi == b->pitch_hi &&
         a->n_shift == b->n_shift && a->n_vel == b->n_vel && a->tpq == b->tpq &&
         a->n_parts == b->n_parts && a->n_dur == b->n_dur;
}

// A new start of the token stream at bar `bar`: zero state, START token,
// the RNG of (seed, regenerate count, bar), the theme from that bar on.
void engine_gen_fresh_start(CantusEngine *e, int64_t bar)
{
  const int64_t t0 = bar * e->transport.bar_ticks;
  cantus_lstm_reset(&e->model->net, &e->model->state);
  cantus_notes_reset(&e->gen.cur.ns, t0);
  engine_gen_reseed(e, (uint64_t)bar);
  e->gen.cur.last_token = CANTUS_TOK_START;
  e->gen.cur.vel = 0;
  e->gen.cur.ended = 0;
  e->gen.cur.last_note = -1;
  e->gen.end_tonic = -1;
  e->gen.form = cantus_vocab_is_v2(vocab(e));
  if (e->gen.form) {
    // The phrase starts at this bar; live play has no end (unless a
    // renderer set one: cantus_engine_set_end).
    cantus_lookback_init(&e->gen.lb, vocab(e), e->transport.bar_ticks, bar);
    cantus_lookback_set_form(&e->gen.lb, bar, e->gen.end_bar);
  }
  uint32_t pos = 0;
  if (theme_usable(e)) {
    while (pos < e->theme.n && e->theme.ev[pos].tick < t0) {
      pos++;
    }
  }
  e->gen.cur.theme_pos = pos;
}

// The cursor moved `ticks` forward without tokens (a skipped player
// pause, a released hold): the form tracker follows with silence, or,
// after more than its 8 bars of memory, starts over at the cursor's bar.
void engine_gen_form_skip(CantusEngine *e, int64_t ticks)
{
  if (!e->gen.form || ticks <= 0) {
    return;
  }
  const int64_t bt = e->transport.bar_ticks;
  int64_t rest = ticks;
  if (ticks > 9 * bt) {
    const int64_t c = e->gen.cur.ns.tick, bar = floor_div(c, bt);
    cantus_lookback_init(&e->gen.lb, vocab(e), bt, bar);
    cantus_lookback_set_form(&e->gen.lb, bar, e->gen.end_bar);
    rest = c - bar * bt;
  }
  const int n = vocab(e)->n_shift;
  for (int k = 0; k < 10 * CANTUS_LOOKBACK_MAX_BAR && rest > 0; k++) {
    const int s = rest > n ? n : (int)rest;
    cantus_lookback_push(&e->gen.lb, cantus_vocab_shift(vocab(e), s));
    rest -= s;
  }
}

// Entering bar `bar` while generating.  A checkpoint written on an earlier
// pass is restored (the timeline is remembered), unless the music is being
// shaped by a player (listen); otherwise this bar's checkpoint is written.
static void bar_enter(CantusEngine *e, int64_t bar, int64_t at)
{
  if (e->hold.state != HOLD_OFF && at >= e->hold.le) {
    return; // the generator freezes here for a held loop
  }
  uint8_t *slot = ckpt_slot(e, bar);
  if (!engine_ckpt_valid(e, bar) || listening(&e->ctl) || engine_chord_live(e)) {
    engine_ckpt_store(e, bar);
    return;
  }
  // Notes this stream has sounding that the remembered one does not would
  // never get their OFF token: end them at the bar line.
  const EngineSnapHdr *h = snap_hdr(slot);
  const CantusVocab *v = vocab(e);
  // (Format 2 notes have their note-off scheduled with their onset.)
  for (int p = v->pitch_lo; p <= v->pitch_hi && !e->gen.form; p++) {
    if (e->gen.cur.ns.on[p] && !h->g.ns.on[p] &&
        e->gen.cur.ns.onset_tick[p] >= e->gen.suppress_before) {
      engine_sched_push(e,
                        warp(e, (double)at),
                        at,
                        e->gen.cur.ns.onset_tick[p],
                        CANTUS_SCHED_OFF,
                        (uint8_t)p,
                        0,
                        0);
    }
  }
  engine_snap_load(e, slot);
}

// Format 2: the DUR that completes the pending NOTE.  The note sounds from
// here for its length x gate (the longest note caps it); its note-off is
// scheduled with it.
static void consume_dur(CantusEngine *e, int ticks, bool audible)
{
  const CantusNoteState *ns = &e->gen.cur.ns;
  if (ns->pending < 0) {
    return;
  }
  int pitch = 0, part = 0;
  cantus_vocab_decode_part(vocab(e), ns->pending, &pitch, &part);
  const bool taken = !((ns->on[pitch] >> part) & 1u) && ns->n_ends < CANTUS_NOTES_MAX_SOUNDING;
  const int64_t c0 = ns->tick;
  if (!taken || !audible || c0 < e->gen.suppress_before) {
    return;
  }
  const double cap = max_note_ticks(e);
  int64_t len = ticks < 1 ? 1 : ticks;
  if (cap >= 1.0 && (double)len > cap) {
    len = (int64_t)cap;
  }
  const uint16_t key = note_key(pitch, part);
  engine_sched_on(e, c0, c0, key, (uint8_t)e->gen.cur.vel, 0);
  engine_sched_off(e, c0, c0 + len, c0, key, 0);
  engine_hist_add(e, c0, key, (uint8_t)e->gen.cur.vel);
  engine_hist_close(e, key, c0 + len);
}

static void consume(CantusEngine *e, int token, int src)
{
  const CantusVocab *v = vocab(e);
  int val = 0;
  const CantusEventKind kind = cantus_vocab_decode(v, token, &val);
  const int64_t c0 = e->gen.cur.ns.tick;
  const bool audible = src != SRC_PLAYER;
  if (e->gen.form) {
    cantus_lookback_push(&e->gen.lb, token);
  }
  switch (kind) {
  case CANTUS_EV_NOTE:
    e->gen.cur.last_note = token;
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  case CANTUS_EV_DUR:
    consume_dur(e, val, audible);
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  case CANTUS_EV_NOTE_ON:
    if (!e->gen.cur.ns.on[val] && audible && c0 >= e->gen.suppress_before) {
      engine_sched_on(e, c0, c0, (uint8_t)val, (uint8_t)e->gen.cur.vel, 0);
      engine_hist_add(e, c0, (uint8_t)val, (uint8_t)e->gen.cur.vel);
    }
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  case CANTUS_EV_NOTE_OFF: {
    const bool was_on = e->gen.cur.ns.on[val] != 0;
    const int64_t onset = e->gen.cur.ns.onset_tick[val];
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    if (was_on && audible && onset >= e->gen.suppress_before) {
      engine_sched_off(e, onset, c0, c0, (uint8_t)val, 0);
      engine_hist_close(e, (uint8_t)val, c0);
    }
    break;
  }
  case CANTUS_EV_SHIFT: {
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    const int64_t b0 = floor_div(c0, e->transport.bar_ticks),
                  b1 = floor_div(e->gen.cur.ns.tick, e->transport.bar_ticks);
    e->gen.cur.last_token = token;
    if (b1 > b0) {
      bar_enter(e, b1, e->gen.cur.ns.tick);
    }
    return;
  }
  case CANTUS_EV_VELOCITY:
    e->gen.cur.vel = cantus_vocab_bin_to_vel(v, val);
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  case CANTUS_EV_END:
    e->gen.cur.ended = 1; // the piece is over: the notes sounding end by their durations
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  default:
    cantus_notes_apply(&e->gen.cur.ns, v, token);
    break;
  }
  e->gen.cur.last_token = token;
}

// In the last bar of a piece with an end: the note just played (its DUR
// consumed) is on the ending's tonic (engine_chord.c).
static bool ends_on_tonic(const CantusEngine *e)
{
  int val = 0, pitch = 0, part = 0;
  if (e->gen.end_tonic < 0 || e->gen.cur.last_note < 0 ||
      cantus_vocab_decode(vocab(e), e->gen.cur.last_token, &val) != CANTUS_EV_DUR) {
    return false;
  }
  cantus_vocab_decode_part(vocab(e), e->gen.cur.last_note, &pitch, &part);
  return pitch % 12 == e->gen.end_tonic;
}

// One LSTM step: consumes the previous token at the cursor's metric
// position, then takes `token` (observed) or samples one (token < 0).
static void do_step(CantusEngine *e, int token, int src)
{
  CantusModel *m = e->model;
  if (e->timeline.ring_n < ENGINE_RING_CAP) {
    engine_snap_store(e, ring_slot(e, e->timeline.ring_n));
    e->timeline.ring_n++;
  }
  // The input token's own tick (a shift's start), as the trainer feeds it.
  int64_t at = e->gen.cur.ns.tick;
  int shift = 0;
  if (cantus_vocab_decode(vocab(e), e->gen.cur.last_token, &shift) == CANTUS_EV_SHIFT) {
    at -= shift;
  }
  int pt = 0, pb = 0;
  position(e, at, &pt, &pb);
  const int64_t c = e->gen.cur.ns.tick;
  if (e->gen.form) {
    CantusLookbackFeatures f;
    cantus_lookback_features(&e->gen.lb, &f);
    engine_chord_step(e, c, &f); // the chord in force where the next token goes
    if (e->gen.tap_n < e->gen.tap_cap) {
      e->gen.tap_tok[e->gen.tap_n] = (uint16_t)e->gen.cur.last_token;
      e->gen.tap_form[e->gen.tap_n] = f;
      e->gen.tap_n++;
    }
    cantus_lstm_step_form(&m->net, &m->state, e->gen.cur.last_token, pt, pb, &f, m->logits);
  } else {
    engine_chord_step(e, c, NULL);
    cantus_lstm_step(&m->net, &m->state, e->gen.cur.last_token, pt, pb, m->logits);
  }
  const CantusRng rng0 = e->gen.cur.rng;
  const bool sampled = token < 0;
  if (token < 0) {
    float lp = 0.0f;
    // A piece with an end (cantus_engine_set_end) may end in its last bar:
    // the model places END there, after its cadence, as in training.
    e->ctrl.sp.allow_end = e->gen.form && e->gen.end_bar != CANTUS_LOOKBACK_END_UNKNOWN &&
                           floor_div(e->gen.cur.ns.tick, e->transport.bar_ticks) >= e->gen.end_bar;
    if (e->ctrl.sp.allow_end && ends_on_tonic(e)) {
      m->logits[CANTUS_TOK_END] += CANTUS_END_PULL; // the cadence's last note: end here
    }
    token = cantus_sample_token(
      vocab(e), m->logits, e->gen.scratch, &e->ctrl.sp, &e->gen.cur.ns, &e->gen.cur.rng, &lp);
    e->ctrl.sp.allow_end = false;
    int val = 0;
    const CantusEventKind k = cantus_vocab_decode(vocab(e), token, &val);
    if (k == CANTUS_EV_NOTE_ON || k == CANTUS_EV_NOTE) {
      e->surprise = -lp;
    }
  }
  // A shift never crosses a live chord change: it stops there, and a drawn
  // one is drawn again there (as after a rollback to the change).
  const int cut = engine_chord_split(e, c, token);
  if (cut != token) {
    e->gen.cur.rng = sampled ? rng0 : e->gen.cur.rng;
    token = cut;
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
  const int64_t c = e->gen.cur.ns.tick;
  if (e->gen.cur.ns.pending >= 0) {
    // Format 2: the theme's NOTE is followed by its DUR (else the sampler,
    // which then allows only DUR, gives one).
    const uint32_t pos = e->gen.cur.theme_pos;
    int val = 0;
    if (pos < e->theme.n && e->theme.ev[pos].tick == c &&
        cantus_vocab_decode(v, e->theme.ev[pos].token, &val) == CANTUS_EV_DUR) {
      e->gen.cur.theme_pos++;
      return e->theme.ev[pos].token;
    }
    return -1;
  }
  for (uint32_t k = 0; k <= CANTUS_MAX_THEME && e->gen.cur.theme_pos < e->theme.n; k++) {
    const EngineThemeEvent *ev = &e->theme.ev[e->gen.cur.theme_pos];
    if (ev->tick > c) {
      return shift_token(e, ev->tick - c);
    }
    int val = 0, part = 0;
    const CantusEventKind kind = cantus_vocab_decode_part(v, ev->token, &val, &part);
    e->gen.cur.theme_pos++;
    if ((kind == CANTUS_EV_NOTE && !((e->gen.cur.ns.on[val] >> part) & 1u)) ||
        (kind == CANTUS_EV_DUR && e->gen.cur.ns.pending >= 0)) {
      return ev->token;
    }
    if ((kind == CANTUS_EV_NOTE_ON && !e->gen.cur.ns.on[val]) ||
        (kind == CANTUS_EV_NOTE_OFF && e->gen.cur.ns.on[val]) || kind == CANTUS_EV_VELOCITY) {
      return ev->token;
    }
  }
  if (e->gen.cur.theme_pos != THEME_ABANDONED && e->gen.cur.theme_pos >= e->theme.n &&
      c < e->theme.end) {
    return shift_token(e, e->theme.end - c);
  }
  return -1;
}

// Moves the cursor over `ticks` of silence without steps (long player
// pauses are shortened for the network to at most two bars).
static void skip_ticks(CantusEngine *e, int64_t ticks)
{
  const int64_t b0 = floor_div(e->gen.cur.ns.tick, e->transport.bar_ticks);
  e->gen.cur.ns.tick += ticks;
  engine_gen_form_skip(e, ticks);
  const int64_t b1 = floor_div(e->gen.cur.ns.tick, e->transport.bar_ticks);
  if (b1 > b0) {
    engine_ckpt_store(e, b1);
  }
}

uint32_t cantus_engine_step_budget(uint32_t n_frames, double sample_rate)
{
  if (!(sample_rate >= 1.0)) {
    return 1;
  }
  const double b = floor((double)n_frames * CANTUS_STEPS_PER_SECOND / sample_rate);
  return b < 1.0 ? 1 : b > CANTUS_MAX_STEPS_PER_RUN ? CANTUS_MAX_STEPS_PER_RUN : (uint32_t)b;
}

static bool gen_wanted(CantusEngine *e, double target)
{
  if (e->listen.mode == LISTEN_FOLLOW || e->listen.mode == LISTEN_WAIT ||
      e->hold.state == HOLD_LOOP || e->gen.cur.ended) {
    return false;
  }
  return (double)e->gen.cur.ns.tick < target;
}

void engine_gen_run(CantusEngine *e, uint32_t n_frames, double sample_rate)
{
  // The steady budget keeps a full lookahead; only when the stream is
  // behind this block's end (a relocation or regenerate while rolling)
  // may a block run up to CANTUS_CATCHUP_FACTOR times as many steps, so a
  // jump lands on the beat instead of late.
  const uint32_t budget = cantus_engine_step_budget(n_frames, sample_rate);
  uint32_t catchup = budget * CANTUS_CATCHUP_FACTOR;
  catchup = catchup > CANTUS_MAX_STEPS_PER_RUN ? CANTUS_MAX_STEPS_PER_RUN : catchup;
  const double target = e->transport.end_tick + e->lookahead_beats * e->transport.tpb;
  const CantusVocab *v = vocab(e);
  uint32_t steps = 0;
  bool starved = false;
  for (int guard = 0; guard < LOOP_GUARD; guard++) {
    if (e->hold.state == HOLD_FILL && e->gen.cur.ns.tick >= e->hold.le) {
      engine_hold_freeze(e);
    }
    if (e->listen.mode == LISTEN_ANSWER && e->listen.fifo_n == 0 &&
        e->gen.cur.ns.tick >= e->listen.answer_end) {
      engine_listen_silence(e, e->listen.answer_end);
      e->listen.mode = LISTEN_WAIT;
    }
    const bool fifo = e->listen.fifo_n > 0;
    if (!fifo && !gen_wanted(e, target)) {
      break;
    }
    // Tokens due in this block after a rollback in it (a live chord change,
    // a player's note) may use every step a block may run, so what they
    // decide sounds on time at any block size; other catch-ups are spread
    // over blocks.
    const bool behind = e->gen.cur.ns.tick < e->transport.end_tick;
    const uint32_t limit = behind && e->gen.rolled_back ? CANTUS_MAX_STEPS_PER_RUN
                           : behind                     ? catchup
                                                        : budget;
    if (steps >= limit) {
      starved = true;
      break;
    }
    if (e->timeline.ring_n >= ENGINE_RING_CAP || queue_free(e) < QUEUE_RESERVE) {
      break; // the lookahead is as deep as the memory allows
    }
    if (fifo) {
      EngineFifoEntry *f = engine_fifo_front(e);
      const int64_t c = e->gen.cur.ns.tick;
      if (f->tick > c) {
        const int64_t gap = f->tick - c;
        if (gap > 2 * e->transport.bar_ticks + v->n_shift) {
          skip_ticks(e,
                     floor_div(gap - e->transport.bar_ticks, e->transport.bar_ticks) *
                       e->transport.bar_ticks);
          continue;
        }
        do_step(e, shift_token(e, gap), SRC_PLAYER);
        steps++;
        continue;
      }
      if (f->kind == FIFO_MOVE) {
        engine_fifo_pop(e);
        continue;
      }
      if (f->kind == FIFO_NOTE) {
        // Format 2: NOTE, then its DUR; wait while the player holds it
        // (up to the longest duration bin).
        const int64_t longest = cantus_vocab_dur_ticks(v, v->n_dur - 1);
        if (f->dur < 0 && e->transport.play_tick - (double)f->tick >= (double)longest) {
          f->dur = longest;
        }
        int pitch = 0, part = 0;
        cantus_vocab_decode_part(v, f->token, &pitch, &part);
        if (e->gen.cur.ns.pending < 0 && (e->gen.cur.ns.on[pitch] >> part) & 1u) {
          engine_fifo_pop(e); // sounding in its part: left out
          continue;
        }
        if (f->dur < 0) {
          break;
        }
        if (e->gen.cur.ns.pending < 0) {
          do_step(e, f->token, SRC_PLAYER);
        } else {
          const int64_t dur = f->dur;
          engine_fifo_pop(e);
          do_step(e, cantus_vocab_dur(v, cantus_vocab_dur_bin(v, dur)), SRC_PLAYER);
        }
        steps++;
        continue;
      }
      int val = 0;
      const CantusEventKind kind = cantus_vocab_decode(v, f->token, &val);
      int token = f->token;
      if (kind == CANTUS_EV_NOTE_ON && e->gen.cur.ns.on[val]) {
        token = cantus_vocab_note_off(v, val); // a re-strike: end it first, keep the entry
      } else {
        engine_fifo_pop(e);
        if ((kind == CANTUS_EV_NOTE_OFF && !e->gen.cur.ns.on[val]) ||
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
  e->gen.rolled_back = false;
  if (starved) {
    e->st.steps_starved++;
  }
  if (steps > e->st.max_block_steps) {
    e->st.max_block_steps = steps;
  }
}
