// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's real-time entry points and block loop: one call per block
// reads the controls, follows the transport, runs a bounded number of LSTM
// steps to keep the lookahead filled (engine_gen.c), and emits the queued
// notes that fall inside the block (engine_voices.c); dsp/ENGINE.md
// describes the behaviour.  The subsystems beside it: engine_timeline.c,
// engine_hold.c, engine_listen.c; the non-RT half is engine_setup.c.  Everything here is [RT]: no
// allocation, no locks, no I/O; the only library calls are memcpy and libm; every loop is bounded
// by the block length, a CANTUS_MAX_* / ENGINE_* constant or the model's sizes.
#include "controls.h"
#include "engine_impl.h"

#include <math.h>
#include <string.h>

#define TOL_TICKS 0.125 // transport positions closer than this are "continuous"

double cantus_engine_bpm(double host_bpm, float control_bpm)
{
  double bpm = isfinite(host_bpm) && host_bpm > 0.0 ? host_bpm : (double)control_bpm;
  bpm = bpm == bpm ? bpm : 120.0;
  return bpm < 1.0 ? 1.0 : bpm > 999.0 ? 999.0 : bpm;
}

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
  CantusSampleParams *sp = &e->ctrl.sp;
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
  const bool a = c->style != e->ctrl.style_a, b = c->style_b != e->ctrl.style_b;
  if (e->ctrl.style_valid && !a && !b && c->blend == e->ctrl.blend) {
    return;
  }
  const bool cut = e->ctrl.style_valid && ((a && c->blend < 1.0f) || (b && c->blend > 0.0f));
  const CantusDims *d = &e->model->net.dims;
  const uint32_t s = d->n_style_dim;
  const float *ea = e->model->p.style_emb + (size_t)c->style * s;
  const float *eb = e->model->p.style_emb + (size_t)c->style_b * s;
  for (uint32_t i = 0; i < s && i < CANTUS_MAX_EMBED; i++) {
    e->ctrl.style_vec[i] = (1.0f - c->blend) * ea[i] + c->blend * eb[i];
  }
  cantus_lstm_set_style(&e->model->net, &e->model->state, e->ctrl.style_vec);
  e->ctrl.style_a = c->style;
  e->ctrl.style_b = c->style_b;
  e->ctrl.blend = c->blend;
  e->ctrl.style_valid = true;
  if (cut) {
    // A new style: silence, and new music from the play head on.
    engine_voices_all_off(e, out, 0);
    engine_rollback(e, t);
    engine_ckpt_invalidate_ahead(e, bar);
  }
}

static void apply_controls(CantusEngine *e, CantusBlockOut *out)
{
  const CantusControls *c = &e->ctl, *p = &e->ctrl.prev;
  const int64_t t = ceil_tick(e->transport.play_tick);
  const int64_t bar =
    floor_div((int64_t)floor(e->transport.play_tick + TOL_TICKS), e->transport.bar_ticks);
  apply_style(e, out, t, bar);
  if (c->seed != p->seed) {
    e->timeline.id++; // a new seed is a new timeline: forget every bar
    engine_rollback(e, t);
    engine_gen_reseed(e, (uint64_t)t);
  }
  if ((c->regenerate && !p->regenerate) || e->regen_pending) {
    e->regen_pending = false;
    e->ctrl.epoch++;
    engine_rollback(e, t);
    engine_ckpt_invalidate_ahead(e, bar);
    engine_gen_reseed(e, (uint64_t)t);
  }
  const bool was = listening(p), is = listening(c);
  if (is && (!was || (c->call_response && !p->call_response))) {
    if (c->call_response && e->listen.mode != LISTEN_FOLLOW) {
      engine_listen_silence(e, t); // the player calls first
      e->listen.mode = LISTEN_WAIT;
    }
  } else if ((!is && was) || (is && !c->call_response && p->call_response)) {
    if (e->listen.mode != LISTEN_GEN) {
      engine_fifo_push(e, t, 0, FIFO_MOVE);
      e->listen.mode = LISTEN_GEN;
    }
  }
  if (c->hold && e->hold.state == HOLD_OFF) {
    engine_hold_engage(e);
  } else if (!c->hold && e->hold.state != HOLD_OFF) {
    engine_hold_release(e);
  }
}

