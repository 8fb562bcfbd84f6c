// SPDX-License-Identifier: GPL-3.0-or-later
// The engine with a format 2 model (tests/data/tiny2.cantus: parts, DUR
// tokens, form inputs): the step inputs equal the trainer's, every note
// lasts its DUR, the same notes at any block size and rate, replays after
// a relocation, no stuck notes, no allocation or lock on the audio thread.
#include "alloc_guard.h"
#include "engine_harness.h"
#include "lookback.h"

#include <stdio.h>

enum { TAP_CAP = 8192 };
static uint16_t tap_tok[TAP_CAP];
static CantusLookbackFeatures tap_form[TAP_CAP];

static CantusControls ctl2(void)
{
  CantusControls c = cantus_controls_default();
  c.seed = 11;
  return c;
}

// Plays `bars` 4/4 bars from `from_tick` with the host's position every block.
static void play2(Harness *h, const CantusControls *c, uint32_t block, double from, double bars)
{
  const double tpf = h_tpf(120, 12, 4, h->rate);
  double tick = from;
  const int64_t frames = (int64_t)(bars * 48 / tpf);
  for (int64_t done = 0; done < frames; done += block) {
    h_block_at(h, c, block, tick, 120, true, NULL, 0);
    tick += block * tpf;
  }
}

TEST(engine2_step_inputs_equal_the_trainers)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  h_run_free(&h, &c, 256, 48000 * 16); // 8 bars
  const size_t n = cantus_engine_tapped(h.e);
  CHECK(n > 100);
  CHECK_EQ(tap_tok[0], CANTUS_TOK_START);
  const CantusVocab *v = &h.m->net.dims.vocab;
  CHECK(cantus_vocab_is_v2(v));
  // The trainer's features of the stream the engine played (4/4, phrase
  // origin bar 0, end unknown): cantus_lookback_batch, as models/train/corpus.c.
  static CantusLookbackFeatures fb[TAP_CAP];
  const uint32_t tick0 = 0, bar48 = 48;
  const CantusBarMap map = { .tick = &tick0, .bar_ticks = &bar48, .n = 1 };
  CantusError err;
  CHECK_EQ(cantus_lookback_batch(tap_tok, n, v, &map, 0, CANTUS_LOOKBACK_END_UNKNOWN, fb, &err),
           CANTUS_OK);
  size_t bad = 0, non_none = 0, n_note = 0, n_dur = 0;
  for (size_t i = 0; i < n; i++) {
    bad += memcmp(&fb[i], &tap_form[i], sizeof fb[i]) != 0;
    non_none += tap_form[i].look[0] != cantus_vocab_size(v);
    int val = 0;
    const CantusEventKind k = cantus_vocab_decode(v, tap_tok[i], &val);
    n_note += k == CANTUS_EV_NOTE;
    n_dur += k == CANTUS_EV_DUR;
    // a NOTE input is always followed by its DUR
    if (k == CANTUS_EV_NOTE && i + 1 < n) {
      CHECK(cantus_vocab_decode(v, tap_tok[i + 1], &val) == CANTUS_EV_DUR);
    }
  }
  CHECK_EQ(bad, 0);
  CHECK(non_none > n / 2); // the lag-1 lookback is really fed after the first bar
  CHECK(n_note >= 8);
  CHECK(n_dur == n_note || n_dur + 1 == n_note);
  h_free(&h);
}

