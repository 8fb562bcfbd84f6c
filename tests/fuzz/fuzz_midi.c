// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target for the MIDI file reader: any bytes must give either a
// refusal with a one-line message naming the file, or a file object that
// keeps every promise of dsp/midifile.h (notes in range, off > on, sorted,
// maps sorted, names terminated).  A broken promise aborts.
// Seeds: tests/data/fuzz-seeds/fuzz_midi/.  Run with `make fuzz`.
#include "midifile.h"

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

static void check_file(const CantusMidiFile *m)
{
  require(m->format <= 1 && m->tpq >= 1 && m->tpq <= 0x7FFF && m->n_tracks >= 1);
  for (size_t i = 0; i < m->n_notes; i++) {
    const CantusMidiNote *n = &m->notes[i];
    require(n->pitch <= 127 && n->channel <= 15 && n->velocity >= 1 && n->velocity <= 127);
    require(n->off_tick > n->on_tick && n->off_tick <= m->end_tick);
    require(n->track < m->n_tracks);
    if (i > 0) {
      const CantusMidiNote *p = &m->notes[i - 1];
      require(p->on_tick < n->on_tick ||
              (p->on_tick == n->on_tick &&
               (p->track < n->track || (p->track == n->track && p->pitch <= n->pitch))));
    }
  }
  for (size_t i = 0; i < m->n_tempos; i++) {
    require(m->tempos[i].usec_per_quarter > 0 && m->tempos[i].usec_per_quarter <= 0xFFFFFF);
    require(i == 0 || m->tempos[i - 1].tick < m->tempos[i].tick);
  }
  for (size_t i = 0; i < m->n_timesigs; i++) {
    const CantusMidiTimeSig *s = &m->timesigs[i];
    require(s->num > 0 && s->den > 0 && (s->den & (s->den - 1)) == 0);
    require(i == 0 || m->timesigs[i - 1].tick < s->tick);
  }
  for (size_t t = 0; t < m->n_tracks; t++) {
    require(memchr(m->track_names[t], '\0', 64) != NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  CantusMidiFile *m = NULL;
  CantusError err;
  err.msg[0] = '\0';
  CantusStatus st = cantus_midi_read_mem(data, size, "fuzz.mid", &m, &err);
  if (st == CANTUS_OK) {
    require(m != NULL);
    check_file(m);
    cantus_midi_free(m);
  } else {
    require(m == NULL);
    require(strncmp(err.msg, "fuzz.mid: ", 10) == 0 && strchr(err.msg, '\n') == NULL);
  }
  return 0;
}
