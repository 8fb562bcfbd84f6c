// SPDX-License-Identifier: GPL-3.0-or-later
// MIDI notes -> token stream, the single definition used by the trainer's
// corpus reader and the engine's themes (see tokens.h and models/README.md,
// "What every model sees").  Thread class: non-RT (malloc, qsort).
#include "tokens.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t on, off; // grid ticks
  uint8_t pitch;
  uint8_t velocity;
  uint8_t part;  // 0 in version 1
  uint64_t room; // version 2: ticks to the next onset of this part and pitch, 0 = none
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
  if (x->part != y->part) {
    return x->part < y->part ? -1 : 1;
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

// The duration bin of a merged note: the nearest, but never running into
// the next onset of its part and pitch (then the longest bin that fits).
static int note_bin(const CantusVocab *v, const Note *x)
{
  int bin = cantus_vocab_dur_bin(v, (int64_t)(x->off - x->on));
  while (bin > 0 && x->room && (uint64_t)cantus_vocab_dur_ticks(v, bin) > x->room) {
    bin--;
  }
  return bin;
}

// The version 2 stream of the merged notes, sorted by (on, part, pitch):
// at each onset tick NOTE DUR per note (a VELOCITY before it where the bin
// changes).  With truncate, a note is written only while it and the END fit.
static bool emit_v2(Writer *w, const Note *nt, size_t n, const CantusTokensOptions *opt)
{
  const CantusVocab *v = w->v;
  const bool vel = opt->velocities && v->n_vel > 0;
  const size_t n_end = opt->start_end ? 1 : 0;
  int vel_bin = -1;
  bool closing = false;
  if (opt->start_end) {
    if (opt->truncate && w->cap < 2) {
      return true;
    }
    put(w, CANTUS_TOK_START);
  }
  for (size_t i = 0; i < n && !closing; i++) {
    const Note *x = &nt[i];
    const int bin = vel ? cantus_vocab_vel_to_bin(v, x->velocity) : -1;
    const bool put_vel = bin >= 0 && bin != vel_bin;
    if (opt->truncate) {
      const uint64_t need = shift_count(v, w->tick, x->on) + (put_vel ? 1 : 0) + 2 + n_end;
      if ((uint64_t)w->n + need > w->cap) {
        closing = true;
        continue;
      }
    }
    put_shifts(w, x->on);
    if (put_vel) {
      put(w, cantus_vocab_velocity(v, bin));
      vel_bin = bin;
    }
    put(w, cantus_vocab_note(v, x->part, x->pitch));
    put(w, cantus_vocab_dur(v, note_bin(v, x)));
  }
  if (opt->start_end) {
    put(w, CANTUS_TOK_END);
  }
  return closing;
}

int cantus_tokens_part_by_track_name(const CantusMidiNote *note, void *user)
{
  const CantusTokensPartNames *pn = user;
  const CantusMidiFile *mf = pn->mf;
  if (!mf->track_names || note->track >= mf->n_tracks) {
    return -1;
  }
  const char *name = mf->track_names[note->track];
  for (int k = 0; k < CANTUS_MAX_PARTS; k++) {
    const char *a = pn->names[k];
    if (!a) {
      continue;
    }
    size_t i = 0;
    while (a[i] && name[i] && tolower((unsigned char)a[i]) == tolower((unsigned char)name[i])) {
      i++;
    }
    if (!a[i] && !name[i]) {
      return k;
    }
  }
  return -1;
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
                                .keep_user = NULL,
                                .part = NULL,
                                .part_user = NULL };
}