TEST(engine2_every_note_lasts_its_dur)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  c.max_voices = 16;
  h_run_free(&h, &c, 128, 48000 * 16); // 8 bars
  CantusBlockOut out;
  cantus_engine_flush(h.e, &out);
  h_take(&h, &out, 1, 0, 0);
  CHECK_EQ(h.violations, 0);
  CHECK_EQ(h.unmatched_off, 0);
  CHECK_EQ(h.n_sounding, 0);
  // The notes of the token stream: (onset, pitch, length capped by the
  // longest note), onsets before bar 7 (the end depends on the lookahead).
  const CantusVocab *v = &h.m->net.dims.vocab;
  const size_t n = cantus_engine_tapped(h.e);
  int64_t tick = 0;
  int pend = -1;
  const int64_t cap = (int64_t)c.max_note_beats * 12;
  size_t n_checked = 0, n_missing = 0, n_long = 0;
  for (size_t i = 0; i < n; i++) {
    int val = 0;
    const CantusEventKind k = cantus_vocab_decode(v, tap_tok[i], &val);
    if (k == CANTUS_EV_SHIFT) {
      tick += val;
    } else if (k == CANTUS_EV_NOTE) {
      pend = val;
    } else if (k == CANTUS_EV_DUR && pend >= 0 && tick < 7 * 48) {
      const int64_t len = val < cap ? val : cap;
      n_long += val > cap;
      // find the note-on at that tick (a starved first block may play it a
      // frame late) and its off
      bool found = false;
      for (size_t r = 0; r < h.n_rec && !found; r++) {
        const HRec *a = &h.rec[r];
        if (a->status != 0x90 || a->vel == 0 || a->pitch != pend || fabs(a->tick - tick) > 0.5) {
          continue;
        }
        for (size_t s = r + 1; s < h.n_rec; s++) {
          const HRec *b = &h.rec[s];
          if (b->pitch == pend && (b->status == 0x80 || (b->status == 0x90 && b->vel == 0))) {
            // another part striking the same pitch ends it earlier
            const bool restruck = b->tick < tick + len - 0.01;
            CHECK_MSG(fabs(b->tick - (double)(tick + len)) < 0.01 || restruck,
                      "pitch %d at %lld: off after %g ticks, DUR %d",
                      pend,
                      (long long)tick,
                      b->tick - (double)tick,
                      val);
            found = true;
            break;
          }
        }
      }
      if (!found) {
        printf("  no note-on for pitch %d at tick %lld (DUR %d)\n", pend, (long long)tick, val);
      }
      n_missing += !found;
      n_checked++;
      pend = -1;
    } else {
      pend = -1;
    }
  }
  CHECK(n_checked >= 8);
  CHECK_EQ(n_missing, 0);
  if (cantus_test_verbose) {
    printf("  %zu notes checked, %zu capped by the longest note\n", n_checked, n_long);
  }
  h_free(&h);
}

static size_t notes2(uint32_t block, double rate, HNote *out, size_t cap)
{
  Harness h;
  h_init_with(&h, 1.0, rate, h_tiny2_model());
  CantusControls c = ctl2();
  const double tpf = h_tpf(120, 12, 4, rate);
  h_run_free(&h, &c, block, (int64_t)(6 * 48 / tpf));
  const size_t n = h_notes(&h, out, cap, 0, 6 * 48 - 12);
  for (size_t i = 0; i < n; i++) {
    out[i].tick_milli = lround(out[i].tick_milli / 1000.0) * 1000;
  }
  CHECK_EQ(h.violations, 0);
  h_free(&h);
  return n;
}

TEST(engine2_same_notes_at_every_block_size_and_rate)
{
  enum { CAP = 4096 };
  static HNote ref[CAP], got[CAP];
  const size_t n_ref = notes2(64, 48000, ref, CAP);
  CHECK(n_ref > 10);
  const uint32_t blocks[] = { 1, 7, 256, 1000, 8192 };
  const double rates[] = { 44100, 96000 };
  for (size_t r = 0; r < 2; r++) {
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
      const size_t n = notes2(blocks[b], rates[r], got, CAP);
      size_t same = 0;
      while (same < n && same < n_ref && got[same].pitch == ref[same].pitch &&
             got[same].tick_milli == ref[same].tick_milli) {
        same++;
      }
      CHECK_MSG(same == n_ref && n == n_ref,
                "block %u rate %g: first difference at %zu of %zu/%zu",
                blocks[b],
                rates[r],
                same,
                n,
                n_ref);
    }
  }
}

