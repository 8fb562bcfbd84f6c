// SPDX-License-Identifier: GPL-3.0-or-later
// Standard MIDI File reader (formats 0 and 1) and format-1 writer.  The
// reader walks the chunks of an in-memory copy of the file, bounds every
// read by its chunk, pairs note-ons with note-offs per (track, channel,
// pitch), repairs what players repair (re-struck and unterminated notes,
// zero-length notes) and refuses what it cannot trust, with one line naming
// the file, the byte offset and the problem.  Thread class: non-RT
// (allocates, does file I/O).
#include "midifile.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
  MAX_FILE_SIZE = 64 * 1024 * 1024,
  MAX_NOTES = 16 * 1024 * 1024,
  NAME_LEN = 64,
  N_KEYS = 16 * 128, // (channel, pitch)
};

// Ticks stay below UINT32_MAX so that on_tick + 1 always fits.
#define MAX_TICK (UINT32_MAX - 1u)
#define NONE SIZE_MAX

// ---- small growable arrays ---------------------------------------------------

static bool grow(void **buf, size_t *cap, size_t need, size_t elem_size)
{
  if (need <= *cap) {
    return true;
  }
  size_t n = *cap ? *cap : 64;
  while (n < need) {
    n *= 2;
  }
  void *p = realloc(*buf, n * elem_size);
  if (!p) {
    return false;
  }
  *buf = p;
  *cap = n;
  return true;
}

// Stable bottom-up merge sort of n elements of elem_size bytes with a temp
// buffer; deterministic whatever the C library (qsort is not stable).
typedef int (*CompareFn)(const void *a, const void *b);

static bool merge_sort(void *base, size_t n, size_t elem_size, CompareFn cmp)
{
  if (n < 2) {
    return true;
  }
  unsigned char *tmp = malloc(n * elem_size);
  if (!tmp) {
    return false;
  }
  unsigned char *src = base;
  unsigned char *dst = tmp;
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        // Take from the right run only when strictly smaller: stable.
        if (cmp(src + j * elem_size, src + i * elem_size) < 0) {
          memcpy(dst + k++ * elem_size, src + j++ * elem_size, elem_size);
        } else {
          memcpy(dst + k++ * elem_size, src + i++ * elem_size, elem_size);
        }
      }
      memcpy(dst + k * elem_size, src + i * elem_size, (mid - i) * elem_size);
      k += mid - i;
      memcpy(dst + k * elem_size, src + j * elem_size, (hi - j) * elem_size);
    }
    unsigned char *t = src;
    src = dst;
    dst = t;
  }
  if (src != base) {
    memcpy(base, src, n * elem_size);
  }
  free(tmp);
  return true;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
  return a < b ? -1 : a > b;
}

static int compare_notes(const void *a, const void *b)
{
  const CantusMidiNote *x = a, *y = b;
  int c = cmp_u32(x->on_tick, y->on_tick);
  if (!c) {
    c = cmp_u32(x->track, y->track);
  }
  if (!c) {
    c = cmp_u32(x->pitch, y->pitch);
  }
  return c;
}

static int compare_tempos(const void *a, const void *b)
{
  return cmp_u32(((const CantusMidiTempo *)a)->tick, ((const CantusMidiTempo *)b)->tick);
}

static int compare_timesigs(const void *a, const void *b)
{
  return cmp_u32(((const CantusMidiTimeSig *)a)->tick, ((const CantusMidiTimeSig *)b)->tick);
}

// ---- reader ------------------------------------------------------------------

// Pairing state of one (channel, pitch) within the current track.
typedef struct {
  size_t open;    // index of the sounding note, or NONE
  size_t last;    // last closed note that a pending extra note-off may extend
  uint32_t extra; // note-offs still owed by stacked note-ons
  bool used;      // listed in Reader.touched
} Key;

typedef struct {
  const uint8_t *data;
  size_t size;
  const char *name;
  CantusError *err;
  CantusMidiFile *m;
  size_t cap_notes, cap_tempos, cap_timesigs;
  Key keys[N_KEYS];
  uint16_t touched[N_KEYS]; // keys used by the current track, to reset them
  size_t n_touched;
} Reader;

static uint32_t be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}

// The event starting at byte ev needs bytes at or after the chunk end.
static CantusStatus past_end(Reader *r, unsigned track, size_t ev, size_t end)
{
  return cantus_error(r->err,
                      CANTUS_ERR_TRUNCATED,
                      "%s: track %u at byte %zu: event runs past the end of the track chunk "
                      "(chunk ends at byte %zu)",
                      r->name,
                      track,
                      ev,
                      end);
}

