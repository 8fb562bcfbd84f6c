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
