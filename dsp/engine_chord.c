// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's chords (issue 11): which chord is in force at every tick
// of the token stream, and what a step does with it.  Sources, first that
// applies: the live source (chord_source: the Chords input, or the MIDI
// input below chord_split, read by a CantusChordReader whose changes are
// kept in a ring), a known timeline (cantus_engine_set_progression /
// _set_chord_track), and while the model answers a call, the chords of the
// call.  A step at stream tick c feeds the chord in force at c, rotated
// into model pitch space (-transpose), to a chord network (the form
// inputs' chord) and to the sampler's pulls (chord_strength; the call's key
// for a network without chord input).
//
// Determinism: a live chord change at tick T undoes the lookahead from T
// (engine_rollback_redecide) and decides it again; and a SHIFT never
// crosses a live change (it is cut at T, a sampled one drawn again: the RNG
// is rewound), so the stream equals the one made had the chord been known
// all along, at any block size.  Everything here is [RT].
#include "engine_impl.h"
#include "key.h"

#include <math.h>
#include <string.h>

// Chords act on the music: a chord network reads them, or the pull is on.
static bool chords_matter(const CantusEngine *e)
{
  return e->model->net.dims.n_chord > 0 || e->ctl.chord_strength > 0.0f;
}

bool engine_chord_live(const CantusEngine *e)
{
  return e->chords.source != 0;
}

bool engine_chord_heard(const CantusEngine *e, int note)
{
  return e->ctl.chord_source != 2 || note >= e->ctl.chord_split;
}

static CantusChord ring_chord(const EngineChords *c, uint32_t i)
{
  return c->ch_chord[(c->head + i) % ENGINE_CHORD_RING];
}

static int64_t ring_tick(const EngineChords *c, uint32_t i)
{
  return c->ch_tick[(c->head + i) % ENGINE_CHORD_RING];
}

static void ring_push(EngineChords *c, int64_t tick, CantusChord chord)
{
  if (c->n > 0 && ring_tick(c, c->n - 1) >= tick) {
    c->ch_chord[(c->head + c->n - 1) % ENGINE_CHORD_RING] = chord; // same tick: the last word
    return;
  }
  if (c->n == ENGINE_CHORD_RING) {
    c->base = ring_chord(c, 0); // the oldest change folds into the base
    c->head = (c->head + 1) % ENGINE_CHORD_RING;
    c->n--;
  }
  const uint32_t i = (c->head + c->n) % ENGINE_CHORD_RING;
  c->ch_tick[i] = tick;
  c->ch_chord[i] = chord;
  c->n++;
}

static void ring_clear(EngineChords *c, CantusChord base)
{
  c->head = c->n = 0;
  c->base = base;
}

// Length of progression chord i in ticks.
static int64_t prog_ticks(const CantusEngine *e, uint32_t i)
{
  const uint16_t b = e->chords.prog.beats[i];
  const int64_t t = b ? (int64_t)llround(b * e->transport.tpb) : e->transport.bar_ticks;
  return t > 0 ? t : 1;
}

static CantusChord known_at(const CantusEngine *e, int64_t tick)
{
  const EngineChords *c = &e->chords;
  if (c->known == CHORDS_PROGRESSION && c->prog.n > 0) {
    const uint32_t n = c->prog.n < CANTUS_MAX_PROGRESSION ? c->prog.n : CANTUS_MAX_PROGRESSION;
    int64_t period = 0;
    for (uint32_t i = 0; i < n; i++) {
      period += prog_ticks(e, i);
    }
    int64_t t = mod64(tick, period > 0 ? period : 1);
    for (uint32_t i = 0; i < n; i++) {
      const int64_t len = prog_ticks(e, i);
      if (t < len) {
        return c->prog.chord[i];
      }
      t -= len;
    }
  } else if (c->known == CHORDS_TRACK && c->track.n > 0 && tick >= c->track.tick[0]) {
    // The last chord starting at or before tick (binary search).
    uint32_t lo = 0, hi = c->track.n < CANTUS_MAX_CHORD_TRACK ? c->track.n : CANTUS_MAX_CHORD_TRACK;
    while (hi - lo > 1) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (c->track.tick[mid] <= tick) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return c->track.chord[lo];
  }
  return cantus_chord_none();
}

static bool answering(const CantusEngine *e, int64_t tick)
{
  const EngineChords *c = &e->chords;
  return c->answer && tick >= c->ans_start && tick < c->ans_end;
}

