// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers shared by the engine tests: a host simulator that drives
// cantus_engine_process block by block (free-run or with a transport),
// records every output event with its absolute frame, and checks the
// engine's invariants (sorted, inside the block, balanced, in range).
// Header-only (static functions), test code only.
#ifndef CANTUS_ENGINE_HARNESS_H
#define CANTUS_ENGINE_HARNESS_H

#include "engine.h"
#include "fixtures.h"
#include "test.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t frame; // absolute frame
  double tick;   // play tick at that frame (host's view)
  uint8_t status, pitch, vel;
  uint8_t ch; // MIDI channel 0..15
} HRec;

typedef struct {
  CantusEngine *e;
  CantusModel *m;
  int64_t frame; // absolute frames processed
  double rate;
  HRec *rec;
  size_t n_rec, cap;
  // invariant tracking
  uint8_t sounding[16][128];
  int n_sounding;
  int max_sounding;
  long violations; // sorted/inside/overlap violations
  long unmatched_off;
  CantusBlockOut out;
  // host transport (when used)
  double host_tick; // play tick at the next block's frame 0
} Harness;

static inline CantusModel *h_tiny_model(void)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *src = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_engine_adopt_model(src, &m, &err) != CANTUS_OK) {
    printf("adopt: %s\n", err.msg);
    abort();
  }
  cantus_model_free(src);
  return m;
}

// The format 2 fixture (tests/data/tiny2.cantus), laid out for the engine.
static inline CantusModel *h_tiny2_model(void)
{
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_engine_load_model("tests/data/tiny2.cantus", &m, &err) != CANTUS_OK) {
    printf("load: %s\n", err.msg);
    abort();
  }
  return m;
}

// As h_init with a model of the caller's (the harness owns it).
static inline void h_init_with(Harness *h, double lookahead, double rate, CantusModel *m)
{
  memset(h, 0, sizeof *h);
  CantusError err;
  if (cantus_engine_new(lookahead, &h->e, &err) != CANTUS_OK) {
    abort();
  }
  h->m = m;
  CantusModel *old = cantus_engine_install_model(h->e, h->m);
  (void)old;
  h->rate = rate;
  h->cap = 4096;
  h->rec = malloc(h->cap * sizeof *h->rec);
}

static inline void h_init(Harness *h, double lookahead, double rate)
{
  memset(h, 0, sizeof *h);
  CantusError err;
  if (cantus_engine_new(lookahead, &h->e, &err) != CANTUS_OK) {
    abort();
  }
  h->m = h_tiny_model();
  CantusModel *old = cantus_engine_install_model(h->e, h->m);
  (void)old;
  h->rate = rate;
  h->cap = 4096;
  h->rec = malloc(h->cap * sizeof *h->rec);
}

static inline void h_free(Harness *h)
{
  CantusModel *m = cantus_engine_install_model(h->e, NULL);
  cantus_model_free(m);
  cantus_engine_free(h->e);
  free(h->rec);
}

// Checks one block's output and records it.  tick0/tpf: the host's view of
// time for converting frames to ticks.
static inline void h_take(Harness *h,
                          const CantusBlockOut *out,
                          uint32_t n,
                          double tick0,
                          double tpf)
{
  for (uint32_t i = 0; i < out->n_events; i++) {
    const CantusMidiEvent *ev = &out->events[i];
    if (ev->frame >= n || (i > 0 && ev->frame < out->events[i - 1].frame) || ev->size != 3) {
      h->violations++;
    }
    const uint8_t st = ev->data[0] & 0xF0, ch = ev->data[0] & 0x0F, p = ev->data[1];
    if (st == 0x90 && ev->data[2] > 0) {
      if (h->sounding[ch][p]) {
        h->violations++; // struck while sounding
      } else {
        h->sounding[ch][p] = 1;
        h->n_sounding++;
        if (h->n_sounding > h->max_sounding) {
          h->max_sounding = h->n_sounding;
        }
      }
    } else if (st == 0x80 || st == 0x90) {
      if (!h->sounding[ch][p]) {
        h->unmatched_off++;
      } else {
        h->sounding[ch][p] = 0;
        h->n_sounding--;
      }
    }
    if (h->n_rec == h->cap) {
      h->cap *= 2;
      h->rec = realloc(h->rec, h->cap * sizeof *h->rec);
    }
    h->rec[h->n_rec++] = (HRec){ .frame = h->frame + ev->frame,
                                 .tick = tick0 + ev->frame * tpf,
                                 .status = st,
                                 .pitch = p,
                                 .vel = ev->data[2],
                                 .ch = ch };
  }
}

static inline double h_tpf(double bpm, int tpq, int beat_unit, double rate)
{
  return bpm / 60.0 * (tpq * 4.0 / beat_unit) / rate;
}

// Runs free-run blocks of `block` frames until `frames` frames are done.
static inline void h_run_free(Harness *h, const CantusControls *c, uint32_t block, int64_t frames)
{
  CantusBlockIn in = { .sample_rate = h->rate, .controls = *c };
  const double tpf = h_tpf(c->bpm, 12, 4, h->rate);
  while (frames > 0) {
    const uint32_t n = frames < block ? (uint32_t)frames : block;
    in.n_frames = n;
    cantus_engine_process(h->e, &in, &h->out);
    h_take(h, &h->out, n, h->frame * tpf, tpf);
    h->frame += n;
    frames -= n;
  }
}

// One block with a host transport at `tick` (4/4 unless given).
static inline void h_block_at(Harness *h,
                              const CantusControls *c,
                              uint32_t n,
                              double tick,
                              double bpm,
                              bool rolling,
                              const CantusMidiEvent *midi,
                              uint32_t n_midi)
{
  CantusBlockIn in = { .n_frames = n, .sample_rate = h->rate, .controls = *c };
  in.transport = (CantusTransport){ .valid = true,
                                    .rolling = rolling,
                                    .bpm = bpm,
                                    .bar = (int64_t)floor(tick / 48.0),
                                    .bar_beat = (tick - 48.0 * floor(tick / 48.0)) / 12.0,
                                    .beats_per_bar = 4,
                                    .beat_unit = 4 };
  in.midi_in = midi;
  in.n_midi_in = n_midi;
  cantus_engine_process(h->e, &in, &h->out);
  const double tpf = rolling ? h_tpf(bpm, 12, 4, h->rate) : 0.0;
  h_take(h, &h->out, n, tick, tpf);
  h->frame += n;
  h->host_tick = tick + n * tpf;
}

static inline int h_count_on(const Harness *h)
{
  int k = 0;
  for (size_t i = 0; i < h->n_rec; i++) {
    k += h->rec[i].status == 0x90 && h->rec[i].vel > 0;
  }
  return k;
}

// Note-ons as (pitch, tick rounded to 1/1000 tick) for comparisons.
typedef struct {
  int pitch;
  long tick_milli;
} HNote;

static inline size_t h_notes(const Harness *h, HNote *out, size_t cap, double from, double to)
{
  size_t n = 0;
  for (size_t i = 0; i < h->n_rec && n < cap; i++) {
    const HRec *r = &h->rec[i];
    if (r->status == 0x90 && r->vel > 0 && r->tick >= from - 1e-6 && r->tick < to) {
      out[n++] = (HNote){ r->pitch, lround(r->tick * 1000.0) };
    }
  }
  return n;
}

#endif
