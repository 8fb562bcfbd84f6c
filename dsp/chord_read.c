// SPDX-License-Identifier: GPL-3.0-or-later
// Reading chords (dsp/chord.h): chord symbols and progressions from text,
// the names of chords, the live chord reader and a chord track from a MIDI
// file.  The parsers and the formatter are non-RT but never allocate (their
// messages go into the caller's buffer); the reader is [RT] (fixed size, no
// loops but over its 4 bitset words); cantus_chord_track_from_midi is
// non-RT (allocates its event list and frees it).
#include "chord.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYMBOL_MAX 24 // longest chord symbol read ("C#maj7/G#" is 9)
#define BEATS_MAX 64  // longest chord in a progression, in beats

// Chord qualities: the name in symbols (aliases after the first of a set),
// the pitch classes above the root (bit k = k semitones).
static const struct {
  const char *name;
  uint16_t set;
} qualities[] = {
  { "", 1u << 0 | 1u << 4 | 1u << 7 },
  { "m", 1u << 0 | 1u << 3 | 1u << 7 },
  { "7", 1u << 0 | 1u << 4 | 1u << 7 | 1u << 10 },
  { "maj7", 1u << 0 | 1u << 4 | 1u << 7 | 1u << 11 },
  { "m7", 1u << 0 | 1u << 3 | 1u << 7 | 1u << 10 },
  { "dim", 1u << 0 | 1u << 3 | 1u << 6 },
  { "aug", 1u << 0 | 1u << 4 | 1u << 8 },
  { "sus2", 1u << 0 | 1u << 2 | 1u << 7 },
  { "sus4", 1u << 0 | 1u << 5 | 1u << 7 },
  // aliases, read but never written
  { "maj", 1u << 0 | 1u << 4 | 1u << 7 },
  { "min", 1u << 0 | 1u << 3 | 1u << 7 },
  { "M7", 1u << 0 | 1u << 4 | 1u << 7 | 1u << 11 },
  { "min7", 1u << 0 | 1u << 3 | 1u << 7 | 1u << 10 },
  { "+", 1u << 0 | 1u << 4 | 1u << 8 },
  { "sus", 1u << 0 | 1u << 5 | 1u << 7 },
};
#define N_WRITTEN 9 // qualities[0..8] are the canonical names
#define N_QUALITIES (sizeof qualities / sizeof qualities[0])

static const char *const pc_names[12] = { "C",  "C#", "D",  "Eb", "E",  "F",
                                          "F#", "G",  "Ab", "A",  "Bb", "B" };

static uint16_t rotate(uint16_t set, int root)
{
  set &= 0xfffu;
  return (uint16_t)(((set << root) | (set >> (12 - root))) & 0xfffu);
}

