// SPDX-License-Identifier: GPL-3.0-or-later
// Chords in the engine (issue 11, dsp/engine_chord.c) and the sampler's
// pitch pulls: the chord in force reaches a chord network's step (rotated
// by the transpose), live chords (Chords input, split) give the same notes
// at any block size and sample rate, split notes are chords and not heard
// by Listen, chord_strength pulls toward chord tones (0 changes nothing),
// an answer comes in the call's key, no allocation or lock with chords
// every block, no stuck notes.
#include "alloc_guard.h"
#include "engine_harness.h"
#include "sample.h"

#include <stdio.h>

#define PCS3(a, b, c) ((uint16_t)(1u << (a) | 1u << (b) | 1u << (c)))

static CantusModel *load(const char *path)
{
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_engine_load_model(path, &m, &err) != CANTUS_OK) {
    printf("load: %s\n", err.msg);
    abort();
  }
  return m;
}

static CantusControls ctl(uint32_t seed)
{
  CantusControls c = cantus_controls_default();
  c.seed = seed;
  return c;
}

static CantusProgression prog(const char *text)
{
  CantusProgression p;
  char err[128];
  if (cantus_progression_parse(text, &p, err, sizeof err) != 0) {
    printf("%s\n", err);
    abort();
  }
  return p;
}

// ---- the sampler's pulls --------------------------------------------------

static CantusVocab v1(void)
{
  return cantus_fixture_dims_tiny().vocab;
}

// Draws n tokens from fixed logits, counting note-ons per pitch class and
// all note-ons.
static void draw(const CantusSampleParams *sp, int n, int pc_count[12], int *notes)
{
  const CantusVocab v = v1();
  const int V = cantus_vocab_size(&v);
  static float logits[CANTUS_MAX_VOCAB], scratch[CANTUS_MAX_VOCAB];
  CantusNoteState ns;
  cantus_notes_reset(&ns, 0);
  CantusRng rng;
  cantus_rng_seed(&rng, 5);
  memset(pc_count, 0, 12 * sizeof *pc_count);
  *notes = 0;
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < V; i++) {
      logits[i] = (float)((i * 37) % 11) * 0.1f; // a fixed, uneven distribution
    }
    const int t = cantus_sample_token(&v, logits, scratch, sp, &ns, &rng, NULL);
    int val = 0;
    if (cantus_vocab_decode(&v, t, &val) == CANTUS_EV_NOTE_ON) {
      pc_count[val % 12]++;
      (*notes)++;
    }
  }
}

TEST(chord_pull_prefers_chord_tones_keeps_note_mass)
{
  const CantusVocab v = v1();
  CantusSampleParams sp = { .temperature = 1.0f,
                            .top_p = 1.0f,
                            .pitch_lo = v.pitch_lo,
                            .pitch_hi = v.pitch_hi,
                            .scale_mask = 0xfff,
                            .max_voices = 8 };
  int base[12], pulled[12], n0 = 0, n1 = 0;
  draw(&sp, 20000, base, &n0);
  sp.pull_pcs[0] = PCS3(0, 4, 7);
  sp.pull[0] = CANTUS_CHORD_PULL;
  draw(&sp, 20000, pulled, &n1);
  const int c0 = base[0] + base[4] + base[7], c1 = pulled[0] + pulled[4] + pulled[7];
  const double f0 = (double)c0 / n0, f1 = (double)c1 / n1;
  if (cantus_test_verbose) {
    printf("  chord tones %.3f -> %.3f of %d / %d notes\n", f0, f1, n0, n1);
  }
  CHECK_MSG(f1 > f0 + 0.3, "chord-tone share %.3f -> %.3f", f0, f1);
  CHECK_MSG(f1 < 0.95, "passing notes must survive: %.3f", f1);
  // The notes' total probability is kept (within sampling noise).
  CHECK_MSG(fabs((double)n1 - n0) < 0.05 * n0, "notes %d -> %d", n0, n1);
  // No pull (0 strength, or an empty set) draws exactly the same tokens.
  int again[12], n2 = 0;
  sp.pull[0] = 0.0f;
  draw(&sp, 2000, again, &n2);
  int ref[12], n3 = 0;
  sp.pull_pcs[0] = 0;
  sp.pull[0] = CANTUS_CHORD_PULL;
  draw(&sp, 2000, ref, &n3);
  CantusSampleParams none = sp;
  none.pull_pcs[0] = 0;
  none.pull[0] = 0.0f;
  int plain[12], n4 = 0;
  draw(&none, 2000, plain, &n4);
  CHECK(n2 == n4 && n3 == n4 && !memcmp(again, plain, sizeof plain) &&
        !memcmp(ref, plain, sizeof plain));
}