// Reads a variable-length quantity at *pos, below end, for the event that
// starts at byte ev.  Returns 0, or a status with err filled.
static CantusStatus read_vlq(Reader *r,
                             unsigned track,
                             size_t ev,
                             size_t *pos,
                             size_t end,
                             uint32_t *value)
{
  size_t start = *pos;
  uint32_t v = 0;
  *value = 0;
  for (int i = 0; i < 4; i++) {
    if (*pos >= end) {
      return past_end(r, track, ev, end);
    }
    uint8_t b = r->data[(*pos)++];
    v = v << 7 | (b & 0x7Fu);
    if (!(b & 0x80)) {
      *value = v;
      return CANTUS_OK;
    }
  }
  return cantus_error(r->err,
                      CANTUS_ERR_FORMAT,
                      "%s: track %u at byte %zu: variable-length quantity longer than 4 bytes",
                      r->name,
                      track,
                      start);
}

static CantusStatus no_memory(Reader *r)
{
  return cantus_error(r->err, CANTUS_ERR_NO_MEMORY, "%s: out of memory while reading", r->name);
}

static CantusStatus note_on(Reader *r,
                            unsigned track,
                            size_t pos,
                            uint32_t tick,
                            uint8_t ch,
                            uint8_t pitch,
                            uint8_t vel)
{
  CantusMidiFile *m = r->m;
  Key *k = &r->keys[ch * 128 + pitch];
  if (!k->used) {
    k->used = true;
    r->touched[r->n_touched++] = (uint16_t)(ch * 128 + pitch);
  }
  if (k->open != NONE) {
    CantusMidiNote *prev = &m->notes[k->open];
    m->n_overlaps++;
    k->extra++;
    if (prev->on_tick == tick) {
      // A doubled note-on at the same tick: one note, one more note-off owed.
      return CANTUS_OK;
    }
    // Re-strike: the previous note ends where the new one starts.
    prev->off_tick = tick;
  } else {
    k->extra = 0;
  }
  k->last = NONE;
  if (m->n_notes >= MAX_NOTES) {
    return cantus_error(r->err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: track %u at byte %zu: more than %d notes",
                        r->name,
                        track,
                        pos,
                        MAX_NOTES);
  }
  if (!grow((void **)&m->notes, &r->cap_notes, m->n_notes + 1, sizeof *m->notes)) {
    return no_memory(r);
  }
  k->open = m->n_notes;
  m->notes[m->n_notes++] = (CantusMidiNote){ .on_tick = tick,
                                             .off_tick = tick,
                                             .pitch = pitch,
                                             .velocity = vel,
                                             .channel = ch,
                                             .track = (uint16_t)track };
  return CANTUS_OK;
}

static void note_off(Reader *r, uint32_t tick, uint8_t ch, uint8_t pitch)
{
  CantusMidiNote *notes = r->m->notes;
  Key *k = &r->keys[ch * 128 + pitch];
  if (k->open != NONE) {
    notes[k->open].off_tick = tick;
    k->last = k->extra ? k->open : NONE;
    k->open = NONE;
  } else if (k->last != NONE) {
    // Stacked note-ons released by as many note-offs: the pitch sounds until
    // the last of them.
    notes[k->last].off_tick = tick;
    if (--k->extra == 0) {
      k->last = NONE;
    }
  }
  // Otherwise a note-off of a silent pitch: ignored.
}

// Copies a track name: at most NAME_LEN - 1 bytes, control characters
// replaced by spaces, no trailing partial UTF-8 sequence.
static void copy_name(char *dst, const uint8_t *src, uint32_t len)
{
  size_t n = len < NAME_LEN - 1 ? len : NAME_LEN - 1;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = src[i];
    dst[i] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
  }
  if (n < len) {
    // Find the lead byte of the last character; drop it if its sequence
    // was cut.
    size_t i = n;
    while (i > 0 && n - i < 3 && ((uint8_t)dst[i - 1] & 0xC0) == 0x80) {
      i--;
    }
    uint8_t lead = i > 0 ? (uint8_t)dst[i - 1] : 0;
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0xC0 && n - (i - 1) < need) {
      n = i - 1;
    }
  }
  dst[n] = '\0';
}

