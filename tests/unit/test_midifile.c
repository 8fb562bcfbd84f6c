// SPDX-License-Identifier: GPL-3.0-or-later
// The MIDI file reader and writer: every hostile file in tests/data/midi/
// with its status and message, the repairs (overlaps, unterminated and
// zero-length notes), the whole corpus, every prefix of real files, write ->
// read round trips, and note lists of corpus files compared with an
// independent parser's (python3-mido, tests/data/midi/expected/*.tsv).
#include "midifile.h"
#include "test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA "tests/data/midi/"

// ---- helpers -------------------------------------------------------------------

static bool one_line(const char *s)
{
  return s[0] && !strchr(s, '\n');
}

static bool starts_with(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

// Reads a whole file into a buffer of exactly its size (so ASan sees any
// read past the end).  Returns NULL for a missing file.
static uint8_t *slurp(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

// Everything the header promises about a file the reader accepted.
static bool invariants_hold(const CantusMidiFile *m, char *why, size_t why_size)
{
  if (m->format > 1 || m->tpq == 0 || m->tpq > 0x7FFF || m->n_tracks == 0) {
    snprintf(why, why_size, "header fields %u %u %u", m->format, m->tpq, m->n_tracks);
    return false;
  }
  for (size_t i = 0; i < m->n_notes; i++) {
    const CantusMidiNote *n = &m->notes[i];
    if (n->pitch > 127 || n->channel > 15 || n->velocity < 1 || n->velocity > 127 ||
        n->off_tick <= n->on_tick || n->track >= m->n_tracks || n->off_tick > m->end_tick) {
      snprintf(why,
               why_size,
               "note %zu: %u..%u p%u v%u ch%u tr%u (end %u)",
               i,
               n->on_tick,
               n->off_tick,
               n->pitch,
               n->velocity,
               n->channel,
               n->track,
               m->end_tick);
      return false;
    }
    if (i > 0) {
      const CantusMidiNote *p = &m->notes[i - 1];
      bool ordered = p->on_tick < n->on_tick ||
                     (p->on_tick == n->on_tick &&
                      (p->track < n->track || (p->track == n->track && p->pitch <= n->pitch)));
      if (!ordered) {
        snprintf(why, why_size, "notes %zu and %zu out of order", i - 1, i);
        return false;
      }
    }
  }
  for (size_t i = 0; i < m->n_tempos; i++) {
    if (m->tempos[i].usec_per_quarter == 0 ||
        (i > 0 && m->tempos[i - 1].tick >= m->tempos[i].tick)) {
      snprintf(why, why_size, "tempo %zu", i);
      return false;
    }
  }
  for (size_t i = 0; i < m->n_timesigs; i++) {
    const CantusMidiTimeSig *s = &m->timesigs[i];
    if (s->num == 0 || s->den == 0 || (s->den & (s->den - 1)) ||
        (i > 0 && m->timesigs[i - 1].tick >= s->tick)) {
      snprintf(why, why_size, "time signature %zu", i);
      return false;
    }
  }
  for (size_t t = 0; t < m->n_tracks; t++) {
    if (!memchr(m->track_names[t], '\0', 64)) {
      snprintf(why, why_size, "track name %zu unterminated", t);
      return false;
    }
  }
  return true;
}

static CantusMidiNote note(uint32_t on,
                           uint32_t off,
                           uint8_t pitch,
                           uint8_t vel,
                           uint8_t ch,
                           uint16_t track)
{
  return (CantusMidiNote){ on, off, pitch, vel, ch, track };
}

static bool same_note(const CantusMidiNote *a, const CantusMidiNote *b)
{
  return a->on_tick == b->on_tick && a->off_tick == b->off_tick && a->pitch == b->pitch &&
         a->velocity == b->velocity && a->channel == b->channel && a->track == b->track;
}

static void check_notes(const CantusMidiFile *m, const CantusMidiNote *want, size_t n_want)
{
  CHECK_EQ(m->n_notes, n_want);
  for (size_t i = 0; i < m->n_notes && i < n_want; i++) {
    const CantusMidiNote *g = &m->notes[i];
    CHECK_MSG(same_note(g, &want[i]),
              "note %zu: got %u..%u p%u v%u ch%u tr%u, want %u..%u p%u v%u ch%u tr%u",
              i,
              g->on_tick,
              g->off_tick,
              g->pitch,
              g->velocity,
              g->channel,
              g->track,
              want[i].on_tick,
              want[i].off_tick,
              want[i].pitch,
              want[i].velocity,
              want[i].channel,
              want[i].track);
  }
}

static CantusMidiFile *read_ok(const char *path)
{
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CantusStatus st = cantus_midi_read(path, &m, &err);
  CHECK_MSG(st == CANTUS_OK && m, "%s: %s", path, err.msg);
  if (m) {
    char why[256];
    CHECK_MSG(invariants_hold(m, why, sizeof why), "%s: %s", path, why);
  }
  return m;
}

// Compares everything a write -> read round trip must keep.
static void check_same_file(const CantusMidiFile *a, const CantusMidiFile *b)
{
  CHECK_EQ(b->tpq, a->tpq);
  CHECK_EQ(b->end_tick, a->end_tick);
  CHECK_EQ(b->n_tempos, a->n_tempos);
  for (size_t i = 0; i < a->n_tempos && i < b->n_tempos; i++) {
    CHECK_EQ(b->tempos[i].tick, a->tempos[i].tick);
    CHECK_EQ(b->tempos[i].usec_per_quarter, a->tempos[i].usec_per_quarter);
  }
  CHECK_EQ(b->n_timesigs, a->n_timesigs);
  for (size_t i = 0; i < a->n_timesigs && i < b->n_timesigs; i++) {
    CHECK_EQ(b->timesigs[i].tick, a->timesigs[i].tick);
    CHECK_EQ(b->timesigs[i].num, a->timesigs[i].num);
    CHECK_EQ(b->timesigs[i].den, a->timesigs[i].den);
  }
  check_notes(b, a->notes, a->n_notes);
  CHECK_EQ(b->n_overlaps, 0);
  CHECK_EQ(b->n_unterminated, 0);
}

// A scratch file in the build directory (created if missing).
static void temp_path(char *buf, size_t size, const char *tag)
{
  mkdir(cantus_test_build_dir(), 0777);
  snprintf(buf, size, "%s/midi-test-%s-%ld.mid", cantus_test_build_dir(), tag, (long)getpid());
}

// ---- hostile files -----------------------------------------------------------------

typedef struct {
  const char *file;
  CantusStatus status;
  const char *fragment;
} Hostile;

static const Hostile hostile[] = {
  { "empty.mid", CANTUS_ERR_BAD_MAGIC, "empty file" },
  { "not_midi.mid", CANTUS_ERR_BAD_MAGIC, "not a MIDI file" },
  { "truncated_header.mid",
    CANTUS_ERR_TRUNCATED,
    "truncated: the MThd header declares 6 bytes but only 2 remain" },
  { "truncated_track.mid",
    CANTUS_ERR_TRUNCATED,
    "truncated: track 0 at byte 14 declares 32 bytes but only 10 remain" },
  { "lying_len_long.mid",
    CANTUS_ERR_TRUNCATED,
    "truncated: track 1 at byte 71 declares 5000 bytes but only 12 remain" },
  { "lying_len_short.mid",
    CANTUS_ERR_TRUNCATED,
    "track 0 at byte 26: event runs past the end of the track chunk (chunk ends at byte 28)" },
  { "no_end_of_track.mid",
    CANTUS_ERR_FORMAT,
    "track 0 at byte 30: track chunk ends without an end-of-track event" },
  { "meta_past_chunk.mid",
    CANTUS_ERR_TRUNCATED,
    "track 0 at byte 22: meta event of 64 bytes runs past the end of the track chunk" },
  { "running_status_none.mid",
    CANTUS_ERR_FORMAT,
    "track 0 at byte 23: running status without a previous status byte" },
  { "status_in_data.mid",
    CANTUS_ERR_FORMAT,
    "track 0 at byte 25: status byte 0x90 where a data byte was expected" },
  { "huge_delta_overflow.mid",
    CANTUS_ERR_TOO_LARGE,
    "track 0 at byte 134: delta times add up past 4294967294 ticks" },
  { "vlq_overflow.mid",
    CANTUS_ERR_FORMAT,
    "track 0 at byte 22: variable-length quantity longer than 4 bytes" },
  { "format2.mid", CANTUS_ERR_FORMAT, "format 2 MIDI files are not supported" },
  { "smpte.mid", CANTUS_ERR_FORMAT, "SMPTE time division is not supported" },
  { "missing_mtrk.mid", CANTUS_ERR_FORMAT, "no MTrk track chunk" },
  { "missing_tracks.mid",
    CANTUS_ERR_TRUNCATED,
    "the header declares 3 tracks but the file ends at byte 111 after 2" },
  { "many_tracks.mid",
    CANTUS_ERR_TRUNCATED,
    "the header declares 65535 tracks but only 40 bytes follow" },
  // Accepted, with their repairs checked below.
  { "good.mid", CANTUS_OK, "" },
  { "running_status_meta.mid", CANTUS_OK, "" },
  { "zero_length_tracks.mid", CANTUS_OK, "" },
  { "huge_delta_ok.mid", CANTUS_OK, "" },
  { "unknown_chunk.mid", CANTUS_OK, "" },
  { "vel0_off.mid", CANTUS_OK, "" },
  { "overlap.mid", CANTUS_OK, "" },
  { "unterminated.mid", CANTUS_OK, "" },
  { "sysex_f7.mid", CANTUS_OK, "" },
  { "trailing_garbage.mid", CANTUS_OK, "" },
};

TEST(midi_hostile_files_status_and_message)
{
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    const Hostile *h = &hostile[i];
    char path[256];
    snprintf(path, sizeof path, DATA "%s", h->file);
    CantusMidiFile *m = (CantusMidiFile *)&m; // must be overwritten
    CantusError err = { { 0 } };
    CantusStatus st = cantus_midi_read(path, &m, &err);
    CHECK_MSG(st == h->status,
              "%s: status %d (%s), want %d; msg: %s",
              h->file,
              st,
              cantus_strerror(st),
              h->status,
              err.msg);
    if (h->status == CANTUS_OK) {
      CHECK_MSG(m != NULL, "%s", h->file);
      char why[256];
      CHECK_MSG(m && invariants_hold(m, why, sizeof why), "%s: %s", h->file, m ? why : "");
      cantus_midi_free(m);
      continue;
    }
    CHECK_MSG(m == NULL, "%s: out not cleared on failure", h->file);
    CHECK_MSG(one_line(err.msg), "%s: message not one line: '%s'", h->file, err.msg);
    CHECK_MSG(
      starts_with(err.msg, path), "%s: message does not name the file: %s", h->file, err.msg);
    CHECK_MSG(
      strstr(err.msg, h->fragment), "%s: message '%s' lacks '%s'", h->file, err.msg, h->fragment);
    // The same bytes from memory give the same status and name the caller's name.
    size_t size = 0;
    uint8_t *buf = slurp(path, &size);
    CHECK_MSG(buf != NULL, "%s missing", path);
    if (buf) {
      CantusError err2 = { { 0 } };
      CantusMidiFile *m2 = NULL;
      CHECK_EQ(cantus_midi_read_mem(buf, size, "mem.mid", &m2, &err2), h->status);
      CHECK(m2 == NULL);
      CHECK_MSG(
        starts_with(err2.msg, "mem.mid: ") && strstr(err2.msg, h->fragment), "%s", err2.msg);
      free(buf);
    }
  }
}

TEST(midi_maps_names_and_notes_of_a_good_file)
{
  CantusMidiFile *m = read_ok(DATA "good.mid");
  if (!m) {
    return;
  }
  CHECK_EQ(m->format, 1);
  CHECK_EQ(m->n_tracks, 2);
  CHECK_EQ(m->tpq, 480);
  CHECK_EQ(m->end_tick, 1440);
  CHECK(strcmp(m->track_names[0], "conductor") == 0);
  CHECK(strcmp(m->track_names[1], "melody") == 0);
  CHECK_EQ(m->n_tempos, 2);
  CHECK_EQ(m->tempos[0].tick, 0);
  CHECK_EQ(m->tempos[0].usec_per_quarter, 500000);
  CHECK_EQ(m->tempos[1].tick, 960);
  CHECK_EQ(m->tempos[1].usec_per_quarter, 400000);
  CHECK_EQ(m->n_timesigs, 2);
  CHECK_EQ(m->timesigs[0].tick, 0);
  CHECK_EQ(m->timesigs[0].num, 3);
  CHECK_EQ(m->timesigs[0].den, 4);
  CHECK_EQ(m->timesigs[1].tick, 1440);
  CHECK_EQ(m->timesigs[1].num, 6);
  CHECK_EQ(m->timesigs[1].den, 8);
  const CantusMidiNote want[] = { note(0, 480, 60, 100, 0, 1), note(480, 960, 62, 90, 0, 1) };
  check_notes(m, want, 2);
  CHECK_EQ(m->n_overlaps, 0);
  CHECK_EQ(m->n_unterminated, 0);
  cantus_midi_free(m);
}

TEST(midi_running_status_survives_meta_and_sysex)
{
  CantusMidiFile *m = read_ok(DATA "running_status_meta.mid");
  if (m) {
    CHECK_EQ(m->format, 0);
    const CantusMidiNote want[] = { note(0, 240, 60, 100, 0, 0),
                                    note(240, 480, 62, 100, 0, 0),
                                    note(480, 720, 64, 100, 0, 0) };
    check_notes(m, want, 3);
    cantus_midi_free(m);
  }
}

TEST(midi_velocity_zero_is_note_off_and_zero_length_gets_a_tick)
{
  CantusMidiFile *m = read_ok(DATA "vel0_off.mid");
  if (m) {
    const CantusMidiNote want[] = { note(0, 100, 60, 100, 1, 0),
                                    note(120, 220, 62, 90, 1, 0),
                                    note(220, 221, 67, 1, 0, 0) };
    check_notes(m, want, 3);
    CHECK_EQ(m->end_tick, 221);
    cantus_midi_free(m);
  }
}

TEST(midi_overlapping_notes_restrike_and_stacking)
{
  CantusMidiFile *m = read_ok(DATA "overlap.mid");
  if (m) {
    // See make_hostile.py: re-strike of 60, stacked 62, doubled 64, and
    // pitch 60 on channel 1 untouched by channel 0's re-strike.
    const CantusMidiNote want[] = {
      note(0, 100, 60, 100, 0, 0), note(0, 400, 60, 70, 1, 0),   note(0, 50, 62, 100, 0, 0),
      note(0, 80, 64, 100, 0, 0),  note(50, 300, 62, 101, 0, 0), note(100, 200, 60, 102, 0, 0),
    };
    check_notes(m, want, 6);
    CHECK_EQ(m->n_overlaps, 3);
    CHECK_EQ(m->n_unterminated, 0);
    cantus_midi_free(m);
  }
}

TEST(midi_unterminated_notes_close_at_track_end)
{
  CantusMidiFile *m = read_ok(DATA "unterminated.mid");
  if (m) {
    const CantusMidiNote want[] = { note(0, 960, 60, 100, 0, 0),
                                    note(0, 240, 64, 100, 0, 0),
                                    note(960, 961, 67, 100, 0, 0) };
    check_notes(m, want, 3);
    CHECK_EQ(m->n_unterminated, 2);
    CHECK_EQ(m->end_tick, 961);
    cantus_midi_free(m);
  }
}

TEST(midi_sysex_packets_and_unknown_chunks_are_skipped)
{
  CantusMidiFile *m = read_ok(DATA "sysex_f7.mid");
  if (m) {
    const CantusMidiNote want[] = { note(0, 120, 60, 100, 0, 0), note(120, 170, 72, 50, 0, 0) };
    check_notes(m, want, 2);
    cantus_midi_free(m);
  }
  const char *same[] = { DATA "unknown_chunk.mid", DATA "trailing_garbage.mid" };
  for (int i = 0; i < 2; i++) {
    m = read_ok(same[i]);
    if (m) {
      const CantusMidiNote want[] = { note(0, 480, 60, 100, 0, 0), note(480, 960, 62, 90, 0, 0) };
      check_notes(m, want, 2);
      CHECK(strcmp(m->track_names[0], "melody") == 0);
      cantus_midi_free(m);
    }
  }
}

TEST(midi_zero_length_tracks_and_huge_valid_deltas)
{
  CantusMidiFile *m = read_ok(DATA "zero_length_tracks.mid");
  if (m) {
    CHECK_EQ(m->n_tracks, 3);
    const CantusMidiNote want[] = { note(0, 480, 60, 100, 0, 1), note(480, 960, 62, 90, 0, 1) };
    check_notes(m, want, 2);
    CHECK(m->track_names[0][0] == '\0' && m->track_names[2][0] == '\0');
    cantus_midi_free(m);
  }
  m = read_ok(DATA "huge_delta_ok.mid");
  if (m) {
    const CantusMidiNote want[] = { note(4026531825u, 4026531925u, 60, 100, 0, 0) };
    check_notes(m, want, 1);
    CHECK_EQ(m->end_tick, 4026531925u);
    cantus_midi_free(m);
  }
}

TEST(midi_bad_arguments_and_missing_files)
{
  CantusError err = { { 0 } };
  CantusMidiFile *m = NULL;
  CHECK_EQ(cantus_midi_read(DATA "no_such_file.mid", &m, &err), CANTUS_ERR_IO);
  CHECK(m == NULL);
  CHECK(starts_with(err.msg, DATA "no_such_file.mid: cannot open") && one_line(err.msg));
  CHECK_EQ(cantus_midi_read(DATA, &m, &err), CANTUS_ERR_IO);
  CHECK(strstr(err.msg, "not a regular file") != NULL);
  CHECK_EQ(cantus_midi_read(DATA "good.mid", NULL, NULL), CANTUS_ERR_ARGUMENT);
  CHECK_EQ(cantus_midi_read_mem(NULL, 10, "x", &m, &err), CANTUS_ERR_ARGUMENT);
  CHECK_EQ(cantus_midi_read_mem(NULL, 0, NULL, &m, &err), CANTUS_ERR_BAD_MAGIC);
  CHECK(starts_with(err.msg, "(memory): empty file"));
  // Errors without an error struct still return the status.
  CHECK_EQ(cantus_midi_read_mem("MThd", 4, "x", &m, NULL), CANTUS_ERR_TRUNCATED);
}

// Same-tick tempo or time signature entries: the last one wins; events in
// any track count (format 1 files from some tools put them in track 1).
TEST(midi_tempo_map_dedup_and_other_tracks)
{
  static const uint8_t f[] = {
    'M', 'T',  'h',  'd', 0,    0,    0,    6,   0,    1,    0, 2,    0,    96,   'M',
    'T', 'r',  'k',  0,   0,    0,    25,   0,   0xFF, 0x51, 3, 0x07, 0xA1, 0x20, // 0: 500000
    0,   0xFF, 0x51, 3,   0x06, 0x1A, 0x80, // 0: 400000 (wins)
    0,   0xFF, 0x51, 3,   0,    0,    0,    // tempo 0: ignored
    0,   0xFF, 0x2F, 0,   'M',  'T',  'r',  'k', 0,    0,    0, 28,   0,    0xFF, 0x03,
    4,   'a',  0x01, 'b', 'c',                 // control char -> space
    10,  0xFF, 0x58, 4,   7,    3,    24,   8, // 10: 7/8
    10,  0xFF, 0x58, 4,   5,    9,    24,   8, // 20: 5/512: ignored
    0,   0xFF, 0x2F, 0,
  };
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_read_mem(f, sizeof f, "maps", &m, &err), CANTUS_OK);
  if (!m) {
    printf("%s\n", err.msg);
    return;
  }
  CHECK_EQ(m->tpq, 96);
  CHECK_EQ(m->n_tempos, 1);
  CHECK_EQ(m->tempos[0].usec_per_quarter, 400000);
  CHECK_EQ(m->n_timesigs, 1);
  CHECK_EQ(m->timesigs[0].tick, 10);
  CHECK_EQ(m->timesigs[0].num, 7);
  CHECK_EQ(m->timesigs[0].den, 8);
  CHECK(strcmp(m->track_names[1], "a bc") == 0);
  CHECK_EQ(m->end_tick, 20);
  cantus_midi_free(m);
}