// ---- host simulation with a Chords input ---------------------------------

// One 4/4 block at `tick` with MIDI and Chords inputs.
static void block(Harness *h,
                  const CantusControls *c,
                  uint32_t n,
                  double tick,
                  const CantusMidiEvent *midi,
                  uint32_t n_midi,
                  const CantusMidiEvent *chords,
                  uint32_t n_chords)
{
  CantusBlockIn in = { .n_frames = n, .sample_rate = h->rate, .controls = *c };
  in.transport = (CantusTransport){ .valid = true,
                                    .rolling = true,
                                    .bpm = 120,
                                    .bar = (int64_t)floor(tick / 48.0),
                                    .bar_beat = (tick - 48.0 * floor(tick / 48.0)) / 12.0,
                                    .beats_per_bar = 4,
                                    .beat_unit = 4 };
  in.midi_in = midi;
  in.n_midi_in = n_midi;
  in.chord_in = chords;
  in.n_chord_in = n_chords;
  cantus_engine_process(h->e, &in, &h->out);
  const double tpf = h_tpf(120, 12, 4, h->rate);
  h_take(h, &h->out, n, tick, tpf);
  h->frame += n;
}

// A scripted input event at a tick.
typedef struct {
  int64_t tick;
  uint8_t status, note;
} Ev;

// Chords every half bar (C F G Am, block voicings below 60, held 20 ticks)
// and, with melody, a player's note above the split every bar.
static size_t script(Ev *ev, size_t cap, int bars, bool melody)
{
  static const uint8_t ch[4][3] = {
    { 48, 52, 55 }, { 53, 57, 48 }, { 55, 59, 50 }, { 57, 48, 52 }
  };
  size_t n = 0;
  for (int h = 0; h < 2 * bars && n + 8 < cap; h++) {
    const int64_t t = h * 24 + (h % 3); // not always on the beat
    for (int k = 0; k < 3; k++) {
      ev[n++] = (Ev){ t, 0x90, ch[h % 4][k] };
    }
    for (int k = 0; k < 3; k++) {
      ev[n++] = (Ev){ t + 20, 0x80, ch[h % 4][k] };
    }
    if (melody && h % 2 == 1) {
      ev[n++] = (Ev){ t + 5, 0x90, (uint8_t)(72 + h % 5) };
      ev[n++] = (Ev){ t + 9, 0x80, (uint8_t)(72 + h % 5) };
    }
  }
  // Sorted by tick (the script's ticks interleave).
  for (size_t i = 1; i < n; i++) {
    for (size_t j = i; j > 0 && ev[j].tick < ev[j - 1].tick; j--) {
      const Ev t = ev[j];
      ev[j] = ev[j - 1];
      ev[j - 1] = t;
    }
  }
  return n;
}

enum { ROUTE_CHORD_IN = 0, ROUTE_MIDI_IN = 1, ROUTE_SPLIT = 2 };