// A replayed bar replays the same inputs (the form tracker is in the
// checkpoints): jumping back gives the same notes, twice.
TEST(engine2_relocation_replays_the_bars)
{
  enum { CAP = 1024 };
  static HNote first[CAP], again[CAP];
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  CantusControls c = ctl2();
  play2(&h, &c, 256, 0, 12);
  const size_t n1 = h_notes(&h, first, CAP, 9 * 48, 9 * 48 + 2 * 48 - 0.5);
  CHECK(n1 >= 4);
  for (int pass = 0; pass < 2; pass++) {
    const size_t mark = h.n_rec;
    play2(&h, &c, 256, 9 * 48, 2);
    Harness view = h;
    view.rec = h.rec + mark;
    view.n_rec = h.n_rec - mark;
    const size_t n2 = h_notes(&view, again, CAP, 9 * 48, 9 * 48 + 2 * 48 - 0.5);
    CHECK_EQ(n2, n1);
    for (size_t i = 0; i < n1 && i < n2; i++) {
      CHECK(first[i].pitch == again[i].pitch && first[i].tick_milli == again[i].tick_milli);
    }
  }
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}

// Stop, relocation, loop wraps, panic, a model swap (v2 -> v1 -> v2), hold,
// regenerate: nothing is left sounding, no off without its on, and the
// audio thread neither allocates nor locks.
TEST(engine2_no_stuck_notes_and_no_alloc)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  CantusModel *spare = h_tiny_model();
  CantusControls c = ctl2();
  c.max_voices = 16;
  const uint32_t n = 1024;
  double tick = 0;
  long allocs = 0, frees = 0, locks = 0;
  int checked_stops = 0;
  uint64_t x = 7;
  for (int b = 0; b < 3000; b++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c.gate = 0.5f + (float)((x >> 16) % 3) / 2.0f;
    c.temperature = 0.5f + (float)(x % 10) / 10.0f;
    c.regenerate = b % 50 == 0;
    c.hold = (b / 200) % 3 == 1;
    c.call_response = (b / 500) % 4 == 2;
    c.transpose = (int)(x % 5) - 2;
    if (b % 37 == 0) {
      tick = (double)((x >> 24) % 2000);
    } else if (b % 41 == 0 && tick > 200) {
      tick -= 192;
    }
    const bool rolling = b % 150 < 140;
    CantusMidiEvent in[8];
    uint32_t n_in = 0;
    if (b % 4 == 0) {
      for (uint32_t k = 0; k < 8; k++) {
        in[n_in++] = (CantusMidiEvent){
          .frame = k * 100,
          .size = 3,
          .data = { (uint8_t)(k % 2 ? 0x80 : 0x90), (uint8_t)(60 + (k / 2) * 2), 100 }
        };
      }
    }
    cantus_guard_arm();
    if (b == 1000 || b == 2000) {
      spare = cantus_engine_install_model(h.e, spare);
    }
    if (b % 333 == 0) {
      cantus_engine_panic(h.e);
    }
    h_block_at(&h, &c, n, tick, 120, rolling, in, n_in);
    const CantusGuardCounts g = cantus_guard_disarm();
    allocs += g.allocs;
    frees += g.frees;
    locks += g.locks;
    if (!rolling) {
      CHECK_EQ(h.n_sounding, 0);
      checked_stops++;
    } else {
      tick += n * h_tpf(120, 12, 4, 48000);
    }
  }
  CHECK_EQ(allocs, 0);
  CHECK_EQ(frees, 0);
  CHECK_EQ(locks, 0);
  CHECK(checked_stops > 100);
  CantusBlockOut out;
  cantus_engine_flush(h.e, &out);
  h_take(&h, &out, 1, 0, 0);
  CHECK_EQ(h.n_sounding, 0);
  CHECK_EQ(h.unmatched_off, 0);
  CHECK_EQ(h.violations, 0);
  CHECK_MSG(h_count_on(&h) > 50, "%d notes", h_count_on(&h));
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK(st.relocations > 50);
  cantus_model_free(spare);
  h_free(&h);
}

