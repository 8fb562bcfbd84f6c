// SPDX-License-Identifier: GPL-3.0-or-later
// Measures of form (form.h), defined in models/README.md, "Measures of
// form".  A piece is cut into bars by its time-signature map; its top line
// is the skyline (at each onset, the highest note starting there, unless a
// higher note is still sounding); its key comes from Krumhansl-Kessler
// profiles (dsp/key.c).  Each measure adds a numerator and a denominator, so sets of
// pieces pool.  Non-RT.
#include "form.h"
#include "key.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
  MAX_BARS = 1000000, // a longer piece is refused (a note lasting for hours)
  MAX_VOICES = 16,    // voices (tracks or pitch ranks) the parallels test follows
  SECTION_BARS = 8,
  PHRASE_BARS = 4,
  LONG_NOTE_BEATS = 8,
};

void cantus_form_init(CantusFormCounts *c)
{
  memset(c, 0, sizeof *c);
}

void cantus_form_merge(CantusFormCounts *a, const CantusFormCounts *b)
{
  for (int k = 0; k < CANTUS_FORM_N; k++) {
    a->num[k] += b->num[k];
    a->den[k] += b->den[k];
  }
  a->pieces += b->pieces;
}

double cantus_form_value(const CantusFormCounts *c, CantusFormMeasure k)
{
  if (k < 0 || k >= CANTUS_FORM_N || !(c->den[k] > 0)) {
    return NAN;
  }
  return c->num[k] / c->den[k];
}

static const char *const names[CANTUS_FORM_N] = {
  "bar-repeat", "section", "end-tonic", "phrase-end",  "chord-chance", "clash",
  "long/32",    "par/100", "leaps",     "chord-beat1", "chord-bar",
};

static const char *const descriptions[CANTUS_FORM_N] = {
  "bars repeating an earlier bar (80% of top-line (onset, pitch) pairs shared)",
  "8-bar sections (phrase-aligned) recurring later in the piece",
  "pieces whose last top-line note is the tonic",
  "phrase ends (bars 4, 8, 12 ...) on a tonic- or dominant-chord tone",
  "every bar's downbeat on a tonic- or dominant-chord tone (chance level)",
  "beats holding a semitone or major-seventh clash (of beats with 2+ notes)",
  "notes held 8 beats or more, per 32 bars",
  "parallel fifths or octaves between any two voices, per 100 onsets (ticks where a note starts)",
  "top-line leaps over an octave (of top-line intervals)",
  "bar downbeat notes that are tones of the chord there (of those under a chord)",
  "top-line notes that are tones of the chord at their onset (of those under a chord)",
};

const char *cantus_form_name(CantusFormMeasure k)
{
  return k >= 0 && k < CANTUS_FORM_N ? names[k] : "?";
}

const char *cantus_form_describe(CantusFormMeasure k)
{
  return k >= 0 && k < CANTUS_FORM_N ? descriptions[k] : "?";
}

// ---- key ----------------------------------------------------------------------

bool cantus_form_key(const CantusMidiNote *notes, size_t n, int *tonic, bool *minor)
{
  double pc[12] = { 0 };
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    if (notes[i].channel == 9) {
      continue;
    }
    uint32_t len = notes[i].off_tick > notes[i].on_tick ? notes[i].off_tick - notes[i].on_tick : 1;
    pc[notes[i].pitch % 12] += len;
    any = true;
  }
  *tonic = 0;
  *minor = false;
  if (!any) {
    return false;
  }
  cantus_form_key_of(pc, tonic, minor);
  return true;
}

void cantus_form_key_of(const double pc[12], int *tonic, bool *minor)
{
  cantus_key_estimate(pc, tonic, minor); // dsp/key.c: the one definition
}

// Tonic- and dominant-chord tones relative to the tonic.  Major: I = 1 3 5,
// V = 5 7 2.  Minor: i = 1 b3 5, V = 5 7 2 (harmonic minor) and v = 5 b7 2
// (the natural minor's, common in modal folk tunes).
static bool chord_tone(int pitch, int tonic, bool minor)
{
  static const bool major_set[12] = { 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1 };
  static const bool minor_set[12] = { 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1 };
  int rel = ((pitch - tonic) % 12 + 12) % 12;
  return minor ? minor_set[rel] : major_set[rel];
}

// ---- notes, bars, sweeps --------------------------------------------------------