static CantusStatus meta_event(Reader *r,
                               unsigned track,
                               uint32_t tick,
                               uint8_t type,
                               const uint8_t *d,
                               uint32_t len,
                               bool *named)
{
  CantusMidiFile *m = r->m;
  if (type == 0x51 && len >= 3) {
    uint32_t us = (uint32_t)d[0] << 16 | (uint32_t)d[1] << 8 | d[2];
    if (us == 0) {
      return CANTUS_OK; // a tempo of zero microseconds has no meaning: ignored
    }
    if (!grow((void **)&m->tempos, &r->cap_tempos, m->n_tempos + 1, sizeof *m->tempos)) {
      return no_memory(r);
    }
    m->tempos[m->n_tempos++] = (CantusMidiTempo){ .tick = tick, .usec_per_quarter = us };
  } else if (type == 0x58 && len >= 2) {
    if (d[0] == 0 || d[1] > 7) {
      return CANTUS_OK; // 0 beats or a beat unit beyond 1/128: ignored
    }
    if (!grow((void **)&m->timesigs, &r->cap_timesigs, m->n_timesigs + 1, sizeof *m->timesigs)) {
      return no_memory(r);
    }
    m->timesigs[m->n_timesigs++] =
      (CantusMidiTimeSig){ .tick = tick, .num = d[0], .den = (uint8_t)(1u << d[1]) };
  } else if (type == 0x03 && !*named) {
    copy_name(m->track_names[track], d, len);
    *named = true;
  }
  return CANTUS_OK;
}

static CantusStatus data_byte(Reader *r,
                              unsigned track,
                              size_t ev,
                              size_t *pos,
                              size_t end,
                              uint8_t *out)
{
  if (*pos >= end) {
    return past_end(r, track, ev, end);
  }
  uint8_t b = r->data[*pos];
  if (b & 0x80) {
    return cantus_error(r->err,
                        CANTUS_ERR_FORMAT,
                        "%s: track %u at byte %zu: status byte 0x%02X where a data byte was "
                        "expected",
                        r->name,
                        track,
                        *pos,
                        b);
  }
  (*pos)++;
  *out = b;
  return CANTUS_OK;
}

// Parses the events of track `track` in data[begin, end).
static CantusStatus read_track(Reader *r, unsigned track, size_t begin, size_t end)
{
  CantusMidiFile *m = r->m;
  uint64_t tick = 0;
  uint8_t running = 0;
  bool named = false;
  bool ended = begin == end; // a zero-length track is an empty track
  size_t pos = begin;
  CantusStatus st;
  while (!ended) {
    if (pos >= end) {
      return cantus_error(r->err,
                          CANTUS_ERR_FORMAT,
                          "%s: track %u at byte %zu: track chunk ends without an end-of-track "
                          "event",
                          r->name,
                          track,
                          pos);
    }
    size_t ev = pos;
    uint32_t delta;
    if ((st = read_vlq(r, track, ev, &pos, end, &delta))) {
      return st;
    }
    tick += delta;
    if (tick > MAX_TICK) {
      return cantus_error(r->err,
                          CANTUS_ERR_TOO_LARGE,
                          "%s: track %u at byte %zu: delta times add up past %u ticks",
                          r->name,
                          track,
                          ev,
                          MAX_TICK);
    }
    if (pos >= end) {
      return past_end(r, track, ev, end);
    }
    size_t status_pos = pos;
    uint8_t status = r->data[pos];
    if (status & 0x80) {
      pos++;
    } else if (running) {
      status = running;
    } else {
      return cantus_error(r->err,
                          CANTUS_ERR_FORMAT,
                          "%s: track %u at byte %zu: running status without a previous status "
                          "byte",
                          r->name,
                          track,
                          status_pos);
    }
    uint32_t t = (uint32_t)tick;
    if (status < 0xF0) {
      // Channel message.  Running status survives meta and sysex events here
      // (the SMF spec cancels it, but files rely on it and players accept it).
      running = status;
      uint8_t a = 0, b = 0;
      uint8_t kind = status & 0xF0, ch = status & 0x0F;
      if ((st = data_byte(r, track, ev, &pos, end, &a))) {
        return st;
      }
      if (kind != 0xC0 && kind != 0xD0 && (st = data_byte(r, track, ev, &pos, end, &b))) {
        return st;
      }
      if (kind == 0x90 && b > 0) {
        if ((st = note_on(r, track, ev, t, ch, a, b))) {
          return st;
        }
      } else if (kind == 0x80 || kind == 0x90) {
        note_off(r, t, ch, a);
      }
    } else if (status == 0xF0 || status == 0xF7 || status == 0xFF) {
      uint8_t type = 0;
      if (status == 0xFF && (st = data_byte(r, track, ev, &pos, end, &type))) {
        return st;
      }
      uint32_t len;
      if ((st = read_vlq(r, track, ev, &pos, end, &len))) {
        return st;
      }
      if (len > end - pos) {
        return cantus_error(r->err,
                            CANTUS_ERR_TRUNCATED,
                            "%s: track %u at byte %zu: %s event of %u bytes runs past the end of "
                            "the track chunk (chunk ends at byte %zu)",
                            r->name,
                            track,
                            ev,
                            status == 0xFF ? "meta" : "sysex",
                            len,
                            end);
      }
      const uint8_t *d = r->data + pos;
      pos += len;
      if (status == 0xFF) {
        if (type == 0x2F) {
          ended = true; // bytes after the end of track are ignored
        } else if ((st = meta_event(r, track, t, type, d, len, &named))) {
          return st;
        }
      }
    } else if (status == 0xF4 || status == 0xF5) {
      return cantus_error(r->err,
                          CANTUS_ERR_FORMAT,
                          "%s: track %u at byte %zu: undefined status byte 0x%02X",
                          r->name,
                          track,
                          status_pos,
                          status);
    } else {
      // System common and real-time messages do not belong in a file; skip
      // them by their wire lengths.
      size_t n = status == 0xF2 ? 2 : (status == 0xF1 || status == 0xF3) ? 1 : 0;
      for (size_t i = 0; i < n; i++) {
        uint8_t skip;
        if ((st = data_byte(r, track, ev, &pos, end, &skip))) {
          return st;
        }
      }
    }
  }
  uint32_t t_end = (uint32_t)tick;
  if (t_end > m->end_tick) {
    m->end_tick = t_end;
  }
  for (size_t i = 0; i < r->n_touched; i++) {
    Key *k = &r->keys[r->touched[i]];
    if (k->open != NONE) {
      m->notes[k->open].off_tick = t_end;
      m->n_unterminated++;
    }
    *k = (Key){ .open = NONE, .last = NONE };
  }
  r->n_touched = 0;
  return CANTUS_OK;
}