// The timeline memory of a format 2 model holds the form tracker in every
// snapshot; a format 1 model's is unchanged.
TEST(engine2_snapshot_memory)
{
  CantusModel *m2 = h_tiny2_model(), *m1 = h_tiny_model();
  CHECK(m2->extra_size > m1->extra_size);
  CHECK(sizeof(CantusLookback) < 4096);
  if (cantus_test_verbose) {
    printf("  timeline: v1 fixture %zu bytes, v2 fixture %zu bytes, tracker %zu bytes\n",
           m1->extra_size,
           m2->extra_size,
           sizeof(CantusLookback));
  }
  cantus_model_free(m1);
  cantus_model_free(m2);
}

// A theme in the format 2 vocabulary plays first (its NOTE and DUR tokens
// are the steps' inputs), then the network continues.
TEST(engine2_theme_plays_first_then_continues)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  static CantusTheme theme;
  memset(&theme, 0, sizeof theme);
  theme.vocab = h.m->net.dims.vocab;
  const CantusVocab *v = &theme.vocab;
  const int pitches[8] = { 60, 62, 64, 65, 67, 69, 71, 72 };
  for (int i = 0; i < 8; i++) { // eighth notes over two beats... a bar of 8ths
    theme.tokens[theme.n_tokens++] = (uint16_t)cantus_vocab_note(v, i % 2, pitches[i]);
    theme.tokens[theme.n_tokens++] = (uint16_t)cantus_vocab_dur(v, cantus_vocab_dur_bin(v, 5));
    theme.tokens[theme.n_tokens++] = (uint16_t)cantus_vocab_shift(v, 6);
  }
  cantus_engine_set_theme(h.e, &theme);
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  h_run_free(&h, &c, 256, 48000 * 8); // 4 bars
  HNote got[256];
  const size_t n = h_notes(&h, got, 256, 0, 48 - 0.5);
  CHECK_EQ(n, 8);
  for (size_t i = 0; i < n && i < 8; i++) {
    CHECK_EQ(got[i].pitch, pitches[i]);
    CHECK(labs(got[i].tick_milli - (long)i * 6000) <= 500);
  }
  // every note of the theme lasts 5 ticks
  for (size_t r = 0; r < h.n_rec; r++) {
    if (h.rec[r].status == 0x90 && h.rec[r].tick < 47.5) {
      for (size_t s = r + 1; s < h.n_rec; s++) {
        if (h.rec[s].status == 0x80 && h.rec[s].pitch == h.rec[r].pitch) {
          CHECK(fabs(h.rec[s].tick - (floor(h.rec[r].tick + 0.5) + 5)) < 0.01);
          break;
        }
      }
    }
  }
  CHECK(h_notes(&h, got, 256, 48, 4 * 48) >= 3); // the network goes on
  const size_t nt = cantus_engine_tapped(h.e);
  CHECK(nt > 24);
  for (uint32_t i = 0; i < 24 && i + 1 < nt; i++) {
    CHECK_EQ(tap_tok[i + 1], theme.tokens[i]);
  }
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}

