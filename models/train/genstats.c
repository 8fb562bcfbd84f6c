// SPDX-License-Identifier: GPL-3.0-or-later
// Style statistics for cantus-eval (genstats.h): histograms of real token
// streams and of pieces the engine generates, and their distances.  The
// pitch-class histogram is taken relative to each piece's tonic, estimated
// with the Krumhansl-Kessler key profiles, so pieces in different keys
// compare.  Generation drives the real engine exactly as a host does:
// blocks with a rolling transport, reading the frame-stamped MIDI it emits.
// Non-RT.
#include "genstats.h"
#include "form.h"

#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cantus_genstats_init(CantusGenStats *s)
{
  memset(s, 0, sizeof *s);
}

// The key's tonic by the Krumhansl-Kessler profiles (form.c).
static int tonic_of(const double *pc)
{
  int tonic = 0;
  bool minor = false;
  cantus_form_key_of(pc, &tonic, &minor);
  return tonic;
}

void cantus_genstats_add_onsets(CantusGenStats *s,
                                const int64_t *tick,
                                const uint8_t *pitch,
                                const int64_t *tick_in_bar,
                                int n,
                                int tpq)
{
  if (n <= 0) {
    return;
  }
  double pc[12] = { 0 };
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

void cantus_genstats_add_tokens(CantusGenStats *s,
                                const CantusVocab *v,
                                const uint16_t *tok,
                                const uint8_t *pos_tick,
                                const uint8_t *pos_beat,
                                uint32_t n)
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

// Runs the engine for n_bars bars and returns the notes it played
// (on/off in frames at 48 kHz, 120 quarter notes per minute), sorted by
// onset then pitch.  *notes is malloc'd.
typedef struct {
  int64_t on, off;
  uint8_t pitch, vel;
} GenNote;

static CantusStatus gen_notes(const CantusModel *m,
                              int style,
                              int num,
                              int den,
                              int n_bars,
                              uint32_t seed,
                              float temperature,
                              GenNote **notes_out,
                              size_t *n_out,
                              CantusError *err)
{
  *notes_out = NULL;
  *n_out = 0;
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
  cantus_engine_set_end(e, n_bars - 1); // as cantus-gen --bars
  num = num > 0 ? num : 4;
  den = den > 0 ? den : 4;
  const double sr = 48000.0, quarter_bpm = 120.0;
  const double bpm = quarter_bpm * den / 4.0; // beat units per minute
  const double frames_per_beat = 60.0 * sr / bpm;
  const int64_t total = (int64_t)llround(n_bars * num * frames_per_beat);
  const uint32_t block = 512;
  size_t cap = 1024, n = 0;
  GenNote *notes = malloc(cap * sizeof *notes);
  CantusBlockOut *out = malloc(sizeof *out);
  if (!notes || !out) {
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
  // The note sounding per (channel, pitch): parts of a format 2 model play
  // on their own channels, and two parts may sound the same pitch.
  long open[16][128];
  for (int ch = 0; ch < 16; ch++) {
    for (int p = 0; p < 128; p++) {
      open[ch][p] = -1;
    }
  }
  for (int64_t f0 = 0; !st && f0 < total + (int64_t)block; f0 += block) {
    double beats = (double)f0 / frames_per_beat;
    in.transport.bar = (int64_t)floor(beats / num);
    in.transport.bar_beat = beats - (double)in.transport.bar * num;
    // One block past the end stops the transport, so every note ends.
    in.transport.rolling = f0 < total;
    cantus_engine_process(e, &in, out);
    for (uint32_t i = 0; i < out->n_events && !st; i++) {
      const CantusMidiEvent *ev = &out->events[i];
      if (ev->size != 3) {
        continue;
      }
      int kind = ev->data[0] & 0xf0, ch = ev->data[0] & 0x0f, p = ev->data[1] & 0x7f;
      int64_t at = f0 + ev->frame;
      bool is_on = kind == 0x90 && ev->data[2] > 0;
      bool is_off = kind == 0x80 || (kind == 0x90 && ev->data[2] == 0);
      if ((is_on || is_off) && open[ch][p] >= 0) {
        notes[open[ch][p]].off = at;
        open[ch][p] = -1;
      }
      if (is_on) {
        if (n == cap) {
          cap *= 2;
          GenNote *nn = realloc(notes, cap * sizeof *nn);
          if (!nn) {
            st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "generation: out of memory");
            break;
          }
          notes = nn;
        }
        notes[n] = (GenNote){ at, -1, (uint8_t)p, ev->data[2] };
        open[ch][p] = (long)n++;
      }
    }
  }
  for (int ch = 0; ch < 16; ch++) {
    for (int p = 0; p < 128; p++) {
      if (open[ch][p] >= 0) {
        notes[open[ch][p]].off = total;
      }
    }
  }
  free(out);
  CantusModel *old = cantus_engine_install_model(e, NULL);
  cantus_engine_free(e);
  cantus_model_free(old);
  if (st) {
    free(notes);
    return st;
  }
  // Events come in time order; ties sorted by pitch (insertion sort: nearly sorted).
  for (size_t i = 1; i < n; i++) {
    GenNote x = notes[i];
    size_t j = i;
    while (j > 0 &&
           (notes[j - 1].on > x.on || (notes[j - 1].on == x.on && notes[j - 1].pitch > x.pitch))) {
      notes[j] = notes[j - 1];
      j--;
    }
    notes[j] = x;
  }
  *notes_out = notes;
  *n_out = n;
  return CANTUS_OK;
}

CantusStatus cantus_genstats_generate(const CantusModel *m,
                                      int style,
                                      int num,
                                      int den,
                                      int n_bars,
                                      uint32_t seed,
                                      float temperature,
                                      CantusGenStats *s,
                                      CantusError *err)
{
  return cantus_genstats_generate_form(
    m, style, num, den, n_bars, seed, temperature, s, NULL, 0, err);
}

// Generated notes (frames at 48 kHz, 120 quarter notes per minute) as MIDI
// notes at 480 ticks per quarter: 50 frames a tick.
static CantusMidiNote midi_note(const GenNote *g, uint16_t track)
{
  const uint32_t on = (uint32_t)(g->on / 50), off = (uint32_t)(g->off / 50);
  return (CantusMidiNote){ .on_tick = on,
                           .off_tick = off > on ? off : on + 1,
                           .pitch = g->pitch,
                           .velocity = g->vel,
                           .channel = 0,
                           .track = track };
}

static CantusStatus add_form(CantusFormCounts *form,
                             const GenNote *notes,
                             size_t n,
                             int num,
                             int den,
                             uint32_t form_bars,
                             CantusError *err)
{
  CantusMidiNote *mn = malloc((n + 1) * sizeof *mn);
  if (!mn) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "generation: out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    mn[i] = midi_note(&notes[i], 0);
  }
  const CantusMidiTimeSig ts = { 0, (uint8_t)(num > 0 ? num : 4), (uint8_t)(den > 0 ? den : 4) };
  const CantusFormPiece piece = { .notes = mn,
                                  .n_notes = n,
                                  .tpq = 480,
                                  .timesigs = &ts,
                                  .n_timesigs = 1,
                                  .voices_by_track = false,
                                  .max_bars = form_bars };
  CantusStatus st = cantus_form_add_piece(form, &piece, err);
  free(mn);
  return st;
}