// Of several map entries at one tick the last one is in force: keep it
// alone (the arrays are sorted by tick, stably).
static size_t dedup_tempos(CantusMidiTempo *a, size_t n)
{
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    w -= w > 0 && a[w - 1].tick == a[i].tick;
    a[w++] = a[i];
  }
  return w;
}

static size_t dedup_timesigs(CantusMidiTimeSig *a, size_t n)
{
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    w -= w > 0 && a[w - 1].tick == a[i].tick;
    a[w++] = a[i];
  }
  return w;
}

static CantusStatus finish(Reader *r)
{
  CantusMidiFile *m = r->m;
  for (size_t i = 0; i < m->n_notes; i++) {
    CantusMidiNote *n = &m->notes[i];
    if (n->off_tick <= n->on_tick) {
      n->off_tick = n->on_tick + 1; // zero-length note: one tick
    }
    if (n->off_tick > m->end_tick) {
      m->end_tick = n->off_tick;
    }
  }
  if (!merge_sort(m->notes, m->n_notes, sizeof *m->notes, compare_notes) ||
      !merge_sort(m->tempos, m->n_tempos, sizeof *m->tempos, compare_tempos) ||
      !merge_sort(m->timesigs, m->n_timesigs, sizeof *m->timesigs, compare_timesigs)) {
    return no_memory(r);
  }
  m->n_tempos = dedup_tempos(m->tempos, m->n_tempos);
  m->n_timesigs = dedup_timesigs(m->timesigs, m->n_timesigs);
  return CANTUS_OK;
}

