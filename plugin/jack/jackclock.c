// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's musical clock (see jackclock.h): anchors bar and beat to a
// transport frame and extrapolates at the tempo, re-anchoring on the events
// that change the position.  Thread class: [RT] (all of it).
#include "jackclock.h"

#include <math.h>

CANTUS_RT void cantus_jackclock_reset(CantusJackClock *c)
{
  *c = (CantusJackClock){
    .source = CANTUS_CLOCK_NONE, .bpm = 120, .beats_per_bar = 4, .beat_unit = 4
  };
}

// Splits a position in beats into bar and beat within the bar.
static void split_beats(double beats, double bpb, int64_t *bar, double *bar_beat)
{
  double b = floor(beats / bpb);
  double r = beats - b * bpb;
  if (r < 0) {
    r = 0;
  }
  if (r >= bpb) { // rounding at a bar line
    r -= bpb;
    b += 1;
  }
  *bar = (int64_t)b;
  *bar_beat = r;
}

// Beats from the anchor to frame (signed: frames before the anchor give a
// negative count; transport frames wrap as 32-bit numbers).
static double beats_since_anchor(const CantusJackClock *c, uint32_t frame, double sr)
{
  int64_t d = (int64_t)frame - (int64_t)c->anchor_frame;
  return (double)d * c->bpm / (60.0 * sr);
}

static double absolute_beats(const CantusJackClock *c, uint32_t frame, double sr)
{
  return (double)c->anchor_bar * c->beats_per_bar + c->anchor_beat +
         beats_since_anchor(c, frame, sr);
}

static void anchor_at(CantusJackClock *c, uint32_t frame, double beats, CantusClockSource src)
{
  c->anchor_frame = frame;
  split_beats(beats, c->beats_per_bar, &c->anchor_bar, &c->anchor_beat);
  c->source = src;
  c->n_anchors++;
}

static bool sane_tempo(const CantusJackTempo *t)
{
  return t->bpm > 0 && t->beats_per_bar > 0 && isfinite(t->bpm);
}

static void follow_master(CantusJackClock *c, const CantusJackPos *p)
{
  const double bpb = p->beats_per_bar > 0 ? p->beats_per_bar : 4;
  const int unit = p->beat_type > 0 ? (int)lround(p->beat_type) : 4;
  const bool changed = c->source != CANTUS_CLOCK_FOLLOW || p->bpm != c->bpm ||
                       bpb != c->beats_per_bar || unit != c->beat_unit ||
                       p->frame != c->expect_frame || (p->rolling && !c->was_rolling);
  if (!changed) {
    return;
  }
  c->bpm = p->bpm;
  c->beats_per_bar = bpb;
  c->beat_unit = unit;
  double tick = p->ticks_per_beat > 0 ? p->tick / p->ticks_per_beat : 0;
  if (tick < 0) {
    tick = 0;
  }
  const double beat = (p->beat >= 1 ? p->beat - 1 : 0) + tick;
  c->anchor_frame = p->frame;
  c->anchor_bar = p->bar >= 1 ? p->bar - 1 : 0;
  c->anchor_beat = beat < bpb ? beat : fmod(beat, bpb);
  c->source = CANTUS_CLOCK_FOLLOW;
  c->n_anchors++;
}