// Listen with a format 2 model: the player's quarter notes reach the
// network as NOTE(part 1) and a DUR of their length; the model is silent
// while the player plays and resumes after; nothing hangs.
TEST(engine2_listen_feeds_the_players_notes)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  c.listen = true;
  c.wait_beats = 2;
  const double tpf = h_tpf(120, 12, 4, h.rate);
  const uint32_t block = 256;
  double tick = 0;
  const int64_t frames = (int64_t)(10 * 48 / tpf);
  // The player: 8-tick notes on each quarter in bars 2 and 3.
  for (int64_t done = 0; done < frames; done += block) {
    CantusMidiEvent in[8];
    uint32_t n_in = 0;
    for (double q = ceil(tick / 12.0) * 12.0; q < tick + block * tpf; q += 12.0) {
      if (q >= 96 && q < 192) {
        const uint32_t fr = (uint32_t)((q - tick) / tpf);
        in[n_in++] = (CantusMidiEvent){ .frame = fr, .size = 3, .data = { 0x90, 64, 100 } };
      }
    }
    for (double q = ceil((tick - 8) / 12.0) * 12.0 + 8; q < tick + block * tpf; q += 12.0) {
      if (q >= 104 && q < 200 && q >= tick) {
        const uint32_t fr = (uint32_t)((q - tick) / tpf);
        in[n_in++] = (CantusMidiEvent){ .frame = fr, .size = 3, .data = { 0x80, 64, 0 } };
      }
    }
    // (events in frame order: at most one on and one off per block here)
    if (n_in == 2 && in[1].frame < in[0].frame) {
      const CantusMidiEvent t = in[0];
      in[0] = in[1];
      in[1] = t;
    }
    h_block_at(&h, &c, block, tick, 120, true, in, n_in);
    tick += block * tpf;
  }
  const CantusVocab *v = &h.m->net.dims.vocab;
  const size_t nt = cantus_engine_tapped(h.e);
  int n_player = 0;
  for (size_t i = 0; i + 1 < nt; i++) {
    if (tap_tok[i] == cantus_vocab_note(v, 0, 64)) {
      int len = 0;
      CHECK(cantus_vocab_decode(v, tap_tok[i + 1], &len) == CANTUS_EV_DUR);
      n_player += len == 8;
    }
  }
  CHECK_MSG(n_player >= 6, "%d player notes fed with their length", n_player);
  int during = 0, after = 0;
  for (size_t i = 0; i < h.n_rec; i++) {
    during += h.rec[i].status == 0x90 && h.rec[i].tick > 96.5 && h.rec[i].tick < 4 * 48 + 24 - 0.5;
    after += h.rec[i].status == 0x90 && h.rec[i].tick >= 4 * 48 + 24;
  }
  CHECK_EQ(during, 0);
  CHECK(after >= 3);
  CantusBlockOut out;
  cantus_engine_flush(h.e, &out);
  h_take(&h, &out, 1, 0, 0);
  CHECK_EQ(h.n_sounding, 0);
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}