// Reads a one-track file whose only event is a track name of `len` bytes.
static CantusMidiFile *read_named(const uint8_t *name, size_t len)
{
  uint8_t f[256] = { 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96, 'M', 'T', 'r', 'k' };
  size_t body = 4 + len + 4;
  f[18] = 0, f[19] = 0, f[20] = 0, f[21] = (uint8_t)body;
  uint8_t *p = f + 22;
  *p++ = 0, *p++ = 0xFF, *p++ = 0x03, *p++ = (uint8_t)len;
  memcpy(p, name, len);
  p += len;
  *p++ = 0, *p++ = 0xFF, *p++ = 0x2F, *p++ = 0;
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_read_mem(f, (size_t)(p - f), "name", &m, &err), CANTUS_OK);
  return m;
}

// Long names keep 63 bytes without cutting a UTF-8 character in two.
TEST(midi_long_track_names_are_cut_on_character_boundaries)
{
  uint8_t name[100];
  memset(name, 'a', sizeof name);
  name[61] = 0xC3, name[62] = 0xA4; // a complete "ä" in bytes 61..62
  CantusMidiFile *m = read_named(name, 70);
  if (m) {
    CHECK_EQ(strlen(m->track_names[0]), 63);
    CHECK(memcmp(m->track_names[0] + 61, "\xC3\xA4", 2) == 0);
    cantus_midi_free(m);
  }
  memset(name, 'a', sizeof name);
  name[62] = 0xC3, name[63] = 0xA4; // "ä" cut after its first byte
  m = read_named(name, 70);
  if (m) {
    CHECK_EQ(strlen(m->track_names[0]), 62);
    cantus_midi_free(m);
  }
  memset(name, 'a', sizeof name);
  name[60] = 0xE2, name[61] = 0x82, name[62] = 0xAC, name[63] = 'x'; // "€" then more
  m = read_named(name, 70);
  if (m) {
    CHECK_EQ(strlen(m->track_names[0]), 63);
    cantus_midi_free(m);
  }
  name[61] = 0xE2, name[62] = 0x82, name[63] = 0xAC; // "€" cut after two bytes
  m = read_named(name, 70);
  if (m) {
    CHECK_EQ(strlen(m->track_names[0]), 61);
    cantus_midi_free(m);
  }
}