// The call's chord for an answer tick: the call's bars cycled.
static CantusChord call_at(const CantusEngine *e, int64_t tick)
{
  const EngineChords *c = &e->chords;
  if (c->call_bars < 1 || c->spans_per_bar < 1) {
    return cantus_chord_none();
  }
  const int64_t bt = e->transport.bar_ticks;
  const int64_t bar = floor_div(tick, bt);
  int64_t k = (tick - bar * bt) / c->span;
  k = k < c->spans_per_bar ? k : c->spans_per_bar - 1;
  const int64_t b = mod64(bar - c->call_bar0, c->call_bars);
  return c->call_chord[b * c->spans_per_bar + k];
}

// The chord in force at stream tick `tick`, player pitch space.
static CantusChord chord_at(const CantusEngine *e, int64_t tick)
{
  const EngineChords *c = &e->chords;
  if (c->source != 0) {
    for (uint32_t i = c->n; i-- > 0;) {
      if (ring_tick(c, i) <= tick) {
        return ring_chord(c, i);
      }
    }
    return c->base;
  }
  if (c->known != CHORDS_NONE) {
    return known_at(e, tick);
  }
  if (answering(e, tick)) {
    return call_at(e, tick);
  }
  return cantus_chord_none();
}

// The ending of a piece with an end (cantus_engine_set_end: cantus-gen
// --bars N), a cadence requested of the network: the key of the notes
// played before its last two bars (Krumhansl-Kessler, as everywhere), the
// chord input V (major, also in minor) in the next-to-last bar and I (i)
// in the last, when no other source gives chords, and in the last bar a
// pull toward the tonic.  Model pitch space.  Returns false when the tick
// is before the last two bars (or there is no end).
static bool ending_key(CantusEngine *e, int64_t tick, int64_t *bar_out)
{
  EngineGenerator *g = &e->gen;
  if (!g->form || g->end_bar == CANTUS_LOOKBACK_END_UNKNOWN) {
    return false;
  }
  const int64_t bt = e->transport.bar_ticks;
  const int64_t bar = floor_div(tick, bt);
  if (bar < g->end_bar - 1) {
    return false;
  }
  if (g->end_tonic < 0) {
    const int64_t before = (g->end_bar - 1) * bt;
    double pc[12] = { 0 };
    for (uint32_t i = 0; i < e->hold.hist_n; i++) {
      const EngineHistNote *h = &e->hold.hist[(e->hold.hist_head + i) % ENGINE_HIST_CAP];
      if (h->on >= before) {
        continue;
      }
      const int64_t off = h->off < 0 || h->off > before ? before : h->off;
      pc[(h->key & 127) % 12] += (double)(off > h->on ? off - h->on : 1);
    }
    int tonic = 0;
    bool minor = false;
    cantus_key_estimate(pc, &tonic, &minor);
    g->end_tonic = (int8_t)tonic;
    g->end_minor = minor;
  }
  *bar_out = bar;
  return true;
}

void engine_chord_ending_forget(CantusEngine *e, int64_t tick)
{
  EngineGenerator *g = &e->gen;
  if (g->end_bar != CANTUS_LOOKBACK_END_UNKNOWN &&
      tick < (g->end_bar - 1) * e->transport.bar_ticks) {
    g->end_tonic = -1;
  }
}

static uint16_t triad(int root, bool minor)
{
  const int third = minor ? 3 : 4;
  return (uint16_t)(1u << (root % 12) | 1u << ((root + third) % 12) | 1u << ((root + 7) % 12));
}

void engine_chord_step(CantusEngine *e, int64_t tick, CantusLookbackFeatures *f)
{
  CantusChord ch = cantus_chord_transpose(chord_at(e, tick), -e->ctl.transpose);
  int64_t bar = 0;
  const bool ending = ending_key(e, tick, &bar);
  if (ending && cantus_chord_is_none(ch) && e->model->net.dims.n_chord != 0) {
    const int t = e->gen.end_tonic;
    ch.pcs = bar >= e->gen.end_bar ? triad(t, e->gen.end_minor) : triad(t + 7, false);
  }
  if (f) {
    f->chord = ch.pcs;
  }
  CantusSampleParams *sp = &e->ctrl.sp;
  sp->pull_pcs[0] = ch.pcs;
  sp->pull[0] = e->ctl.chord_strength * CANTUS_CHORD_PULL;
  sp->pull_pcs[1] = 0;
  sp->pull[1] = 0.0f;
  if (e->model->net.dims.n_chord == 0 && answering(e, tick)) {
    // A network without chord input answers in the call's key.
    sp->pull_pcs[1] =
      cantus_chord_transpose((CantusChord){ e->chords.key_pcs, -1, -1 }, -e->ctl.transpose).pcs;
    sp->pull[1] = CANTUS_KEY_PULL;
  }
  if (ending && bar >= e->gen.end_bar && sp->pull[1] <= 0.0f) {
    sp->pull_pcs[1] = (uint16_t)(1u << e->gen.end_tonic);
    sp->pull[1] = CANTUS_KEY_PULL;
  }
}

