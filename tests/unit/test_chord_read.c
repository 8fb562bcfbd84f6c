// SPDX-License-Identifier: GPL-3.0-or-later
// Chord symbols, progressions, names, the live chord reader and chord
// tracks from MIDI files (dsp/chord_read.c), hostile input included.
#include "chord.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define PCS(...) pcs_of((const int[]){ __VA_ARGS__, -1 })
static uint16_t pcs_of(const int *p)
{
  uint16_t s = 0;
  for (; *p >= 0; p++) {
    s |= (uint16_t)(1u << *p);
  }
  return s;
}

static CantusChord parse_ok(const char *text)
{
  CantusChord c;
  char err[256] = "";
  const int r = cantus_chord_parse(text, &c, err, sizeof err);
  CHECK_MSG(r == 0, "%s: %s", text, err);
  return c;
}

TEST(chord_parse_every_quality)
{
  const struct {
    const char *s;
    uint16_t pcs;
    int root, bass;
  } cases[] = {
    { "C", PCS(0, 4, 7), 0, 0 },      { "Dm", PCS(2, 5, 9), 2, 2 },
    { "G7", PCS(7, 11, 2, 5), 7, 7 }, { "Fmaj7", PCS(5, 9, 0, 4), 5, 5 },
    { "Am7", PCS(9, 0, 4, 7), 9, 9 }, { "Bdim", PCS(11, 2, 5), 11, 11 },
    { "Caug", PCS(0, 4, 8), 0, 0 },   { "Dsus2", PCS(2, 4, 9), 2, 2 },
    { "Esus4", PCS(4, 9, 11), 4, 4 }, { "F#m", PCS(6, 9, 1), 6, 6 },
    { "Bb", PCS(10, 2, 5), 10, 10 },  { "C/E", PCS(0, 4, 7), 0, 4 },
    { "C/D", PCS(0, 2, 4, 7), 0, 2 }, { "Ebmaj7/G", PCS(3, 7, 10, 2), 3, 7 },
    { "Cb", PCS(11, 3, 6), 11, 11 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const CantusChord c = parse_ok(cases[i].s);
    CHECK_MSG(c.pcs == cases[i].pcs, "%s: pcs %x want %x", cases[i].s, c.pcs, cases[i].pcs);
    CHECK_MSG(c.root == cases[i].root && c.bass == cases[i].bass,
              "%s: root %d bass %d",
              cases[i].s,
              c.root,
              c.bass);
  }
  CHECK(cantus_chord_is_none(parse_ok("N")));
  CHECK(cantus_chord_is_none(parse_ok("NC")));
  CHECK(cantus_chord_is_none(parse_ok("N.C.")));
}

TEST(chord_parse_refuses_with_one_line)
{
  const char *bad[] = { "",      "H",
                        "c",     "Cx",
                        "C/",    "C/H",
                        "C/E7",  "Cm7b5",
                        "Cmaj9", "#",
                        "C##",   "Q\x01\xff",
                        "C/E/G", "Cmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CantusChord c;
    char err[256] = "";
    CHECK_MSG(cantus_chord_parse(bad[i], &c, err, sizeof err) == -1, "'%s' accepted", bad[i]);
    CHECK(strncmp(err, "bad chord '", 11) == 0);
    CHECK(strchr(err, '\n') == NULL);
    for (const char *p = err; *p; p++) {
      CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f); // printable
    }
    CHECK(strlen(err) < 200);
  }
  // A tiny buffer is still terminated.
  CantusChord c;
  char small[8];
  CHECK(cantus_chord_parse("Hm", &c, small, sizeof small) == -1);
  CHECK(memchr(small, '\0', sizeof small) != NULL);
}

