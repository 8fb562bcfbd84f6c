// SPDX-License-Identifier: GPL-3.0-or-later
// Engine behaviour: notes come out on the host's grid, at any block size
// and sample rate the same notes; transport handling (stop, relocation, loop
// wrap, per-cycle rounded positions); timeline memory (replays, seed,
// regenerate, hold); theme; listen and call-and-response; invariants under
// randomised hosts.
#include "engine_harness.h"
#include "midifile.h"

#include <stdio.h>

static CantusControls ctl_default(void)
{
  CantusControls c = cantus_controls_default();
  c.seed = 7;
  return c;
}

// Note-ons in the first `bars` 4/4 bars at 120 bpm, as (pitch, tick) with
// tick = frame converted back; also checks that every note sits on the grid
// within one frame.
static size_t notes_at(uint32_t block, double rate, int bars, HNote *out, size_t cap, bool *grid_ok)
{
  Harness h;
  h_init(&h, 1.0, rate);
  CantusControls c = ctl_default();
  const double tpf = h_tpf(120, 12, 4, rate);
  h_run_free(&h, &c, block, (int64_t)(bars * 48 / tpf));
  *grid_ok = h.violations == 0;
  for (size_t i = 0; i < h.n_rec; i++) {
    const double t = h.rec[i].tick;
    if (fabs(t - floor(t + 0.5)) > tpf * 1.0001) {
      *grid_ok = false;
    }
  }
  const size_t n = h_notes(&h, out, cap, 0, bars * 48 - 12);  // the end depends on the block
  for (size_t i = 0; i < n; i++) {
    out[i].tick_milli = lround(out[i].tick_milli / 1000.0) * 1000;  // on the grid
  }
  h_free(&h);
  return n;
}

TEST(engine_free_run_makes_notes_on_the_grid)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  h_run_free(&h, &c, 256, 48000 * 8);  // 16 beats
  const int n_on = h_count_on(&h);
  CHECK_MSG(n_on >= 8, "only %d notes in 4 bars", n_on);
  CHECK_EQ(h.violations, 0);
  CHECK_EQ(h.unmatched_off, 0);
  // every event on the 12-per-quarter grid within one frame
  const double tpf = h_tpf(120, 12, 4, 48000);
  int off_grid = 0;
  for (size_t i = 0; i < h.n_rec; i++) {
    const double t = h.rec[i].tick;
    off_grid += fabs(t - floor(t + 0.5)) > tpf * 1.0001;
  }
  CHECK_EQ(off_grid, 0);
  CantusBlockOut out;
  cantus_engine_flush(h.e, &out);
  h_take(&h, &out, 1, 0, 0);
  CHECK_EQ(h.n_sounding, 0);
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK(st.max_block_steps <= cantus_engine_step_budget(256));
  CHECK(st.steps > 0);
  h_free(&h);
}

TEST(engine_same_notes_at_every_block_size_and_rate)
{
  enum { CAP = 4096 };
  static HNote ref[CAP], got[CAP];
  bool ok = false;
  const size_t n_ref = notes_at(64, 48000, 6, ref, CAP, &ok);
  CHECK(ok);
  CHECK(n_ref > 10);
  const uint32_t blocks[] = {1, 7, 64, 256, 1000, 4096, 8192};
  const double rates[] = {44100, 48000, 96000};
  for (size_t r = 0; r < 3; r++) {
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
      if (blocks[b] == 1 && rates[r] == 96000) {
        continue;  // the slowest combination adds nothing over 44.1 kHz
      }
      const size_t n = notes_at(blocks[b], rates[r], 6, got, CAP, &ok);
      CHECK_MSG(ok, "block %u rate %g: off grid or invalid", blocks[b], rates[r]);
      size_t same = 0;
      while (same < n && same < n_ref && got[same].pitch == ref[same].pitch &&
             got[same].tick_milli == ref[same].tick_milli) {
        same++;
      }
      CHECK_MSG(same == n_ref && n == n_ref, "block %u rate %g: first difference at %zu of %zu/%zu",
                blocks[b], rates[r], same, n, n_ref);
    }
  }
}

// ---- transport ------------------------------------------------------------------