CantusStatus cantus_genstats_generate_form(const CantusModel *m,
                                           int style,
                                           int num,
                                           int den,
                                           int n_bars,
                                           uint32_t seed,
                                           float temperature,
                                           CantusGenStats *s,
                                           CantusFormCounts *form,
                                           uint32_t form_bars,
                                           CantusError *err)
{
  GenNote *notes = NULL;
  size_t n = 0;
  CantusStatus st = gen_notes(m, style, num, den, n_bars, seed, temperature, &notes, &n, err);
  if (st) {
    return st;
  }
  const int tpq = m->dims.vocab.tpq;
  const double ticks_per_frame = tpq * 120.0 / 60.0 / 48000.0;
  const int64_t bar_ticks = (int64_t)llround((num > 0 ? num : 4) * 4.0 * tpq / (den > 0 ? den : 4));
  int64_t *tick = malloc((n + 1) * sizeof *tick), *tib = malloc((n + 1) * sizeof *tib);
  uint8_t *pitch = malloc(n + 1);
  if (!tick || !tib || !pitch) {
    st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "generation: out of memory");
  } else {
    for (size_t i = 0; i < n; i++) {
      tick[i] = (int64_t)llround((double)notes[i].on * ticks_per_frame);
      tib[i] = tick[i] % bar_ticks;
      pitch[i] = notes[i].pitch;
    }
    cantus_genstats_add_onsets(s, tick, pitch, tib, (int)n, tpq);
    if (form) {
      st = add_form(form, notes, n, num, den, form_bars, err);
    }
  }
  free(tick);
  free(tib);
  free(pitch);
  free(notes);
  return st;
}

CantusStatus cantus_genstats_sample_midi(const CantusModel *m,
                                         int style,
                                         int num,
                                         int den,
                                         int n_bars,
                                         uint32_t seed,
                                         float temperature,
                                         const char *path,
                                         size_t *n_notes,
                                         CantusError *err)
{
  GenNote *notes = NULL;
  size_t n = 0;
  CantusStatus st = gen_notes(m, style, num, den, n_bars, seed, temperature, &notes, &n, err);
  if (st) {
    return st;
  }
  CantusMidiFile *mf = NULL;
  st = cantus_midi_alloc(n, 2, &mf, err);
  if (!st) {
    mf->tpq = 480;
    mf->tempos[0] = (CantusMidiTempo){ 0, 500000 }; // 120 quarter notes per minute
    mf->n_tempos = 1;
    mf->timesigs[0] =
      (CantusMidiTimeSig){ 0, (uint8_t)(num > 0 ? num : 4), (uint8_t)(den > 0 ? den : 4) };
    mf->n_timesigs = 1;
    snprintf(mf->track_names[1], 64, "%s", m->style_names[style]);
    for (size_t i = 0; i < n; i++) {
      mf->notes[i] = midi_note(&notes[i], 1);
    }
    mf->n_notes = n;
    mf->end_tick = n ? mf->notes[n - 1].off_tick : 0;
    st = cantus_midi_write(path, mf, err);
    cantus_midi_free(mf);
  }
  if (n_notes) {
    *n_notes = n;
  }
  free(notes);
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

void cantus_genstats_distance(const CantusGenStats *a,
                              const CantusGenStats *b,
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
  static const char *names[CANTUS_GEN_N_DIST] = {
    "pitchcls", "interval", "position", "ioi", "all"
  };
  return k >= 0 && k < CANTUS_GEN_N_DIST ? names[k] : "?";
}

double cantus_genstats_notes_per_quarter(const CantusGenStats *s)
{
  return s->quarters > 0 ? s->onsets / s->quarters : 0.0;
}
