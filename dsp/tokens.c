// SPDX-License-Identifier: GPL-3.0-or-later
// MIDI notes -> token stream, the single definition used by the trainer's
// corpus reader and the engine's themes (see tokens.h and models/README.md,
// "What every model sees").  Thread class: non-RT (malloc, qsort).
#include "tokens.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t on, off; // grid ticks
  uint8_t pitch;
  uint8_t velocity;
} Note;

// One NOTE_OFF or NOTE_ON of a merged note.  After merging, (tick, on,
// pitch) is unique, so the sort order is total.
typedef struct {
  uint64_t tick;
  uint64_t off; // for an on: its note's off tick
  uint8_t on;   // 0 = off (sorts first at one tick), 1 = on
  uint8_t pitch;
  uint8_t velocity;
} Event;

static int cmp_note(const void *a, const void *b)
{
  const Note *x = a, *y = b;
  if (x->on != y->on) {
    return x->on < y->on ? -1 : 1;
  }
  if (x->pitch != y->pitch) {
    return x->pitch < y->pitch ? -1 : 1;
  }
  return x->off > y->off ? -1 : (x->off < y->off ? 1 : 0);
}

static int cmp_event(const void *a, const void *b)
{
  const Event *x = a, *y = b;
  if (x->tick != y->tick) {
    return x->tick < y->tick ? -1 : 1;
  }
  if (x->on != y->on) {
    return x->on < y->on ? -1 : 1;
  }
  return x->pitch < y->pitch ? -1 : (x->pitch > y->pitch ? 1 : 0);
}

uint64_t cantus_tokens_snap(uint64_t t, uint32_t file_tpq, uint32_t grid, double *moved)
{
  uint64_t num = t * grid;
  uint64_t g = (2 * num + file_tpq) / (2 * (uint64_t)file_tpq);
  int64_t diff = (int64_t)(g * file_tpq) - (int64_t)num;
  *moved = (double)(diff < 0 ? -diff : diff) / (double)file_tpq;
  return g;
}

// Folds a pitch into [lo, hi] by octaves (then clamps, for ranges under an octave).
static int fold_pitch(int p, int lo, int hi)
{
  while (p < lo && p + 12 <= 127) {
    p += 12;
  }
  while (p > hi && p - 12 >= 0) {
    p -= 12;
  }
  return p < lo ? lo : p > hi ? hi : p;
}

static uint64_t shift_count(const CantusVocab *v, uint64_t from, uint64_t to)
{
  return to <= from ? 0 : (to - from + v->n_shift - 1) / v->n_shift;
}

typedef struct {
  const CantusVocab *v;
  uint16_t *tokens;
  size_t cap;
  size_t n;      // tokens of the stream so far (written or counted)
  uint64_t tick; // after them
} Writer;

static void put(Writer *w, int token)
{
  if (w->n < w->cap) {
    w->tokens[w->n] = (uint16_t)token;
  }
  w->n++;
}

// SHIFTs to tick `to`, each as long as possible.
static void put_shifts(Writer *w, uint64_t to)
{
  while (w->tick < to) {
    const uint64_t step = to - w->tick < w->v->n_shift ? to - w->tick : w->v->n_shift;
    put(w, cantus_vocab_shift(w->v, (int)step));
    w->tick += step;
  }
}

// Writes (or, with w->cap too small, counts) the stream of the sorted
// events.  With truncate, a NOTE_ON is written only while its note, every
// sounding note and the END fit after it; then only the offs of sounding
// notes follow.  Returns true when the stream was cut.
static bool emit(Writer *w, const Event *ev, size_t n_ev, const CantusTokensOptions *opt)
{
  const CantusVocab *v = w->v;
  const bool vel = opt->velocities && v->n_vel > 0;
  const size_t n_end = opt->start_end ? 1 : 0;
  uint8_t sounding[128] = { 0 };
  size_t n_on = 0;
  uint64_t open_until = 0; // latest off of a sounding note
  int vel_bin = -1;
  bool closing = false;
  if (opt->start_end) {
    if (opt->truncate && w->cap < 2) {
      return true;
    }
    put(w, CANTUS_TOK_START);
  }
  for (size_t i = 0; i < n_ev; i++) {
    const Event *x = &ev[i];
    if (!x->on) {
      if (!sounding[x->pitch]) {
        continue; // its note-on was cut off by truncation
      }
      put_shifts(w, x->tick);
      put(w, cantus_vocab_note_off(v, x->pitch));
      sounding[x->pitch] = 0;
      n_on--;
      continue;
    }
    if (closing) {
      continue;
    }
    const int bin = vel ? cantus_vocab_vel_to_bin(v, x->velocity) : -1;
    const bool put_vel = bin >= 0 && bin != vel_bin;
    if (opt->truncate) {
      // Shifts here, maybe VEL, the ON; then one OFF per sounding note and
      // the shifts to the latest off, which stop at most once per off on
      // the way (each stop adds at most one token to the even split).
      const uint64_t until = x->off > open_until ? x->off : open_until;
      const uint64_t need = shift_count(v, w->tick, x->tick) + (put_vel ? 1 : 0) + 1 +
                            2 * ((uint64_t)n_on + 1) + shift_count(v, x->tick, until) + n_end;
      if ((uint64_t)w->n + need > w->cap) {
        closing = true;
        continue;
      }
      open_until = until;
    }
    put_shifts(w, x->tick);
    if (put_vel) {
      put(w, cantus_vocab_velocity(v, bin));
      vel_bin = bin;
    }
    put(w, cantus_vocab_note_on(v, x->pitch));
    sounding[x->pitch] = 1;
    n_on++;
  }
  if (opt->start_end) {
    put(w, CANTUS_TOK_END);
  }
  return closing;
}