// Plays `bars` 4/4 bars from `from_tick` with the host sending its position
// every block; round_pos: rounded to 1/1920 beat like Ardour.
static void play_host(Harness *h, const CantusControls *c, uint32_t block, double from_tick,
                      double bars, bool round_pos)
{
  const double tpf = h_tpf(120, 12, 4, h->rate);
  double tick = from_tick;
  const int64_t frames = (int64_t)(bars * 48 / tpf);
  for (int64_t done = 0; done < frames; done += block) {
    double sent = tick;
    if (round_pos) {
      sent = floor(tick / 12.0 * 1920.0 + 0.5) / 1920.0 * 12.0;
    }
    h_block_at(h, c, block, sent, 120, true, NULL, 0);
    tick += block * tpf;
  }
}

static bool same_events(const Harness *a, const Harness *b)
{
  if (a->n_rec != b->n_rec) {
    printf("    %zu vs %zu events\n", a->n_rec, b->n_rec);
    return false;
  }
  for (size_t i = 0; i < a->n_rec; i++) {
    if (a->rec[i].frame != b->rec[i].frame || a->rec[i].status != b->rec[i].status ||
        a->rec[i].pitch != b->rec[i].pitch || a->rec[i].vel != b->rec[i].vel) {
      printf("    event %zu differs: frame %lld/%lld\n", i, (long long)a->rec[i].frame,
             (long long)b->rec[i].frame);
      return false;
    }
  }
  return true;
}

TEST(engine_rounded_host_positions_change_nothing)
{
  Harness a, b, f;
  h_init(&a, 1.0, 48000);
  h_init(&b, 1.0, 48000);
  h_init(&f, 1.0, 48000);
  CantusControls c = ctl_default();
  play_host(&a, &c, 256, 0, 8, false);
  play_host(&b, &c, 256, 0, 8, true);
  h_run_free(&f, &c, 256, a.frame);
  CHECK(h_count_on(&a) > 10);
  CHECK(same_events(&a, &b));
  CHECK(same_events(&a, &f));
  CantusStats st;
  cantus_engine_get_stats(b.e, &st);
  CHECK_EQ(st.relocations, 0);
  h_free(&a);
  h_free(&b);
  h_free(&f);
}

TEST(engine_relocation_replays_the_bar)
{
  enum { CAP = 1024 };
  static HNote first[CAP], again[CAP];
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  play_host(&h, &c, 256, 0, 8, false);
  // (ranges end between grid ticks: the host's accumulated tick is inexact)
  const size_t n1 = h_notes(&h, first, CAP, 96, 96 + 3 * 48 - 0.5);
  CHECK(n1 >= 4);
  // jump back to bar 2 and play three bars again, twice (a loop)
  for (int pass = 0; pass < 2; pass++) {
    const size_t mark = h.n_rec;
    play_host(&h, &c, 256, 96, 3, false);
    Harness view = h;  // the records of this pass only
    view.rec = h.rec + mark;
    view.n_rec = h.n_rec - mark;
    const size_t n2 = h_notes(&view, again, CAP, 96, 96 + 3 * 48 - 0.5);
    CHECK_EQ(n2, n1);
    for (size_t i = 0; i < n1 && i < n2; i++) {
      CHECK(first[i].pitch == again[i].pitch && first[i].tick_milli == again[i].tick_milli);
    }
  }
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK_EQ(st.relocations, 2);
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}

TEST(engine_relocation_mid_bar_replays_from_there)
{
  enum { CAP = 1024 };
  static HNote first[CAP], again[CAP];
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  play_host(&h, &c, 1024, 0, 8, false);
  const double at = 3 * 48 + 24;  // bar 3, beat 3
  const size_t n1 = h_notes(&h, first, CAP, at, 7 * 48 - 0.5);
  const size_t mark = h.n_rec;
  play_host(&h, &c, 1024, at, 4, false);
  Harness view = h;
  view.rec = h.rec + mark;
  view.n_rec = h.n_rec - mark;
  const size_t n2 = h_notes(&view, again, CAP, at, 7 * 48 - 0.5);
  CHECK(n1 >= 3);
  CHECK_EQ(n2, n1);
  for (size_t i = 0; i < n1 && i < n2; i++) {
    CHECK(first[i].pitch == again[i].pitch && first[i].tick_milli == again[i].tick_milli);
  }
  // nothing from before the new position is played
  CHECK(n2 == 0 || again[0].tick_milli >= (long)(at * 1000));
  h_free(&h);
}