// The message, with the text quoted safely (printable ASCII, at most 24
// characters, then "...").
static int fail(char *err, size_t size, const char *text, size_t len, const char *fmt, ...)
{
  if (!err || size == 0) {
    return -1;
  }
  char q[SYMBOL_MAX + 4];
  size_t n = 0;
  for (size_t i = 0; i < len && n < SYMBOL_MAX; i++) {
    const unsigned char c = (unsigned char)text[i];
    q[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (len > SYMBOL_MAX) {
    memcpy(q + n, "...", 3);
    n += 3;
  }
  q[n] = '\0';
  char why[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  snprintf(err, size, "bad chord '%s': %s", q, why);
  for (char *p = err; *p; p++) {
    *p = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?'; // one printable line
  }
  return -1;
}

// A pitch-class letter with an optional '#' or 'b' at s[*i]; -1 if none.
static int read_pc(const char *s, size_t len, size_t *i)
{
  static const int base[7] = { 9, 11, 0, 2, 4, 5, 7 }; // A..G
  if (*i >= len || s[*i] < 'A' || s[*i] > 'G') {
    return -1;
  }
  int pc = base[s[*i] - 'A'];
  (*i)++;
  if (*i < len && s[*i] == '#') {
    pc++;
    (*i)++;
  } else if (*i < len && s[*i] == 'b') {
    pc--;
    (*i)++;
  }
  return (pc + 12) % 12;
}

// One symbol of len bytes (not terminated).
static int parse_symbol(const char *s, size_t len, CantusChord *out, char *err, size_t err_size)
{
  *out = cantus_chord_none();
  if (len == 0) {
    return fail(err, err_size, s, len, "empty");
  }
  if (len > SYMBOL_MAX) {
    return fail(err, err_size, s, len, "longer than %d characters", SYMBOL_MAX);
  }
  if ((len == 1 && s[0] == 'N') || (len == 2 && !memcmp(s, "NC", 2)) ||
      (len == 4 && !memcmp(s, "N.C.", 4))) {
    return 0;
  }
  size_t i = 0;
  const int root = read_pc(s, len, &i);
  if (root < 0) {
    return fail(err, err_size, s, len, "a chord starts with a root A..G (or N for no chord)");
  }
  size_t q_end = i;
  while (q_end < len && s[q_end] != '/') {
    q_end++;
  }
  const size_t q_len = q_end - i;
  int q = -1;
  for (size_t k = 0; k < N_QUALITIES; k++) {
    if (strlen(qualities[k].name) == q_len && !memcmp(qualities[k].name, s + i, q_len)) {
      q = (int)k;
      break;
    }
  }
  if (q < 0) {
    return fail(err,
                err_size,
                s,
                len,
                "unknown quality '%.*s' (known: major, m, 7, maj7, m7, dim, aug, sus2, sus4)",
                (int)(q_len > 8 ? 8 : q_len),
                s + i);
  }
  int bass = root;
  if (q_end < len) {
    size_t j = q_end + 1;
    bass = read_pc(s, len, &j);
    if (bass < 0 || j != len) {
      return fail(err, err_size, s, len, "a slash is followed by a bass note A..G");
    }
  }
  out->pcs = (uint16_t)(rotate(qualities[q].set, root) | 1u << bass);
  out->root = (int8_t)root;
  out->bass = (int8_t)bass;
  return 0;
}

int cantus_chord_parse(const char *text, CantusChord *out, char *err, size_t err_size)
{
  if (!text) {
    *out = cantus_chord_none();
    return fail(err, err_size, "", 0, "empty");
  }
  const size_t len = strnlen(text, SYMBOL_MAX + 1);
  return parse_symbol(text, len, out, err, err_size);
}

static void append(char *buf, size_t size, size_t *n, const char *s)
{
  for (; *s && *n + 1 < size; s++) {
    buf[(*n)++] = *s;
  }
  buf[*n < size ? *n : size - 1] = '\0';
}

void cantus_chord_format(CantusChord c, char *buf, size_t size)
{
  if (!buf || size == 0) {
    return;
  }
  buf[0] = '\0';
  size_t n = 0;
  const uint16_t pcs = c.pcs & 0xfffu;
  if (!pcs) {
    append(buf, size, &n, "N");
    return;
  }
  const int bass = c.bass >= 0 && c.bass < 12 ? c.bass : -1;
  // A named root first, then any root whose quality gives the set (the
  // bass as root preferred), then the set without a foreign bass.
  int root = -1, q = -1;
  for (int pass = 0; pass < 3 && q < 0; pass++) {
    const uint16_t want = pass == 2 && bass >= 0 ? (uint16_t)(pcs & ~(1u << bass)) : pcs;
    for (int k = 0; k < 12 && q < 0; k++) {
      const int r = pass == 0 ? c.root : (bass >= 0 ? bass + k : k) % 12;
      if (r < 0 || r > 11 || (pass == 0 && k > 0)) {
        continue;
      }
      for (int j = 0; j < N_WRITTEN; j++) {
        if (rotate(qualities[j].set, r) == want) {
          root = r;
          q = j;
          break;
        }
      }
    }
  }
  if (q < 0) {
    append(buf, size, &n, "{");
    for (int p = 0, first = 1; p < 12; p++) {
      if ((pcs >> p) & 1u) {
        append(buf, size, &n, first ? "" : " ");
        append(buf, size, &n, pc_names[p]);
        first = 0;
      }
    }
    append(buf, size, &n, "}");
    return;
  }
  append(buf, size, &n, pc_names[root]);
  append(buf, size, &n, qualities[q].name);
  if (bass >= 0 && bass != root) {
    append(buf, size, &n, "/");
    append(buf, size, &n, pc_names[bass]);
  }
}

static bool is_sep(char c)
{
  return c == ' ' || c == ',' || c == '|' || c == '\t' || c == '\n' || c == '\r';
}

int cantus_progression_parse(const char *text, CantusProgression *out, char *err, size_t err_size)
{
  out->n = 0;
  if (!text) {
    text = "";
  }
  const char *s = text;
  // Bounded by the text and by the 256 chords (a longer text is refused
  // once it holds one more chord).
  for (;;) {
    while (*s && is_sep(*s)) {
      s++;
    }
    if (!*s) {
      break;
    }
    const char *t = s;
    while (*s && !is_sep(*s)) {
      s++;
    }
    const size_t len = (size_t)(s - t);
    if (out->n >= CANTUS_MAX_PROGRESSION) {
      if (err && err_size) {
        snprintf(err, err_size, "bad progression: more than %d chords", CANTUS_MAX_PROGRESSION);
      }
      out->n = 0;
      return -1;
    }
    const char *colon = memchr(t, ':', len);
    const size_t sym_len = colon ? (size_t)(colon - t) : len;
    unsigned beats = 0;
    if (colon) {
      const char *d = colon + 1, *end = t + len;
      if (d == end || end - d > 2) {
        out->n = 0;
        return fail(err, err_size, t, len, "a length is 1..%d beats (\"D:2\")", BEATS_MAX);
      }
      for (; d < end; d++) {
        if (*d < '0' || *d > '9') {
          out->n = 0;
          return fail(err, err_size, t, len, "a length is 1..%d beats (\"D:2\")", BEATS_MAX);
        }
        beats = beats * 10 + (unsigned)(*d - '0');
      }
      if (beats < 1 || beats > BEATS_MAX) {
        out->n = 0;
        return fail(err, err_size, t, len, "a length is 1..%d beats (\"D:2\")", BEATS_MAX);
      }
    }
    CantusChord c;
    if (parse_symbol(t, sym_len, &c, err, err_size) != 0) {
      out->n = 0;
      return -1;
    }
    out->chord[out->n] = c;
    out->beats[out->n] = (uint16_t)beats;
    out->n++;
  }
  if (out->n == 0) {
    if (err && err_size) {
      snprintf(err, err_size, "bad progression: no chords (give symbols such as \"D G D A\")");
    }
    return -1;
  }
  return 0;
}

// ---- the live reader ---------------------------------------------------------

void cantus_chord_reader_init(CantusChordReader *r, int64_t window)
{
  memset(r, 0, sizeof *r);
  r->window = window > 0 ? window : 1;
  r->chord = cantus_chord_none();
  r->low = -1;
}

static bool held(const CantusChordReader *r, int p)
{
  return (r->held_notes[p >> 5] >> (p & 31)) & 1u;
}

bool cantus_chord_reader_note(CantusChordReader *r, int64_t tick, int pitch, bool on)
{
  if (pitch < 0 || pitch > 127) {
    return false;
  }
  tick = tick < r->last_tick ? r->last_tick : tick;
  r->last_tick = tick;
  const uint32_t bit = 1u << (pitch & 31);
  if (!on) {
    r->held_notes[pitch >> 5] &= ~bit; // a release never changes the chord
    return false;
  }
  r->held_notes[pitch >> 5] |= bit;
  const CantusChord old = r->chord;
  const bool in_chord = (r->chord.pcs >> (pitch % 12)) & 1u;
  if (!cantus_chord_is_none(r->chord) && tick - r->chord_tick < r->window) {
    // Within the window: the note joins the chord (an arpeggio, the chord
    // after an oom-pah bass).
    r->chord.pcs |= (uint16_t)(1u << (pitch % 12));
    if (pitch < r->low) {
      r->low = (int8_t)pitch;
    }
  } else if (cantus_chord_is_none(r->chord) || !in_chord) {
    // A new chord: this note and every note still held.
    r->chord.pcs = 0;
    r->low = -1;
    for (int p = 0; p < 128; p++) {
      if (held(r, p)) {
        r->chord.pcs |= (uint16_t)(1u << (p % 12));
        r->low = r->low < 0 ? (int8_t)p : r->low;
      }
    }
    r->chord_tick = tick;
  }
  r->chord.root = -1;
  r->chord.bass = r->low >= 0 ? (int8_t)(r->low % 12) : -1;
  return !cantus_chord_equal(old, r->chord);
}

// ---- a chord track from a MIDI file ------------------------------------------

typedef struct {
  int64_t tick;
  uint8_t pitch;
  uint8_t on;
} TrackEvent;

static int event_order(const void *a, const void *b)
{
  const TrackEvent *x = a, *y = b;
  if (x->tick != y->tick) {
    return x->tick < y->tick ? -1 : 1;
  }
  if (x->on != y->on) {
    return x->on < y->on ? -1 : 1; // releases first
  }
  return (x->pitch > y->pitch) - (x->pitch < y->pitch);
}

int cantus_chord_track_from_midi(const CantusMidiFile *mf,
                                 int tpq,
                                 CantusChordTrack *out,
                                 char *err,
                                 size_t err_size)
{
  out->n = 0;
  if (tpq < 1 || mf->tpq == 0) {
    snprintf(err, err_size, "chord track: the file has no ticks per quarter");
    return -1;
  }
  size_t n = 0;
  for (size_t i = 0; i < mf->n_notes; i++) {
    n += mf->notes[i].channel != 9;
  }
  if (n == 0) {
    snprintf(err, err_size, "chord track: the file has no notes (drums aside)");
    return -1;
  }
  TrackEvent *ev = malloc(2 * n * sizeof *ev);
  if (!ev) {
    snprintf(err, err_size, "chord track: out of memory");
    return -1;
  }
  size_t k = 0;
  const int64_t ftpq = mf->tpq;
  for (size_t i = 0; i < mf->n_notes; i++) {
    const CantusMidiNote *nt = &mf->notes[i];
    if (nt->channel == 9) {
      continue;
    }
    // Onto the grid, rounded (a zero-length note after rounding still
    // begins a chord).
    const int64_t on = ((int64_t)nt->on_tick * tpq + ftpq / 2) / ftpq;
    const int64_t off = ((int64_t)nt->off_tick * tpq + ftpq / 2) / ftpq;
    ev[k++] = (TrackEvent){ on, nt->pitch, 1 };
    ev[k++] = (TrackEvent){ off > on ? off : on + 1, nt->pitch, 0 };
  }
  qsort(ev, k, sizeof *ev, event_order);
  int num = 4, den = 4;
  if (mf->n_timesigs > 0 && mf->timesigs[0].num > 0 && mf->timesigs[0].den > 0) {
    num = mf->timesigs[0].num;
    den = mf->timesigs[0].den;
  }
  int64_t half = (int64_t)num * tpq * 4 / den / 2;
  CantusChordReader r;
  cantus_chord_reader_init(&r, half > 0 ? half : 1);
  int status = 0;
  for (size_t i = 0; i < k; i++) {
    if (!cantus_chord_reader_note(&r, ev[i].tick, ev[i].pitch, ev[i].on)) {
      continue;
    }
    // Offline the whole window is known: a joining note joins from the
    // chord's start.
    if (out->n > 0 && out->tick[out->n - 1] == r.chord_tick) {
      out->chord[out->n - 1] = r.chord;
    } else if (out->n >= CANTUS_MAX_CHORD_TRACK) {
      snprintf(err,
               err_size,
               "chord track: more than %d chord changes (a chord track, not a piece?)",
               CANTUS_MAX_CHORD_TRACK);
      status = -1;
      break;
    } else {
      out->tick[out->n] = r.chord_tick;
      out->chord[out->n] = r.chord;
      out->n++;
    }
  }
  free(ev);
  if (status != 0) {
    out->n = 0;
  }
  return status;
}
