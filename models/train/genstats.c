// SPDX-License-Identifier: GPL-3.0-or-later
// Style statistics for cantus-eval (genstats.h): histograms of real token
// streams and of pieces the engine generates, and their distances.  The
// pitch-class histogram is taken relative to each piece's tonic, estimated
// with the Krumhansl-Kessler key profiles, so pieces in different keys
// compare.  Generation drives the real engine exactly as a host does:
// blocks with a rolling transport, reading the frame-stamped MIDI it emits.
// Non-RT.
#include "genstats.h"

#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cantus_genstats_init(CantusGenStats *s) { memset(s, 0, sizeof *s); }

static const double major_profile[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09,
                                         2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
static const double minor_profile[12] = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53,
                                         2.54, 4.75, 3.98, 2.69, 3.34, 3.17};

static double correlate(const double *x, const double *prof, int root)
{
  double mx = 0, my = 0;
  for (int i = 0; i < 12; i++) {
    mx += x[i];
    my += prof[i];
  }
  mx /= 12;
  my /= 12;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 12; i++) {
    double a = x[(i + root) % 12] - mx, b = prof[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
}

static int tonic_of(const double *pc)
{
  int best = 0;
  double bc = -2.0;
  for (int r = 0; r < 12; r++) {
    double a = correlate(pc, major_profile, r), b = correlate(pc, minor_profile, r);
    double c = a > b ? a : b;
    if (c > bc) {
      bc = c;
      best = r;
    }
  }
  return best;
}

void cantus_genstats_add_onsets(CantusGenStats *s, const int64_t *tick, const uint8_t *pitch,
                                const int64_t *tick_in_bar, int n, int tpq)
{
  if (n <= 0) {
    return;
  }
  double pc[12] = {0};
  const double sixteenth = tpq / 4.0;
  for (int i = 0; i < n; i++) {
    pc[pitch[i] % 12] += 1.0;
    int slot = (int)((double)tick_in_bar[i] / sixteenth);
    slot = slot < 0 ? 0 : (slot >= CANTUS_GEN_POS ? CANTUS_GEN_POS - 1 : slot);
    s->pos[slot] += 1.0;
  }
  int t = tonic_of(pc);
  for (int i = 0; i < 12; i++) {
    s->pc[i] += pc[(i + t) % 12];
  }
  // Top voice: the highest pitch of each onset tick.
  int prev_top = -1;
  int64_t prev_tick = 0;
  for (int i = 0; i < n;) {
    int j = i, top = pitch[i];
    while (j < n && tick[j] == tick[i]) {
      top = pitch[j] > top ? pitch[j] : top;
      j++;
    }
    if (prev_top >= 0) {
      int iv = top - prev_top;
      iv = iv < -12 ? -12 : (iv > 12 ? 12 : iv);
      s->iv[iv + 12] += 1.0;
      int q = (int)lround((double)(tick[i] - prev_tick) / sixteenth);
      q = q < 0 ? 0 : (q >= CANTUS_GEN_IOI ? CANTUS_GEN_IOI - 1 : q);
      s->ioi[q] += 1.0;
    }
    prev_top = top;
    prev_tick = tick[i];
    i = j;
  }
  s->onsets += n;
  s->quarters += (double)(tick[n - 1] - tick[0] + tpq) / tpq;
  s->pieces++;
}

void cantus_genstats_add_tokens(CantusGenStats *s, const CantusVocab *v, const uint16_t *tok,
                                const uint8_t *pos_tick, const uint8_t *pos_beat, uint32_t n)
{
  int64_t *tick = malloc((n + 1) * sizeof *tick);
  int64_t *tib = malloc((n + 1) * sizeof *tib);
  uint8_t *pitch = malloc(n + 1);
  if (!tick || !tib || !pitch) {
    free(tick);
    free(tib);
    free(pitch);
    return;
  }
  int k = 0;
  int64_t t = 0;
  for (uint32_t i = 0; i < n; i++) {
    int val = 0;
    CantusEventKind kind = cantus_vocab_decode(v, tok[i], &val);
    if (kind == CANTUS_EV_SHIFT) {
      t += val;
    } else if (kind == CANTUS_EV_NOTE_ON) {
      tick[k] = t;
      tib[k] = (int64_t)pos_beat[i] * v->tpq + pos_tick[i];
      pitch[k] = (uint8_t)val;
      k++;
    }
  }
  cantus_genstats_add_onsets(s, tick, pitch, tib, k, v->tpq);
  free(tick);
  free(tib);
  free(pitch);
}

CantusStatus cantus_genstats_generate(const CantusModel *m, int style, int num, int den, int n_bars,
                                      uint32_t seed, float temperature, CantusGenStats *s,
                                      CantusError *err)
{
  CantusEngine *e = NULL;
  CantusModel *mm = NULL;
  CantusStatus st = cantus_engine_new(1.0, &e, err);
  if (st) {
    return st;
  }
  st = cantus_engine_adopt_model(m, &mm, err);
  if (st) {
    cantus_engine_free(e);
    return st;
  }
  cantus_engine_install_model(e, mm);
  num = num > 0 ? num : 4;
  den = den > 0 ? den : 4;
  const int tpq = m->dims.vocab.tpq;
  const double sr = 48000.0, quarter_bpm = 120.0;
  const double bpm = quarter_bpm * den / 4.0;           // beat units per minute
  const double frames_per_beat = 60.0 * sr / bpm;
  const double ticks_per_frame = tpq * quarter_bpm / 60.0 / sr;
  const int64_t bar_ticks = (int64_t)llround(num * 4.0 * tpq / den);
  const int64_t total = (int64_t)llround(n_bars * num * frames_per_beat);
  const uint32_t block = 512;
  size_t cap = 1024, n = 0;
  int64_t *tick = malloc(cap * sizeof *tick), *tib = malloc(cap * sizeof *tib);
  uint8_t *pitch = malloc(cap);
  CantusBlockOut *out = malloc(sizeof *out);
  if (!tick || !tib || !pitch || !out) {
    st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "generation: out of memory");
  }
  CantusBlockIn in;
  memset(&in, 0, sizeof in);
  in.n_frames = block;
  in.sample_rate = sr;
  in.controls = cantus_controls_default();
  in.controls.style = style;
  in.controls.style_b = style;
  in.controls.seed = seed;
  in.controls.temperature = temperature;
  in.transport.valid = true;
  in.transport.rolling = true;
  in.transport.bpm = bpm;
  in.transport.beats_per_bar = num;
  in.transport.beat_unit = den;
  for (int64_t f0 = 0; !st && f0 < total; f0 += block) {
    double beats = (double)f0 / frames_per_beat;
    in.transport.bar = (int64_t)floor(beats / num);
    in.transport.bar_beat = beats - (double)in.transport.bar * num;
    cantus_engine_process(e, &in, out);
    for (uint32_t i = 0; i < out->n_events; i++) {
      const CantusMidiEvent *ev = &out->events[i];
      if (ev->size == 3 && (ev->data[0] & 0xf0) == 0x90 && ev->data[2] > 0) {
        if (n == cap) {
          cap *= 2;
          int64_t *t2 = realloc(tick, cap * sizeof *t2), *b2 = realloc(tib, cap * sizeof *b2);
          uint8_t *p2 = realloc(pitch, cap);
          tick = t2 ? t2 : tick;
          tib = b2 ? b2 : tib;
          pitch = p2 ? p2 : pitch;
          if (!t2 || !b2 || !p2) {
            st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "generation: out of memory");
            break;
          }
        }
        int64_t t = (int64_t)llround((double)(f0 + ev->frame) * ticks_per_frame);
        tick[n] = t;
        tib[n] = t % bar_ticks;
        pitch[n] = ev->data[1];
        n++;
      }
    }
  }
  if (!st) {
    // Frames are in time order; sort ties by pitch for a stable top voice.
    for (size_t i = 1; i < n; i++) {
      int64_t t = tick[i], b = tib[i];
      uint8_t p = pitch[i];
      size_t j = i;
      while (j > 0 && (tick[j - 1] > t || (tick[j - 1] == t && pitch[j - 1] > p))) {
        tick[j] = tick[j - 1];
        tib[j] = tib[j - 1];
        pitch[j] = pitch[j - 1];
        j--;
      }
      tick[j] = t;
      tib[j] = b;
      pitch[j] = p;
    }
    cantus_genstats_add_onsets(s, tick, pitch, tib, (int)n, tpq);
  }
  free(tick);
  free(tib);
  free(pitch);
  free(out);
  CantusModel *old = cantus_engine_install_model(e, NULL);
  cantus_engine_free(e);
  cantus_model_free(old);
  return st;
}