TEST(engine_relocation_onto_a_note_plays_it_at_frame_0)
{
  enum { CAP = 1024 };
  static HNote first[CAP];
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  play_host(&h, &c, 512, 0, 8, false);
  const size_t n1 = h_notes(&h, first, CAP, 2 * 48, 7 * 48);
  CHECK(n1 >= 2);
  for (size_t k = 0; k < n1 && k < 4; k++) {
    const double at = floor(first[k].tick_milli / 1000.0 + 0.5);
    const size_t mark = h.n_rec;
    h_block_at(&h, &c, 512, at, 120, true, NULL, 0);
    bool found = false;
    for (size_t i = mark; i < h.n_rec; i++) {
      found |= h.rec[i].status == 0x90 && h.rec[i].pitch == first[k].pitch &&
               h.rec[i].frame == h.frame - 512;  // frame 0 of that block
    }
    CHECK_MSG(found, "note %d at tick %g not at frame 0 after relocating there", first[k].pitch, at);
  }
  h_free(&h);
}

TEST(engine_stop_ends_notes_and_silences)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  c.gate = 2.0f;  // long notes, so some are sounding at the stop
  const double tpf = h_tpf(120, 12, 4, 48000);
  int stops_with_notes = 0;
  double tick = 0;
  for (int round = 0; round < 6; round++) {
    for (int b = 0; b < 120; b++) {
      h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
      tick += 256 * tpf;
    }
    stops_with_notes += h.n_sounding > 0;
    const size_t mark = h.n_rec;
    for (int b = 0; b < 40; b++) {
      h_block_at(&h, &c, 256, tick, 120, false, NULL, 0);
    }
    // the first stopped block ends everything, nothing follows
    CHECK_EQ(h.n_sounding, 0);
    for (size_t i = mark; i < h.n_rec; i++) {
      CHECK(h.rec[i].status == 0x80);
      CHECK(h.rec[i].frame < h.rec[mark].frame + 256);
    }
  }
  CHECK(stops_with_notes >= 1);
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK_EQ(st.relocations, 0);  // stopping and going on at the same place is no seek
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}

TEST(engine_follows_host_tempo_changes_on_the_grid)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  double tick = 0;
  const double bpms[] = {120, 90, 200, 61.5};
  for (int k = 0; k < 4; k++) {
    const double tpf = h_tpf(bpms[k], 12, 4, 48000);
    const size_t mark = h.n_rec;
    for (int b = 0; b < 1500; b++) {
      h_block_at(&h, &c, 128, tick, bpms[k], true, NULL, 0);
      tick += 128 * tpf;
    }
    for (size_t i = mark; i < h.n_rec; i++) {
      const double t = h.rec[i].tick;
      CHECK_MSG(fabs(t - floor(t + 0.5)) <= tpf * 1.0001, "bpm %g tick %f", bpms[k], t);
    }
  }
  CantusStats st;
  cantus_engine_get_stats(h.e, &st);
  CHECK_EQ(st.relocations, 0);
  CHECK(h_count_on(&h) > 10);
  h_free(&h);
}

// ---- timeline --------------------------------------------------------------------

static size_t run_notes(CantusControls *c, int change_at_bar, void (*change)(CantusControls *),
                        HNote *out, size_t cap)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  for (int b = 0; tick < 12 * 48; b++) {
    if (change && tick >= change_at_bar * 48 && tick < change_at_bar * 48 + 256 * tpf) {
      change(c);
    }
    h_block_at(&h, c, 256, tick, 120, true, NULL, 0);
    tick += 256 * tpf;
  }
  const size_t n = h_notes(&h, out, cap, 0, 12 * 48 - 12);
  h_free(&h);
  return n;
}

static size_t common_prefix(const HNote *a, size_t na, const HNote *b, size_t nb)
{
  size_t i = 0;
  while (i < na && i < nb && a[i].pitch == b[i].pitch && a[i].tick_milli == b[i].tick_milli) {
    i++;
  }
  return i;
}

static size_t count_before(const HNote *a, size_t n, double tick)
{
  size_t k = 0;
  while (k < n && a[k].tick_milli < (long)(tick * 1000)) {
    k++;
  }
  return k;
}

static void seed_up(CantusControls *c) { c->seed++; }
static void regen_on(CantusControls *c) { c->regenerate = true; }
static void style_next(CantusControls *c) { c->style = 1; }