// Notes of several tracks interleave by onset, then track, then pitch.
TEST(midi_notes_sorted_across_tracks)
{
  static const uint8_t f[] = {
    'M', 'T',  'h',  'd', 0,   0,   0,   6,   0,    1,  0,  2,    0,    96,   'M',
    'T', 'r',  'k',  0,   0,   0,   19,  10,  0x90, 70, 90, 0,    0x90, 50,   90,
    20,  0x80, 70,   0,   0,   50,  0, // running 0x80
    0,   0xFF, 0x2F, 0,   'M', 'T', 'r', 'k', 0,    0,  0,  17,   0,    0x95, 60,
    80,  10,   61,   80,  5,   60,  0,   0,   61,   0,  0,  0xFF, 0x2F, 0,
  };
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_read_mem(f, sizeof f, "sort", &m, &err), CANTUS_OK);
  if (!m) {
    printf("%s\n", err.msg);
    return;
  }
  const CantusMidiNote want[] = { note(0, 15, 60, 80, 5, 1),
                                  note(10, 30, 50, 90, 0, 0),
                                  note(10, 30, 70, 90, 0, 0),
                                  note(10, 15, 61, 80, 5, 1) };
  check_notes(m, want, 4);
  cantus_midi_free(m);
}

// ---- robustness ------------------------------------------------------------------