// Clears all scheduling state and restarts the generator at `tick`:
// the bar's checkpoint when the timeline remembers it, else a fresh start.
static void restart_at(CantusEngine *e, double tick)
{
  cantus_schedule_queue_clear(&e->voices.q);
  e->timeline.ring_n = 0;
  e->listen.fifo_n = 0;
  e->hold.hist_n = 0;
  e->listen.mode = e->ctl.call_response ? LISTEN_WAIT : LISTEN_GEN;
  e->listen.have_input = false;
  memset(e->listen.held_in, 0, sizeof e->listen.held_in);
  e->listen.n_held_in = 0;
  e->gen.suppress_before = ceil_tick(tick);
  engine_chord_restart(e, e->gen.suppress_before);
  if (e->hold.state == HOLD_LOOP) {
    engine_hold_align(e,
                      e->gen.suppress_before); // a held loop keeps playing, in phase with the bars
    return;
  }
  e->hold.state = HOLD_OFF;
  const int64_t bar = floor_div((int64_t)floor(tick + TOL_TICKS), e->transport.bar_ticks);
  if (engine_ckpt_valid(e, bar)) {
    engine_snap_load(e, ckpt_slot(e, bar));
  } else {
    engine_gen_fresh_start(e, bar);
    engine_ckpt_store(e, bar);
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
  engine_voices_all_off(e, out, 0);
  tick = snap_tick(tick);
  cantus_schedule_clock_set(&e->transport.clock, tick, e->transport.frame_now, tpf);
  e->restart_pending = true;
  e->st.relocations++;
}

static void write_outputs(const CantusEngine *e, CantusBlockOut *out)
{
  const double t = e->transport.shown_tick;
  out->bar = e->transport.bar_ticks > 0
               ? floor_div((int64_t)floor(t + TOL_TICKS), e->transport.bar_ticks)
               : 0;
  out->surprise = e->surprise;
  out->rolling = e->transport.rolling;
}

static double finite_or(double x, double dflt)
{
  return isfinite(x) ? x : dflt;
}

// A model was installed: silence, and a new timeline from where the
// transport stood.
static void reset_model_state(CantusEngine *e, CantusBlockOut *out)
{
  engine_voices_all_off(e, out, 0);
  e->reset_pending = false;
  if (e->transport.started) {
    e->transport.start_beats =
      cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now) / e->transport.tpb;
  }
  e->transport.started = false;
  e->transport.rolling = false;
  e->ctrl.style_valid = false;
  e->timeline.id++;
  e->hold.state = HOLD_OFF;
  e->surprise = 0.0f;
}

// The block's time as the host reports it (or free-running).
typedef struct {
  bool has_pos, rolling;  // a valid host position; the transport rolls
  double sr;              // sample rate, clamped
  double host;            // the host's position at frame 0, in ticks
  double tpf;             // ticks per frame at the block's tempo
  int64_t prev_bar_ticks; // the bar length of the previous block
} BlockTime;

// Free run: the metre is the usual one of the style played (style A), 4/4
// when the model names none.  A style change brings its metre in at the
// next bar line: the first block that starts in a later bar than the
// previous block switches (follow_host() then keeps the bar number and the
// offset into the bar, so the new bar starts where the old grid put it).
static void free_run_meter(CantusEngine *e)
{
  int num = 4, den = 4;
  cantus_model_style_meter(e->model, e->ctl.style, &num, &den);
  EngineTransport *tr = &e->transport;
  if (num == tr->free_num && den == tr->free_den) {
    return;
  }
  if (tr->started && tr->free_num > 0) {
    const double p = cantus_schedule_clock_tick(&tr->clock, tr->frame_now);
    const int64_t bar = floor_div((int64_t)floor(p + TOL_TICKS), tr->bar_ticks);
    const int64_t prev = floor_div((int64_t)floor(tr->play_tick + TOL_TICKS), tr->bar_ticks);
    if (bar == prev) {
      return; // not at a bar line yet
    }
  }
  tr->free_num = num;
  tr->free_den = den;
}