static CantusStatus parse(Reader *r)
{
  const uint8_t *d = r->data;
  size_t size = r->size;
  const char *name = r->name;
  CantusError *err = r->err;
  if (size == 0) {
    return cantus_error(err, CANTUS_ERR_BAD_MAGIC, "%s: empty file, not a MIDI file", name);
  }
  if (size > MAX_FILE_SIZE) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: %zu bytes is more than the %d MiB a MIDI file may have here",
                        name,
                        size,
                        MAX_FILE_SIZE >> 20);
  }
  if (size < 4 || memcmp(d, "MThd", 4) != 0) {
    return cantus_error(
      err, CANTUS_ERR_BAD_MAGIC, "%s: not a MIDI file (no MThd header at byte 0)", name);
  }
  if (size < 8) {
    return cantus_error(err,
                        CANTUS_ERR_TRUNCATED,
                        "%s: truncated: the file ends inside the MThd header (%zu bytes)",
                        name,
                        size);
  }
  uint32_t hlen = be32(d + 4);
  if (hlen > size - 8) {
    return cantus_error(err,
                        CANTUS_ERR_TRUNCATED,
                        "%s: truncated: the MThd header declares %u bytes but only %zu remain",
                        name,
                        hlen,
                        size - 8);
  }
  if (hlen < 6) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: the MThd header is %u bytes long, it needs at least 6",
                        name,
                        hlen);
  }
  uint16_t format = be16(d + 8), n_tracks = be16(d + 10), division = be16(d + 12);
  if (format == 2) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: format 2 MIDI files are not supported", name);
  }
  if (format > 2) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: unknown MIDI file format %u", name, format);
  }
  if (division & 0x8000) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: SMPTE time division is not supported", name);
  }
  if (division == 0) {
    return cantus_error(
      err, CANTUS_ERR_FORMAT, "%s: the MThd header gives 0 ticks per quarter note", name);
  }
  if (n_tracks == 0) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: the MThd header declares no tracks", name);
  }
  size_t pos = 8 + (size_t)hlen;
  // Every track needs at least its 8-byte chunk header: check before allocating.
  if ((size_t)n_tracks * 8 > size - pos) {
    return cantus_error(err,
                        CANTUS_ERR_TRUNCATED,
                        "%s: truncated: the header declares %u tracks but only %zu bytes follow "
                        "it",
                        name,
                        n_tracks,
                        size - pos);
  }
  CantusMidiFile *m = calloc(1, sizeof *m);
  if (!m || !(m->track_names = calloc(n_tracks, NAME_LEN))) {
    free(m);
    return no_memory(r);
  }
  r->m = m;
  m->format = format;
  m->n_tracks = n_tracks;
  m->tpq = division;
  unsigned track = 0;
  while (track < n_tracks) {
    if (size - pos < 8) {
      if (track == 0) {
        return cantus_error(err, CANTUS_ERR_FORMAT, "%s: no MTrk track chunk in the file", name);
      }
      return cantus_error(err,
                          CANTUS_ERR_TRUNCATED,
                          "%s: truncated: the header declares %u tracks but the file ends at "
                          "byte %zu after %u",
                          name,
                          n_tracks,
                          size,
                          track);
    }
    uint32_t len = be32(d + pos + 4);
    bool is_track = memcmp(d + pos, "MTrk", 4) == 0;
    if (len > size - pos - 8) {
      if (is_track) {
        return cantus_error(err,
                            CANTUS_ERR_TRUNCATED,
                            "%s: truncated: track %u at byte %zu declares %u bytes but only %zu "
                            "remain",
                            name,
                            track,
                            pos,
                            len,
                            size - pos - 8);
      }
      return cantus_error(err,
                          CANTUS_ERR_TRUNCATED,
                          "%s: truncated: chunk at byte %zu declares %u bytes but only %zu "
                          "remain",
                          name,
                          pos,
                          len,
                          size - pos - 8);
    }
    if (is_track) {
      CantusStatus st = read_track(r, track, pos + 8, pos + 8 + len);
      if (st) {
        return st;
      }
      track++;
    }
    // Unknown chunks are skipped by their length.
    pos += 8 + (size_t)len;
  }
  return finish(r);
}

CantusStatus cantus_midi_read_mem(const void *data,
                                  size_t size,
                                  const char *name,
                                  CantusMidiFile **out,
                                  CantusError *err)
{
  if (!out) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "cantus_midi_read_mem: out is NULL");
  }
  *out = NULL;
  if (!name) {
    name = "(memory)";
  }
  if (!data && size) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "%s: data is NULL", name);
  }
  Reader *r = malloc(sizeof *r);
  if (!r) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory while reading", name);
  }
  *r = (Reader){ .data = data, .size = size, .name = name, .err = err };
  for (size_t i = 0; i < N_KEYS; i++) {
    r->keys[i] = (Key){ .open = NONE, .last = NONE };
  }
  CantusStatus st = parse(r);
  if (st) {
    cantus_midi_free(r->m);
  } else {
    *out = r->m;
  }
  free(r);
  return st;
}

CantusStatus cantus_midi_read(const char *path, CantusMidiFile **out, CantusError *err)
{
  if (!out || !path) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "cantus_midi_read: path or out is NULL");
  }
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return cantus_error(err, CANTUS_ERR_IO, "%s: not a regular file", path);
  }
  if (sb.st_size > MAX_FILE_SIZE) {
    fclose(f);
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: %lld bytes is more than the %d MiB a MIDI file may have here",
                        path,
                        (long long)sb.st_size,
                        MAX_FILE_SIZE >> 20);
  }
  size_t size = (size_t)sb.st_size;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fclose(f);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory while reading", path);
  }
  size_t got = fread(buf, 1, size, f);
  bool failed = ferror(f) != 0;
  fclose(f);
  if (failed || got != size) {
    free(buf);
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: read error after %zu of %zu bytes", path, got, size);
  }
  CantusStatus st = cantus_midi_read_mem(buf, size, path, out, err);
  free(buf);
  return st;
}

void cantus_midi_free(CantusMidiFile *m)
{
  if (!m) {
    return;
  }
  free(m->notes);
  free(m->tempos);
  free(m->timesigs);
  free(m->track_names);
  free(m);
}