// Runs 8 bars free with the part channels given; returns the tapped steps.
static size_t run_parts(Harness *h, int part2_channel)
{
  h_init_with(h, 1.0, 48000, h_tiny2_model());
  cantus_engine_tap_steps(h->e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  c.max_voices = 16;
  c.channel = 2; // MIDI channel 3 for part 1
  c.part2_channel = part2_channel;
  h_run_free(h, &c, 256, 48000 * 16);
  CantusBlockOut out;
  cantus_engine_flush(h->e, &out);
  h_take(h, &out, 1, 0, 0);
  return cantus_engine_tapped(h->e);
}

// Part 1 plays on `channel`, part 2 on part2_channel; 0 mutes part 2
// entirely (no note-on, no stray note-off) and leaves part 1 unchanged.
TEST(engine2_parts_go_to_their_channels)
{
  Harness h;
  const size_t n = run_parts(&h, 5); // MIDI channel 5 = index 4
  const CantusVocab *v = &h.m->net.dims.vocab;
  CHECK_EQ(v->n_parts, 2);
  int64_t tick = 0;
  int expect[2] = { 0, 0 }, found[2] = { 0, 0 };
  for (size_t i = 0; i + 1 < n; i++) {
    int val = 0, part = -1;
    const CantusEventKind k = cantus_vocab_decode_part(v, tap_tok[i], &val, &part);
    if (k == CANTUS_EV_SHIFT) {
      tick += val;
    } else if (k == CANTUS_EV_NOTE && tick < 6 * 48) {
      expect[part]++;
      for (size_t r = 0; r < h.n_rec; r++) {
        const HRec *a = &h.rec[r];
        if (a->status == 0x90 && a->vel > 0 && a->pitch == val && fabs(a->tick - tick) < 0.5) {
          found[part] += a->ch == (part == 0 ? 2 : 4);
        }
      }
    }
  }
  CHECK(expect[0] >= 3 && expect[1] >= 3);
  CHECK_MSG(found[0] >= expect[0] && found[1] >= expect[1],
            "part 1: %d of %d on channel 3, part 2: %d of %d on channel 5",
            found[0],
            expect[0],
            found[1],
            expect[1]);
  int other = 0;
  for (size_t r = 0; r < h.n_rec; r++) {
    other += h.rec[r].ch != 2 && h.rec[r].ch != 4;
  }
  CHECK_EQ(other, 0);
  CHECK_EQ(h.unmatched_off, 0);
  CHECK_EQ(h.violations, 0);
  CHECK_EQ(h.n_sounding, 0);
  static HNote p1[1024], p1m[1024];
  size_t n1 = 0;
  for (size_t r = 0; r < h.n_rec && n1 < 1024; r++) {
    if (h.rec[r].status == 0x90 && h.rec[r].ch == 2) {
      p1[n1++] = (HNote){ h.rec[r].pitch, lround(h.rec[r].tick * 1000.0) };
    }
  }
  h_free(&h);

  Harness m;
  run_parts(&m, 0);
  size_t n1m = 0;
  for (size_t r = 0; r < m.n_rec; r++) {
    CHECK_EQ(m.rec[r].ch, 2); // nothing at all from the muted part
    if (m.rec[r].status == 0x90 && m.rec[r].ch == 2 && n1m < 1024) {
      p1m[n1m++] = (HNote){ m.rec[r].pitch, lround(m.rec[r].tick * 1000.0) };
    }
  }
  CHECK_EQ(n1m, n1);
  for (size_t i = 0; i < n1 && i < n1m; i++) {
    CHECK(p1[i].pitch == p1m[i].pitch && p1[i].tick_milli == p1m[i].tick_milli);
  }
  CHECK_EQ(m.unmatched_off, 0);
  CHECK_EQ(m.violations, 0);
  CHECK_EQ(m.n_sounding, 0);
  h_free(&m);
}

// An offline piece with an end (cantus-gen --bars 6): the network's
// bars-left input counts down to the last bar, as the trainer's does.
TEST(engine2_piece_end_gives_bars_left)
{
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  cantus_engine_set_end(h.e, 5);
  cantus_engine_tap_steps(h.e, tap_tok, tap_form, TAP_CAP);
  CantusControls c = ctl2();
  h_run_free(&h, &c, 512, 48000 * 12); // 6 bars
  const size_t n = cantus_engine_tapped(h.e);
  CHECK(n > 50);
  const CantusVocab *v = &h.m->net.dims.vocab;
  static CantusLookbackFeatures fb[TAP_CAP];
  const uint32_t tick0 = 0, bar48 = 48;
  const CantusBarMap map = { .tick = &tick0, .bar_ticks = &bar48, .n = 1 };
  CantusError err;
  CHECK_EQ(cantus_lookback_batch(tap_tok, n, v, &map, 0, 5, fb, &err), CANTUS_OK);
  size_t bad = 0;
  int seen[CANTUS_BARS_LEFT_CLASSES] = { 0 };
  for (size_t i = 0; i < n; i++) {
    bad += memcmp(&fb[i], &tap_form[i], sizeof fb[i]) != 0;
    seen[tap_form[i].bars_left]++;
  }
  CHECK_EQ(bad, 0);
  for (int b = 0; b <= 5; b++) {
    CHECK_MSG(seen[b] > 0, "bars left %d never seen", b);
  }
  CHECK_EQ(seen[CANTUS_BARS_LEFT_UNKNOWN], 0);
  h_free(&h);
}

// Hold with a format 2 model, pressed at bar 4's line: bars 4-5 (a 2-bar
// phrase from the stream's first full bar, 0) play out and repeat exactly
// from bar 6 on, with their durations; nothing hangs.
TEST(engine2_hold_repeats_the_last_bars_exactly)
{
  enum { CAP = 2048 };
  static HNote got[CAP], orig[CAP], rep1[CAP], rep2[CAP];
  Harness h;
  h_init_with(&h, 1.0, 48000, h_tiny2_model());
  CantusControls c = ctl2();
  c.hold_bars = 2;
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  while (tick < 11 * 48) {
    c.hold = tick >= 4 * 48;
    h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
    tick += 256 * tpf;
  }
  const size_t n = h_notes(&h, got, CAP, 0, 11 * 48);
  size_t no = 0, n1 = 0, n2 = 0;
  for (size_t i = 0; i < n; i++) {
    const double t = got[i].tick_milli / 1000.0;
    if (t >= 192 && t < 288) {
      orig[no++] = got[i];
    } else if (t >= 288 && t < 384) {
      rep1[n1++] = got[i];
    } else if (t >= 384 && t < 480) {
      rep2[n2++] = got[i];
    }
  }
  CHECK(no >= 3);
  CHECK_EQ(n1, no);
  CHECK_EQ(n2, no);
  for (size_t i = 0; i < no && i < n1 && i < n2; i++) {
    CHECK_EQ(rep1[i].pitch, orig[i].pitch);
    CHECK_EQ(rep2[i].pitch, orig[i].pitch);
    CHECK_EQ(rep1[i].tick_milli, orig[i].tick_milli + 96000);
    CHECK_EQ(rep2[i].tick_milli, orig[i].tick_milli + 192000);
  }
  CHECK_EQ(h.violations, 0);
  CHECK_EQ(h.unmatched_off, 0);
  h_free(&h);
}

// A piece with an end ends: the model's END (here made the likeliest token)
// is allowed from the last bar on, and after it nothing more is generated;
// the notes sounding end.  Live (no end set) END is never played.
static size_t run_with_end(int64_t last_bar, HNote *got, size_t cap, uint64_t *steps)
{
  const CantusDims d = cantus_fixture_dims_tiny2();
  CantusModel *src = cantus_fixture_model(&d, 3, CANTUS_WEIGHTS_F32);
  src->p.b_out[CANTUS_TOK_END] = 30.0f;
  cantus_model_finish(src);
  CantusModel *m = NULL;
  CantusError err;
  CHECK_EQ(cantus_engine_adopt_model(src, &m, &err), CANTUS_OK);
  cantus_model_free(src);
  Harness h;
  h_init_with(&h, 1.0, 48000, m);
  cantus_engine_set_end(h.e, last_bar);
  CantusControls c = ctl2();
  const double tpf = h_tpf(120, 12, 4, 48000);
  for (double tick = 0; tick < 8 * 48; tick += 256 * tpf) {
    h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
  }
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  *steps = st.steps;
  const size_t n = h_notes(&h, got, cap, 0, 8 * 48);
  CHECK_EQ(h.violations, 0);
  CHECK_EQ(h.unmatched_off, 0);
  if (last_bar >= 0) {
    CHECK_EQ(h.n_sounding, 0); // ended: every note has ended
  }
  h_free(&h);
  return n;
}

TEST(engine2_a_piece_with_an_end_ends_in_its_last_bar)
{
  enum { CAP = 2048 };
  static HNote got[CAP];
  uint64_t steps_end = 0, steps_live = 0;
  const size_t n = run_with_end(3, got, CAP, &steps_end);
  CHECK(n > 0);
  for (size_t i = 0; i < n; i++) {
    CHECK_MSG(got[i].tick_milli < 4 * 48 * 1000,
              "a note at tick %.3f after the last bar (3)",
              got[i].tick_milli / 1000.0);
  }
  const size_t n_live = run_with_end(-1, got, CAP, &steps_live);
  CHECK(n_live > n);
  CHECK(got[n_live - 1].tick_milli >= 7 * 48 * 1000); // live: playing to the end
  CHECK(steps_end < steps_live / 2);
}