TEST(engine_seed_regenerate_and_style_change_the_music_ahead)
{
  enum { CAP = 2048 };
  static HNote ref[CAP], got[CAP];
  CantusControls c = ctl_default();
  const size_t n_ref = run_notes(&c, 0, NULL, ref, CAP);
  CHECK(n_ref > 20);
  // a different seed from the start: different music
  c = ctl_default();
  c.seed = 8;
  size_t n = run_notes(&c, 0, NULL, got, CAP);
  CHECK(common_prefix(ref, n_ref, got, n) < 3);
  // changes at bar 5: the same before, different after
  void (*changes[])(CantusControls *) = {seed_up, regen_on, style_next};
  for (int k = 0; k < 3; k++) {
    c = ctl_default();
    n = run_notes(&c, 5, changes[k], got, CAP);
    const size_t same = common_prefix(ref, n_ref, got, n);
    const size_t before = count_before(ref, n_ref, 5 * 48);
    CHECK_MSG(same >= before, "change %d: differs before the change (%zu < %zu)", k, same,
              before);
    // seed and regenerate: a new random stream at once; a style change
    // (the fixture's style vectors are small) at least somewhere after
    const size_t soon = k < 2 ? before + 4 : n_ref;
    CHECK_MSG(same < soon && (same < n_ref || n != n_ref), "change %d: no new music (%zu same)", k,
              same);
  }
}

static void hold_on(CantusControls *c) { c->hold = true; }

TEST(engine_hold_repeats_the_last_bars_exactly)
{
  enum { CAP = 2048 };
  static HNote got[CAP];
  CantusControls c = ctl_default();
  c.hold_bars = 2;
  c.density = 0.5f;
  // hold pressed during bar 4: bars 3-4 repeat from bar 5 on
  const size_t n = run_notes(&c, 4, hold_on, got, CAP);
  HNote orig[CAP], rep1[CAP], rep2[CAP];
  size_t no = 0, n1 = 0, n2 = 0;
  for (size_t i = 0; i < n; i++) {
    const double t = got[i].tick_milli / 1000.0;
    if (t >= 144 && t < 240) {
      orig[no++] = got[i];
    } else if (t >= 240 && t < 336) {
      rep1[n1++] = got[i];
    } else if (t >= 336 && t < 432) {
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
}

TEST(engine_hold_release_continues_with_new_music)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  c.hold_bars = 1;
  c.density = 0.5f;
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  while (tick < 20 * 48) {
    c.hold = tick >= 2 * 48 && tick < 6 * 48;
    h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
    tick += 256 * tpf;
  }
  HNote n[2048];
  const size_t k = h_notes(&h, n, 2048, 0, 20 * 48);
  // notes after the release (bar 6 on) exist and are not the held bar repeated
  size_t after = 0, repeated = 0;
  for (size_t i = 0; i < k; i++) {
    const double t = n[i].tick_milli / 1000.0;
    if (t >= 6 * 48) {
      after++;
      for (size_t j = 0; j < k; j++) {
        const double u = n[j].tick_milli / 1000.0;
        if (u >= 2 * 48 && u < 3 * 48 && n[j].pitch == n[i].pitch &&
            fabs(fmod(t - u, 48.0)) < 1e-6) {
          repeated++;
          break;
        }
      }
    }
  }
  CHECK(after >= 5);
  CHECK(repeated < after);
  CHECK_EQ(h.violations, 0);
  CantusBlockOut out;
  cantus_engine_flush(h.e, &out);
  h_take(&h, &out, 1, 0, 0);
  CHECK_EQ(h.n_sounding, 0);
  h_free(&h);
}

TEST(engine_style_change_ends_sounding_notes_in_that_block)
{
  Harness h;
  h_init(&h, 1.0, 48000);
  CantusControls c = ctl_default();
  c.gate = 2.0f;
  const double tpf = h_tpf(120, 12, 4, 48000);
  double tick = 0;
  int cuts = 0;
  for (int k = 0; k < 12; k++) {
    for (int b = 0; b < 50; b++) {
      h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
      tick += 256 * tpf;
    }
    const int before = h.n_sounding;
    c.style = (c.style + 1) % 3;
    const size_t mark = h.n_rec;
    h_block_at(&h, &c, 256, tick, 120, true, NULL, 0);
    tick += 256 * tpf;
    int offs_at_0 = 0;
    for (size_t i = mark; i < h.n_rec; i++) {
      offs_at_0 += h.rec[i].status == 0x80 && h.rec[i].frame == h.rec[mark].frame;
    }
    CHECK(offs_at_0 >= before);
    cuts += before > 0;
  }
  CHECK(cuts >= 1);
  CHECK_EQ(h.violations, 0);
  h_free(&h);
}
