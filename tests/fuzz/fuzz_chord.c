// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target for the chord parsers (dsp/chord_read.c): any text must
// give either a chord / progression that keeps the promises of dsp/chord.h
// (12-bit sets, root and bass in range, 1..256 chords of 0..64 beats) and
// names itself in a terminated buffer, or a refusal with one printable
// line.  The same bytes also drive the live chord reader as note events,
// and, read as a MIDI file, make a chord track (ticks ascending, every
// chord a chord) or a one-line refusal.
// Seeds: tests/data/fuzz-seeds/fuzz_chord/.  Run with `make fuzz`.
#include "chord.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond)
{
  if (!cond) {
    abort();
  }
}

static void check_line(const char *err, size_t cap)
{
  require(memchr(err, '\0', cap) != NULL && err[0] != '\0');
  for (const char *p = err; *p; p++) {
    require((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
  }
}

static void check_chord(CantusChord c)
{
  require((c.pcs & ~0xfffu) == 0);
  require(c.root >= -1 && c.root < 12 && c.bass >= -1 && c.bass < 12);
  require(c.pcs != 0 || (c.root == -1 && c.bass == -1));
  require(c.bass < 0 || ((c.pcs >> c.bass) & 1u));
  char name[40];
  memset(name, 'x', sizeof name);
  cantus_chord_format(c, name, sizeof name);
  require(memchr(name, '\0', sizeof name) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text) {
    return 0;
  }
  memcpy(text, data, size);
  text[size] = '\0';
  char err[128];
  err[0] = '\0';
  CantusChord c;
  if (cantus_chord_parse(text, &c, err, sizeof err) == 0) {
    check_chord(c);
  } else {
    check_line(err, sizeof err);
  }
  static CantusProgression p;
  err[0] = '\0';
  if (cantus_progression_parse(text, &p, err, sizeof err) == 0) {
    require(p.n >= 1 && p.n <= CANTUS_MAX_PROGRESSION);
    for (uint32_t i = 0; i < p.n; i++) {
      check_chord(p.chord[i]);
      require(p.beats[i] <= 64);
    }
  } else {
    check_line(err, sizeof err);
    require(p.n == 0);
  }
  // Bytes as note events: (tick step, pitch | on << 7).
  CantusChordReader r;
  cantus_chord_reader_init(&r, (int64_t)(size % 97));
  int64_t t = 0;
  for (size_t i = 0; i + 1 < size; i += 2) {
    t += data[i] % 13;
    cantus_chord_reader_note(&r, t, data[i + 1] & 0x7f, data[i + 1] >> 7);
    check_chord(cantus_chord_reader_chord(&r));
  }
  // Bytes as a MIDI file: a chord track keeps its promises or says why not.
  CantusMidiFile *mf = NULL;
  CantusError merr;
  if (cantus_midi_read_mem(data, size, "fuzz.mid", &mf, &merr) == CANTUS_OK) {
    static CantusChordTrack t;
    err[0] = '\0';
    if (cantus_chord_track_from_midi(mf, 1 + (int)(size % 48), &t, err, sizeof err) == 0) {
      require(t.n >= 1 && t.n <= CANTUS_MAX_CHORD_TRACK);
      for (uint32_t i = 0; i < t.n; i++) {
        check_chord(t.chord[i]);
        require(!cantus_chord_is_none(t.chord[i]));
        require(i == 0 || t.tick[i - 1] < t.tick[i]);
      }
    } else {
      check_line(err, sizeof err);
      require(t.n == 0);
    }
    cantus_midi_free(mf);
  }
  free(text);
  return 0;
}