// Version 2 after merging: the duration and range statistics, then the
// stream counted and written as in version 1.  Frees nt.
static CantusStatus finish_v2(Note *nt,
                              size_t n,
                              const CantusVocab *v,
                              const CantusTokensOptions *opt,
                              uint16_t *tokens,
                              size_t cap,
                              CantusTokensStats *st,
                              CantusError *err)
{
  for (size_t i = 0; i < n; i++) {
    const Note *x = &nt[i];
    const int64_t len = (int64_t)(x->off - x->on);
    const int bin = note_bin(v, x);
    const int64_t d = cantus_vocab_dur_ticks(v, bin) - len;
    if (d != 0) {
      const double ad = (double)(d < 0 ? -d : d);
      st->n_dur_rounded++;
      st->n_dur_capped += len > cantus_vocab_dur_ticks(v, v->n_dur - 1);
      st->dur_rounded_sum += ad;
      st->dur_rounded_max = ad > st->dur_rounded_max ? ad : st->dur_rounded_max;
    }
    st->pitch_min = x->pitch < st->pitch_min ? x->pitch : st->pitch_min;
    st->pitch_max = x->pitch > st->pitch_max ? x->pitch : st->pitch_max;
    st->last_tick = x->off > st->last_tick ? x->off : st->last_tick;
  }
  st->n_notes = (uint32_t)n;
  CantusTokensOptions whole = *opt;
  whole.truncate = false;
  Writer w = { .v = v, .tokens = tokens, .cap = 0, .n = 0, .tick = 0 };
  emit_v2(&w, nt, n, &whole);
  st->n_tokens = w.n;
  const bool fits = w.n <= cap;
  if (fits || cap > 0 || opt->truncate) {
    w = (Writer){ .v = v, .tokens = tokens, .cap = cap, .n = 0, .tick = 0 };
    st->truncated = emit_v2(&w, nt, n, fits ? &whole : opt);
  }
  free(nt);
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
  const bool v2 = cantus_vocab_is_v2(v);
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
    int part = 0;
    if (v2 && opt->part) {
      part = opt->part(mn, opt->part_user);
      if (part < 0 || part >= v->n_parts) {
        st->n_no_part++;
        continue;
      }
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
               mn->velocity,
               (uint8_t)part,
               0 };
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
  // Same pitch (in one part): notes starting together merge (the later off
  // wins); a re-strike cuts the sounding note.
  qsort(nt, n, sizeof *nt, cmp_note);
  long last[CANTUS_MAX_PARTS * 128];
  for (int p = 0; p < CANTUS_MAX_PARTS * 128; p++) {
    last[p] = -1;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const Note x = nt[i];
    const int key = x.part * 128 + x.pitch;
    const long j = last[key];
    if (j >= 0 && nt[j].on == x.on) {
      nt[j].off = x.off > nt[j].off ? x.off : nt[j].off;
      st->n_merged++;
      continue;
    }
    if (j >= 0 && nt[j].off > x.on) {
      nt[j].off = x.on;
      st->n_merged++;
    }
    if (j >= 0) {
      nt[j].room = x.on - nt[j].on;
    }
    nt[kept] = x;
    last[key] = (long)kept;
    kept++;
  }
  n = kept;
  if (v2) {
    return finish_v2(nt, n, v, opt, tokens, cap, st, err);
  }

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

CantusStatus cantus_tokens_to_notes(const uint16_t *tokens,
                                    size_t n_tokens,
                                    const CantusVocab *v,
                                    CantusMidiNote *notes,
                                    size_t cap,
                                    size_t *n_notes,
                                    CantusError *err)
{
  *n_notes = 0;
  if (!cantus_vocab_valid(v)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "tokens: invalid vocabulary");
  }
  if (!notes) {
    cap = 0;
  }
  const bool v2 = cantus_vocab_is_v2(v);
  size_t n = 0;
  uint64_t tick = 0;
  int vel = 96;
  size_t open[128]; // version 1: index of the sounding note of each pitch
  bool sounding[128] = { false };
  bool want_dur = false; // version 2: the last token was a NOTE
  int open_pitch = 0, open_part = 0;
  for (size_t i = 0; i < n_tokens; i++) {
    int val = 0, part = -1;
    const CantusEventKind k = cantus_vocab_decode_part(v, tokens[i], &val, &part);
    if (want_dur && k != CANTUS_EV_DUR) {
      return cantus_error(err, CANTUS_ERR_FORMAT, "tokens: NOTE at %zu without its DUR", i - 1);
    }
    switch (k) {
    case CANTUS_EV_START:
    case CANTUS_EV_END:
      break;
    case CANTUS_EV_SHIFT:
      tick += (uint64_t)val;
      break;
    case CANTUS_EV_VELOCITY:
      vel = cantus_vocab_bin_to_vel(v, val);
      break;
    case CANTUS_EV_NOTE_ON:
      if (sounding[val]) {
        return cantus_error(
          err, CANTUS_ERR_FORMAT, "tokens: NOTE_ON %d at %zu while it sounds", val, i);
      }
      sounding[val] = true;
      open[val] = n;
      if (n < cap) {
        notes[n] = (CantusMidiNote){ .on_tick = (uint32_t)tick,
                                     .off_tick = (uint32_t)tick,
                                     .pitch = (uint8_t)val,
                                     .velocity = (uint8_t)vel,
                                     .channel = 0,
                                     .track = 0 };
      }
      n++;
      break;
    case CANTUS_EV_NOTE_OFF:
      if (!sounding[val]) {
        return cantus_error(
          err, CANTUS_ERR_FORMAT, "tokens: NOTE_OFF %d at %zu while silent", val, i);
      }
      sounding[val] = false;
      if (open[val] < cap) {
        notes[open[val]].off_tick = (uint32_t)tick;
      }
      break;
    case CANTUS_EV_NOTE:
      want_dur = true;
      open_pitch = val;
      open_part = part;
      break;
    case CANTUS_EV_DUR:
      if (!want_dur) {
        return cantus_error(err, CANTUS_ERR_FORMAT, "tokens: DUR at %zu without a NOTE", i);
      }
      want_dur = false;
      if (n < cap) {
        notes[n] = (CantusMidiNote){ .on_tick = (uint32_t)tick,
                                     .off_tick = (uint32_t)(tick + (uint64_t)val),
                                     .pitch = (uint8_t)open_pitch,
                                     .velocity = (uint8_t)vel,
                                     .channel = (uint8_t)open_part,
                                     .track = (uint16_t)open_part };
      }
      n++;
      break;
    default:
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "tokens: token %d at %zu outside the vocabulary", tokens[i], i);
    }
  }
  if (want_dur) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "tokens: the last NOTE has no DUR");
  }
  if (!v2) {
    for (int p = 0; p < 128; p++) {
      if (sounding[p]) {
        return cantus_error(err, CANTUS_ERR_FORMAT, "tokens: pitch %d still sounds at the end", p);
      }
    }
  }
  *n_notes = n;
  if (n > cap) {
    return cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "tokens: %zu notes do not fit a buffer of %zu", n, cap);
  }
  return CANTUS_OK;
}