// Plays `bars` bars with the scripted events placed at the frames of their
// ticks (so every block size and rate gives the same ticks); chord notes
// (< 60) go to the Chords input or the MIDI input per route, melody notes
// to the MIDI input; in every block a note-off of an unheld pitch also
// arrives on the chord route.  Returns the note-ons in [0, bars).
static size_t play_live(CantusModel *m,
                        const CantusControls *c,
                        uint32_t block_frames,
                        double rate,
                        int bars,
                        int route,
                        bool melody,
                        HNote *out,
                        size_t cap)
{
  static Ev ev[1024];
  const size_t n_ev = script(ev, 1024, bars, melody);
  Harness h;
  h_init_with(&h, 1.0, rate, m);
  const double tpf = h_tpf(120, 12, 4, rate);
  const int64_t frames = (int64_t)((bars + 1) * 48 / tpf);
  size_t next = 0;
  static CantusMidiEvent midi[CANTUS_MAX_EVENTS], chords[CANTUS_MAX_EVENTS];
  for (int64_t f0 = 0; f0 < frames; f0 += block_frames) {
    uint32_t n_midi = 0, n_chords = 0;
    chords[n_chords++] =
      (CantusMidiEvent){ .frame = 0, .size = 3, .data = { 0x80, 1, 0 } }; // every block
    while (next < n_ev) {
      // The last frame at or before the tick: an event counts from the first
      // tick at or after its frame (the same at every block size), so one
      // placed just after its tick would count from the next at 44.1 kHz.
      const int64_t f = (int64_t)floor((double)ev[next].tick / tpf + 1e-9);
      if (f >= f0 + block_frames) {
        break;
      }
      const CantusMidiEvent me = { .frame = (uint32_t)(f - f0),
                                   .size = 3,
                                   .data = { ev[next].status, ev[next].note, 90 } };
      const bool chord = ev[next].note < 60;
      if (chord && route == ROUTE_CHORD_IN) {
        chords[n_chords++] = me;
      } else {
        midi[n_midi++] = me;
      }
      next++;
    }
    block(&h, c, block_frames, (double)f0 * tpf, midi, n_midi, chords, n_chords);
  }
  const size_t n = h_notes(&h, out, cap, 0, bars * 48 - 0.5);
  for (size_t i = 0; i < n; i++) {
    out[i].tick_milli = lround(out[i].tick_milli / 1000.0) * 1000;
  }
  CantusBlockOut o;
  cantus_engine_flush(h.e, &o);
  h_take(&h, &o, 1, 0, 0);
  CHECK_EQ(h.n_sounding, 0);
  CHECK_EQ(h.unmatched_off, 0);
  CHECK_EQ(h.violations, 0);
  h_free(&h);
  return n;
}

static size_t same_prefix(const HNote *a, size_t na, const HNote *b, size_t nb)
{
  size_t k = 0;
  while (k < na && k < nb && a[k].pitch == b[k].pitch && a[k].tick_milli == b[k].tick_milli) {
    k++;
  }
  return k;
}

// The same notes at every block size and rate: live chords on the Chords
// input (a chord network), on the split (a chord network; the format 1
// model through chord_strength), with the player's melody above the split.
// (Listen itself notices an idle player at block starts, so blocks longer
// than a few ticks -- 8192 frames at 44.1 kHz is 4.5 -- may resume it
// later, chords or not: the Listen case stops at 1000 frames.)
TEST(chord_live_same_notes_at_every_block_size_and_rate)
{
  enum { CAP = 2048, BARS = 8 };
  static HNote ref[CAP], got[CAP], plain[CAP];
  const struct {
    const char *model;
    int source, route;
    float strength;
    bool listen;
  } cases[] = {
    { "tests/data/tinyc.cantus", 1, ROUTE_CHORD_IN, 0.0f, false },
    { "tests/data/tinyc.cantus", 2, ROUTE_SPLIT, 0.5f, true },
    { "tests/data/tiny.cantus", 2, ROUTE_SPLIT, 1.0f, false },
  };
  const uint32_t blocks[] = { 7, 256, 1000, 8192 };
  const double rates[] = { 44100, 96000 };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    CantusControls c = ctl(3);
    c.chord_source = cases[k].source;
    c.chord_strength = cases[k].strength;
    c.listen = cases[k].listen;
    const size_t n_ref =
      play_live(load(cases[k].model), &c, 64, 48000, BARS, cases[k].route, true, ref, CAP);
    CHECK_MSG(n_ref > 10, "case %zu: %zu notes", k, n_ref);
    // The chords change the music (else this test could not fail).
    CantusControls off = c;
    off.chord_source = 0;
    const size_t n_plain =
      play_live(load(cases[k].model), &off, 64, 48000, BARS, ROUTE_CHORD_IN, true, plain, CAP);
    CHECK_MSG(
      same_prefix(ref, n_ref, plain, n_plain) < n_ref, "case %zu: chords changed nothing", k);
    for (size_t r = 0; r < 2; r++) {
      for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        if (cases[k].listen && blocks[b] > 1000) {
          continue;
        }
        const size_t n = play_live(
          load(cases[k].model), &c, blocks[b], rates[r], BARS, cases[k].route, true, got, CAP);
        const size_t same = same_prefix(ref, n_ref, got, n);
        CHECK_MSG(same == n_ref && n == n_ref,
                  "case %zu block %u rate %g: first difference at %zu of %zu/%zu",
                  k,
                  blocks[b],
                  rates[r],
                  same,
                  n,
                  n_ref);
      }
    }
  }
}