static void check_prefixes(const uint8_t *data, size_t size, const char *what)
{
  size_t refused = 0;
  for (size_t n = 0; n < size; n++) {
    uint8_t *p = malloc(n ? n : 1); // exact size: ASan catches over-reads
    memcpy(p, data, n);
    CantusMidiFile *m = NULL;
    CantusError err = { { 0 } };
    CantusStatus st = cantus_midi_read_mem(p, n, "prefix.mid", &m, &err);
    // A proper prefix lacks the end of the last track, so it is refused.
    CHECK_MSG(st != CANTUS_OK && m == NULL, "%s: prefix of %zu bytes accepted", what, n);
    CHECK_MSG(one_line(err.msg) && starts_with(err.msg, "prefix.mid: "), "%s: '%s'", what, err.msg);
    refused += st != CANTUS_OK;
    cantus_midi_free(m);
    free(p);
  }
  CHECK_EQ(refused, size);
}

TEST(midi_every_prefix_is_refused_cleanly)
{
  size_t size = 0;
  uint8_t *d = slurp(DATA "good.mid", &size);
  CHECK(d != NULL && size > 100);
  if (d) {
    check_prefixes(d, size, "good.mid");
    free(d);
  }
}

TEST(midi_every_prefix_of_a_corpus_file_is_refused_cleanly)
{
  char path[1024];
  snprintf(path,
           sizeof path,
           "%s/nottingham/xmas/xmas_007_jubilate_deo_round.mid",
           cantus_test_corpus_dir());
  size_t size = 0;
  uint8_t *d = slurp(path, &size);
  if (!d) {
    SKIP("corpus file %s missing", path);
  }
  check_prefixes(d, size, path);
  free(d);
}