CantusStatus cantus_midi_alloc(size_t n_notes,
                               uint16_t n_tracks,
                               CantusMidiFile **out,
                               CantusError *err)
{
  if (!out) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "cantus_midi_alloc: out is NULL");
  }
  *out = NULL;
  if (n_notes > MAX_NOTES) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "cantus_midi_alloc: %zu notes is more than the limit of %d",
                        n_notes,
                        MAX_NOTES);
  }
  CantusMidiFile *m = calloc(1, sizeof *m);
  if (m) {
    m->notes = calloc(n_notes ? n_notes : 1, sizeof *m->notes);
    m->tempos = calloc(8, sizeof *m->tempos);
    m->timesigs = calloc(8, sizeof *m->timesigs);
    m->track_names = calloc(n_tracks ? n_tracks : 1, NAME_LEN);
  }
  if (!m || !m->notes || !m->tempos || !m->timesigs || !m->track_names) {
    cantus_midi_free(m);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "cantus_midi_alloc: out of memory");
  }
  m->format = 1;
  m->n_tracks = n_tracks;
  m->tpq = 480;
  *out = m;
  return CANTUS_OK;
}

// ---- writer ------------------------------------------------------------------

typedef struct {
  uint8_t *b;
  size_t len, cap;
  bool failed;
} Buf;

static void put(Buf *b, const void *src, size_t n)
{
  if (n == 0) {
    return;
  }
  if (b->failed || !grow((void **)&b->b, &b->cap, b->len + n, 1)) {
    b->failed = true;
    return;
  }
  memcpy(b->b + b->len, src, n);
  b->len += n;
}

static void put_byte(Buf *b, uint8_t c)
{
  put(b, &c, 1);
}

static void put_be32(Buf *b, uint32_t v)
{
  uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
  put(b, x, 4);
}

static void put_vlq(Buf *b, uint32_t v)
{
  uint8_t x[5];
  int n = 0;
  x[4] = v & 0x7F;
  while ((v >>= 7) != 0 && n < 4) {
    x[3 - n] = (uint8_t)(0x80 | (v & 0x7F));
    n++;
  }
  put(b, x + 4 - n, (size_t)n + 1);
}

// A delta time; one that does not fit the 4-byte VLQ (> 0x0FFFFFFF ticks) is
// bridged by empty text events, which also end running status.
static void put_delta(Buf *b, uint32_t delta, uint8_t *running)
{
  while (delta > 0x0FFFFFFF) {
    static const uint8_t empty_text[3] = { 0xFF, 0x01, 0x00 };
    put_vlq(b, 0x0FFFFFFF);
    put(b, empty_text, sizeof empty_text);
    delta -= 0x0FFFFFFF;
    *running = 0;
  }
  put_vlq(b, delta);
}

static void put_meta(Buf *b, uint32_t delta, uint8_t type, const void *d, uint32_t len)
{
  uint8_t running = 0;
  put_delta(b, delta, &running);
  put_byte(b, 0xFF);
  put_byte(b, type);
  put_vlq(b, len);
  put(b, d, len);
}

// Appends a complete chunk: "MTrk", length, body.
static void put_chunk(Buf *file, const Buf *body)
{
  put(file, "MTrk", 4);
  put_be32(file, (uint32_t)body->len);
  put(file, body->b, body->len);
}

// One note event to write: note-offs sort before note-ons at one tick, so
// a note ending where the next of its pitch starts reads back as two notes.
typedef struct {
  uint32_t tick;
  uint8_t is_on;
  uint8_t status, pitch, velocity;
} WEvent;

static int compare_wevents(const void *a, const void *b)
{
  const WEvent *x = a, *y = b;
  int c = cmp_u32(x->tick, y->tick);
  return c ? c : cmp_u32(x->is_on, y->is_on);
}

static int compare_tracks(const void *a, const void *b)
{
  return cmp_u32(*(const uint16_t *)a, *(const uint16_t *)b);
}

static size_t name_len(const CantusMidiFile *m, size_t t)
{
  if (!m->track_names || t >= m->n_tracks) {
    return 0;
  }
  const char *s = m->track_names[t];
  size_t n = 0;
  while (n < NAME_LEN - 1 && s[n]) {
    n++;
  }
  return n;
}