static double tv(const double *a, const double *b, int n)
{
  double sa = 0, sb = 0;
  for (int i = 0; i < n; i++) {
    sa += a[i];
    sb += b[i];
  }
  if (!(sa > 0) || !(sb > 0)) {
    return NAN;
  }
  double d = 0;
  for (int i = 0; i < n; i++) {
    d += fabs(a[i] / sa - b[i] / sb);
  }
  return 0.5 * d;
}

void cantus_genstats_distance(const CantusGenStats *a, const CantusGenStats *b,
                              double d[CANTUS_GEN_N_DIST])
{
  d[0] = tv(a->pc, b->pc, CANTUS_GEN_PC);
  d[1] = tv(a->iv, b->iv, CANTUS_GEN_IV);
  d[2] = tv(a->pos, b->pos, CANTUS_GEN_POS);
  d[3] = tv(a->ioi, b->ioi, CANTUS_GEN_IOI);
  d[4] = (d[0] + d[1] + d[2] + d[3]) / 4.0;
}

const char *cantus_genstats_dist_name(int k)
{
  static const char *names[CANTUS_GEN_N_DIST] = {"pitchcls", "interval", "position", "ioi", "all"};
  return k >= 0 && k < CANTUS_GEN_N_DIST ? names[k] : "?";
}

double cantus_genstats_notes_per_quarter(const CantusGenStats *s)
{
  return s->quarters > 0 ? s->onsets / s->quarters : 0.0;
}