static int by_onset_then_pitch_down(const void *pa, const void *pb)
{
  const CantusMidiNote *a = pa, *b = pb;
  if (a->on_tick != b->on_tick) {
    return a->on_tick < b->on_tick ? -1 : 1;
  }
  if (a->pitch != b->pitch) {
    return a->pitch > b->pitch ? -1 : 1;
  }
  return (a->track > b->track) - (a->track < b->track);
}

typedef struct {
  uint32_t *start; // (n + 1) bar starts; start[n] = the end of the last bar
  uint32_t *beat;  // (n) beat length of each bar: 4 * tpq / den ticks
  uint8_t *num;    // (n) the time signature of each bar
  uint8_t *den;    // (n)
  size_t n;
} Bars;

static void bars_free(Bars *b)
{
  free(b->start);
  free(b->beat);
  free(b->num);
  free(b->den);
  memset(b, 0, sizeof *b);
}

static uint32_t bar_ticks(const CantusMidiTimeSig *ts, uint32_t tpq)
{
  uint64_t len =
    ts && ts->num > 0 && ts->den > 0 ? (uint64_t)ts->num * 4 * tpq / ts->den : 4ull * tpq;
  return len > 0 ? (uint32_t)(len < UINT32_MAX ? len : UINT32_MAX) : 1;
}

static uint32_t beat_ticks(const CantusMidiTimeSig *ts, uint32_t tpq)
{
  uint64_t len = ts && ts->den > 0 ? 4ull * tpq / ts->den : tpq;
  return len > 0 ? (uint32_t)len : 1;
}

// Bar lines up to `end` (exclusive): every bar length from tick 0, restarting
// at each time-signature change (a change off a bar line ends a short bar).
static CantusStatus make_bars(const CantusFormPiece *p, uint32_t end, Bars *b, CantusError *err)
{
  size_t cap = 64;
  b->n = 0;
  b->start = calloc(cap + 1, sizeof *b->start);
  b->beat = malloc(cap * sizeof *b->beat);
  b->num = malloc(cap);
  b->den = malloc(cap);
  if (!b->start || !b->beat || !b->num || !b->den) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
  }
  const CantusMidiTimeSig *cur = NULL;
  size_t next = 0;
  uint64_t t = 0;
  while (next < p->n_timesigs && p->timesigs[next].tick == 0) {
    cur = &p->timesigs[next++];
  }
  do {
    if (b->n == cap) {
      if (cap >= MAX_BARS) {
        return cantus_error(
          err, CANTUS_ERR_TOO_LARGE, "form: piece longer than %d bars", (int)MAX_BARS);
      }
      cap *= 2;
      uint32_t *s = realloc(b->start, (cap + 1) * sizeof *s);
      if (!s) {
        return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
      }
      b->start = s;
      uint32_t *bt = realloc(b->beat, cap * sizeof *bt);
      if (!bt) {
        return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
      }
      b->beat = bt;
      uint8_t *nu = realloc(b->num, cap), *de = realloc(b->den, cap);
      if (nu) {
        b->num = nu;
      }
      if (de) {
        b->den = de;
      }
      if (!nu || !de) {
        return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
      }
    }
    uint64_t len = bar_ticks(cur, p->tpq);
    uint64_t stop = t + len;
    if (next < p->n_timesigs && p->timesigs[next].tick > t && p->timesigs[next].tick < stop) {
      stop = p->timesigs[next].tick;
    }
    b->start[b->n] = (uint32_t)t;
    b->beat[b->n] = beat_ticks(cur, p->tpq);
    b->num[b->n] = cur && cur->num > 0 && cur->den > 0 ? cur->num : 4;
    b->den[b->n] = cur && cur->num > 0 && cur->den > 0 ? cur->den : 4;
    b->n++;
    t = stop;
    while (next < p->n_timesigs && p->timesigs[next].tick <= t) {
      cur = &p->timesigs[next++];
    }
  } while (t < end && t < UINT32_MAX);
  b->start[b->n] = (uint32_t)(t < UINT32_MAX ? t : UINT32_MAX);
  return CANTUS_OK;
}