static CantusStatus check_file(const char *path, const CantusMidiFile *m, CantusError *err)
{
  if (m->tpq == 0 || m->tpq > 0x7FFF) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "%s: %u ticks per quarter note cannot be written (1..32767)",
                        path,
                        m->tpq);
  }
  if (m->n_notes > MAX_NOTES || (m->n_notes && !m->notes)) {
    return cantus_error(
      err, CANTUS_ERR_ARGUMENT, "%s: bad note list (%zu notes)", path, m->n_notes);
  }
  for (size_t i = 0; i < m->n_notes; i++) {
    const CantusMidiNote *n = &m->notes[i];
    if (n->pitch > 127 || n->channel > 15 || n->velocity < 1 || n->velocity > 127 ||
        n->off_tick <= n->on_tick) {
      return cantus_error(err,
                          CANTUS_ERR_ARGUMENT,
                          "%s: note %zu is invalid (pitch %u, channel %u, velocity %u, ticks "
                          "%u..%u)",
                          path,
                          i,
                          n->pitch,
                          n->channel,
                          n->velocity,
                          n->on_tick,
                          n->off_tick);
    }
  }
  if ((m->n_tempos && !m->tempos) || (m->n_timesigs && !m->timesigs)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "%s: tempo or time-signature map is NULL", path);
  }
  for (size_t i = 0; i < m->n_tempos; i++) {
    uint32_t us = m->tempos[i].usec_per_quarter;
    if (us == 0 || us > 0xFFFFFF) {
      return cantus_error(err,
                          CANTUS_ERR_ARGUMENT,
                          "%s: tempo %zu of %u microseconds per quarter cannot be written",
                          path,
                          i,
                          us);
    }
  }
  for (size_t i = 0; i < m->n_timesigs; i++) {
    const CantusMidiTimeSig *s = &m->timesigs[i];
    bool pow2 = s->den && !(s->den & (s->den - 1));
    if (s->num == 0 || !pow2) {
      return cantus_error(err,
                          CANTUS_ERR_ARGUMENT,
                          "%s: time signature %zu (%u/%u) cannot be written",
                          path,
                          i,
                          s->num,
                          s->den);
    }
  }
  return CANTUS_OK;
}

// Track 0: name, tempo and time-signature maps merged by tick, end of track.
static void build_conductor(Buf *t,
                            const CantusMidiFile *m,
                            CantusMidiTempo *tempos,
                            CantusMidiTimeSig *sigs)
{
  size_t nl = name_len(m, 0);
  if (nl) {
    put_meta(t, 0, 0x03, m->track_names[0], (uint32_t)nl);
  }
  uint32_t now = 0;
  size_t i = 0, j = 0;
  while (i < m->n_timesigs || j < m->n_tempos) {
    bool sig = i < m->n_timesigs && (j >= m->n_tempos || sigs[i].tick <= tempos[j].tick);
    if (sig) {
      const CantusMidiTimeSig *s = &sigs[i++];
      uint8_t dd = 0;
      while ((1u << dd) < s->den) {
        dd++;
      }
      uint8_t x[4] = { s->num, dd, 24, 8 };
      put_meta(t, s->tick - now, 0x58, x, 4);
      now = s->tick;
    } else {
      const CantusMidiTempo *p = &tempos[j++];
      uint32_t us = p->usec_per_quarter;
      uint8_t x[3] = { (uint8_t)(us >> 16), (uint8_t)(us >> 8), (uint8_t)us };
      put_meta(t, p->tick - now, 0x51, x, 3);
      now = p->tick;
    }
  }
  uint32_t end = m->end_tick > now ? m->end_tick : now;
  put_meta(t, end - now, 0x2F, NULL, 0);
}

// One note track: the notes of track value `v` (indices in `idx`).
static bool build_note_track(Buf *t,
                             const CantusMidiFile *m,
                             uint16_t v,
                             size_t n_tracknotes,
                             WEvent *ev)
{
  size_t nl = name_len(m, v);
  if (nl) {
    put_meta(t, 0, 0x03, m->track_names[v], (uint32_t)nl);
  }
  size_t n = 0;
  for (size_t i = 0; i < m->n_notes && n < 2 * n_tracknotes; i++) {
    const CantusMidiNote *x = &m->notes[i];
    if (x->track != v) {
      continue;
    }
    ev[n++] = (WEvent){ x->on_tick, 1, (uint8_t)(0x90 | x->channel), x->pitch, x->velocity };
    ev[n++] = (WEvent){ x->off_tick, 0, (uint8_t)(0x80 | x->channel), x->pitch, 64 };
  }
  if (!merge_sort(ev, n, sizeof *ev, compare_wevents)) {
    return false;
  }
  uint32_t now = 0;
  uint8_t running = 0;
  for (size_t i = 0; i < n; i++) {
    put_delta(t, ev[i].tick - now, &running);
    now = ev[i].tick;
    if (ev[i].status != running) {
      put_byte(t, ev[i].status);
      running = ev[i].status;
    }
    put_byte(t, ev[i].pitch);
    put_byte(t, ev[i].velocity);
  }
  put_meta(t, 0, 0x2F, NULL, 0);
  return true;
}

