// SPDX-License-Identifier: GPL-3.0-or-later
// Chord following (issue 11) through the LV2 plugin, end to end through
// lilv: the built bundle in $CANTUS_BUILD/cantus.lv2 is driven at 120 BPM
// with a chord track (C F G Am, one chord a bar, below middle C) on the
// Chords port (chord source "input") or on the main MIDI port below the
// split note (chord source "split").  Checked: the chords change the music
// and, with chord strength 1, the notes' pitch classes fit the chords
// measurably better than without chords; chords where the chord source
// does not look change nothing; the Chords port may stay unconnected; the
// allocation and lock guard stays silent while chords arrive every block;
// the same notes at every block size with the same chords.
#include "alloc_guard.h"
#include "lv2_host.h"
#include "test.h"
#include "uris.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  RATE = 48000,
  BEAT = 24000, // frames of a beat at 120 BPM
  BAR = 4 * BEAT
};

// ---- the host --------------------------------------------------------------------

static const char *lv2_path(void)
{
  static char path[PATH_MAX + 16];
  char build[PATH_MAX];
  if (!realpath(cantus_test_build_dir(), build)) {
    snprintf(build, sizeof build, "%s", cantus_test_build_dir());
  }
  snprintf(path, sizeof path, "%s/cantus.lv2", build);
  return path;
}

// The chord track: C, F, G, Am in bars 0, 1, 2, 3, 4 ... (all below C4 =
// 60, the default split), as MIDI pitches and as pitch-class sets.
static const uint8_t prog[4][3] = { { 48, 52, 55 },
                                    { 53, 57, 48 },
                                    { 43, 47, 50 },
                                    { 45, 48, 52 } };

static uint16_t chord_pcs(uint64_t bar)
{
  uint16_t m = 0;
  for (int i = 0; i < 3; i++) {
    m |= (uint16_t)(1u << (prog[bar % 4][i] % 12));
  }
  return m;
}

typedef enum {
  PAT_HELD, // each chord held for its bar: three note-ons at the downbeat, offs before the next
  PAT_ARP   // an arpeggio: a chord tone every `arp_step` frames, the previous one let go
} Pattern;

typedef struct {
  int source; // chord_source: 0 off, 1 input, 2 split
  int split;  // chord_split
  float strength;
  uint32_t seed;
  const char *port;  // where the chord track goes: "chords", "control" or NULL (none)
  Pattern pattern;   //
  uint32_t arp_step; // PAT_ARP: frames between arpeggio notes
  uint32_t block;    // frames per run(); 0 = random 1..block_max
  uint32_t block_max;
  uint64_t block_rng;
  bool disconnect;    // connect the Chords port to NULL
  bool guard;         // arm the allocation and lock guard around every run()
  bool walk_strength; // move chord_strength every block (with guard)
  const char *model;  // NULL: the bundle's default model
  double seconds;     // played from bar 0
} ChordRun;

typedef struct {
  Lv2hEvent *ev;
  size_t n;
  CantusGuardCounts guard;
  uint64_t chord_events; // chord-track events sent
  uint64_t blocks, blocks_with_chords;
} ChordResult;

static void guard_enter(void *data)
{
  (void)data;
  cantus_guard_arm();
}

static void guard_leave(void *data)
{
  CantusGuardCounts *acc = data;
  const CantusGuardCounts c = cantus_guard_disarm();
  acc->allocs += c.allocs;
  acc->frees += c.frees;
  acc->locks += c.locks;
}

