// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's record of what was played (see jack_rec.h): pairs note-ons
// with note-offs, keeps a tempo map, feeds the piano-roll ring, and writes
// the --record file through cantus_midi_write.  Thread class: non-RT.
#include "jack_rec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cantus_jackrec_init(CantusJackRec *r, bool keep, double beats_per_bar, int beat_unit)
{
  memset(r, 0, sizeof *r);
  r->keep = keep;
  r->tpq = 480;
  r->beats_per_bar = beats_per_bar > 0 ? beats_per_bar : 4;
  r->beat_unit = beat_unit > 0 ? beat_unit : 4;
  for (int c = 0; c < 16; c++) {
    for (int p = 0; p < 128; p++) {
      r->open_note[c][p] = -1;
      r->roll_open[c][p] = -1;
    }
  }
}

// Performance beats (in beat units) to file ticks (per quarter note).
static uint32_t to_tick(const CantusJackRec *r, double beat)
{
  double t = beat * r->tpq * 4.0 / r->beat_unit;
  return t <= 0 ? 0 : t >= 4e9 ? 4000000000u : (uint32_t)llround(t);
}

static bool grow(void **p, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap) {
    return true;
  }
  size_t c = *cap ? *cap * 2 : 256;
  void *q = realloc(*p, c * elem);
  if (!q) {
    return false;
  }
  *p = q;
  *cap = c;
  return true;
}

static void note_tempo(CantusJackRec *r, uint32_t tick, double bpm)
{
  if (bpm <= 0) {
    return;
  }
  const uint32_t usec = (uint32_t)llround(60e6 / (bpm * 4.0 / r->beat_unit));
  if (r->n_tempos && r->tempos[r->n_tempos - 1].usec_per_quarter == usec) {
    return;
  }
  if (r->n_tempos && r->tempos[r->n_tempos - 1].tick == tick) {
    r->tempos[r->n_tempos - 1].usec_per_quarter = usec;
    return;
  }
  if (!grow((void **)&r->tempos, &r->cap_tempos, r->n_tempos, sizeof *r->tempos)) {
    r->failed = true;
    return;
  }
  r->tempos[r->n_tempos++] = (CantusMidiTempo){ tick, usec };
}

static void roll_on(CantusJackRec *r, int ch, int pitch, double beat)
{
  const int slot = r->roll_head;
  // Overwriting the oldest: forget it if it is still marked sounding.
  if (r->roll_n == CANTUS_JACKREC_ROLL) {
    const CantusRollNote *old = &r->roll[slot];
    if (r->roll_open[old->channel][old->pitch] == slot) {
      r->roll_open[old->channel][old->pitch] = -1;
    }
  } else {
    r->roll_n++;
  }
  r->roll[slot] = (CantusRollNote){ beat, -1, (uint8_t)pitch, (uint8_t)ch };
  r->roll_open[ch][pitch] = (int16_t)slot;
  r->roll_head = (slot + 1) % CANTUS_JACKREC_ROLL;
}

static void roll_off(CantusJackRec *r, int ch, int pitch, double beat)
{
  const int slot = r->roll_open[ch][pitch];
  if (slot >= 0) {
    r->roll[slot].off = beat;
    r->roll_open[ch][pitch] = -1;
  }
}

static void file_off(CantusJackRec *r, int ch, int pitch, uint32_t tick)
{
  const int32_t i = r->open_note[ch][pitch];
  if (i >= 0) {
    CantusMidiNote *n = &r->notes[i];
    n->off_tick = tick > n->on_tick ? tick : n->on_tick + 1;
    r->open_note[ch][pitch] = -1;
  }
}

void cantus_jackrec_add(CantusJackRec *r, const CantusJackPlayed *p)
{
  if (p->size < 3) {
    return;
  }
  const int st = p->data[0] & 0xF0, ch = p->data[0] & 0x0F, pitch = p->data[1] & 0x7F;
  const bool on = st == 0x90 && p->data[2] > 0;
  const bool off = st == 0x80 || (st == 0x90 && p->data[2] == 0);
  if (!on && !off) {
    return;
  }
  const uint32_t tick = to_tick(r, p->perf_beat);
  r->last_tick = tick > r->last_tick ? tick : r->last_tick;
  if (on) {
    r->n_on++;
    roll_off(r, ch, pitch, p->perf_beat);
    roll_on(r, ch, pitch, p->perf_beat);
  } else {
    r->n_off++;
    roll_off(r, ch, pitch, p->perf_beat);
  }
  if (!r->keep) {
    return;
  }
  note_tempo(r, tick, (double)p->bpm);
  file_off(r, ch, pitch, tick);
  if (on) {
    if (!grow((void **)&r->notes, &r->cap_notes, r->n_notes, sizeof *r->notes)) {
      r->failed = true;
      return;
    }
    r->notes[r->n_notes] = (CantusMidiNote){ .on_tick = tick,
                                             .off_tick = tick + 1,
                                             .pitch = (uint8_t)pitch,
                                             .velocity = p->data[2],
                                             .channel = (uint8_t)ch,
                                             .track = 0 };
    r->open_note[ch][pitch] = (int32_t)r->n_notes++;
  }
}

int cantus_jackrec_sounding(const CantusJackRec *r)
{
  int n = 0;
  for (int c = 0; c < 16; c++) {
    for (int p = 0; p < 128; p++) {
      n += r->roll_open[c][p] >= 0;
    }
  }
  return n;
}

static int by_onset(const void *a, const void *b)
{
  const CantusMidiNote *x = a, *y = b;
  if (x->on_tick != y->on_tick) {
    return x->on_tick < y->on_tick ? -1 : 1;
  }
  return (int)x->pitch - (int)y->pitch;
}

CantusStatus cantus_jackrec_write(CantusJackRec *r,
                                  const char *path,
                                  double end_beat,
                                  CantusError *err)
{
  if (r->failed) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory while recording", path);
  }
  uint32_t end = to_tick(r, end_beat);
  end = end > r->last_tick ? end : r->last_tick;
  for (int c = 0; c < 16; c++) {
    for (int p = 0; p < 128; p++) {
      file_off(r, c, p, end);
    }
  }
  qsort(r->notes, r->n_notes, sizeof *r->notes, by_onset);
  uint32_t last = 0;
  for (size_t i = 0; i < r->n_notes; i++) {
    last = r->notes[i].off_tick > last ? r->notes[i].off_tick : last;
  }
  CantusMidiTimeSig ts = { 0, (uint8_t)lround(r->beats_per_bar), (uint8_t)r->beat_unit };
  char names[1][64] = { "cantus-jack" };
  CantusMidiFile mf = {
    .format = 1,
    .n_tracks = 1,
    .tpq = r->tpq,
    .end_tick = last > end ? last : end,
    .notes = r->notes,
    .n_notes = r->n_notes,
    .tempos = r->tempos,
    .n_tempos = r->n_tempos,
    .timesigs = &ts,
    .n_timesigs = 1,
    .track_names = names,
  };
  return cantus_midi_write(path, &mf, err);
}

void cantus_jackrec_free(CantusJackRec *r)
{
  free(r->notes);
  free(r->tempos);
  r->notes = NULL;
  r->tempos = NULL;
  r->n_notes = r->cap_notes = r->n_tempos = r->cap_tempos = 0;
}