// The bar holding tick t (the last bar when t is past the end).
static size_t bar_of(const Bars *b, uint32_t t)
{
  size_t lo = 0, hi = b->n;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->start[mid] <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The notes sounding at a tick (on <= t < off), for ticks visited in
// increasing order.  `active` holds indices into the onset-sorted notes.
typedef struct {
  const CantusMidiNote *notes;
  size_t n, next, n_active;
  size_t *active;
} Sweep;

static void sweep_to(Sweep *s, uint32_t t)
{
  size_t k = 0;
  for (size_t i = 0; i < s->n_active; i++) {
    if (s->notes[s->active[i]].off_tick > t) {
      s->active[k++] = s->active[i];
    }
  }
  s->n_active = k;
  while (s->next < s->n && s->notes[s->next].on_tick <= t) {
    if (s->notes[s->next].off_tick > t) {
      s->active[s->n_active++] = s->next;
    }
    s->next++;
  }
}

// ---- bar matching ----------------------------------------------------------------

// A bar's top line: the range [first, end) of the top-line list.
typedef struct {
  size_t first, end;
} BarNotes;

// The (tick in bar, pitch) pairs two bars' top lines share; *most = the
// larger bar's pair count.  Top-line onsets are distinct and sorted, so a
// merge counts them.
static size_t shared_pairs(const CantusMidiNote *nt,
                           const size_t *top,
                           const Bars *bars,
                           const BarNotes *bn,
                           size_t a,
                           size_t b,
                           size_t *most)
{
  size_t na = bn[a].end - bn[a].first, nb = bn[b].end - bn[b].first;
  *most = na > nb ? na : nb;
  size_t i = bn[a].first, j = bn[b].first, shared = 0;
  while (i < bn[a].end && j < bn[b].end) {
    const CantusMidiNote *x = &nt[top[i]], *y = &nt[top[j]];
    uint32_t tx = x->on_tick - bars->start[a], ty = y->on_tick - bars->start[b];
    if (tx < ty) {
      i++;
    } else if (ty < tx) {
      j++;
    } else {
      shared += x->pitch == y->pitch;
      i++;
      j++;
    }
  }
  return shared;
}

// Two bars match when both are empty, or when they share at least 80 % of
// the larger bar's top-line pairs.
static bool bars_match(const CantusMidiNote *nt,
                       const size_t *top,
                       const Bars *bars,
                       const BarNotes *bn,
                       size_t a,
                       size_t b)
{
  size_t most = 0, shared = shared_pairs(nt, top, bars, bn, a, b, &most);
  return shared * 5 >= most * 4;
}

// ---- the measures ------------------------------------------------------------------

typedef struct {
  CantusMidiNote *nt; // (n) non-drum notes, sorted by onset, then pitch downwards
  size_t n;
  size_t *top; // (n_top) indices into nt: the top line, in time order
  size_t n_top;
  Bars bars;
  BarNotes *bn;   // (bars.n) each bar's top-line notes
  size_t *active; // (n) sweep scratch
  int tonic;
  bool minor;
  size_t first_bar, first_full, last_bar; // bars of the first onset, first full bar, last onset
} Work;

static void work_free(Work *w)
{
  free(w->nt);
  free(w->top);
  bars_free(&w->bars);
  free(w->bn);
  free(w->active);
}

// The skyline: at each onset tick the highest note starting there, unless a
// note started earlier and still sounding is higher.
static void top_line(Work *w)
{
  size_t *held = w->active, n_held = 0; // notes started before the current onset
  w->n_top = 0;
  for (size_t i = 0; i < w->n;) {
    uint32_t t = w->nt[i].on_tick;
    int highest = -1;
    size_t k = 0;
    for (size_t a = 0; a < n_held; a++) {
      if (w->nt[held[a]].off_tick > t) {
        held[k++] = held[a];
        highest = w->nt[held[a]].pitch > highest ? w->nt[held[a]].pitch : highest;
      }
    }
    n_held = k;
    if (w->nt[i].pitch >= highest) { // nt[i] is the highest note starting at t
      w->top[w->n_top++] = i;
    }
    for (; i < w->n && w->nt[i].on_tick == t; i++) {
      held[n_held++] = i;
    }
  }
}

// Bars repeating an earlier bar: a bar from the first full bar to the last
// bar with an onset, holding at least one top-line note, repeats when it
// matches any earlier such bar (bars_match).  The pickup bar takes no part.
static void measure_repeats(const Work *w, CantusFormCounts *c)
{
  for (size_t i = w->first_full; i <= w->last_bar; i++) {
    if (w->bn[i].end == w->bn[i].first) {
      continue;
    }
    c->den[CANTUS_FORM_BAR_REPEAT] += 1;
    for (size_t j = w->first_full; j < i; j++) {
      if (w->bn[j].end > w->bn[j].first && bars_match(w->nt, w->top, &w->bars, w->bn, j, i)) {
        c->num[CANTUS_FORM_BAR_REPEAT] += 1;
        break;
      }
    }
  }
}

// 8-bar sections: bars first_full + 8k .. first_full + 8k + 7.  A section
// counts when it holds a note and a later, non-overlapping 8-bar window fits
// before the last bar with an onset (the last section of an AABB tune has
// nowhere to recur, so it is left out).  It recurs when some window of 8
// bars starting 8 or more bars after it (at any bar, not only a multiple of
// 8) shares, bar by bar, at least 80 % of the top-line (tick in bar, pitch)
// pairs: the bar criterion pooled over the 8 bars, so a section whose last
// bar differs (first and second endings) still recurs.
static void measure_sections(const Work *w, CantusFormCounts *c)
{
  for (size_t s = w->first_full; s + 2 * (size_t)SECTION_BARS - 1 <= w->last_bar;
       s += SECTION_BARS) {
    bool any = false;
    for (size_t k = 0; k < SECTION_BARS; k++) {
      any = any || w->bn[s + k].end > w->bn[s + k].first;
    }
    if (!any) {
      continue;
    }
    c->den[CANTUS_FORM_SECTION] += 1;
    for (size_t v = s + SECTION_BARS; v + SECTION_BARS - 1 <= w->last_bar; v++) {
      size_t shared = 0, most = 0;
      for (size_t k = 0; k < SECTION_BARS; k++) {
        size_t m = 0;
        shared += shared_pairs(w->nt, w->top, &w->bars, w->bn, s + k, v + k, &m);
        most += m;
      }
      if (shared * 5 >= most * 4) {
        c->num[CANTUS_FORM_SECTION] += 1;
        break;
      }
    }
  }
}

// The pitch of bar i's downbeat note: the highest note sounding at the
// bar's first tick, else the bar's first top-line note; -1 for none.  The
// sweep must not be past the bar's first tick.
static int downbeat_pitch(const Work *w, Sweep *s, size_t i)
{
  sweep_to(s, w->bars.start[i]);
  int pitch = -1;
  for (size_t a = 0; a < s->n_active; a++) {
    pitch = w->nt[s->active[a]].pitch > pitch ? w->nt[s->active[a]].pitch : pitch;
  }
  if (pitch < 0 && w->bn[i].end > w->bn[i].first) {
    pitch = w->nt[w->top[w->bn[i].first]].pitch;
  }
  return pitch;
}

// Phrase ends and the chance level: the top-line note at each bar's
// downbeat (downbeat_pitch) against the tonic and dominant chords.
static void measure_cadences(Work *w, CantusFormCounts *c)
{
  Sweep s = { w->nt, w->n, 0, 0, w->active };
  for (size_t i = w->first_full; i <= w->last_bar; i++) {
    const int pitch = downbeat_pitch(w, &s, i);
    if (pitch < 0) {
      continue;
    }
    bool tone = chord_tone(pitch, w->tonic, w->minor);
    c->den[CANTUS_FORM_CHORD_CHANCE] += 1;
    c->num[CANTUS_FORM_CHORD_CHANCE] += tone;
    if ((i - w->first_full + 1) % PHRASE_BARS == 0) {
      c->den[CANTUS_FORM_PHRASE_END] += 1;
      c->num[CANTUS_FORM_PHRASE_END] += tone;
    }
  }
}

// Chord fit (issue 11): over the measured bars, each bar's downbeat note
// (downbeat_pitch) against the chord in force at the bar's first tick, and
// every top-line note starting in the bar against the chord in force at
// its onset.  A note under no chord is not counted.
static void measure_chord_fit(Work *w, const CantusFormChords *ct, CantusFormCounts *c)
{
  Sweep s = { w->nt, w->n, 0, 0, w->active };
  for (size_t i = w->first_full; i <= w->last_bar; i++) {
    const int pitch = downbeat_pitch(w, &s, i);
    const uint16_t chord = cantus_form_chords_at(ct, w->bars.start[i]);
    if (pitch >= 0 && chord) {
      c->den[CANTUS_FORM_CHORD_BEAT1] += 1;
      c->num[CANTUS_FORM_CHORD_BEAT1] += (chord >> (pitch % 12)) & 1u;
    }
    for (size_t k = w->bn[i].first; k < w->bn[i].end; k++) {
      const CantusMidiNote *x = &w->nt[w->top[k]];
      const uint16_t at = cantus_form_chords_at(ct, x->on_tick);
      if (at) {
        c->den[CANTUS_FORM_CHORD_BAR] += 1;
        c->num[CANTUS_FORM_CHORD_BAR] += (at >> (x->pitch % 12)) & 1u;
      }
    }
  }
}

// Beats holding a clash: at every beat of every bar from the first bar with
// an onset to the end of the last note, the distinct pitches sounding; a
// beat with two or more counts, and clashes when two are 1 or 11 semitones
// apart modulo 12 (minor second, major seventh, minor ninth ...).
static void measure_clashes(Work *w, uint32_t end, CantusFormCounts *c)
{
  Sweep s = { w->nt, w->n, 0, 0, w->active };
  for (size_t i = w->first_bar; i < w->bars.n; i++) {
    for (uint64_t t = w->bars.start[i]; t < w->bars.start[i + 1] && t < end; t += w->bars.beat[i]) {
      sweep_to(&s, (uint32_t)t);
      bool pcs[12] = { false };
      int distinct = 0;
      uint8_t seen[128] = { 0 };
      for (size_t a = 0; a < s.n_active; a++) {
        uint8_t p = w->nt[s.active[a]].pitch;
        distinct += !seen[p];
        seen[p] = 1;
        pcs[p % 12] = true;
      }
      if (distinct < 2) {
        continue;
      }
      c->den[CANTUS_FORM_CLASH] += 1;
      bool clash = false;
      for (int q = 0; q < 12 && !clash; q++) {
        clash = pcs[q] && pcs[(q + 1) % 12];
      }
      c->num[CANTUS_FORM_CLASH] += clash;
    }
  }
}

// Parallel fifths and octaves.  At each onset tick (a tick where any note
// starts) every voice has the pitch it sounds there, if any: by track, the
// highest sounding note of that track; by rank, the k-th highest distinct
// sounding pitch, compared between two ticks only when both have the same
// number of pitches.  Between consecutive onset ticks, a pair of voices
// sounding at both moves in parallel when both change pitch in the same
// direction and their distance modulo 12 is 7 at both ticks, or 0 at both.
// The rate is per 100 onsets, an onset being a tick where a note starts (a
// four-note chord is one onset).
static void measure_parallels(Work *w, CantusFormCounts *c, bool by_track)
{
  uint16_t track_id[MAX_VOICES];
  int n_tracks = 0;
  for (size_t i = 0; i < w->n && by_track; i++) {
    int k = 0;
    while (k < n_tracks && track_id[k] != w->nt[i].track) {
      k++;
    }
    if (k == n_tracks && n_tracks < MAX_VOICES) {
      track_id[n_tracks++] = w->nt[i].track;
    }
  }
  Sweep s = { w->nt, w->n, 0, 0, w->active };
  int prev[MAX_VOICES], prev_n = -1;
  for (size_t i = 0; i < w->n;) {
    uint32_t t = w->nt[i].on_tick;
    c->den[CANTUS_FORM_PARALLELS] += 0.01; // per 100 onsets (ticks where a note starts)
    sweep_to(&s, t);
    int cur[MAX_VOICES], cur_n = 0;
    for (int v = 0; v < MAX_VOICES; v++) {
      cur[v] = -1;
    }
    if (by_track) {
      for (size_t a = 0; a < s.n_active; a++) {
        const CantusMidiNote *x = &w->nt[s.active[a]];
        for (int v = 0; v < n_tracks; v++) {
          if (track_id[v] == x->track && x->pitch > cur[v]) {
            cur[v] = x->pitch;
          }
        }
      }
      cur_n = n_tracks;
    } else {
      uint8_t seen[128] = { 0 };
      for (size_t a = 0; a < s.n_active; a++) {
        seen[w->nt[s.active[a]].pitch] = 1;
      }
      for (int p = 127; p >= 0 && cur_n < MAX_VOICES; p--) {
        if (seen[p]) {
          cur[cur_n++] = p;
        }
      }
    }
    if (prev_n >= 0 && (by_track || prev_n == cur_n)) {
      for (int a = 0; a < cur_n; a++) {
        for (int b = a + 1; b < cur_n; b++) {
          if (prev[a] < 0 || prev[b] < 0 || cur[a] < 0 || cur[b] < 0) {
            continue;
          }
          int ma = cur[a] - prev[a], mb = cur[b] - prev[b];
          if (ma == 0 || mb == 0 || (ma > 0) != (mb > 0)) {
            continue;
          }
          int d0 = abs(prev[a] - prev[b]) % 12, d1 = abs(cur[a] - cur[b]) % 12;
          if (d0 == d1 && (d0 == 0 || d0 == 7)) {
            c->num[CANTUS_FORM_PARALLELS] += 1;
          }
        }
      }
    }
    memcpy(prev, cur, sizeof prev);
    prev_n = cur_n;
    while (i < w->n && w->nt[i].on_tick == t) {
      i++;
    }
  }
}

CantusStatus cantus_form_add_piece(CantusFormCounts *c, const CantusFormPiece *p, CantusError *err)
{
  if (p->tpq == 0) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "form: ticks per quarter is 0");
  }
  Work w;
  memset(&w, 0, sizeof w);
  CantusFormCounts one;
  cantus_form_init(&one);
  one.pieces = 1;
  size_t cap = p->n_notes ? p->n_notes : 1;
  w.nt = malloc(cap * sizeof *w.nt);
  w.top = malloc(cap * sizeof *w.top);
  w.active = malloc(cap * sizeof *w.active);
  if (!w.nt || !w.top || !w.active) {
    work_free(&w);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
  }
  uint32_t end = 0;
  for (size_t i = 0; i < p->n_notes; i++) {
    CantusMidiNote x = p->notes[i];
    if (x.channel == 9) {
      continue;
    }
    x.pitch &= 0x7f;
    if (x.off_tick <= x.on_tick) {
      x.off_tick = x.on_tick < UINT32_MAX ? x.on_tick + 1 : x.on_tick;
    }
    end = x.off_tick > end ? x.off_tick : end;
    w.nt[w.n++] = x;
  }
  if (w.n == 0) {
    work_free(&w);
    cantus_form_merge(c, &one);
    return CANTUS_OK;
  }
  qsort(w.nt, w.n, sizeof *w.nt, by_onset_then_pitch_down);
  CantusStatus st = make_bars(p, end, &w.bars, err);
  if (st) {
    work_free(&w);
    return st;
  }
  w.first_bar = bar_of(&w.bars, w.nt[0].on_tick);
  if (p->max_bars > 0 && w.first_bar + p->max_bars < w.bars.n) {
    uint32_t cut = w.bars.start[w.first_bar + p->max_bars];
    size_t k = 0;
    end = 0;
    for (size_t i = 0; i < w.n; i++) {
      if (w.nt[i].on_tick < cut) {
        w.nt[k] = w.nt[i];
        w.nt[k].off_tick = w.nt[k].off_tick < cut ? w.nt[k].off_tick : cut;
        end = w.nt[k].off_tick > end ? w.nt[k].off_tick : end;
        k++;
      }
    }
    w.n = k;
    w.bars.n = w.first_bar + p->max_bars;
  }
  // A first onset after its bar line makes that bar a pickup (anacrusis):
  // bar numbers for phrases and sections start at the next bar.
  w.first_full = w.first_bar + (w.nt[0].on_tick > w.bars.start[w.first_bar]);
  w.last_bar = bar_of(&w.bars, w.nt[w.n - 1].on_tick);
  cantus_form_key(w.nt, w.n, &w.tonic, &w.minor);
  top_line(&w);

  w.bn = calloc(w.bars.n, sizeof *w.bn);
  if (!w.bn) {
    work_free(&w);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
  }
  for (size_t i = 0, b = 0; b < w.bars.n; b++) {
    while (i < w.n_top && w.nt[w.top[i]].on_tick < w.bars.start[b]) {
      i++;
    }
    w.bn[b].first = i;
    while (i < w.n_top && w.nt[w.top[i]].on_tick < w.bars.start[b + 1]) {
      i++;
    }
    w.bn[b].end = i;
  }

  if (w.first_full <= w.last_bar) {
    measure_repeats(&w, &one);
    measure_sections(&w, &one);
    measure_cadences(&w, &one);
    if (p->chords) {
      measure_chord_fit(&w, p->chords, &one);
    }
  }
  one.den[CANTUS_FORM_END_TONIC] = 1;
  one.num[CANTUS_FORM_END_TONIC] = w.nt[w.top[w.n_top - 1]].pitch % 12 == w.tonic;
  measure_clashes(&w, end, &one);

  // Notes of 8 beats or more (beats of the bar they start in), per 32 bars
  // of the piece's span: the first bar with an onset to the last bar a note
  // sounds in.
  for (size_t i = 0; i < w.n; i++) {
    uint32_t beat = w.bars.beat[bar_of(&w.bars, w.nt[i].on_tick)];
    one.num[CANTUS_FORM_LONG_NOTES] +=
      w.nt[i].off_tick - w.nt[i].on_tick >= (uint64_t)LONG_NOTE_BEATS * beat;
  }
  one.den[CANTUS_FORM_LONG_NOTES] = (double)(bar_of(&w.bars, end - 1) - w.first_bar + 1) / 32.0;

  measure_parallels(&w, &one, p->voices_by_track);

  // Leaps: consecutive top-line notes more than 12 semitones apart.
  for (size_t i = 1; i < w.n_top; i++) {
    int d = abs((int)w.nt[w.top[i]].pitch - (int)w.nt[w.top[i - 1]].pitch);
    one.den[CANTUS_FORM_LEAPS] += 1;
    one.num[CANTUS_FORM_LEAPS] += d > 12;
  }
  work_free(&w);
  cantus_form_merge(c, &one);
  return CANTUS_OK;
}