// Split: the notes below chord_split are chords, not heard by Listen; the
// notes at or above it are.  The same input with the chords on the Chords
// input gives the same notes.
TEST(chord_split_notes_are_chords_not_melody)
{
  enum { CAP = 2048, BARS = 6 };
  static HNote a[CAP], b[CAP];
  CantusControls c = ctl(5);
  c.listen = true;
  c.chord_source = 2;
  const size_t na =
    play_live(load("tests/data/tinyc.cantus"), &c, 256, 48000, BARS, ROUTE_SPLIT, true, a, CAP);
  c.chord_source = 1;
  const size_t nb =
    play_live(load("tests/data/tinyc.cantus"), &c, 256, 48000, BARS, ROUTE_CHORD_IN, true, b, CAP);
  CHECK(na > 5);
  CHECK_MSG(na == nb && same_prefix(a, na, b, nb) == na,
            "split vs chord input: %zu/%zu notes, same for %zu",
            na,
            nb,
            same_prefix(a, na, b, nb));
}

// ---- known chords: progression ------------------------------------------

enum { TAP_CAP = 8192 };
static uint16_t tap_tok[TAP_CAP];
static CantusLookbackFeatures tap_form[TAP_CAP];

// The chord in force reaches the step of a chord network, rotated into
// model pitch space (-transpose); the tick of step i is where its token
// goes (the cursor after token i).
TEST(chord_progression_reaches_the_step_transposed)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, load("tests/data/tinyc.cantus"));
  CantusControls c = ctl(7);
  c.transpose = 2;
  const CantusProgression p = prog("D G:2 A:2 D"); // output pitches
  cantus_engine_set_progression(h.e, &p);
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  h_run_free(&h, &c, 256, (int64_t)(8 * 48 / h_tpf(120, 12, 4, 48000)));
  const size_t n = cantus_engine_tapped(h.e);
  CHECK(n > 100);
  const CantusVocab *v = &cantus_engine_model(h.e)->net.dims.vocab;
  // Model space: C, F (2 beats), G (2 beats), C; a cycle of 3 bars.
  const uint16_t want[4] = { PCS3(0, 4, 7), PCS3(5, 9, 0), PCS3(7, 11, 2), PCS3(0, 4, 7) };
  int64_t tick = 0;
  size_t checked = 0, bad = 0;
  for (size_t i = 0; i < n; i++) {
    int val = 0;
    if (cantus_vocab_decode(v, tap_tok[i], &val) == CANTUS_EV_SHIFT) {
      tick += val;
    }
    const int64_t t = tick % 144;
    const int k = t < 48 ? 0 : t < 72 ? 1 : t < 96 ? 2 : 3;
    bad += tap_form[i].chord != want[k];
    checked++;
  }
  CHECK_MSG(bad == 0, "%zu of %zu steps with the wrong chord", bad, checked);
  CHECK(tick > 4 * 48);
  cantus_engine_tap_steps(h.e, NULL, NULL, 0);
  h_free(&h);
}