// Transport: tempo, meter and the host's position at frame 0.
static BlockTime read_transport(CantusEngine *e, const CantusBlockIn *in, bool *meter_changed)
{
  const CantusTransport *tp = &in->transport;
  BlockTime t;
  t.has_pos = tp->valid;
  t.rolling = t.has_pos ? tp->rolling : true;
  t.sr = finite_or(in->sample_rate, 48000.0);
  t.sr = t.sr < 1000.0 ? 1000.0 : t.sr > 1e6 ? 1e6 : t.sr;
  const double bpm = cantus_engine_bpm(t.has_pos ? tp->bpm : -1.0, e->ctl.bpm);
  if (!t.has_pos) {
    free_run_meter(e);
  } else {
    e->transport.free_num = e->transport.free_den = 0; // back to free run: the style's at once
  }
  double bpb = t.has_pos ? finite_or(tp->beats_per_bar, 4.0) : e->transport.free_num;
  bpb = bpb < 1.0 ? 1.0 : bpb > 64.0 ? 64.0 : bpb;
  const int unit = t.has_pos ? (tp->beat_unit >= 1 && tp->beat_unit <= 64 ? tp->beat_unit : 4)
                             : e->transport.free_den;
  const double tpb = vocab(e)->tpq * 4.0 / unit;
  int64_t bt = (int64_t)llround(bpb * tpb);
  bt = bt < 1 ? 1 : bt;
  t.host = 0.0;
  if (t.has_pos) {
    double bb = finite_or(tp->bar_beat, 0.0);
    bb = bb < 0.0 ? 0.0 : bb > 1e6 ? 1e6 : bb;
    int64_t bar = tp->bar;
    bar = bar < -1000000000 ? -1000000000 : bar > 1000000000 ? 1000000000 : bar;
    t.host = (double)bar * (double)bt + bb * tpb;
  }
  t.tpf = cantus_schedule_ticks_per_frame(bpm, tpb, t.sr);
  t.prev_bar_ticks = e->transport.bar_ticks;
  *meter_changed =
    e->transport.started && (bt != e->transport.bar_ticks || tpb != e->transport.tpb);
  e->transport.tpb = tpb;
  e->transport.bar_ticks = bt;
  return t;
}

// Follows the host: the first block anchors the clock; later a seek, a
// loop wrap, a move while stopped or a meter change is a relocation, and a
// tempo change re-anchors the clock.
static void follow_host(CantusEngine *e,
                        CantusBlockOut *out,
                        const BlockTime *t,
                        bool meter_changed)
{
  if (!e->transport.started) {
    const double p0 = snap_tick(t->has_pos ? t->host : e->transport.start_beats * e->transport.tpb);
    cantus_schedule_clock_set(&e->transport.clock, p0, e->transport.frame_now, t->tpf);
    e->transport.stop_tick = p0;
    e->transport.shown_tick = p0;
    e->transport.started = true;
    e->restart_pending = true;
  } else {
    const double p = cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now);
    if (meter_changed) {
      e->timeline.id++; // the bar grid moved: the checkpoints no longer line up
      double to = t->host;
      if (!t->has_pos) {
        // Free run: the same bar and offset into it on the new grid.
        const int64_t bar = floor_div((int64_t)floor(p + TOL_TICKS), t->prev_bar_ticks);
        double in_bar = p - (double)bar * (double)t->prev_bar_ticks;
        in_bar = in_bar < 0.0 ? 0.0 : in_bar;
        in_bar = in_bar < (double)e->transport.bar_ticks ? in_bar : 0.0;
        to = (double)bar * (double)e->transport.bar_ticks + in_bar;
      }
      relocate(e, out, to, t->tpf);
    } else if (t->has_pos && t->rolling && e->transport.rolling) {
      if (fabs(t->host - p) >= TOL_TICKS) {
        relocate(e, out, t->host, t->tpf); // seek or loop wrap
      } else if (t->tpf != e->transport.clock.ticks_per_frame) {
        cantus_schedule_clock_set(&e->transport.clock, p, e->transport.frame_now, t->tpf);
      }
    } else if (t->has_pos && t->rolling) {
      if (fabs(t->host - e->transport.stop_tick) >= TOL_TICKS) {
        relocate(e, out, t->host, t->tpf); // moved while stopped
      } else {
        cantus_schedule_clock_set(
          &e->transport.clock, e->transport.stop_tick, e->transport.frame_now, t->tpf);
      }
    } else if (t->has_pos) {
      // Stopped: follow the host's position for the bar output.
      e->transport.shown_tick = t->host;
    } else if (t->tpf != e->transport.clock.ticks_per_frame) {
      cantus_schedule_clock_set(&e->transport.clock, p, e->transport.frame_now, t->tpf);
    }
  }
}