// ---- chords (issue 11) ---------------------------------------------------------

uint16_t cantus_form_chords_at(const CantusFormChords *c, uint32_t t)
{
  if (!c || c->n == 0 || t < c->tick[0] || t >= c->tick[c->n]) {
    return 0;
  }
  size_t lo = 0, hi = c->n; // tick[lo] <= t < tick[hi]
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (c->tick[mid] <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return c->pcs[lo];
}

void cantus_form_chords_free(CantusFormChords *c)
{
  if (c) {
    free(c->tick);
    free(c->pcs);
    memset(c, 0, sizeof *c);
    c->kind = -1;
  }
}

// Appends (tick, pcs), growing the arrays; tick[n] is kept free for the end.
static bool track_push(CantusFormChords *c, size_t *cap, uint32_t tick, uint16_t pcs)
{
  if (c->n + 1 >= *cap) {
    const size_t nc = *cap ? 2 * *cap : 256;
    uint32_t *t = realloc(c->tick, nc * sizeof *t);
    if (t) {
      c->tick = t;
    }
    uint16_t *p = realloc(c->pcs, nc * sizeof *p);
    if (p) {
      c->pcs = p;
    }
    if (!t || !p) {
      return false;
    }
    *cap = nc;
  }
  c->tick[c->n] = tick;
  c->pcs[c->n++] = pcs;
  return true;
}

typedef struct {
  int64_t on, off;
  uint8_t pitch;
} SpanNote;

static int by_on(const void *pa, const void *pb)
{
  const SpanNote *a = pa, *b = pb;
  return (a->on > b->on) - (a->on < b->on);
}

// The chord part of a track name: CANTUS_CHORD_SPAN_ACCOMP for an
// accompaniment, _VOICES for a chorale's lower voice, -1 for anything else.
static int chord_part(const char *name)
{
  if (!strcasecmp(name, "accompaniment")) {
    return CANTUS_CHORD_SPAN_ACCOMP;
  }
  if (!strcasecmp(name, "alto") || !strcasecmp(name, "tenor") || !strcasecmp(name, "bass")) {
    return CANTUS_CHORD_SPAN_VOICES;
  }
  return -1;
}

CantusStatus cantus_form_file_chords(const CantusFormPiece *p,
                                     char (*track_names)[64],
                                     size_t n_tracks,
                                     CantusFormChords *out,
                                     CantusError *err)
{
  memset(out, 0, sizeof *out);
  out->kind = -1;
  if (p->tpq == 0) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "form: ticks per quarter is 0");
  }
  // An accompaniment wins over lower voices.
  int kind = -1;
  for (size_t i = 0; i < p->n_notes && track_names; i++) {
    const CantusMidiNote *x = &p->notes[i];
    if (x->channel == 9 || x->track >= n_tracks) {
      continue;
    }
    const int k = chord_part(track_names[x->track]);
    if (k == CANTUS_CHORD_SPAN_ACCOMP || (k >= 0 && kind < 0)) {
      kind = k;
    }
  }
  if (kind < 0) {
    return CANTUS_OK;
  }
  SpanNote *sn = malloc((p->n_notes ? p->n_notes : 1) * sizeof *sn);
  if (!sn) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
  }
  size_t n = 0;
  int64_t end = 0, longest = 1;
  for (size_t i = 0; i < p->n_notes; i++) {
    const CantusMidiNote *x = &p->notes[i];
    if (x->channel == 9 || x->track >= n_tracks || chord_part(track_names[x->track]) != kind) {
      continue;
    }
    const int64_t off = x->off_tick > x->on_tick ? x->off_tick : (int64_t)x->on_tick + 1;
    sn[n++] = (SpanNote){ x->on_tick, off, (uint8_t)(x->pitch & 0x7f) };
    end = off > end ? off : end;
    longest = off - x->on_tick > longest ? off - x->on_tick : longest;
  }
  qsort(sn, n, sizeof *sn, by_on);
  int64_t *on = malloc((n ? n : 1) * sizeof *on), *off = malloc((n ? n : 1) * sizeof *off);
  uint8_t *pitch = malloc(n ? n : 1);
  Bars bars = { 0 };
  CantusStatus st = CANTUS_OK;
  if (!on || !off || !pitch) {
    st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
  } else {
    for (size_t i = 0; i < n; i++) {
      on[i] = sn[i].on;
      off[i] = sn[i].off;
      pitch[i] = sn[i].pitch;
    }
    st = make_bars(p, end > UINT32_MAX ? UINT32_MAX : (uint32_t)end, &bars, err);
  }
  free(sn);
  size_t cap = 0, lo = 0, hi = 0;
  int64_t t1 = 0;
  for (size_t b = 0; st == CANTUS_OK && b < bars.n; b++) {
    const CantusChordWindow win =
      cantus_chord_window(bars.num[b], bars.den[b], (int)p->tpq, (CantusChordSpanKind)kind);
    for (int64_t t0 = bars.start[b]; t0 < bars.start[b + 1]; t0 = t1) {
      t1 = t0 + win.span < bars.start[b + 1] ? t0 + win.span : bars.start[b + 1];
      while (lo < n && on[lo] + longest <= t0) {
        lo++; // no note starting this early still sounds at t0
      }
      while (hi < n && on[hi] < t1) {
        hi++;
      }
      const CantusChord c =
        cantus_chord_of_span(on + lo, off + lo, pitch + lo, hi - lo, t0, t1, win.min_overlap);
      if (!track_push(out, &cap, (uint32_t)t0, c.pcs)) {
        st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
        break;
      }
    }
  }
  if (st == CANTUS_OK && out->n) {
    out->tick[out->n] = (uint32_t)t1;
    out->kind = kind;
  } else {
    cantus_form_chords_free(out);
  }
  bars_free(&bars);
  free(on);
  free(off);
  free(pitch);
  return st;
}