TEST(chord_format_names_and_sets)
{
  const char *round[] = { "C",    "Dm",    "G7",    "Fmaj7", "Am7",      "Bdim",
                          "Caug", "Dsus2", "Esus4", "C/E",   "Ebmaj7/G", "N" };
  for (size_t i = 0; i < sizeof round / sizeof round[0]; i++) {
    char buf[32];
    cantus_chord_format(parse_ok(round[i]), buf, sizeof buf);
    CHECK_MSG(strcmp(buf, round[i]) == 0, "%s -> %s", round[i], buf);
  }
  // Read from notes: no root.  A triad is named; its bass gives the slash.
  char buf[32];
  cantus_chord_format((CantusChord){ PCS(7, 11, 2), -1, 11 }, buf, sizeof buf);
  CHECK_MSG(strcmp(buf, "G/B") == 0, "%s", buf);
  cantus_chord_format((CantusChord){ PCS(0, 2, 4), -1, 0 }, buf, sizeof buf);
  CHECK_MSG(strcmp(buf, "{C D E}") == 0, "%s", buf);
  char tiny[3];
  cantus_chord_format((CantusChord){ PCS(0, 2, 4), -1, 0 }, tiny, sizeof tiny);
  CHECK(tiny[2] == '\0');
}

TEST(chord_progression_parse)
{
  CantusProgression p;
  char err[256] = "";
  CHECK(cantus_progression_parse("D G D A", &p, err, sizeof err) == 0);
  CHECK_EQ(p.n, 4u);
  CHECK(p.beats[0] == 0 && p.beats[3] == 0);
  CHECK(p.chord[3].pcs == PCS(9, 1, 4));
  CHECK(cantus_progression_parse(" D:2, G:2 | A7:4 |Bm:64", &p, err, sizeof err) == 0);
  CHECK_EQ(p.n, 4u);
  CHECK(p.beats[0] == 2 && p.beats[1] == 2 && p.beats[2] == 4 && p.beats[3] == 64);
  CHECK(p.chord[2].pcs == PCS(9, 1, 4, 7));
  const char *bad[] = { "",      "  | , ", "D:0",  "D:65",  "D:",    "D:x",
                        "D:1:2", "D G H",  "D:-1", "D:999", "D:\xff" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_MSG(cantus_progression_parse(bad[i], &p, err, sizeof err) == -1, "'%s'", bad[i]);
    CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    CHECK_EQ(p.n, 0u);
  }
  // 256 chords are fine, 257 refused; a huge text is refused quickly.
  char *big = malloc(1 << 20);
  size_t n = 0;
  for (int i = 0; i < 256; i++) {
    n += (size_t)snprintf(big + n, 8, "C ");
  }
  CHECK(cantus_progression_parse(big, &p, err, sizeof err) == 0);
  CHECK_EQ(p.n, 256u);
  memset(big, 'C', (1 << 20) - 1);
  for (size_t i = 1; i < (1 << 20) - 1; i += 2) {
    big[i] = ' ';
  }
  big[(1 << 20) - 1] = '\0';
  CHECK(cantus_progression_parse(big, &p, err, sizeof err) == -1);
  CHECK(strstr(err, "more than 256") != NULL);
  free(big);
}

static bool feed(CantusChordReader *r, int64_t t, int p, bool on)
{
  return cantus_chord_reader_note(r, t, p, on);
}

TEST(chord_reader_held_chord_and_change)
{
  CantusChordReader r;
  cantus_chord_reader_init(&r, 24); // half a 4/4 bar at 12 ticks a quarter
  CHECK(cantus_chord_is_none(cantus_chord_reader_chord(&r)));
  feed(&r, 0, 48, true);
  feed(&r, 0, 52, true);
  CHECK(feed(&r, 0, 55, true));
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(0, 4, 7));
  CHECK(cantus_chord_reader_chord(&r).bass == 0);
  // Releasing keeps the chord.
  feed(&r, 40, 48, false);
  feed(&r, 40, 52, false);
  CHECK(!feed(&r, 40, 55, false));
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(0, 4, 7));
  // F A C played together: F starts a new chord, A and C join it.
  CHECK(feed(&r, 48, 53, true));
  feed(&r, 48, 57, true);
  feed(&r, 48, 60, true);
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(5, 9, 0));
  CHECK(cantus_chord_reader_chord(&r).bass == 5);
  // Held C E G, then A: the new chord is A and everything held (Am7 here,
  // for C is still down).
  feed(&r, 90, 53, false);
  feed(&r, 90, 57, false);
  feed(&r, 96, 57, true);
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(5, 9, 0)); // A is in F: no change
  feed(&r, 150, 52, true);                                  // E: not in F, a new chord
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(9, 0, 4)); // with A and C held
  CHECK(cantus_chord_reader_chord(&r).bass == 4);           // E52 is the lowest
}