int engine_chord_split(const CantusEngine *e, int64_t tick, int token)
{
  const EngineChords *c = &e->chords;
  if (c->source == 0 || c->n == 0 || !chords_matter(e)) {
    return token;
  }
  int s = 0;
  if (cantus_vocab_decode(vocab(e), token, &s) != CANTUS_EV_SHIFT) {
    return token;
  }
  for (uint32_t i = 0; i < c->n; i++) {
    const int64_t t = ring_tick(c, i);
    if (t > tick) {
      return t < tick + s ? cantus_vocab_shift(vocab(e), (int)(t - tick)) : token;
    }
  }
  return token;
}

void engine_chord_restart(CantusEngine *e, int64_t tick)
{
  EngineChords *c = &e->chords;
  // The chord being played stays in force from the new position; the
  // reader's window starts there afresh.
  ring_clear(c, c->source ? c->reader.chord : cantus_chord_none());
  c->reader.last_tick = tick;
  c->reader.chord_tick = tick - c->reader.window;
  c->n_call = 0;
  c->answer = false;
}

void engine_chord_input(CantusEngine *e, const CantusBlockIn *in)
{
  EngineChords *c = &e->chords;
  const int64_t t_min = ceil_tick(e->transport.play_tick);
  const int64_t window = e->transport.bar_ticks / 2;
  c->reader.window = window > 0 ? window : 1;
  int64_t first = INT64_MAX;
  if (e->ctl.chord_source != c->source) {
    c->source = e->ctl.chord_source;
    ring_clear(c, c->source ? c->reader.chord : cantus_chord_none());
    first = t_min;
  }
  const CantusMidiEvent *ev = c->source == 1 ? in->chord_in : c->source == 2 ? in->midi_in : NULL;
  uint32_t n = c->source == 1 ? in->n_chord_in : in->n_midi_in;
  n = n < CANTUS_MAX_EVENTS ? n : CANTUS_MAX_EVENTS;
  for (uint32_t i = 0; ev && i < n; i++) {
    if (ev[i].size < 3) {
      continue;
    }
    const int st = ev[i].data[0] & 0xF0, note = ev[i].data[1] & 0x7F, vel = ev[i].data[2] & 0x7F;
    const bool on = st == 0x90 && vel > 0, off = st == 0x80 || (st == 0x90 && vel == 0);
    if ((!on && !off) || (c->source == 2 && note >= e->ctl.chord_split)) {
      continue;
    }
    const uint32_t fr = ev[i].frame < in->n_frames ? ev[i].frame : in->n_frames - 1;
    const double t_raw =
      cantus_schedule_clock_tick(&e->transport.clock, e->transport.frame_now + fr);
    // The first tick at or after the event: a function of its frame alone
    // (rounding to the nearest tick, clamped to the block's first tick,
    // depended on where the block began: other notes at other block sizes).
    int64_t t = isfinite(t_raw) ? ceil_tick(t_raw) : t_min;
    t = t < t_min ? t_min : t;
    if (cantus_chord_reader_note(&c->reader, t, note, on)) {
      const int64_t at = c->reader.last_tick;
      ring_push(c, at, c->reader.chord);
      first = at < first ? at : first;
    }
  }
  if (first != INT64_MAX && chords_matter(e) && e->hold.state != HOLD_LOOP) {
    engine_rollback_redecide(e, first);
  }
}

void engine_chord_call_start(CantusEngine *e)
{
  e->chords.n_call = 0;
  e->chords.answer = false;
}

void engine_chord_call_note(CantusEngine *e, int64_t tick, int pitch, bool on)
{
  EngineChords *c = &e->chords;
  if (!on) {
    for (uint32_t i = c->n_call; i-- > 0;) {
      if (c->call_pitch[i] == pitch && c->call_off[i] < 0) {
        c->call_off[i] = tick > c->call_on[i] ? tick : c->call_on[i] + 1;
        return;
      }
    }
    return;
  }
  if (c->n_call == ENGINE_CALL_CAP) {
    // A long call: the oldest half is forgotten (the answer follows the end).
    const uint32_t h = ENGINE_CALL_CAP / 2;
    memmove(c->call_on, c->call_on + h, h * sizeof c->call_on[0]);
    memmove(c->call_off, c->call_off + h, h * sizeof c->call_off[0]);
    memmove(c->call_pitch, c->call_pitch + h, h * sizeof c->call_pitch[0]);
    c->n_call = h;
  }
  c->call_on[c->n_call] = tick;
  c->call_off[c->n_call] = -1;
  c->call_pitch[c->n_call] = (uint8_t)pitch;
  c->n_call++;
}