// Share of note-ons (output pitches) that are tones of their bar's chord
// for the progression "C F G C" at chord_strength s on the format 1 model.
static double chord_share(float s, uint32_t seed, size_t *n_out, HNote *notes, size_t cap)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl(seed);
  c.chord_strength = s;
  const CantusProgression p = prog("C F G C");
  if (s >= 0.0f) {
    cantus_engine_set_progression(h.e, &p);
  } else {
    c.chord_strength = 0.0f; // no progression at all
  }
  h_run_free(&h, &c, 256, (int64_t)(16 * 48 / h_tpf(120, 12, 4, 48000)));
  const size_t n = h_notes(&h, notes, cap, 0, 16 * 48);
  const uint16_t ch[4] = { PCS3(0, 4, 7), PCS3(5, 9, 0), PCS3(7, 11, 2), PCS3(0, 4, 7) };
  size_t in = 0;
  for (size_t i = 0; i < n; i++) {
    const int bar = (int)(notes[i].tick_milli / 1000 / 48);
    in += (ch[bar % 4] >> (notes[i].pitch % 12)) & 1u;
  }
  CHECK_EQ(h.violations, 0);
  h_free(&h);
  *n_out = n;
  return n ? (double)in / (double)n : 0.0;
}

// chord_strength pulls toward chord tones; 0 changes nothing for a model
// without chord input (the same notes as without a progression).
TEST(chord_strength_pulls_toward_chord_tones)
{
  enum { CAP = 4096 };
  static HNote a[CAP], b[CAP];
  double s0 = 0, s1 = 0;
  size_t n0 = 0, n1 = 0;
  for (uint32_t seed = 1; seed <= 3; seed++) {
    size_t na = 0, nb = 0;
    s0 += chord_share(0.0f, seed, &na, a, CAP);
    chord_share(-1.0f, seed, &nb, b, CAP);
    CHECK_MSG(
      na == nb && same_prefix(a, na, b, nb) == na, "seed %u: strength 0 changed notes", seed);
    n0 += na;
    s1 += chord_share(1.0f, seed, &nb, b, CAP);
    n1 += nb;
  }
  s0 /= 3;
  s1 /= 3;
  if (cantus_test_verbose) {
    printf("  chord tones: strength 0 %.3f (%zu notes), 1 %.3f (%zu notes)\n", s0, n0, s1, n1);
  }
  CHECK(n0 > 30 && n1 > 30);
  CHECK_MSG(s1 > s0 + 0.2, "strength 1: %.3f vs %.3f", s1, s0);
  CHECK_MSG(s1 < 0.97, "passing notes survive: %.3f", s1);
}

// A progression gives the same notes at any block size and sample rate,
// and a relocation back replays them.
TEST(chord_progression_same_notes_and_replay)
{
  enum { CAP = 2048 };
  static HNote ref[CAP], got[CAP];
  const uint32_t blocks[] = { 64, 1000, 8192 };
  const double rates[] = { 48000, 44100, 96000 };
  size_t n_ref = 0;
  for (size_t k = 0; k < 3; k++) {
    Harness h;
    h_init_with(&h, 1.0, rates[k], load("tests/data/tinyc.cantus"));
    CantusControls c = ctl(9);
    c.chord_strength = 0.3f;
    const CantusProgression p = prog("Am Dm G E");
    cantus_engine_set_progression(h.e, &p);
    const double tpf = h_tpf(120, 12, 4, rates[k]);
    double tick = 0;
    for (int64_t f = 0; f < (int64_t)(6 * 48 / tpf); f += blocks[k]) {
      block(&h, &c, blocks[k], tick, NULL, 0, NULL, 0);
      tick += blocks[k] * tpf;
    }
    size_t n = h_notes(&h, k ? got : ref, CAP, 0, 4 * 48 - 0.5);
    if (k == 0) {
      n_ref = n;
      // Back to bar 2: the same notes again.
      const size_t mark = h.n_rec;
      tick = 96;
      for (int64_t f = 0; f < (int64_t)(2 * 48 / tpf); f += blocks[k]) {
        block(&h, &c, blocks[k], tick, NULL, 0, NULL, 0);
        tick += blocks[k] * tpf;
      }
      Harness view = h, first = h;
      view.rec = h.rec + mark;
      view.n_rec = h.n_rec - mark;
      first.n_rec = mark;
      const size_t a = h_notes(&first, got, CAP, 96, 4 * 48 - 0.5);
      static HNote again[CAP];
      const size_t b = h_notes(&view, again, CAP, 96, 4 * 48 - 0.5);
      CHECK(a > 2);
      CHECK_MSG(a == b && same_prefix(got, a, again, b) == a, "replay: %zu vs %zu", a, b);
    } else {
      for (size_t i = 0; i < n; i++) {
        got[i].tick_milli = lround(got[i].tick_milli / 1000.0) * 1000;
      }
      for (size_t i = 0; i < n_ref; i++) {
        ref[i].tick_milli = lround(ref[i].tick_milli / 1000.0) * 1000;
      }
      CHECK_MSG(n == n_ref && same_prefix(ref, n_ref, got, n) == n_ref,
                "block %u rate %g: %zu/%zu, same %zu",
                blocks[k],
                rates[k],
                n,
                n_ref,
                same_prefix(ref, n_ref, got, n));
    }
    CHECK_EQ(h.violations, 0);
    h_free(&h);
  }
}