static void own_tempo(CantusJackClock *c, const CantusJackPos *p, const CantusJackTempo *t)
{
  const double sr = p->sample_rate;
  if (c->source != CANTUS_CLOCK_OWN) {
    // First cycle, or the master went away: frame * tempo, as a master
    // computing from the frame would.
    c->bpm = t->bpm;
    c->beats_per_bar = t->beats_per_bar;
    c->beat_unit = t->beat_unit;
    anchor_at(c, p->frame, (double)p->frame * t->bpm / (60.0 * sr), CANTUS_CLOCK_OWN);
    return;
  }
  if (t->bpm != c->bpm || t->beats_per_bar != c->beats_per_bar || t->beat_unit != c->beat_unit) {
    // Keep the position where the old tempo left it (at the expected frame,
    // i.e. the end of the last cycle), continue at the new tempo.
    int64_t bar;
    double bb;
    split_beats(absolute_beats(c, c->expect_frame, sr), c->beats_per_bar, &bar, &bb);
    if (bb >= t->beats_per_bar) {
      bb = 0;
      bar++;
    }
    c->anchor_frame = c->expect_frame;
    c->anchor_bar = bar;
    c->anchor_beat = bb;
    c->bpm = t->bpm;
    c->beats_per_bar = t->beats_per_bar;
    c->beat_unit = t->beat_unit;
    c->n_anchors++;
  }
  if (p->frame != c->expect_frame && absolute_beats(c, p->frame, sr) < 0) {
    anchor_at(c, p->frame, (double)p->frame * c->bpm / (60.0 * sr), CANTUS_CLOCK_OWN);
  }
}

CANTUS_RT void cantus_jackclock_cycle(CantusJackClock *c,
                                      const CantusJackPos *p,
                                      bool use_bbt,
                                      const CantusJackTempo *own,
                                      uint32_t n_frames,
                                      CantusTransport *out)
{
  const double sr = p->sample_rate > 0 ? p->sample_rate : 48000;
  CantusJackPos q = *p;
  q.sample_rate = sr;
  CantusJackTempo t = *own;
  if (!sane_tempo(&t)) {
    t = (CantusJackTempo){ 120, 4, 4 };
  }
  if (use_bbt && q.bbt && q.bpm > 0 && isfinite(q.bpm)) {
    follow_master(c, &q);
  } else {
    own_tempo(c, &q, &t);
  }
  int64_t bar;
  double bb;
  split_beats(absolute_beats(c, q.frame, sr), c->beats_per_bar, &bar, &bb);
  if (bar < 0) {
    bar = 0;
    bb = 0;
  }
  *out = (CantusTransport){ .valid = true,
                            .rolling = q.rolling,
                            .bpm = c->bpm,
                            .bar = bar,
                            .bar_beat = bb,
                            .beats_per_bar = c->beats_per_bar,
                            .beat_unit = c->beat_unit };
  c->expect_frame = q.rolling ? q.frame + n_frames : q.frame;
  c->was_rolling = q.rolling;
}

CANTUS_RT void cantus_jackclock_position(const CantusJackClock *c,
                                         const CantusJackTempo *own,
                                         uint32_t frame,
                                         double sample_rate,
                                         int64_t *bar,
                                         double *bar_beat)
{
  const double sr = sample_rate > 0 ? sample_rate : 48000;
  CantusJackTempo t = *own;
  if (!sane_tempo(&t)) {
    t = (CantusJackTempo){ 120, 4, 4 };
  }
  double beats;
  double bpb = t.beats_per_bar;
  if (c->source != CANTUS_CLOCK_OWN) {
    beats = (double)frame * t.bpm / (60.0 * sr);
  } else {
    CantusJackClock k = *c;
    if (t.bpm != k.bpm || t.beats_per_bar != k.beats_per_bar) {
      // A tempo change the next cycle will apply: the same rule here.
      int64_t b0;
      double bb0;
      split_beats(absolute_beats(&k, k.expect_frame, sr), k.beats_per_bar, &b0, &bb0);
      if (bb0 >= t.beats_per_bar) {
        bb0 = 0;
        b0++;
      }
      k.anchor_frame = k.expect_frame;
      k.anchor_bar = b0;
      k.anchor_beat = bb0;
      k.bpm = t.bpm;
      k.beats_per_bar = t.beats_per_bar;
    }
    beats = absolute_beats(&k, frame, sr);
    if (beats < 0) {
      beats = (double)frame * k.bpm / (60.0 * sr);
    }
    bpb = k.beats_per_bar;
  }
  split_beats(beats, bpb, bar, bar_beat);
}