// Every byte of a small file replaced by a few values: accepted files must
// satisfy every invariant, refused ones must say one line.
TEST(midi_single_byte_corruptions_never_break_invariants)
{
  size_t size = 0;
  uint8_t *d = slurp(DATA "good.mid", &size);
  CHECK(d != NULL);
  if (!d) {
    return;
  }
  static const uint8_t values[] = { 0x00, 0x01, 0x7F, 0x80, 0x90, 0xF0, 0xF7, 0xFF };
  size_t accepted = 0, refused = 0;
  for (size_t i = 0; i < size; i++) {
    for (size_t v = 0; v < sizeof values; v++) {
      uint8_t *p = malloc(size);
      memcpy(p, d, size);
      p[i] = values[v];
      CantusMidiFile *m = NULL;
      CantusError err = { { 0 } };
      if (cantus_midi_read_mem(p, size, "x.mid", &m, &err) == CANTUS_OK) {
        char why[256];
        CHECK_MSG(invariants_hold(m, why, sizeof why), "byte %zu = 0x%02X: %s", i, values[v], why);
        accepted++;
      } else {
        CHECK_MSG(m == NULL && one_line(err.msg) && starts_with(err.msg, "x.mid: "),
                  "byte %zu = 0x%02X: '%s'",
                  i,
                  values[v],
                  err.msg);
        refused++;
      }
      cantus_midi_free(m);
      free(p);
    }
  }
  CHECK(accepted > 0 && refused > 0);
  free(d);
}