// Chords on every block (both sources, switching, a progression, hold,
// listen, relocations, transpose): no allocation, no lock, no stuck note.
TEST(chord_rt_no_alloc_no_lock_no_stuck_notes)
{
  const char *models[] = { "tests/data/tinyc.cantus", "tests/data/tiny.cantus" };
  for (int mi = 0; mi < 2; mi++) {
    Harness h;
    h_init_with(&h, 1.0, 48000, load(models[mi]));
    CantusControls c = ctl(4);
    c.max_voices = 16;
    const CantusProgression p = prog("D G D A");
    cantus_engine_set_progression(h.e, &p);
    const uint32_t n = 2048;
    double tick = 0;
    long allocs = 0, frees = 0, locks = 0;
    uint64_t x = 99;
    for (int b = 0; b < 3000; b++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c.chord_source = (b / 150) % 3;
      c.chord_strength = (float)((x >> 8) % 3) / 2.0f;
      c.hold = (b / 230) % 4 == 3;
      c.listen = (b / 310) % 3 == 1;
      c.call_response = (b / 410) % 3 == 2;
      c.transpose = (int)(x % 5) - 2;
      if (b % 97 == 0) {
        tick = (double)((x >> 24) % 1000);
      }
      // The player's notes every 4th block; chords every block.
      CantusMidiEvent in[8], ch[8];
      for (uint32_t k = 0; k < 8; k++) {
        const uint8_t st = (uint8_t)(k % 2 ? 0x80 : 0x90);
        const uint8_t p0 = (uint8_t)(40 + (x >> (k * 4)) % 40);
        in[k] = (CantusMidiEvent){ .frame = k * 250, .size = 3, .data = { st, p0, 100 } };
        ch[k] =
          (CantusMidiEvent){ .frame = k * 60, .size = 3, .data = { st, (uint8_t)(p0 - 10), 90 } };
      }
      cantus_guard_arm();
      block(&h, &c, n, tick, in, b % 4 ? 0 : 8, ch, 8);
      const CantusGuardCounts g = cantus_guard_disarm();
      allocs += g.allocs;
      frees += g.frees;
      locks += g.locks;
      tick += n * h_tpf(120, 12, 4, 48000);
    }
    CHECK_EQ(allocs, 0);
    CHECK_EQ(frees, 0);
    CHECK_EQ(locks, 0);
    CantusBlockOut out;
    cantus_engine_flush(h.e, &out);
    h_take(&h, &out, 1, 0, 0);
    CHECK_EQ(h.n_sounding, 0);
    CHECK_EQ(h.unmatched_off, 0);
    CHECK_EQ(h.violations, 0);
    CHECK_MSG(h_count_on(&h) > 50, "%d notes", h_count_on(&h));
    CantusStats st;
    cantus_engine_get_stats(h.e, &st);
    CHECK(st.max_block_steps <= CANTUS_MAX_STEPS_PER_RUN);
    h_free(&h);
  }
}