static CantusStatus write_file(const char *path, const uint8_t *d, size_t size, CantusError *err)
{
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  if (!tmp) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory while writing", path);
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    CantusStatus st =
      cantus_error(err, CANTUS_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    free(tmp);
    return st;
  }
  bool ok = fwrite(d, 1, size, f) == size;
  ok = fflush(f) == 0 && ok;
  int e = errno;
  ok = fclose(f) == 0 && ok;
  if (ok && rename(tmp, path) != 0) {
    e = errno;
    ok = false;
  }
  if (!ok) {
    remove(tmp);
    free(tmp);
    return cantus_error(err, CANTUS_ERR_IO, "%s: write failed: %s", path, strerror(e));
  }
  free(tmp);
  return CANTUS_OK;
}

CantusStatus cantus_midi_write(const char *path, const CantusMidiFile *m, CantusError *err)
{
  if (!path || !m) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "cantus_midi_write: path or file is NULL");
  }
  CantusStatus st = check_file(path, m, err);
  if (st) {
    return st;
  }
  // Copies: the caller's maps are const and need not be sorted.
  CantusMidiTempo *tempos = malloc((m->n_tempos + 1) * sizeof *tempos);
  CantusMidiTimeSig *sigs = malloc((m->n_timesigs + 1) * sizeof *sigs);
  uint16_t *tracks = malloc((m->n_notes + 1) * sizeof *tracks);
  size_t *counts = NULL;
  WEvent *ev = NULL;
  Buf file = { 0 }, body = { 0 };
  st = CANTUS_ERR_NO_MEMORY;
  if (!tempos || !sigs || !tracks) {
    goto done;
  }
  if (m->n_tempos) {
    memcpy(tempos, m->tempos, m->n_tempos * sizeof *tempos);
  }
  if (m->n_timesigs) {
    memcpy(sigs, m->timesigs, m->n_timesigs * sizeof *sigs);
  }
  for (size_t i = 0; i < m->n_notes; i++) {
    tracks[i] = m->notes[i].track;
  }
  if (!merge_sort(tempos, m->n_tempos, sizeof *tempos, compare_tempos) ||
      !merge_sort(sigs, m->n_timesigs, sizeof *sigs, compare_timesigs) ||
      !merge_sort(tracks, m->n_notes, sizeof *tracks, compare_tracks)) {
    goto done;
  }
  // Distinct track values, ascending, with their note counts.
  size_t n_distinct = 0;
  counts = calloc(m->n_notes + 1, sizeof *counts);
  if (!counts) {
    goto done;
  }
  for (size_t i = 0; i < m->n_notes; i++) {
    if (i == 0 || tracks[i] != tracks[i - 1]) {
      tracks[n_distinct++] = tracks[i];
    }
    counts[n_distinct - 1]++;
  }
  if (n_distinct + 1 > 0xFFFF) {
    st = cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "%s: %zu note tracks are too many to write", path, n_distinct);
    goto done;
  }
  size_t max_count = 0;
  for (size_t i = 0; i < n_distinct; i++) {
    max_count = counts[i] > max_count ? counts[i] : max_count;
  }
  ev = malloc((2 * max_count + 1) * sizeof *ev);
  if (!ev) {
    goto done;
  }
  uint8_t hdr[14] = { 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1 };
  hdr[10] = (uint8_t)((n_distinct + 1) >> 8);
  hdr[11] = (uint8_t)(n_distinct + 1);
  hdr[12] = (uint8_t)(m->tpq >> 8);
  hdr[13] = (uint8_t)m->tpq;
  put(&file, hdr, sizeof hdr);
  build_conductor(&body, m, tempos, sigs);
  put_chunk(&file, &body);
  for (size_t i = 0; i < n_distinct && !body.failed; i++) {
    body.len = 0;
    if (!build_note_track(&body, m, tracks[i], counts[i], ev)) {
      goto done;
    }
    if (body.len > UINT32_MAX) {
      st =
        cantus_error(err, CANTUS_ERR_TOO_LARGE, "%s: track %zu is too long to write", path, i + 1);
      goto done;
    }
    put_chunk(&file, &body);
  }
  if (file.failed || body.failed) {
    goto done;
  }
  st = write_file(path, file.b, file.len, err);
done:
  if (st == CANTUS_ERR_NO_MEMORY) {
    cantus_error(err, st, "%s: out of memory while writing", path);
  }
  free(tempos);
  free(sigs);
  free(tracks);
  free(counts);
  free(ev);
  free(file.b);
  free(body.b);
  return st;
}