static uint64_t xorshift(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

// Queues the chord-track events of frames [start, start + n) into the block.
static uint32_t feed_chords(Lv2Host *h, const ChordRun *r, uint64_t start, uint32_t n)
{
  uint32_t k = 0;
  const uint64_t end = start + n;
  if (r->pattern == PAT_HELD) {
    for (uint64_t bar = start / BAR; bar * BAR < end; bar++) {
      const uint64_t on = bar * BAR, off = bar * BAR + BAR - 48;
      for (int i = 0; i < 3; i++) {
        if (on >= start && on < end) {
          lv2h_midi_to(h, r->port, (uint32_t)(on - start), 0x90, prog[bar % 4][i], 90);
          k++;
        }
      }
      for (int i = 0; i < 3; i++) {
        if (off >= start && off < end) {
          lv2h_midi_to(h, r->port, (uint32_t)(off - start), 0x80, prog[bar % 4][i], 0);
          k++;
        }
      }
    }
    return k;
  }
  const uint64_t s = r->arp_step;
  for (uint64_t j = (start + s - 1) / s; j * s < end; j++) {
    const uint64_t f = j * s;
    if (j > 0) {
      const uint64_t pf = (j - 1) * s;
      lv2h_midi_to(h, r->port, (uint32_t)(f - start), 0x80, prog[(pf / BAR) % 4][(j - 1) % 3], 0);
      k++;
    }
    lv2h_midi_to(h, r->port, (uint32_t)(f - start), 0x90, prog[(f / BAR) % 4][j % 3], 80);
    k++;
  }
  return k;
}

static ChordResult play(const ChordRun *r)
{
  ChordResult res = { NULL, 0, { 0, 0, 0 }, 0, 0, 0 };
  Lv2hConfig cfg = lv2h_config_default();
  cfg.rate = RATE;
  cfg.worker = LV2H_WORKER_SYNC;
  cfg.quiet_log = !cantus_test_verbose;
  if (r->guard) {
    cfg.rt_enter = guard_enter;
    cfg.rt_leave = guard_leave;
    cfg.rt_data = &res.guard;
  }
  Lv2Host *h = lv2h_new(lv2_path(), CANTUS_URI, &cfg);
  CHECK_MSG(h != NULL, "cannot instantiate %s from %s (make plugin?)", CANTUS_URI, lv2_path());
  if (!h) {
    res.ev = calloc(1, sizeof *res.ev);
    return res;
  }
  if (r->model) {
    // Loaded with the transport stopped; its notification comes in the
    // run() after the install.
    Lv2hClock stopped = { .bpm = 120.0, .beats_per_bar = 4.0, .beat_unit = 4 };
    Lv2hPos p = lv2h_clock_pos(&stopped, false);
    lv2h_position(h, 0, &p);
    lv2h_patch_set_path(h, 0, CANTUS__model, r->model);
    lv2h_run(h, 64);
    lv2h_settle(h, 64, 16);
    lv2h_run(h, 64);
    const char *m = lv2h_notified(h, CANTUS__model);
    CHECK_MSG(m && strstr(m, r->model), "model %s not loaded (%s)", r->model, m ? m : "none");
  }
  if (r->disconnect) {
    lv2h_disconnect(h, "chords");
  }
  lv2h_set(h, "seed", (float)r->seed);
  lv2h_set(h, "chord_source", (float)r->source);
  lv2h_set(h, "chord_split", (float)r->split);
  lv2h_set(h, "chord_strength", r->strength);
  lv2h_clear_events(h);
  Lv2hClock c = { .rolling = true, .bpm = 120.0, .beats_per_bar = 4.0, .beat_unit = 4 };
  const uint64_t base = lv2h_now(h); // frames the model load took: bar 0 starts here
  const uint64_t total = (uint64_t)(r->seconds * RATE);
  uint64_t rng = r->block_rng ? r->block_rng : 1;
  uint64_t t = 0;
  while (t < total) {
    uint32_t n = r->block ? r->block : 1 + (uint32_t)(xorshift(&rng) % r->block_max);
    n = t + n > total ? (uint32_t)(total - t) : n;
    if (t == 0) {
      Lv2hPos p = lv2h_clock_pos(&c, false);
      lv2h_position(h, 0, &p);
    }
    if (r->walk_strength) {
      lv2h_set(h, "chord_strength", (float)(xorshift(&rng) % 101) / 100.0f);
    }
    const uint32_t k = r->port ? feed_chords(h, r, t, n) : 0;
    res.chord_events += k;
    res.blocks_with_chords += k > 0;
    res.blocks++;
    lv2h_clock_advance(&c, n, RATE);
    lv2h_run(h, n);
    t += n;
  }
  // Stop, so every note ends.
  c.rolling = false;
  Lv2hPos p = lv2h_clock_pos(&c, false);
  lv2h_position(h, 0, &p);
  lv2h_run(h, 256);
  lv2h_settle(h, 256, 8);
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  res.ev = calloc(n + 1, sizeof *res.ev);
  for (size_t i = 0; i < n; i++) {
    res.ev[i] = ev[i];
    res.ev[i].frame -= base;
  }
  res.n = n;
  lv2h_free(h);
  return res;
}

static bool is_on(const Lv2hEvent *e)
{
  return (e->data[0] & 0xf0) == 0x90 && e->data[2] > 0;
}

// The share of the note-ons that are tones of their bar's chord, counting
// the notes from the second beat of a bar on (those of the first beat were
// generated a beat ahead, before the bar's chord was played).
static double chord_fit(const ChordResult *r, size_t *n_notes)
{
  size_t hits = 0, n = 0;
  for (size_t i = 0; i < r->n; i++) {
    const Lv2hEvent *e = &r->ev[i];
    if (!is_on(e) || e->frame % BAR < BEAT) {
      continue;
    }
    n++;
    hits += (chord_pcs(e->frame / BAR) >> (e->data[1] % 12)) & 1;
  }
  *n_notes = n;
  return n ? (double)hits / (double)n : 0.0;
}

static bool same(const ChordResult *a, const ChordResult *b, bool report)
{
  const size_t n = a->n < b->n ? a->n : b->n;
  for (size_t i = 0; i < n; i++) {
    const Lv2hEvent *x = &a->ev[i], *y = &b->ev[i];
    if (x->frame != y->frame || x->size != y->size || memcmp(x->data, y->data, x->size)) {
      if (report) {
        printf("  first difference at event %zu: frame %llu %02x %02x %02x vs frame %llu %02x %02x "
               "%02x\n",
               i,
               (unsigned long long)x->frame,
               x->data[0],
               x->data[1],
               x->data[2],
               (unsigned long long)y->frame,
               y->data[0],
               y->data[1],
               y->data[2]);
      }
      return false;
    }
  }
  if (a->n != b->n && report) {
    printf("  %zu events vs %zu\n", a->n, b->n);
  }
  return a->n == b->n;
}

// A chord run's defaults: 16 bars, held chords on the Chords port, seed 3.
static ChordRun base_run(void)
{
  return (ChordRun){ .source = 1,
                     .split = 60,
                     .strength = 1.0f,
                     .seed = 3,
                     .port = "chords",
                     .pattern = PAT_HELD,
                     .arp_step = 6000,
                     .block = 512,
                     .block_max = 4096,
                     .block_rng = 5,
                     .seconds = 32.0 };
}

// ---- cases -----------------------------------------------------------------------

// The Chords port with chord source "input": the music changes, and with
// strength 1 it fits the chords; the same track with chord source off (or
// on the wrong port) changes nothing.
TEST(lv2_chords_port_follows_the_chords)
{
  ChordRun r = base_run();
  ChordResult with = play(&r);
  r.port = NULL;
  ChordResult none = play(&r);
  r.port = "chords";
  r.source = 0;
  ChordResult off = play(&r);
  r.source = 2; // split: the Chords port is not read
  ChordResult split = play(&r);
  CHECK(with.n > 40 && none.n > 40);
  CHECK(lv2h_check_balanced(with.ev, with.n));
  CHECK_MSG(!same(&with, &none, false), "a chord track on the Chords port changed nothing");
  CHECK_MSG(same(&off, &none, true), "chord source off: the Chords port changed the music");
  CHECK_MSG(same(&split, &none, true), "chord source split: the Chords port changed the music");
  size_t n_with, n_none;
  const double fit_with = chord_fit(&with, &n_with), fit_none = chord_fit(&none, &n_none);
  printf("  chord tones: %.2f of %zu notes with the chords (strength 1), %.2f of %zu without\n",
         fit_with,
         n_with,
         fit_none,
         n_none);
  CHECK(n_with >= 20);
  CHECK_MSG(fit_with >= fit_none + 0.15 && fit_with >= 0.6,
            "strength 1: %.2f of the notes are chord tones, %.2f without chords",
            fit_with,
            fit_none);
  free(with.ev);
  free(none.ev);
  free(off.ev);
  free(split.ev);
}

// Chord source "split": the chord track on the main MIDI port below the
// split note steers the music like the Chords port does; above the split
// (split note C2) it is melody, not chords, and ignored with listen off.
TEST(lv2_chords_split_on_the_main_input)
{
  ChordRun r = base_run();
  r.source = 2;
  r.port = "control";
  ChordResult split = play(&r);
  r.port = NULL;
  ChordResult none = play(&r);
  r.port = "control";
  r.split = 36; // C2: every chord note (G2 = 43 the lowest) is above it
  ChordResult above = play(&r);
  r.split = 60;
  r.source = 1; // input: the main port's low notes are not chords
  ChordResult input = play(&r);
  CHECK(lv2h_check_balanced(split.ev, split.n));
  CHECK_MSG(!same(&split, &none, false), "chords below the split changed nothing");
  CHECK_MSG(same(&above, &none, true), "notes above the split were taken as chords");
  CHECK_MSG(same(&input, &none, true), "chord source input read the main port's low notes");
  size_t n_split, n_none;
  const double fit_split = chord_fit(&split, &n_split), fit_none = chord_fit(&none, &n_none);
  printf("  chord tones: %.2f of %zu notes with split chords (strength 1), %.2f of %zu without\n",
         fit_split,
         n_split,
         fit_none,
         n_none);
  CHECK_MSG(fit_split >= fit_none + 0.15 && fit_split >= 0.6,
            "split, strength 1: %.2f of the notes are chord tones, %.2f without chords",
            fit_split,
            fit_none);
  free(split.ev);
  free(none.ev);
  free(above.ev);
  free(input.ev);
}

// The Chords port unconnected (NULL): the plugin plays as with an empty
// port, with the guard armed.
TEST(lv2_chords_port_unconnected)
{
  ChordRun r = base_run();
  r.port = NULL;
  r.guard = true;
  r.seconds = 12.0;
  ChordResult empty = play(&r);
  r.disconnect = true;
  ChordResult unconnected = play(&r);
  r.port = "control"; // split chords still work without the Chords port
  r.source = 2;
  ChordResult split = play(&r);
  CHECK(unconnected.n > 20);
  CHECK_MSG(same(&unconnected, &empty, true), "an unconnected Chords port changed the music");
  CHECK_MSG(!same(&split, &empty, false),
            "split chords did nothing with the Chords port unconnected");
  CHECK_MSG(unconnected.guard.allocs == 0 && unconnected.guard.locks == 0 &&
              split.guard.allocs == 0 && split.guard.locks == 0,
            "guard: %ld/%ld allocs, %ld/%ld locks",
            unconnected.guard.allocs,
            split.guard.allocs,
            unconnected.guard.locks,
            split.guard.locks);
  free(empty.ev);
  free(unconnected.ev);
  free(split.ev);
}

// Chords arrive every block (an arpeggio every 256 frames in 256- and
// 512-frame blocks, on the Chords port and below the split), chord strength
// moving every block: no allocation, no lock in run().
TEST(lv2_chords_every_block_rt_guard)
{
  const struct {
    int source;
    const char *port;
    uint32_t block;
  } cases[] = { { 1, "chords", 256 }, { 2, "control", 512 } };
  for (size_t k = 0; k < 2; k++) {
    ChordRun r = base_run();
    r.source = cases[k].source;
    r.port = cases[k].port;
    r.block = cases[k].block;
    r.pattern = PAT_ARP;
    r.arp_step = 256;
    r.guard = true;
    r.walk_strength = true;
    r.seconds = 20.0;
    ChordResult res = play(&r);
    printf("  %s: %llu chord events in %llu of %llu blocks; %zu events out; guard %ld allocs, "
           "%ld locks\n",
           r.port,
           (unsigned long long)res.chord_events,
           (unsigned long long)res.blocks_with_chords,
           (unsigned long long)res.blocks,
           res.n,
           res.guard.allocs,
           res.guard.locks);
    CHECK_EQ(res.blocks_with_chords, res.blocks);
    CHECK(res.n > 20);
    CHECK(lv2h_check_sorted(res.ev, res.n));
    CHECK(lv2h_check_balanced(res.ev, res.n));
    CHECK_MSG(res.guard.allocs == 0 && res.guard.frees == 0 && res.guard.locks == 0,
              "%s: %ld allocs, %ld frees, %ld locks in run() while chords arrived",
              r.port,
              res.guard.allocs,
              res.guard.frees,
              res.guard.locks);
    free(res.ev);
  }
}

// The same chords at any block size give the same notes: 1, 7, 64, 256,
// 1000, 4096 frames and random sizes, on the Chords port and below the
// split, held and arpeggiated (chord changes between ticks), with the
// strength's pull and with the chord-input fixture's network alone.
TEST(lv2_chords_block_size_invariance)
{
  const uint32_t sizes[] = { 1, 7, 64, 256, 1000, 4096, 0 };
  char tinyc[PATH_MAX];
  const bool have_tinyc = realpath("tests/data/tinyc.cantus", tinyc) != NULL;
  for (int v = 0; v < 3; v++) {
    ChordRun r = base_run();
    r.strength = 0.6f;
    r.seconds = 16.0;
    if (v == 1) {
      r.source = 2;
      r.port = "control";
      r.pattern = PAT_ARP;
      r.arp_step = 3001;
    } else if (v == 2) { // the network's own chord input, arpeggiated chords
      if (!have_tinyc) {
        SKIP("tests/data/tinyc.cantus is not in this tree (the chord-input fixture)");
        return;
      }
      r.model = tinyc;
      r.strength = 0.0f;
      r.pattern = PAT_ARP;
      r.arp_step = 2999;
    }
    ChordResult ref = { NULL, 0, { 0, 0, 0 }, 0, 0, 0 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      r.block = sizes[s];
      r.block_max = 3000;
      ChordResult res = play(&r);
      if (!ref.ev) {
        ref = res;
        CHECK(res.n > 20);
        continue;
      }
      CHECK_MSG(same(&ref, &res, true),
                "%s: block size %u differs from 1 frame",
                v == 2 ? "chord-input model, arpeggio"
                : v    ? "split, arpeggio"
                       : "Chords port, held",
                sizes[s]);
      free(res.ev);
    }
    free(ref.ev);
  }
}

// With a model that has the chord input (the tinyc fixture), the chords
// change the music at chord strength 0: the network itself hears them.
TEST(lv2_chords_reach_the_network)
{
  const char *fixture = "tests/data/tinyc.cantus";
  char path[PATH_MAX];
  if (access(fixture, R_OK) != 0 || !realpath(fixture, path)) {
    SKIP("%s is not in this tree (the chord-input fixture)", fixture);
    return;
  }
  ChordRun r = base_run();
  r.model = path;
  r.strength = 0.0f;
  r.seconds = 16.0;
  ChordResult with = play(&r);
  r.port = NULL;
  ChordResult none = play(&r);
  CHECK(with.n > 10 && none.n > 10);
  CHECK_MSG(!same(&with, &none, false), "strength 0: the chord-input model ignored the chords");
  free(with.ev);
  free(none.ev);
}