// ---- corpus ------------------------------------------------------------------------

typedef struct {
  size_t n_files, n_failed, n_notes, n_repaired, n_overlaps, n_unterminated;
} CorpusStats;

static void walk(const char *dir, int depth, CorpusStats *s)
{
  DIR *dh = opendir(dir);
  if (!dh || depth > 4) {
    if (dh) {
      closedir(dh);
    }
    return;
  }
  struct dirent *e;
  while ((e = readdir(dh))) {
    if (e->d_name[0] == '.') {
      continue;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
      continue;
    }
    if (S_ISDIR(sb.st_mode)) {
      walk(path, depth + 1, s);
      continue;
    }
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 4, ".mid") != 0) {
      continue;
    }
    s->n_files++;
    CantusMidiFile *m = NULL;
    CantusError err = { { 0 } };
    if (cantus_midi_read(path, &m, &err) != CANTUS_OK) {
      printf("FAIL corpus: %s\n", err.msg);
      s->n_failed++;
      continue;
    }
    char why[256];
    bool ok = invariants_hold(m, why, sizeof why) && m->tpq == 480 && m->n_notes > 0;
    if (!ok) {
      printf("FAIL corpus: %s: %s (tpq %u, %zu notes)\n", path, why, m->tpq, m->n_notes);
      s->n_failed++;
    }
    s->n_notes += m->n_notes;
    s->n_overlaps += m->n_overlaps;
    s->n_unterminated += m->n_unterminated;
    if (m->n_overlaps || m->n_unterminated) {
      s->n_repaired++;
      if (cantus_test_verbose) {
        printf("repaired: %s (%zu overlaps, %zu unterminated)\n",
               path,
               m->n_overlaps,
               m->n_unterminated);
      }
    }
    cantus_midi_free(m);
  }
  closedir(dh);
}

TEST(midi_reads_the_whole_corpus)
{
  const char *dir = cantus_test_corpus_dir();
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    SKIP("corpus %s missing", dir);
  }
  CorpusStats s = { 0 };
  walk(dir, 0, &s);
  printf("midi corpus: %zu files, %zu notes, %zu failed, %zu repaired (%zu overlaps, %zu "
         "unterminated)\n",
         s.n_files,
         s.n_notes,
         s.n_failed,
         s.n_repaired,
         s.n_overlaps,
         s.n_unterminated);
  CHECK(s.n_files > 100);
  CHECK_EQ(s.n_failed, 0);
  CHECK(s.n_notes > 100 * s.n_files / 2);
}

// Notes, tempos and time signatures of corpus files as parsed by mido
// (tests/data/midi/make_expected.py) must match exactly.
static void check_against_expected(const char *tsv)
{
  char path[1024];
  snprintf(path, sizeof path, DATA "expected/%s", tsv);
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "%s missing", path);
  if (!f) {
    return;
  }
  char line[512], rel[512] = "";
  unsigned tpq = 0;
  CantusMidiFile *want = NULL;
  CHECK_EQ(cantus_midi_alloc(4096, 16, &want, NULL), CANTUS_OK);
  if (!want) {
    fclose(f);
    return;
  }
  size_t n_bad = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned a, b, c, d, e, g;
    if (sscanf(line, "file\t%511s", rel) == 1) {
      continue;
    }
    if (sscanf(line, "tpq\t%u", &tpq) == 1) {
      continue;
    }
    if (sscanf(line, "tempo\t%u\t%u", &a, &b) == 2 && want->n_tempos < 8) {
      want->tempos[want->n_tempos++] = (CantusMidiTempo){ a, b };
    } else if (sscanf(line, "timesig\t%u\t%u\t%u", &a, &b, &c) == 3 && want->n_timesigs < 8) {
      want->timesigs[want->n_timesigs++] = (CantusMidiTimeSig){ a, (uint8_t)b, (uint8_t)c };
    } else if (sscanf(line, "note\t%u\t%u\t%u\t%u\t%u\t%u", &a, &b, &c, &d, &e, &g) == 6 &&
               want->n_notes < 4096) {
      want->notes[want->n_notes++] = note(a, b, (uint8_t)e, (uint8_t)g, (uint8_t)d, (uint16_t)c);
    } else {
      n_bad++;
    }
  }
  fclose(f);
  CHECK_EQ(n_bad, 0);
  CHECK(want->n_notes > 50);
  char mid[2048];
  snprintf(mid, sizeof mid, "%s/%s", cantus_test_corpus_dir(), rel);
  struct stat sb;
  if (stat(mid, &sb) != 0) {
    cantus_midi_free(want);
    SKIP("corpus file %s missing", mid);
  }
  CantusMidiFile *m = read_ok(mid);
  if (m) {
    CHECK_EQ(m->tpq, tpq);
    CHECK_EQ(m->n_tempos, want->n_tempos);
    for (size_t i = 0; i < m->n_tempos && i < want->n_tempos; i++) {
      CHECK_EQ(m->tempos[i].tick, want->tempos[i].tick);
      CHECK_EQ(m->tempos[i].usec_per_quarter, want->tempos[i].usec_per_quarter);
    }
    CHECK_EQ(m->n_timesigs, want->n_timesigs);
    for (size_t i = 0; i < m->n_timesigs && i < want->n_timesigs; i++) {
      CHECK_EQ(m->timesigs[i].tick, want->timesigs[i].tick);
      CHECK_EQ(m->timesigs[i].num, want->timesigs[i].num);
      CHECK_EQ(m->timesigs[i].den, want->timesigs[i].den);
    }
    check_notes(m, want->notes, want->n_notes);
    cantus_midi_free(m);
  }
  cantus_midi_free(want);
}