// A stopped transport: notes off, the clock held, the lookahead pre-rolled.
static void stopped_block(CantusEngine *e,
                          const CantusBlockIn *in,
                          CantusBlockOut *out,
                          const BlockTime *t,
                          uint32_t n)
{
  if (e->transport.rolling) {
    engine_voices_all_off(e, out, 0);
    e->transport.rolling = false;
    e->transport.shown_tick = t->has_pos ? t->host : e->transport.stop_tick;
  }
  if (t->has_pos && fabs(t->host - e->transport.stop_tick) >= TOL_TICKS) {
    // Moved while stopped: go there now, so the lookahead is full and the
    // first note lands exactly on time when the transport rolls.
    relocate(e, out, t->host, t->tpf);
    e->transport.stop_tick = snap_tick(t->host);
  }
  cantus_schedule_clock_set(
    &e->transport.clock, e->transport.stop_tick, e->transport.frame_now + n, t->tpf);
  e->transport.play_tick = e->transport.stop_tick;
  e->transport.end_tick = e->transport.stop_tick;
  if (e->ctrl.style_valid) {
    if (e->restart_pending) {
      e->restart_pending = false;
      restart_at(e, e->transport.play_tick);
    }
    set_params(e);
    engine_chord_input(e, in);
    engine_gen_run(e, n, t->sr); // pre-roll: nothing is emitted while stopped
  }
  e->transport.frame_now += n;
  // Controls changed while stopped apply when the transport rolls:
  // apply_controls() then compares seed and listen with their values
  // before the stop, and a regenerate pressed meanwhile is kept for it.
  e->regen_pending |= e->ctl.regenerate && !e->ctrl.prev.regenerate;
  e->ctrl.prev.regenerate = e->ctl.regenerate;
  e->ctrl.prev.panic = e->ctl.panic;
}

void cantus_engine_process(CantusEngine *e, const CantusBlockIn *in, CantusBlockOut *out)
{
  out->n_events = 0;
  const uint32_t n = in->n_frames;
  sanitize(e, &in->controls);
  if (!e->ctrl.have_prev) {
    e->ctrl.prev = e->ctl;
    e->ctrl.have_prev = true;
  }
  if (n == 0) {
    write_outputs(e, out);
    return;
  }
  if (e->panic_pending || (e->ctl.panic && !e->ctrl.prev.panic)) {
    engine_voices_all_off(e, out, 0);
    e->panic_pending = false;
  }
  if (e->reset_pending) {
    reset_model_state(e, out);
  }
  if (!e->model_ok) {
    engine_voices_all_off(e, out, 0);
    e->transport.frame_now += n;
    e->ctrl.prev = e->ctl;
    write_outputs(e, out);
    return;
  }

  bool meter_changed = false;
  const BlockTime bt = read_transport(e, in, &meter_changed);
  follow_host(e, out, &bt, meter_changed);

  if (!bt.rolling) {
    stopped_block(e, in, out, &bt, n);
    write_outputs(e, out);
    return;
  }
  if (!e->transport.rolling) {
    e->transport.rolling = true;
  }
  e->transport.play_tick = cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now);
  e->transport.end_tick =
    cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now + n);

  if (!e->ctrl.style_valid) {
    apply_style(e, out, ceil_tick(e->transport.play_tick), 0);
  }
  if (e->restart_pending) {
    e->restart_pending = false;
    restart_at(e, e->transport.play_tick);
  }
  set_params(e);
  apply_controls(e, out);
  engine_ring_trim(e, ceil_tick(e->transport.play_tick));
  engine_chord_input(e, in);
  engine_listen_input(e, in);
  engine_gen_run(e, n, bt.sr);
  engine_hold_replay(e);
  engine_voices_emit(e, out, n);
  engine_voices_guard(e, out, n);

  // Where a stop in the next block would leave the timeline.
  e->transport.stop_tick = e->transport.end_tick;
  e->transport.shown_tick = e->transport.play_tick;
  e->transport.frame_now += n;
  e->ctrl.prev = e->ctl;
  write_outputs(e, out);
}

CantusModel *cantus_engine_install_model(CantusEngine *e, CantusModel *m)
{
  CantusModel *old = e->model;
  e->model = m;
  e->model_ok = false;
  if (m) {
    e->timeline.lay = cantus_engine_snap_layout(&m->net.dims);
    if (m->extra && m->extra_size >= e->timeline.lay.total) {
      e->timeline.ckpt = (uint8_t *)m->extra;
      e->timeline.ring =
        e->timeline.ckpt + (size_t)CANTUS_TIMELINE_BARS * e->timeline.lay.snap_size;
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
  engine_voices_all_off(e, out, 0);
}

void cantus_engine_set_theme(CantusEngine *e, const CantusTheme *theme)
{
  e->theme.set = false;
  e->theme.n = 0;
  e->theme.end = 0;
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
      case CANTUS_EV_NOTE:
      case CANTUS_EV_DUR:
      case CANTUS_EV_VELOCITY:
        e->theme.ev[e->theme.n++] = (EngineThemeEvent){ .tick = t, .token = (uint16_t)tok };
        break;
      default:
        break;
      }
    }
    e->theme.end = t;
    e->theme.vocab = *v;
    e->theme.set = true;
  }
  e->timeline.id++;
  e->restart_pending = e->transport.started;
}

void cantus_engine_get_stats(const CantusEngine *e, CantusStats *stats)
{
  *stats = e->st;
}