CantusTokensOptions cantus_tokens_options_default(void)
{
  return (CantusTokensOptions){ .keep_drums = false,
                                .fold_pitches = false,
                                .start_end = false,
                                .velocities = false,
                                .truncate = false,
                                .end_tick = 0,
                                .keep = NULL,
                                .keep_user = NULL };
}

CantusStatus cantus_tokens_from_notes(const CantusMidiNote *notes,
                                      size_t n_notes,
                                      uint32_t file_tpq,
                                      const CantusVocab *v,
                                      const CantusTokensOptions *opt,
                                      uint16_t *tokens,
                                      size_t cap,
                                      CantusTokensStats *stats,
                                      CantusError *err)
{
  CantusTokensStats *st = stats;
  memset(st, 0, sizeof *st);
  st->pitch_min = 127;
  if (!cantus_vocab_valid(v)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "tokens: invalid vocabulary");
  }
  if (file_tpq == 0) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "tokens: zero ticks per quarter");
  }
  if (!tokens) {
    cap = 0;
  }
  const uint32_t g = v->tpq;
  Note *nt = malloc((n_notes ? n_notes : 1) * sizeof *nt);
  if (!nt) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "tokens: out of memory");
  }
  size_t n = 0;
  for (size_t i = 0; i < n_notes; i++) {
    const CantusMidiNote *mn = &notes[i];
    if (mn->channel == 9 && !opt->keep_drums) {
      st->n_drum++;
      continue;
    }
    if (opt->keep && !opt->keep(mn, opt->keep_user)) {
      st->n_filtered++;
      continue;
    }
    int pitch = mn->pitch;
    if (pitch < v->pitch_lo || pitch > v->pitch_hi) {
      st->n_out_of_range++;
      if (!opt->fold_pitches) {
        continue;
      }
      pitch = fold_pitch(pitch, v->pitch_lo, v->pitch_hi);
    }
    double m1, m2;
    Note x = { cantus_tokens_snap(mn->on_tick, file_tpq, g, &m1),
               cantus_tokens_snap(mn->off_tick, file_tpq, g, &m2),
               (uint8_t)pitch,
               mn->velocity };
    if (opt->end_tick && x.on >= opt->end_tick) {
      st->n_after_end++;
      continue;
    }
    if (m1 > 0) {
      st->n_onsets_moved++;
      st->onset_moved_sum += m1;
      st->onset_moved_max = m1 > st->onset_moved_max ? m1 : st->onset_moved_max;
    }
    if (m2 > 0) {
      st->n_offsets_moved++;
      st->offset_moved_sum += m2;
      st->offset_moved_max = m2 > st->offset_moved_max ? m2 : st->offset_moved_max;
    }
    if (x.off <= x.on) {
      x.off = x.on + 1;
      st->n_lengthened++;
    }
    if (opt->end_tick && x.off > opt->end_tick) {
      x.off = opt->end_tick;
    }
    nt[n++] = x;
  }
  // Same pitch: notes starting together merge (the later off wins); a
  // re-strike cuts the sounding note.
  qsort(nt, n, sizeof *nt, cmp_note);
  long last[128];
  for (int p = 0; p < 128; p++) {
    last[p] = -1;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const Note x = nt[i];
    const long j = last[x.pitch];
    if (j >= 0 && nt[j].on == x.on) {
      nt[j].off = x.off > nt[j].off ? x.off : nt[j].off;
      st->n_merged++;
      continue;
    }
    if (j >= 0 && nt[j].off > x.on) {
      nt[j].off = x.on;
      st->n_merged++;
    }
    nt[kept] = x;
    last[x.pitch] = (long)kept;
    kept++;
  }
  n = kept;

  Event *ev = malloc((n ? 2 * n : 1) * sizeof *ev);
  if (!ev) {
    free(nt);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "tokens: out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    ev[2 * i] = (Event){ nt[i].on, nt[i].off, 1, nt[i].pitch, nt[i].velocity };
    ev[2 * i + 1] = (Event){ nt[i].off, 0, 0, nt[i].pitch, 0 };
    st->pitch_min = nt[i].pitch < st->pitch_min ? nt[i].pitch : st->pitch_min;
    st->pitch_max = nt[i].pitch > st->pitch_max ? nt[i].pitch : st->pitch_max;
  }
  free(nt);
  qsort(ev, 2 * n, sizeof *ev, cmp_event);
  st->n_notes = (uint32_t)n;
  st->last_tick = n ? ev[2 * n - 1].tick : 0;

  // Count the whole stream first; write it when it fits, else cut it or fail.
  CantusTokensOptions whole = *opt;
  whole.truncate = false;
  Writer w = { .v = v, .tokens = tokens, .cap = 0, .n = 0, .tick = 0 };
  emit(&w, ev, 2 * n, &whole);
  st->n_tokens = w.n;
  const bool fits = w.n <= cap;
  if (fits || cap > 0 || opt->truncate) {
    w = (Writer){ .v = v, .tokens = tokens, .cap = cap, .n = 0, .tick = 0 };
    st->truncated = emit(&w, ev, 2 * n, fits ? &whole : opt);
  }
  free(ev);
  st->n_written = w.n < cap ? w.n : cap;
  st->end_tick = w.tick;
  if (!fits && !opt->truncate) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "tokens: %zu tokens do not fit a buffer of %zu",
                        st->n_tokens,
                        cap);
  }
  return CANTUS_OK;
}