TEST(midi_matches_independent_parser_on_corpus_files)
{
  check_against_expected("jsb_test_000.tsv");
  check_against_expected("reelsd-g_028_east_tennessee_blues.tsv"); // has re-strikes
  check_against_expected("xmas_007_jubilate_deo_round.tsv");
  check_against_expected("cre_0001_achreidh_jig_the.tsv");
}

// ---- writer ------------------------------------------------------------------------

TEST(midi_write_read_round_trip_synthetic)
{
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_alloc(16, 4, &m, &err), CANTUS_OK);
  if (!m) {
    return;
  }
  CHECK_EQ(m->n_notes + m->n_tempos + m->n_timesigs + m->n_overlaps + m->n_unterminated, 0);
  m->tpq = 96;
  snprintf(m->track_names[0], 64, "conductor");
  snprintf(m->track_names[1], 64, "lead");
  snprintf(m->track_names[2], 64, "b\xC3\xA4ss");
  // Sorted the reader's way; same pitch back to back; a one-tick note; a gap
  // longer than one VLQ can hold; pitch 0 and 127; channels 0..15.
  const CantusMidiNote notes[] = {
    note(0, 96, 60, 100, 0, 1),   note(0, 48, 36, 80, 9, 2),
    note(0, 1, 127, 1, 15, 2),    note(96, 97, 0, 127, 3, 1),
    note(96, 192, 60, 101, 0, 1), note(192, 300, 60, 90, 1, 1),
    note(192, 300, 60, 90, 2, 1), note(0x30000000u, 0x30000010u, 64, 64, 2, 2),
  };
  size_t n = sizeof notes / sizeof notes[0];
  memcpy(m->notes, notes, sizeof notes);
  m->n_notes = n;
  m->tempos[0] = (CantusMidiTempo){ 0, 500000 };
  m->tempos[1] = (CantusMidiTempo){ 96, 1 };
  m->tempos[2] = (CantusMidiTempo){ 0x20000000u, 0xFFFFFF };
  m->n_tempos = 3;
  m->timesigs[0] = (CantusMidiTimeSig){ 0, 4, 4 };
  m->timesigs[1] = (CantusMidiTimeSig){ 96, 7, 8 };
  m->timesigs[2] = (CantusMidiTimeSig){ 192, 1, 128 };
  m->n_timesigs = 3;
  m->end_tick = 0x30000100u;
  char path[512], tmp[600];
  temp_path(path, sizeof path, "synth");
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_OK);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(access(tmp, F_OK) != 0);
  CantusMidiFile *r = read_ok(path);
  if (r) {
    check_same_file(m, r);
    CHECK_EQ(r->format, 1);
    CHECK_EQ(r->n_tracks, 3); // conductor + tracks 1 and 2
    CHECK(strcmp(r->track_names[0], "conductor") == 0);
    CHECK(strcmp(r->track_names[1], "lead") == 0);
    CHECK(strcmp(r->track_names[2], "b\xC3\xA4ss") == 0);
    cantus_midi_free(r);
  }
  remove(path);
  cantus_midi_free(m);
}

// Note tracks are written in ascending order after the conductor, so values
// other than 1..K are renumbered; names travel with their tracks.
TEST(midi_write_renumbers_note_tracks_in_order)
{
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_alloc(3, 8, &m, &err), CANTUS_OK);
  if (!m) {
    return;
  }
  snprintf(m->track_names[0], 64, "piano");
  snprintf(m->track_names[5], 64, "five");
  m->notes[0] = note(0, 10, 60, 100, 0, 0);
  m->notes[1] = note(0, 10, 61, 100, 0, 5);
  m->notes[2] = note(5, 10, 62, 100, 0, 7);
  m->n_notes = 3;
  char path[512];
  temp_path(path, sizeof path, "renum");
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_OK);
  CantusMidiFile *r = read_ok(path);
  if (r) {
    const CantusMidiNote want[] = { note(0, 10, 60, 100, 0, 1),
                                    note(0, 10, 61, 100, 0, 2),
                                    note(5, 10, 62, 100, 0, 3) };
    check_notes(r, want, 3);
    CHECK_EQ(r->n_tracks, 4);
    CHECK(strcmp(r->track_names[0], "piano") == 0);
    CHECK(strcmp(r->track_names[1], "piano") == 0);
    CHECK(strcmp(r->track_names[2], "five") == 0);
    CHECK(strcmp(r->track_names[3], "") == 0);
    CHECK_EQ(r->n_tempos + r->n_timesigs, 0);
    cantus_midi_free(r);
  }
  remove(path);
  cantus_midi_free(m);
}