// The call's metre as a time signature (num/den) for the window rule.
static void metre(const CantusEngine *e, int *num, int *den)
{
  const double tpb = e->transport.tpb, tpq = vocab(e)->tpq;
  *den = (int)lround(4.0 * tpq / tpb);
  *num = (int)lround((double)e->transport.bar_ticks / tpb);
}

void engine_chord_answer(CantusEngine *e, int64_t start, int64_t end)
{
  EngineChords *c = &e->chords;
  c->answer = false;
  if (c->n_call == 0) {
    return;
  }
  int64_t first = INT64_MAX, last = INT64_MIN;
  double pc[12] = { 0 };
  for (uint32_t i = 0; i < c->n_call; i++) {
    if (c->call_off[i] < 0) {
      c->call_off[i] = start > c->call_on[i] ? start : c->call_on[i] + 1; // held to the answer
    }
    first = c->call_on[i] < first ? c->call_on[i] : first;
    last = c->call_on[i] > last ? c->call_on[i] : last;
    pc[c->call_pitch[i] % 12] += (double)(c->call_off[i] - c->call_on[i]);
  }
  int tonic = 0;
  bool minor = false;
  cantus_key_estimate(pc, &tonic, &minor);
  c->key_pcs = cantus_key_scale_pcs(tonic, minor);
  // The chord of each span of the call's bars (the trainer's window rule
  // for an accompaniment), cycled by bars over the answer.
  int num = 4, den = 4;
  metre(e, &num, &den);
  const CantusChordWindow w =
    cantus_chord_window(num, den, vocab(e)->tpq, CANTUS_CHORD_SPAN_ACCOMP);
  const int64_t bt = e->transport.bar_ticks;
  c->span = w.span;
  int64_t spb = (bt + w.span - 1) / w.span;
  spb = spb < 1 ? 1 : spb > ENGINE_CALL_SPANS ? ENGINE_CALL_SPANS : spb;
  c->spans_per_bar = (int)spb;
  int64_t b0 = floor_div(first, bt);
  const int64_t b1 = floor_div(last, bt);
  const int64_t max_bars = ENGINE_CALL_SPANS / spb;
  b0 = b1 - b0 + 1 > max_bars ? b1 - max_bars + 1 : b0;
  c->call_bar0 = b0;
  c->call_bars = (int)(b1 - b0 + 1);
  CantusChord prev = cantus_chord_none();
  for (int b = 0; b < c->call_bars; b++) {
    for (int k = 0; k < c->spans_per_bar; k++) {
      const int64_t t0 = (b0 + b) * bt + k * w.span;
      const int64_t t1 = t0 + w.span < (b0 + b + 1) * bt ? t0 + w.span : (b0 + b + 1) * bt;
      CantusChord ch = cantus_chord_of_span(
        c->call_on, c->call_off, c->call_pitch, c->n_call, t0, t1, w.min_overlap);
      // A rest keeps the chord before it.
      ch = cantus_chord_is_none(ch) ? prev : ch;
      c->call_chord[b * c->spans_per_bar + k] = ch;
      prev = ch;
    }
  }
  c->ans_start = start;
  c->ans_end = end;
  c->answer = true;
}

// ---- the API ----------------------------------------------------------------

static void known_changed(CantusEngine *e)
{
  e->timeline.id++; // the bars ahead are decided again under these chords
  e->restart_pending = e->transport.started;
}

void cantus_engine_set_progression(CantusEngine *e, const CantusProgression *p)
{
  e->chords.known = CHORDS_NONE;
  if (p && p->n > 0) {
    const uint32_t n = p->n < CANTUS_MAX_PROGRESSION ? p->n : CANTUS_MAX_PROGRESSION;
    e->chords.prog.n = n;
    memcpy(e->chords.prog.chord, p->chord, n * sizeof p->chord[0]);
    memcpy(e->chords.prog.beats, p->beats, n * sizeof p->beats[0]);
    e->chords.known = CHORDS_PROGRESSION;
  }
  known_changed(e);
}

void cantus_engine_set_chord_track(CantusEngine *e, const CantusChordTrack *t)
{
  e->chords.known = CHORDS_NONE;
  if (t && t->n > 0) {
    const uint32_t n = t->n < CANTUS_MAX_CHORD_TRACK ? t->n : CANTUS_MAX_CHORD_TRACK;
    e->chords.track.n = n;
    memcpy(e->chords.track.tick, t->tick, n * sizeof t->tick[0]);
    memcpy(e->chords.track.chord, t->chord, n * sizeof t->chord[0]);
    e->chords.known = CHORDS_TRACK;
  }
  known_changed(e);
}