TEST(chord_reader_arpeggio_and_oompah)
{
  CantusChordReader r;
  cantus_chord_reader_init(&r, 24);
  // An arpeggio, one note at a time, each released before the next.
  const int arp[] = { 48, 52, 55, 60, 55, 52, 48, 52 };
  for (int i = 0; i < 8; i++) {
    feed(&r, i * 6, arp[i], true);
    feed(&r, i * 6 + 5, arp[i], false);
  }
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(0, 4, 7));
  // Oom-pah: bass on the beat, chord off it.  G D-G-B for two bars, then
  // C G-C-E: one chord each, read when the first bass note and its chord
  // have sounded.
  cantus_chord_reader_init(&r, 24);
  int changes = 0;
  for (int beat = 0; beat < 16; beat++) {
    const int64_t t = beat * 12;
    const bool c = beat >= 8;
    const int bass = c ? (beat % 2 ? 55 : 48) : (beat % 2 ? 50 : 43);
    const int up1 = c ? 52 : 59, up2 = c ? 55 : 62;
    changes += feed(&r, t, bass, true);
    feed(&r, t + 5, bass, false);
    changes += feed(&r, t + 6, up1, true);
    changes += feed(&r, t + 6, up2, true);
    feed(&r, t + 11, up1, false);
    feed(&r, t + 11, up2, false);
    if (beat == 7) {
      CHECK(cantus_chord_reader_chord(&r).pcs == PCS(7, 11, 2));
      CHECK(cantus_chord_reader_chord(&r).bass == 7);
      CHECK_MSG(changes == 3, "%d changes for G", changes); // G, then B and D join
    }
  }
  CHECK(cantus_chord_reader_chord(&r).pcs == PCS(0, 4, 7));
  CHECK(cantus_chord_reader_chord(&r).bass == 0);
  CHECK_MSG(changes == 6, "%d changes for G then C", changes);
}

TEST(chord_track_from_midi)
{
  // C for a bar, F for a bar (oom-pah), then nothing.
  CantusMidiNote notes[] = {
    { 0, 96, 36, 90, 0, 0 },    { 96, 192, 52, 90, 0, 0 },  { 96, 192, 55, 90, 0, 0 },
    { 192, 288, 43, 90, 0, 0 }, { 288, 384, 52, 90, 0, 0 }, { 288, 384, 55, 90, 0, 0 },
    { 384, 480, 41, 90, 0, 0 }, { 480, 576, 57, 90, 0, 0 }, { 480, 576, 60, 90, 0, 0 },
    { 0, 50, 38, 90, 9, 0 }, // drums: skipped
  };
  CantusMidiFile mf = { 0 };
  mf.tpq = 96;
  mf.notes = notes;
  mf.n_notes = sizeof notes / sizeof notes[0];
  CantusChordTrack *t = malloc(sizeof *t);
  char err[256] = "";
  CHECK(cantus_chord_track_from_midi(&mf, 12, t, err, sizeof err) == 0);
  CHECK_EQ(t->n, 2u);
  CHECK(t->tick[0] == 0 && t->chord[0].pcs == PCS(0, 4, 7) && t->chord[0].bass == 0);
  CHECK(t->tick[1] == 48 && t->chord[1].pcs == PCS(5, 9, 0));
  mf.n_notes = 0;
  CHECK(cantus_chord_track_from_midi(&mf, 12, t, err, sizeof err) == -1);
  CHECK(strstr(err, "no notes") != NULL);
  free(t);
}