TEST(midi_write_read_round_trip_corpus_file)
{
  char src[1024], path[512];
  snprintf(src, sizeof src, "%s/jsb_chorales/chorale/jsb_test_000.mid", cantus_test_corpus_dir());
  if (access(src, R_OK) != 0) {
    SKIP("corpus file %s missing", src);
  }
  CantusMidiFile *a = read_ok(src);
  if (!a) {
    return;
  }
  temp_path(path, sizeof path, "corpus");
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_write(path, a, &err), CANTUS_OK);
  CantusMidiFile *b = read_ok(path);
  if (b) {
    check_same_file(a, b);
    CHECK_EQ(b->n_tracks, a->n_tracks);
    for (size_t t = 0; t < a->n_tracks && t < b->n_tracks; t++) {
      CHECK_MSG(strcmp(a->track_names[t], b->track_names[t]) == 0,
                "track %zu: '%s' vs '%s'",
                t,
                a->track_names[t],
                b->track_names[t]);
    }
    // Writing what was read back gives the same bytes: the writer is deterministic.
    char path2[600];
    snprintf(path2, sizeof path2, "%s.2.mid", path);
    CHECK_EQ(cantus_midi_write(path2, b, &err), CANTUS_OK);
    size_t s1 = 0, s2 = 0;
    uint8_t *d1 = slurp(path, &s1), *d2 = slurp(path2, &s2);
    CHECK(d1 && d2 && s1 == s2 && memcmp(d1, d2, s1) == 0);
    free(d1);
    free(d2);
    remove(path2);
    cantus_midi_free(b);
  }
  remove(path);
  cantus_midi_free(a);
}

TEST(midi_write_refuses_invalid_content_and_paths)
{
  CantusMidiFile *m = NULL;
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_midi_alloc(4, 2, &m, &err), CANTUS_OK);
  if (!m) {
    return;
  }
  char path[512];
  temp_path(path, sizeof path, "bad");
  m->n_notes = 1;
  const CantusMidiNote bad[] = { note(0, 10, 128, 100, 0, 1), note(0, 10, 60, 0, 0, 1),
                                 note(0, 10, 60, 128, 0, 1),  note(0, 10, 60, 100, 16, 1),
                                 note(10, 10, 60, 100, 0, 1), note(10, 5, 60, 100, 0, 1) };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m->notes[0] = bad[i];
    CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
    CHECK(starts_with(err.msg, path) && strstr(err.msg, "note 0 is invalid"));
  }
  m->notes[0] = note(0, 10, 60, 100, 0, 1);
  m->n_tempos = 1;
  m->tempos[0] = (CantusMidiTempo){ 0, 0 };
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  m->tempos[0] = (CantusMidiTempo){ 0, 0x1000000 };
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  m->tempos[0] = (CantusMidiTempo){ 0, 500000 };
  m->n_timesigs = 1;
  m->timesigs[0] = (CantusMidiTimeSig){ 0, 3, 6 };
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  m->timesigs[0] = (CantusMidiTimeSig){ 0, 0, 4 };
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  m->timesigs[0] = (CantusMidiTimeSig){ 0, 3, 4 };
  m->tpq = 0;
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  m->tpq = 0x8000;
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  CHECK(access(path, F_OK) != 0); // nothing written by any refusal
  m->tpq = 480;
  CHECK_EQ(cantus_midi_write(DATA "no_such_dir/x.mid", m, &err), CANTUS_ERR_IO);
  CHECK(starts_with(err.msg, DATA "no_such_dir/x.mid: cannot create"));
  CHECK_EQ(cantus_midi_write(NULL, m, &err), CANTUS_ERR_ARGUMENT);
  // A failed write leaves an existing file untouched.
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_OK);
  size_t s1 = 0, s2 = 0;
  uint8_t *before = slurp(path, &s1);
  m->notes[0].velocity = 0;
  CHECK_EQ(cantus_midi_write(path, m, &err), CANTUS_ERR_ARGUMENT);
  uint8_t *after = slurp(path, &s2);
  CHECK(before && after && s1 == s2 && memcmp(before, after, s1) == 0);
  free(before);
  free(after);
  remove(path);
  cantus_midi_free(m);
  CHECK_EQ(cantus_midi_alloc((size_t)16 * 1024 * 1024 + 1, 1, &m, &err), CANTUS_ERR_TOO_LARGE);
  CHECK(m == NULL);
  CHECK_EQ(cantus_midi_alloc(0, 0, &m, &err), CANTUS_OK);
  CHECK(m != NULL && m->n_notes == 0 && m->n_tracks == 0);
  cantus_midi_free(m);
  cantus_midi_free(NULL);
}