// ---- call and response in the player's key --------------------------------

// Plays a two-bar call in the major key of `tonic` (pitch class) on the
// shipped folk model (format 1, no chord input) and returns the share of
// the answer's notes in that key's scale (and their count in *n_out).
static double answer_in_key(int tonic, uint32_t seed, int *n_out)
{
  static const int deg[16] = { 12, 16, 19, 16, 12, 16, 19, 24, -1, -1, -1, -1, -1, -1, -1, -1 };
  static const int major[7] = { 0, 2, 4, 5, 7, 9, 11 };
  Harness h;
  h_init_with(&h, 1.0, 48000, load("models/folk.cantus"));
  CantusControls c = ctl(seed);
  c.style = 5; // reel, 4/4
  c.call_response = true;
  c.response_bars = 4;
  const uint32_t n = 256;
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  for (int64_t f = 0; f < (int64_t)(7 * 48 / tpf); f += n) {
    CantusMidiEvent in[8];
    uint32_t k = 0;
    for (int i = 0; i < 16 && deg[i] >= 0; i++) {
      const int pitch = 60 + tonic + deg[i] - 12;
      const int64_t on = (int64_t)llround(i * 6 / tpf), off = (int64_t)llround((i * 6 + 5) / tpf);
      if (on >= f && on < f + n && k < 8) {
        in[k++] = (CantusMidiEvent){ (uint32_t)(on - f), 3, { 0x90, (uint8_t)pitch, 90 } };
      }
      if (off >= f && off < f + n && k < 8) {
        in[k++] = (CantusMidiEvent){ (uint32_t)(off - f), 3, { 0x80, (uint8_t)pitch, 0 } };
      }
    }
    block(&h, &c, n, tick, in, k, NULL, 0);
    tick += n * tpf;
  }
  HNote notes[512];
  const size_t m = h_notes(&h, notes, 512, 48, 7 * 48);
  int in_key = 0;
  for (size_t i = 0; i < m; i++) {
    for (int d = 0; d < 7; d++) {
      in_key += (notes[i].pitch - tonic - major[d]) % 12 == 0;
    }
  }
  CHECK_EQ(h.violations, 0);
  h_free(&h);
  *n_out = (int)m;
  return m ? (double)in_key / (double)m : 0.0;
}

// Issue 11 item 5: a call (a one-bar arpeggio) in each major key is
// answered (4 bars) in that key.  Measured on this model: 0.969 of the
// answer notes in the key without the key pull, 0.999 with it.
TEST(chord_answer_in_the_callers_key)
{
  double share = 0, worst = 1;
  int notes = 0, worst_key = 0;
  for (int tonic = 0; tonic < 12; tonic++) {
    double key_share = 0;
    for (uint32_t seed = 1; seed <= 3; seed++) {
      int n = 0;
      key_share += answer_in_key(tonic, seed, &n) / 3;
      notes += n;
    }
    share += key_share / 12;
    if (key_share < worst) {
      worst = key_share;
      worst_key = tonic;
    }
  }
  if (cantus_test_verbose) {
    printf("  %.3f of %d answer notes in the caller's key (worst %s major %.3f)\n",
           share,
           notes,
           cantus_key_name(worst_key),
           worst);
  }
  CHECK_MSG(notes >= 12 * 3 * 8, "%d notes answered", notes);
  CHECK_MSG(share >= 0.985, "%.3f in the key", share);
}