CantusStatus cantus_form_progression_chords(const CantusFormPiece *p,
                                            const uint16_t *pcs,
                                            const uint16_t *beats,
                                            size_t n,
                                            uint32_t end,
                                            CantusFormChords *out,
                                            CantusError *err)
{
  memset(out, 0, sizeof *out);
  out->kind = -1;
  if (p->tpq == 0 || n == 0) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "form: no ticks per quarter or no chords");
  }
  Bars bars = { 0 };
  CantusStatus st = make_bars(p, end ? end : 1, &bars, err);
  size_t cap = 0, k = 0;
  uint64_t t = 0;
  while (st == CANTUS_OK && t < end && t < bars.start[bars.n]) {
    const size_t b = bar_of(&bars, (uint32_t)t);
    uint64_t len = beats[k] ? (uint64_t)beats[k] * bars.beat[b] : bars.start[b + 1] - t;
    len = len ? len : 1;
    if (!track_push(out, &cap, (uint32_t)t, pcs[k] & 0xfffu)) {
      st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "form: out of memory");
      break;
    }
    t += len;
    k = (k + 1) % n;
  }
  if (st == CANTUS_OK && out->n) {
    out->tick[out->n] = (uint32_t)(t < UINT32_MAX ? t : UINT32_MAX);
  } else {
    cantus_form_chords_free(out);
  }
  bars_free(&bars);
  return st;
}