// A chord network answering a call hears the call's chords: the chords of
// the call's half bars, cycled over the answer; no chord before it.
TEST(chord_answer_feeds_the_calls_chords)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, load("tests/data/tinyc.cantus"));
  CantusControls c = ctl(2);
  c.call_response = true;
  c.response_bars = 2;
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  // One bar of quarter notes C4 E4 | G4 B4, held 10 ticks each.
  static const uint8_t call[4] = { 60, 64, 67, 71 };
  const uint32_t n = 128;
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  for (int64_t f = 0; f < (int64_t)(5 * 48 / tpf); f += n) {
    CantusMidiEvent in[4];
    uint32_t k = 0;
    for (int i = 0; i < 4; i++) {
      const int64_t on = llround(i * 12 / tpf), off = llround((i * 12 + 10) / tpf);
      if (on >= f && on < f + n) {
        in[k++] = (CantusMidiEvent){ (uint32_t)(on - f), 3, { 0x90, call[i], 90 } };
      }
      if (off >= f && off < f + n) {
        in[k++] = (CantusMidiEvent){ (uint32_t)(off - f), 3, { 0x80, call[i], 0 } };
      }
    }
    block(&h, &c, n, tick, in, k, NULL, 0);
    tick += n * tpf;
  }
  const size_t steps = cantus_engine_tapped(h.e);
  const uint16_t ce = (uint16_t)(1u << 0 | 1u << 4), gb = (uint16_t)(1u << 7 | 1u << 11);
  size_t with = 0, first = 0, second = 0, other = 0;
  for (size_t i = 0; i < steps; i++) {
    const uint16_t ch = tap_form[i].chord;
    with += ch != 0;
    first += ch == ce;
    second += ch == gb;
    other += ch != 0 && ch != ce && ch != gb;
  }
  if (cantus_test_verbose) {
    printf("  %zu steps: %zu with chords (C-E %zu, G-B %zu, other %zu)\n",
           steps,
           with,
           first,
           second,
           other);
  }
  CHECK(steps > 20);
  CHECK(first > 0 && second > 0);
  CHECK_EQ(other, 0u);
  CHECK(with < steps); // the call itself is heard without chords
  cantus_engine_tap_steps(h.e, NULL, NULL, 0);
  h_free(&h);
}

// A loop (the host wraps to bar 0) with the same live chords on every pass
// plays the same notes on every pass: remembered bars are decided again
// under the chords as played, and the same chords give the same notes.
TEST(chord_live_loop_replays_the_same_notes)
{
  enum { CAP = 1024, BARS = 4, PASSES = 3 };
  static Ev ev[512];
  static HNote notes[PASSES][CAP];
  size_t n_notes[PASSES];
  const size_t n_ev = script(ev, 512, BARS, false);
  Harness h;
  h_init_with(&h, 1.0, 48000, load("tests/data/tinyc.cantus"));
  CantusControls c = ctl(8);
  c.chord_source = 2;
  const uint32_t bl = 256;
  const double tpf = h_tpf(120, 12, 4, 48000);
  const int64_t frames = (int64_t)(BARS * 48 / tpf);
  static CantusMidiEvent midi[CANTUS_MAX_EVENTS];
  for (int pass = 0; pass < PASSES; pass++) {
    const size_t mark = h.n_rec;
    size_t next = 0;
    for (int64_t f0 = 0; f0 < frames; f0 += bl) {
      const uint32_t n = f0 + bl <= frames ? bl : (uint32_t)(frames - f0);
      uint32_t n_midi = 0;
      while (next < n_ev && llround((double)ev[next].tick / tpf) < f0 + n) {
        const int64_t f = llround((double)ev[next].tick / tpf);
        midi[n_midi++] = (CantusMidiEvent){ .frame = (uint32_t)(f - f0),
                                            .size = 3,
                                            .data = { ev[next].status, ev[next].note, 90 } };
        next++;
      }
      block(&h, &c, n, (double)f0 * tpf, midi, n_midi, NULL, 0);
    }
    Harness view = h;
    view.rec = h.rec + mark;
    view.n_rec = h.n_rec - mark;
    n_notes[pass] = h_notes(&view, notes[pass], CAP, 0, BARS * 48 - 0.5);
  }
  CHECK(n_notes[0] > 5);
  for (int pass = 1; pass < PASSES; pass++) {
    const size_t same = same_prefix(notes[0], n_notes[0], notes[pass], n_notes[pass]);
    CHECK_MSG(same == n_notes[0] && n_notes[pass] == n_notes[0],
              "pass %d: %zu/%zu notes, the same for %zu",
              pass,
              n_notes[pass],
              n_notes[0],
              same);
  }
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK(st.relocations >= PASSES - 1);
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}
